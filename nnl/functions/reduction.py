"""Reduction: sums, means, extrema and products over axes.

The public wrappers keep nnabla's Python signatures (``axis=None, keepdims=False``) while the registry arguments
are ``axes`` and ``keep_dims`` (the NNP field names).
"""

from __future__ import annotations

from typing import Any

from nnl.core.function import Bool, Function, Ints
from nnl.functions._helpers import normalize_axes
from nnl.functions.registry import api


class _AxesReduction(Function):
    axes: Ints = None
    keep_dims: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = inputs[0].shape
        self.axes = tuple(sorted(set(normalize_axes(self, self.axes, len(shape)))))
        return [_reduced_shape(shape, self.axes, self.keep_dims)]

    def _expand(self, g: Any, shape: tuple[int, ...]) -> Any:
        """A reduced array broadcast back to the input shape."""
        kept = [1 if i in self.axes else s for i, s in enumerate(shape)]
        return g.reshape(kept)


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keep_dims: bool) -> tuple[int, ...]:
    if keep_dims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


class Sum(_AxesReduction):
    """Sum over ``axes``."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].sum(axis=self.axes, keepdims=self.keep_dims))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape = x[0].shape
        return [xp.broadcast_to(self._expand(dy[0], shape), shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = x[0].shape
        return [F.broadcast(F.reshape(dy[0], [1 if i in self.axes else s for i, s in enumerate(shape)]), shape)]


@api(Sum)
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001 (nnabla's name)
    return Sum(axis, keepdims)(x)


class Mean(_AxesReduction):
    """Mean over ``axes``."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(x[0].mean(axis=self.axes, keepdims=self.keep_dims), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape = x[0].shape
        count = 1
        for a in self.axes:
            count *= shape[a]
        return [xp.broadcast_to(self._expand(dy[0], shape) / count, shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = x[0].shape
        count = 1
        for a in self.axes:
            count *= shape[a]
        kept = [1 if i in self.axes else s for i, s in enumerate(shape)]
        return [F.broadcast(F.reshape(dy[0], kept), shape) * (1.0 / count)]


@api(Mean)
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return Mean(axis, keepdims)(x)
