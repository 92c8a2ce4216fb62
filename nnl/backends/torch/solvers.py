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


def _sgd(solver: Any, keys: list[str]) -> None:
    w, g = _buffers(solver, keys)
    torch._foreach_add_(w, g, alpha=-float(solver._lr))


def _momentum(solver: Any, keys: list[str]) -> None:
    w, g, m = _buffers(solver, keys, "m")
    torch._foreach_mul_(m, float(solver._momentum))
    torch._foreach_add_(m, g, alpha=float(solver._lr))
    torch._foreach_sub_(w, m)


def _adam_steps(solver: Any, keys: list[str], decay: float | None) -> None:
    """Fused passes (scale-and-add, add-product, add-quotient): the NumPy solver's formulas, rounded once less."""
    from nnl.solver import _bias_correction

    b1, b2, eps = solver._beta1, solver._beta2, float(solver._eps)
    by_t: dict[int, list[str]] = {}
    for k in keys:  # parameters skipped in earlier updates have their own t
        by_t.setdefault(solver._states[k].t, []).append(k)
    for t, group in by_t.items():
        w, g, m, v = _buffers(solver, group, "mean", "var")
        alpha_t = float(solver._alpha * _bias_correction(b1, b2, t))
        torch._foreach_mul_(m, float(b1))
        torch._foreach_add_(m, g, alpha=float(1 - b1))
        torch._foreach_mul_(v, float(b2))
        torch._foreach_addcmul_(v, g, g, value=float(1 - b2))
        if decay is not None:  # w - step - decay w == (1 - decay) w - step: the step does not read w
            torch._foreach_mul_(w, 1.0 - decay)
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(w, m, denom, value=-alpha_t)


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
