"""Torch kernels: affine, the convolution family, pooling, embedding, batched matmul and dropout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import Unsupported, kernel

_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}
_DECONV = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d}
_MAX_POOL = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}
_AVG_POOL = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, base_axis: int) -> torch.Tensor:
    batch = x.shape[:base_axis]
    rows, weight = x.reshape(math.prod(batch), w.shape[0]), w.reshape(w.shape[0], -1)
    y = torch.addmm(b.reshape(1, -1), rows, weight) if b is not None else rows @ weight
    return y.reshape(*batch, *w.shape[1:])


@kernel("Affine", backward=rules.affine)
def affine(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _affine(xs[0], xs[1], xs[2] if len(xs) > 2 else None, fn.base_axis)


def _to_channel_first(x: torch.Tensor, base_axis: int, channel_last: bool) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(batch..., C, *S) or (batch..., *S, C) -> (B, C, *S), and the batch shape to restore."""
    batch = tuple(x.shape[:base_axis])
    x = x.reshape(math.prod(batch), *x.shape[base_axis:])
    if channel_last:
        x = x.movedim(-1, 1)
    return x, batch


def _from_channel_first(y: torch.Tensor, batch: tuple[int, ...], channel_last: bool) -> torch.Tensor:
    if channel_last:
        y = y.movedim(1, -1)
    return y.reshape(*batch, *y.shape[1:])


def _spatial(fn: Any, n: int) -> None:
    if n not in _CONV:
        raise Unsupported(f"{n}-D convolution")


def _conv(fn: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, group: int, channel_last: bool) -> torch.Tensor:
    x, batch = _to_channel_first(x, fn.base_axis, channel_last)
    n = x.ndim - 2
    _spatial(fn, n)
    if channel_last:
        w = w.movedim(-1, 1)
    y = _CONV[n](x, w, b, tuple(fn.stride), tuple(fn.pad), tuple(fn.dilation), group)
    return _from_channel_first(y, batch, channel_last)


@kernel("Convolution", backward=rules.convolution)
def convolution(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _conv(fn, xs[0], xs[1], xs[2] if len(xs) > 2 else None, fn.group, bool(fn.channel_last))


@kernel("DepthwiseConvolution")
def depthwise_convolution(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    w = xs[1].unsqueeze(1)  # (C * multiplier, 1, *K): a grouped convolution with one group per channel
    channels = xs[0].shape[fn.base_axis]
    return _conv(fn, xs[0], w, xs[2] if len(xs) > 2 else None, channels, False)


def _deconv(fn: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, group: int, channel_last: bool, output_padding: Any) -> torch.Tensor:
    x, batch = _to_channel_first(x, fn.base_axis, channel_last)
    n = x.ndim - 2
    _spatial(fn, n)
    if channel_last:
        w = w.movedim(-1, 1)
    y = _DECONV[n](x, w, b, tuple(fn.stride), tuple(fn.pad), tuple(output_padding), group, tuple(fn.dilation))
    return _from_channel_first(y, batch, channel_last)


@kernel("Deconvolution")
def deconvolution(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _deconv(fn, xs[0], xs[1], xs[2] if len(xs) > 2 else None, fn.group, bool(fn.channel_last), fn.output_padding)


@kernel("DepthwiseDeconvolution")
def depthwise_deconvolution(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    channels = xs[0].shape[fn.base_axis]
    groups = channels // fn.divisor
    w = xs[1].unsqueeze(1)  # (C, 1, *K): group g maps its `divisor` channels onto output channel g
    n = xs[1].ndim - 1
    return _deconv(fn, xs[0], w, xs[2] if len(xs) > 2 else None, groups, False, (0,) * n)


def _pool_input(fn: Any, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """x with the pooled axes last, flattened to (B, C=1, *pooled), and the leading shape."""
    n = len(fn.kernel)
    if n not in _MAX_POOL:
        raise Unsupported(f"{n}-D pooling")
    if fn.channel_last:
        x = x.movedim(-1, -n - 1)
    lead = tuple(x.shape[:-n])
    return x.reshape(math.prod(lead), 1, *x.shape[-n:]), lead


def _pool_output(fn: Any, y: torch.Tensor, lead: tuple[int, ...]) -> torch.Tensor:
    n = len(fn.kernel)
    y = y.reshape(*lead, *y.shape[-n:])
    return y.movedim(-n - 1, -1) if fn.channel_last else y


def _check_pool(fn: Any) -> None:
    if not fn.ignore_border or any(2 * p > k for p, k in zip(fn.pad, fn.kernel)):
        raise Unsupported("pooling with ignore_border=False or pad larger than half the kernel")


@kernel("MaxPooling", backward=rules.max_pooling)
def max_pooling(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    _check_pool(fn)
    x, lead = _pool_input(fn, xs[0])
    if len(fn.kernel) == 2 and not torch.is_grad_enabled():  # keep the argmax for the explicit backward rule
        y, fn._pool_indices = TF.max_pool2d(x, tuple(fn.kernel), tuple(fn.stride), tuple(fn.pad), return_indices=True)
    else:
        y = _MAX_POOL[len(fn.kernel)](x, tuple(fn.kernel), tuple(fn.stride), tuple(fn.pad))
    return _pool_output(fn, y, lead)


@kernel("AveragePooling")
def average_pooling(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    _check_pool(fn)
    x, lead = _pool_input(fn, xs[0])
    y = _AVG_POOL[len(fn.kernel)](x, tuple(fn.kernel), tuple(fn.stride), tuple(fn.pad), False, bool(fn.including_pad))
    return _pool_output(fn, y, lead)


@kernel("SumPooling")
def sum_pooling(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    _check_pool(fn)
    x, lead = _pool_input(fn, xs[0])
    y = _AVG_POOL[len(fn.kernel)](x, tuple(fn.kernel), tuple(fn.stride), tuple(fn.pad), False, True)
    return _pool_output(fn, y * math.prod(fn.kernel), lead)


@kernel("GlobalAveragePooling")
def global_average_pooling(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    return x.reshape(*x.shape[:2], -1).mean(-1).reshape(*x.shape[:2], 1, 1)


@kernel("Unpooling")
def unpooling(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    n = len(fn.kernel)
    if fn.channel_last:
        x = x.movedim(-1, -n - 1)
    for axis, k in zip(range(x.ndim - n, x.ndim), fn.kernel):
        x = x.repeat_interleave(int(k), dim=axis)
    return x.movedim(-n - 1, -1) if fn.channel_last else x


@kernel("Embed")
def embed(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[1][xs[0].long()]


@kernel("BatchMatmul")
def batch_matmul(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    a, b = xs
    if fn.transpose_a:
        a = a.transpose(-1, -2)
    if fn.transpose_b:
        b = b.transpose(-1, -2)
    return a @ b


@kernel("Dropout")
def dropout(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    """The mask is drawn by the reference's generator, so a seed gives the same masks on every backend."""
    x = xs[0]
    mask = fn.__dict__.get("_mask")
    if not getattr(fn, "_replaying", False) or mask is None or mask.shape != tuple(x.shape):
        mask = fn.forward_impl(np, [np.ones(tuple(x.shape), np.float32)])[0]  # draws and keeps fn._mask
    return x * torch.from_numpy(mask).to(device=x.device, dtype=x.dtype)
