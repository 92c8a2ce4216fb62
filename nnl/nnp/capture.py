"""Capture a built graph as an NNP ``Network`` message (what ``nnl.utils.save.save`` writes).

Naming follows nnabla so files read the same in both: functions ``@<net>/<Type>`` (``_1``, ``_2`` ... for repeats),
their outputs ``@<net>/<Type>_out`` (made unique the same way), unnamed inputs ``@<net>/<Type>_in``, parameters by
their parameter-scope path (``conv1/conv/W``), user-named variables by the names given. Functions are listed in
execution order, outputs in the order given, buffers in order of appearance and parameters last.

Variable batch size: ``variable_batch_size_pass`` writes ``-1`` for the batch dimension with nnabla's rule (see
there); ``Network.batch_size`` records the real value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nnl.core.function import Function
from nnl.core.graph import topological_order
from nnl.core.variable import Variable
from nnl.functions import registry
from nnl.functions.catalogue import TYPE_NAMES
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.arguments import arguments_to_proto
from nnl.nnp.container import NnpFile
from nnl.parameter import get_parameters

__all__ = ["capture_network", "nnp_from_outputs"]

_REGISTRY_TYPES = frozenset(TYPE_NAMES.values())


class _Names:
    """Unique names in nnabla's style: ``prefix``, ``prefix_1``, ``prefix_2`` ..."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def unique(self, prefix: str) -> str:
        count = self.counts.get(prefix)
        self.counts[prefix] = (count or 0) + 1
        return prefix if count is None else f"{prefix}_{count}"


def _parameter_names(parameters: Mapping[str, Variable] | None) -> dict[int, str]:
    params = get_parameters(grad_only=False) if parameters is None else parameters
    names: dict[int, str] = {}
    for name, v in params.items():
        names.setdefault(id(v), name)
        names.setdefault(id(v.data), name)
    return names


def _sink_free_order(roots: Sequence[Variable]) -> list[Function]:
    return [f for f in topological_order(list(roots)) if f.name != "Sink"]


def _check_exportable(function: Function, network: str, position: int) -> None:
    if function.name not in _REGISTRY_TYPES or not registry.is_built(function.name):
        raise ValueError(
            f"save: network {network!r}: function #{position} ({function.name}) is not an nnabla registry function "
            "and cannot be written to an NNP file."
        )


def capture_network(
    outputs: Mapping[str, Variable] | Sequence[Variable] | Variable,
    name: str = "network",
    batch_size: int | None = None,
    names: Mapping[str, Variable] | None = None,
    variable_batch_size: bool = True,
    parameters: Mapping[str, Variable] | None = None,
) -> tuple[Any, OrderedDict[str, Variable]]:
    """The ``Network`` message of the graph ending in ``outputs`` and the parameters it uses (name -> Variable).

    ``outputs``: ``{name: Variable}`` (or a list / one Variable: then named ``y``, ``y_1`` ...); ``names`` names
    other variables (inputs usually); ``parameters`` maps names to parameters (default: the global parameter scope).
    """
    if isinstance(outputs, Variable):
        outputs = [outputs]
    if not isinstance(outputs, Mapping):
        output_names = _Names()
        outputs = OrderedDict((output_names.unique("y"), v) for v in outputs)
    user_names: dict[int, str] = {id(v): n for n, v in (names or {}).items()}
    user_names.update({id(v): n for n, v in outputs.items()})
    param_names = _parameter_names(parameters)
    unique = _Names()
    for n in user_names.values():
        unique.counts.setdefault(n, 1)

    net = pb.Network()
    net.name = name
    variable_name: dict[int, str] = {}
    buffers: list[Variable] = []
    used_params: OrderedDict[str, Variable] = OrderedDict()
    prefix = f"@{name}/"

    def name_input(v: Variable, consumer: Function) -> str:
        key = id(v)
        if key in variable_name:
            return variable_name[key]
        if v.parent is None and (id(v) in param_names or id(v.data) in param_names) and key not in user_names:
            pname = param_names.get(id(v), param_names.get(id(v.data)))
            assert pname is not None
            used_params[pname] = v
            variable_name[key] = pname
            return pname
        vname = user_names.get(key) or unique.unique(f"{prefix}{consumer.name}_in")
        variable_name[key] = vname
        buffers.append(v)
        return vname

    functions = _sink_free_order(list(outputs.values()))
    for position, f in enumerate(functions):
        _check_exportable(f, name, position)
        fp = net.function.add()
        fp.name = unique.unique(prefix + f.name)
        fp.type = f.name
        fp.input.extend(name_input(v, f) for v in f.inputs)
        for v in f.outputs:
            vname = user_names.get(id(v)) or unique.unique(f"{prefix}{f.name}_out")
            variable_name[id(v)] = vname
            buffers.append(v)
            fp.output.append(vname)
        arguments_to_proto(f, fp)
        if f.name == "Reshape":  # store the resolved shape (nnabla writes no -1 of its own)
            fp.reshape_param.shape.ClearField("dim")
            fp.reshape_param.shape.dim.extend(f.outputs[0].shape)
    for v in outputs.values():  # outputs that are inputs or parameters themselves
        if id(v) not in variable_name:
            variable_name[id(v)] = user_names[id(v)]
            buffers.append(v)

    for v in buffers:
        _add_variable(net, variable_name[id(v)], "Buffer", v.shape)
    for pname, v in used_params.items():
        _add_variable(net, pname, "Parameter", v.shape)
    batch = variable_batch_size_pass(net) if variable_batch_size else None
    net.batch_size = batch_size if batch_size is not None else (batch or _first_dim(buffers))
    return net, used_params


def _first_dim(buffers: list[Variable]) -> int:
    return int(buffers[0].shape[0]) if buffers and buffers[0].shape else 1


def _add_variable(net: Any, name: str, kind: str, shape: tuple[int, ...]) -> None:
    var = net.variable.add()
    var.name = name
    var.type = kind
    var.shape.SetInParent()
    var.shape.dim.extend(shape)


def _base_axis(function: Any) -> int | None:
    which = function.WhichOneof("parameter")
    message = getattr(function, which) if which else None
    if message is None or "base_axis" not in message.DESCRIPTOR.fields_by_name:
        return None
    return int(message.base_axis)


def variable_batch_size_pass(net: Any) -> int | None:
    """Write ``-1`` for the batch dimension, by nnabla's rule; returns the batch size found (None: none found).

    The batch size is the product of the leading ``base_axis`` dims of the first data input of the *last* function
    with a nonzero ``base_axis`` (networks without one keep literal shapes). Buffers whose dim 0 equals it get -1,
    except those computed from parameters only; Reshape and Broadcast ``shape`` arguments get -1 in front.
    (nnabla also rewrites functions with ``base_axis > 1`` to ``base_axis=1`` on flattened shapes; nnl keeps the
    network as built, so such networks keep literal batch dims.)
    """
    shapes = {v.name: list(v.shape.dim) for v in net.variable if v.type != "Parameter"}
    expect = None
    for f in net.function:
        base_axis = _base_axis(f)
        data = next((n for n in f.input if n in shapes), None)
        if base_axis and data is not None:
            expect = int(np.prod(shapes[data][:base_axis]))
    if expect is None:
        return None
    parameter_only: set[str] = set()
    for f in net.function:
        if not any(n in shapes and n not in parameter_only for n in f.input):
            parameter_only.update(f.output)
            continue
        if f.type == "Reshape" and f.reshape_param.shape.dim and f.reshape_param.shape.dim[0] == expect:
            f.reshape_param.shape.dim[0] = -1
        elif f.type == "Broadcast":
            _broadcast_batch(f, len(shapes[f.input[0]]), expect)
    for v in net.variable:
        dims = v.shape.dim
        if v.type != "Parameter" and v.name not in parameter_only and dims and dims[0] == expect:
            dims[0] = -1
    return expect


def _broadcast_batch(f: Any, input_rank: int, expect: int) -> None:
    """Broadcast's target shape: the leading dims that make up the batch become one -1."""
    shape = list(f.broadcast_param.shape.dim)
    lead = len(shape) - input_rank + 1 if input_rank < len(shape) else 1
    if lead >= 1 and int(np.prod(shape[:lead])) == expect:
        f.broadcast_param.shape.ClearField("dim")
        f.broadcast_param.shape.dim.extend([-1] + shape[lead:])


def nnp_from_outputs(
    outputs: Mapping[str, Variable] | Sequence[Variable] | Variable,
    name: str = "network",
    batch_size: int | None = None,
    names: Mapping[str, Variable] | None = None,
    variable_batch_size: bool = True,
) -> NnpFile:
    """An ``NnpFile`` holding the captured network and the values of its parameters."""
    net, params = capture_network(outputs, name, batch_size, names, variable_batch_size)
    nnp = NnpFile()
    nnp.proto.network.add().CopyFrom(net)
    for pname, v in params.items():
        nnp.add_parameter(pname, v.d, v.need_grad)
    return nnp
