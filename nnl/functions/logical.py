"""Logical: comparisons, boolean operations, extrema, NaN/Inf handling, ``where`` and ``searchsorted``.

Comparisons and boolean operations give 0/1 in the input's float dtype (float32 for integer inputs); a value is
true when it is non-zero (NaN included), as nnabla's ``bool(x)``. They have no gradient: their backward gives
nothing (as nnabla's backward functions give None). Sign (straight-through), the extrema, ResetNaN/ResetInf and
Where are differentiable. Binary functions broadcast as NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Double, Float, Function
from nnl.functions._elementwise import Binary, PreparedUnary, Unary, binary_float_dtype, float_dtype, scalar_const
from nnl.functions._helpers import sum_to_shape
from nnl.functions.registry import api


def _F() -> Any:
    from nnl import functions as F

    return F


def _reduce_to(g: Any, like: Any) -> Any:
    from nnl.functions.graph_helpers import reduce_to

    return reduce_to(g, like)


# -- differentiable ------------------------------------------------------------------------------------------
class Sign(PreparedUnary):
    """``y = 1`` for ``x > 0``, ``-1`` for ``x < 0``, ``alpha`` at 0; the gradient passes straight through."""

    alpha: Float = 1.0
    grad_depends_input = False

    def prepare(self, like: Any) -> None:
        self.alpha = float(self.alpha)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        y = np.sign(x0)
        if self.alpha != 0.0:
            np.copyto(y, self.alpha, where=x0 == 0)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0]]


@api(Sign)
def sign(x: Any, alpha: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Sign(alpha)(x, n_outputs=n_outputs, outputs=outputs)


class Minimum2(Binary):
    """Element-wise minimum; the gradient goes to ``x0`` where ``x0 < x1``, else to ``x1``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.where(x[0] < x[1], x[0], x[1])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d0 = dy[0] * (x[0] < x[1])  # the gradient routed to x0; the rest goes to x1
        return [
            sum_to_shape(d0, x[0].shape) if need[0] else None,
            sum_to_shape(dy[0] - d0, x[1].shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        m = _F().less(x[0], x[1])
        return [
            _reduce_to(dy[0] * m, x[0]) if need[0] else None,
            _reduce_to(dy[0] * (1.0 - m), x[1]) if need[1] else None,
        ]


@api(Minimum2)
def minimum2(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Minimum2()(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Maximum2(Binary):
    """Element-wise maximum; the gradient goes to ``x0`` where ``x0 > x1``, else to ``x1``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.where(x[0] > x[1], x[0], x[1])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d0 = dy[0] * (x[0] > x[1])  # the gradient routed to x0; the rest goes to x1
        return [
            sum_to_shape(d0, x[0].shape) if need[0] else None,
            sum_to_shape(dy[0] - d0, x[1].shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        m = _F().greater(x[0], x[1])
        return [
            _reduce_to(dy[0] * m, x[0]) if need[0] else None,
            _reduce_to(dy[0] * (1.0 - m), x[1]) if need[1] else None,
        ]


@api(Maximum2)
def maximum2(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Maximum2()(x0, x1, n_outputs=n_outputs, outputs=outputs)


class _ScalarArg(PreparedUnary):
    val: Double = 1.0

    def prepare(self, like: Any) -> None:
        self.val = float(self.val)
        self._c = scalar_const(self.val, like)


class MinimumScalar(_ScalarArg):
    """``y = min(x, val)``; the gradient flows where ``x < val``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.fmin(x[0], self._c)]  # fmin: NaN gives val, as nnabla's (x < val) ? x : val

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (x[0] < self._c)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * _F().less_scalar(x[0], self.val)]


@api(MinimumScalar)
def minimum_scalar(x: Any, val: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MinimumScalar(val)(x, n_outputs=n_outputs, outputs=outputs)


class MaximumScalar(_ScalarArg):
    """``y = max(x, val)``; the gradient flows where ``x > val``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.fmax(x[0], self._c)]  # fmax: NaN gives val, as nnabla's (x > val) ? x : val

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (x[0] > self._c)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * _F().greater_scalar(x[0], self.val)]


@api(MaximumScalar)
def maximum_scalar(x: Any, val: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MaximumScalar(val)(x, n_outputs=n_outputs, outputs=outputs)


class ResetNaN(_ScalarArg):
    """NaNs replaced by ``val``; no gradient flows to them."""

    input_names = ("x0",)
    val: Double = 0

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.where(np.isnan(x[0]), self.val, x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [np.where(np.isnan(x[0]), 0, dy[0])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (1.0 - _F().isnan(x[0]))]


@api(ResetNaN)
def reset_nan(x0: Any, val: float = 0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ResetNaN(val)(x0, n_outputs=n_outputs, outputs=outputs)


class ResetInf(_ScalarArg):
    """Infinities replaced by ``val``; no gradient flows to them."""

    input_names = ("x0",)
    val: Double = 0

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.where(np.isinf(x[0]), self.val, x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [np.where(np.isinf(x[0]), 0, dy[0])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (1.0 - _F().isinf(x[0]))]


@api(ResetInf)
def reset_inf(x0: Any, val: float = 0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ResetInf(val)(x0, n_outputs=n_outputs, outputs=outputs)


class Where(Function):
    """``y = x_true`` where ``condition`` is non-zero, else ``x_false``.

    ``condition``'s shape is a leading part of ``x_true.shape`` (== ``x_false.shape``): each condition value
    selects a whole trailing block.
    """

    input_names = ("condition", "x_true", "x_false")
    grad_depends_input = (0,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        cshape, tshape, fshape = (tuple(v.shape) for v in inputs)
        if tshape != fshape:
            raise self.fail("x_false", f"x_false.shape == x_true.shape ({tshape})", f"x_false.shape={fshape}")
        if len(cshape) > len(tshape) or tshape[: len(cshape)] != cshape:
            raise self.fail(
                "condition",
                f"a condition shape that leads x_true.shape={tshape}",
                f"condition.shape={cshape}",
                "condition.shape must equal the first dimensions of x_true.shape.",
            )
        self._cshape = cshape + (1,) * (len(tshape) - len(cshape))
        return [tshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.where(x[0].reshape(self._cshape), x[1], x[2])]  # non-zero (NaN included) is true

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        dt = g * x[0].reshape(self._cshape).astype(bool)
        return [None, dt if need[1] else None, g - dt if need[2] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        c = F.reshape(F.not_equal_scalar(x[0], 0.0), self._cshape)
        return [None, dy[0] * c if need[1] else None, dy[0] * (1.0 - c) if need[2] else None]


@api(Where)
def where(condition: Any, x_true: Any, x_false: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Where()(condition, x_true, x_false, n_outputs=n_outputs, outputs=outputs)


# -- without gradient -------------------------------------------------------------------------------------------
class _NoGrad(Function):
    grad_depends_input = False

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None] * len(x)

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None] * len(x)


class _BinaryNoGrad(_NoGrad, Binary):
    """``y = op(x0, x1)`` as 0/1 (broadcasting as NumPy)."""

    op = None  # the NumPy ufunc (a class attribute, not an argument)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a, b = x[0], x[1]
        return [self.op(a, b).astype(binary_float_dtype(a, b))]


class LogicalAnd(_BinaryNoGrad):
    """``y = bool(x0) and bool(x1)`` as 0/1."""

    op = staticmethod(np.logical_and)


class LogicalOr(_BinaryNoGrad):
    """``y = bool(x0) or bool(x1)`` as 0/1."""

    op = staticmethod(np.logical_or)


class LogicalXor(_BinaryNoGrad):
    """``y = bool(x0) xor bool(x1)`` as 0/1."""

    op = staticmethod(np.logical_xor)


class Equal(_BinaryNoGrad):
    """``y = (x0 == x1)`` as 0/1."""

    op = staticmethod(np.equal)


class NotEqual(_BinaryNoGrad):
    """``y = (x0 != x1)`` as 0/1."""

    op = staticmethod(np.not_equal)


class GreaterEqual(_BinaryNoGrad):
    """``y = (x0 >= x1)`` as 0/1."""

    op = staticmethod(np.greater_equal)


class Greater(_BinaryNoGrad):
    """``y = (x0 > x1)`` as 0/1."""

    op = staticmethod(np.greater)


class LessEqual(_BinaryNoGrad):
    """``y = (x0 <= x1)`` as 0/1."""

    op = staticmethod(np.less_equal)


class Less(_BinaryNoGrad):
    """``y = (x0 < x1)`` as 0/1."""

    op = staticmethod(np.less)


@api(LogicalAnd)
def logical_and(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalAnd()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(LogicalOr)
def logical_or(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalOr()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(LogicalXor)
def logical_xor(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalXor()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(Equal)
def equal(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Equal()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(NotEqual)
def not_equal(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return NotEqual()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(GreaterEqual)
def greater_equal(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GreaterEqual()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(Greater)
def greater(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Greater()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(LessEqual)
def less_equal(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LessEqual()(x0, x1, n_outputs=n_outputs, outputs=outputs)


@api(Less)
def less(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Less()(x0, x1, n_outputs=n_outputs, outputs=outputs)


class _UnaryNoGrad(_NoGrad, Unary):
    input_names = ("x0",)


class _LogicalScalar(_NoGrad, PreparedUnary):
    """``y = op(bool(x0), val)`` as 0/1."""

    input_names = ("x0",)
    val: Bool
    op = None  # the NumPy ufunc (a class attribute, not an argument)

    def prepare(self, like: Any) -> None:
        self.val = bool(self.val)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [self.op(x0, self.val).astype(float_dtype(x0))]


class LogicalAndScalar(_LogicalScalar):
    """``y = bool(x0) and val`` as 0/1."""

    op = staticmethod(np.logical_and)


class LogicalOrScalar(_LogicalScalar):
    """``y = bool(x0) or val`` as 0/1."""

    op = staticmethod(np.logical_or)


class LogicalXorScalar(_LogicalScalar):
    """``y = bool(x0) xor val`` as 0/1."""

    op = staticmethod(np.logical_xor)


@api(LogicalAndScalar)
def logical_and_scalar(x0: Any, val: bool, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalAndScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(LogicalOrScalar)
def logical_or_scalar(x0: Any, val: bool, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalOrScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(LogicalXorScalar)
def logical_xor_scalar(x0: Any, val: bool, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalXorScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


class _CompareScalar(_NoGrad, PreparedUnary):
    """``y = op(x0, val)`` as 0/1 (``val`` compared in the data's precision, as nnabla's ``(T)val``)."""

    input_names = ("x0",)
    val: Double = 1
    op = None  # the NumPy ufunc (a class attribute, not an argument)

    def prepare(self, like: Any) -> None:
        self.val = float(self.val)
        self._c = scalar_const(self.val, like)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [self.op(x0, self._c).astype(float_dtype(x0))]


class EqualScalar(_CompareScalar):
    """``y = (x0 == val)`` as 0/1."""

    op = staticmethod(np.equal)


class NotEqualScalar(_CompareScalar):
    """``y = (x0 != val)`` as 0/1."""

    op = staticmethod(np.not_equal)


class GreaterEqualScalar(_CompareScalar):
    """``y = (x0 >= val)`` as 0/1."""

    op = staticmethod(np.greater_equal)


class GreaterScalar(_CompareScalar):
    """``y = (x0 > val)`` as 0/1."""

    op = staticmethod(np.greater)


class LessEqualScalar(_CompareScalar):
    """``y = (x0 <= val)`` as 0/1."""

    op = staticmethod(np.less_equal)


class LessScalar(_CompareScalar):
    """``y = (x0 < val)`` as 0/1."""

    op = staticmethod(np.less)


@api(EqualScalar)
def equal_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return EqualScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(NotEqualScalar)
def not_equal_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return NotEqualScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(GreaterEqualScalar)
def greater_equal_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GreaterEqualScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(GreaterScalar)
def greater_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GreaterScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(LessEqualScalar)
def less_equal_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LessEqualScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


@api(LessScalar)
def less_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LessScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)


class LogicalNot(_UnaryNoGrad):
    """``y = not bool(x0)`` as 0/1."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [np.logical_not(x0).astype(float_dtype(x0))]


@api(LogicalNot)
def logical_not(x0: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogicalNot()(x0, n_outputs=n_outputs, outputs=outputs)


class IsNaN(_UnaryNoGrad):
    """``y = isnan(x0)`` as 0/1."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [np.isnan(x0).astype(float_dtype(x0))]


@api(IsNaN)
def isnan(x0: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return IsNaN()(x0, n_outputs=n_outputs, outputs=outputs)


class IsInf(_UnaryNoGrad):
    """``y = isinf(x0)`` (either sign) as 0/1."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [np.isinf(x0).astype(float_dtype(x0))]


@api(IsInf)
def isinf(x0: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return IsInf()(x0, n_outputs=n_outputs, outputs=outputs)


class SearchSorted(_NoGrad):
    """For each value, its insertion index into the matching row (last axis) of ``sorted_sequence``.

    ``right=False`` gives the first index ``i`` with ``v <= sorted_sequence[i]``, ``right=True`` the first with
    ``v < sorted_sequence[i]``. Both inputs have the same leading dimensions; the indices are floats.
    """

    input_names = ("sorted_sequence", "values")
    right: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        sshape, vshape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if not sshape or len(sshape) != len(vshape):
            raise self.fail(
                "values",
                f"values with as many dimensions as sorted_sequence (sorted_sequence.shape={sshape}, at least 1)",
                f"values.shape={vshape}",
            )
        if sshape[:-1] != vshape[:-1]:
            raise self.fail(
                "values",
                f"values.shape[:-1] == sorted_sequence.shape[:-1] ({sshape[:-1]})",
                f"values.shape={vshape}",
            )
        self.right = bool(self.right)
        return [vshape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        seq, values = x[0], x[1]
        n, m = seq.shape[-1], values.shape[-1]
        side = "right" if self.right else "left"
        dtype = float_dtype(seq)
        rows = values.size // m if m else 0
        if n == 0 or rows == 0:
            return [np.zeros(values.shape, dtype)]
        if rows == 1:
            return [np.searchsorted(seq.reshape(-1), values.reshape(-1), side).astype(dtype).reshape(values.shape)]
        # Rows are searched at once: values are replaced by their rank among all values, and each row's ranks
        # are offset past the previous row's, which keeps the flattened sequence sorted.
        _, ranks = np.unique(np.concatenate([seq.reshape(-1), values.reshape(-1)]), return_inverse=True)
        ranks = ranks.reshape(-1).astype(np.int64)
        offset = (np.arange(rows, dtype=np.int64) * (int(ranks.max()) + 1))[:, None]
        keys = (ranks[: rows * n].reshape(rows, n) + offset).reshape(-1)
        queries = ranks[rows * n :].reshape(rows, m) + offset
        index = np.searchsorted(keys, queries.reshape(-1), side).reshape(rows, m)
        index -= (np.arange(rows, dtype=np.int64) * n)[:, None]
        return [index.astype(dtype).reshape(values.shape)]


@api(SearchSorted)
def searchsorted(sorted_sequence: Any, values: Any, right: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SearchSorted(bool(right) if right is not None else False)(
        sorted_sequence, values, n_outputs=n_outputs, outputs=outputs
    )
