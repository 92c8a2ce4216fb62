"""Cases for nnl/functions/reduction.py (the first Sum/Mean cases live in core_examples.py).

References reduce with explicit loops over ``np.ndindex`` or use a different formulation than the kernels.
"""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _axes(ndim: int, axis) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def _loop_reduce(op, x, axis=None, keepdims=False):
    """Reduce ``x`` over ``axis`` by visiting each output element and folding its group with ``op``."""
    x = np.asarray(x, np.float64)
    axes = _axes(x.ndim, axis)
    kept = [i for i in range(x.ndim) if i not in axes]
    out_shape = tuple(x.shape[i] for i in kept)
    out = np.zeros(out_shape)
    for index in np.ndindex(*out_shape):
        selector = [slice(None)] * x.ndim
        for i, k in zip(kept, index):
            selector[i] = k
        out[index] = op(list(x[tuple(selector)].ravel()))
    if keepdims:
        out = out.reshape([1 if i in axes else s for i, s in enumerate(x.shape)])
    return out


def _prod(values):
    p = 1.0
    for v in values:
        p *= v
    return p


def _distinct(shape: tuple[int, ...]):
    """Well separated values (0.1 apart), so that the arg-max does not move under central differences."""

    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        n = int(np.prod(shape))
        return [((rng.permutation(n) - n / 2) * 0.1).reshape(shape).astype(np.float32)]

    return make


def _away_from_zero(shape: tuple[int, ...], low: float = 0.5, high: float = 1.5):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        magnitude = rng.uniform(low, high, size=shape)
        sign = np.where(rng.rand(*shape) < 0.5, -1.0, 1.0)
        return [(magnitude * sign).astype(np.float32)]

    return make


def _arg_ref(pick, x, axis=None, keepdims=False):
    """(value, flat index inside the reduced axes) by a scan over each group (first extremum wins)."""
    x = np.asarray(x, np.float64)
    axes = _axes(x.ndim, axis)
    kept = [i for i in range(x.ndim) if i not in axes]
    out_shape = tuple(x.shape[i] for i in kept)
    values, indices = np.zeros(out_shape), np.zeros(out_shape, np.int64)
    for index in np.ndindex(*out_shape):
        selector = [slice(None)] * x.ndim
        for i, k in zip(kept, index):
            selector[i] = k
        group = list(x[tuple(selector)].ravel())
        best = 0
        for j, v in enumerate(group):
            if pick(v, group[best]):
                best = j
        values[index], indices[index] = group[best], best
    if keepdims:
        shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
        values, indices = values.reshape(shape), indices.reshape(shape)
    return values, indices


def _greater(a, b):
    return a > b


def _less(a, b):
    return a < b


def _norm_ref(x, p=None, axis=None, keepdims=False):
    p = 2.0 if p is None else p
    return _loop_reduce(lambda vs: sum(abs(v) ** p for v in vs) ** (1.0 / p), x, axis, keepdims)


def _cumulative_ref(op, identity, x, axis=0, exclusive=False, reverse=False):
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    out = np.zeros(x.shape)
    n = x.shape[-1]
    for index in np.ndindex(*x.shape[:-1]):
        line = x[index]
        order = range(n - 1, -1, -1) if reverse else range(n)
        acc = identity
        for k in order:
            if exclusive:
                out[index + (k,)] = acc
                acc = op(acc, line[k])
            else:
                acc = op(acc, line[k])
                out[index + (k,)] = acc
    return np.moveaxis(out, -1, axis)


def _with_zeros(shape: tuple[int, ...]):
    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        x = rng.uniform(0.5, 1.5, size=shape) * np.where(rng.rand(*shape) < 0.5, -1.0, 1.0)
        x[0, 1] = 0.0
        x[1, 0] = 0.0
        x[1, 3] = 0.0
        return [x.astype(np.float32)]

    return make


def _sum_ref(x, axis=None, keepdims=False):
    return _loop_reduce(sum, x, axis, keepdims)


def _add(a, b):
    return a + b


def _mul(a, b):
    return a * b


CASES = [
    Case("Sum", [(2, 3, 4)], _sum_ref, args={"axis": -1}, name="negative_axis"),
    Case("Sum", [(2, 3)], lambda x, axis, keepdims: np.asarray(x, np.float64), args={"axis": [], "keepdims": False}, name="no_axes"),
    Case("Mean", [(2, 3, 4)], lambda x, axis, keepdims: _loop_reduce(lambda v: sum(v) / len(v), x, axis, keepdims),
         args={"axis": (0, 2), "keepdims": True}, name="keepdims",
         errors=[([(2, 3)], {"axis": 2}, "axis")]),
    Case("Max", _distinct((2, 3, 4)), lambda x, **k: _arg_ref(_greater, x, **k)[0], args={"axis": 1}),
    Case("Max", _distinct((2, 3, 4)), lambda x, **k: _arg_ref(_greater, x, **k)[0], args={"axis": (0, 2), "keepdims": True}, name="axes"),
    Case("Max", _distinct((3, 4)), lambda x: _arg_ref(_greater, x)[0], name="all"),
    Case(
        "Max",
        _distinct((2, 3, 4)),
        lambda x: _arg_ref(_greater, x, axis=(1, 2)),
        call=lambda F, x: F.max(x, axis=(1, 2), with_index=True),
        backward=False,
        name="with_index",
    ),
    Case(
        "Max",
        [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)],
        lambda x: _arg_ref(_greater, x, axis=1, keepdims=True)[1],
        call=lambda F, x: F.max(x, axis=1, keepdims=True, only_index=True),
        backward=False,
        name="only_index_ties",
    ),
    Case("Min", _distinct((2, 3, 4)), lambda x, **k: _arg_ref(_less, x, **k)[0], args={"axis": (1, 2)}),
    Case(
        "Min",
        _distinct((3, 4)),
        lambda x: _arg_ref(_less, x, axis=0, keepdims=True),
        call=lambda F, x: F.min(x, axis=0, keepdims=True, with_index=True),
        backward=False,
        name="with_index",
    ),
    Case("Norm", [(2, 3, 4)], _norm_ref, args={"axis": (1, 2)}),
    Case("Norm", _away_from_zero((3, 4)), _norm_ref, args={"p": 1.0, "axis": 0, "keepdims": True}, name="p1",
         errors=[([(2, 3)], {"p": 0.5}, "p")]),
    Case("Norm", _away_from_zero((3, 4)), _norm_ref, args={"p": 3.0}, name="p3"),
    Case("Prod", _away_from_zero((2, 3, 4)), lambda x, **k: _loop_reduce(_prod, x, **k), args={"axis": 1}),
    Case("Prod", _away_from_zero((2, 3)), lambda x, **k: _loop_reduce(_prod, x, **k), args={"axis": None, "keepdims": True}, name="all"),
    Case("CumSum", [(3, 4)], lambda x, **k: _cumulative_ref(_add, 0.0, x, **k), args={"axis": 1}),
    Case("CumSum", [(3, 4)], lambda x, **k: _cumulative_ref(_add, 0.0, x, **k), args={"axis": 0, "exclusive": True, "reverse": True}, name="exclusive_reverse",
         errors=[([(2, 3)], {"axis": 2}, "axis")]),
    Case("CumSum", [(2, 3, 4)], lambda x, **k: _cumulative_ref(_add, 0.0, x, **k), args={"axis": -1, "exclusive": True}, name="exclusive"),
    Case("CumProd", _away_from_zero((3, 4)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 1}),
    Case("CumProd", _with_zeros((3, 5)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 1}, name="zeros"),
    Case("CumProd", _with_zeros((3, 5)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 1, "reverse": True}, name="zeros_reverse"),
    Case("CumProd", _with_zeros((3, 5)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 1, "exclusive": True}, name="zeros_exclusive"),
    Case("CumProd", _with_zeros((3, 5)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 1, "exclusive": True, "reverse": True}, name="zeros_exclusive_reverse"),
    Case("CumProd", _away_from_zero((4, 3)), lambda x, **k: _cumulative_ref(_mul, 1.0, x, **k), args={"axis": 0, "exclusive": True}, name="axis0"),
    Case("ReduceSum", [(2, 3, 4)], lambda x: _loop_reduce(sum, x)),
    Case("ReduceMean", [(2, 3, 4)], lambda x: _loop_reduce(lambda v: sum(v) / len(v), x)),
]
