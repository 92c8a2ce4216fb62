"""Cases for the first functions of arithmetic, neural_network, reduction, array, math, logical and special."""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _affine_ref(x, w, b=None, base_axis=1):
    rows = int(np.prod(x.shape[:base_axis]))
    y = np.zeros((rows, int(np.prod(w.shape[1:]))))
    xf, wf = x.reshape(rows, -1).astype(np.float64), w.reshape(w.shape[0], -1).astype(np.float64)
    for r in range(rows):
        for k in range(wf.shape[0]):
            y[r] += xf[r, k] * wf[k]
    if b is not None:
        y += b.reshape(1, -1)
    return y.reshape(x.shape[:base_axis] + w.shape[1:])


CASES = [
    Case("Add2", [(2, 3), (2, 3)], lambda a, b: a + b),
    Case("Add2", [(2, 1, 4), (3, 1)], lambda a, b: a + b, name="broadcast"),
    Case("Mul2", [(2, 3, 4), (1, 3, 1)], lambda a, b: a * b, name="broadcast"),
    Case("AddScalar", [(4, 2)], lambda x, val: x + val, args={"val": 0.5}),
    Case("MulScalar", [(4, 2)], lambda x, val: x * val, args={"val": -1.5}),
    Case("Affine", [(4, 3, 2), (6, 5), (5,)], _affine_ref),
    Case("Affine", [(4, 3, 2), (2, 2, 3), None], _affine_ref, args={"base_axis": 2}, name="base_axis2_nobias"),
    Case(
        "Affine",
        [(2, 5), (5, 3)],
        _affine_ref,
        errors=[([(4, 3, 4), (10, 5)], {}, "12 input features"), ([(4, 6), (6, 3), (4,)], {}, "bias")],
        name="errors",
    ),
    Case("Sum", [(2, 3, 4)], lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims)),
    Case("Sum", [(2, 3, 4)], lambda x, axis, keepdims: np.sum(x, axis=tuple(axis), keepdims=keepdims), args={"axis": [0, 2], "keepdims": True}, name="axes"),
    Case("Mean", [(2, 3, 4)], lambda x, axis: np.mean(x, axis=axis), args={"axis": 1}),
    Case("Reshape", [(2, 3, 4)], lambda x, shape: x.reshape(shape), args={"shape": (4, -1)}, errors=[([(2, 3)], {"shape": (4, 2)}, "size 6")]),
    Case("Broadcast", [(2, 1, 3)], lambda x, shape: np.broadcast_to(x, shape), args={"shape": (2, 4, 3)}),
    Case("Identity", [(3, 2)], lambda x: x),
    Case("GreaterScalar", [(3, 4)], lambda x0, val: (x0 > val).astype(np.float32), args={"val": 0.1}, backward=False),
    Case("Sink", [(3,), (2, 2)], None, grad_inputs=[], check_grad_graph=False),
]
