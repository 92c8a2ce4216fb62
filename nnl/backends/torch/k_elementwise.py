"""Torch kernels: more element-wise math and activations, comparisons and logical functions, cumulative and
triangular operations. Comparisons and logical functions give 0/1 in the input's floating type, as nnabla does."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as TF

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import kernel

_UNARY = {
    "ACos": torch.acos,
    "ACosh": torch.acosh,
    "ASin": torch.asin,
    "ASinh": torch.asinh,
    "ATan": torch.atan,
    "ATanh": torch.atanh,
    "Cosh": torch.cosh,
    "Sinh": torch.sinh,
    "Tan": torch.tan,
    "Erf": torch.erf,
    "SoftSign": TF.softsign,
    "LogSigmoid": TF.logsigmoid,
    "HardSigmoid": lambda x: torch.clamp(x * 0.2 + 0.5, 0.0, 1.0),
    "TanhShrink": lambda x: x - torch.tanh(x),
}


def _unary(name: str) -> None:
    operation = _UNARY[name]
    kernel(name, half=name not in ("Erf", "LogSigmoid", "Cosh", "Sinh"))(lambda fn, xs: operation(xs[0]))


for _name in _UNARY:
    _unary(_name)


@kernel("ATan2")
def atan2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.atan2(xs[0], xs[1])


@kernel("SoftPlus", half=False)
def softplus(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return TF.softplus(xs[0], beta=float(fn.beta), threshold=20.0)  # beyond 20, x itself is exact in float32


@kernel("CELU")
def celu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x, alpha = xs[0], float(fn.alpha)
    return torch.cat([TF.elu(x, alpha), TF.elu(-x, alpha)], int(fn.axis))


@kernel("Round", half=False)  # rounding is discontinuous: decide on the float32 value
def round_(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    whole = torch.trunc(x)  # halves away from zero, exactly (floor(|x| + 0.5) rounds 0.49999997 up in float32)
    return rules.straight_through(whole + torch.sign(x) * (torch.abs(x - whole) >= 0.5).to(x.dtype), x)


@kernel("Ceil", half=False)
def ceil(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return rules.straight_through(torch.ceil(xs[0]), xs[0])


@kernel("Floor", half=False)
def floor(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return rules.straight_through(torch.floor(xs[0]), xs[0])


@kernel("Sign", half=False)
def sign(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    value = torch.where(x > 0, 1.0, torch.where(x < 0, -1.0, float(fn.alpha))).to(x.dtype)
    return rules.straight_through(value, x)


def _as_float(condition: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return condition.to(like.dtype if like.is_floating_point() else torch.float32)


_COMPARE = {
    "Equal": torch.eq,
    "NotEqual": torch.ne,
    "Greater": torch.gt,
    "GreaterEqual": torch.ge,
    "Less": torch.lt,
    "LessEqual": torch.le,
}
_LOGICAL = {"LogicalAnd": torch.logical_and, "LogicalOr": torch.logical_or, "LogicalXor": torch.logical_xor}


def _binary(name: str, operation: Any) -> None:
    kernel(name)(lambda fn, xs: _as_float(operation(xs[0], xs[1]), xs[0]))
    scalar = name + "Scalar"
    kernel(scalar)(lambda fn, xs: _as_float(operation(xs[0], torch.tensor(float(fn.val), dtype=xs[0].dtype, device=xs[0].device)), xs[0]))


for _name, _operation in {**_COMPARE, **_LOGICAL}.items():
    _binary(_name, _operation)


@kernel("LogicalNot")
def logical_not(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _as_float(torch.logical_not(xs[0]), xs[0])


@kernel("IsNaN")
def is_nan(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _as_float(torch.isnan(xs[0]), xs[0])


@kernel("IsInf")
def is_inf(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _as_float(torch.isinf(xs[0]), xs[0])


@kernel("ResetNaN")
def reset_nan(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.where(torch.isnan(xs[0]), float(fn.val), xs[0])


@kernel("ResetInf")
def reset_inf(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.where(torch.isinf(xs[0]), float(fn.val), xs[0])


@kernel("Where")
def where(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.where(xs[0].reshape(fn._cshape) != 0, xs[1], xs[2])  # a condition on the leading axes


@kernel("BcAdd2")
def bc_add2(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return xs[0] + xs[1]


@kernel("Prod", half=False)
def prod(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    for axis in reversed(rules.reduced_axes(fn, x.ndim)):
        x = torch.prod(x, axis, keepdim=bool(fn.keep_dims))
    return x


def _cumulative(fn: Any, x: torch.Tensor, operation: Any, identity: float) -> torch.Tensor:
    axis = int(fn.axis) % x.ndim
    if fn.reverse:
        x = x.flip(axis)
    if fn.exclusive:  # shift by one: the first element becomes the identity
        head = torch.full_like(x.narrow(axis, 0, 1), identity)
        x = torch.cat([head, x.narrow(axis, 0, x.shape[axis] - 1)], axis)
    y = operation(x, axis)
    return y.flip(axis) if fn.reverse else y


@kernel("CumSum", half=False)
def cumsum(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _cumulative(fn, xs[0], torch.cumsum, 0.0)


@kernel("CumProd", half=False)
def cumprod(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return _cumulative(fn, xs[0], torch.cumprod, 1.0)


@kernel("Trilu")
def trilu(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.triu(xs[0], int(fn.k)) if fn.upper else torch.tril(xs[0], int(fn.k))


@kernel("MatrixDiagPart")
def matrix_diag_part(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.diagonal(xs[0], dim1=-2, dim2=-1).clone()


@kernel("MatrixDiag")
def matrix_diag(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    return torch.diag_embed(xs[0])


@kernel("Norm", half=False)
def norm(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    x = xs[0]
    axes = rules.reduced_axes(fn, x.ndim)
    p = float(fn.p)
    if not axes:  # torch reads an empty dim list as every axis
        return torch.abs(x)
    return torch.sum(torch.abs(x) ** p, dim=axes, keepdim=bool(fn.keep_dims)) ** (1.0 / p)
