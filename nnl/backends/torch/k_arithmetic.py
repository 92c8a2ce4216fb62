"""Torch kernels: elementwise arithmetic (two inputs with broadcasting, scalar forms, N inputs)."""

from __future__ import annotations

from typing import Any

import torch

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import kernel


@kernel("Add2", backward=rules.add2)
def add2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] + xs[1]


@kernel("Sub2", backward=rules.sub2)
def sub2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] - xs[1]


@kernel("Mul2", backward=rules.mul2)
def mul2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] * xs[1]


@kernel("Div2")
def div2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] / xs[1]


@kernel("Pow2", half=False)
def pow2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.pow(xs[0], xs[1])


@kernel("Maximum2")
def maximum2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.maximum(xs[0], xs[1])


@kernel("Minimum2")
def minimum2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.minimum(xs[0], xs[1])


@kernel("AddN")
def add_n(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    total = xs[0] + xs[1] if len(xs) > 1 else xs[0] * 1.0
    for x in xs[2:]:
        total = total + x
    return total


@kernel("MulN")
def mul_n(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    total = xs[0] * xs[1] if len(xs) > 1 else xs[0] * 1.0
    for x in xs[2:]:
        total = total * x
    return total


@kernel("AddScalar", backward=rules.passthrough)
def add_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] + float(fn.val)


@kernel("MulScalar", backward=rules.scaled)
def mul_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] * float(fn.val)


@kernel("RSubScalar")
def r_sub_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return float(fn.val) - xs[0]


@kernel("RDivScalar")
def r_div_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return float(fn.val) / xs[0]


@kernel("PowScalar", half=False)
def pow_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.pow(xs[0], float(fn.val))


@kernel("RPowScalar", half=False)
def r_pow_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.pow(float(fn.val), xs[0])


@kernel("MaximumScalar")
def maximum_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.clamp(xs[0], min=float(fn.val))


@kernel("MinimumScalar")
def minimum_scalar(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.clamp(xs[0], max=float(fn.val))
