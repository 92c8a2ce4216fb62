"""Parameter initializers named in NNP files (``Variable.initializer {type, multiplier}``, written by NNC).

The types and their fan-in/fan-out conventions are nnabla's: ``Affine`` weights are (inputs, outputs...),
``Convolution`` weights (outputs, inputs, kernel...), ``CLConv`` weights channel-last (outputs, kernel..., inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnl import initializer as I

__all__ = ["initial_value", "INITIALIZER_TYPES"]

Array = np.ndarray


def _affine(shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    return shape[0], int(np.prod(shape[1:])), (1, 1)


def _conv(shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    return shape[-3], shape[0], tuple(shape[-2:])


def _cl_conv(shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    return shape[-1], shape[0], tuple(shape[1:3])


_FANS = {"Affine": _affine, "Convolution": _conv, "CLConv": _cl_conv}
_NORMAL_STD = {
    "He": I.calc_normal_std_he_forward,
    "HeForward": I.calc_normal_std_he_forward,
    "HeBackward": I.calc_normal_std_he_backward,
    "Glorot": I.calc_normal_std_glorot,
}


def _scaled_normal(fans: Callable[..., Any], std_of: Callable[..., float]) -> Callable[..., Array]:
    def make(shape: tuple[int, ...], rng: np.random.RandomState) -> Array:
        inmaps, outmaps, kernel = fans(shape)
        return rng.randn(*shape) * std_of(inmaps, outmaps, kernel=kernel)

    return make


def _scaled_uniform(fans: Callable[..., Any]) -> Callable[..., Array]:
    def make(shape: tuple[int, ...], rng: np.random.RandomState) -> Array:
        inmaps, outmaps, kernel = fans(shape)
        low, high = I.calc_uniform_lim_glorot(inmaps, outmaps, kernel=kernel)
        return rng.uniform(low, high, shape)

    return make


_RULES: dict[str, Callable[[tuple[int, ...], np.random.RandomState], Array]] = {}
for _layout, _fans in _FANS.items():
    for _suffix, _std in _NORMAL_STD.items():
        _RULES[f"Normal{_layout}{_suffix}"] = _scaled_normal(_fans, _std)
    _RULES[f"Uniform{_layout}Glorot"] = _scaled_uniform(_fans)

INITIALIZER_TYPES = tuple(sorted([*_RULES, "Normal", "Uniform", "Range", "Constant"]))


def initial_value(kind: str, multiplier: float, shape: tuple[int, ...], rng: np.random.RandomState) -> Array:
    """The float32 initial value of a parameter with initializer ``kind`` and ``multiplier``."""
    shape = tuple(int(d) for d in shape)
    if kind == "Normal":
        value = rng.randn(*shape) * multiplier
    elif kind == "Uniform":
        value = rng.uniform(-multiplier, multiplier, shape)
    elif kind == "Constant":
        value = np.full(shape, multiplier)
    elif kind == "Range":
        value = I.RangeInitializer(0, 1)(shape) * multiplier
    elif kind in _RULES:
        value = _RULES[kind](shape, rng) * multiplier
    else:
        raise ValueError(f"unknown initializer type {kind!r}; known: {', '.join(INITIALIZER_TYPES)}.")
    return np.asarray(value, dtype=np.float32)
