"""Math: element-wise mathematical functions, constants and ranges, matrix products.

Element-wise functions keep the input's float dtype (integer inputs are computed in float32). Their gradients
follow nnabla: ``round``, ``ceil`` and ``floor`` pass the gradient straight through (``dx = dy``), ``abs`` takes
the sign with ``sign(0) = +1``.
"""

from __future__ import annotations

import builtins
import math as _math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special as _special

from nnl.core.function import Bool, Float, Function, Int64, Shape
from nnl.functions._helpers import broadcast_shapes, sum_to_shape
from nnl.functions.registry import api


def _float(a: Any) -> Any:
    """``a`` itself when it is a float array, else ``a`` as float32."""
    return a if a.dtype.kind == "f" else a.astype(np.float32)


# -- constants and ranges (no inputs) ----------------------------------------------------------------------------
class _Source(Function):
    input_names = ()
    grad_depends_input = False

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return []

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return []


class Constant(_Source):
    """An array of ``shape`` filled with ``val`` (float32)."""

    val: Float = 0
    shape: Shape = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(int(s) for s in (self.shape or ()))
        if any(s < 0 for s in shape):
            raise self.fail("shape", "non-negative sizes", shape)
        self.shape = shape
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.full(self.shape, np.float32(self.val), dtype=np.float32)]


@api(Constant)
def constant(val: float = 0, shape: Any = [], n_outputs: int = -1, outputs: Any = None) -> Any:  # noqa: B006 (nnabla's default)
    return Constant(val, tuple(shape))(n_outputs=n_outputs, outputs=outputs)


class Arange(_Source):
    """``[start, start + step, ...)`` up to (excluding) ``stop``, accumulated in float32 as nnabla does."""

    start: Float = None
    stop: Float = None
    step: Float = 1

    def _values(self) -> np.ndarray:
        start, stop, step = np.float32(self.start), np.float32(self.stop), np.float32(self.step)
        estimate = (float(stop) - float(start)) / float(step)
        n = builtins.max(int(_math.ceil(estimate)) + 2, 1) if estimate > 0 else 1
        steps = np.full(n, step, dtype=np.float32)
        steps[0] = start
        values = np.add.accumulate(steps, dtype=np.float32)  # sequential float32 additions, like the C++ loop
        inside = values > stop if step < 0 else values < stop
        count = int(np.argmin(inside)) if not inside.all() else n
        return values[:count]

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.start is None or self.stop is None:
            raise self.fail("start/stop", "numbers", (self.start, self.stop))
        if self.step == 0:
            raise self.fail("step", "a non-zero step", self.step)
        return [(len(self._values()),)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(self._values())]


@api(Arange)
def arange(start: float, stop: float, step: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Arange(start, stop, step)(n_outputs=n_outputs, outputs=outputs)


class Linspace(_Source):
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included)."""

    start: Float = None
    stop: Float = None
    num: Int64 = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.num is None or int(self.num) < 0:
            raise self.fail("num", "a non-negative number of samples", self.num)
        return [(int(self.num),)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        num = int(self.num)
        start, stop = np.float32(self.start), np.float32(self.stop)
        step = float(stop - start) / (num - 1) if num > 1 else 0.0  # float32 difference, double step (as nnabla)
        return [(float(start) + step * xp.arange(num, dtype=np.float64)).astype(np.float32)]


@api(Linspace)
def linspace(start: float, stop: float, num: int) -> Any:
    if not isinstance(num, (int, np.integer)) or isinstance(num, bool):
        raise TypeError(f"Linspace: argument num: '{type(num).__name__}' object cannot be interpreted as an integer.")
    if num < 0:
        raise ValueError(f"Linspace: argument num: expected a non-negative number of samples, got {num}.")
    return Linspace(start, stop, int(num))()


# -- element-wise functions ------------------------------------------------------------------------------------------
class _Unary(Function):
    """``y = f(x)`` element-wise; subclasses give ``_f`` (arrays), ``_df`` (arrays) and ``_graph`` (Variables)."""

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._f(xp, _float(x[0]))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._df(xp, x[0], y[0], dy[0])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._graph(x[0], y[0], dy[0])]

    def _f(self, xp: Any, a: Any) -> Any:
        raise NotImplementedError

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        raise NotImplementedError

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        raise NotImplementedError


def _unary_api(cls: type[Function], name: str) -> Callable[..., Any]:
    def wrapper(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
        return cls()(x, n_outputs=n_outputs, outputs=outputs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__module__ = __name__
    return api(cls)(wrapper)


class Abs(_Unary):
    """``y = |x|``; the gradient takes ``sign(0) = +1`` as nnabla."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.abs(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        # -0.0 + 0 is +0.0: zeros of either sign get +dy
        return g * xp.copysign(xp.ones((), g.dtype), a + 0)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        from nnl import functions as F

        return g * (F.greater_equal_scalar(x, 0.0) * 2.0 - 1.0)


class Exp(_Unary):
    """``y = exp(x)``."""

    grad_depends_input = False
    grad_depends_output = True

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.exp(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g * y

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * y


class Log(_Unary):
    """``y = log(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.log(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / a

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g / x


class _StraightThrough(_Unary):
    grad_depends_input = False

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g.copy()

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g


class Round(_StraightThrough):
    """Round half away from zero (C's ``round``); the gradient passes straight through."""

    def _f(self, xp: Any, a: Any) -> Any:
        y = xp.rint(a)  # halves go to even: move those to the neighbour away from zero
        ties = xp.abs(a - y) == 0.5  # the difference is exact in floating point
        if ties.any():
            y[ties] = a[ties] + xp.copysign(xp.asarray(0.5, a.dtype), a[ties])
        return y


class Ceil(_StraightThrough):
    """``y = ceil(x)``; the gradient passes straight through."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.ceil(a)


class Floor(_StraightThrough):
    """``y = floor(x)``; the gradient passes straight through."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.floor(a)


class Sin(_Unary):
    """``y = sin(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.sin(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g * xp.cos(a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * cos(x)


class Cos(_Unary):
    """``y = cos(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.cos(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return -g * xp.sin(a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * sin(x) * -1.0


class Tan(_Unary):
    """``y = tan(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.tan(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        c = xp.cos(a)
        return g / (c * c)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        c = cos(x)
        return g / (c * c)


class Sinh(_Unary):
    """``y = sinh(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.sinh(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g * xp.cosh(a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * cosh(x)


class Cosh(_Unary):
    """``y = cosh(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.cosh(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g * xp.sinh(a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * sinh(x)


class ASin(_Unary):
    """``y = arcsin(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arcsin(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / xp.sqrt(1 - a * a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * (1.0 - x * x) ** -0.5


class ACos(_Unary):
    """``y = arccos(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arccos(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return -g / xp.sqrt(1 - a * a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * (1.0 - x * x) ** -0.5 * -1.0


class ATan(_Unary):
    """``y = arctan(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arctan(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / (1 + a * a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g / (x * x + 1.0)


class ASinh(_Unary):
    """``y = arcsinh(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arcsinh(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / xp.sqrt(a * a + 1)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * (x * x + 1.0) ** -0.5


class ACosh(_Unary):
    """``y = arccosh(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arccosh(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / xp.sqrt(a * a - 1)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * (x * x - 1.0) ** -0.5


class ATanh(_Unary):
    """``y = arctanh(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return xp.arctanh(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g / (1 - a * a)

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g / (1.0 - x * x)


_TWO_OVER_SQRT_PI = 2.0 / _math.sqrt(_math.pi)


class Erf(_Unary):
    """Gauss error function ``y = erf(x)``."""

    def _f(self, xp: Any, a: Any) -> Any:
        return _special.erf(a)

    def _df(self, xp: Any, a: Any, y: Any, g: Any) -> Any:
        return g * (_TWO_OVER_SQRT_PI * xp.exp(-(a * a)))

    def _graph(self, x: Any, y: Any, g: Any) -> Any:
        return g * exp(x * x * -1.0) * _TWO_OVER_SQRT_PI


abs = _unary_api(Abs, "abs")  # noqa: A001 (nnabla's names)
exp = _unary_api(Exp, "exp")
log = _unary_api(Log, "log")
round = _unary_api(Round, "round")  # noqa: A001
ceil = _unary_api(Ceil, "ceil")
floor = _unary_api(Floor, "floor")
sin = _unary_api(Sin, "sin")
cos = _unary_api(Cos, "cos")
tan = _unary_api(Tan, "tan")
sinh = _unary_api(Sinh, "sinh")
cosh = _unary_api(Cosh, "cosh")
asin = _unary_api(ASin, "asin")
acos = _unary_api(ACos, "acos")
atan = _unary_api(ATan, "atan")
asinh = _unary_api(ASinh, "asinh")
acosh = _unary_api(ACosh, "acosh")
atanh = _unary_api(ATanh, "atanh")
erf = _unary_api(Erf, "erf")


class ATan2(Function):
    """``y = arctan2(x0, x1)`` (the angle of the point ``(x1, x0)``), broadcasting as NumPy."""

    input_names = ("x0", "x1")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [broadcast_shapes(self, inputs[0].shape, inputs[1].shape)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.arctan2(_float(x[0]), _float(x[1]))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        a, b = x[0], x[1]
        g = dy[0] / (a * a + b * b)
        return [
            sum_to_shape(g * b, a.shape) if need[0] else None,
            sum_to_shape(-g * a, b.shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        g = dy[0] / (x[0] * x[0] + x[1] * x[1])
        return [
            reduce_to(g * x[1], x[0]) if need[0] else None,
            reduce_to(g * x[0] * -1.0, x[1]) if need[1] else None,
        ]


@api(ATan2)
def atan2(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ATan2()(x0, x1, n_outputs=n_outputs, outputs=outputs)


# -- Identity and BatchMatmul --------------------------------------------------------------------------------------------
class Identity(Function):
    """``y = x`` (a copy)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0]]


@api(Identity)
def identity(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Identity()(x, n_outputs=n_outputs, outputs=outputs)


def _t(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class BatchMatmul(Function):
    """Matrix products over the last two axes: ``y[..., i, j] = sum_k op(a)[..., i, k] op(b)[..., k, j]``.

    ``op`` transposes the last two axes when ``transpose_a`` / ``transpose_b``. ``a`` and ``b`` have the same
    number of dimensions; their batch dimensions must be equal or 1 (broadcast). nnabla asks for at least 3
    dimensions; nnl also accepts plain 2-D matrices.
    """

    input_names = ("a", "b")
    transpose_a: Bool = False
    transpose_b: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        sa, sb = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(sa) < 2:
            raise self.fail("a", "an array of at least 2 dimensions (..., rows, cols)", f"a.shape={sa}")
        if len(sb) < 2:
            raise self.fail("b", "an array of at least 2 dimensions (..., rows, cols)", f"b.shape={sb}")
        if len(sa) != len(sb):
            raise self.fail("b", f"as many dimensions as a ({len(sa)})", f"a.shape={sa}, b.shape={sb}")
        rows = sa[-1] if self.transpose_a else sa[-2]
        k_a = sa[-2] if self.transpose_a else sa[-1]
        k_b = sb[-1] if self.transpose_b else sb[-2]
        cols = sb[-2] if self.transpose_b else sb[-1]
        if k_a != k_b:
            raise self.fail(
                "b",
                f"a reduction size equal to a's ({k_a})",
                f"{k_b}",
                f"a.shape={sa} (transpose_a={self.transpose_a}), b.shape={sb} (transpose_b={self.transpose_b}).",
            )
        batch = []
        for d, (p, q) in enumerate(zip(sa[:-2], sb[:-2])):
            if p != q and p != 1 and q != 1:
                raise self.fail("b", f"batch dimension {d} equal to a's ({p}) or 1", f"a.shape={sa}, b.shape={sb}")
            batch.append(builtins.max(p, q) if p != 0 and q != 0 else 0)
        return [tuple(batch) + (rows, cols)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = _t(x[0]) if self.transpose_a else x[0]
        b = _t(x[1]) if self.transpose_b else x[1]
        return [xp.matmul(a, b)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        a, b, g = x[0], x[1], dy[0]
        ta, tb = self.transpose_a, self.transpose_b
        grads: list[Any] = [None, None]
        if need[0]:
            # d op(a) = g op(b)^T; transposed back when transpose_a
            if ta:
                da = xp.matmul(_t(b), _t(g)) if tb else xp.matmul(b, _t(g))
            else:
                da = xp.matmul(g, b if tb else _t(b))
            grads[0] = sum_to_shape(da, a.shape)
        if need[1]:
            # d op(b) = op(a)^T g; transposed back when transpose_b
            if tb:
                db = xp.matmul(_t(g), _t(a) if ta else a)
            else:
                db = xp.matmul(a if ta else _t(a), g)
            grads[1] = sum_to_shape(db, b.shape)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        a, b, g = x[0], x[1], dy[0]
        ta, tb = self.transpose_a, self.transpose_b
        grads: list[Any] = [None, None]
        if need[0]:
            if ta:
                da = batch_matmul(b, g, tb, True)
            else:
                da = batch_matmul(g, b, False, not tb)
            grads[0] = reduce_to(da, a)
        if need[1]:
            if tb:
                db = batch_matmul(g, a, True, ta)
            else:
                db = batch_matmul(a, g, not ta, False)
            grads[1] = reduce_to(db, b)
        return grads


@api(BatchMatmul)
def batch_matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BatchMatmul(transpose_a, transpose_b)(a, b, n_outputs=n_outputs, outputs=outputs)
