"""Parameter files: ``save_parameters`` / ``load_parameters`` in nnabla's formats.

Formats (chosen by the file name's extension, or ``extension=`` for file objects):

* ``.h5``: one HDF5 dataset per parameter at the parameter's path (``conv1/conv/W`` makes groups ``conv1`` and
  ``conv1/conv``), dataset attributes ``need_grad`` (bool) and ``index`` (insertion order; the loader sorts by it).
* ``.protobuf``: a binary ``NNablaProtoBuf`` holding ``parameter`` entries (name, shape, flat float data,
  need_grad).
* ``.nntxt`` / ``.prototxt``: the same entries in protobuf text format (loading; saving is an nnl extension).
* ``.nnp``: a zip; every member is read by its extension (``.h5`` / ``.protobuf`` parameters, ``.nntxt`` /
  ``.prototxt`` text protos), other members are ignored.

Writes are atomic (a temporary file next to the target, then ``os.replace``). Loads read and check the whole file
first and only then publish the parameters into the current scope, so a corrupt or truncated file raises a
``ValueError`` naming the file and leaves the current parameters untouched. Existing parameters are overwritten in
place (same buffers, so graphs and solvers holding them see the new values).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from nnl.core.variable import Variable
from nnl.parameter import get_current_parameter_scope, get_parameter, get_parameters, set_parameter

__all__ = ["load_parameters", "save_parameters"]

_SAVE_FORMATS = (".h5", ".protobuf", ".nntxt", ".prototxt")
_LOAD_FORMATS = (".h5", ".protobuf", ".nntxt", ".prototxt", ".nnp")
_MEMBER_FORMATS = (".h5", ".protobuf", ".nntxt", ".prototxt")


# ---------------------------------------------------------------------------------------------------------------
# paths, file objects, atomic writes


def _is_path(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike))


def _describe(path: Any) -> str:
    if _is_path(path):
        return repr(os.fspath(path))
    name = getattr(path, "name", None)
    return f"file object {name!r}" if isinstance(name, str) else f"file object {type(path).__name__}"


def file_extension(path: Any, extension: str | None, default: str | None = None) -> str:
    """The format of ``path``: its extension for paths, else ``extension`` (then ``default``)."""
    if _is_path(path):
        return os.path.splitext(os.fspath(path))[1].lower()
    ext = extension if extension is not None else default
    if not ext:
        raise ValueError(f"the format of {_describe(path)} is unknown: pass extension= (e.g. '.h5' or '.protobuf').")
    return ext if ext.startswith(".") else "." + ext


@contextlib.contextmanager
def atomic_output(path: Any, sync: bool = False) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; on success it replaces ``path`` atomically.

    The temporary file is created with mode 0o666 minus the umask (like ``open(path, 'w')``). With ``sync`` it is
    flushed to disk before the rename, so that not even a power loss can leave an empty file in place of the old one
    (for checkpoints; it costs a disk flush per file). On error (a full disk, say) it is removed, ``path`` is left
    as it was, and an OSError naming ``path`` is raised.
    """
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        if error.errno is None:
            raise
        raise _naming(error, target) from error
    try:
        yield tmp
        if sync:
            fd = os.open(tmp, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(error, OSError) and error.errno is not None:
            raise _naming(error, target) from error
        raise


def _naming(error: OSError, target: str) -> OSError:
    """``error`` as an OSError of the same kind naming ``target`` (write errors name no file, or the temporary one)."""
    return OSError(error.errno, f"{error.strerror} (writing {target!r}; a file already there is unchanged)")


def write_bytes(path: Any, payload: bytes | Callable[[], bytes], sync: bool = False) -> None:
    """Write ``payload`` to a path (atomically; ``sync``: see :func:`atomic_output`) or to a writable file object
    (then rewound like nnabla does)."""
    if _is_path(path):
        data = payload() if callable(payload) else payload
        with atomic_output(path, sync) as tmp, open(tmp, "wb") as f:
            f.write(data)
        return
    data = payload() if callable(payload) else payload
    if isinstance(path, io.TextIOBase):
        path.write(data.decode("utf-8"))
    else:
        path.write(data)
    _rewind(path)


def _rewind(f: Any) -> None:
    if hasattr(f, "seek"):
        with contextlib.suppress(OSError, ValueError):
            f.seek(0)


def read_bytes(path: Any) -> bytes:
    """All bytes of a path or of a readable file object (text streams are encoded as UTF-8)."""
    if _is_path(path):
        with open(os.fspath(path), "rb") as f:
            return f.read()
    data = path.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


# ---------------------------------------------------------------------------------------------------------------
# protobuf wire encoding of parameters (fast path: packed float data written straight from the array buffer)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _packed_floats(number: int, array: np.ndarray) -> bytes:
    if array.size == 0:
        return b""  # proto3 omits empty repeated fields
    return _field_bytes(number, np.ascontiguousarray(array, dtype="<f4").tobytes())


def encode_shape(shape: tuple[int, ...]) -> bytes:
    """A ``Shape`` message (packed int64 dims); empty for 0-d."""
    if not shape:
        return b""
    dims = b"".join(_varint(int(d) & 0xFFFFFFFFFFFFFFFF) for d in shape)
    return _field_bytes(1, dims)


def encode_parameter(name: str, array: np.ndarray, need_grad: bool) -> bytes:
    """One serialized ``Parameter`` message (fields in number order, as protobuf would write them)."""
    out = b""
    if name:
        out += _field_bytes(1, name.encode("utf-8"))
    out += _field_bytes(20, encode_shape(tuple(array.shape)))
    out += _packed_floats(100, array)
    if need_grad:
        out += _varint((101 << 3) | 0) + b"\x01"
    return out


def parameters_to_protobuf_bytes(params: OrderedDict[str, Variable]) -> bytes:
    """A serialized ``NNablaProtoBuf`` with one ``parameter`` (field 200) per entry of ``params``."""
    return b"".join(
        _field_bytes(200, encode_parameter(name, _array_of(v), bool(v.need_grad))) for name, v in params.items()
    )


def _array_of(v: Any) -> np.ndarray:
    if isinstance(v, Variable):
        return v.data.get_data("r")
    return np.asarray(getattr(v, "d", v))


# ---------------------------------------------------------------------------------------------------------------
# save

# A name that is not its own HDF5 path ("/conv/W", "a//b") is stored at the path HDF5 makes of it, which is what
# nnabla 1.39 writes and reads back ("conv/W", "a/b"), and the exact name goes to this attribute for nnl's loader.
_NAME_ATTRIBUTE = "variable_name"


def _h5_path(name: str) -> str:
    """The dataset path HDF5 gives ``name``: no empty parts (leading, trailing or doubled "/") and no "." parts."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _parameters_to_proto(params: OrderedDict[str, Variable]) -> Any:
    from nnl.nnp import nnabla_pb2

    return nnabla_pb2.NNablaProtoBuf.FromString(parameters_to_protobuf_bytes(params))


def _h5_bytes(params: OrderedDict[str, Variable], target: Any) -> bytes | None:
    """Write the HDF5 layout to ``target`` (a file name), or return the file's bytes when ``target`` is None."""
    import h5py

    buffer = io.BytesIO() if target is None else None
    paths: dict[str, str] = {}
    with h5py.File(buffer if target is None else target, "w") as hd:
        for index, (name, v) in enumerate(params.items()):
            path = _h5_path(name)
            if path in paths:
                raise ValueError(f"save_parameters: parameters {paths[path]!r} and {name!r} would both be stored at "
                                 f"HDF5 path {path!r}; rename one of them (or save to .protobuf, which keeps names "
                                 "as they are).")
            paths[path] = name
            try:
                hd[path] = _array_of(v)
            except (ValueError, TypeError, KeyError, OSError) as e:
                raise ValueError(f"save_parameters: cannot store parameter {name!r} in HDF5: {e}") from e
            attrs = hd[path].attrs
            attrs["need_grad"] = bool(v.need_grad)
            attrs["index"] = index
            if path != name:
                attrs[_NAME_ATTRIBUTE] = name
    return None if buffer is None else buffer.getvalue()


def save_parameters(path: Any, params: Any = None, extension: str | None = None) -> None:
    """Save parameters (default: all of the current scope, need_grad or not) to ``path``.

    Args:
        path: file name (``str`` / ``os.PathLike``; format from its extension) or a writable binary file object
            (format from ``extension``; the object is rewound after writing, like nnabla).
        params: ``{name: Variable}``; ``None`` saves ``nn.get_parameters(grad_only=False)``.
        extension: ``'.h5'``, ``'.protobuf'`` (or ``'.nntxt'``) for file objects.
    """
    ext = file_extension(path, extension)
    if ext not in _SAVE_FORMATS:
        raise ValueError(
            f"save_parameters: unsupported format {ext!r} for {_describe(path)}; supported: .h5, .protobuf, .nntxt."
        )
    params = get_parameters(grad_only=False) if params is None else OrderedDict(params)

    if ext == ".h5":
        if _is_path(path):
            with atomic_output(path) as tmp:
                _h5_bytes(params, tmp)
        else:
            write_bytes(path, _h5_bytes(params, None))
    elif ext == ".protobuf":
        write_bytes(path, lambda: parameters_to_protobuf_bytes(params))
    else:
        from google.protobuf import text_format

        write_bytes(path, lambda: text_format.MessageToString(_parameters_to_proto(params)).encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# load


class _Entry:
    __slots__ = ("name", "array", "need_grad")

    def __init__(self, name: str, array: np.ndarray, need_grad: bool) -> None:
        self.name, self.array, self.need_grad = name, array, need_grad


def _corrupt(where: str, fmt: str, error: BaseException) -> ValueError:
    return ValueError(
        f"load_parameters: {where} is not a readable {fmt} parameter file ({type(error).__name__}: {error})."
    )


def _entries_from_h5(data: bytes, where: str) -> list[_Entry]:
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as hd:
            found: list[tuple[Any, int, str]] = []

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    found.append((obj.attrs.get("index", None), len(found), name))

            hd.visititems(visit)
            found.sort(key=lambda t: (t[0] is None, int(t[0]) if t[0] is not None else 0, t[1]))
            entries = []
            for _, _, name in found:
                ds = hd[name]
                array = np.asarray(ds[...])
                need_grad = bool(ds.attrs.get("need_grad", True))
                exact = ds.attrs.get(_NAME_ATTRIBUTE, name)
                entries.append(_Entry(exact.decode("utf-8") if isinstance(exact, bytes) else str(exact), array,
                                      need_grad))
            return entries
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise _corrupt(where, "HDF5", e) from e


def _entries_from_proto(proto: Any, where: str) -> list[_Entry]:
    entries = []
    for p in proto.parameter:
        shape = tuple(int(d) for d in p.shape.dim)
        data = np.array(p.data, dtype=np.float32)
        expected = int(np.prod(shape, dtype=np.int64))
        if data.size != expected or any(d < 0 for d in shape):
            raise ValueError(
                f"load_parameters: {where}: parameter {p.variable_name!r} has {data.size} values for shape {shape} "
                f"({expected} expected); the file is corrupt or truncated."
            )
        entries.append(_Entry(p.variable_name, data.reshape(shape), bool(p.need_grad)))
    return entries


def _merge_binary(proto: Any, data: bytes, where: str) -> None:
    from google.protobuf.message import DecodeError

    try:
        proto.MergeFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise _corrupt(where, "protobuf", e) from e


def _merge_text(proto: Any, data: bytes, where: str) -> None:
    from google.protobuf import text_format

    try:
        text_format.Merge(data.decode("utf-8"), proto)
    except (text_format.ParseError, UnicodeDecodeError, ValueError) as e:
        raise _corrupt(where, "text protobuf (.nntxt)", e) from e


def _collect(data: bytes, ext: str, where: str, proto: Any, needs_proto: bool) -> list[_Entry]:
    """Read one file's bytes into entries (and ``proto``), without touching the parameter store."""
    if ext == ".h5":
        entries = _entries_from_h5(data, where)
        if needs_proto:
            for e in entries:
                p = proto.parameter.add()
                p.variable_name = e.name
                p.shape.dim.extend(e.array.shape)
                p.data.extend(np.asarray(e.array, dtype=np.float32).ravel())
                p.need_grad = e.need_grad
        return entries
    if ext in (".protobuf", ".nntxt", ".prototxt"):
        # Like nnabla, the file is merged into ``proto`` and every parameter in the result is published.
        (_merge_binary if ext == ".protobuf" else _merge_text)(proto, data, where)
        return _entries_from_proto(proto, where)
    if ext == ".nnp":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = [(name, os.path.splitext(name)[1].lower()) for name in archive.namelist()]
            contents = {name: archive.read(name) for name, member_ext in members if member_ext in _MEMBER_FORMATS}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise _corrupt(where, "NNP (zip)", e) from e
        h5_entries: list[_Entry] = []
        merged_proto = False
        for name, member_ext in members:
            if member_ext in _MEMBER_FORMATS:
                found = _collect(contents[name], member_ext, f"{where} (member {name!r})", proto, needs_proto)
                if member_ext == ".h5":
                    h5_entries.extend(found)
                else:
                    merged_proto = True
        return (_entries_from_proto(proto, where) if merged_proto else []) + h5_entries
    raise ValueError(f"load_parameters: unsupported format {ext!r} for {where}; supported: {', '.join(_LOAD_FORMATS)}.")


def _peek(name: str) -> Variable | None:
    """The parameter ``name`` of the current scope, without creating scopes on the way (unlike get_parameter)."""
    node: Any = get_current_parameter_scope()
    for part in name.split("/"):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node if isinstance(node, Variable) else None


def _publish(entries: list[_Entry], where: str) -> None:
    # Check every shape first: nothing is published if one parameter conflicts.
    final: OrderedDict[str, _Entry] = OrderedDict()
    for e in entries:
        final[e.name] = e  # the last occurrence wins, at the place of the first
    for e in final.values():
        existing = _peek(e.name)
        if existing is not None and tuple(existing.shape) != tuple(e.array.shape):
            raise ValueError(
                f"load_parameters: {where}: parameter {e.name!r} has shape {tuple(e.array.shape)} in the file but "
                f"{tuple(existing.shape)} in the current scope. To clear all parameters, call nn.clear_parameters()."
            )
    for e in final.values():
        var = get_parameter(e.name)
        if var is None:
            var = Variable(e.array.shape, need_grad=e.need_grad)
            set_parameter(e.name, var)
        else:
            var.need_grad = e.need_grad
        array = e.array
        var.data.cast(array.dtype if array.dtype != np.float64 else np.float32)[...] = array


def _load_into(path: Any, ext: str, proto: Any, needs_proto: bool) -> list[_Entry]:
    where = _describe(path)
    if ext not in _LOAD_FORMATS:
        raise ValueError(
            f"load_parameters: unsupported format {ext!r} for {where}; supported: {', '.join(_LOAD_FORMATS)}."
        )
    data = read_bytes(path)
    return _collect(data, ext, where, proto, needs_proto)


def load_parameters(path: Any, proto: Any = None, needs_proto: bool = False, extension: str = ".nntxt") -> Any:
    """Load parameters from ``path`` into the current parameter scope; returns the ``NNablaProtoBuf``.

    Args:
        path: file name (format from its extension: ``.h5``, ``.protobuf``, ``.nntxt``/``.prototxt``, ``.nnp``) or a
            readable file object (format from ``extension``).
        proto: an ``NNablaProtoBuf`` to merge protobuf / text contents into (a new one by default).
        needs_proto: also add the parameters of ``.h5`` files to the returned proto.
        extension: the format of a file object.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unsupported format, corrupt or truncated file, or a shape conflicting with an existing parameter
            (the message names the file; no parameter is changed).
    """
    from nnl.nnp import nnabla_pb2

    ext = file_extension(path, extension, ".nntxt")
    result = nnabla_pb2.NNablaProtoBuf() if proto is None else proto
    # Work on a copy so that a failure leaves the caller's proto untouched too.
    scratch = nnabla_pb2.NNablaProtoBuf()
    scratch.CopyFrom(result)
    entries = _load_into(path, ext, scratch, needs_proto)
    _publish(entries, _describe(path))
    if scratch is not result:
        result.CopyFrom(scratch)
    return result
