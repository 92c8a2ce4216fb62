"""Torch kernels: reductions."""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import Unsupported, kernel


@kernel("Sum", half=False, backward=rules.sum_)
def sum_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    axes = rules.reduced_axes(fn, x.ndim)
    return x.sum(dim=axes, keepdim=bool(fn.keep_dims)) if axes else x.clone()


@kernel("Mean", half=False, backward=rules.mean)
def mean(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    axes = rules.reduced_axes(fn, x.ndim)
    return x.mean(dim=axes, keepdim=bool(fn.keep_dims)) if axes else x.clone()


def _extreme(fn: Any, x: torch.Tensor, op: Any) -> torch.Tensor:
    if fn.with_index or fn.only_index:
        raise Unsupported("with_index/only_index")
    axes = rules.reduced_axes(fn, x.ndim)
    return op(x, dim=axes, keepdim=bool(fn.keep_dims)) if axes else x.clone()


@kernel("Max")
def max_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _extreme(fn, xs[0], torch.amax)


@kernel("Min")
def min_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _extreme(fn, xs[0], torch.amin)
