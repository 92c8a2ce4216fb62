"""save_parameters / load_parameters: nnabla's .h5 / .protobuf / .nntxt / .nnp formats."""

from __future__ import annotations

import io
import os
import pathlib
import zipfile
from collections import OrderedDict

import h5py
import numpy as np
import pytest
from google.protobuf import text_format

import nnl as nn
from nnl.nnp import nnabla_pb2
from nnl.parameter import get_parameter_or_create, get_parameters
from nnl.parameter_io import load_parameters, parameters_to_protobuf_bytes, save_parameters

FORMATS = [".h5", ".protobuf", ".nntxt"]


@pytest.fixture(autouse=True)
def private_scope():
    """Every test runs in its own root scope."""
    with nn.parameter_scope("", OrderedDict()) as scope:
        yield scope


def _make_params(rng):
    with nn.parameter_scope("net"):
        w = get_parameter_or_create("conv1/conv/W", (4, 3, 2, 2))
        w.d = rng.randn(*w.shape)
        b = get_parameter_or_create("conv1/conv/b", (4,))
        b.d = rng.randn(4)
        mean = get_parameter_or_create("bn/mean", (1, 4, 1, 1), need_grad=False)
        mean.d = rng.randn(1, 4, 1, 1)
        scalar = get_parameter_or_create("scalar", ())
        scalar.d = 2.5
    return get_parameters(grad_only=False)


def _snapshot(params):
    return OrderedDict((k, (v.d.copy(), v.need_grad, v.d.dtype)) for k, v in params.items())


def _assert_same(expected, actual):
    assert list(expected) == list(actual)  # order kept
    for name, (data, need_grad, dtype) in expected.items():
        v = actual[name]
        assert v.shape == data.shape
        assert v.d.dtype == dtype == np.float32
        np.testing.assert_array_equal(v.d, data)
        assert v.need_grad == need_grad, name


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_path(tmp_path, ext):
    rng = np.random.RandomState(0)
    params = _make_params(rng)
    expected = _snapshot(params)
    path = str(tmp_path / f"params{ext}")
    save_parameters(path)
    with nn.parameter_scope("other"):
        load_parameters(path)
        _assert_same(expected, get_parameters(grad_only=False))
    assert sorted(os.listdir(tmp_path)) == [f"params{ext}"]  # no temporary files left


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_pathlike_and_explicit_params(tmp_path, ext):
    params = _make_params(np.random.RandomState(1))
    subset = OrderedDict((k, v) for k, v in params.items() if "conv" in k)
    path = tmp_path / f"p{ext}"
    save_parameters(path, subset)
    with nn.parameter_scope("x"):
        load_parameters(pathlib.Path(path))
        assert list(get_parameters(grad_only=False)) == list(subset)


@pytest.mark.parametrize("ext", [".h5", ".protobuf"])
def test_round_trip_file_objects(tmp_path, ext):
    params = _make_params(np.random.RandomState(2))
    expected = _snapshot(params)
    # BytesIO: rewound after saving, as nnabla does, so it can be loaded at once
    buffer = io.BytesIO()
    save_parameters(buffer, params, extension=ext)
    assert buffer.tell() == 0
    with nn.parameter_scope("a"):
        load_parameters(buffer, extension=ext)
        _assert_same(expected, get_parameters(grad_only=False))
    # real files
    path = tmp_path / f"f{ext}"
    with open(path, "wb") as f:
        save_parameters(f, params, extension=ext)
    with open(path, "rb") as f, nn.parameter_scope("b"):
        load_parameters(f, extension=ext)
        _assert_same(expected, get_parameters(grad_only=False))


def test_file_object_needs_extension():
    with pytest.raises(ValueError, match="extension"):
        save_parameters(io.BytesIO(), OrderedDict())


def test_h5_layout(tmp_path):
    params = _make_params(np.random.RandomState(3))
    path = tmp_path / "p.h5"
    save_parameters(str(path), params)
    with h5py.File(path, "r") as f:
        assert isinstance(f["net"], h5py.Group) and isinstance(f["net/conv1/conv"], h5py.Group)
        for index, (name, v) in enumerate(params.items()):
            ds = f[name]
            assert isinstance(ds, h5py.Dataset)
            assert ds.dtype == np.float32 and ds.shape == v.shape
            np.testing.assert_array_equal(ds[...], v.d)
            assert bool(ds.attrs["need_grad"]) == v.need_grad
            assert int(ds.attrs["index"]) == index


def test_h5_loader_sorts_by_index(tmp_path):
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:  # written in alphabetical order, index says otherwise
        for name, index in [("a", 2), ("b/c", 0), ("z", 1), ("y/q", 4), ("x", 3)]:
            f[name] = np.full((2,), index, np.float32)
            f[name].attrs["need_grad"] = True
            f[name].attrs["index"] = index
    load_parameters(str(path))
    assert list(get_parameters(grad_only=False)) == ["b/c", "z", "a", "x", "y/q"]


def test_protobuf_bytes_equal_protobuf_library():
    params = _make_params(np.random.RandomState(4))
    params = OrderedDict((k, v) for k, v in params.items() if v.ndim > 0)
    proto = nnabla_pb2.NNablaProtoBuf()
    for name, v in params.items():
        p = proto.parameter.add()
        p.variable_name = name
        p.shape.dim.extend(v.shape)
        p.data.extend(v.d.ravel().tolist())
        p.need_grad = v.need_grad
    assert parameters_to_protobuf_bytes(params) == proto.SerializeToString()


def test_protobuf_contents(tmp_path):
    params = _make_params(np.random.RandomState(5))
    path = tmp_path / "p.protobuf"
    save_parameters(str(path), params)
    proto = nnabla_pb2.NNablaProtoBuf.FromString(path.read_bytes())
    assert [p.variable_name for p in proto.parameter] == list(params)
    for p, v in zip(proto.parameter, params.values()):
        assert tuple(p.shape.dim) == v.shape
        np.testing.assert_array_equal(np.array(p.data, np.float32), v.d.ravel())
        assert p.need_grad == v.need_grad


def test_nntxt_is_text_proto(tmp_path):
    params = _make_params(np.random.RandomState(6))
    path = tmp_path / "p.nntxt"
    save_parameters(str(path), params)
    proto = text_format.Parse(path.read_text(), nnabla_pb2.NNablaProtoBuf())
    assert [p.variable_name for p in proto.parameter] == list(params)


def test_load_returns_proto_and_needs_proto(tmp_path):
    params = _make_params(np.random.RandomState(7))
    save_parameters(str(tmp_path / "p.protobuf"), params)
    save_parameters(str(tmp_path / "p.h5"), params)
    with nn.parameter_scope("a"):
        proto = load_parameters(str(tmp_path / "p.protobuf"))
    assert [p.variable_name for p in proto.parameter] == list(params)
    with nn.parameter_scope("b"):
        assert len(load_parameters(str(tmp_path / "p.h5")).parameter) == 0
        given = nnabla_pb2.NNablaProtoBuf()
        out = load_parameters(str(tmp_path / "p.h5"), proto=given, needs_proto=True)
    assert out is given
    assert [p.variable_name for p in given.parameter] == list(params)
    np.testing.assert_array_equal(np.array(given.parameter[0].data, np.float32), params["net/conv1/conv/W"].d.ravel())


def test_load_overwrites_in_place(tmp_path):
    params = _make_params(np.random.RandomState(8))
    path = str(tmp_path / "p.h5")
    save_parameters(path, params)
    expected = _snapshot(params)
    w = params["net/conv1/conv/W"]
    buffer = w.d
    w.d = 0
    params["net/bn/mean"].need_grad = True
    load_parameters(path)
    assert w.d is buffer or np.shares_memory(w.d, buffer)
    _assert_same(expected, get_parameters(grad_only=False))


@pytest.mark.parametrize("fmt", [".h5", ".protobuf"])
def test_nnp(tmp_path, fmt):
    params = _make_params(np.random.RandomState(9))
    expected = _snapshot(params)
    blob = io.BytesIO()
    save_parameters(blob, params, extension=fmt)
    path = tmp_path / "model.nnp"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("nnp_version.txt", "0.1\n")
        z.writestr("network.nntxt", 'network {\n  name: "net"\n  batch_size: 1\n}\n')
        z.writestr(f"parameter{fmt}", blob.getvalue())
    with nn.parameter_scope("loaded"):
        proto = load_parameters(str(path))
        _assert_same(expected, get_parameters(grad_only=False))
    assert proto.network[0].name == "net"


def _store_state(scope):
    return {k: v.d.copy() for k, v in get_parameters(scope, grad_only=False).items()}


@pytest.mark.parametrize("ext", [".h5", ".protobuf", ".nntxt", ".nnp"])
def test_corrupt_files_raise_and_leave_parameters(tmp_path, ext, private_scope):
    params = _make_params(np.random.RandomState(10))
    good = tmp_path / f"good{ext}"
    if ext == ".nnp":
        blob = io.BytesIO()
        save_parameters(blob, params, extension=".h5")
        with zipfile.ZipFile(good, "w") as z:
            z.writestr("parameter.h5", blob.getvalue())
    else:
        save_parameters(str(good), params)
    data = good.read_bytes()
    for i, v in enumerate(params.values()):
        v.d = i + 100.0  # current values differ from the file
    before = _store_state(private_scope)
    bad = tmp_path / f"bad{ext}"
    bad.write_bytes(data[: len(data) * 2 // 3] if ext != ".nntxt" else data[: len(data) // 2] + b"{{{")
    with pytest.raises(ValueError, match="bad"):
        load_parameters(str(bad))
    after = _store_state(private_scope)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_protobuf_wrong_data_length(tmp_path):
    proto = nnabla_pb2.NNablaProtoBuf()
    p = proto.parameter.add(variable_name="w")
    p.shape.dim.extend([2, 3])
    p.data.extend([1.0, 2.0])
    path = tmp_path / "short.protobuf"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="short.protobuf"):
        load_parameters(str(path))
    assert len(get_parameters(grad_only=False)) == 0


def test_shape_conflict_publishes_nothing(tmp_path):
    path = str(tmp_path / "p.h5")
    save_parameters(
        path,
        OrderedDict(
            [
                ("a", nn.Variable.from_numpy_array(np.ones(3, np.float32))),
                ("b", nn.Variable.from_numpy_array(np.ones(2, np.float32))),
            ]
        ),
    )
    b = get_parameter_or_create("b", (5,))
    with pytest.raises(ValueError, match="'b'"):
        load_parameters(path)
    assert list(get_parameters(grad_only=False)) == ["b"]
    assert b.shape == (5,)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_parameters(str(tmp_path / "nothing.h5"))
    with pytest.raises(ValueError, match="unsupported"):
        load_parameters(str(tmp_path / "x.bin"))
    with pytest.raises(ValueError, match="unsupported"):
        save_parameters(str(tmp_path / "x.bin"), OrderedDict())


def test_failed_save_keeps_old_file(tmp_path):
    path = tmp_path / "p.h5"
    good = OrderedDict([("a", nn.Variable.from_numpy_array(np.ones(3, np.float32)))])
    save_parameters(str(path), good)
    before = path.read_bytes()
    # 'a' as a dataset and 'a/b' below it cannot both exist in HDF5
    bad = OrderedDict([("a", good["a"]), ("a/b", nn.Variable.from_numpy_array(np.ones(1, np.float32)))])
    with pytest.raises(ValueError):
        save_parameters(str(path), bad)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.h5"]


ODD_NAMES = ["/conv/W", "a//b", "c/./d", "trailing/", "plain/x"]


def _odd_params(rng):
    return OrderedDict((name, nn.Variable.from_numpy_array(rng.randn(2, i + 1).astype(np.float32), need_grad=i % 2 == 0))
                       for i, name in enumerate(ODD_NAMES))


def test_h5_names_that_are_not_their_own_path_round_trip(tmp_path):
    """nnabla stores '/conv/W' at HDF5 path 'conv/W' (and reads that back); nnl does too and keeps the exact name."""
    from nnl.nnp.container import read_nnp

    params = _odd_params(np.random.RandomState(8))
    path = tmp_path / "p.h5"
    save_parameters(str(path), params)
    with h5py.File(path, "r") as f:
        found = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = dict(obj.attrs)

        f.visititems(visit)
    # nnabla's paths (what nnabla 1.39 writes for these names), the exact name only where it differs
    assert sorted(found) == ["a/b", "c/d", "conv/W", "plain/x", "trailing"]
    assert {p: a.get("variable_name") for p, a in found.items()} == {
        "conv/W": "/conv/W", "a/b": "a//b", "c/d": "c/./d", "trailing": "trailing/", "plain/x": None}
    nnp = read_nnp(str(path))
    assert list(nnp.parameters) == ODD_NAMES
    for name, v in params.items():
        np.testing.assert_array_equal(nnp.parameters[name], v.d)
        assert nnp.need_grad[name] == v.need_grad
    # into the scope, as nnl's set_parameter files each name (the same as loading the .protobuf)
    save_parameters(str(tmp_path / "p.protobuf"), params)
    loaded = {}
    for ext in (".h5", ".protobuf"):
        with nn.parameter_scope("", OrderedDict()):
            load_parameters(str(tmp_path / f"p{ext}"))
            loaded[ext] = {k: (v.d.copy(), v.need_grad) for k, v in get_parameters(grad_only=False).items()}
    assert list(loaded[".h5"]) == list(loaded[".protobuf"])
    for name, (value, need_grad) in loaded[".protobuf"].items():
        np.testing.assert_array_equal(loaded[".h5"][name][0], value)
        assert loaded[".h5"][name][1] == need_grad


def test_h5_names_that_share_a_path_are_refused(tmp_path):
    one = nn.Variable.from_numpy_array(np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"'/a/b' and 'a/b' would both be stored at HDF5 path 'a/b'"):
        save_parameters(str(tmp_path / "p.h5"), OrderedDict([("/a/b", one), ("a/b", one)]))
    assert os.listdir(tmp_path) == []


def test_h5_odd_names_load_in_nnabla(tmp_path):
    """A file with such names reads in nnabla 1.39 as nnabla's own file would (needs NNABLA_PYTHON)."""
    import json
    import subprocess

    python = os.environ.get("NNABLA_PYTHON")
    if not python or not os.path.exists(python):
        pytest.skip("NNABLA_PYTHON (a python with nnabla 1.39) is not set")
    params = _odd_params(np.random.RandomState(9))
    save_parameters(str(tmp_path / "nnl.h5"), params)
    script = ("import json, sys, nnabla as nn\n"
              "nn.load_parameters(sys.argv[1])\n"
              "print(json.dumps({k: [v.d.tolist(), v.need_grad] for k, v in "
              "nn.get_parameters(grad_only=False).items()}))\n")
    out = subprocess.run([python, "-c", script, str(tmp_path / "nnl.h5")], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    expected = {"conv/W": "/conv/W", "a/b": "a//b", "c/d": "c/./d", "trailing": "trailing/", "plain/x": "plain/x"}
    assert list(loaded) == list(expected)
    for nnabla_name, name in expected.items():
        np.testing.assert_array_equal(np.array(loaded[nnabla_name][0], np.float32), params[name].d)
        assert loaded[nnabla_name][1] == params[name].need_grad


@pytest.mark.parametrize("ext", [".protobuf", ".nntxt"])
def test_write_error_names_the_file_and_keeps_the_old_one(tmp_path, ext, monkeypatch):
    """A write that fails part-way (a full disk) removes its temporary file and raises an OSError of the same
    errno naming the target; the file already there is untouched."""
    import builtins
    import errno

    import nnl.parameter_io

    path = tmp_path / f"p{ext}"
    params = _make_params(np.random.RandomState(12))
    save_parameters(str(path), params)
    before = path.read_bytes()

    class FullDisk(io.FileIO):
        def write(self, data):
            super().write(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

    def open_on_a_full_disk(name, mode="r", *args, **kwargs):
        return FullDisk(name, mode) if "w" in mode else builtins.open(name, mode, *args, **kwargs)

    monkeypatch.setattr(nnl.parameter_io, "open", open_on_a_full_disk, raising=False)
    with pytest.raises(OSError) as info:
        save_parameters(str(path), params)
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == f"[Errno 28] No space left on device (writing {str(path)!r}; a file already there is " \
                              "unchanged)"
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]
