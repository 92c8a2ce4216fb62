"""Math: element-wise mathematical functions, constants and ranges, matrix products."""

from __future__ import annotations

from typing import Any

from nnl.core.function import Function
from nnl.functions.registry import api


class Identity(Function):
    """``y = x`` (a copy)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0]]


@api(Identity)
def identity(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Identity()(x, n_outputs=n_outputs, outputs=outputs)
