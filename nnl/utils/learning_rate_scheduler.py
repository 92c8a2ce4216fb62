"""nnabla's learning-rate schedulers: ``get_learning_rate(iter)`` with ``iter`` counted from 0.

>>> s = LinearWarmupScheduler(StepScheduler(0.1, 0.5, [10, 20]), warmup_iter=4)
>>> [round(s.get_learning_rate(i), 4) for i in (0, 3, 10, 25)]
[0.025, 0.1, 0.05, 0.025]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "BaseLearningRateScheduler",
    "PolynomialScheduler",
    "CosineScheduler",
    "ExponentialScheduler",
    "StepScheduler",
    "LinearWarmupScheduler",
]


class BaseLearningRateScheduler:
    """A learning rate as a function of the iteration."""

    def get_learning_rate(self, iter: int) -> float:
        raise NotImplementedError(f"{type(self).__name__}.get_learning_rate")


class PolynomialScheduler(BaseLearningRateScheduler):
    """``init_lr * (1 - iter / max_iter) ** power``."""

    def __init__(self, init_lr: float, max_iter: float, power: float) -> None:
        self.init_lr, self.max_iter, self.power = init_lr, max_iter, power

    def get_learning_rate(self, iter: int) -> float:
        return self.init_lr * ((1.0 - iter / self.max_iter) ** self.power)


class CosineScheduler(BaseLearningRateScheduler):
    """``init_lr * (cos(pi * iter / max_iter) + 1) / 2``."""

    def __init__(self, init_lr: float, max_iter: float) -> None:
        self.init_lr, self.max_iter = init_lr, max_iter

    def get_learning_rate(self, iter: int) -> float:
        return self.init_lr * (math.cos(math.pi * iter / self.max_iter) + 1.0) * 0.5


class ExponentialScheduler(BaseLearningRateScheduler):
    """``init_lr * gamma ** (iter // iter_interval)``."""

    def __init__(self, init_lr: float, gamma: float, iter_interval: int = 1) -> None:
        self.init_lr, self.gamma, self.iter_interval = init_lr, gamma, iter_interval

    def get_learning_rate(self, iter: int) -> float:
        return self.init_lr * self.gamma ** (iter // self.iter_interval)


class StepScheduler(BaseLearningRateScheduler):
    """``init_lr`` multiplied by ``gamma`` once for every step in ``iter_steps`` already reached."""

    def __init__(self, init_lr: float, gamma: float, iter_steps: Sequence[int]) -> None:
        self.init_lr, self.gamma, self.iter_steps = init_lr, gamma, list(iter_steps)

    def get_learning_rate(self, iter: int) -> float:
        lr = self.init_lr
        for step in self.iter_steps:  # one multiplication per step (not gamma ** n): the same rounding as nnabla
            if iter >= step:
                lr *= self.gamma
        return lr


class LinearWarmupScheduler(BaseLearningRateScheduler):
    """``scheduler``'s rate, scaled by ``(iter + 1) / warmup_iter`` during the first ``warmup_iter`` iterations."""

    def __init__(self, scheduler: BaseLearningRateScheduler, warmup_iter: int) -> None:
        self.scheduler, self.warmup_iter = scheduler, warmup_iter

    def get_learning_rate(self, iter: int) -> float:
        lr = self.scheduler.get_learning_rate(iter)
        if iter < self.warmup_iter:
            lr *= (iter + 1) / self.warmup_iter
        return lr
