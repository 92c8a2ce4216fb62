"""Build nnl graphs from NNP ``Network`` messages.

``build_network(nnp, name, batch_size)`` creates one Variable per declared variable (``-1`` dims become the batch
size), one function per ``Function`` message (arguments from its parameter message; a leading ``-1`` in a ``shape``
argument becomes the batch size, as nnabla does), and checks every output against its declared shape. Networks with
Neural Network Console's loop pseudo-functions are unrolled first (``nnl.nnp.loops``).

Parameters come from the file (``nnp.parameters``), else from their ``initializer`` (NNC configs), else zeros. With
``parameter_scope=True`` they are published into the current parameter scope (existing ones of the same shape are
reused, as nnabla's loaders do); with ``False`` the network gets private Variables.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from nnl.core.function import Function
from nnl.core.variable import Variable
from nnl.nnp.arguments import create_function
from nnl.nnp.container import NnpFile
from nnl.nnp.initializers import initial_value
from nnl.parameter import get_parameter, set_parameter

__all__ = ["NnpNetwork", "build_network", "network_inputs", "network_outputs"]


class NnpNetwork:
    """A network built from an NNP file: ``inputs``, ``outputs``, ``variables`` and ``functions`` by name."""

    def __init__(self, name: str, batch_size: int) -> None:
        self.name = name
        self.batch_size = batch_size
        self.variables: OrderedDict[str, Variable] = OrderedDict()
        self.functions: OrderedDict[str, Function] = OrderedDict()
        self.inputs: OrderedDict[str, Variable] = OrderedDict()
        self.outputs: OrderedDict[str, Variable] = OrderedDict()
        self.parameters: OrderedDict[str, Variable] = OrderedDict()

    def __repr__(self) -> str:
        shapes = lambda d: ", ".join(f"{k}{tuple(v.shape)}" for k, v in d.items())  # noqa: E731
        return f"NnpNetwork({self.name!r}, inputs: {shapes(self.inputs)}; outputs: {shapes(self.outputs)})"


def network_inputs(network: Any) -> list[str]:
    """Buffers that no function produces, in declaration order."""
    produced = {o for f in network.function for o in f.output}
    used = {i for f in network.function for i in f.input}
    return [v.name for v in network.variable if v.type != "Parameter" and v.name not in produced and v.name in used]


def network_outputs(network: Any) -> list[str]:
    """Buffers that no function consumes, in declaration order."""
    produced = {o for f in network.function for o in f.output}
    consumed = {i for f in network.function for i in f.input}
    return [v.name for v in network.variable if v.name in produced and v.name not in consumed]


_LOOP_TYPES = frozenset({"RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay"})


def _expanded(network: Any) -> Any:
    if not network.repeat_info and not any(f.type in _LOOP_TYPES for f in network.function):
        return network
    from nnl.nnp import loops

    return loops.expand_loops(network)


def _declared_shape(var: Any, batch_size: int) -> tuple[int, ...]:
    return tuple(batch_size if d < 0 else int(d) for d in var.shape.dim)


def _parameter(
    var: Any, nnp: NnpFile, shape: tuple[int, ...], parameter_scope: bool, rng: np.random.RandomState, where: str
) -> Variable:
    name = var.name
    value = nnp.parameters.get(name)
    if value is not None and tuple(value.shape) != shape:
        raise ValueError(
            f"{where}: parameter {name!r} has shape {tuple(value.shape)} in the file but the network declares {shape}."
        )
    need_grad = nnp.need_grad.get(name, True)
    if parameter_scope:
        existing = get_parameter(name)
        if existing is not None:
            if tuple(existing.shape) != shape:
                raise ValueError(
                    f"{where}: parameter {name!r} exists in the current scope with shape {tuple(existing.shape)} but "
                    f"the network declares {shape}. To start afresh, call nn.clear_parameters()."
                )
            return existing
    param = Variable(shape, need_grad=need_grad)
    if value is not None:
        param.d = value
    elif var.HasField("initializer"):
        param.d = initial_value(var.initializer.type, var.initializer.multiplier, shape, rng)
    else:
        warnings.warn(f"{where}: parameter {name!r} has no value and no initializer in the file; it starts at 0.",
                      stacklevel=4)
        param.d = 0
    if parameter_scope:
        set_parameter(name, param)
    return param


def _ordered(functions: list[Any], available: set[str], where: str) -> list[Any]:
    """The functions in an executable order (files normally list them so; NNC files sometimes do not)."""
    seen = set(available)
    for f in functions:  # one pass when the file's order already works (the usual case)
        if not all(i in seen for i in f.input):
            break
        seen.update(f.output)
    else:
        return functions
    pending = list(functions)
    order = []
    while pending:
        ready = [f for f in pending if all(i in available for i in f.input)]
        if not ready:
            f = pending[0]
            missing = [i for i in f.input if i not in available]
            raise ValueError(
                f"{where}: function {f.name!r} ({f.type}) reads {missing}, which no function produces and the "
                "network does not declare (or the functions form a cycle)."
            )
        for f in ready:
            available.update(f.output)
            order.append(f)
        pending = [f for f in pending if f not in ready]
    return order


def _batch_arguments(proto: Any, batch_size: int) -> dict[str, Any]:
    """nnabla's rule: a ``shape`` argument starting with -1 gets the batch size there."""
    from nnl.nnp.arguments import arguments_from_proto

    args = arguments_from_proto(proto)
    shape = args.get("shape")
    if isinstance(shape, tuple) and shape and shape[0] == -1:
        return {"shape": (batch_size,) + shape[1:]}
    return {}


def build_network(
    nnp: NnpFile,
    name: str | None = None,
    batch_size: int | None = None,
    parameter_scope: bool = True,
    rng: np.random.RandomState | None = None,
    where: str = "NNP",
    callback: Any = None,
) -> NnpNetwork:
    """Build the network ``name`` (default: the first) of ``nnp`` with ``batch_size`` (default: the file's).

    ``callback``: an ``NnpNetworkPass`` whose edits are applied first (nnabla's ``get_network(callback=)``).
    """
    network = _expanded(nnp.network(name))
    where = f"{where} network {network.name!r}"
    batch = int(batch_size) if batch_size is not None else int(network.batch_size or 1)
    prepared = callback.prepare(network, batch) if callback is not None else None
    if prepared is not None:
        network = _up_to(prepared.network, prepared.outputs, where) if prepared.outputs else prepared.network
    replacements = prepared.replacements if prepared is not None else {}
    rng = rng or np.random.RandomState(0)
    net = NnpNetwork(network.name, batch)
    check_shapes = batch == int(network.batch_size or batch) and prepared is None  # a pass may change shapes
    data_dependent: set[str] = set()  # outputs whose shapes are known only after forward

    declared = {v.name: v for v in network.variable}
    for var in network.variable:
        shape = _declared_shape(var, batch)
        if var.type == "Parameter":
            param = replacements.get(var.name) or _parameter(var, nnp, shape, parameter_scope, rng, where)
            if prepared is not None and prepared.fix_parameters:
                param = param.get_unlinked_variable(need_grad=False)
            net.parameters[var.name] = net.variables[var.name] = param
    for input_name in network_inputs(network):
        given = replacements.get(input_name)
        net.inputs[input_name] = net.variables[input_name] = (
            given if given is not None else Variable(_declared_shape(declared[input_name], batch))
        )

    for proto in _ordered(list(network.function), set(net.variables), where):
        function = create_function(proto, where, **_batch_arguments(proto, batch))
        inputs = [net.variables[i] for i in proto.input]
        try:
            outputs = function(*inputs, n_outputs=len(proto.output), auto_forward=False)
        except Exception as e:
            shapes = ", ".join(f"{i}{tuple(v.shape)}" for i, v in zip(proto.input, inputs))
            raise ValueError(f"{where}: function {proto.name!r} ({proto.type}) with inputs {shapes}: {e}") from e
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if function.data_dependent_shape or data_dependent.intersection(proto.input):
            data_dependent.update(proto.output)
        for output_name, v in zip(proto.output, outputs):
            var = declared.get(output_name)
            # Declared shapes are checked at the file's own batch size only: nnabla writes literal batch dims
            # where the batch moved (after a Transpose, say), which other batch sizes legitimately change.
            if check_shapes and output_name not in data_dependent and var is not None and var.shape.dim and _declared_shape(var, batch) != tuple(v.shape):
                raise ValueError(
                    f"{where}: function {proto.name!r} ({proto.type}) gives {output_name!r} the shape {tuple(v.shape)}"
                    f" but the network declares {_declared_shape(var, batch)}."
                )
            net.variables[output_name] = v
        net.functions[proto.name] = function
    for output_name in (prepared.outputs if prepared is not None and prepared.outputs else network_outputs(network)):
        net.outputs[output_name] = net.variables[output_name]
    return net


def _up_to(network: Any, outputs: list[str], where: str) -> Any:
    """A copy of ``network`` keeping only the functions ``outputs`` depend on."""
    producer = {o: f for f in network.function for o in f.output}
    unknown = [o for o in outputs if o not in producer and o not in {v.name for v in network.variable}]
    if unknown:
        raise ValueError(f"{where}: use_up_to names {unknown}, which the network does not have.")
    needed: set[str] = set()
    stack = list(outputs)
    while stack:
        f = producer.get(stack.pop())
        if f is not None and f.name not in needed:
            needed.add(f.name)
            stack.extend(f.input)
    trimmed = type(network)()
    trimmed.CopyFrom(network)
    kept = [f for f in network.function if f.name in needed]
    del trimmed.function[:]
    trimmed.function.extend(kept)
    used = {n for f in kept for n in (*f.input, *f.output)}
    kept_vars = [v for v in network.variable if v.name in used]
    del trimmed.variable[:]
    trimmed.variable.extend(kept_vars)
    return trimmed
