"""nnabla's file API on nnl: utils.save.save, utils.nnp_graph.NnpLoader, utils.load.load, and bad files."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.nnp.container import read_nnp
from nnl.utils.load import load
from nnl.utils.nnp_graph import NnpLoader
from nnl.utils.save import save


def _lenet(x):
    h = F.relu(F.max_pooling(PF.convolution(x, 4, (3, 3), name="conv1"), (2, 2)))
    h = F.relu(PF.affine(h, 16, name="fc1"))
    return PF.affine(h, 10, name="fc2")


@pytest.fixture
def lenet():
    nn.clear_parameters()
    nn.seed(0)
    x = nn.Variable((3, 1, 12, 12))
    y = _lenet(x)
    x.d = np.random.RandomState(1).randn(*x.shape)
    y.forward()
    return x, y


def _contents(x, y, batch_size=3, **extra):
    contents = {
        "networks": [{"name": "net", "batch_size": batch_size, "outputs": {"y": y}, "names": {"x": x}}],
        "executors": [{"name": "runtime", "network": "net", "data": ["x"], "output": ["y"]}],
    }
    contents.update(extra)
    return contents


@pytest.mark.parametrize("ext", [".nnp", ".nntxt", ".protobuf"])
def test_save_and_nnp_loader(lenet, tmp_path, ext):
    x, y = lenet
    path = tmp_path / f"lenet{ext}"
    save(str(path), _contents(x, y), include_params=True)
    expected = y.d.copy()
    params = {k: v.d.copy() for k, v in nn.get_parameters(grad_only=False).items()}
    nn.clear_parameters()
    loader = NnpLoader(str(path))
    assert loader.get_network_names() == ["net"]
    for k, v in params.items():  # parameters are published at once, bit-exact
        np.testing.assert_array_equal(nn.get_parameters(grad_only=False)[k].d, v)
    net = loader.get_network("net", batch_size=3)
    assert list(net.inputs) == ["x"] and list(net.outputs) == ["y"]
    net.inputs["x"].d = x.d
    net.outputs["y"].forward()
    np.testing.assert_array_equal(net.outputs["y"].d, expected)
    other = loader.get_network("net", batch_size=5)  # the -1 batch dimension
    assert other.inputs["x"].shape == (5, 1, 12, 12) and other.outputs["y"].shape == (5, 10)


def test_nnp_members_and_batch_placeholder(lenet, tmp_path):
    x, y = lenet
    path = tmp_path / "m.nnp"
    save(str(path), _contents(x, y))
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["network.nntxt", "nnp_version.txt", "parameter.h5"]
        assert z.read("nnp_version.txt") == b"0.1\n"
    net = read_nnp(str(path)).network("net")
    assert net.batch_size == 3
    shapes = {v.name: list(v.shape.dim) for v in net.variable}
    assert shapes["x"] == [-1, 1, 12, 12] and shapes["y"] == [-1, 10] and shapes["conv1/conv/W"] == [4, 1, 3, 3]
    assert [f.name for f in net.function][:3] == ["@net/Convolution", "@net/MaxPooling", "@net/ReLU"]


def test_nnp_without_params_in_nntxt(lenet, tmp_path):
    x, y = lenet
    save(str(tmp_path / "a.nntxt"), _contents(x, y))
    assert not read_nnp(str(tmp_path / "a.nntxt")).parameters


def test_parameter_format_protobuf_and_solver_state(lenet, tmp_path):
    x, y = lenet
    solver = S.Adam(0.01)
    solver.set_parameters(nn.get_parameters())
    loss = F.mean(y)
    loss.forward()
    loss.backward()
    solver.update()
    path = tmp_path / "m.nnp"
    contents = _contents(x, y, datasets=[_dataset()], optimizers=[_optimizer(solver)])
    save(str(path), contents, parameter_format=".protobuf", include_solver_state=True)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert "parameter.protobuf" in names and "optimizer_Adam_optimizer.h5.optimizer" in names
        state_file = tmp_path / "states.h5"
        state_file.write_bytes(z.read("optimizer_Adam_optimizer.h5.optimizer"))
    again = S.Adam(0.01)
    again.set_parameters(nn.get_parameters())
    again.load_states(str(state_file))
    for key, state in solver.get_states().items():
        for name, v in state.pstate.items():
            np.testing.assert_array_equal(again.get_states()[key].pstate[name].d, v.d)


def _dataset(name="train"):
    return {"name": name, "uri": "train.csv", "cache_dir": "cache", "variables": ["x", "y"], "shuffle": True,
            "batch_size": 3, "no_image_normalization": False}


def _optimizer(solver):
    return {"name": "optimizer", "solver": solver, "network": "net", "dataset": "train", "weight_decay": 1e-4,
            "lr_decay": 0.5, "lr_decay_interval": 2, "update_interval": 3, "data_variables": {"x": "x"}}


def test_load_training_configuration(lenet, tmp_path):
    x, y = lenet
    solver = S.Momentum(0.05, 0.8)
    solver.set_parameters({k: v for k, v in nn.get_parameters().items() if k.startswith("fc")})
    contents = _contents(
        x, y,
        global_config={"default_context": get_extension_context("cpu")},
        training_config={"max_epoch": 7, "iter_per_epoch": 11, "save_best": True},
        datasets=[_dataset()],
        optimizers=[_optimizer(solver)],
        monitors=[{"name": "monitor", "network": "net", "dataset": "train"}],
    )
    path = tmp_path / "config.nnp"
    save(str(path), contents)
    nn.clear_parameters()
    info = load([str(path)])
    assert (info.training_config.max_epoch, info.training_config.iter_per_epoch) == (7, 11)
    assert info.default_context.backend == ["cpu:float"]
    assert info.datasets["train"].uri == "train.csv" and info.datasets["train"].variables == ("x", "y")
    opt = info.optimizers["optimizer"]
    assert type(opt.solver).__name__ == "Momentum"
    assert opt.solver.info["lr"] == pytest.approx(0.05) and opt.solver.info["momentum"] == pytest.approx(0.8)
    assert list(opt.solver.get_parameters()) == ["fc1/affine/W", "fc1/affine/b", "fc2/affine/W", "fc2/affine/b"]
    assert (opt.update_interval, opt.lr_decay_interval, opt.loss_variables) == (3, 2, ["y"])
    assert opt.weight_decay == pytest.approx(1e-4) and opt.data_variables == {"x": "x"}
    assert info.monitors["monitor"].network is info.networks["net"]
    runtime = info.executors["runtime"]
    assert list(runtime.data_variables) == ["x"] and list(runtime.output_variables) == ["y"]
    net = info.networks["net"]
    net.inputs["x"].d = x.d
    net.outputs["y"].forward()
    np.testing.assert_array_equal(net.outputs["y"].d, y.d)


def test_save_refers_to_missing_network(lenet, tmp_path):
    x, y = lenet
    contents = _contents(x, y)
    contents["executors"][0]["network"] = "nope"
    with pytest.raises(ValueError, match="nope"):
        save(str(tmp_path / "a.nnp"), contents)
    assert not os.listdir(tmp_path)  # nothing written, no temporary file left


# -- bad files: clear errors, nothing half-loaded ----------------------------------------------------------------


@pytest.fixture
def saved(lenet, tmp_path):
    x, y = lenet
    path = tmp_path / "m.nnp"
    save(str(path), _contents(x, y))
    nn.clear_parameters()
    return path


def test_truncated_nnp(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="m.nnp"):
        NnpLoader(str(saved))
    assert not nn.get_parameters(grad_only=False)


def test_wrong_version(saved, tmp_path):
    bad = tmp_path / "bad.nnp"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, "9.9\n" if name == "nnp_version.txt" else src.read(name))
    with pytest.raises(ValueError, match="nnp_version '9.9'"):
        NnpLoader(str(bad))


def test_corrupt_member(saved, tmp_path):
    bad = tmp_path / "bad.nnp"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"garbage {" if name == "network.nntxt" else src.read(name))
    with pytest.raises(ValueError, match="network.nntxt"):
        NnpLoader(str(bad))
    assert not nn.get_parameters(grad_only=False)


def test_unknown_function_type(saved, tmp_path):
    text = read_nnp(str(saved))
    net = text.network("net")
    net.function[1].type = "FancyPooling"
    from nnl.nnp.container import write_nnp

    write_nnp(tmp_path / "bad.nnp", text)
    loader = NnpLoader(str(tmp_path / "bad.nnp"))
    with pytest.raises(ValueError, match="'@net/MaxPooling'.*FancyPooling"):
        loader.get_network("net")


def test_mismatched_parameter_shape(saved, tmp_path):
    nn.clear_parameters()
    with nn.parameter_scope("conv1/conv"):
        nn.parameter.get_parameter_or_create("W", (2, 2))
    before = nn.get_parameters(grad_only=False)["conv1/conv/W"].d.copy()
    with pytest.raises(ValueError, match="conv1/conv/W"):
        NnpLoader(str(saved))
    assert set(nn.get_parameters(grad_only=False)) == {"conv1/conv/W"}  # nothing else was published
    np.testing.assert_array_equal(nn.get_parameters(grad_only=False)["conv1/conv/W"].d, before)


def test_parameter_shape_against_network(saved, tmp_path):
    nnp = read_nnp(str(saved))
    nnp.parameters["fc2/affine/W"] = np.zeros((3, 3), np.float32)
    from nnl.nnp.graph import build_network

    with pytest.raises(ValueError, match=r"fc2/affine/W.*\(3, 3\)"):
        build_network(nnp, "net", parameter_scope=False)


def test_unknown_network_name(saved):
    with pytest.raises(ValueError, match="no network named 'other'"):
        NnpLoader(str(saved)).get_network("other")


# -- NnpNetworkPass (graph surgery while loading) ----------------------------------------------------------------


def test_network_pass_transfer_learning(lenet, tmp_path):
    from nnl.utils.nnp_graph import NnpNetworkPass

    x, y = lenet
    path = tmp_path / "m.nnp"
    save(str(path), _contents(x, y))
    features_name = read_nnp(str(path)).network("net").function[3].output[0]  # fc1's output, before its ReLU
    nn.clear_parameters()
    loader = NnpLoader(str(path))
    own_input = nn.Variable((2, 1, 12, 12))
    own_input.d = x.d[:2]
    p = NnpNetworkPass()
    p.set_variable("x", own_input)
    p.use_up_to(features_name)
    p.fix_parameters()
    net = loader.get_network("net", batch_size=2, callback=p)
    assert net.inputs["x"] is own_input and list(net.outputs) == [features_name]
    assert all(not v.need_grad for v in net.parameters.values())
    assert nn.get_parameters()["fc1/affine/W"].need_grad  # the scope's flags are untouched
    features = net.outputs[features_name]
    features.forward()
    ref = F.affine(F.relu(F.max_pooling(F.convolution(own_input, *[nn.get_parameters()[f"conv1/conv/{k}"]
                                                                   for k in "Wb"]), (2, 2))),
                   nn.get_parameters()["fc1/affine/W"], nn.get_parameters()["fc1/affine/b"])
    ref.forward()
    np.testing.assert_allclose(features.d, ref.d, rtol=1e-6)


def test_network_pass_remove_and_rewire_and_bn(tmp_path):
    from nnl.utils.nnp_graph import NnpNetworkPass

    nn.clear_parameters()
    x = nn.Variable((2, 3, 4, 4))
    h = PF.batch_normalization(x, batch_stat=True, name="bn")
    y = F.softmax(F.average_pooling(h, (2, 2)))
    save(str(tmp_path / "m.nnp"), _contents(x, y, batch_size=2))
    p = NnpNetworkPass()
    p.remove_and_rewire("@net/Softmax")
    p.set_batch_normalization_batch_stat_all(False)
    p.force_average_pooling_global("@net/AveragePooling")
    net = NnpLoader(str(tmp_path / "m.nnp")).get_network("net", callback=p)
    assert [f.name for f in net.functions.values()] == ["BatchNormalization", "AveragePooling"]
    bn, pool = net.functions.values()
    assert bn.batch_stat is False and tuple(pool.kernel) == (4, 4)
    (out,) = net.outputs.values()
    assert out.shape == (2, 3, 1, 1)


@pytest.mark.parametrize("comm_size", [1, 2])
def test_scheduler_from_proto(comm_size):
    from google.protobuf import text_format

    from nnl.nnp import nnabla_pb2 as pb
    from nnl.nnp.load import scheduler_from_proto

    solver = text_format.Parse(
        'type: "Sgd" sgd_param { lr: 0.1 } lr_scheduler_type: "Step" step_scheduler_param { gamma: 0.5 iter_steps: 10 '
        'iter_steps: 20 } lr_warmup_scheduler_type: "Linear" linear_warmup_scheduler_param { warmup_iter: 4 }',
        pb.Solver(),
    )
    s = scheduler_from_proto(solver, 0.1, "test", comm_size)
    warm, step = 4 // comm_size, [10 // comm_size, 20 // comm_size]
    for it in (0, 1, 5, 12, 30):
        expected = 0.1 * 0.5 ** sum(it >= k for k in step) * (min(1.0, (it + 1) / warm))
        assert s.get_learning_rate(it) == pytest.approx(expected)
    legacy = text_format.Parse('type: "Sgd" lr_decay: 0.9 lr_decay_interval: 3', pb.Solver())
    assert scheduler_from_proto(legacy, 1.0, "test").get_learning_rate(7) == pytest.approx(0.9**2)
    with pytest.raises(ValueError, match="Magic"):
        scheduler_from_proto(text_format.Parse('lr_scheduler_type: "Magic"', pb.Solver()), 1.0, "test")
