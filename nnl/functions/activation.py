"""Neural Network Activation Functions.

To add a function: a class with ``setup_impl`` / ``forward_impl`` / ``backward_impl`` (and ``grad_graph`` when the
gradient should itself be differentiable), then its public wrapper decorated with ``@api`` carrying nnabla's
exact signature, and a test case in ``nnl/testing/cases/activation.py``.
"""

from __future__ import annotations

from typing import Any

from nnl.core.function import Bool, Function
from nnl.functions.registry import api


class ReLU(Function):
    """Rectified linear unit, ``y = max(0, x)``.

    >>> import nnl, nnl.functions as F, numpy as np
    >>> x = nnl.Variable.from_numpy_array(np.array([-1.0, 2.0]))
    >>> with nnl.auto_forward():
    ...     F.relu(x).d.tolist()
    [0.0, 2.0]
    """

    inplace: Bool = False
    grad_depends_input = False
    grad_depends_output = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.maximum(x[0], 0)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * (y[0] > 0)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [dy[0] * F.greater_scalar(y[0], 0.0)]


@api(ReLU)
def relu(x: Any, inplace: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return ReLU(inplace)(x, n_outputs=n_outputs, outputs=outputs)


class Sigmoid(Function):
    """Logistic sigmoid, ``y = 1 / (1 + exp(-x))``."""

    grad_depends_input = False
    grad_depends_output = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        # written through tanh so that large |x| neither overflows nor loses precision
        return [(xp.tanh(x[0] * 0.5) + 1) * 0.5]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * y[0] * (1 - y[0])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0] * y[0] * (1.0 - y[0])]


@api(Sigmoid)
def sigmoid(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Sigmoid()(x, n_outputs=n_outputs, outputs=outputs)

