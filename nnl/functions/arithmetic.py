"""Arithmetic: binary functions with NumPy broadcasting, their variadic and scalar forms.

Binary gradients are reduced back to each input's shape with ``sum_to_shape``. Gradients handed to the engine
are always fresh arrays (never ``dy`` itself: the engine may adopt a returned array as a gradient buffer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Double, Function
from nnl.functions._elementwise import Binary, PreparedUnary, scalar_const
from nnl.functions._helpers import sum_to_shape
from nnl.functions.registry import api


def _F() -> Any:
    from nnl import functions as F

    return F


def _reduce_to(g: Any, like: Any) -> Any:
    from nnl.functions.graph_helpers import reduce_to

    return reduce_to(g, like)


def _to(g: Any, shape: tuple[int, ...]) -> Any:
    """``g`` summed to ``shape``, as an array the caller owns."""
    if g.shape == shape:
        return g.copy()
    return sum_to_shape(g, shape)


class _Binary(Binary):
    inplace: Bool = False


class Add2(_Binary):
    """Element-wise sum ``y = x0 + x1`` (broadcasting as NumPy)."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] + x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [_to(g, x[0].shape) if need[0] else None, _to(g, x[1].shape) if need[1] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [_reduce_to(dy[0], x[0]) if need[0] else None, _reduce_to(dy[0], x[1]) if need[1] else None]


@api(Add2)
def add2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Add2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class BcAdd2(Add2):
    """Broadcasting element-wise sum ``y = x0 + x1`` (what Add2 falls back to in nnabla)."""


@api(BcAdd2)
def bc_add2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BcAdd2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Sub2(_Binary):
    """Element-wise difference ``y = x0 - x1`` (broadcasting as NumPy)."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] - x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [_to(g, x[0].shape) if need[0] else None, sum_to_shape(-g, x[1].shape) if need[1] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [
            _reduce_to(dy[0], x[0]) if need[0] else None,
            _reduce_to(_F().mul_scalar(dy[0], -1.0), x[1]) if need[1] else None,
        ]


@api(Sub2)
def sub2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Sub2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Mul2(_Binary):
    """Element-wise product ``y = x0 * x1`` (broadcasting as NumPy)."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] * x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [
            sum_to_shape(g * x[1], x[0].shape) if need[0] else None,
            sum_to_shape(g * x[0], x[1].shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [
            _reduce_to(dy[0] * x[1], x[0]) if need[0] else None,
            _reduce_to(dy[0] * x[0], x[1]) if need[1] else None,
        ]


@api(Mul2)
def mul2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Mul2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Div2(_Binary):
    """Element-wise quotient ``y = x0 / x1`` (broadcasting as NumPy)."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] / x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, x1 = x[0], x[1]
        g0 = dy[0] / x1
        dx1 = None
        if need[1]:
            g1 = g0 * x0
            g1 /= x1
            g1 = np.negative(g1, out=g1) if type(g1) is np.ndarray else -g1  # 0-d operands give NumPy scalars
            dx1 = sum_to_shape(g1, x1.shape)
        return [sum_to_shape(g0, x0.shape) if need[0] else None, dx1]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, x1 = x[0], x[1]
        g0 = dy[0] / x1
        return [
            _reduce_to(g0, x0) if need[0] else None,
            _reduce_to(_F().mul_scalar(g0 * x0 / x1, -1.0), x1) if need[1] else None,
        ]


@api(Div2)
def div2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Div2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Pow2(_Binary):
    """Element-wise power ``y = x0 ** x1`` (broadcasting as NumPy)."""

    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.power(x[0], x[1])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, x1, g = x[0], x[1], dy[0]
        dx0 = dx1 = None
        if need[0]:
            d = np.power(x0, x1 - 1)
            d *= x1
            d *= g
            dx0 = sum_to_shape(d, x0.shape)
        if need[1]:
            d = np.log(x0) * y[0]
            d *= g
            dx1 = sum_to_shape(d, x1.shape)
        return [dx0, dx1]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        x0, x1, g = x[0], x[1], dy[0]
        return [
            _reduce_to(g * x1 * F.pow2(x0, x1 - 1.0), x0) if need[0] else None,
            _reduce_to(g * F.log(x0) * y[0], x1) if need[1] else None,
        ]


@api(Pow2)
def pow2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Pow2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class _Variadic(Function):
    input_names = ("*x",)
    _active_input_mask = None  # set by set_active_input_mask (nnabla's computation-graph pruning)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not inputs:
            raise self.fail("x", "at least one input", "no input")
        shape = tuple(inputs[0].shape)
        for i, v in enumerate(inputs[1:], 1):
            if tuple(v.shape) != shape:
                raise self.fail(
                    "x", f"inputs of identical shapes (x[0].shape={shape})", f"x[{i}].shape={tuple(v.shape)}"
                )
        return [shape]

    def _active(self, n: int) -> list[int]:
        mask = self._active_input_mask
        return list(range(n)) if mask is None else [i for i in range(n) if mask[i]]


class AddN(_Variadic):
    """Sum of any number of inputs of the same shape."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        if self._active_input_mask is not None:
            x = [x[i] for i in self._active(len(x))]
            if not x:
                return [np.zeros(self._in_shapes[0], np.float32)]
        if len(x) == 1:
            return [x[0].copy()]
        y = x[0] + x[1]
        for a in x[2:]:
            y += a
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        grads: list[Any] = [None] * len(x)
        for i in self._active(len(x)):
            if need[i]:
                grads[i] = g.copy()
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        grads: list[Any] = [None] * len(x)
        for i in self._active(len(x)):
            if need[i]:
                grads[i] = dy[0]
        return grads


@api(AddN)
def add_n(*x: Any, **kw: Any) -> Any:
    n_outputs = kw.pop("n_outputs", -1)
    outputs = kw.pop("outputs", None)
    if kw:
        raise TypeError(f"add_n: unexpected keyword arguments {sorted(kw)}.")
    return AddN()(*x, n_outputs=n_outputs, outputs=outputs)


class MulN(_Variadic):
    """Product of any number of inputs of the same shape."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        if self._active_input_mask is not None:
            x = [x[i] for i in self._active(len(x))]
            if not x:
                return [np.ones(self._in_shapes[0], np.float32)]
        if len(x) == 1:
            return [x[0].copy()]
        y = x[0] * x[1]
        for a in x[2:]:
            y *= a
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        # the product of the other inputs (no division: exact where an input is zero)
        active = self._active(len(x))
        g = dy[0]
        grads: list[Any] = [None] * len(x)
        for i in active:
            if need[i]:
                others = [x[j] for j in active if j != i]
                if not others:
                    grads[i] = g.copy()
                    continue
                d = g * others[0]
                for a in others[1:]:
                    d *= a
                grads[i] = d
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        active = self._active(len(x))
        grads: list[Any] = [None] * len(x)
        for i in active:
            if need[i]:
                d = dy[0]
                for j in active:
                    if j != i:
                        d = d * x[j]
                grads[i] = d
        return grads


@api(MulN)
def mul_n(*x: Any, **kw: Any) -> Any:
    n_outputs = kw.pop("n_outputs", -1)
    outputs = kw.pop("outputs", None)
    if kw:
        raise TypeError(f"mul_n: unexpected keyword arguments {sorted(kw)}.")
    return MulN()(*x, n_outputs=n_outputs, outputs=outputs)


class _Scalar(PreparedUnary):
    val: Double = 1

    def prepare(self, like: Any) -> None:
        self.val = float(self.val)
        self._c = scalar_const(self.val, like)


class AddScalar(_Scalar):
    """``y = x + val``."""

    inplace: Bool = False
    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] + self._c]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0]]


@api(AddScalar)
def add_scalar(x: Any, val: float = 1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return AddScalar(val, inplace)(x, n_outputs=n_outputs, outputs=outputs)


class MulScalar(_Scalar):
    """``y = x * val``."""

    inplace: Bool = False
    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] * self._c]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * self._c]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * self.val]


@api(MulScalar)
def mul_scalar(x: Any, val: float = 1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MulScalar(val, inplace)(x, n_outputs=n_outputs, outputs=outputs)


class PowScalar(_Scalar):
    """``y = x ** val`` (``sqrt`` for ``val = 0.5``, as nnabla)."""

    inplace: Bool = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        val = self.val
        if val == 0.5:
            return [np.sqrt(x[0])]
        if val == 2.0:
            return [x[0] * x[0]]
        return [np.power(x[0], val)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        val = self.val
        if val == 2.0:
            d = x[0] * dy[0]
            d *= 2.0
            return [d]
        if val == 1.0:
            return [dy[0].copy()]
        d = np.power(x[0], val - 1)
        d *= val
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        val = self.val
        if val == 1.0:
            return [dy[0]]
        if val == 2.0:
            return [dy[0] * x[0] * 2.0]
        return [dy[0] * _F().pow_scalar(x[0], val - 1.0) * val]


@api(PowScalar)
def pow_scalar(x: Any, val: float = 1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return PowScalar(val, inplace)(x, n_outputs=n_outputs, outputs=outputs)


class RSubScalar(_Scalar):
    """``y = val - x``."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._c - x[0]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [-dy[0]]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [_F().mul_scalar(dy[0], -1.0)]


@api(RSubScalar)
def r_sub_scalar(x: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return RSubScalar(val)(x, n_outputs=n_outputs, outputs=outputs)


class RDivScalar(_Scalar):
    """``y = val / x``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._c / x[0]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        d = dy[0] / (x0 * x0)
        d *= -self.val
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * _F().r_div_scalar(x[0] * x[0], -self.val)]


@api(RDivScalar)
def r_div_scalar(x: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return RDivScalar(val)(x, n_outputs=n_outputs, outputs=outputs)


class RPowScalar(_Scalar):
    """``y = val ** x``."""

    grad_depends_input = False
    grad_depends_output = True

    def prepare(self, like: Any) -> None:
        super().prepare(like)
        with np.errstate(divide="ignore", invalid="ignore"):
            self._log_val = float(np.log(np.float64(self.val)))

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.power(self.val, x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d = dy[0] * y[0]
        d *= self._log_val
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * y[0] * self._log_val]


@api(RPowScalar)
def r_pow_scalar(x: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return RPowScalar(val)(x, n_outputs=n_outputs, outputs=outputs)
