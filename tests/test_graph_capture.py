"""nnl.graph_capture: the captured training step equals the eager one; where it cannot capture it runs eagerly and
says why (the CUDA replay itself is checked by the cuda-marked test, run by benchmarks/gpu_check.sh)."""

from __future__ import annotations

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.ext_utils import get_extension_context
from nnl.graph_capture import capture_training_step

torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()


def _run(make_solver, steps, capture, extension="cpu", dropout=False):
    nn.clear_parameters()
    nn.seed(5)
    rng = np.random.RandomState(2)
    with nn.context_scope(get_extension_context(extension)):
        x, t = nn.Variable((16, 1, 8, 8)), nn.Variable((16, 1))
        h = F.relu(PF.batch_normalization(PF.convolution(x, 4, (3, 3), name="c"), name="bn"))
        if dropout:
            h = F.dropout(h, 0.1)
        loss = F.mean(F.softmax_cross_entropy(PF.affine(h, 3, name="fc"), t))
        solver = make_solver()
        solver.set_parameters(nn.get_parameters())
        step = capture_training_step(loss, solver, inputs=[x, t], weight_decay=1e-4) if capture else None
        losses = []
        for i in range(steps):
            x.d, t.d = rng.randn(16, 1, 8, 8), rng.randint(0, 3, (16, 1))
            if i == steps // 2:
                solver.set_learning_rate(solver.learning_rate() * 0.5)
            if step is not None:
                step()
            else:
                loss.forward(clear_no_need_grad=True)
                solver.zero_grad()
                loss.backward(clear_buffer=True)
                solver.weight_decay(1e-4)
                solver.update()
            losses.append(float(loss.d))
    params = {k: v.d.copy() for k, v in nn.get_parameters(grad_only=False).items()}
    return losses, params, step


SOLVERS = [lambda: S.Sgd(0.1), lambda: S.Momentum(0.05, 0.9), lambda: S.Adam(0.01), lambda: S.AdamW(0.01, wd=0.01)]


@pytest.mark.parametrize("make_solver", SOLVERS, ids=["Sgd", "Momentum", "Adam", "AdamW"])
def test_without_cuda_the_step_runs_eagerly_with_the_same_results(make_solver):
    expected_losses, expected, _ = _run(make_solver, 6, capture=False, extension="torch")
    losses, params, step = _run(make_solver, 6, capture=True, extension="torch")
    assert not step.captured and "not on a CUDA device" in step.reason
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-6)
    for key in expected:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_the_loss_must_be_a_scalar():
    x = nn.Variable((2, 3))
    with pytest.raises(ValueError, match=r"capture_training_step: loss must be a scalar variable, got loss.shape=\(2, 3\)"):
        capture_training_step(x * 2.0, S.Sgd(0.1))


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU")
@pytest.mark.parametrize("make_solver", SOLVERS, ids=["Sgd", "Momentum", "Adam", "AdamW"])
def test_cuda_replays_match_eager_steps(make_solver):
    expected_losses, expected, _ = _run(make_solver, 8, capture=False, extension="cudnn")
    losses, params, step = _run(make_solver, 8, capture=True, extension="cudnn")
    assert step.captured, step.reason
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-5)
    for key in expected:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU")
def test_cuda_host_random_functions_are_not_captured():
    with pytest.warns(RuntimeWarning, match="Dropout draw random numbers on the host"):
        _, _, step = _run(lambda: S.Sgd(0.1), 3, capture=True, extension="cudnn", dropout=True)
    assert not step.captured
