"""Export nnl networks (NNP ``Network`` messages) as ONNX models.

``export_model(nnp)`` builds the network in nnl (so every argument default and shape is resolved exactly as nnl
runs it), converts each function with the table of ``nnl.onnx._export_*`` modules, and checks the model.
Graph inputs are the buffers no function produces, outputs the buffers no function consumes, parameters become
float32 initializers. With ``batch_size=None`` the batch dimension is symbolic (``dim_param "batch"``): the
network is set up at two batch sizes and the dimensions that differ are computed at run time; networks whose
shapes pin the batch (a Reshape to a literal batch size, say) fall back to the file's batch size with a warning.

Index inputs (the labels of Embed, OneHot, SoftmaxCrossEntropy ...) are int64 graph inputs; everything else is
float32, as in nnabla. Errors name the network, the function (NNP name and type) and its position.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from nnl.nnp.container import NnpFile, read_nnp
from nnl.onnx import (  # noqa: F401  (they fill CONVERTERS)
    _export_array,
    _export_layers,
    _export_normalization,
    _export_ops,
    _export_recurrent,
)
from nnl.onnx._export_base import CONVERTERS, FLOAT, INT64, ExportError, Graph, ShapePair, Step, tensor

__all__ = ["EXPORTABLE", "export", "export_model"]

EXPORTABLE: tuple[str, ...] = tuple(sorted(CONVERTERS))
OPSETS = range(17, 22)

# Inputs that hold indices (nnabla feeds them as integers): (function type, input position).
_INDEX_INPUTS = {
    "Embed": (0,),
    "OneHot": (0,),
    "Gather": (1,),
    "GatherNd": (1,),
    "ScatterNd": (1,),
    "ScatterAdd": (1,),
    "SoftmaxCrossEntropy": (1,),
    "CategoricalCrossEntropy": (1,),
    "TopNError": (1,),
    "ConfusionMatrix": (1,),
}
_LOOP_TYPES = frozenset({"RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay"})


def _expanded(network: Any) -> Any:
    if not network.repeat_info and not any(f.type in _LOOP_TYPES for f in network.function):
        return network
    from nnl.nnp import loops

    return loops.expand_loops(network) if loops.has_loops(network) else network


def _single(nnp: NnpFile, network: Any) -> NnpFile:
    single = NnpFile(parameters=nnp.parameters, need_grad=nnp.need_grad)
    single.proto.network.add().CopyFrom(network)
    return single


def _build(nnp: NnpFile, network: Any, batch_size: int | None) -> tuple[Any, dict[str, ShapePair], tuple[int, int]]:
    """The network built in nnl at the reference batch size, and every variable's shapes at two batch sizes."""
    from nnl.nnp.graph import build_network

    single = _single(nnp, network)
    b0 = int(batch_size or network.batch_size or 1)
    net = build_network(single, batch_size=b0, parameter_scope=False, where="ONNX export")
    other = None
    if batch_size is None:
        try:
            other = build_network(single, batch_size=b0 + 1, parameter_scope=False, where="ONNX export")
        except ValueError as e:
            warnings.warn(
                f"ONNX export: network {network.name!r}: the network does not run at another batch size ({e}); exporting with the "
                f"fixed batch size {b0}.",
                stacklevel=3,
            )
    shapes: dict[str, ShapePair] = {}
    for name, v in net.variables.items():
        s0 = tuple(int(d) for d in v.shape)
        s1 = tuple(int(d) for d in other.variables[name].shape) if other is not None else s0
        shapes[name] = (s0, s1 if len(s1) == len(s0) else s0)
    return net, shapes, (b0, b0 + 1 if other is not None else b0)


def _input_type(name: str, network: Any) -> int:
    uses = [i in _INDEX_INPUTS.get(f.type, ()) for f in network.function for i, n in enumerate(f.input) if n == name]
    return INT64 if uses and all(uses) else FLOAT


def _value_info(name: str, elem: int, pair: ShapePair, graph: Graph, known: bool = True) -> Any:
    """A declared graph input/output: batch dimensions are ``"batch"`` (other batch-dependent ones unnamed)."""
    dims: list[Any] = []
    for d0, d1 in zip(*pair):
        if not known:  # a shape that follows the data (NonZero, BoolGather ...)
            dims.append(None)
        elif d0 == d1:
            dims.append(d0)
        else:
            try:
                dims.append("batch" if graph.factor(d0, d1) == 1 else None)
            except ExportError:
                dims.append(None)
    return helper.make_tensor_value_info(name, elem, dims)


def _fail(where: str, function: Any, position: int, reason: str) -> ValueError:
    return ValueError(
        f"{where}: function #{position} {function.name!r} ({function.type}) cannot be exported to ONNX: {reason}. "
        "The exportable function types are listed in nnl.onnx.EXPORTABLE."
    )


def export_model(nnp: NnpFile, network: str | None = None, opset: int = 17, batch_size: int | None = None) -> Any:
    """The ONNX ``ModelProto`` of one network of ``nnp`` (the first when ``network`` is None).

    ``opset``: 17 to 21. ``batch_size``: fixes the batch dimension (default: symbolic ``"batch"``).
    """
    if opset not in OPSETS:
        raise ValueError(f"ONNX export: opset {opset} is not supported; choose one of 17 to 21.")
    proto = _expanded(nnp.network(network))
    where = f"ONNX export: network {proto.name!r}"
    for position, f in enumerate(proto.function):  # report unknown types before building anything
        if f.type not in CONVERTERS:
            raise _fail(where, f, position, f"no ONNX conversion for function type {f.type!r}")
    net, shapes, batches = _build(nnp, proto, batch_size)
    graph = Graph(opset, batches)
    graph.reserve(shapes)

    inputs = []
    for name in net.inputs:
        elem = _input_type(name, proto)
        graph.types[name] = elem
        inputs.append(_value_info(name, elem, shapes[name], graph))
        varying = [a for a, (d0, d1) in enumerate(zip(*shapes[name])) if d0 != d1]
        if graph.batch_source is None and varying:
            a = varying[0]
            graph.batch_source = (name, a, graph.factor(shapes[name][0][a], shapes[name][1][a]))
    for name, v in net.parameters.items():
        graph.initializer(name, np.asarray(v.d, np.float32))

    positions = {f.name: (i, f) for i, f in enumerate(proto.function)}
    data_dependent: set[str] = set()
    for fname, fn in net.functions.items():
        position, f = positions[fname]
        if fn.data_dependent_shape or data_dependent.intersection(f.input):
            data_dependent.update(f.output)
        step = Step(graph, fn, list(f.input), list(f.output), shapes, fname)
        try:
            CONVERTERS[f.type](step)
        except ExportError as e:
            raise _fail(where, f, position, str(e)) from None

    used = {i for node in graph.nodes for i in node.input}
    outputs = [
        _value_info(n, graph.types.get(n, FLOAT), shapes[n], graph, n not in data_dependent) for n in net.outputs
    ]
    initializers = [tensor(n, a) for n, a in graph.initializers.items() if n in used]
    body = helper.make_graph(graph.nodes, proto.name or "network", inputs, outputs, initializers)
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(
        body, opset_imports=[opset_id], producer_name="nnl", ir_version=helper.find_min_ir_version_for([opset_id])
    )
    onnx.checker.check_model(model)
    return model


def _source_nnp(source: Any, names: Mapping[str, Any] | None) -> NnpFile:
    from nnl.core.variable import Variable
    from nnl.nnp.capture import nnp_from_outputs

    if isinstance(source, NnpFile):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_nnp(source)
    if isinstance(source, (Variable, Mapping, Sequence)):
        return nnp_from_outputs(source, names=names)
    raise TypeError(
        f"ONNX export: cannot export a {type(source).__name__}; give {{name: Variable}} outputs, a "
        "Variable, an NnpFile or the path of an .nnp/.nntxt file."
    )


def export(
    source: Any,
    path: Any,
    *,
    network: str | None = None,
    opset: int = 17,
    batch_size: int | None = None,
    names: Mapping[str, Any] | None = None,
) -> Any:
    """Write ``source`` as an ONNX file at ``path`` (atomically) and return the model.

    ``source``: ``{name: Variable}`` outputs of an nnl graph (``names`` names its inputs), one Variable, an
    ``NnpFile`` or the path of an ``.nnp``/``.nntxt`` file.
    """
    from nnl.parameter_io import write_bytes

    model = export_model(_source_nnp(source, names), network, opset, batch_size)
    write_bytes(path, model.SerializeToString())
    return model
