"""NNP containers in memory and on disk: an ``NNablaProtoBuf`` plus parameter arrays.

``NnpFile`` is what every reader produces and every writer takes (``nnl.utils.load``, ``NnpLoader``, the ONNX
converter, ``nnl convert``): the proto holds networks, configs, datasets, optimizers, monitors and executors but no
``parameter`` entries; the parameters live beside it as float32 NumPy arrays in file order.

On disk (nnabla's layout): ``.nnp`` is a zip with ``nnp_version.txt``, ``network.nntxt`` and ``parameter.h5`` (or
``parameter.protobuf``); ``.nntxt``/``.prototxt`` is text protobuf and ``.protobuf`` binary protobuf, parameters
embedded as ``parameter`` entries; ``.h5`` holds parameters only. Solver states (``*.optimizer`` members) are kept as
bytes for ``nnl.utils.load``. Several files merge into one ``NnpFile`` in order.
Writes are atomic; reads check everything before returning, and errors name the file and the member at fault.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnl import parameter_io
from nnl.nnp import nnabla_pb2 as pb

NNP_VERSION = "0.1"
PROTO_EXTENSIONS = (".nntxt", ".prototxt", ".protobuf")
READ_EXTENSIONS = (".nnp", ".nntxt", ".prototxt", ".protobuf", ".h5")

__all__ = ["NNP_VERSION", "NnpFile", "read_nnp", "write_nnp", "solver_state_member", "solver_state_members"]


@dataclass
class NnpFile:
    """One model: ``proto`` (no parameter entries), ``parameters`` (name -> float32 array) and their need_grad flags."""

    proto: Any = field(default_factory=pb.NNablaProtoBuf)
    parameters: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict)
    need_grad: dict[str, bool] = field(default_factory=dict)
    solver_states: dict[str, bytes] = field(default_factory=dict)  # ``*.optimizer`` members of an .nnp, by name

    def network(self, name: str | None = None) -> Any:
        """The ``Network`` message called ``name`` (the only / first one when ``name`` is None)."""
        if not self.proto.network:
            raise ValueError("NNP: the file holds no network.")
        if name is None:
            return self.proto.network[0]
        for net in self.proto.network:
            if net.name == name:
                return net
        names = ", ".join(repr(n.name) for n in self.proto.network)
        raise ValueError(f"NNP: no network named {name!r}; the file has {names}.")

    def add_parameter(self, name: str, array: Any, need_grad: bool = True) -> None:
        self.parameters[name] = np.asarray(array, dtype=np.float32)
        self.need_grad[name] = bool(need_grad)

    def merge(self, other: NnpFile) -> None:
        self.proto.MergeFrom(other.proto)
        self.solver_states.update(other.solver_states)
        for name, array in other.parameters.items():
            self.parameters[name] = array
            self.need_grad[name] = other.need_grad.get(name, True)


# ---------------------------------------------------------------------------------------------------------------
# reading


def _take_parameters(proto: Any, nnp: NnpFile, where: str) -> None:
    """Move ``proto.parameter`` entries into ``nnp.parameters`` (checking sizes)."""
    for entry in parameter_io._entries_from_proto(proto, where):
        nnp.add_parameter(entry.name, entry.array, entry.need_grad)
    proto.ClearField("parameter")


def _read_member(data: bytes, ext: str, where: str, nnp: NnpFile) -> None:
    if ext == ".h5":
        for entry in parameter_io._entries_from_h5(data, where):
            nnp.add_parameter(entry.name, entry.array, entry.need_grad)
        return
    proto = pb.NNablaProtoBuf()
    if ext == ".protobuf":
        parameter_io._merge_binary(proto, data, where)
    else:
        parameter_io._merge_text(proto, data, where)
    _take_parameters(proto, nnp, where)
    nnp.proto.MergeFrom(proto)


def _read_zip(data: bytes, where: str, nnp: NnpFile) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [(name, archive.read(name)) for name in archive.namelist()]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise ValueError(f"NNP: {where} is not a readable .nnp (zip) file ({type(e).__name__}: {e}).") from e
    names = [name for name, _ in members]
    if "nnp_version.txt" in names:
        version = dict(members)["nnp_version.txt"].decode("utf-8", "replace").strip()
        if version != NNP_VERSION:
            raise ValueError(f"NNP: {where} has nnp_version {version!r}; nnl reads version {NNP_VERSION!r}.")
    for name, payload in members:
        ext = os.path.splitext(name)[1].lower()
        if ext == ".optimizer":
            nnp.solver_states[name] = payload
        elif ext in PROTO_EXTENSIONS + (".h5",):
            _read_member(payload, ext, f"{where} (member {name!r})", nnp)


def read_nnp(paths: Any, extension: str | None = None) -> NnpFile:
    """Read one file or several (merged in order) into an ``NnpFile``.

    ``paths`` are file names or readable binary file objects (whose format is ``extension``, default ``.nntxt``).
    """
    if isinstance(paths, (str, os.PathLike)) or hasattr(paths, "read"):
        paths = [paths]
    nnp = NnpFile()
    for path in paths:
        ext = parameter_io.file_extension(path, extension, ".nntxt")
        where = parameter_io._describe(path)
        if ext not in READ_EXTENSIONS:
            raise ValueError(f"NNP: unsupported format {ext!r} for {where}; supported: {', '.join(READ_EXTENSIONS)}.")
        data = parameter_io.read_bytes(path)
        if ext == ".nnp":
            _read_zip(data, where, nnp)
        else:
            _read_member(data, ext, where, nnp)
    return nnp


# ---------------------------------------------------------------------------------------------------------------
# writing


def _with_parameters(nnp: NnpFile) -> Any:
    proto = pb.NNablaProtoBuf()
    proto.CopyFrom(nnp.proto)
    proto.MergeFromString(_parameter_bytes(nnp))
    return proto


def _text(proto: Any) -> bytes:
    from google.protobuf import text_format

    return text_format.MessageToString(proto).encode("utf-8")


class _ArrayHolder:
    """The minimal Variable-like view parameter_io's HDF5 writer needs."""

    __slots__ = ("d", "need_grad")

    def __init__(self, d: np.ndarray, need_grad: bool) -> None:
        self.d, self.need_grad = d, need_grad


def _holders(nnp: NnpFile) -> OrderedDict[str, Any]:
    return OrderedDict((n, _ArrayHolder(a, nnp.need_grad.get(n, True))) for n, a in nnp.parameters.items())


def _parameter_bytes(nnp: NnpFile) -> bytes:
    return parameter_io.parameters_to_protobuf_bytes(_holders(nnp))


def _h5_bytes(nnp: NnpFile) -> bytes:
    data = parameter_io._h5_bytes(_holders(nnp), None)
    assert data is not None
    return data


# ---------------------------------------------------------------------------------------------------------------
# solver states inside an .nnp (nnabla's member names)


def solver_state_member(optimizer_name: str, solver: Any) -> str:
    """The member holding a solver's HDF5 states: ``<optimizer>_<Solver>_optimizer.h5.optimizer``."""
    return f"{optimizer_name}_{solver.name.removesuffix('Cuda')}_optimizer.h5.optimizer"


def solver_state_members(solvers: Iterable[tuple[str, Any]]) -> dict[str, bytes]:
    """HDF5 state members for ``(optimizer name, solver)`` pairs."""
    members = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "states.h5")
        for name, solver in solvers:
            solver.save_states(path)
            with open(path, "rb") as f:
                members[solver_state_member(name, solver)] = f.read()
    return members


def nnp_bytes(nnp: NnpFile, parameter_format: str = ".h5", extra_members: dict[str, bytes] | None = None) -> bytes:
    """The bytes of an ``.nnp`` zip in nnabla's member layout."""
    if parameter_format not in (".h5", ".protobuf"):
        raise ValueError(f"NNP: parameter_format must be '.h5' or '.protobuf', got {parameter_format!r}.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nnp_version.txt", NNP_VERSION + "\n")
        archive.writestr("network.nntxt", _text(nnp.proto))
        if nnp.parameters:
            if parameter_format == ".h5":
                archive.writestr("parameter.h5", _h5_bytes(nnp))
            else:
                archive.writestr("parameter.protobuf", _parameter_bytes(nnp))
        for name, payload in (extra_members or {}).items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def write_nnp(
    path: Any,
    nnp: NnpFile,
    extension: str | None = None,
    include_params: bool = True,
    parameter_format: str = ".h5",
    extra_members: dict[str, bytes] | None = None,
) -> None:
    """Write ``nnp`` to ``path`` (format from its extension or ``extension``); atomic for file names.

    ``.nntxt``/``.prototxt``/``.protobuf`` embed the parameters when ``include_params``; ``.h5`` writes parameters
    only; ``.nnp`` always includes them (``parameter_format`` picks ``.h5`` or ``.protobuf`` inside the zip).
    """
    ext = parameter_io.file_extension(path, extension, ".nnp")
    if ext == ".nnp":
        parameter_io.write_bytes(path, lambda: nnp_bytes(nnp, parameter_format, extra_members))
    elif ext in (".nntxt", ".prototxt"):
        parameter_io.write_bytes(path, lambda: _text(_with_parameters(nnp) if include_params else nnp.proto))
    elif ext == ".protobuf":
        parameter_io.write_bytes(
            path,
            lambda: nnp.proto.SerializeToString() + (_parameter_bytes(nnp) if include_params else b""),
        )
    elif ext == ".h5":
        parameter_io.write_bytes(path, lambda: _h5_bytes(nnp))
    else:
        raise ValueError(
            f"NNP: cannot write format {ext!r} for {parameter_io._describe(path)}; "
            "supported: .nnp, .nntxt, .prototxt, .protobuf, .h5."
        )
