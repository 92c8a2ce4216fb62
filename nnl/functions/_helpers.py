"""Small helpers shared by the function modules (shape checks, broadcasting reductions)."""

from __future__ import annotations

from typing import Any

import numpy as np


def sum_to_shape(grad: Any, shape: tuple[int, ...]) -> Any:
    """Reduce a broadcast gradient back to ``shape`` (sum over the broadcast axes)."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, s in enumerate(shape) if s == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def broadcast_shapes(function: Any, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of input shapes, with an error naming the function and the shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        names = ", ".join(f"{name.rstrip('?')}.shape={shape}" for name, shape in zip(function.input_names, shapes))
        raise function.fail("inputs", "shapes that broadcast together", names) from None


def normalize_axis(function: Any, axis: int, ndim: int, argument: str = "axis") -> int:
    """``axis`` in ``[0, ndim)`` (negative counts from the end), or an error naming the function."""
    if not -ndim <= axis < max(ndim, 1):
        raise function.fail(argument, f"an axis in [{-ndim}, {ndim})", axis)
    return axis % ndim if ndim else 0


def normalize_axes(function: Any, axes: Any, ndim: int, argument: str = "axes") -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return tuple(normalize_axis(function, int(a), ndim, argument) for a in axes)


def as_float32(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)
