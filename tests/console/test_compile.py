"""compile.to_nntxt: every NNC sample compiles, its networks build and run in nnl, and the tutorial samples match the
nntxt that Neural Network Console itself generated (functions, types, arguments, parameters, variable shapes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from nnl.console import compile as C
from nnl.nnp import graph
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.container import NnpFile

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SAMPLES = DATA / "nnc-samples"
NNC_NNTXT = DATA / "nnc-nntxt"


def _require_data() -> None:
    if not SAMPLES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data {SAMPLES} is missing")
        pytest.skip(f"test data {SAMPLES} is missing")


def _project(name: str) -> dict:
    from nnl.console.sdcproj import read_sdcproj

    _require_data()
    return read_sdcproj((SAMPLES / name).read_text(encoding="utf-8"))


# Unit-definition samples (LSTM, Squeeze-and-Excitation) are used inside other projects, not trained alone.
TRAINABLE = sorted(p.name for p in SAMPLES.glob("*.sdcproj") if not p.name.startswith("unit_")) if SAMPLES.is_dir() \
    else ["image_recognition_MNIST_LeNet.sdcproj"]


@pytest.mark.parametrize("name", TRAINABLE)
def test_sample_compiles_builds_and_runs(name):
    project = _project(name)
    assert C.check(project) == []
    proto = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    nnp = NnpFile(proto=proto)
    rng = np.random.RandomState(0)
    for network in proto.network:
        net = graph.build_network(nnp, network.name, batch_size=2, parameter_scope=False)
        for v in net.inputs.values():
            v.d = rng.rand(*v.shape)
        for out in net.outputs.values():
            out.forward()
            assert out.shape[0] == 2 or out.ndim == 0 or out.size == 1
            assert np.isfinite(out.d).all()
    names = {n.name for n in proto.network}
    for section in (*proto.optimizer, *proto.monitor, *proto.executor):
        assert section.network_name in names


def _pairs() -> list[tuple[str, str]]:
    """(sample, NNC nntxt) for the tutorial samples NNC compiled in 2018 (the 2017 files predate today's layers)."""
    if not NNC_NNTXT.is_dir():
        return [("tutorial_basics_02_binary_cnn.sdcproj", "missing")]
    pairs = []
    for sample in ("tutorial_basics_01_logistic_regression", "tutorial_basics_02_binary_cnn",
                   "tutorial_basics_06_auto_encoder", "tutorial_basics_10_deep_mlp", "tutorial_basics_11_deconvolution",
                   "tutorial_basics_12_residual_learning", "tutorial_binary_networks_binary_connect_mnist_LeNet",
                   "tutorial_binary_networks_binary_net_mnist_MLP", "tutorial_recurrent_neural_networks_elman_net"):
        found = sorted(p.name for p in NNC_NNTXT.glob(f"*{sample}__2018*_net.nntxt"))
        if found:
            pairs.append((sample + ".sdcproj", found[0]))
    return pairs


def _summary(network) -> dict:
    variables = {v.name: (v.type, tuple(v.shape.dim)) for v in network.variable}
    functions = []
    for f in network.function:
        which = f.WhichOneof("parameter")
        args = text_format.MessageToString(getattr(f, which), as_one_line=True) if which else ""
        functions.append((f.name, f.type, tuple(f.input), tuple(f.output), which, args))
    return {"variables": variables, "functions": functions}


@pytest.mark.parametrize("sample,nntxt", _pairs())
def test_matches_nnc_generated_nntxt(sample, nntxt):
    project = _project(sample)
    if not (NNC_NNTXT / nntxt).exists():
        pytest.skip("NNC nntxt files are missing")
    ours = text_format.Parse(C.to_nntxt(project), pb.NNablaProtoBuf())
    theirs = text_format.Parse((NNC_NNTXT / nntxt).read_text(encoding="utf-8"), pb.NNablaProtoBuf())
    assert [n.name for n in ours.network] == [n.name for n in theirs.network]
    for mine, nnc in zip(ours.network, theirs.network):
        a, b = _summary(mine), _summary(nnc)
        extra = {k for k in a["variables"] if k.endswith("/alpha")}
        assert {k: v for k, v in a["variables"].items() if k not in extra} == b["variables"], mine.name
        assert len(a["functions"]) == len(b["functions"]), mine.name
        # the order of independent functions may differ (a Delay reads a later layer); match them by name
        for fa, fb in zip(sorted(a["functions"]), sorted(b["functions"])):
            assert fa[:2] == fb[:2] and fa[4] == fb[4], (mine.name, fa, fb)
            assert tuple(i for i in fa[2] if i not in extra) == fb[2], (mine.name, fa, fb)
            assert fa[3] == fb[3]
            # every argument NNC wrote has the same value in ours
            theirs_args = getattr(nnc.function[b["functions"].index(fb)], fb[4]) if fb[4] else None
            ours_args = getattr(mine.function[a["functions"].index(fa)], fa[4]) if fa[4] else None
            assert (ours_args is None) == (theirs_args is None)
            if theirs_args is not None:
                for field, value in theirs_args.ListFields():
                    assert getattr(ours_args, field.name) == value, (mine.name, fa[0], field.name)
    by_name = {v.name: v for n in theirs.network for v in n.variable}
    for n in ours.network:
        for v in n.variable:
            if v.type == "Parameter" and v.name in by_name:
                assert v.initializer.type == by_name[v.name].initializer.type
                assert v.initializer.multiplier == pytest.approx(by_name[v.name].initializer.multiplier)
    # data bindings of the optimizer and the executor's output
    assert [(d.variable_name, d.data_name) for d in ours.optimizer[0].data_variable] == \
        [(d.variable_name, d.data_name) for d in theirs.optimizer[0].data_variable]
    assert [v.variable_name for v in ours.optimizer[0].loss_variable] == \
        [v.variable_name for v in theirs.optimizer[0].loss_variable]
    assert [(o.variable_name, o.data_name) for o in ours.executor[0].output_variable] == \
        [(o.variable_name, o.data_name) for o in theirs.executor[0].output_variable]
    assert ours.optimizer[0].solver.type == theirs.optimizer[0].solver.type


def test_check_reports_the_broken_layer():
    project = _project("image_recognition_MNIST_LeNet.sdcproj")
    layer = next(x for x in project["networks"][0]["layers"] if x["type"] == "Convolution")
    layer["properties"]["KernelShape"] = "40,40"
    errors = C.check(project)
    assert errors and all(f"layer {layer['name']!r}" in e for e in errors[:1])
    with pytest.raises(ValueError, match="cannot be compiled"):
        C.to_nntxt(project)


def test_unknown_network_in_config():
    project = _project("tutorial_basics_01_logistic_regression.sdcproj")
    project["monitors"][0]["network"] = "Elsewhere"
    assert any("Elsewhere" in e for e in C.check(project))
