"""Explicit gradient rules (no autograd) for the cheapest and most frequent functions, where autograd's per-call cost
would exceed the arithmetic. Each reads only the buffers its function's ``grad_depends_*`` flags declare."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch


def sum_to_shape(g: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Undo broadcasting: sum ``g`` over the axes where ``shape`` has 1 (or that it lacks)."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = list(range(lead)) + [lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1]
    return g.sum(dim=axes, keepdim=True).reshape(shape) if axes else g.reshape(shape)


def _data(fn: Any, nd: Any) -> torch.Tensor:
    return fn._fetch(nd)


def passthrough(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    """y = x + constant (AddScalar, Identity) or a reshape of x: dx = dy in x's shape (a new array)."""
    return [dy[0].reshape(x[0].shape).clone() if need[0] else None]


def scaled(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    return [dy[0] * float(fn.val) if need[0] else None]


def add2(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    g = dy[0]
    return [sum_to_shape(g, x[i].shape).clone() if need[i] else None for i in range(2)]


def sub2(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    g = dy[0]
    return [sum_to_shape(g, x[0].shape).clone() if need[0] else None, sum_to_shape(-g, x[1].shape) if need[1] else None]


def mul2(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    a, b = _data(fn, x[0]), _data(fn, x[1])
    g = dy[0]
    return [sum_to_shape(g * b, x[0].shape) if need[0] else None, sum_to_shape(g * a, x[1].shape) if need[1] else None]


def relu(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    return [torch.ops.aten.threshold_backward(dy[0], _data(fn, y[0]), 0) if need[0] else None]


def tanh(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    return [torch.ops.aten.tanh_backward(dy[0], _data(fn, y[0])) if need[0] else None]


def sigmoid(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    return [torch.ops.aten.sigmoid_backward(dy[0], _data(fn, y[0])) if need[0] else None]


def reduced_axes(fn: Any, ndim: int) -> list[int]:
    """The axes a reduction's ``axes`` argument names (None: every axis), non-negative, sorted, unique."""
    return list(range(ndim)) if fn.axes is None else sorted({int(a) % max(ndim, 1) for a in fn.axes})


def straight_through(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """``value`` forward; backward, the gradient of ``surrogate`` (a straight-through estimator for autograd)."""
    return surrogate + (value - surrogate).detach()


def _expand_reduced(fn: Any, g: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    axes = reduced_axes(fn, len(shape))
    if not fn.keep_dims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g.expand(tuple(shape))


def sum_(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    return [_expand_reduced(fn, dy[0], x[0].shape).contiguous() if need[0] else None]


def mean(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    if not need[0]:
        return [None]
    shape = x[0].shape
    count = math.prod(shape[a] for a in reduced_axes(fn, len(shape))) if shape else 1
    return [(_expand_reduced(fn, dy[0], shape) / count).contiguous()]


def affine(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    data, weight = _data(fn, x[0]), _data(fn, x[1])
    rows = math.prod(data.shape[: fn.base_axis])
    g = dy[0].reshape(rows, -1).to(data.dtype)
    w = weight.reshape(weight.shape[0], -1)
    grads: list[Any] = [None] * len(x)
    if need[0]:
        grads[0] = (g @ w.t()).reshape(data.shape)
    if need[1]:
        grads[1] = (data.reshape(rows, -1).t() @ g).reshape(weight.shape)
    if len(x) > 2 and need[2]:
        grads[2] = g.sum(0).reshape(x[2].shape)
    return grads


def convolution(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> Any:
    """Channel-first convolutions (1-3 spatial axes) through aten's fused convolution backward."""
    data, weight = _data(fn, x[0]), _data(fn, x[1])
    spatial = data.ndim - fn.base_axis - 1
    if fn.channel_last or not 1 <= spatial <= 3:
        return NotImplemented
    batch = math.prod(data.shape[: fn.base_axis])
    g = dy[0].reshape(batch, *dy[0].shape[fn.base_axis :]).to(data.dtype)
    has_bias = len(x) > 2
    gx, gw, gb = torch.ops.aten.convolution_backward(
        g, data.reshape(batch, *data.shape[fn.base_axis :]), weight, [weight.shape[0]] if has_bias else None,
        list(fn.stride), list(fn.pad), list(fn.dilation), False, [0] * spatial, int(fn.group),
        [bool(need[0]), bool(need[1]), has_bias and bool(need[2])],
    )
    grads: list[Any] = [gx.reshape(data.shape) if need[0] else None, gw if need[1] else None]
    if has_bias:
        grads.append(gb.reshape(x[2].shape) if need[2] else None)
    return grads


def softmax_cross_entropy(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> list[Any]:
    """d/dx = (softmax(x) - onehot(t)) dy, zero where the label is negative (ignored)."""
    if not need[0]:
        return [None, None]
    logits, labels = _data(fn, x[0]), _data(fn, x[1]).long()
    axis = int(fn.axis)
    valid = labels >= 0
    g = torch.softmax(logits, axis)
    g.scatter_add_(axis, torch.where(valid, labels, 0), -valid.to(g.dtype))
    return [g * (dy[0] * valid).to(g.dtype), None]


def max_pooling(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> Any:
    """2-D max pooling: the gradient goes to the argmax the forward kept (other dimensions: autograd)."""
    from nnl.backends.torch.k_neural_network import _pool_input, _pool_output

    indices = fn.__dict__.get("_pool_indices")
    if not need[0]:
        return [None]
    if len(fn.kernel) != 2 or indices is None:
        return NotImplemented
    data, lead = _pool_input(fn, _data(fn, x[0]))
    g, _ = _pool_input(fn, dy[0].to(data.dtype))
    if tuple(indices.shape) != tuple(g.shape):
        return NotImplemented
    gx = torch.ops.aten.max_pool2d_with_indices_backward(
        g, data, list(fn.kernel), list(fn.stride), list(fn.pad), [1, 1], False, indices
    )
    return [_pool_output(fn, gx, lead)]


def batch_normalization(fn: Any, x: list[Any], y: list[Any], dy: list[torch.Tensor], need: Sequence[bool]) -> Any:
    """Training-mode batch normalization over one channel axis, from the statistics the forward kept."""
    saved = fn.__dict__.get("_bn_saved")
    if saved is None or not fn.batch_stat or fn.n_out != 1:
        return NotImplemented
    mean, invstd, dtype = saved
    data = _data(fn, x[0]).to(dtype)  # the precision the forward computed in (parameters stay float32)
    axis = int(fn.axes[0])
    moved = data.movedim(axis, 1) if axis != 1 else data
    g = dy[0].to(data.dtype)
    g = g.movedim(axis, 1) if axis != 1 else g
    beta_index = None if fn.no_bias else 1
    gamma_index = None if fn.no_scale else (1 if fn.no_bias else 2)
    channels = moved.shape[1]
    weight = _data(fn, x[gamma_index]).float().reshape(channels) if gamma_index is not None else None
    mask = [bool(need[0]), gamma_index is not None and bool(need[gamma_index]),
            beta_index is not None and bool(need[beta_index])]
    gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
        g, moved, weight, None, None, mean, invstd, True, float(fn.eps), mask
    )
    grads: list[Any] = [None] * len(x)
    if need[0]:
        grads[0] = gx.movedim(1, axis) if axis != 1 else gx
    if gamma_index is not None and need[gamma_index]:
        grads[gamma_index] = gw.reshape(x[gamma_index].shape)
    if beta_index is not None and need[beta_index]:
        grads[beta_index] = gb.reshape(x[beta_index].shape)
    return grads
