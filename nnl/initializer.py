"""Parameter initializers (nnabla's ``nnabla.initializer``): callables from a shape to a float32 array.

The fan-in/fan-out helpers give the scales of Glorot and He initialisation; ``kernel`` is the spatial kernel
shape of a convolution (leave the default for affine layers).

>>> import numpy as np
>>> ConstantInitializer(0.5)((2, 2)).tolist()
[[0.5, 0.5], [0.5, 0.5]]
>>> lo, hi = calc_uniform_lim_glorot(3, 4, kernel=(3, 3))
>>> bool(np.isclose(hi, np.sqrt(6 / (9 * 7))))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core import random

random_float_type = np.float32
Shape = tuple[int, ...]


class BaseInitializer:
    """An initializer: ``init(shape)`` returns a NumPy array of that shape."""

    def __call__(self, shape: Shape) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape).")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({fields})"


class NormalInitializer(BaseInitializer):
    """Gaussian values with standard deviation ``sigma`` and mean 0."""

    def __init__(self, sigma: float = 1.0, rng: np.random.RandomState | None = None) -> None:
        self.rng = random.prng if rng is None else rng
        self.sigma = sigma

    def __call__(self, shape: Shape) -> np.ndarray:
        return random_float_type(self.rng.randn(*shape) * self.sigma)


class UniformInitializer(BaseInitializer):
    """Uniform values in ``[lim[0], lim[1])``."""

    def __init__(self, lim: tuple[float, float] = (-1, 1), rng: np.random.RandomState | None = None) -> None:
        self.rng = random.prng if rng is None else rng
        self.lim = lim

    def __call__(self, shape: Shape) -> np.ndarray:
        return random_float_type(self.rng.uniform(self.lim[0], self.lim[1], size=shape))


class UniformIntInitializer(BaseInitializer):
    """Uniform integers in ``[lim[0], lim[1])``."""

    def __init__(self, lim: tuple[int, int] = (0, 10), rng: np.random.RandomState | None = None) -> None:
        self.rng = random.prng if rng is None else rng
        self.lim = lim

    def __call__(self, shape: Shape) -> np.ndarray:
        return self.rng.randint(self.lim[0], self.lim[1], size=shape)


class RangeInitializer(BaseInitializer):
    """``start + step * i`` along the last axis, repeated over the others."""

    def __init__(self, start: float = 0, step: float = 1) -> None:
        self.start = start
        self.step = step

    def __call__(self, shape: Shape) -> np.ndarray:
        return np.broadcast_to(self.start + np.arange(shape[-1]) * self.step, shape)


class ConstantInitializer(BaseInitializer):
    """Every element equal to ``value``."""

    def __init__(self, value: float = 0) -> None:
        self.value = value

    def __call__(self, shape: Shape) -> np.ndarray:
        return np.full(shape, self.value, dtype=random_float_type)


class OrthogonalInitializer(BaseInitializer):
    """A (semi-)orthogonal matrix over ``(shape[0], prod(shape[1:]))``, scaled by ``gain`` (Saxe et al.)."""

    def __init__(self, gain: float = 1.0, rng: np.random.RandomState | None = None) -> None:
        self.rng = random.prng if rng is None else rng
        self.gain = gain

    def __call__(self, shape: Shape) -> np.ndarray:
        rows, cols = shape[0], int(np.prod(shape[1:], dtype=np.int64))
        u, _, vt = np.linalg.svd(self.rng.normal(0.0, 1.0, (rows, cols)), full_matrices=False)
        q = u if u.shape == (rows, cols) else vt
        return random_float_type(q.reshape(shape) * self.gain)


class WeightNormalizationScaleInitializer(BaseInitializer):
    """The norm of ``w`` over every axis but ``dim``, so weight normalisation starts as the identity."""

    def __init__(self, w: Any, dim: int = 0, eps: float = 1e-12) -> None:
        self.w = w.get_unlinked_variable()
        self.dim = dim
        self.eps = eps

    def __call__(self, shape: Shape) -> np.ndarray:
        axes = tuple(a for a in range(self.w.ndim) if a != self.dim)
        return random_float_type(np.sqrt(np.sum(self.w.d.astype(np.float64) ** 2, axis=axes) + self.eps))


def calc_normal_std_he_forward(inmaps: int, outmaps: int, kernel: Shape = (1, 1)) -> float:
    """He et al.'s standard deviation preserving forward variance: ``sqrt(2 / (K N))``."""
    return float(np.sqrt(2.0 / (np.prod(kernel) * inmaps)))


def calc_normal_std_he_backward(inmaps: int, outmaps: int, kernel: Shape = (1, 1)) -> float:
    """He et al.'s standard deviation preserving backward variance: ``sqrt(2 / (K M))``."""
    return float(np.sqrt(2.0 / (np.prod(kernel) * outmaps)))


def calc_normal_std_glorot(inmaps: int, outmaps: int, kernel: Shape = (1, 1)) -> float:
    """Glorot and Bengio's standard deviation: ``sqrt(2 / (K (N + M)))``."""
    return float(np.sqrt(2.0 / (np.prod(kernel) * (inmaps + outmaps))))


def calc_uniform_lim_glorot(inmaps: int, outmaps: int, kernel: Shape = (1, 1)) -> tuple[float, float]:
    """Glorot and Bengio's uniform limits ``(-d, d)`` with ``d = sqrt(6 / (K (N + M)))``."""
    d = float(np.sqrt(6.0 / (np.prod(kernel) * (inmaps + outmaps))))
    return -d, d
