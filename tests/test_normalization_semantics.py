"""Semantics of the normalization functions beyond the generic tester: running statistics updated in place,
training vs test mode, output_stat, wrappers' rules, sync batch norm with a communicator, spectral norm's u,
mean subtraction's count and the gradient clips."""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F
from nnl.functions.normalization import BatchNormalization, SpectralNorm


def V(a, need_grad=False):
    return nnl.Variable.from_numpy_array(np.asarray(a, np.float32), need_grad=need_grad)


def _bn_vars(rng, shape=(4, 3, 5), axis=1):
    stat = tuple(s if i == axis else 1 for i, s in enumerate(shape))
    x = V(rng.randn(*shape) * 2 + 1, True)
    beta, gamma = V(rng.randn(*stat), True), V(rng.randn(*stat), True)
    mean, var = V(rng.randn(*stat)), V(1 + rng.rand(*stat))
    return x, beta, gamma, mean, var


def test_batch_norm_updates_running_stats_in_place():
    rng = np.random.RandomState(0)
    x, beta, gamma, mean, var = _bn_vars(rng)
    m0, v0 = mean.d.copy(), var.d.copy()
    y = F.batch_normalization(x, beta, gamma, mean, var, decay_rate=0.8)
    for _ in range(3):  # every forward updates again
        x.d = rng.randn(*x.shape)
        y.forward()
        xd = x.d.astype(np.float64)
        bm = xd.mean((0, 2), keepdims=True)
        bv = xd.var((0, 2), keepdims=True)
        n = xd.shape[0] * xd.shape[2]
        m0 = 0.8 * m0 + 0.2 * bm
        v0 = 0.8 * v0 + 0.2 * bv * n / (n - 1)
        np.testing.assert_allclose(mean.d, m0, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(var.d, v0, rtol=1e-5, atol=1e-6)
        ref = (xd - bm) / np.sqrt(bv + 1e-5) * gamma.d + beta.d  # biased variance for normalising
        np.testing.assert_allclose(y.d, ref, rtol=1e-4, atol=1e-5)


def test_batch_norm_test_mode_uses_running_stats_and_is_affine():
    rng = np.random.RandomState(1)
    x, beta, gamma, mean, var = _bn_vars(rng)
    m0, v0 = mean.d.copy(), var.d.copy()
    y = F.batch_normalization(x, beta, gamma, mean, var, batch_stat=False)
    y.forward()
    np.testing.assert_array_equal(mean.d, m0)
    np.testing.assert_array_equal(var.d, v0)
    ref = (x.d - m0) / np.sqrt(v0 + 1e-5) * gamma.d + beta.d
    np.testing.assert_allclose(y.d, ref, rtol=1e-5, atol=1e-5)
    dy = rng.randn(*y.shape).astype(np.float32)
    x.grad.zero(), beta.grad.zero(), gamma.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, dy * gamma.d / np.sqrt(v0 + 1e-5), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(beta.g, dy.sum((0, 2), keepdims=True), rtol=1e-5, atol=1e-5)


def test_batch_norm_training_backward_formula():
    rng = np.random.RandomState(2)
    x, beta, gamma, mean, var = _bn_vars(rng)
    y = F.batch_normalization(x, beta, gamma, mean, var)
    y.forward()
    dy = rng.randn(*y.shape)
    for v in (x, beta, gamma):
        v.grad.zero()
    y.backward(dy.astype(np.float32))
    xd = x.d.astype(np.float64)
    mu = xd.mean((0, 2), keepdims=True)
    inv = 1 / np.sqrt(xd.var((0, 2), keepdims=True) + 1e-5)
    xhat = (xd - mu) * inv
    g = dy * gamma.d
    dx = inv * (g - g.mean((0, 2), keepdims=True) - xhat * (g * xhat).mean((0, 2), keepdims=True))
    np.testing.assert_allclose(x.g, dx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gamma.g, (dy * xhat).sum((0, 2), keepdims=True), rtol=1e-4, atol=1e-4)


def test_batch_norm_output_stat_and_dummy_running_stats():
    rng = np.random.RandomState(3)
    x = V(rng.randn(6, 2, 3), True)
    with nnl.auto_forward():
        y, m, v = F.batch_normalization(x, None, None, None, None, output_stat=True)
    np.testing.assert_allclose(m.d, x.d.mean((0, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.d, x.d.var((0, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    assert y.parent.info.args["no_scale"] and y.parent.info.args["no_bias"]
    assert len(y.parent.inputs) == 3  # x + dummy mean / variance


def test_batch_norm_wrapper_rules():
    rng = np.random.RandomState(4)
    x, beta, gamma, mean, var = _bn_vars(rng)
    with pytest.raises(ValueError):
        F.batch_normalization(x, beta, gamma, None, var, batch_stat=False)
    with pytest.raises(ValueError):  # running stats computed by a function cannot be updated
        F.batch_normalization(x, beta, gamma, F.identity(mean), var)
    F.batch_normalization(x, beta, gamma, F.identity(mean), F.identity(var), batch_stat=False)
    with pytest.raises(ValueError, match="BatchNormalization"):
        F.batch_normalization(x, V(np.zeros((1, 4, 1))), gamma, mean, var)


def test_batch_norm_multiple_axes_and_negative_axis():
    rng = np.random.RandomState(5)
    x = V(rng.randn(3, 4, 5))
    mean, var = V(np.zeros((1, 4, 5))), V(np.ones((1, 4, 5)))
    y = F.batch_normalization(x, None, None, mean, var, axes=[1, -1], decay_rate=0.5)
    y.forward()
    np.testing.assert_allclose(mean.d, 0.5 * x.d.mean(0, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.d, (x.d - x.d.mean(0)) / np.sqrt(x.d.var(0) + 1e-5), rtol=1e-4, atol=1e-5)


def test_batch_norm_recompute_does_not_update():
    rng = np.random.RandomState(6)
    x, beta, gamma, mean, var = _bn_vars(rng)
    y = F.batch_normalization(x, beta, gamma, mean, var)
    f = y.parent
    f.forward(f.inputs, [y])
    saved, out = mean.d.copy(), y.d.copy()
    f.recompute(f.inputs, [y])
    np.testing.assert_array_equal(mean.d, saved)
    np.testing.assert_allclose(y.d, out)


def test_fused_batch_norm_relu_and_z_gradient():
    rng = np.random.RandomState(7)
    x, beta, gamma, mean, var = _bn_vars(rng)
    z = V(rng.randn(*x.shape), True)
    with nnl.auto_forward():
        y = F.fused_batch_normalization(x, beta, gamma, mean, var, z)
        ref = F.batch_normalization(x, beta, gamma, V(mean.d), V(var.d))
    expected = np.maximum(ref.d + z.d, 0)
    np.testing.assert_allclose(y.d, expected, rtol=1e-5, atol=1e-5)
    z.grad.zero()
    dy = rng.randn(*y.shape).astype(np.float32)
    y.backward(dy)
    np.testing.assert_allclose(z.g, dy * (expected > 0))


class _FakeComm:
    """``size`` identical processes: all_reduce(sum) multiplies by size."""

    def __init__(self, size):
        self.size = size
        self.calls = 0

    def all_reduce(self, data, division=False, inplace=False, group="world"):
        self.calls += 1
        for nd in data if isinstance(data, (list, tuple)) else [data]:
            nd.data[...] = nd.data * (1 if division else self.size)

    def find_group(self, group):
        return list(range(self.size))


@pytest.mark.parametrize("comm", [None, _FakeComm(1), _FakeComm(2)])
def test_sync_batch_norm_matches_batch_norm_for_identical_processes(comm):
    rng = np.random.RandomState(8)
    x, beta, gamma, mean, var = _bn_vars(rng)
    m2, v2 = V(mean.d), V(var.d)
    v_init = var.d.astype(np.float64)
    y = F.sync_batch_normalization(x, beta, gamma, mean, var, comm)
    ref = F.batch_normalization(x, beta, gamma, m2, v2)
    F.sink(y, ref).forward()
    np.testing.assert_allclose(y.d, ref.d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mean.d, m2.d, rtol=1e-5, atol=1e-6)
    procs = 1 if comm is None else comm.size
    total = x.shape[0] * x.shape[2] * procs  # running variance uses the global count
    bv = x.d.astype(np.float64).var((0, 2), keepdims=True)
    expected_v = 0.9 * v_init + 0.1 * bv * total / (total - 1)
    np.testing.assert_allclose(var.d, expected_v, rtol=1e-4, atol=1e-5)
    dy = rng.randn(*x.shape).astype(np.float32)
    x.grad.zero()
    y.backward(dy)
    gx = x.g.copy()
    x.grad.zero()
    ref.backward(dy)
    np.testing.assert_allclose(gx, x.g, rtol=1e-3, atol=1e-4)
    if comm is not None and comm.size > 1:
        assert comm.calls >= 2  # statistics in forward and gradient sums in backward


def test_layer_group_instance_output_stat_shapes():
    rng = np.random.RandomState(9)
    x = V(rng.randn(2, 6, 3, 4))
    y, m, v = F.layer_normalization(x, None, None, output_stat=True)
    assert m.shape == (2, 1, 1, 1)
    y, m, v = F.instance_normalization(x, None, None, output_stat=True)
    assert m.shape == (2, 6, 1, 1)
    y, m, v = F.group_normalization(x, None, None, 3, output_stat=True)
    assert m.shape == (2, 3, 1, 1, 1)
    y, m, v = F.weight_standardization(x, channel_axis=1, output_stat=True)
    assert m.shape == (1, 6, 1, 1)
    y, m, v = F.tensor_normalization(x, [1, 3], output_stat=True)
    assert m.shape == (1, 6, 1, 4)


def test_mean_subtraction_updates_mean_and_count():
    rng = np.random.RandomState(10)
    x = V(rng.randn(4, 3), True)
    rmean = V(rng.randn(3))
    t = nnl.Variable.from_numpy_array(np.array([2], np.int32))
    r0 = rmean.d.copy()
    y = F.mean_subtraction(x, rmean, t)
    y.forward()
    r1 = r0 + (x.d.mean(0) - r0) / 3
    np.testing.assert_allclose(rmean.d, r1, rtol=1e-5, atol=1e-6)
    assert int(t.d[0]) == 3
    np.testing.assert_allclose(y.d, x.d - r1, rtol=1e-5, atol=1e-6)
    x.grad.zero()
    dy = rng.randn(4, 3).astype(np.float32)
    y.backward(dy)
    np.testing.assert_allclose(x.g, dy * (1 - 1 / (3 * 4)), rtol=1e-6)
    y.parent.recompute(y.parent.inputs, [y])  # recompute does not count again
    assert int(t.d[0]) == 3


def test_spectral_norm_u_update_output_u_and_gradient():
    rng = np.random.RandomState(11)
    w0 = rng.randn(4, 3, 2)
    u0 = rng.randn(3)
    w, u = V(w0, True), V(u0)
    y, u_out = F.spectral_norm(w, u, dim=1, itr=2, output_u=True)
    F.sink(y, u_out).forward()
    np.testing.assert_allclose(u_out.d, u0.astype(np.float32))
    W = np.moveaxis(w0, 1, 0).reshape(3, -1)
    uu = u0.copy()
    for _ in range(2):
        v = W.T @ uu
        v /= np.sqrt((v**2).sum() + 1e-12)
        uu = W @ v
        uu /= np.sqrt((uu**2).sum() + 1e-12)
    np.testing.assert_allclose(u.d, uu, rtol=1e-4, atol=1e-5)  # u updated in place
    sigma = uu @ W @ v
    np.testing.assert_allclose(y.d, w0 / sigma, rtol=1e-4, atol=1e-5)

    # gradient: u and v frozen -> numerical gradient of W / (u^T W v)
    dy = rng.randn(*w0.shape)
    w.grad.zero()
    y.backward(dy.astype(np.float32))

    def objective(wa):
        Wa = np.moveaxis(wa, 1, 0).reshape(3, -1)
        return float(np.sum(dy * wa / (uu @ Wa @ v)))

    num = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        e = np.zeros_like(w0)
        e[idx] = 1e-5
        num[idx] = (objective(w0 + e) - objective(w0 - e)) / 2e-5
    np.testing.assert_allclose(w.g, num, rtol=1e-3, atol=1e-4)

    u_before = u.d.copy()
    y2 = F.spectral_norm(w, u, dim=1, test=True)
    y2.forward()
    np.testing.assert_array_equal(u.d, u_before)


def test_clip_grad_by_value_and_norm():
    rng = np.random.RandomState(12)
    x = V(rng.randn(3, 4), True)
    lo, hi = V(np.full((3, 4), -0.5)), V(np.full((3, 4), 0.3))
    y = F.clip_grad_by_value(x, lo, hi)
    y.forward()
    np.testing.assert_array_equal(y.d, x.d)
    dy = rng.randn(3, 4).astype(np.float32)
    x.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, np.clip(dy, -0.5, 0.3))

    y = F.clip_grad_by_norm(x, 2.0, axes=1)
    y.forward()
    x.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, 2.0 * dy / np.sqrt((dy**2).sum(1, keepdims=True)), rtol=1e-5)


def test_weight_normalization_gradient_of_g():
    rng = np.random.RandomState(13)
    w, g = V(rng.randn(3, 4), True), V(rng.randn(4), True)
    y = F.weight_normalization(w, g, dim=1)
    y.forward()
    norm = np.sqrt((w.d**2).sum(0))
    np.testing.assert_allclose(y.d, g.d * w.d / norm, rtol=1e-5)
    g.grad.zero()
    dy = rng.randn(3, 4).astype(np.float32)
    y.backward(dy)
    np.testing.assert_allclose(g.g, (dy * w.d / norm).sum(0), rtol=1e-5, atol=1e-6)


def test_batch_norm_class_is_nnabla_compatible_in_args():
    fn = BatchNormalization([1], 0.9, 1e-5, True, False, False)
    assert list(fn.args) == ["axes", "decay_rate", "eps", "batch_stat", "no_scale", "no_bias"]
    assert list(SpectralNorm().args) == ["dim", "itr", "eps", "test", "output_u"]


@pytest.mark.parametrize(
    "make",
    [
        lambda x, b, g: F.group_normalization(x, b, g, 3),
        lambda x, b, g: F.instance_normalization(x, b, g),
        lambda x, b, g: F.batch_normalization(x, b, g, None, None, output_stat=True),
        lambda x, b, g: F.tensor_normalization(x, [1], b, g),
    ],
)
def test_larger_shapes_directional_gradients(make):
    """Shapes large enough for the reduced-coefficient backward path; checked by directional differences."""
    rng = np.random.RandomState(14)
    x = V(rng.randn(4, 6, 5, 5) * 2 + 1, True)
    b, g = V(rng.randn(1, 6, 1, 1), True), V(rng.randn(1, 6, 1, 1), True)
    outs = make(x, b, g)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    f = outs[0].parent
    weights = [rng.randn(*o.shape) for o in outs]
    nnl.forward_all(outs)
    total = F.sink(*[F.sum(o * V(w)) for o, w in zip(outs, weights)])
    for v in (x, b, g):
        v.grad.zero()
    total.forward()
    total.backward()
    arrays = [v.d.astype(np.float64) for v in f.inputs]

    def objective(vals):
        ys = f.forward_impl(np, vals)
        return sum(float(np.sum(y * w)) for y, w in zip(ys, weights))

    for k, v in ((0, x), (1, b), (2, g)):
        r = rng.randn(*v.shape)
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[k] += 1e-4 * r
        minus[k] -= 1e-4 * r
        num = (objective(plus) - objective(minus)) / 2e-4
        np.testing.assert_allclose(np.sum(v.g * r), num, rtol=2e-3, atol=2e-3)
