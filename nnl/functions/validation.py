"""Validation: error rates and the confusion matrix (no gradients flow through them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Function, Int64
from nnl.functions._classification import labels, setup_label_axis
from nnl.functions.registry import api


class _Metric(Function):
    input_names = ("x", "target")
    output_names = ("output",)
    grad_depends_input = False

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None, None]


class TopNError(_Metric):
    """1 where the target class is not among the ``n`` highest scores along ``axis``, else 0.

    Ties count against the target: the error is ``(number of scores >= the target's score) > n``.
    """

    axis: Int64 = None
    n: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = setup_label_axis(self, inputs)
        if int(self.n) < 1:
            raise self.fail("n", "n >= 1", self.n)
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        scores = x[0]
        threshold = xp.take_along_axis(scores, labels(x[1]), axis=self.axis)
        count = (scores >= threshold).sum(axis=self.axis, keepdims=True)
        dtype = scores.dtype if scores.dtype.kind == "f" else np.float32
        return [(count > int(self.n)).astype(dtype)]


@api(TopNError)
def top_n_error(x: Any, target: Any, axis: Any = None, n: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return TopNError(len(x.shape) - 1 if axis is None else axis, n)(x, target, n_outputs=n_outputs, outputs=outputs)


class BinaryError(_Metric):
    """1 where ``x >= 0.5`` and ``target >= 0.5`` disagree, else 0 (element-wise)."""

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        a, b = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if a != b:
            raise self.fail("target", f"target.shape == x.shape ({a})", f"target.shape={b}")
        return [a]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dtype = x[0].dtype if x[0].dtype.kind == "f" else np.float32
        return [((x[0] >= 0.5) != (x[1] >= 0.5)).astype(dtype)]


@api(BinaryError)
def binary_error(x: Any, target: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BinaryError()(x, target, n_outputs=n_outputs, outputs=outputs)


class ConfusionMatrix(_Metric):
    """Counts of (target class, predicted class) pairs, predicted = first arg-max along ``axis``.

    The output is an integer ``(C, C)`` matrix, rows indexed by the target, columns by the prediction.
    """

    axis: Int64 = None

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        setup_label_axis(self, inputs)
        n = inputs[0].shape[self.axis]
        return [(n, n)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        scores = x[0]
        n = scores.shape[self.axis]
        predicted = xp.argmax(scores, axis=self.axis).reshape(-1)
        target = labels(x[1]).reshape(-1)
        if target.size and (target.min() < 0 or target.max() >= n):
            raise IndexError(f"ConfusionMatrix: target labels must be in [0, {n}), got {target.min()}..{target.max()}.")
        counts = xp.bincount(target * n + predicted, minlength=n * n)
        return [counts.reshape(n, n).astype(np.int32)]


@api(ConfusionMatrix)
def confusion_matrix(x: Any, target: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ConfusionMatrix(len(x.shape) - 1 if axis is None else axis)(x, target, n_outputs=n_outputs, outputs=outputs)
