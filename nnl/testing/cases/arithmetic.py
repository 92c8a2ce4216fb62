"""Cases for nnl/functions/arithmetic.py (Add2, Mul2, AddScalar and MulScalar also have cases in core_examples).

References loop over output elements with explicit broadcasting indices, in float64.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.testing.function_tester import Case


def _binary(op):
    """A reference applying the scalar ``op`` with NumPy broadcasting done by hand (index arithmetic)."""

    def reference(a, b, **kwargs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        ndim = max(a.ndim, b.ndim)
        sa, sb = (1,) * (ndim - a.ndim) + a.shape, (1,) * (ndim - b.ndim) + b.shape
        a, b = a.reshape(sa), b.reshape(sb)
        shape = tuple(max(p, q) for p, q in zip(sa, sb))
        y = np.empty(shape)
        for index in np.ndindex(*shape):
            ia = tuple(i if s > 1 else 0 for i, s in zip(index, sa))
            ib = tuple(i if s > 1 else 0 for i, s in zip(index, sb))
            y[index] = op(a[ia], b[ib])
        return y

    return reference


def _unary(op):
    def reference(x, **kwargs):
        x = np.asarray(x, np.float64)
        return np.array([op(float(v), **kwargs) for v in x.reshape(-1)]).reshape(x.shape)

    return reference


def _positive(*shapes, low=0.5, high=2.0):
    def make(rng):
        return [rng.uniform(low, high, size=s).astype(np.float32) for s in shapes]

    return make


def _away_from_zero(*shapes):
    def make(rng):
        out = []
        for s in shapes:
            x = rng.randn(*s)
            x = np.where(np.abs(x) < 0.3, np.sign(x + 1e-9) * 0.6, x)
            out.append(x.astype(np.float32))
        return out

    return make


def _sum_ref(*xs):
    y = np.zeros(xs[0].shape)
    for x in xs:
        y = y + x.astype(np.float64)
    return y


def _prod_ref(*xs):
    y = np.ones(xs[0].shape)
    for x in xs:
        y = y * x.astype(np.float64)
    return y


CASES = [
    Case(
        "Add2",
        [(2, 3), (3,)],
        _binary(lambda a, b: a + b),
        name="rank_broadcast",
        errors=[([(2, 3), (4,)], {}, "broadcast")],
    ),
    Case("Add2", [(2, 3, 1), (1, 4)], _binary(lambda a, b: a + b), args={"inplace": True}, name="both_broadcast"),
    Case("BcAdd2", [(2, 3, 4), (2, 1, 4)], _binary(lambda a, b: a + b)),
    Case("BcAdd2", [(3, 4), (3, 4)], _binary(lambda a, b: a + b), name="same"),
    Case("Sub2", [(2, 3), (2, 3)], _binary(lambda a, b: a - b)),
    Case(
        "Sub2",
        [(2, 1, 4), (3, 1)],
        _binary(lambda a, b: a - b),
        name="broadcast",
        errors=[([(2, 3), (2,)], {}, "broadcast")],
    ),
    Case("Mul2", [(3, 4), (3, 4)], _binary(lambda a, b: a * b)),
    Case("Mul2", [(3, 1), (2, 1, 4)], _binary(lambda a, b: a * b), name="broadcast_both"),
    Case(
        "Div2",
        lambda rng: [rng.randn(2, 3).astype(np.float32), _away_from_zero((2, 3))(rng)[0]],
        _binary(lambda a, b: a / b),
    ),
    Case(
        "Div2",
        lambda rng: [rng.randn(2, 3, 4).astype(np.float32), _away_from_zero((3, 1))(rng)[0]],
        _binary(lambda a, b: a / b),
        name="broadcast",
    ),
    Case(
        "Pow2",
        lambda rng: [rng.uniform(0.5, 2, (2, 3)).astype(np.float32), rng.randn(2, 3).astype(np.float32)],
        _binary(lambda a, b: a**b),
    ),
    Case(
        "Pow2",
        lambda rng: [rng.uniform(0.5, 2, (2, 3, 1)).astype(np.float32), rng.randn(4).astype(np.float32)],
        _binary(lambda a, b: a**b),
        name="broadcast",
    ),
    Case("AddN", [(2, 3), (2, 3), (2, 3)], _sum_ref, errors=[([(2, 3), (3, 2)], {}, "identical")]),
    Case("AddN", [(4,)], _sum_ref, name="one"),
    Case("AddN", [(2, 2), (2, 2), (2, 2), (2, 2), (2, 2)], _sum_ref, name="five"),
    Case("MulN", [(2, 3), (2, 3), (2, 3)], _prod_ref, errors=[([(2, 3), (2, 1)], {}, "identical")]),
    Case("MulN", [(2, 3), (2, 3)], _prod_ref, name="two"),
    Case(
        "MulN",
        lambda rng: [
            rng.randn(2, 3).astype(np.float32),
            np.array([[0, 1, 2], [0, 0, 3]], np.float32),
            rng.randn(2, 3).astype(np.float32),
        ],
        _prod_ref,
        name="zeros",
    ),
    Case(
        "AddScalar", [(3, 4)], _unary(lambda v, val, inplace: v + val), args={"val": 2.5, "inplace": True}, name="args"
    ),
    Case("MulScalar", [(3, 4)], _unary(lambda v, val: v * val), args={"val": 3}, name="int_val"),
    Case("PowScalar", _positive((3, 4)), _unary(lambda v, val=1: v**val)),
    Case("PowScalar", _positive((3, 4)), _unary(lambda v, val: math.sqrt(v)), args={"val": 0.5}, name="sqrt"),
    Case("PowScalar", [(3, 4)], _unary(lambda v, val: v * v), args={"val": 2}, name="square"),
    Case("PowScalar", _positive((3, 4)), _unary(lambda v, val: v**val), args={"val": -1.5}, name="negative"),
    Case("PowScalar", [(3, 4)], _unary(lambda v, val: v**3), args={"val": 3.0}, name="cube"),
    Case("RSubScalar", [(3, 4)], _unary(lambda v, val=1: val - v)),
    Case("RSubScalar", [(3, 4)], _unary(lambda v, val: val - v), args={"val": -2.0}, name="val"),
    Case("RDivScalar", _away_from_zero((3, 4)), _unary(lambda v, val=1: val / v)),
    Case("RDivScalar", _away_from_zero((3, 4)), _unary(lambda v, val: val / v), args={"val": 3.0}, name="val"),
    Case("RPowScalar", [(3, 4)], _unary(lambda v, val=1: val**v)),
    Case("RPowScalar", [(3, 4)], _unary(lambda v, val: val**v), args={"val": 2.0}, name="two"),
    Case("RPowScalar", [(3, 4)], _unary(lambda v, val: val**v), args={"val": 0.3}, name="fraction"),
]
