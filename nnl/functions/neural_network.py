"""Neural Network Layer: affine and (later in this module) the convolution family and embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Function, Int64
from nnl.functions.registry import api


class Affine(Function):
    """Fully connected layer: ``y = x W + b`` with ``x`` flattened from ``base_axis`` on.

    ``weight`` has shape ``(in_features, *out_shape)``; ``bias`` (optional) has shape ``out_shape``.
    """

    input_names = ("x", "weight", "bias?")
    base_axis: Int64 = 1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x, w = inputs[0], inputs[1]
        if not 0 <= self.base_axis < max(len(x.shape), 1):
            raise self.fail("base_axis", f"an axis of x (x.shape={x.shape})", self.base_axis)
        if len(w.shape) < 2:
            raise self.fail("weight", "a weight of at least 2 dimensions (in_features, *out_shape)", f"weight.shape={w.shape}")
        in_features = int(np.prod(x.shape[self.base_axis :], dtype=np.int64))
        if in_features != w.shape[0]:
            raise self.fail(
                "weight",
                f"weight.shape[0] == {in_features}",
                f"weight.shape={w.shape}",
                f"x.shape={x.shape} with base_axis={self.base_axis} gives {in_features} input features, "
                f"but weight.shape={w.shape} expects {w.shape[0]}.",
            )
        out_shape = tuple(w.shape[1:])
        if len(inputs) > 2 and tuple(inputs[2].shape) != out_shape:
            raise self.fail("bias", f"bias.shape == {out_shape} (weight.shape[1:])", f"bias.shape={inputs[2].shape}")
        return [tuple(x.shape[: self.base_axis]) + out_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, w = x[0], x[1]
        batch = data.shape[: self.base_axis]
        y = data.reshape(int(np.prod(batch, dtype=np.int64)), w.shape[0]) @ w.reshape(w.shape[0], -1)
        if len(x) > 2:
            y += x[2].reshape(1, -1)
        return [y.reshape(batch + w.shape[1:])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data, w = x[0], x[1]
        rows = int(np.prod(data.shape[: self.base_axis], dtype=np.int64))
        g = dy[0].reshape(rows, -1)
        w2 = w.reshape(w.shape[0], -1)
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = (g @ w2.T).reshape(data.shape)
        if need[1]:
            grads[1] = (data.reshape(rows, -1).T @ g).reshape(w.shape)
        if len(x) > 2 and need[2]:
            grads[2] = g.sum(axis=0).reshape(x[2].shape)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        data, w = x[0], x[1]
        rows = int(np.prod(data.shape[: self.base_axis], dtype=np.int64))
        g = F.reshape(dy[0], (rows, -1))
        w2 = F.reshape(w, (w.shape[0], -1))
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = F.reshape(F.batch_matmul(g, w2, transpose_b=True), data.shape)
        if need[1]:
            grads[1] = F.reshape(F.batch_matmul(F.reshape(data, (rows, -1)), g, transpose_a=True), w.shape)
        if len(x) > 2 and need[2]:
            grads[2] = F.reshape(F.sum(g, axis=0), x[2].shape)
        return grads


@api(Affine)
def affine(x: Any, weight: Any, bias: Any = None, base_axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Affine(base_axis)(*inputs, n_outputs=n_outputs, outputs=outputs)
