"""Torch kernels: activation functions."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as TF

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import kernel


@kernel("ReLU", backward=rules.relu)
def relu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.relu(xs[0])


@kernel("LeakyReLU")
def leaky_relu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.leaky_relu(xs[0], float(fn.alpha))


@kernel("Sigmoid", backward=rules.sigmoid)
def sigmoid(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.sigmoid(xs[0])


@kernel("Tanh", backward=rules.tanh)
def tanh(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.tanh(xs[0])


@kernel("ELU")
def elu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.elu(xs[0], float(fn.alpha))


@kernel("SELU")
def selu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    return float(fn.scale) * torch.where(x > 0, x, float(fn.alpha) * torch.expm1(x))


@kernel("Softmax", half=False)
def softmax(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.softmax(xs[0], int(fn.axis))


@kernel("LogSoftmax", half=False)
def log_softmax(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.log_softmax(xs[0], int(fn.axis))


@kernel("Swish")
def swish(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.silu(xs[0])


@kernel("GELU")
def gelu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.gelu(xs[0], approximate="tanh")


@kernel("ReLU6")
def relu6(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.relu6(xs[0])


@kernel("HardTanh")
def hard_tanh(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.hardtanh(xs[0])


@kernel("Mish")
def mish(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.mish(xs[0])


@kernel("PReLU")
def prelu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x, slope = xs
    if slope.numel() > 1:
        axis = int(fn.base_axis) % x.ndim
        slope = slope.reshape(*([1] * axis), -1, *([1] * (x.ndim - axis - 1)))
    return torch.where(x >= 0, x, x * slope)
