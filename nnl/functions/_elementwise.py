"""Shared pieces of the element-wise modules (activation, arithmetic, logical).

Kept tiny on purpose: the element-wise functions are the hot path of the per-function overhead, so kernels are
plain NumPy expressions and the bases below add nothing per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Function
from nnl.functions._helpers import broadcast_shapes, normalize_axis

FLOAT32 = np.dtype(np.float32)


class Unary(Function):
    """One input, one output of the same shape."""

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]


class Binary(Function):
    """Two inputs broadcast together as NumPy does."""

    input_names = ("x0", "x1")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        s0, s1 = inputs[0].shape, inputs[1].shape
        return [s0 if s0 == s1 else broadcast_shapes(self, s0, s1)]


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


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid written through tanh: no overflow for large ``|x|``, keeps the dtype."""
    y = np.tanh(x * 0.5)
    y += 1
    y *= 0.5
    return y


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))`` without overflow."""
    return np.logaddexp(x, 0)


# -- grad_graph helpers (Variables) ------------------------------------------------------------------------
def constant(array: Any) -> Any:
    """A constant leaf Variable (no gradient) holding ``array`` as float32."""
    from nnl.core.variable import Variable

    return Variable.from_numpy_array(np.asarray(array, np.float32))


def abs_var(x: Any) -> Any:
    """``|x|`` as a graph whose derivative is ``sign(x)`` (the sign comes from comparisons: no gradient)."""
    from nnl import functions as F

    return x * (F.greater_scalar(x, 0.0) - F.less_scalar(x, 0.0))


def exp_var(x: Any) -> Any:
    """``exp(x)`` as a differentiable graph (``F.exp`` when built, else ``e ** x``)."""
    from nnl import functions as F
    from nnl.functions import registry

    if registry.is_built("Exp"):
        return F.exp(x)
    return F.r_pow_scalar(x, float(np.e))


def split_halves(v: Any, axis: int) -> tuple[Any, tuple[int, ...]]:
    """``v`` (doubled along ``axis``) reshaped to ``shape[:axis] + (2, n) + shape[axis + 1:]``."""
    from nnl import functions as F

    shape = tuple(v.shape)
    n = shape[axis] // 2
    return F.reshape(v, shape[:axis] + (2, n) + shape[axis + 1 :]), shape[:axis] + (1, n) + shape[axis + 1 :]


def halves_selector(axis: int, ndim: int, first: float, second: float) -> Any:
    """A constant of shape ``(1,)*axis + (2,) + (1,)*(ndim - axis)`` holding ``[first, second]``."""
    return constant(np.array([first, second], np.float32).reshape((1,) * axis + (2,) + (1,) * (ndim - axis)))
