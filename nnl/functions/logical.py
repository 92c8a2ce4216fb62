"""Logical: comparisons and boolean operations (outputs are 0/1 floats; no gradient flows through them)."""

from __future__ import annotations

from typing import Any

from nnl.core.function import Double, Function
from nnl.functions.registry import api


class _ScalarComparison(Function):
    input_names = ("x0",)
    val: Double = 1
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.zeros(x[0].shape, dtype=dy[0].dtype)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None]


class GreaterScalar(_ScalarComparison):
    """``y = (x0 > val)`` as 0/1."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [(x[0] > self.val).astype(x[0].dtype if x[0].dtype.kind == "f" else "float32")]


@api(GreaterScalar)
def greater_scalar(x0: Any, val: float = 1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return GreaterScalar(val)(x0, n_outputs=n_outputs, outputs=outputs)
