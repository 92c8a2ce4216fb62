"""Cases for nnl/functions/activation.py."""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _away_from_zero(shape: tuple[int, ...]):
    """Inputs kept away from a kink so that central differences are exact."""

    def make(rng: np.random.RandomState) -> list[np.ndarray]:
        x = rng.randn(*shape).astype(np.float32)
        return [np.where(np.abs(x) < 0.05, 0.5, x).astype(np.float32)]

    return make


CASES = [
    Case("ReLU", _away_from_zero((2, 3, 4)), lambda x, **k: np.where(x > 0, x, 0)),
    Case("ReLU", [np.array(-0.7, np.float32)], lambda x, **k: np.where(x > 0, x, 0), name="0d"),
    Case("Sigmoid", [(3, 5)], lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))),
]
