"""Second-order gradients through Convolution / Deconvolution (their ``grad_graph`` rules and ConvolutionFilterGrad).

For a loss ``L = sum(u * y**2)`` with ``y`` a (de)convolution, ``S = <dL/dx, vx> + <dL/dw, vw>`` is built with
``nn.grad``; ``nn.grad(S)`` is compared with float64 central differences of ``S`` (itself evaluated through the
first-order ``nn.grad``) and with ``S.backward()`` (the array backward of the gradient graph).
"""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F

SETTINGS = [
    ("convolution", (2, 2, 5, 4), (4, 1, 3, 2), dict(pad=(1, 0), stride=(2, 1), dilation=(1, 2), group=2)),
    ("convolution", (2, 2, 6), (3, 2, 3), dict(pad=(1,), stride=(2,))),
    ("convolution", (2, 4, 3, 2), (3, 2, 2, 2), dict(pad=(1, 0), channel_last=True)),
    ("deconvolution", (2, 2, 3, 3), (2, 2, 2, 2), dict(pad=(1, 0), stride=(2, 1), output_padding=(1, 0))),
    ("depthwise_convolution", (2, 2, 5, 4), (4, 3, 2), dict(pad=(1, 0), multiplier=2)),
    ("depthwise_deconvolution", (2, 2, 4), (2, 3), dict(stride=(2,), divisor=2)),
]


def _second_order_scalar(fn, arrays, args, weights):
    """Variables (x, w, b) and S = <dL/dx, vx> + <dL/dw, vw> + <dL/db, vb> built with nn.grad (auto_forward)."""
    u, vx, vw, vb = weights
    xs = [nnl.Variable.from_numpy_array(a.astype(np.float32), need_grad=True) for a in arrays]
    y = getattr(F, fn)(*xs, **args)
    loss = F.sum(y * y * nnl.Variable.from_numpy_array(u))
    gx, gw, gb = nnl.grad([loss], xs)
    s = (
        F.sum(gx * nnl.Variable.from_numpy_array(vx))
        + F.sum(gw * nnl.Variable.from_numpy_array(vw))
        + F.sum(gb * nnl.Variable.from_numpy_array(vb))
    )
    return xs, s


@pytest.mark.parametrize("fn, x_shape, w_shape, args", SETTINGS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SETTINGS)])
def test_second_order(fn, x_shape, w_shape, args):
    rng = np.random.RandomState(7)
    x = rng.randn(*x_shape)
    w = rng.randn(*w_shape)
    with nnl.auto_forward():
        probe = getattr(F, fn)(
            nnl.Variable.from_numpy_array(x.astype(np.float32)),
            nnl.Variable.from_numpy_array(w.astype(np.float32)),
            **args,
        )
    cl = args.get("channel_last", False)
    out_channels = probe.shape[-1] if cl else probe.shape[1]
    b = rng.randn(out_channels)
    arrays = [x, w, b]
    weights = [
        rng.randn(*probe.shape).astype(np.float32),
        rng.randn(*x.shape).astype(np.float32),
        rng.randn(*w.shape).astype(np.float32),
        rng.randn(*b.shape).astype(np.float32),
    ]

    with nnl.auto_forward():
        xs, s = _second_order_scalar(fn, arrays, args, weights)
        second = nnl.grad([s], xs)

    def objective(values):
        with nnl.auto_forward():
            return float(_second_order_scalar(fn, values, args, weights)[1].d)

    step = 1e-2
    for k, a in enumerate(arrays):
        numeric = np.zeros(a.shape)
        for index in np.ndindex(*a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[k][index] += step
            minus[k][index] -= step
            numeric[index] = (objective(plus) - objective(minus)) / (2 * step)
        analytic = np.zeros(a.shape) if second[k] is None else second[k].d
        np.testing.assert_allclose(
            analytic, numeric, atol=2e-2, rtol=1e-2, err_msg=f"{fn}: second-order gradient of input {k}"
        )

    # the same second-order gradient through the array backward of the gradient graph
    xs, s = _second_order_scalar(fn, arrays, args, weights)
    s.forward()
    for v in xs:
        v.grad.zero()
    s.backward()
    for k, v in enumerate(xs):
        expected = np.zeros(v.shape) if second[k] is None else second[k].d
        np.testing.assert_allclose(v.g, expected, atol=1e-3, rtol=1e-3, err_msg=f"{fn}: S.backward() for input {k}")


def test_third_order_filter_grad():
    """ConvolutionFilterGrad's own rule: a third derivative through the weight gradient."""
    rng = np.random.RandomState(3)
    x = nnl.Variable.from_numpy_array(rng.randn(1, 2, 5).astype(np.float32), need_grad=True)
    w = nnl.Variable.from_numpy_array(rng.randn(2, 2, 3).astype(np.float32), need_grad=True)
    with nnl.auto_forward():
        y = F.convolution(x, w, pad=(1,))
        loss = F.sum(y * y * y)
        (gw,) = nnl.grad([loss], [w])  # quadratic in x
        (gx,) = nnl.grad([F.sum(gw * gw)], [x])  # cubic in x
        (gxx,) = nnl.grad([F.sum(gx)], [x])
    assert gxx is not None and gxx.shape == x.shape and np.all(np.isfinite(gxx.d))
