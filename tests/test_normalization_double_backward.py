"""Second-order gradients of layer, instance and group normalization through ``nn.grad``, checked numerically.

For y = norm(x, beta, gamma) the gradient graph gives dx, dbeta, dgamma for an upstream dy; its value must equal the
ordinary backward, and the derivative of <u, dx> + <v, dgamma> with respect to x and gamma (through ``backward``
of that graph) must match central differences of the first-order gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F

CASES = [
    ("layer", lambda x, b, g: F.layer_normalization(x, b, g, batch_axis=0), (3, 4, 5), (1, 4, 5)),
    ("instance", lambda x, b, g: F.instance_normalization(x, b, g, channel_axis=1), (2, 3, 6), (1, 3, 1)),
    ("group", lambda x, b, g: F.group_normalization(x, b, g, num_groups=2, channel_axis=1), (2, 4, 3), (1, 4, 1)),
]


def _first_order(fn, x, b, g, dy):
    """dx and dgamma (float64) by the ordinary backward."""
    xs = [nnl.Variable.from_numpy_array(a.astype(np.float32), need_grad=True) for a in (x, b, g)]
    y = fn(*xs)
    y.forward()
    for v in xs:
        v.grad.zero()
    y.backward(dy.astype(np.float32))
    return xs[0].g.astype(np.float64), xs[2].g.astype(np.float64)


@pytest.mark.parametrize("name, fn, shape, param_shape", CASES, ids=[c[0] for c in CASES])
def test_second_order_matches_finite_differences(name, fn, shape, param_shape):
    rng = np.random.RandomState(3)
    x0, b0, g0 = rng.randn(*shape) * 2 + 0.5, rng.randn(*param_shape), rng.randn(*param_shape) + 1.5
    dy0, u, w = rng.randn(*shape), rng.randn(*shape), rng.randn(*param_shape)
    x, b, g = (nnl.Variable.from_numpy_array(a.astype(np.float32), need_grad=True) for a in (x0, b0, g0))
    dy = nnl.Variable.from_numpy_array(dy0.astype(np.float32))
    y = fn(x, b, g)
    dx, db, dg = nnl.grad([y], [x, b, g], grad_outputs=[dy])
    objective = F.sum(dx * nnl.Variable.from_numpy_array(u.astype(np.float32))) + F.sum(
        dg * nnl.Variable.from_numpy_array(w.astype(np.float32))
    )
    objective.forward()
    db.forward()
    expected_dx, expected_dg = _first_order(fn, x0, b0, g0, dy0)
    np.testing.assert_allclose(dx.d, expected_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dg.d, expected_dg, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db.d, dy0.sum(axis=tuple(i for i, k in enumerate(param_shape) if k == 1), keepdims=True), rtol=1e-4, atol=1e-4)
    for v in (x, b, g):
        v.grad.zero()
    objective.backward()

    def value(x_value, g_value):
        dx_value, dg_value = _first_order(fn, x_value, b0, g_value, dy0)
        return float((dx_value * u).sum() + (dg_value * w).sum())

    step = 1e-2
    for variable, array in ((x, x0), (g, g0)):
        numeric = np.zeros(array.shape)
        for index in np.ndindex(*array.shape):
            saved = array[index]
            array[index] = saved + step
            plus = value(x0, g0)
            array[index] = saved - step
            minus = value(x0, g0)
            array[index] = saved
            numeric[index] = (plus - minus) / (2 * step)
        scale = np.abs(numeric).max()
        np.testing.assert_allclose(variable.g, numeric, rtol=2e-2, atol=2e-2 * scale, err_msg=name)


def test_gradient_graph_with_statistics_outputs_equals_backward():
    """output_stat=True: the mean and variance outputs' gradients reach dx in the graph as in the backward."""
    rng = np.random.RandomState(5)
    data, beta, gamma = rng.randn(3, 4, 5), rng.randn(1, 4, 5), rng.randn(1, 4, 5)
    upstream = [rng.randn(3, 4, 5), rng.randn(3, 1, 1), rng.randn(3, 1, 1)]
    results = []
    for use_graph in (False, True):
        x, b, g = (nnl.Variable.from_numpy_array(a.astype(np.float32), need_grad=True) for a in (data, beta, gamma))
        outputs = F.layer_normalization(x, b, g, batch_axis=0, output_stat=True)
        if use_graph:
            grads = nnl.grad(list(outputs), [x, b, g], grad_outputs=[a.astype(np.float32) for a in upstream])
            for v in grads:
                v.forward()
            results.append([v.d.copy() for v in grads])
        else:
            for o, a in zip(outputs, upstream):
                o.forward()
                o.g = a
            outputs[0].parent.backward([x, b, g], list(outputs))
            results.append([x.g.copy(), b.g.copy(), g.g.copy()])
    for by_backward, by_graph in zip(*results):
        np.testing.assert_allclose(by_graph, by_backward, rtol=1e-4, atol=1e-4)
