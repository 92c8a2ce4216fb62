"""Torch kernels: losses (computed in float32 under the half type configs, as autocast does)."""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import kernel


def _labels(t: torch.Tensor) -> torch.Tensor:
    return t.long()  # float labels truncate toward zero, like nnabla's cast to int


def _targets(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(like.dtype) if not t.is_floating_point() else torch.trunc(t).to(like.dtype)


@kernel("SoftmaxCrossEntropy", half=False, backward=rules.softmax_cross_entropy)
def softmax_cross_entropy(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x, t = xs[0], _labels(xs[1])
    axis = int(fn.axis)
    valid = t >= 0
    picked = torch.gather(x, axis, torch.where(valid, t, 0))
    loss = torch.logsumexp(x, axis, keepdim=True) - picked
    return torch.where(valid, loss, 0.0)


@kernel("CategoricalCrossEntropy", half=False)
def categorical_cross_entropy(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    p, t = xs[0], _labels(xs[1])
    axis = int(fn.axis)
    valid = t >= 0
    picked = torch.gather(p, axis, torch.where(valid, t, 0))
    return torch.where(valid, -torch.log(torch.clamp(picked, min=torch.finfo(p.dtype).tiny)), 0.0)


@kernel("SigmoidCrossEntropy", half=False)
def sigmoid_cross_entropy(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x, t = xs[0], _targets(xs[1], xs[0])
    return torch.clamp(x, min=0) - x * t + torch.log1p(torch.exp(-torch.abs(x)))


@kernel("BinaryCrossEntropy", half=False)
def binary_cross_entropy(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    p, t = xs
    tiny = torch.finfo(p.dtype).tiny
    return -(t * torch.log(torch.clamp(p, min=tiny)) + (1 - t) * torch.log(torch.clamp(1 - p, min=tiny)))


@kernel("SquaredError", half=False)
def squared_error(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    d = xs[0] - xs[1]
    return d * d


@kernel("AbsoluteError", half=False)
def absolute_error(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.abs(xs[0] - xs[1])


@kernel("HuberLoss", half=False)
def huber_loss(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    d = torch.abs(xs[0] - xs[1])
    c = torch.clamp(d, max=float(fn.delta))
    return c * (2 * d - c)  # d^2 inside delta, delta (2|d| - delta) outside


@kernel("EpsilonInsensitiveLoss", half=False)
def epsilon_insensitive_loss(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    d = torch.abs(xs[0] - xs[1])
    return torch.clamp(d - float(fn.epsilon), min=0)


@kernel("KLMultinomial", half=False)
def kl_multinomial(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    p, q = xs
    terms = p * (torch.log(p + 1e-8) - torch.log(q + 1e-8))
    d = terms.sum(dim=list(range(int(fn.base_axis), p.ndim)))
    return d.reshape(*d.shape, 1)
