"""Cases for nnl/functions/logical.py (GreaterScalar also has a case in core_examples).

References work element by element with Python's own comparisons/``bool``, in float64.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.testing.function_tester import Case


def _binary(op):
    """Apply the scalar ``op`` with NumPy broadcasting done by hand."""

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
            y[index] = float(op(float(a[ia]), float(b[ib])))
        return y

    return reference


def _unary(op):
    def reference(x, **kwargs):
        x = np.asarray(x, np.float64)
        return np.array([float(op(float(v), **kwargs)) for v in x.reshape(-1)]).reshape(x.shape)

    return reference


def _ints(*shapes, low=-1, high=2):
    """Small integer-valued float inputs: ties and zeros occur, which is what comparisons must get right."""

    def make(rng):
        return [rng.randint(low, high, size=s).astype(np.float32) for s in shapes]

    return make


def _distinct(*shapes):
    """Inputs of two arrays whose elements differ by at least 0.1 (extrema away from their kink)."""

    def make(rng):
        a = rng.randn(*shapes[0]).astype(np.float32)
        b = rng.randn(*shapes[1]).astype(np.float32)
        close = np.abs(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) - b) < 0.1
        while close.any():
            b = rng.randn(*shapes[1]).astype(np.float32)
            close = np.abs(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) - b) < 0.1
        return [a, b]

    return make


def _away_from(val, shape):
    def make(rng):
        x = rng.randn(*shape)
        x = np.where(np.abs(x - val) < 0.1, val + 0.3, x)
        return [x.astype(np.float32)]

    return make


def _with_special(shape, special):
    def make(rng):
        x = rng.randn(*shape).astype(np.float32)
        flat = x.reshape(-1)
        flat[::3] = special
        return [x]

    return make


def _where_ref(c, t, f):
    y = np.empty(t.shape)
    for index in np.ndindex(*t.shape):
        y[index] = t[index] if c[index[: c.ndim]] != 0 else f[index]
    return y


def _searchsorted_ref(seq, values, right=False):
    out = np.zeros(values.shape)
    for index in np.ndindex(*values.shape):
        row = seq[index[:-1]]
        v = values[index]
        out[index] = sum(1 for s in row if (s <= v if right else s < v))
    return out


def _sorted_and_values(seq_shape, values_shape, low=-3, high=4):
    def make(rng):
        seq = np.sort(rng.randint(low, high, size=seq_shape), axis=-1).astype(np.float32)
        values = rng.randint(low - 1, high + 1, size=values_shape).astype(np.float32)
        return [seq, values]

    return make


def _sign(v, alpha=1.0):
    return 1.0 if v > 0 else -1.0 if v < 0 else alpha


_COMPARE = {
    "Equal": lambda a, b: a == b,
    "NotEqual": lambda a, b: a != b,
    "GreaterEqual": lambda a, b: a >= b,
    "Greater": lambda a, b: a > b,
    "LessEqual": lambda a, b: a <= b,
    "Less": lambda a, b: a < b,
}
_LOGICAL = {
    "LogicalAnd": lambda a, b: bool(a) and bool(b),
    "LogicalOr": lambda a, b: bool(a) or bool(b),
    "LogicalXor": lambda a, b: bool(a) != bool(b),
}


CASES = [
    # the gradient is straight-through (dy itself), which central differences cannot confirm
    Case("Sign", _away_from(0.0, (3, 4)), _unary(_sign), backward=False),
    Case("Sign", _ints((3, 4)), _unary(_sign), args={"alpha": 0.5}, name="zeros", backward=False),
    Case("Sign", _ints((3, 4)), _unary(_sign), args={"alpha": 0.0}, name="alpha0", backward=False),
    Case("Minimum2", _distinct((3, 4), (3, 4)), _binary(min)),
    Case("Minimum2", _distinct((2, 3, 4), (3, 1)), _binary(min), name="broadcast"),
    Case("Maximum2", _distinct((3, 4), (3, 4)), _binary(max)),
    Case("Maximum2", _distinct((3, 1), (2, 1, 4)), _binary(max), name="broadcast"),
    Case("Maximum2", _ints((3, 4), (3, 4)), _binary(max), name="ties", backward=False),
    Case("MinimumScalar", _away_from(0.3, (3, 4)), _unary(lambda v, val: min(v, val)), args={"val": 0.3}),
    Case("MinimumScalar", _away_from(1.0, (3, 4)), _unary(lambda v: min(v, 1.0)), name="default"),
    Case("MaximumScalar", _away_from(-0.2, (3, 4)), _unary(lambda v, val: max(v, val)), args={"val": -0.2}),
    Case("MaximumScalar", _away_from(1.0, (3, 4)), _unary(lambda v: max(v, 1.0)), name="default"),
    Case("ResetNaN", [(3, 4)], _unary(lambda v, val=0: val if math.isnan(v) else v)),
    Case(
        "ResetNaN",
        _with_special((3, 4), np.nan),
        _unary(lambda v, val: val if math.isnan(v) else v),
        args={"val": -1.5},
        name="nan",
    ),
    Case("ResetInf", [(3, 4)], _unary(lambda v, val=0: val if math.isinf(v) else v)),
    Case(
        "ResetInf",
        _with_special((3, 4), -np.inf),
        _unary(lambda v, val: val if math.isinf(v) else v),
        args={"val": 7.0},
        name="inf",
    ),
    Case(
        "Where",
        lambda rng: [
            (rng.rand(2, 3, 4) > 0.5).astype(np.float32),
            rng.randn(2, 3, 4).astype(np.float32),
            rng.randn(2, 3, 4).astype(np.float32),
        ],
        _where_ref,
        grad_inputs=[1, 2],
    ),
    Case(
        "Where",
        lambda rng: [
            rng.randint(-1, 2, size=(2, 3)).astype(np.float32),
            rng.randn(2, 3, 4).astype(np.float32),
            rng.randn(2, 3, 4).astype(np.float32),
        ],
        _where_ref,
        grad_inputs=[1, 2],
        name="leading",
        errors=[([(2, 3), (2, 3), (2, 4)], {}, "x_false"), ([(3,), (2, 3), (2, 3)], {}, "condition")],
    ),
    *[Case(name, _ints((2, 3, 4), (2, 3, 4)), _binary(op), backward=False) for name, op in _COMPARE.items()],
    *[
        Case(name, _ints((2, 3, 1), (3, 4)), _binary(op), backward=False, name="broadcast")
        for name, op in _COMPARE.items()
    ],
    *[Case(name, _ints((2, 3, 4), (2, 3, 4)), _binary(op), backward=False) for name, op in _LOGICAL.items()],
    *[Case(name, _ints((3, 4), (4,)), _binary(op), backward=False, name="broadcast") for name, op in _LOGICAL.items()],
    Case(
        "LogicalAnd",
        [np.array([np.nan, 0, 2], np.float32), np.array([1, 1, -1], np.float32)],
        _binary(lambda a, b: bool(a) and bool(b)),
        backward=False,
        name="nan_is_true",
    ),
    *[
        Case(
            f"Logical{op}Scalar",
            _ints((2, 3, 4)),
            _unary(lambda v, val, f=f: f(bool(v), val)),
            args={"val": val},
            backward=False,
            name=str(val),
        )
        for op, f in (("And", lambda a, b: a and b), ("Or", lambda a, b: a or b), ("Xor", lambda a, b: a != b))
        for val in (False, True)
    ],
    *[
        Case(
            f"{name}Scalar",
            _ints((2, 3, 4)),
            _unary(lambda v, val, op=op: op(v, val)),
            args={"val": val},
            backward=False,
            name=str(val),
        )
        for name, op in _COMPARE.items()
        for val in (0.0, 1.0, -0.5)
    ],
    Case(
        "EqualScalar",
        [np.array([0.1, 0.2, 0.1], np.float32)],
        lambda x0, val: np.array([1.0, 0.0, 1.0]),
        args={"val": 0.1},
        backward=False,
        name="float32_val",
    ),
    Case("GreaterScalar", _ints((3, 4)), _unary(lambda v: v > 1), backward=False, name="default"),
    Case("LogicalNot", _ints((2, 3, 4)), _unary(lambda v: not bool(v)), backward=False),
    Case("IsNaN", _with_special((3, 4), np.nan), _unary(math.isnan), backward=False),
    Case("IsInf", _with_special((3, 4), np.inf), _unary(math.isinf), backward=False),
    Case("SearchSorted", _sorted_and_values((2, 3, 5), (2, 3, 4)), _searchsorted_ref, backward=False),
    Case(
        "SearchSorted",
        _sorted_and_values((2, 3, 5), (2, 3, 4)),
        _searchsorted_ref,
        args={"right": True},
        backward=False,
        name="right",
    ),
    Case(
        "SearchSorted",
        _sorted_and_values((6,), (7,)),
        _searchsorted_ref,
        backward=False,
        name="1d",
        errors=[([(2, 5), (3, 4)], {}, "values"), ([(2, 5), (2, 1, 4)], {}, "values")],
    ),
    Case(
        "SearchSorted",
        lambda rng: [np.sort(rng.randn(4, 8), axis=-1).astype(np.float32), rng.randn(4, 3).astype(np.float32) * 2],
        _searchsorted_ref,
        args={"right": False},
        backward=False,
        name="float",
    ),
]
