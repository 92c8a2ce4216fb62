"""nnabla's ``DynamicLossScalingUpdater``: one call does a whole mixed-precision training step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nnl.mixed_precision import DynamicLossScaler


class DynamicLossScalingUpdater:
    """Zero the gradients, run ``accum_grad`` forward/backward passes of ``loss`` scaled by ``scale``, all-reduce
    ``grads`` over ``comm`` if given, then update with dynamic loss scaling: on overflow the scale shrinks and the
    step is retried (up to 100 times in a row, then skipped); after ``N`` good updates the scale grows.

    ``data_feeder`` is called before each forward to load the next batch.
    """

    _MAX_RETRIES = 100

    def __init__(
        self,
        solver: Any,
        loss: Any,
        data_feeder: Callable[..., Any] = lambda *args: None,
        scale: float = 8.0,
        scaling_factor: float = 2.0,
        N: int = 2000,
        clear_buffer: bool = True,
        accum_grad: int = 1,
        weight_decay: float | None = None,
        comm: Any = None,
        grads: Sequence[Any] = (),
    ) -> None:
        self.solver = solver
        self.loss = loss
        self.data_feeder = data_feeder
        self.clear_buffer = clear_buffer
        self.accum_grad = accum_grad
        self.weight_decay = weight_decay
        self.comm = comm
        self.grads = list(grads)
        self._scaler = DynamicLossScaler(scale, scaling_factor, N)

    @property
    def scale(self) -> float:
        return self._scaler.scale

    @scale.setter
    def scale(self, value: float) -> None:
        self._scaler.scale = float(value)

    @property
    def scaling_factor(self) -> float:
        return self._scaler.scaling_factor

    @property
    def N(self) -> int:  # noqa: N802 (nnabla's attribute name)
        return self._scaler.interval

    def update(self) -> None:
        """One training step (retried with a smaller scale while the gradients overflow)."""
        for _ in range(self._MAX_RETRIES + 1):
            self.solver.zero_grad()
            for _ in range(self.accum_grad):
                self.data_feeder()
                self.loss.forward(clear_no_need_grad=self.clear_buffer)
                self._scaler.backward(self.loss, clear_buffer=self.clear_buffer)
            if self.comm is not None and self.grads:
                self.comm.all_reduce(self.grads, division=False, inplace=False)
            if self._scaler.update(self.solver, self.weight_decay):
                return
