"""Torch kernels: elementwise math."""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import kernel


@kernel("Exp", half=False)
def exp(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.exp(xs[0])


@kernel("Log", half=False)
def log(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.log(xs[0])


@kernel("Abs")
def abs_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.abs(xs[0])


@kernel("Sin")
def sin(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.sin(xs[0])


@kernel("Cos")
def cos(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.cos(xs[0])


@kernel("Identity", backward=rules.passthrough)
def identity(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0].clone()
