"""Reduction: sums, means, extrema, norms and products over axes, and cumulative sums and products.

The public wrappers keep nnabla's Python signatures (``axis=None, keepdims=False``) while the registry arguments
are ``axes`` and ``keep_dims`` (the NNP field names). ``axis=None`` reduces every axis; an empty list reduces none
(as nnabla's kernels do).
"""

from __future__ import annotations

import builtins
import warnings
from typing import Any

import numpy as np

from nnl.core.function import Bool, Float, Function, Int64, Ints
from nnl.functions._helpers import normalize_axes, normalize_axis
from nnl.functions.registry import api, extra


class _AxesMixin:
    """Shared axis handling of the reductions (``axes`` and ``keep_dims`` are declared by each class, in registry
    order)."""

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = inputs[0].shape
        self.axes = tuple(sorted(set(normalize_axes(self, self.axes, len(shape)))))
        return [_reduced_shape(shape, self.axes, self.keep_dims)]

    def _kept_shape(self, shape: tuple[int, ...]) -> list[int]:
        return [1 if i in self.axes else s for i, s in enumerate(shape)]

    def _expand(self, g: Any, shape: tuple[int, ...]) -> Any:
        """A reduced array reshaped so that it broadcasts against the input shape."""
        return g.reshape(self._kept_shape(shape))

    def _expand_graph(self, v: Any, shape: tuple[int, ...]) -> Any:
        """A reduced Variable broadcast back to the input shape (for ``grad_graph``)."""
        from nnl import functions as F

        kept = self._kept_shape(shape)
        if tuple(v.shape) != tuple(kept):
            v = F.reshape(v, kept, inplace=False)
        return F.broadcast(v, shape) if tuple(kept) != tuple(shape) else v

    def _count(self, shape: tuple[int, ...]) -> int:
        count = 1
        for a in self.axes:
            count *= shape[a]
        return count


class _AxesReduction(_AxesMixin, Function):
    axes: Ints = None
    keep_dims: Bool = False


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keep_dims: bool) -> tuple[int, ...]:
    if keep_dims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _as_axes(x: Any, axis: Any) -> Any:
    """nnabla's wrapper rule: None reduces every axis, an int one axis, an iterable those axes."""
    if axis is None:
        return tuple(range(len(x.shape)))
    if not hasattr(axis, "__iter__"):
        return (axis,)
    return tuple(axis)


class Sum(_AxesReduction):
    """Sum over ``axes``."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].sum(axis=self.axes, keepdims=self.keep_dims))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape = x[0].shape
        return [xp.broadcast_to(self._expand(dy[0], shape), shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._expand_graph(dy[0], x[0].shape)]


@api(Sum)
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 (nnabla's name)
    return Sum(_as_axes(x, axis), keepdims)(x)


class Mean(_AxesReduction):
    """Mean over ``axes``."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].mean(axis=self.axes, keepdims=self.keep_dims), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape = x[0].shape
        return [xp.broadcast_to(self._expand(dy[0], shape) * (1.0 / builtins.max(self._count(shape), 1)), shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape = x[0].shape
        return [self._expand_graph(dy[0] * (1.0 / builtins.max(self._count(shape), 1)), shape)]


@api(Mean)
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return Mean(_as_axes(x, axis), keepdims)(x)


class _Extremum(_AxesReduction):
    """Max / Min: the value, and with ``with_index`` / ``only_index`` the flat index inside the reduced axes."""

    input_names = ("x",)
    grad_depends_output = True
    output_names = ("y", "index?")
    with_index: Bool = False
    only_index: Bool = False
    _reduce = staticmethod(np.max)
    _arg = staticmethod(np.argmax)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = super().setup_impl(inputs)[0]
        if inputs[0].size == 0 and self._count(inputs[0].shape) == 0:
            raise self.fail("x", "a non-empty extent along the reduced axes", f"x.shape={tuple(inputs[0].shape)}")
        return [shape, shape] if self.with_index and not self.only_index else [shape]

    def _flat(self, a: Any) -> Any:
        """``a`` with the reduced axes moved last and merged: shape (kept..., R)."""
        kept = [i for i in range(a.ndim) if i not in self.axes]
        moved = a.transpose(kept + list(self.axes)) if kept + list(self.axes) != list(range(a.ndim)) else a
        return moved.reshape(tuple(a.shape[i] for i in kept) + (-1,))

    def _index(self, a: Any) -> Any:
        return self._arg(self._flat(a), axis=-1)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        out_shape = _reduced_shape(a.shape, self.axes, self.keep_dims)
        if self.only_index:
            return [self._index(a).astype(np.int64).reshape(out_shape)]
        value = xp.asarray(self._reduce(a, axis=self.axes, keepdims=self.keep_dims))
        if self.with_index:
            return [value, self._index(a).astype(np.int64).reshape(out_shape)]
        return [value]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if self.only_index:
            return [None]
        a = x[0]
        g_kept = self._expand(dy[0], a.shape)
        # fast path: where x equals its extremum, unless a group has ties (then the first one wins)
        hit = a == self._expand(y[0], a.shape)
        if xp.count_nonzero(hit) == y[0].size:
            return [hit * g_kept]
        kept = [i for i in range(a.ndim) if i not in self.axes]
        order = kept + list(self.axes)
        flat = self._flat(a)
        index = self._arg(flat, axis=-1)
        g = xp.zeros(flat.shape, dtype=dy[0].dtype)
        xp.put_along_axis(g, index[..., None], dy[0].reshape(index.shape + (1,)), axis=-1)
        g = g.reshape(tuple(a.shape[i] for i in order))
        if order != list(range(a.ndim)):
            g = g.transpose(np.argsort(order))
        return [g]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if self.only_index:
            return [None]
        shape = x[0].shape
        # nnabla's rule: the gradient goes where x equals the extremum (no gradient flows through the mask)
        mask = F.equal(x[0], self._expand_graph(y[0], shape))
        return [self._expand_graph(dy[0], shape) * mask]


class Max(_Extremum):
    """Maximum over ``axes``; ``with_index`` adds the index output, ``only_index`` gives only the index.

    The gradient goes to the first maximal element of each reduced group.
    """


@api(Max)
def max(x: Any, axis: Any = None, keepdims: bool = False, with_index: bool = False, only_index: bool = False) -> Any:  # noqa: A001
    return Max(_as_axes(x, axis), keepdims, with_index, only_index)(x)


class Min(_Extremum):
    """Minimum over ``axes``; ``with_index`` adds the index output, ``only_index`` gives only the index.

    The gradient goes to the first minimal element of each reduced group.
    """

    _reduce = staticmethod(np.min)
    _arg = staticmethod(np.argmin)


@api(Min)
def min(x: Any, axis: Any = None, keepdims: bool = False, with_index: bool = False, only_index: bool = False) -> Any:  # noqa: A001
    return Min(_as_axes(x, axis), keepdims, with_index, only_index)(x)


class Norm(_AxesMixin, Function):
    """``y = (sum |x|^p)^(1/p)`` over ``axes`` (``p >= 1``)."""

    p: Float = 2
    axes: Ints = None
    keep_dims: Bool = False
    grad_depends_output = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.p is None:
            self.p = 2.0
        if not self.p >= 1:
            raise self.fail("p", "p >= 1", self.p)
        return super().setup_impl(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        p = float(self.p)
        if p == 2.0:
            s = xp.square(x[0]).sum(axis=self.axes, keepdims=self.keep_dims)
            return [xp.asarray(xp.sqrt(s))]
        a = xp.abs(x[0])
        if p == 1.0:
            return [xp.asarray(a.sum(axis=self.axes, keepdims=self.keep_dims))]
        s = (a**p).sum(axis=self.axes, keepdims=self.keep_dims)
        return [xp.asarray(s ** (1.0 / p))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        a = x[0]
        shape = a.shape
        p = float(self.p)
        yb = self._expand(y[0], shape)
        g = self._expand(dy[0], shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2.0:
                return [a * (g / yb)]
            sign = xp.copysign(xp.ones((), a.dtype), a + 0)  # sign(0) = sign(-0) = +1, as nnabla's abs
            if p == 1.0:
                return [sign * g]
            return [(g * yb ** (1.0 - p)) * xp.abs(a) ** (p - 1.0) * sign]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = x[0].shape
        p = float(self.p)
        sign = F.greater_equal_scalar(x[0], 0.0) * 2.0 - 1.0
        if p == 1.0:
            return [self._expand_graph(dy[0], shape) * sign]
        if p == 2.0:
            return [self._expand_graph(dy[0] / y[0], shape) * x[0]]
        coef = self._expand_graph(dy[0] * F.pow_scalar(y[0], 1.0 - p), shape)
        return [coef * F.pow_scalar(F.abs(x[0]), p - 1.0) * sign]


@api(Norm)
def norm(x: Any, p: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    return Norm(2.0 if p is None else p, _as_axes(x, axis), keepdims)(x)


class Prod(_AxesReduction):
    """Product over ``axes``. As in nnabla, the gradient is ``dy * y / x`` and 0 where ``x == 0``."""

    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].prod(axis=self.axes, keepdims=self.keep_dims))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        a = x[0]
        num = self._expand(dy[0] * y[0], a.shape)
        out = xp.zeros(a.shape, dtype=a.dtype)
        xp.divide(num, a, out=out, where=a != 0)
        return [out]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._expand_graph(dy[0] * y[0], x[0].shape) / x[0]]


@api(Prod)
def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return Prod(_as_axes(x, axis), keepdims)(x)


class _Cumulative(Function):
    axis: Int64 = 0
    exclusive: Bool = False
    reverse: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = inputs[0].shape
        if self.axis is None:
            self.axis = 0
        if len(shape) == 0:
            raise self.fail("x", "an array of at least 1 dimension", "x.shape=()")
        self.axis = normalize_axis(self, int(self.axis), len(shape))
        return [shape]

    def _scan(self, xp: Any, a: Any, op: Any, identity: float, exclusive: bool, reverse: bool) -> Any:
        axis = self.axis
        if reverse:
            a = xp.flip(a, axis)
        if exclusive:
            y = xp.empty_like(a)
            n = a.shape[axis]
            head = [slice(None)] * a.ndim
            head[axis] = slice(0, 1)
            rest = [slice(None)] * a.ndim
            rest[axis] = slice(1, None)
            upto = [slice(None)] * a.ndim
            upto[axis] = slice(0, n - 1)
            y[tuple(head)] = identity
            if n > 1:
                y[tuple(rest)] = _accumulate(op, a[tuple(upto)], axis)
        else:
            y = _accumulate(op, a, axis)
        return xp.flip(y, axis) if reverse else y


def _accumulate(op: Any, a: Any, axis: int) -> Any:
    """Inclusive scan of ``a`` along ``axis`` with the ufunc ``op`` (a new array).

    NumPy's ``accumulate`` is slow along a non-innermost axis; there the scan runs as one vectorised operation per
    position along the axis, over whole slabs.
    """
    n = a.shape[axis]
    slab = a.size // n if n else 0
    if axis == a.ndim - 1 or n < 2 or slab < 64:
        return op.accumulate(a, axis=axis, dtype=a.dtype)
    out = np.empty(a.shape, dtype=a.dtype)
    src = np.moveaxis(a, axis, 0)
    dst = np.moveaxis(out, axis, 0)
    dst[0] = src[0]
    for i in range(1, n):
        op(dst[i - 1], src[i], out=dst[i])
    return out


class CumSum(_Cumulative):
    """Cumulative sum along ``axis``; ``exclusive`` starts from 0, ``reverse`` scans from the end."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._scan(xp, x[0], np.add, 0, self.exclusive, self.reverse)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._scan(xp, dy[0], np.add, 0, self.exclusive, not self.reverse)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [cumsum(dy[0], self.axis, self.exclusive, not self.reverse)]


@api(CumSum)
def cumsum(x: Any, axis: Any = None, exclusive: bool = False, reverse: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return CumSum(0 if axis is None else axis, exclusive, reverse)(x, n_outputs=n_outputs, outputs=outputs)


class CumProd(_Cumulative):
    """Cumulative product along ``axis``; ``exclusive`` starts from 1, ``reverse`` scans from the end.

    The gradient is exact with zeros in the input (as nnabla's O(N) algorithm).
    """

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._scan(xp, x[0], np.multiply, 1, self.exclusive, self.reverse)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        axis = self.axis
        a, g = x[0], dy[0]
        if self.reverse:
            a, g = xp.flip(a, axis), xp.flip(g, axis)
        if self.exclusive:
            # y_excl[k] = y_incl[k - 1]: the exclusive gradient is the inclusive one of dy shifted back by one
            shifted = xp.zeros_like(g)
            n = a.shape[axis]
            if n > 1:
                src = [slice(None)] * a.ndim
                src[axis] = slice(1, None)
                dst = [slice(None)] * a.ndim
                dst[axis] = slice(0, n - 1)
                shifted[tuple(dst)] = g[tuple(src)]
            g = shifted
        dx = _cumprod_grad(xp, a, g, axis)
        return [xp.flip(dx, axis) if self.reverse else dx]


def _cumprod_grad(xp: Any, a: Any, g: Any, axis: int) -> Any:
    """Gradient of the inclusive forward cumprod along ``axis``, exact with zeros in ``a``."""
    n = a.shape[axis]
    zero = a == 0
    if not zero.any():
        return _reverse_cumsum(xp, g * _accumulate(np.multiply, a, axis), axis) / a
    position = xp.arange(n).reshape([n if i == axis else 1 for i in range(a.ndim)])
    # first zero position of each line (n where none)
    first_zero = xp.where(zero.any(axis=axis, keepdims=True), xp.argmax(zero, axis=axis, keepdims=True), n)
    before = position < first_zero
    at_zero = position == first_zero
    y = _accumulate(np.multiply, a, axis)
    rev_sum = _reverse_cumsum(xp, g * y, axis)
    safe = xp.where(before, a, 1)
    dx = xp.where(before, rev_sum / safe, 0).astype(a.dtype)
    if at_zero.any():
        masked = xp.where(at_zero, 1, a).astype(a.dtype)
        masked_rev = _reverse_cumsum(xp, g * _accumulate(np.multiply, masked, axis), axis)
        dx = xp.where(at_zero, masked_rev, dx).astype(a.dtype)
    return dx


def _reverse_cumsum(xp: Any, a: Any, axis: int) -> Any:
    return xp.flip(_accumulate(np.add, xp.flip(a, axis), axis), axis)


@api(CumProd)
def cumprod(x: Any, axis: Any = None, exclusive: bool = False, reverse: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return CumProd(0 if axis is None else axis, exclusive, reverse)(x, n_outputs=n_outputs, outputs=outputs)


class ReduceSum(Function):
    """Sum of every element (deprecated in nnabla: use ``sum``)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [()]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].sum(), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.broadcast_to(dy[0], x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = x[0].shape
        return [F.broadcast(F.reshape(dy[0], [1] * len(shape), inplace=False), shape)]


@api(ReduceSum)
def reduce_sum(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ReduceSum()(x, n_outputs=n_outputs, outputs=outputs)


class ReduceMean(Function):
    """Mean of every element (deprecated in nnabla: use ``mean``)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [()]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].mean(), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.broadcast_to(dy[0] * (1.0 / builtins.max(x[0].size, 1)), x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = x[0].shape
        size = int(np.prod(shape, dtype=np.int64))
        g = F.reshape(dy[0] * (1.0 / builtins.max(size, 1)), [1] * len(shape), inplace=False)
        return [F.broadcast(g, shape)]


@api(ReduceMean)
def reduce_mean(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ReduceMean()(x, n_outputs=n_outputs, outputs=outputs)


@extra
def reduce(x: Any, op: str = "sum") -> Any:
    """Deprecated nnabla helper: ``reduce_sum`` (``op='sum'``) or ``reduce_mean`` (``op='mean'``)."""
    warnings.warn("Deprecated API. Use ``sum`` or ``mean`` instead.", DeprecationWarning, stacklevel=2)
    if op == "sum":
        return reduce_sum(x)
    if op == "mean":
        return reduce_mean(x)
    raise ValueError(f"reduce: op must be 'sum' or 'mean', got {op!r}.")
