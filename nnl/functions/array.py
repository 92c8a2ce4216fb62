"""Array Manipulation: reshaping, slicing, joining, broadcasting, gathering and scattering."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Function, Shape
from nnl.functions.registry import api


class Reshape(Function):
    """View ``x`` with a new ``shape`` (one entry may be -1); shares memory with the input."""

    shape: Shape = None
    inplace: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = inputs[0].shape
        size = int(np.prod(in_shape, dtype=np.int64))
        shape = [int(s) for s in self.shape]
        if shape.count(-1) > 1:
            raise self.fail("shape", "at most one -1 entry", tuple(shape))
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
            if known == 0 or size % known:
                raise self.fail("shape", f"a shape whose size divides {size} (x.shape={in_shape})", tuple(shape))
            shape[shape.index(-1)] = size // known
        if int(np.prod(shape, dtype=np.int64)) != size:
            raise self.fail("shape", f"a shape of size {size} like x.shape={in_shape}", tuple(shape))
        self.shape = tuple(shape)
        return [self.shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].reshape(self.shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].reshape(x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.reshape(dy[0], x[0].shape)]


@api(Reshape)
def reshape(x: Any, shape: Any, inplace: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Reshape(tuple(shape), inplace)(x, n_outputs=n_outputs, outputs=outputs)


class Broadcast(Function):
    """Broadcast ``x`` to ``shape`` (dimensions of size 1 are repeated; ranks must match)."""

    shape: Shape = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = tuple(inputs[0].shape)
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != len(in_shape) or any(a != b and a != 1 for a, b in zip(in_shape, shape)):
            raise self.fail("shape", f"a shape that x.shape={in_shape} broadcasts to (same rank, 1s expand)", shape)
        self.shape = shape
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.array(xp.broadcast_to(x[0], self.shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions._helpers import sum_to_shape

        return [sum_to_shape(dy[0], x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        return [reduce_to(dy[0], x[0])]


@api(Broadcast)
def broadcast(x: Any, shape: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Broadcast(tuple(shape))(x, n_outputs=n_outputs, outputs=outputs)
