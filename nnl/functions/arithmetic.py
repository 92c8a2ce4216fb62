"""Arithmetic: binary functions with NumPy broadcasting, and their scalar forms.

Binary gradients are reduced back to each input's shape with ``sum_to_shape``.
"""

from __future__ import annotations

from typing import Any

from nnl.core.function import Bool, Double, Function
from nnl.functions._helpers import broadcast_shapes, sum_to_shape
from nnl.functions.registry import api


class _Binary(Function):
    input_names = ("x0", "x1")
    inplace: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [broadcast_shapes(self, inputs[0].shape, inputs[1].shape)]


class Add2(_Binary):
    """Element-wise sum ``y = x0 + x1`` (broadcasting as NumPy)."""

    grad_depends_input = False

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] + x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [sum_to_shape(g, x[0].shape) if need[0] else None, sum_to_shape(g, x[1].shape) if need[1] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        return [reduce_to(dy[0], x[0]) if need[0] else None, reduce_to(dy[0], x[1]) if need[1] else None]


@api(Add2)
def add2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Add2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class Mul2(_Binary):
    """Element-wise product ``y = x0 * x1`` (broadcasting as NumPy)."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] * x[1]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        return [
            sum_to_shape(g * x[1], x[0].shape) if need[0] else None,
            sum_to_shape(g * x[0], x[1].shape) if need[1] else None,
        ]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        return [
            reduce_to(dy[0] * x[1], x[0]) if need[0] else None,
            reduce_to(dy[0] * x[0], x[1]) if need[1] else None,
        ]


@api(Mul2)
def mul2(x0: Any, x1: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Mul2(inplace)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class AddScalar(Function):
    """``y = x + val``."""

    val: Double = 1
    inplace: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] + self.val]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0]]


@api(AddScalar)
def add_scalar(x: Any, val: float = 1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return AddScalar(val, inplace)(x, n_outputs=n_outputs, outputs=outputs)


class MulScalar(Function):
    """``y = x * val``."""

    val: Double = 1
    inplace: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0] * self.val]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * self.val]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * self.val]


@api(MulScalar)
def mul_scalar(x: Any, val: float = 1, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MulScalar(val, inplace)(x, n_outputs=n_outputs, outputs=outputs)
