"""Solver updates on torch tensors: every parameter of a solver in one multi-tensor (``torch._foreach_*``) pass.

The formulas are the NumPy solvers' (nnabla's), element for element; parameters, gradients and states stay where they
live (host memory shared with NumPy on the CPU, the GPU for cuda/cudnn), so a training step has no host round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from nnl.backends.torch.kernel import _cached_fetcher, device_of
from nnl.core.context import Context

Update = Callable[[Any, list[str]], None]


def _buffers(solver: Any, keys: list[str], *state_names: str) -> list[list[torch.Tensor]]:
    fetch = _cached_fetcher(solver._device, "float")
    params = [solver._params[k] for k in keys]
    lists = [[fetch(p.data) for p in params], [fetch(p.grad) for p in params]]
    for name in state_names:
        lists.append([fetch(solver._states[k].pstate[name].data) for k in keys])
    return lists


Scalar = float | torch.Tensor  # a 0-d device tensor where a captured CUDA graph must read the current value


def sgd_step(w: list[torch.Tensor], g: list[torch.Tensor], lr: Scalar) -> None:
    """w -= lr g."""
    if isinstance(lr, torch.Tensor):
        torch._foreach_sub_(w, torch._foreach_mul(g, lr))
    else:
        torch._foreach_add_(w, g, alpha=-lr)


def momentum_step(w: list[torch.Tensor], g: list[torch.Tensor], m: list[torch.Tensor], momentum: float, lr: Scalar) -> None:
    """m = momentum m + lr g; w -= m."""
    torch._foreach_mul_(m, momentum)
    if isinstance(lr, torch.Tensor):
        torch._foreach_add_(m, torch._foreach_mul(g, lr))
    else:
        torch._foreach_add_(m, g, alpha=lr)
    torch._foreach_sub_(w, m)


def adam_step(w: list[torch.Tensor], g: list[torch.Tensor], m: list[torch.Tensor], v: list[torch.Tensor], beta1: float,
              beta2: float, eps: float, alpha_t: Scalar, decay: Scalar | None = None) -> None:
    """The NumPy solver's Adam (AdamW with ``decay``) in fused passes (scale-and-add, add-product, add-quotient)."""
    torch._foreach_mul_(m, beta1)
    torch._foreach_add_(m, g, alpha=1 - beta1)
    torch._foreach_mul_(v, beta2)
    torch._foreach_addcmul_(v, g, g, value=1 - beta2)
    if decay is not None:  # w - step - decay w == (1 - decay) w - step: the step does not read w
        torch._foreach_mul_(w, 1 - decay)
    denom = torch._foreach_sqrt(v)
    torch._foreach_add_(denom, eps)
    if isinstance(alpha_t, torch.Tensor):
        step = torch._foreach_div(m, denom)
        torch._foreach_mul_(step, alpha_t)
        torch._foreach_sub_(w, step)
    else:
        torch._foreach_addcdiv_(w, m, denom, value=-alpha_t)


def _sgd(solver: Any, keys: list[str]) -> None:
    w, g = _buffers(solver, keys)
    sgd_step(w, g, float(solver._lr))


def _momentum(solver: Any, keys: list[str]) -> None:
    w, g, m = _buffers(solver, keys, "m")
    momentum_step(w, g, m, float(solver._momentum), float(solver._lr))


def _adam_steps(solver: Any, keys: list[str], decay: float | None) -> None:
    from nnl.solver import _bias_correction

    b1, b2 = solver._beta1, solver._beta2
    by_t: dict[int, list[str]] = {}
    for k in keys:  # parameters skipped in earlier updates have their own t
        by_t.setdefault(solver._states[k].t, []).append(k)
    for t, group in by_t.items():
        alpha_t = float(solver._alpha * _bias_correction(b1, b2, t))
        w, g, m, v = _buffers(solver, group, "mean", "var")
        adam_step(w, g, m, v, float(b1), float(b2), float(solver._eps), alpha_t, decay)


def _adam(solver: Any, keys: list[str]) -> None:
    _adam_steps(solver, keys, None)


def _adamw(solver: Any, keys: list[str]) -> None:
    _adam_steps(solver, keys, float((solver._alpha / solver._init_alpha) * solver._wd_rate))


UPDATES: dict[str, Update] = {"Sgd": _sgd, "Momentum": _momentum, "Adam": _adam, "AdamW": _adamw}


class DeviceSolver:
    """A solver's operations on torch tensors, all parameters at once."""

    def __init__(self, update: Update) -> None:
        self._update = update

    def update(self, solver: Any, keys: list[str]) -> None:
        self._update(solver, keys)

    @staticmethod
    def scale_grad(solver: Any, keys: list[str], scale: float) -> None:
        if keys:
            torch._foreach_mul_(_buffers(solver, keys)[1], scale)

    @staticmethod
    def weight_decay(solver: Any, keys: list[str], rate: float) -> None:
        if keys:
            w, g = _buffers(solver, keys)
            torch._foreach_add_(g, torch._foreach_mul(w, rate))

    @staticmethod
    def has_inf_or_nan(solver: Any, keys: list[str]) -> bool:
        grads = _buffers(solver, keys)[1]
        return bool(torch.stack([~torch.isfinite(g).all() for g in grads]).any()) if grads else False


def device_update(solver: Any, ctx: Context) -> DeviceSolver | None:
    """The multi-tensor operations of ``solver`` for a torch context (None: the NumPy solver is used)."""
    update = UPDATES.get(type(solver).__name__)
    if update is None:
        return None
    solver._device = device_of(ctx, ctx.backend[0])
    return DeviceSolver(update)
