"""``nn.grad``: gradients as a new graph, so they can be differentiated again.

Each function contributes its ``grad_graph`` rule (written with ``F`` on Variables). A function without one
contributes a node that runs its array ``backward_impl``: first-order gradients work for every function, and
differentiating through such a node raises an error naming the function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnl.core import graph
from nnl.core.function import Function


class BackwardOf(Function):
    """The array backward of another function as a graph node (used by ``nn.grad`` when no rule exists)."""

    name = "BackwardOf"
    input_names = ("*x",)
    output_names = ("*dx",)

    def __init__(self, forward_function: Function, need: list[bool]) -> None:
        super().__init__()
        self.forward_function = forward_function
        self.need = need
        self.name = f"{forward_function.name}Backward"  # type: ignore[misc]

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        n = len(self.forward_function.inputs)
        return [inputs[i].shape for i in range(n) if self.need[i]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        f = self.forward_function
        n_in, n_out = len(f.inputs), len(f._out_data)
        grads = f.backward_impl(xp, x[:n_in], x[n_in : n_in + n_out], x[n_in + n_out :], self.need)
        return [
            np.zeros(x[i].shape, np.float32) if grads[i] is None else np.array(np.broadcast_to(grads[i], x[i].shape), np.float32)
            for i in range(n_in)
            if self.need[i]
        ]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        raise NotImplementedError(
            f"nn.grad: the gradient of {self.forward_function.name} cannot be differentiated again "
            "(it has no grad_graph rule)."
        )


def grad(
    outputs: Sequence[Any],
    inputs: Sequence[Any],
    grad_outputs: Sequence[Any] | None = None,
    persistent_outputs: Sequence[Any] = (),
    bind_grad_output: bool = False,
) -> list[Any]:
    """Variables holding d(sum of outputs * grad_outputs)/d(input) for each input (None when unreachable)."""
    from nnl.core.variable import Variable

    outputs = [outputs] if isinstance(outputs, Variable) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Variable) else list(inputs)  # any iterable, e.g. dict values
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    order = graph.topological_order(outputs)
    graph._refresh_need_grad(order, outputs)
    wanted = {id(v._data) for v in inputs}
    grads: dict[int, Any] = {}
    for o, g in zip(outputs, grad_outputs):
        grads[id(o._data)] = _as_gradient_variable(g, o.shape, Variable)
    for function in reversed(order):
        outs = function.outputs
        dys = [grads.get(id(v._data)) for v in outs]
        if all(d is None for d in dys):
            continue
        need = [v.need_grad or id(v._data) in wanted for v in function.inputs]
        if not any(need):
            continue
        dys = [d if d is not None else _as_gradient_variable(0.0, v.shape, Variable) for d, v in zip(dys, outs)]
        rule = getattr(function, "grad_graph", None)
        if rule is not None:
            input_grads = rule(function.inputs, outs, dys, need)
        else:
            node_outputs = BackwardOf(function, need)(*function.inputs, *outs, *dys)
            node_outputs = list(node_outputs) if isinstance(node_outputs, tuple) else [node_outputs]
            it = iter(node_outputs)
            input_grads = [next(it) if n else None for n in need]
        for v, g, n in zip(function.inputs, input_grads, need):
            if not n or g is None:
                continue
            key = id(v._data)
            grads[key] = g if key not in grads else grads[key] + g
    return [grads.get(id(v._data)) for v in inputs]


def _as_gradient_variable(value: Any, shape: tuple[int, ...], variable_class: Any) -> Any:
    if isinstance(value, variable_class):
        return value
    array = np.ones(shape, np.float32) if value is None else np.broadcast_to(np.asarray(value, np.float32), shape)
    return variable_class.from_numpy_array(np.array(array, np.float32))
