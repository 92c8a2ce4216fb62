"""Loss Functions: cross entropies, element-wise regression losses and the multinomial KL divergence.

Per-sample losses are not reduced: apply ``F.mean`` / ``F.sum`` to get a scalar. Class targets of
``softmax_cross_entropy`` / ``categorical_cross_entropy`` are integer indices with size 1 on the class axis
(``(B, 1)`` labels for ``(B, C)`` inputs); the output keeps that axis with size 1, and a negative label gives a
zero loss (and no gradient). Class and binary targets get no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Float, Function, Int64
from nnl.functions._classification import labels, setup_label_axis, truncated
from nnl.functions._helpers import broadcast_shapes, normalize_axis, sum_to_shape
from nnl.functions.registry import api


def _same_shape(function: Function, inputs: list[Any]) -> tuple[int, ...]:
    a, b = tuple(inputs[0].shape), tuple(inputs[1].shape)
    if a != b:
        first, second = (n.rstrip("?") for n in function.input_names[:2])
        raise function.fail(second, f"{second}.shape == {first}.shape ({a})", f"{second}.shape={b}")
    return a


def _tiny(dtype: Any) -> Any:
    return np.finfo(dtype).tiny


# -- cross entropies ----------------------------------------------------------------------------------------------------
class SigmoidCrossEntropy(Function):
    """``y = -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))`` element-wise, computed stably from logits.

    ``target`` is read as integers (0/1), as nnabla does: fractional targets are truncated toward zero.
    """

    input_names = ("x", "target")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [_same_shape(self, inputs)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        t = truncated(x[1], a.dtype)
        # max(x, 0) - x t + log(1 + exp(-|x|))
        return [xp.maximum(a, 0) - a * t + xp.log1p(xp.exp(-xp.abs(a)))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        a = x[0]
        s = (xp.tanh(a * 0.5) + 1) * 0.5
        return [dy[0] * (s - truncated(x[1], a.dtype)), None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        return [dy[0] * (F.sigmoid(x[0]) - x[1]), None]


@api(SigmoidCrossEntropy)
def sigmoid_cross_entropy(x: Any, target: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SigmoidCrossEntropy()(x, target, n_outputs=n_outputs, outputs=outputs)


class BinaryCrossEntropy(Function):
    """``y = -(t log x + (1 - t) log(1 - x))`` element-wise for probabilities ``x`` (logs clipped at the
    smallest normal float). Both inputs get gradients."""

    input_names = ("x", "target")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [_same_shape(self, inputs)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        p, t = x[0], x[1]
        tiny = _tiny(p.dtype)
        return [-(t * xp.log(xp.maximum(p, tiny)) + (1 - t) * xp.log(xp.maximum(1 - p, tiny)))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        p, t, g = x[0], x[1], dy[0]
        tiny = _tiny(p.dtype)
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = g * (p - t) / xp.maximum(p - p * p, tiny)
        if need[1]:
            grads[1] = g * (xp.log(xp.maximum(1 - p, tiny)) - xp.log(xp.maximum(p, tiny)))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        p, t, g = x[0], x[1], dy[0]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = g * (p - t) / (p - p * p)
        if need[1]:
            grads[1] = g * (F.log(1.0 - p) - F.log(p))
        return grads


@api(BinaryCrossEntropy)
def binary_cross_entropy(x: Any, target: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BinaryCrossEntropy()(x, target, n_outputs=n_outputs, outputs=outputs)


def _one_hot_graph(t: Any, x: Any, axis: int) -> Any:
    """A Variable of x's shape: 1 where the index along ``axis`` equals the label ``t`` (no gradient)."""
    from nnl import functions as F

    n = x.shape[axis]
    positions = F.reshape(F.arange(0, n), [n if i == axis else 1 for i in range(len(x.shape))], inplace=False)
    return F.equal(t, positions)


class SoftmaxCrossEntropy(Function):
    """``y = -log softmax(x)[target]`` along ``axis`` (log-sum-exp, stable for large logits).

    ``target`` holds integer class indices with size 1 on ``axis``; the output has the target's shape.
    A negative label gives 0 (and no gradient).
    """

    input_names = ("x", "target")
    axis: Int64 = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [setup_label_axis(self, inputs)]

    def _log_sum_exp(self, xp: Any, a: Any) -> Any:
        m = a.max(axis=self.axis, keepdims=True)
        e = xp.exp(a - m)
        return xp.log(e.sum(axis=self.axis, keepdims=True)) + m

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        t = labels(x[1])
        valid = t >= 0
        picked = xp.take_along_axis(a, xp.where(valid, t, 0), axis=self.axis)
        loss = self._log_sum_exp(xp, a) - picked
        return [xp.where(valid, loss, 0).astype(a.dtype, copy=False)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        a = x[0]
        t = labels(x[1])
        valid = t >= 0
        index = xp.where(valid, t, 0)
        p = xp.exp(a - self._log_sum_exp(xp, a))
        at_label = xp.take_along_axis(p, index, axis=self.axis)
        xp.put_along_axis(p, index, at_label - 1, axis=self.axis)
        p *= xp.where(valid, dy[0], 0).astype(a.dtype, copy=False)
        return [p, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        t = x[1]
        g = dy[0] * F.greater_equal_scalar(t, 0.0)
        return [g * (F.softmax(x[0], axis=self.axis) - _one_hot_graph(t, x[0], self.axis)), None]


@api(SoftmaxCrossEntropy)
def softmax_cross_entropy(x: Any, target: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SoftmaxCrossEntropy(len(x.shape) - 1 if axis is None else axis)(x, target, n_outputs=n_outputs, outputs=outputs)


class CategoricalCrossEntropy(Function):
    """``y = -log x[target]`` along ``axis`` for probabilities ``x`` (clipped at the smallest normal float).

    ``target`` holds integer class indices with size 1 on ``axis``; a negative label gives 0.
    """

    input_names = ("x", "target")
    axis: Int64 = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [setup_label_axis(self, inputs)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        p = x[0]
        t = labels(x[1])
        valid = t >= 0
        picked = xp.take_along_axis(p, xp.where(valid, t, 0), axis=self.axis)
        return [xp.where(valid, -xp.log(xp.maximum(picked, _tiny(p.dtype))), 0).astype(p.dtype, copy=False)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        p = x[0]
        t = labels(x[1])
        valid = t >= 0
        index = xp.where(valid, t, 0)
        picked = xp.take_along_axis(p, index, axis=self.axis)
        g = xp.where(valid, -dy[0] / xp.maximum(picked, _tiny(p.dtype)), 0).astype(p.dtype, copy=False)
        dx = xp.zeros(p.shape, dtype=p.dtype)
        xp.put_along_axis(dx, index, g, axis=self.axis)
        return [dx, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        t = x[1]
        g = dy[0] * F.greater_equal_scalar(t, 0.0) * -1.0
        return [g * _one_hot_graph(t, x[0], self.axis) / x[0], None]


@api(CategoricalCrossEntropy)
def categorical_cross_entropy(x: Any, target: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return CategoricalCrossEntropy(len(x.shape) - 1 if axis is None else axis)(x, target, n_outputs=n_outputs, outputs=outputs)


# -- element-wise regression losses (broadcasting as NumPy) --------------------------------------------------------------
class _BinaryLoss(Function):
    input_names = ("x0", "x1")

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [broadcast_shapes(self, inputs[0].shape, inputs[1].shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._grad(xp, x[0] - x[1], dy[0])  # d y / d x0; d y / d x1 is its negative
        return [
            sum_to_shape(g, x[0].shape) if need[0] else None,
            sum_to_shape(-g, x[1].shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        g = self._grad_graph(x[0] - x[1], dy[0])
        return [
            reduce_to(g, x[0]) if need[0] else None,
            reduce_to(g * -1.0, x[1]) if need[1] else None,
        ]

    def _grad(self, xp: Any, d: Any, g: Any) -> Any:
        raise NotImplementedError

    def _grad_graph(self, d: Any, g: Any) -> Any:
        raise NotImplementedError


class SquaredError(_BinaryLoss):
    """``y = (x0 - x1)^2`` element-wise."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        d = x[0] - x[1]
        d *= d
        return [d]

    def _grad(self, xp: Any, d: Any, g: Any) -> Any:
        d *= g  # d is a fresh difference array
        d *= 2
        return d

    def _grad_graph(self, d: Any, g: Any) -> Any:
        return g * d * 2.0


@api(SquaredError)
def squared_error(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return SquaredError()(x0, x1, n_outputs=n_outputs, outputs=outputs)


class AbsoluteError(_BinaryLoss):
    """``y = |x0 - x1|`` element-wise."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.abs(x[0] - x[1])]

    def _grad(self, xp: Any, d: Any, g: Any) -> Any:
        return xp.where(d > 0, g, -g)

    def _grad_graph(self, d: Any, g: Any) -> Any:
        from nnl import functions as F

        return g * (F.greater_scalar(d, 0.0) * 2.0 - 1.0)


@api(AbsoluteError)
def absolute_error(x0: Any, x1: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return AbsoluteError()(x0, x1, n_outputs=n_outputs, outputs=outputs)


class HuberLoss(_BinaryLoss):
    """``y = d^2`` where ``|d| < delta``, else ``delta (2 |d| - delta)``, with ``d = x0 - x1``."""

    delta: Float = 1.0

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        d = xp.abs(x[0] - x[1])
        c = xp.minimum(d, float(self.delta))  # c (2|d| - c): d^2 inside, delta (2|d| - delta) outside
        d *= 2
        d -= c
        d *= c
        return [d]

    def _grad(self, xp: Any, d: Any, g: Any) -> Any:
        delta = float(self.delta)
        c = xp.clip(d, -delta, delta)
        c *= g
        c *= 2
        return c

    def _grad_graph(self, d: Any, g: Any) -> Any:
        from nnl import functions as F

        delta = float(self.delta)
        inside = F.less_scalar(F.abs(d), delta)
        outside_sign = (1.0 - inside) * (F.greater_scalar(d, 0.0) * 2.0 - 1.0)
        return g * (inside * d + outside_sign * delta) * 2.0


@api(HuberLoss)
def huber_loss(x0: Any, x1: Any, delta: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return HuberLoss(delta)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class EpsilonInsensitiveLoss(_BinaryLoss):
    """``y = max(|x0 - x1| - epsilon, 0)`` element-wise."""

    epsilon: Float = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.epsilon is None:
            raise self.fail("epsilon", "a number", None)
        return super().setup_impl(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        d = xp.abs(x[0] - x[1])
        eps = float(self.epsilon)
        return [xp.where(d > eps, d - eps, 0).astype(d.dtype, copy=False)]

    def _grad(self, xp: Any, d: Any, g: Any) -> Any:
        eps = float(self.epsilon)
        return xp.where(d > eps, g, xp.where(d < -eps, -g, 0)).astype(g.dtype, copy=False)

    def _grad_graph(self, d: Any, g: Any) -> Any:
        from nnl import functions as F

        eps = float(self.epsilon)
        return g * (F.greater_scalar(d, eps) - F.less_scalar(d, -eps))


@api(EpsilonInsensitiveLoss)
def epsilon_insensitive_loss(x0: Any, x1: Any, epsilon: float, n_outputs: int = -1, outputs: Any = None) -> Any:
    return EpsilonInsensitiveLoss(epsilon)(x0, x1, n_outputs=n_outputs, outputs=outputs)


# -- KL divergence -----------------------------------------------------------------------------------------------------
class KLMultinomial(Function):
    """``D = sum p (log(p + 1e-8) - log(q + 1e-8))`` over the axes from ``base_axis`` on.

    ``p`` and ``q`` have the same shape; ``D`` has shape ``p.shape[:base_axis] + (1,)``.
    """

    input_names = ("p", "q")
    output_names = ("D",)
    base_axis: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = _same_shape(self, inputs)
        if not shape:
            raise self.fail("p", "an array of at least 1 dimension", "p.shape=()")
        self.base_axis = normalize_axis(self, int(self.base_axis), len(shape), "base_axis")
        return [shape[: self.base_axis] + (1,)]

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(self.base_axis, ndim))

    def _expand(self, g: Any, ndim: int) -> Any:
        return g.reshape(g.shape[: self.base_axis] + (1,) * (ndim - self.base_axis))

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        p, q = x[0], x[1]
        terms = p * (xp.log(p + 1e-8) - xp.log(q + 1e-8))
        d = terms.sum(axis=self._axes(p.ndim))
        return [d.reshape(d.shape + (1,))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        p, q = x[0], x[1]
        g = self._expand(dy[0], p.ndim)
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = g * (xp.log(p + 1e-8) - xp.log(q + 1e-8) + 1)
        if need[1]:
            grads[1] = -g * p / q
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        p, q = x[0], x[1]
        shape = tuple(p.shape)
        g = F.reshape(dy[0], shape[: self.base_axis] + (1,) * (len(shape) - self.base_axis), inplace=False)
        g = F.broadcast(g, shape)
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = g * (F.log(p + 1e-8) - F.log(q + 1e-8) + 1.0)
        if need[1]:
            grads[1] = g * p / q * -1.0
        return grads


@api(KLMultinomial)
def kl_multinomial(p: Any, q: Any, base_axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return KLMultinomial(base_axis)(p, q, n_outputs=n_outputs, outputs=outputs)
