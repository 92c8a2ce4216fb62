"""Neural Network Activation Functions.

To add a function: a class with ``setup_impl`` / ``forward_impl`` / ``backward_impl`` (and ``grad_graph`` when the
gradient should itself be differentiable), then its public wrapper decorated with ``@api`` carrying nnabla's
exact signature, and a test case in ``nnl/testing/cases/activation.py``.

Formulas and conventions follow nnabla's kernels: ELU/CELU take the linear branch at ``x >= 0``, SELU and
LeakyReLU at ``x > 0``, PReLU at ``x >= 0``; GELU is the tanh approximation; HardSigmoid is
``clip(0.2 x + 0.5, 0, 1)``; the gradients of HardSigmoid/HardTanh include their end points, ReLU6's do not.
Everything is computed in the input's dtype (float32 stays float32).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnl.core.function import Bool, Double, Float, Function, Int64
from nnl.functions._elementwise import (
    ONE,
    ZERO,
    PreparedUnary,
    Unary,
    abs_var,
    halves_selector,
    positive_axis,
    scalar_const,
    split_halves,
)
from nnl.functions._elementwise import (
    sigmoid as _sigmoid,
)
from nnl.functions._elementwise import (
    softplus as _softplus,
)
from nnl.functions.registry import api

_GELU_C = math.sqrt(2.0 / math.pi)
# 0-d float32 constants (faster than Python floats in NumPy expressions; float64 data stays float64)
_G_C = np.array(_GELU_C, np.float32)
_G_A = np.array(0.044715 * _GELU_C, np.float32)
_G_B = np.array(0.5 * 0.134145 * _GELU_C, np.float32)
_G_H = np.array(0.5 * _GELU_C, np.float32)
_HALF = np.array(0.5, np.float32)
_FIFTH = np.array(0.2, np.float32)
_TWO_HALF = np.array(2.5, np.float32)
_SIX = np.array(6.0, np.float32)


def _F() -> Any:
    from nnl import functions as F

    return F


class Sigmoid(Unary):
    """Logistic sigmoid, ``y = 1 / (1 + exp(-x))``."""

    grad_depends_input = False
    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        # written through tanh so that large |x| neither overflows nor loses precision
        return [_sigmoid(x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        y0 = y[0]
        d = ONE - y0
        d *= y0
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * y[0] * (1.0 - y[0])]


@api(Sigmoid)
def sigmoid(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Sigmoid()(x, n_outputs=n_outputs, outputs=outputs)


class Swish(Unary):
    """Swish, ``y = x * sigmoid(x)``."""

    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = _sigmoid(x[0])
        y *= x[0]
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        s = _sigmoid(x[0])
        y0 = y[0]
        return [dy[0] * (y0 + s * (1 - y0))]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        s = _F().sigmoid(x[0])
        return [dy[0] * (y[0] + s * (1.0 - y[0]))]


@api(Swish)
def swish(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Swish()(x, n_outputs=n_outputs, outputs=outputs)


class Tanh(Unary):
    """Hyperbolic tangent, ``y = tanh(x)``."""

    grad_depends_input = False
    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.tanh(x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        y0 = y[0]
        d = y0 * y0
        np.subtract(ONE, d, out=d)
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (1.0 - y[0] * y[0])]


@api(Tanh)
def tanh(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Tanh()(x, n_outputs=n_outputs, outputs=outputs)


class ReLU(Unary):
    """Rectified linear unit, ``y = max(0, x)``.

    >>> import nnl, nnl.functions as F, numpy as np
    >>> x = nnl.Variable.from_numpy_array(np.array([-1.0, 2.0]))
    >>> with nnl.auto_forward():
    ...     F.relu(x).d.tolist()
    [0.0, 2.0]
    """

    inplace: Bool = False
    grad_depends_input = False
    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.fmax(x[0], ZERO)]  # fmax: NaN gives 0, as nnabla's std::max(0, x)

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (y[0] > ZERO)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * _F().greater_scalar(y[0], 0.0)]


@api(ReLU)
def relu(x: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ReLU(inplace)(x, n_outputs=n_outputs, outputs=outputs)


class LeakyReLU(PreparedUnary):
    """Leaky ReLU, ``y = x`` for ``x > 0``, ``alpha * x`` otherwise."""

    alpha: Float = 0.1
    inplace: Bool = False

    def prepare(self, like: Any) -> None:
        self.alpha = float(self.alpha)
        self._c = scalar_const(self.alpha, like)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        y = x0 * self._c
        # x > 0 ? x : alpha x  ==  max(x, alpha x) for alpha <= 1, min(x, alpha x) for alpha > 1
        return [np.maximum(x0, y, out=y) if self.alpha <= 1.0 else np.minimum(x0, y, out=y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [np.where(x[0] > ZERO, g, g * self._c)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        m = _F().greater_scalar(x[0], 0.0)
        return [dy[0] * (m * (1.0 - self.alpha) + self.alpha)]


@api(LeakyReLU)
def leaky_relu(x: Any, alpha: float = 0.1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LeakyReLU(alpha, inplace)(x, n_outputs=n_outputs, outputs=outputs)


class Softmax(Unary):
    """Softmax along ``axis`` (default: the last), computed as ``exp(x - max) / sum(exp(x - max))``."""

    axis: Int64 = None
    grad_depends_input = False
    grad_depends_output = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = inputs[0].shape
        if self.axis is None:
            self.axis = len(shape) - 1
        self._axis = positive_axis(self, self.axis, len(shape))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = self._axis
        y = x[0] - x[0].max(axis=a, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=a, keepdims=True)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        y0, g = y[0], dy[0]
        gy = g * y0
        gy -= y0 * gy.sum(axis=self._axis, keepdims=True)
        return [gy]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        gy = dy[0] * y[0]
        return [gy - y[0] * F.sum(gy, axis=self._axis, keepdims=True)]


@api(Softmax)
def softmax(x: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Softmax(axis)(x, n_outputs=n_outputs, outputs=outputs)


class LogSoftmax(Unary):
    """Log-softmax along ``axis`` (default: the last), ``y = x - max - log(sum(exp(x - max)))``."""

    axis: Int64 = None
    grad_depends_input = False
    grad_depends_output = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = inputs[0].shape
        if self.axis is None:
            self.axis = len(shape) - 1
        self._axis = positive_axis(self, self.axis, len(shape))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = self._axis
        y = x[0] - x[0].max(axis=a, keepdims=True)
        y -= np.log(np.exp(y).sum(axis=a, keepdims=True))
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [g - np.exp(y[0]) * g.sum(axis=self._axis, keepdims=True)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        return [dy[0] - F.softmax(x[0], self._axis) * F.sum(dy[0], axis=self._axis, keepdims=True)]


@api(LogSoftmax)
def log_softmax(x: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogSoftmax(axis)(x, n_outputs=n_outputs, outputs=outputs)


class ELU(PreparedUnary):
    """Exponential linear unit, ``y = x`` for ``x >= 0``, ``alpha * (exp(x) - 1)`` otherwise."""

    alpha: Double = 1.0

    def prepare(self, like: Any) -> None:
        self.alpha = float(self.alpha)
        self._c = scalar_const(self.alpha, like)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        # alpha * (exp(min(x, 0)) - 1) + max(x, 0): each branch is 0 on the other side
        x0 = x[0]
        y = np.minimum(x0, ZERO)
        np.expm1(y, y)
        if self.alpha != 1.0:
            y *= self._c
        y += np.maximum(x0, ZERO)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, g = x[0], dy[0]
        d = np.minimum(x0, ZERO)
        np.exp(d, d)  # 1 on the linear side
        if self.alpha == 1.0:
            d *= g
            return [d]
        d *= self._c
        d *= g
        return [np.where(x0 >= ZERO, g, d)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        # for x < 0, alpha * exp(x) = y + alpha
        m = _F().greater_equal_scalar(x[0], 0.0)
        return [dy[0] * (m + (1.0 - m) * (y[0] + self.alpha))]


@api(ELU)
def elu(x: Any, alpha: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ELU(alpha)(x, n_outputs=n_outputs, outputs=outputs)


class SELU(PreparedUnary):
    """Scaled ELU, ``y = scale * x`` for ``x > 0``, ``scale * alpha * (exp(x) - 1)`` otherwise."""

    scale: Double = 1.05070098735548
    alpha: Double = 1.673263242354377

    def prepare(self, like: Any) -> None:
        self.scale, self.alpha = float(self.scale), float(self.alpha)
        self._coef = self.scale * self.alpha
        self._c_coef = scalar_const(self._coef, like)
        self._c_scale = scalar_const(self.scale, like)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        # scale * alpha * (exp(min(x, 0)) - 1) + scale * max(x, 0): each branch is 0 on the other side
        x0 = x[0]
        y = np.minimum(x0, ZERO)
        np.expm1(y, y)
        y *= self._c_coef
        pos = np.maximum(x0, ZERO)
        pos *= self._c_scale
        y += pos
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        d = np.minimum(x0, ZERO)
        np.exp(d, d)
        d *= self._c_coef
        np.copyto(d, self._c_scale, where=x0 > ZERO)
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        # for x <= 0, scale * alpha * exp(x) = y + scale * alpha
        m = _F().greater_scalar(x[0], 0.0)
        return [dy[0] * (m * self.scale + (1.0 - m) * (y[0] + self._coef))]


@api(SELU)
def selu(
    x: Any, scale: float = 1.05070098735548, alpha: float = 1.673263242354377, n_outputs: int = -1, outputs: Any = None
) -> Any:
    return SELU(scale, alpha)(x, n_outputs=n_outputs, outputs=outputs)


class _Concatenated(Unary):
    """Base of CReLU/CELU: ``y = concatenate([f(x), f(-x)], axis)`` (subclasses declare ``axis``)."""

    axis = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        a = self._axis = positive_axis(self, self.axis, len(shape))
        n = shape[a]
        self._first = (slice(None),) * a + (slice(0, n),)
        self._second = (slice(None),) * a + (slice(n, 2 * n),)
        return [shape[:a] + (2 * n,) + shape[a + 1 :]]


class CReLU(_Concatenated):
    """Concatenated ReLU, ``y = concatenate([relu(x), relu(-x)], axis)``."""

    axis: Int64 = 1

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [np.concatenate([np.maximum(x0, 0), np.maximum(-x0, 0)], axis=self._axis)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [np.where(x[0] > 0, g[self._first], -g[self._second])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        a = self._axis
        g, half_shape = split_halves(dy[0], a)
        m = F.reshape(F.greater_scalar(x[0], 0.0), half_shape)
        # first half: dy0 * m, second half: -dy1 * (1 - m) = dy1 * (m - 1)
        coef = m - halves_selector(a, len(x[0].shape), 0.0, 1.0)
        return [F.reshape(F.sum(g * coef, axis=a), x[0].shape)]


@api(CReLU)
def crelu(x: Any, axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return CReLU(axis)(x, n_outputs=n_outputs, outputs=outputs)


class CELU(_Concatenated):
    """Concatenated ELU, ``y = concatenate([elu(x), elu(-x)], axis)``."""

    alpha: Double = 1.0
    axis: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self.alpha = float(self.alpha)
        return super().setup_impl(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0, alpha = x[0], self.alpha
        e = np.expm1(-np.abs(x0))
        e *= alpha
        return [np.concatenate([np.where(x0 >= 0, x0, e), np.where(x0 <= 0, -x0, e)], axis=self._axis)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, g = x[0], dy[0]
        g0, g1 = g[self._first], g[self._second]
        e = np.exp(-np.abs(x0))
        e *= self.alpha
        return [np.where(x0 >= 0, g0, g0 * e) - np.where(x0 <= 0, g1, g1 * e)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        a, nd = self._axis, len(x[0].shape)
        g, half_shape = split_halves(dy[0], a)
        yr, _ = split_halves(y[0], a)
        # linear-branch masks: x >= 0 for the first half, x <= 0 for the second
        m0 = F.reshape(F.greater_equal_scalar(x[0], 0.0), half_shape)
        m1 = F.reshape(F.less_equal_scalar(x[0], 0.0), half_shape)
        second = halves_selector(a, nd, 0.0, 1.0)
        m = m0 + (m1 - m0) * second
        # outside the linear branch, alpha * exp(-|x|) = y + alpha
        deriv = m + (1.0 - m) * (yr + self.alpha)
        sign = halves_selector(a, nd, 1.0, -1.0)
        return [F.reshape(F.sum(g * deriv * sign, axis=a), x[0].shape)]


@api(CELU)
def celu(x: Any, alpha: float = 1.0, axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return CELU(alpha, axis)(x, n_outputs=n_outputs, outputs=outputs)


class PReLU(Function):
    """Parametric ReLU, ``y = x`` for ``x >= 0``, ``w * x`` otherwise.

    The slope ``x1`` is a single shared value (size 1) or one value per channel, shape ``(x0.shape[base_axis],)``.
    """

    input_names = ("x0", "x1")
    base_axis: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape, wshape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        a = positive_axis(self, self.base_axis, len(shape), "base_axis")
        size = math.prod(wshape)
        if size == 1:
            self._wshape = (1,) * len(shape)
            self._raxes = None
        elif len(wshape) == 1 and wshape[0] == shape[a]:
            self._wshape = (1,) * a + (wshape[0],) + (1,) * (len(shape) - a - 1)
            self._raxes = tuple(i for i in range(len(shape)) if i != a)
        else:
            raise self.fail(
                "x1",
                f"a slope of size 1 or of shape ({shape[a]},) (x0.shape[base_axis])",
                f"x1.shape={wshape}",
                f"x0.shape={shape} with base_axis={self.base_axis}.",
            )
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        return [np.where(x0 >= 0, x0, x0 * x[1].reshape(self._wshape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0, w, g = x[0], x[1], dy[0]
        negative = x0 < 0
        dx = dw = None
        if need[0]:
            dx = np.where(negative, g * w.reshape(self._wshape), g)
        if need[1]:
            gx = g * x0
            gx *= negative
            dw = gx.sum(axis=self._raxes).reshape(w.shape)
        return [dx, dw]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        x0, w, g = x[0], x[1], dy[0]
        m = F.greater_equal_scalar(x0, 0.0)
        dx = dw = None
        if need[0]:
            dx = g * (m + (1.0 - m) * F.reshape(w, self._wshape))
        if need[1]:
            gx = g * x0 * (1.0 - m)
            dw = F.reshape(F.sum(gx, axis=self._raxes), w.shape)
        return [dx, dw]


@api(PReLU)
def prelu(x0: Any, x1: Any, base_axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return PReLU(base_axis)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class GELU(Unary):
    """Gaussian error linear unit (tanh approximation),
    ``y = x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        t = x0 * x0
        t *= _G_A
        t += _G_C
        t *= x0  # sqrt(2 / pi) * (x + 0.044715 x^3)
        np.tanh(t, t)
        t += ONE
        t *= x0
        t *= _HALF
        return [t]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        x2 = x0 * x0
        t = x2 * _G_A
        t += _G_C
        t *= x0
        np.tanh(t, t)
        # 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 0.134145 x^2)
        x2 *= _G_B
        x2 += _G_H
        x2 *= x0
        d = t * t
        np.subtract(ONE, d, d)
        d *= x2
        t += ONE
        t *= _HALF
        d += t
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        x0 = x[0]
        x2 = x0 * x0
        t = F.tanh((x0 + 0.044715 * x2 * x0) * _GELU_C)
        return [dy[0] * (0.5 * (1.0 + t) + 0.5 * x0 * (1.0 - t * t) * (_GELU_C * (1.0 + 0.134145 * x2)))]


@api(GELU)
def gelu(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GELU()(x, n_outputs=n_outputs, outputs=outputs)


class Mish(Unary):
    """Mish, ``y = x * tanh(log(1 + exp(x)))``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        t = np.tanh(_softplus(x[0]))
        t *= x[0]
        return [t]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        t = np.tanh(_softplus(x0))
        d = x0 * _sigmoid(x0) * (1 - t * t)
        d += t
        d *= dy[0]
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        x0 = x[0]
        t = F.tanh(F.softplus(x0))
        return [dy[0] * (t + x0 * F.sigmoid(x0) * (1.0 - t * t))]


@api(Mish)
def mish(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Mish()(x, n_outputs=n_outputs, outputs=outputs)


class ReLU6(Unary):
    """``y = min(max(x, 0), 6)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = np.fmax(x[0], ZERO)  # NaN gives 0, as nnabla's std::max
        return [np.fmin(y, _SIX, out=y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        m = x0 > ZERO
        m &= x0 < _SIX
        return [dy[0] * m]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        return [dy[0] * (F.greater_scalar(x[0], 0.0) * F.less_scalar(x[0], 6.0))]


@api(ReLU6)
def relu6(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ReLU6()(x, n_outputs=n_outputs, outputs=outputs)


class HardSigmoid(Unary):
    """``y = clip(0.2 x + 0.5, 0, 1)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = x[0] * _FIFTH
        y += _HALF
        np.maximum(y, ZERO, out=y)
        return [np.minimum(y, ONE, out=y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d = dy[0] * _FIFTH
        d *= np.abs(x[0]) <= _TWO_HALF
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        return [dy[0] * (F.greater_equal_scalar(x[0], -2.5) * F.less_equal_scalar(x[0], 2.5) * 0.2)]


@api(HardSigmoid)
def hard_sigmoid(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return HardSigmoid()(x, n_outputs=n_outputs, outputs=outputs)


class HardTanh(Unary):
    """``y = clip(x, -1, 1)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = np.maximum(x[0], -1)
        return [np.minimum(y, 1, out=y)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (np.abs(x[0]) <= 1)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        return [dy[0] * (F.greater_equal_scalar(x[0], -1.0) * F.less_equal_scalar(x[0], 1.0))]


@api(HardTanh)
def hard_tanh(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return HardTanh()(x, n_outputs=n_outputs, outputs=outputs)


class LogSigmoid(Unary):
    """``y = log(sigmoid(x)) = -log(1 + exp(-x))``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = _softplus(-x[0])
        np.negative(y, out=y)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        s = _sigmoid(-x[0])
        s *= dy[0]
        return [s]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (1.0 - _F().sigmoid(x[0]))]


@api(LogSigmoid)
def log_sigmoid(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return LogSigmoid()(x, n_outputs=n_outputs, outputs=outputs)


class SoftPlus(PreparedUnary):
    """``y = log(1 + exp(beta x)) / beta``."""

    beta: Double = 1.0

    def prepare(self, like: Any) -> None:
        self.beta = float(self.beta)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        beta = self.beta
        if beta == 1.0:
            return [_softplus(x[0])]
        y = _softplus(x[0] * beta)
        y /= beta
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        s = _sigmoid(x[0] * self.beta)
        s *= dy[0]
        return [s]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * _F().sigmoid(x[0] * self.beta)]


@api(SoftPlus)
def softplus(x: Any, beta: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SoftPlus(beta)(x, n_outputs=n_outputs, outputs=outputs)


class SoftSign(Unary):
    """``y = x / (1 + |x|)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        d = np.abs(x[0])
        d += 1
        return [x[0] / d]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d = np.abs(x[0])
        d += 1
        d *= d
        return [dy[0] / d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        d = abs_var(x[0]) + 1.0
        return [dy[0] / (d * d)]


@api(SoftSign)
def softsign(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SoftSign()(x, n_outputs=n_outputs, outputs=outputs)


class TanhShrink(Unary):
    """``y = x - tanh(x)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] - np.tanh(x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        t = np.tanh(x[0])
        t *= t
        t *= dy[0]
        return [t]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        t = _F().tanh(x[0])
        return [dy[0] * t * t]


@api(TanhShrink)
def tanh_shrink(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return TanhShrink()(x, n_outputs=n_outputs, outputs=outputs)


class Sinc(Unary):
    """``y = sin(x) / x``, and 1 at ``x = 0``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0 = x[0]
        zero = x0 == ZERO
        safe = np.where(zero, ONE, x0)
        y = np.sin(safe)
        y /= safe
        np.copyto(y, ONE, where=zero)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x0 = x[0]
        zero = x0 == ZERO
        safe = np.where(zero, ONE, x0)
        d = np.sin(safe)
        d /= safe
        np.subtract(np.cos(safe), d, d)
        d /= safe
        d *= dy[0]
        np.copyto(d, ZERO, where=zero)
        return [d]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        F = _F()
        x0 = x[0]
        zero = F.equal_scalar(x0, 0.0)
        safe = x0 + zero  # 1 where x == 0 (no gradient flows there)
        d = (F.cos(safe) - F.sin(safe) / safe) / safe
        return [dy[0] * d * (1.0 - zero)]


@api(Sinc)
def sinc(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Sinc()(x, n_outputs=n_outputs, outputs=outputs)
