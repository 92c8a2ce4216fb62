"""importers.import_network_file: network files become projects that compile back to the same networks (functions,
arguments NNC wrote, parameter shapes), for the 31 nntxt files NNC generated, the compiled samples, an .nnp and an
ONNX model exported by nnl.onnx; arrange() lays layers out top to bottom on the grid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from nnl.console import compile as C
from nnl.console.importers import arrange, import_network_file
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.container import read_nnp

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NNC_NNTXT = DATA / "nnc-nntxt"
SAMPLES = DATA / "nnc-samples"
# NNC's 2017 files name some parameters as nnabla no longer does (loop parameters without {RepeatStart}, the
# deconvolution under "conv/"): the project can only say what today's NNC would compile, so names differ there.
_OLD_NAMES = {"N00000019_tutorial_basics_12_residual_learning__20170804_140212_net.nntxt",
              "N00000023_tutorial_basics_11_deconvolution__20170804_140111_net.nntxt"}


def _require(folder: Path) -> None:
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data {folder} is missing")
        pytest.skip(f"test data {folder} is missing")


def _functions(network) -> list[tuple]:
    found = []
    for f in network.function:
        which = f.WhichOneof("parameter")
        args = getattr(f, which) if which else None
        inputs = tuple(i for i in f.input if not i.endswith("/alpha"))  # nnabla added BinaryWeight's alpha later
        found.append((f.name, f.type, inputs, tuple(f.output), args))
    return sorted(found, key=lambda x: x[0])


def _parameters(network) -> dict[str, tuple[int, ...]]:
    return {v.name: tuple(v.shape.dim) for v in network.variable
            if v.type == "Parameter" and not v.name.endswith("/alpha")}


def _assert_same_networks(original, path: str, names_kept: bool = True) -> None:
    project = import_network_file(path)
    assert C.check(project) == []
    ours = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    compiled = {n.name: n for n in ours.network}
    for theirs in original.network:
        mine = compiled[theirs.name]
        a, b = _functions(theirs), _functions(mine)
        assert [f[:2] for f in a] == [f[:2] for f in b], theirs.name
        for fa, fb in zip(a, b):
            if names_kept:  # variables are named after layers: files written by NNC keep every name
                assert fa[2:4] == fb[2:4], (theirs.name, fa[0])
            if fa[4] is not None:  # every argument the file wrote has the same value in ours
                for field, value in fa[4].ListFields():
                    assert getattr(fb[4], field.name) == value, (theirs.name, fa[0], field.name)
        if names_kept:
            assert _parameters(theirs) == _parameters(mine), theirs.name
        else:
            assert sorted(_parameters(theirs).values()) == sorted(_parameters(mine).values()), theirs.name


NNTXT = sorted(p.name for p in NNC_NNTXT.glob("*.nntxt")) if NNC_NNTXT.is_dir() else ["missing"]


@pytest.mark.parametrize("name", NNTXT)
def test_nnc_generated_nntxt_round_trips(name):
    _require(NNC_NNTXT)
    path = str(NNC_NNTXT / name)
    _assert_same_networks(read_nnp(path).proto, path, names_kept=name not in _OLD_NAMES)


TRAINABLE = sorted(p.name for p in SAMPLES.glob("*.sdcproj") if not p.name.startswith("unit_")) \
    if SAMPLES.is_dir() else ["missing"]


@pytest.mark.parametrize("name", TRAINABLE)
def test_compiled_samples_round_trip(name, tmp_path):
    from nnl.console.sdcproj import read_sdcproj

    _require(SAMPLES)
    project = read_sdcproj((SAMPLES / name).read_text(encoding="utf-8"))
    path = tmp_path / "compiled.nntxt"
    path.write_text(C.to_nntxt(project))
    _assert_same_networks(text_format.Parse(path.read_text(), pb.NNablaProtoBuf()), str(path))


def _lenet_nnp(tmp_path) -> str:
    """A small LeNet written by nnl as .nnp (parameters included)."""
    import nnl as nn
    import nnl.functions as F
    import nnl.parametric_functions as PF
    from nnl.utils.save import save

    nn.clear_parameters()
    x = nn.Variable((2, 1, 28, 28))
    h = F.max_pooling(F.relu(PF.convolution(x, 6, (5, 5), name="conv1")), (2, 2))
    h = F.max_pooling(F.relu(PF.convolution(h, 16, (5, 5), name="conv2")), (2, 2))
    y = F.softmax(PF.affine(F.relu(PF.affine(h, 120, name="fc1")), 10, name="fc2"))
    path = str(tmp_path / "lenet.nnp")
    save(path, {"networks": [{"name": "lenet", "batch_size": 2, "outputs": {"y": y}, "names": {"x": x}}],
                "executors": [{"name": "runtime", "network": "lenet", "data": ["x"], "output": ["y"]}]})
    nn.clear_parameters()
    return path


def test_nnp_file_imports(tmp_path):
    path = _lenet_nnp(tmp_path)
    _assert_same_networks(read_nnp(path).proto, path, names_kept=False)
    project = import_network_file(path)
    layers = project["networks"][0]["layers"]
    convolution = next(x for x in layers if x["type"] == "Convolution")
    assert convolution["properties"]["OutMaps"] == "6" and convolution["properties"]["KernelShape"] == "5,5"
    assert convolution["properties"]["ParameterScope"] == "conv1"
    assert project["executors"][0]["network"] == "lenet"


def test_onnx_model_from_nnl_imports_and_compiles(tmp_path):
    pytest.importorskip("onnx")
    import nnl.onnx
    from nnl.nnp import graph
    from nnl.nnp.container import NnpFile

    source = _lenet_nnp(tmp_path)
    onnx_path = str(tmp_path / "lenet.onnx")
    nnl.onnx.export(source, onnx_path)
    project = import_network_file(onnx_path)
    assert C.check(project) == []
    types = [x["type"] for x in project["networks"][0]["layers"]]
    assert types.count("Convolution") == 2 and types.count("Affine") == 2 and "Softmax" in types
    proto = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    net = graph.build_network(NnpFile(proto=proto), proto.network[0].name, batch_size=3, parameter_scope=False)
    for v in net.inputs.values():
        v.d = np.random.RandomState(0).rand(*v.shape)
    out = next(iter(net.outputs.values()))
    out.forward()
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.d.sum(axis=1), 1.0, rtol=1e-5)


def test_function_without_layer_is_named(tmp_path):
    path = tmp_path / "odd.nntxt"
    path.write_text('network { name: "n" batch_size: 1 variable { name: "x" type: "Buffer" shape { dim: -1 dim: 3 } }'
                    ' variable { name: "y" type: "Buffer" shape { dim: -1 dim: 3 } }'
                    ' function { name: "Cumulate" type: "Erf" input: "x" output: "y" } }')
    with pytest.raises(ValueError, match="function 'Cumulate' \\(Erf\\)"):
        import_network_file(str(path))


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not an .nntxt, .nnp or .onnx"):
        import_network_file(str(tmp_path / "model.h5"))


def test_arrange_top_to_bottom_on_the_grid():
    rng = np.random.RandomState(0)
    # a random DAG: each layer reads one or two earlier ones
    layers = [{"id": i, "type": "Input" if i == 0 else "Add2", "name": f"L{i}", "properties": {}} for i in range(12)]
    links = []
    for i in range(1, 12):
        for source in sorted(set(rng.randint(0, i, size=rng.randint(1, 3)))):
            links.append({"id": len(links), "source": int(source), "source_pin": 0, "dest": i, "dest_pin": 0})
    project = {"networks": [{"name": "Main", "layers": layers, "links": links, "comments": []}]}
    arrange(project, "Main")
    position = {x["id"]: (x["x"], x["y"]) for x in layers}
    for link in links:  # every link goes down
        assert position[link["dest"]][1] > position[link["source"]][1]
    assert all(x % 24 == 0 and y % 24 == 0 for x, y in position.values())
    assert len(set(position.values())) == len(layers)  # no two layers on the same place
    # the row is the longest path from the input
    depth = {0: 0}
    for i in range(1, 12):
        depth[i] = 1 + max(depth[link["source"]] for link in links if link["dest"] == i)
        assert position[i][1] == 24 + depth[i] * 72
    with pytest.raises(ValueError, match="'Other' is not in the project"):
        arrange(project, "Other")
