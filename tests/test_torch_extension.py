"""The torch extension: contexts and their errors, fallback records, device arrays, solvers on tensors, mixed
precision with loss scaling, `nnl train -C torch`, third-party extensions through an entry point."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train import write_config  # noqa: E402

import nnl as nn  # noqa: E402
import nnl.functions as F  # noqa: E402
import nnl.parametric_functions as PF  # noqa: E402
import nnl.solvers as S  # noqa: E402
from nnl.backends import report  # noqa: E402
from nnl.cli.main import main as cli  # noqa: E402
from nnl.core import dispatch  # noqa: E402
from nnl.experimental.mixed_precision_training import DynamicLossScalingUpdater  # noqa: E402
from nnl.ext_utils import get_extension_context, list_extensions  # noqa: E402
from nnl.mixed_precision import DynamicLossScaler  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

CUDA = torch.cuda.is_available()


# -- contexts ------------------------------------------------------------------------------------------------
def test_contexts_list_backends_in_preference_order():
    assert get_extension_context("torch").backend == ["torch:float", "cpu:float"]
    assert get_extension_context("torch", type_config="half").backend == ["torch:half", "torch:float", "cpu:float"]
    assert get_extension_context("torch", type_config="bfloat16").backend == ["torch:bfloat16", "torch:float", "cpu:float"]
    assert {"cpu", "torch"} <= set(list_extensions())
    assert ({"cuda", "cudnn"} <= set(list_extensions())) == CUDA  # listed only where they can run


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cudnn"])
def test_cuda_without_cuda_is_a_clear_error(name):
    with pytest.raises(ValueError, match=rf"get_extension_context\('{name}'\): CUDA is not available.*'torch'"):
        get_extension_context(name, device_id="0")


def test_bad_extension_and_type_config_name_what_is_available():
    with pytest.raises(ValueError, match=r"extension 'tpu' does not exist; available: \[.*'torch'"):
        get_extension_context("tpu")
    with pytest.raises(ValueError, match=r"type_config must be one of .*'bfloat16'"):
        get_extension_context("torch", type_config="double")


# -- dispatch, fallback, device arrays ---------------------------------------------------------------------
def _small_graph():
    x = nn.Variable.from_numpy_array(np.random.RandomState(0).randn(2, 3, 6, 6).astype(np.float32), need_grad=True)
    h = PF.convolution(x, 4, (3, 3), name="conv")
    return x, F.mean(F.sinc(h))  # Sinc has no torch kernel


def test_fallback_is_recorded_warned_once_and_numerically_right():
    dispatch.forget_warnings()
    with nn.context_scope(get_extension_context("torch")):
        with pytest.warns(dispatch.FallbackWarning, match="Sinc: no torch:float kernel"):
            x, y = _small_graph()
        with warnings.catch_warnings():
            warnings.simplefilter("error", dispatch.FallbackWarning)  # the second graph does not warn again
            _small_graph()
    uses = report(y)
    assert [(u.function, u.implementation) for u in uses] == [
        ("Convolution", "torch:float"), ("Sinc", "cpu:float"), ("Mean", "torch:float")]
    assert [u.function for u in uses.fallbacks] == ["Sinc"]
    assert "(fallback)" in str(uses)
    y.forward()
    y.backward()  # gradients flow through the fallback's boundary in both directions
    assert np.isfinite(y.d) and np.abs(x.g).sum() > 0 and np.abs(nn.get_parameters()["conv/conv/W"].g).sum() > 0


def test_torch_matches_numpy_on_a_mixed_graph():
    rng = np.random.RandomState(1)
    data = rng.randn(2, 3, 6, 6).astype(np.float32)
    w = rng.randn(4, 3, 3, 3).astype(np.float32)

    def run(ctx):
        with nn.context_scope(ctx), warnings.catch_warnings():
            warnings.simplefilter("ignore", dispatch.FallbackWarning)
            x = nn.Variable.from_numpy_array(data, need_grad=True)
            weight = nn.Variable.from_numpy_array(w, need_grad=True)
            y = F.mean(F.sinc(F.relu(F.convolution(x, weight, pad=(1, 1)))) * 3.0)
            y.forward()
            y.backward()
            return float(y.d), x.g.copy(), weight.g.copy()

    cpu, dev = run(nn.Context()), run(get_extension_context("torch"))
    assert cpu[0] == pytest.approx(dev[0], rel=1e-5)
    np.testing.assert_allclose(dev[1], cpu[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dev[2], cpu[2], rtol=1e-4, atol=1e-6)


def test_host_reads_and_writes_see_device_results():
    with nn.context_scope(get_extension_context("torch")):
        x = nn.Variable((2, 3))
        y = F.relu(x) * 2.0
        x.d = [[1, -1, 2], [-2, 3, 0]]
        y.forward()
        assert isinstance(y.data.device_array, torch.Tensor)  # the result stays a tensor until read
        np.testing.assert_array_equal(y.d, [[2, 0, 4], [0, 6, 0]])
        assert isinstance(y.data.device_array, np.ndarray)  # reading moved it to the host (a view on the CPU)
        x.d[0, 0] = 5.0  # an in-place host write is what the next kernel reads
        y.forward()
        assert y.d[0, 0] == 10.0


def test_arrays_keep_a_cast_copy_until_their_head_changes():
    """As nnabla's synced arrays: a float32 parameter that half kernels read is cast once and the copy reused (by
    the backward) until the parameter changes: a solver update on the device, a host write, a fill."""
    nn.clear_parameters()
    rng = np.random.RandomState(0)
    with nn.context_scope(get_extension_context("torch", type_config="half")):
        x = nn.Variable.from_numpy_array(rng.randn(4, 3).astype(np.float32))
        y = PF.affine(x, 2, name="fc")
        loss = F.sum(y * y)
        w, b = nn.get_parameters()["fc/affine/W"], nn.get_parameters()["fc/affine/b"]
        solver = S.Sgd(0.1)
        solver.set_parameters(nn.get_parameters())

        def expected() -> np.ndarray:
            return x.d.astype(np.float16).astype(np.float32) @ w.d.astype(np.float16).astype(np.float32) + b.d

        loss.forward()
        head, version, cast = w.data._copy
        assert cast.dtype == torch.float16 and head is w.data.device_array
        solver.zero_grad()
        loss.backward()
        assert w.data._copy[2] is cast  # the backward read the same copy
        solver.update()
        assert w.data.device_array is head and head._version > version  # updated in place on the device
        loss.forward()
        assert w.data._copy[2] is not cast
        np.testing.assert_allclose(y.d, expected(), rtol=2e-3, atol=2e-3)
        w.d[0, 0] += 1.0  # a host write
        loss.forward()
        np.testing.assert_allclose(y.d, expected(), rtol=2e-3, atol=2e-3)
        w.data.fill(0.5)
        loss.forward()
        np.testing.assert_allclose(y.d, expected(), rtol=2e-3, atol=2e-3)


def test_read_only_host_data_leaves_the_array_on_its_device():
    with nn.context_scope(get_extension_context("torch")):
        x = nn.Variable.from_numpy_array(np.arange(6, dtype=np.float32).reshape(2, 3))
        y = F.mul_scalar(x, 2.0)
        y.forward()
        head = y.data.device_array
        read = y.data.get_data("r")
        np.testing.assert_array_equal(read, 2 * x.d)
        assert y.data.device_array is head and not read.flags.writeable
        with pytest.raises(ValueError):
            read[0, 0] = 1.0
        assert isinstance(y.data.get_data("rw"), np.ndarray) and y.data.get_data("rw").flags.writeable


def test_a_training_step_makes_no_host_transfers(monkeypatch):
    """Forward, backward and the solver update keep every buffer on the device: nothing moves to the host."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import workloads

    nn.clear_parameters()
    moves = []
    original = nn.NdArray._to_host
    monkeypatch.setattr(nn.NdArray, "_to_host", lambda self: moves.append(self.shape) or original(self))
    rng = np.random.RandomState(0)
    with nn.context_scope(get_extension_context("torch")):
        x, t = nn.Variable((8, 1, 28, 28)), nn.Variable((8, 1))
        loss = F.mean(F.softmax_cross_entropy(workloads.lenet(F, PF, x), t))
        solver = S.Adam(1e-3)
        solver.set_parameters(nn.get_parameters())
        for step in range(3):
            x.d, t.d = rng.rand(8, 1, 28, 28), rng.randint(0, 10, (8, 1))
            moves.clear()
            loss.forward(clear_no_need_grad=True)
            solver.zero_grad()
            loss.backward(clear_buffer=True)
            solver.weight_decay(1e-4)
            solver.update()
            assert moves == [], f"step {step} moved buffers of shapes {moves} to the host"
        assert np.isfinite(loss.d).all() and len(moves) == 1  # reading the loss is the one transfer


def test_writing_a_whole_device_array_does_not_read_it_first():
    """``x.d = value`` replaces a device array by host data without copying the old values to the host (a tensor
    on torch's 'meta' device, which has no values to copy, stands for a GPU array here)."""
    x = nn.Variable((2, 3))
    x.data._adopt(torch.empty((2, 3), device="meta"))
    x.d = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(x.d, np.arange(6).reshape(2, 3))
    x.grad._adopt(torch.empty((2, 3), device="meta"))
    x.g = 1.5
    assert (x.g == 1.5).all() and x.g.dtype == np.float32


# -- solvers on tensors ------------------------------------------------------------------------------------
SOLVERS = [
    ("Sgd", lambda: S.Sgd(0.1)),
    ("Momentum", lambda: S.Momentum(0.05, 0.9)),
    ("Adam", lambda: S.Adam(0.01)),
    ("AdamW", lambda: S.AdamW(0.01, wd=0.01)),
]


def _train(ctx, make_solver, steps=5, scale=None):
    nn.clear_parameters()
    nn.seed(7)
    rng = np.random.RandomState(3)
    with nn.context_scope(ctx):
        x, t = nn.Variable((8, 5)), nn.Variable((8, 1))
        h = F.tanh(PF.affine(x, 6, name="fc1"))
        loss = F.mean(F.squared_error(PF.affine(h, 1, name="fc2"), t))
        solver = make_solver()
        solver.set_parameters(nn.get_parameters())
        for _ in range(steps):
            x.d, t.d = rng.randn(8, 5), rng.randn(8, 1)
            loss.forward()
            solver.zero_grad()
            loss.backward()
            if scale is not None:
                solver.scale_grad(scale)
            solver.weight_decay(1e-3)
            assert not solver.check_inf_or_nan_grad()
            solver.update()
    return {k: v.d.copy() for k, v in nn.get_parameters().items()}, solver


@pytest.mark.parametrize("name,make", SOLVERS, ids=[s[0] for s in SOLVERS])
def test_device_solver_updates_match_numpy(name, make):
    reference, _ = _train(nn.Context(), make, scale=0.5)
    device, solver = _train(get_extension_context("torch"), make, scale=0.5)
    assert solver._device_update is not None
    for key in reference:
        np.testing.assert_allclose(device[key], reference[key], rtol=2e-5, atol=2e-6, err_msg=f"{name} {key}")


def test_device_check_inf_or_nan_grad():
    with nn.context_scope(get_extension_context("torch")):
        w = nn.Variable.from_numpy_array(np.ones((3,), np.float32), need_grad=True)
        solver = S.Sgd(0.1)
        solver.set_parameters({"w": w})
        y = F.sum(F.log(w - 1.0))  # log(0) = -inf: its gradient 1/0 = inf
        y.forward()
        solver.zero_grad()
        y.backward()
        assert solver.check_inf_or_nan_grad()


# -- mixed precision -----------------------------------------------------------------------------------------
def _lenet_steps(type_config, steps=12, extension="torch"):
    nn.clear_parameters()
    nn.seed(0)
    rng = np.random.RandomState(0)
    images = rng.rand(16, 1, 12, 12).astype(np.float32)
    labels = (images.mean(axis=(1, 2, 3)) > 0.5).astype(np.int32).reshape(16, 1)
    with nn.context_scope(get_extension_context(extension, type_config=type_config)), warnings.catch_warnings():
        warnings.simplefilter("ignore", dispatch.FallbackWarning)
        x, t = nn.Variable.from_numpy_array(images), nn.Variable.from_numpy_array(labels)
        h = F.relu(F.max_pooling(PF.convolution(x, 8, (3, 3), name="c1"), (2, 2)))
        h = PF.batch_normalization(h, name="bn")
        y = PF.affine(h, 2, name="fc")
        loss = F.mean(F.softmax_cross_entropy(y, t))
        solver = S.Adam(0.01)
        solver.set_parameters(nn.get_parameters())
        scaler = DynamicLossScaler(scale=256.0, interval=4)
        losses = []
        for _ in range(steps):
            loss.forward(clear_no_need_grad=True)
            losses.append(float(loss.d))
            solver.zero_grad()
            scaler.backward(loss)
            scaler.update(solver)
    return losses, y, scaler


@pytest.mark.parametrize("type_config", ["half", "bfloat16"])
def test_low_precision_training_learns_with_float32_master_weights(type_config):
    losses, y, scaler = _lenet_steps(type_config)
    assert losses[-1] < 0.7 * losses[0]
    uses = {u.function: u.implementation for u in report(y)}
    assert uses["Convolution"] == f"torch:{type_config}" and uses["Affine"] == f"torch:{type_config}"
    assert uses["BatchNormalization"] == f"torch:{type_config}"  # with float32 parameters and statistics
    for key, p in nn.get_parameters().items():
        assert p.d.dtype == np.float32 and p.g.dtype == np.float32, key
    assert scaler.scale > 256.0  # no overflow in 12 steps: the scale grew after each `interval` good steps


@pytest.mark.parametrize("type_config", ["half", "bfloat16"])
def test_batch_normalization_keeps_low_precision_data_and_float32_statistics(type_config):
    """As cuDNN: half/bfloat16 in and out (activations take half the memory), float32 parameters and running
    statistics, which update in place; values and gradients match the float32 computation."""
    rng = np.random.RandomState(0)
    data = (rng.randn(8, 4, 5, 5) * 3 + 1).astype(np.float32)
    weights = rng.randn(8, 4, 5, 5).astype(np.float32)
    results = {}
    for tc in ("float", type_config):
        nn.clear_parameters()
        with nn.context_scope(get_extension_context("torch", type_config=tc)):
            x = nn.Variable.from_numpy_array(data, need_grad=True)
            y = PF.batch_normalization(x, batch_stat=True, name="bn")
            loss = F.sum(y * nn.Variable.from_numpy_array(weights))
            loss.forward()
            loss.backward()
            params = nn.get_parameters(grad_only=False)
            results[tc] = (y, x.g.copy(), {k: (v.d.copy(), v.g.copy()) for k, v in params.items()})
    y, dx, params = results[type_config]
    assert y.data.device_array.dtype == getattr(torch, "float16" if type_config == "half" else "bfloat16")
    _, dx_ref, params_ref = results["float"]
    tol = 2e-2 if type_config == "half" else 8e-2
    np.testing.assert_allclose(y.d, results["float"][0].d, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol * np.abs(dx_ref).max())
    for key, (value, grad) in params.items():
        assert value.dtype == np.float32 and grad.dtype == np.float32, key
        np.testing.assert_allclose(value, params_ref[key][0], rtol=tol, atol=tol)  # running mean/var updated
        np.testing.assert_allclose(grad, params_ref[key][1], rtol=tol, atol=tol * max(1.0, np.abs(params_ref[key][1]).max()))
    assert not np.allclose(params["bn/bn/mean"][0], 0.0)


def test_half_training_keeps_half_the_activation_memory(monkeypatch):
    """Every buffer a ResNet-20 step holds between forward and backward (data and gradients of each function's
    outputs) takes half the bytes under type_config='half' (float32 only for the loss)."""
    from nnl.core.graph import topological_order

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import workloads

    held = {}
    for type_config in ("float", "half"):
        nn.clear_parameters()
        with nn.context_scope(get_extension_context("torch", type_config=type_config)):
            x, t = nn.Variable((4, 3, 32, 32)), nn.Variable((4, 1))
            loss = F.mean(F.softmax_cross_entropy(workloads.resnet20(F, PF, x), t))
            x.d, t.d = np.random.RandomState(0).rand(4, 3, 32, 32), 1
            loss.forward()
            loss.backward()
            buffers = [nd.device_array for f in topological_order([loss]) for nd in (*f._out_data, *f._out_grad)]
            held[type_config] = sum(a.numel() * a.element_size() for a in buffers if a is not None)
    assert 0.49 < held["half"] / held["float"] < 0.52, held


def test_loss_scaler_skips_overflowing_steps_and_shrinks():
    w = nn.Variable.from_numpy_array(np.array([1.0, 2.0], np.float32), need_grad=True)
    solver = S.Sgd(0.5)
    solver.set_parameters({"w": w})
    scaler = DynamicLossScaler(scale=1e38, scaling_factor=2.0, interval=3)
    loss = F.sum(w * w)  # gradient 2 w: times 1e38 overflows float32
    loss.forward()
    solver.zero_grad()
    scaler.backward(loss)
    assert not scaler.update(solver)
    np.testing.assert_array_equal(w.d, [1.0, 2.0])  # skipped
    assert scaler.scale == 5e37 and scaler.skipped == 1
    scaler.scale = 4.0
    for _ in range(5):
        loss.forward()
        solver.zero_grad()
        scaler.backward(loss)
        assert scaler.update(solver)
    np.testing.assert_allclose(w.d, [0.0, 0.0])  # w - 0.5 * 2w = 0 at the first good step, then stays
    assert scaler.scale == 8.0  # grew once: after interval + 1 good steps, as nnabla counts


def test_dynamic_loss_scaling_updater_retries_with_a_smaller_scale():
    w = nn.Variable.from_numpy_array(np.array([3.0], np.float32), need_grad=True)
    solver = S.Sgd(0.25)
    solver.set_parameters({"w": w})
    loss = F.sum(w * w)
    fed = []
    updater = DynamicLossScalingUpdater(solver, loss, data_feeder=lambda: fed.append(1), scale=2.0**130, N=10)
    updater.update()
    assert updater.scale < 2.0**126  # overflowing scales were halved until the gradient fit in float32
    np.testing.assert_allclose(w.d, [1.5])  # one good update: 3 - 0.25 * 6
    assert len(fed) > 1


@pytest.mark.parametrize("precision", ["float", "half"])
def test_nnl_train_runs_on_the_torch_extension(small_mnist, tmp_path, monkeypatch, precision):
    """`-C torch` picks the extension, the file's default_context the precision; training learns."""
    config = tmp_path / "config.nntxt"
    write_config(config, *small_mnist, max_epoch=2)
    config.write_text(config.read_text().replace('backends: "cpu:float"', f'backends: "cpu:{precision}"'))
    bound = []
    original = dispatch.bind

    def spy(function, ctx):
        original(function, ctx)
        bound.append((function.name, function.implementation))

    monkeypatch.setattr(dispatch, "bind", spy)
    assert cli(["train", "-c", str(config), "-o", str(tmp_path / "run"), "-C", "torch", "-q"]) == 0
    assert ("Affine", f"torch:{precision}") in bound and ("SoftmaxCrossEntropy", "torch:float") in bound
    costs = [float(line.split()[1]) for line in (tmp_path / "run" / "cost.series.txt").read_text().splitlines()]
    assert costs[-1] < costs[0]


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU")
@pytest.mark.parametrize("type_config", ["float", "half", "bfloat16"])
def test_cuda_training_learns(type_config):
    losses, y, _ = _lenet_steps(type_config, extension="cudnn")
    assert losses[-1] < 0.7 * losses[0]
    assert report(y)[0].implementation == f"cudnn:{type_config}"
    assert isinstance(y.data.device_array, torch.Tensor) and y.data.device_array.is_cuda


EXAMPLE_ARGS = {
    "binary_net": ["--max-iter", "2", "--batch-size", "8"],
    "dcgan": ["--max-iter", "2", "--batch-size", "8", "--maps", "8"],
    "vae": ["--max-iter", "2", "--batch-size", "8", "--hidden", "16", "--latent", "2"],
    "siamese": ["--max-iter", "2", "--batch-size", "8"],
    "resnet20": ["--max-iter", "2", "--batch-size", "4", "--num-train", "16", "--num-test", "8"],
    "lstm_lm": ["--max-iter", "2", "--batch-size", "2", "--bptt", "4"],
    "word2vec": ["--max-iter", "2"],
    "fixed_point_mnist": ["--max-iter", "2", "--qat-iter", "2", "--batch-size", "8"],
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_ARGS))
def test_examples_run_on_torch_kernels_only(name, tmp_path):
    """Every function the examples use has a torch kernel: no fallback while they train on the torch extension."""
    from test_examples import load

    dispatch.forget_warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("error", dispatch.FallbackWarning)
        metrics = load(name).main([*EXAMPLE_ARGS[name], "--output", str(tmp_path), "--context", "torch"])
    assert metrics


@pytest.mark.parametrize("name", ["mlp", "lenet", "resnet20", "lstm", "resnet50"])
def test_benchmark_workloads_run_on_torch_kernels_only(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import workloads

    dispatch.forget_warnings()
    with warnings.catch_warnings(), nn.context_scope(get_extension_context("torch")):
        warnings.simplefilter("error", dispatch.FallbackWarning)
        step = workloads.WORKLOADS[name](nn, F, PF, S, batch=2)
        step()


@pytest.mark.parametrize("call", [
    lambda x: F.softplus(x), lambda x: F.log_sigmoid(x), lambda x: F.sigmoid_cross_entropy(x, x * 0.0 + 1.0),
    lambda x: F.log_softmax(x), lambda x: F.tanh(x), lambda x: F.elu(x),
], ids=["softplus", "log_sigmoid", "sigmoid_cross_entropy", "log_softmax", "tanh", "elu"])
def test_torch_kernels_are_stable_at_large_magnitudes(call):
    data = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], np.float32)

    def run(ctx):
        with nn.context_scope(ctx):
            y = call(nn.Variable.from_numpy_array(data))
            y.forward()
            return y.d.copy()

    np.testing.assert_allclose(run(get_extension_context("torch")), run(nn.Context()), rtol=1e-6, atol=1e-6)


def test_recurrent_layers_created_for_inference_refuse_backward():
    """As the reference (and nnabla): training=False layers have no backward."""
    rng = np.random.RandomState(0)
    with nn.context_scope(get_extension_context("torch")):
        x = nn.Variable.from_numpy_array(rng.randn(3, 2, 4).astype(np.float32), need_grad=True)
        h = nn.Variable.from_numpy_array(rng.randn(1, 1, 2, 5).astype(np.float32), need_grad=True)
        w0 = nn.Variable.from_numpy_array(rng.randn(1, 5, 9).astype(np.float32), need_grad=True)
        y, _ = F.rnn(x, h, w0, training=False)
        y.forward()
        assert y.parent.implementation == "torch:float"
        with pytest.raises(RuntimeError, match="RNN: backward is available in training mode only"):
            y.backward()


@pytest.mark.parametrize("type_config", ["half", "bfloat16"])
def test_resnet20_example_trains_in_low_precision(type_config, tmp_path):
    """examples/cifar10/resnet20.py -c torch -t half (with dynamic loss scaling) / -t bfloat16."""
    from test_examples import load

    args = ["--max-iter", "3", "--batch-size", "4", "--num-train", "16", "--num-test", "8", "--val-interval", "2"]
    metrics = load("resnet20").main([*args, "--output", str(tmp_path), "--context", "torch", "--type-config", type_config])
    assert np.isfinite(metrics["train_loss"]) and 0 <= metrics["test_error"] <= 1


def test_reductions_over_no_axis_reduce_nothing():
    """torch reads an empty dim list as "every axis"; nnabla's empty axes reduce nothing (found by nnabla's tests)."""
    x = np.random.RandomState(0).randn(10, 4, 16).astype(np.float32)

    def run(ctx):
        with nn.context_scope(ctx):
            v = nn.Variable.from_numpy_array(x)
            outs = [F.instance_normalization(v, None, None, channel_axis=2, batch_axis=[0, 1]), F.sum(v, axis=[]),
                    F.mean(v, axis=[]), F.norm(v, axis=[])]
            nn.forward_all(outs)
            return [o.d.copy() for o in outs]

    for device, reference in zip(run(get_extension_context("torch")), run(nn.Context())):
        np.testing.assert_allclose(device, reference, atol=1e-6)


_FAULTS_SCRIPT = """
import resource, torch, nnl.backends.torch
from nnl.backends.torch.host_memory import keep_freed_memory
def step():  # 80 MiB of 10 MiB activations freed together: more than glibc's adaptive trim threshold ever allows
    blocks = [torch.ones(10 << 18) for _ in range(8)]
    del blocks
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(keep_freed_memory(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tunes glibc's allocator")
def test_the_torch_backend_keeps_freed_host_memory_for_the_next_step():
    """A step's freed activations are reused by the next step instead of being returned to the OS and faulted in
    again page by page (80 MiB is 20,480 small pages); NNL_HOST_MALLOC=default leaves glibc as it is."""
    import os
    import subprocess

    def run(**env: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], env={**os.environ, **env}, capture_output=True, text=True, check=True)
        tuned, faults = out.stdout.split()
        return tuned, int(faults)

    tuned, kept = run()
    untuned, returned = run(NNL_HOST_MALLOC="default")
    assert (tuned, untuned) == ("True", "False")
    assert returned > 1000 and kept * 4 < returned, (kept, returned)
