"""Shared pieces of the element-wise modules (activation, arithmetic, logical).

Kept tiny on purpose: the element-wise functions are the hot path of the per-function overhead, so kernels are
plain NumPy expressions and the bases below add nothing per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit as _expit

from nnl.core.function import Function
from nnl.functions._helpers import broadcast_shapes, normalize_axis

FLOAT32 = np.dtype(np.float32)


class Unary(Function):
    """One input, one output of the same shape."""

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]


class PreparedUnary(Unary):
    """A unary function whose kernels read constants derived from its arguments by ``prepare(like)``.

    ``prepare(None)`` runs at construction (Python floats), so that ``forward_impl`` works even when another
    function calls it without ``setup_impl`` (fused functions do); ``setup_impl`` runs ``prepare(first input)``
    (0-d arrays of the input's dtype, the fast form).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepare(None)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self.prepare(inputs[0])
        return [inputs[0].shape]

    def prepare(self, like: Any) -> None:
        raise NotImplementedError


class Binary(Function):
    """Two inputs broadcast together as NumPy does."""

    input_names = ("x0", "x1")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        s0, s1 = inputs[0].shape, inputs[1].shape
        return [s0 if s0 == s1 else broadcast_shapes(self, s0, s1)]


# 0-d float32 constants: NumPy combines them with arrays faster than Python scalars (and float64 data stays
# float64, as 0-d arrays do not upcast an array of the same kind).
ZERO = np.array(0.0, np.float32)
ONE = np.array(1.0, np.float32)


def scalar_const(value: float, like: Any) -> Any:
    """``value`` as a 0-d array of ``like``'s float dtype (nnabla's ``(T)val``: fast and exact for that dtype);
    a Python float for non-float data or without ``like``."""
    if like is None:
        return float(value)
    dtype = like.dtype
    return np.array(value, dtype) if dtype.kind == "f" else float(value)


def float_dtype(array: Any) -> Any:
    """The dtype of 0/1 outputs: the input's float dtype, float32 for integer or boolean inputs."""
    dtype = array.dtype
    return dtype if dtype.kind == "f" else FLOAT32


def binary_float_dtype(a: Any, b: Any) -> Any:
    if a.dtype.kind == "f":
        return a.dtype
    return b.dtype if b.dtype.kind == "f" else FLOAT32


def positive_axis(function: Function, axis: int, ndim: int, argument: str = "axis") -> int:
    """``axis`` refined to ``[0, ndim)`` (nnabla's ``refine_axis``), or an error naming the function."""
    if ndim == 0:
        raise function.fail(argument, "an input of at least one dimension", "a 0-d input (shape ())")
    return normalize_axis(function, int(axis), ndim, argument)


# Small arrays: one scipy/NumPy ufunc call (least per-call overhead); large arrays: compositions of NumPy's SIMD
# ufuncs (tanh, exp, log), several times faster per element than expit/logaddexp.
_SMALL_SIGMOID = 512
_SMALL_SOFTPLUS = 64


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid without overflow, in the input's dtype."""
    if x.size <= _SMALL_SIGMOID:
        return _expit(x)
    y = np.tanh(x * 0.5)
    y += 1
    y *= 0.5
    return y


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))`` without overflow, in the input's dtype."""
    if x.size <= _SMALL_SOFTPLUS:
        return np.logaddexp(x, 0)
    t = np.abs(x)
    np.negative(t, out=t)
    np.exp(t, out=t)
    t += 1
    np.log(t, out=t)
    t += np.maximum(x, 0)
    return t


# -- grad_graph helpers (Variables) ------------------------------------------------------------------------
def constant(array: Any) -> Any:
    """A constant leaf Variable (no gradient) holding ``array`` as float32."""
    from nnl.core.variable import Variable

    return Variable.from_numpy_array(np.asarray(array, np.float32))


def abs_var(x: Any) -> Any:
    """``|x|`` as a graph whose derivative is ``sign(x)`` (the sign comes from comparisons: no gradient)."""
    from nnl import functions as F

    return x * (F.greater_scalar(x, 0.0) - F.less_scalar(x, 0.0))


def split_halves(v: Any, axis: int) -> tuple[Any, tuple[int, ...]]:
    """``v`` (doubled along ``axis``) reshaped to ``shape[:axis] + (2, n) + shape[axis + 1:]``."""
    from nnl import functions as F

    shape = tuple(v.shape)
    n = shape[axis] // 2
    return F.reshape(v, shape[:axis] + (2, n) + shape[axis + 1 :]), shape[:axis] + (1, n) + shape[axis + 1 :]


def halves_selector(axis: int, ndim: int, first: float, second: float) -> Any:
    """A constant of shape ``(1,)*axis + (2,) + (1,)*(ndim - axis)`` holding ``[first, second]``."""
    return constant(np.array([first, second], np.float32).reshape((1,) * axis + (2,) + (1,) * (ndim - axis)))
