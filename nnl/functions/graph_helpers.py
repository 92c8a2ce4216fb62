"""Helpers for ``grad_graph`` rules, written with ``F`` on Variables."""

from __future__ import annotations

from typing import Any


def reduce_to(g: Any, like: Any) -> Any:
    """Sum the Variable ``g`` over the axes along which ``like`` was broadcast, giving ``like.shape``."""
    from nnl import functions as F

    shape = tuple(like.shape)
    if tuple(g.shape) == shape:
        return g
    extra = len(g.shape) - len(shape)
    axes = list(range(extra)) + [i + extra for i, s in enumerate(shape) if s == 1 and g.shape[i + extra] != 1]
    if axes:
        g = F.sum(g, axis=axes, keepdims=True)
    return F.reshape(g, shape) if tuple(g.shape) != shape else g
