"""Second (and third) order gradients of the pooling family through ``nn.grad``, checked numerically.

For y = pool(x) the first-order gradient dx = nn.grad(y, x, dy) is linear in dy; its derivative with respect to
dy (weighted by u) is compared with central differences of <u, dx(dy)>, and its derivative with respect to x
must be zero (max pooling is piecewise linear, the others linear).
"""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F


def _distinct(rng, shape):
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.05).astype(np.float32).reshape(shape)


POOLS = [
    ("max-2d", lambda x: F.max_pooling(x, (2, 3), (1, 2), False, (1, 1)), (1, 2, 4, 5)),
    ("max-3d", lambda x: F.max_pooling(x, (2, 2, 2), (1, 2, 1), True, (0, 1, 1)), (1, 3, 4, 3)),
    ("max-1d-channel-last", lambda x: F.max_pooling(x, (3,), (2,), False, (1,), True), (2, 7, 2)),
    ("max-empty-windows", lambda x: F.max_pooling(x, (2, 2), (1, 1), True, (2, 2)), (1, 1, 3, 3)),
    ("average", lambda x: F.average_pooling(x, (2, 3), (1, 2), False, (1, 1)), (1, 2, 4, 5)),
    ("average-exclude-pad", lambda x: F.average_pooling(x, (3, 3), (2, 2), False, (1, 1), False, False), (1, 2, 4, 5)),
    ("sum", lambda x: F.sum_pooling(x, (2, 2, 2), (1, 2, 2), False), (1, 3, 4, 4)),
    ("global-average", lambda x: F.global_average_pooling(x), (2, 3, 2, 3)),
    ("unpooling", lambda x: F.unpooling(x, (2, 3)), (1, 2, 3)),
    ("unpooling-channel-last", lambda x: F.unpooling(x, (2,), True), (2, 3, 2)),
]


def _numeric(fn, value: np.ndarray, step: float = 1e-2) -> np.ndarray:
    grad = np.zeros(value.shape, np.float64)
    for index in np.ndindex(*value.shape):
        saved = value[index]
        value[index] = saved + step
        plus = fn(value)
        value[index] = saved - step
        minus = fn(value)
        value[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


@pytest.mark.parametrize("name, pool, shape", POOLS, ids=[p[0] for p in POOLS])
def test_second_order(name, pool, shape):
    rng = np.random.RandomState(7)
    x = nnl.Variable.from_numpy_array(_distinct(rng, shape), need_grad=True)
    y = pool(x)
    dy = nnl.Variable.from_numpy_array(rng.randn(*y.shape).astype(np.float32), need_grad=True)
    u = nnl.Variable.from_numpy_array(rng.randn(*x.shape).astype(np.float32))
    (dx,) = nnl.grad([y], [x], grad_outputs=[dy])
    # first order is the ordinary backward
    y.forward()
    dx.forward()
    x.grad.zero()
    y.backward(dy.d.copy())
    np.testing.assert_allclose(dx.d, x.g, atol=1e-6)

    ddy, ddx = nnl.grad([dx], [dy, x], grad_outputs=[u])
    assert ddy is not None
    ddy.forward()

    def objective(dy_value):
        dy.d = dy_value.astype(np.float32)
        dx.forward()
        return float(np.sum(dx.d.astype(np.float64) * u.d))

    expected = _numeric(objective, dy.d.astype(np.float64).copy())
    np.testing.assert_allclose(ddy.d, expected, atol=1e-3, rtol=1e-3)
    if ddx is not None:  # no dependence on x
        ddx.forward()
        np.testing.assert_allclose(ddx.d, 0, atol=1e-6)


@pytest.mark.parametrize("pad, ignore_border", [((0, 0), True), ((1, 1), False), ((2, 2), True)])
def test_max_pooling_third_order(pad, ignore_border):
    """d/d(gdx) of the gather (MaxPoolingBackward's gradient) is MaxPoolingBackward again."""
    rng = np.random.RandomState(11)
    x = nnl.Variable.from_numpy_array(_distinct(rng, (1, 2, 4, 5)), need_grad=True)
    y = F.max_pooling(x, (2, 2), (1, 2), ignore_border, pad)
    dy = nnl.Variable.from_numpy_array(rng.randn(*y.shape).astype(np.float32), need_grad=True)
    gdx = nnl.Variable.from_numpy_array(rng.randn(*x.shape).astype(np.float32), need_grad=True)
    v = nnl.Variable.from_numpy_array(rng.randn(*y.shape).astype(np.float32))
    dx = F.max_pooling_backward(dy, x, (2, 2), (1, 2), ignore_border, pad)
    (gdy,) = nnl.grad([dx], [dy], grad_outputs=[gdx])
    (ggdx,) = nnl.grad([gdy], [gdx], grad_outputs=[v])
    ggdx.forward()

    def objective(value):
        gdx.d = value.astype(np.float32)
        gdy.forward()
        return float(np.sum(gdy.d.astype(np.float64) * v.d))

    expected = _numeric(objective, gdx.d.astype(np.float64).copy())
    np.testing.assert_allclose(ggdx.d, expected, atol=1e-3, rtol=1e-3)


def test_max_pooling_backward_matches_pooling_gradient():
    rng = np.random.RandomState(3)
    x = nnl.Variable.from_numpy_array(_distinct(rng, (2, 2, 5, 6)), need_grad=True)
    y = F.max_pooling(x, (3, 2), (2, 2), False, (1, 0))
    g = rng.randn(*y.shape).astype(np.float32)
    y.forward()
    x.grad.zero()
    y.backward(g)
    dx = F.max_pooling_backward(nnl.Variable.from_numpy_array(g), x, (3, 2), (2, 2), False, (1, 0))
    dx.forward()
    np.testing.assert_allclose(dx.d, x.g, atol=1e-6)
