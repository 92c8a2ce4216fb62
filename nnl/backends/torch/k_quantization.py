"""Torch kernels: binary activations and layers, fixed-point quantization (straight-through gradients)."""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch import rules
from nnl.backends.torch.k_neural_network import _affine, _conv
from nnl.backends.torch.kernel import kernel


def _inside(x: torch.Tensor) -> torch.Tensor:
    """x where |x| < 1 (gradient 1 there), a constant elsewhere (gradient 0)."""
    return torch.where(torch.abs(x) < 1, x, x.detach())


@kernel("BinaryTanh")
def binary_tanh(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    return rules.straight_through(torch.where(x > 0, 1.0, -1.0).to(x.dtype), _inside(x))


@kernel("BinarySigmoid")
def binary_sigmoid(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    return rules.straight_through(torch.where(x > 0, 1.0, 0.0).to(x.dtype), 0.5 * _inside(x))


def _binary_connect_weight(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    """sign(weight) (zero -> quantize_zero_to), written into the binary_weight input as nnabla does, with the
    gradient passed straight to weight."""
    w = xs[1]
    binary = torch.where(w > 0, 1.0, torch.where(w < 0, -1.0, float(fn.quantize_zero_to))).to(w.dtype).detach()
    if xs[2].shape == binary.shape:
        with torch.no_grad():
            xs[2].copy_(binary)
    return rules.straight_through(binary, w)


@kernel("BinaryConnectAffine")
def binary_connect_affine(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _affine(xs[0], _binary_connect_weight(fn, xs), xs[3] if len(xs) > 3 else None, fn.base_axis)


@kernel("BinaryConnectConvolution")
def binary_connect_convolution(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _conv(fn, xs[0], _binary_connect_weight(fn, xs), xs[3] if len(xs) > 3 else None, fn.group, False)


@kernel("FixedPointQuantize")
def fixed_point_quantize(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    delta = float(fn.delta)
    high = float(fn._max)
    low = -high if fn.sign else 0.0
    q = torch.floor(torch.abs(x) / delta + 0.5) * delta
    q = torch.clamp(torch.where(x < 0, -q, q), low, high)
    surrogate = torch.where((x > high) | (x < low), x.detach(), x) if fn.ste_fine_grained else x
    return rules.straight_through(q, surrogate)
