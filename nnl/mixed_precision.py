"""Loss scaling for half-precision training.

Half precision (float16) flushes small gradients to zero; multiplying the loss by a scale before backward keeps them
representable, and dividing the gradients by the same scale before the update undoes it. A static scale is two
calls (``loss.backward(grad=scale)`` then ``solver.scale_grad(1 / scale)``); :class:`DynamicLossScaler` adapts the
scale: on overflow (an inf or NaN gradient) it skips the update and divides the scale, and after ``interval`` good
updates it multiplies the scale again.

>>> import nnl as nn, nnl.functions as F, nnl.parametric_functions as PF, nnl.solvers as S
>>> x = nn.Variable.from_numpy_array([[1.0, 2.0]])
>>> loss = F.mean(PF.affine(x, 1, name="fc") ** 2)
>>> solver = S.Sgd(0.1)
>>> solver.set_parameters(nn.get_parameters())
>>> scaler = DynamicLossScaler(scale=1024.0)
>>> loss.forward()
>>> solver.zero_grad()
>>> scaler.backward(loss)
>>> scaler.update(solver)
True
"""

from __future__ import annotations

from typing import Any


class DynamicLossScaler:
    """The dynamic loss-scaling rule (NVIDIA's mixed-precision recipe, as nnabla's updater applies it).

    Args:
        scale: initial loss scale.
        scaling_factor: what the scale is divided by on overflow and multiplied by after ``interval`` good steps.
        interval: good updates before the scale grows (nnabla's ``N``).
    """

    def __init__(self, scale: float = 8.0, scaling_factor: float = 2.0, interval: int = 2000) -> None:
        if scale <= 0 or scaling_factor <= 1 or interval < 1:
            raise ValueError(
                f"DynamicLossScaler: expected scale > 0, scaling_factor > 1 and interval >= 1, got scale={scale}, "
                f"scaling_factor={scaling_factor}, interval={interval}."
            )
        self.scale = float(scale)
        self.scaling_factor = float(scaling_factor)
        self.interval = int(interval)
        self.good_steps = 0
        self.skipped = 0

    def backward(self, loss: Any, clear_buffer: bool = True) -> None:
        """Back-propagate ``loss * scale`` (gradients accumulate into the parameters as usual)."""
        loss.backward(self.scale, clear_buffer=clear_buffer)

    def update(self, solver: Any, weight_decay: float | None = None) -> bool:
        """Unscale and apply the gradients, or skip on overflow; True when the parameters were updated."""
        if solver.check_inf_or_nan_grad():
            self.scale /= self.scaling_factor
            self.good_steps = 0
            self.skipped += 1
            return False
        solver.scale_grad(1.0 / self.scale)
        if weight_decay is not None:
            solver.weight_decay(weight_decay)
        solver.update()
        if self.good_steps > self.interval:
            self.scale *= self.scaling_factor
            self.good_steps = 0
        self.good_steps += 1
        return True
