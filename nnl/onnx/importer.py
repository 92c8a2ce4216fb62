"""Import ONNX models as nnl networks (NNP ``Network`` messages made of nnl's registry functions).

``import_model(source)`` converts every node with the table of ``nnl.onnx._import_*`` modules into nnl functions
(``IMPORTABLE`` lists the op types). Everything ONNX computes from constants is folded at import time (with
``onnx.reference``), shapes included: the ``Shape -> Gather -> Concat -> Reshape`` chains of PyTorch exports become
plain ``Reshape`` arguments, so the result is a static network. Initializers read by functions become parameters.

A symbolic batch dimension (``dim_param``, or an unknown size) is handled by converting the graph at two batch
sizes and merging the results: dimensions that follow the batch are declared ``-1`` (``network.batch_size`` is 1),
and arguments that follow it (a ``Reshape`` or ``Broadcast`` shape) get nnabla's ``-1``. Errors name the node (name,
op type and position) and what is unsupported.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import helper

from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.container import NnpFile
from nnl.onnx import _import_array, _import_layers, _import_ops  # noqa: F401  (they fill CONVERTERS)
from nnl.onnx._import_base import CONVERTERS, ImportFailure, Node, Run

__all__ = ["IMPORTABLE", "MAX_OPSET", "MIN_OPSET", "import_model", "load"]

IMPORTABLE: tuple[str, ...] = tuple(sorted(CONVERTERS))
MIN_OPSET, MAX_OPSET = 9, 21
_DEFAULT_DOMAINS = ("", "ai.onnx")
_NO_FOLD = frozenset({"RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "If", "Loop", "Scan"})
_REPLICATING = frozenset({"Expand", "Tile"})  # data, shape -> data repeated to that shape
_BATCHES = (2, 3)  # the batch sizes a symbolic batch is converted at
_FULL = 2**31 - 1  # a Slice stop that means "to the end" whatever the size


# -- reading ----------------------------------------------------------------------------------------------------
def _read(source: Any) -> tuple[Any, str]:
    """The ``ModelProto`` of ``source`` (path, bytes or model) and how to name it in messages."""
    if isinstance(source, onnx.ModelProto):
        return source, "ONNX model"
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), "ONNX bytes"
    elif isinstance(source, (str, os.PathLike)):
        where = f"ONNX file {os.fspath(source)!r}"
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ValueError(f"{where} cannot be read: {e}") from e
    else:
        raise TypeError(f"ONNX import: give a path, bytes or an onnx.ModelProto, not a {type(source).__name__}.")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{where} is not a valid ONNX model (protobuf parse failed: {e}).") from e
    if not model.HasField("graph"):
        raise ValueError(f"{where} is not a valid ONNX model (it holds no graph).")
    return model, where


def _opset(model: Any, where: str) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    version = next((versions[d] for d in _DEFAULT_DOMAINS if d in versions), None)
    if version is None:
        raise ValueError(f"{where} imports no version of the default ONNX domain.")
    if version > MAX_OPSET:
        raise ValueError(
            f"{where} uses opset {version}, newer than the opsets nnl imports ({MIN_OPSET} to {MAX_OPSET}); "
            f"convert it to opset {MAX_OPSET} first (onnx.version_converter)."
        )
    if version < MIN_OPSET:
        raise ValueError(f"{where} uses opset {version}; nnl imports opsets {MIN_OPSET} to {MAX_OPSET}.")
    return int(version)


def _element_types(model: Any) -> dict[str, int]:
    """Every value's ONNX element type (from ``onnx.shape_inference``; missing ones are taken as float)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference is a help for types only; the conversion checks shapes itself
        inferred = model
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def _graph_inputs(model: Any, where: str) -> list[tuple[str, list[int | None]]]:
    """The real inputs (not initializers) with their dims; ``None`` for a symbolic (batch) dimension."""
    initializers = {t.name for t in model.graph.initializer}
    result, symbol = [], None
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            raise ValueError(f"{where}: graph input {value.name!r} has no declared shape; nnl networks are static.")
        dims: list[int | None] = []
        for axis, d in enumerate(tensor.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
                continue
            param = d.dim_param or None
            if param is not None and symbol is not None and param != symbol:
                raise ValueError(
                    f"{where}: graph input {value.name!r} has a second symbolic dimension {param!r} (axis {axis}) "
                    f"besides the batch {symbol!r}; nnl networks are static apart from the batch: fix the other "
                    "dimensions first (onnx.tools.update_model_dims)."
                )
            symbol = symbol or param
            dims.append(None)
        result.append((value.name, dims))
    return result


# -- one conversion ------------------------------------------------------------------------------------------------
def _fold(proto: Any, values: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one node whose inputs are all known, with ONNX's reference implementation."""
    from onnx.reference import ReferenceEvaluator

    names = [n for n in proto.input if n]
    known = [v for v in values if v is not None]
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in zip(names, known)]
    outputs = [helper.make_empty_tensor_value_info(o) for o in proto.output if o]
    graph = helper.make_graph([proto], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(model).run(None, dict(zip(names, known)))
    return [np.asarray(r) for r in results]


def _foldable(proto: Any, run: Run) -> bool:
    """All inputs are known (and the node is no data replicated to a batch-dependent shape: that is converted)."""
    present = [n for n in proto.input if n]
    if not present or proto.op_type in _NO_FOLD or not all(n in run.consts for n in present):
        return False
    return not (proto.op_type in _REPLICATING and present[0] not in run.tainted and present[-1] in run.tainted)


def _fail(where: str, index: int, proto: Any, reason: str, attribute: str | None = None) -> ValueError:
    name = proto.name or "(unnamed)"
    at = f" (attribute {attribute!r})" if attribute else ""
    return ValueError(
        f"{where}: node #{index} {name!r} ({proto.op_type}){at} cannot be imported: {reason}. "
        "The importable op types are listed in nnl.onnx.IMPORTABLE."
    )


def _convert(model: Any, where: str, opset: int, types: dict[str, int], inputs: list[tuple[str, list[int | None]]],
             batch: int | None) -> Run:
    """The network of ``model`` with every symbolic dimension set to ``batch``."""
    graph = model.graph
    run = Run(where, opset, types, tainting=batch is not None)
    run.reserve(n for node in graph.node for n in (*node.input, *node.output))
    run.reserve(v.name for v in (*graph.input, *graph.output))
    for t in graph.initializer:
        run.set_const(t.name, onnx.numpy_helper.to_array(t))
        run.initializers.add(t.name)
    for name, dims in inputs:
        run.add_input(name, tuple(batch if d is None else d for d in dims))
    for index, proto in enumerate(graph.node):
        if proto.domain not in _DEFAULT_DOMAINS:
            raise _fail(where, index, proto, f"the op domain {proto.domain!r} is not supported (only ONNX's own ops)")
        present = [n for n in proto.input if n]
        missing = [n for n in present if n not in run.consts and n not in run.vars]
        if missing:
            raise _fail(where, index, proto, f"it reads {missing}, which no earlier node produces")
        try:
            if _foldable(proto, run):
                values = [run.consts.get(n) if n else None for n in proto.input]
                tainted = any(n in run.tainted for n in present)
                for name, value in zip([o for o in proto.output if o], _fold(proto, values, opset)):
                    run.set_const(name, value, tainted)
                continue
            if proto.op_type not in CONVERTERS:
                raise ImportFailure(f"no nnl conversion for the op type {proto.op_type!r} (nodes of any type are "
                                    "folded when all their inputs are constants)")
            node = Node(run, proto, index)
            CONVERTERS[proto.op_type](node)
            unread = sorted(set(node.attributes) - node.read)
            if unread:
                raise ImportFailure(f"the attribute {unread[0]!r} is not supported", unread[0])
        except ImportFailure as e:
            raise _fail(where, index, proto, str(e), e.attribute) from None
        except Exception as e:
            if isinstance(e, ValueError) and str(e).startswith(where):
                raise
            raise _fail(where, index, proto, f"{type(e).__name__}: {e}") from e
    for value in graph.output:
        if value.name in run.vars:
            continue
        if value.name not in run.consts:
            raise ValueError(f"{where}: graph output {value.name!r} is not computed by any node.")
        # an output known at import time: a Constant fill, or the Identity of a parameter holding it
        known = run.consts[value.name]
        if known.size and np.all(known == known.flat[0]):
            run.emit(value.name, "Constant", [], [value.name], {"val": float(known.flat[0]), "shape": known.shape})
        else:
            holder = run.parameter(known, f"{value.name}/value", need_grad=False)
            run.emit(value.name, "Identity", [holder], [value.name], {})
    return run


# -- batch handling ------------------------------------------------------------------------------------------------
def _affine(d0: int, d1: int) -> tuple[float, float]:
    """``(k, c)`` with ``d = k * batch + c`` at both converted batch sizes."""
    b0, b1 = _BATCHES
    k = (d1 - d0) / (b1 - b0)
    return k, d0 - k * b0


def _dim(d0: int, d1: int) -> int:
    """A declared dimension: -1 for the batch itself, else the size at batch 1."""
    if d0 == d1:
        return d0
    k, c = _affine(d0, d1)
    if (k, c) == (1, 0):
        return -1
    return int(round(k + c))


def _varying(a: Any, b: Any) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


class _Merger:
    """The network of two runs at different batch sizes, with the batch-dependent parts made generic."""

    def __init__(self, r0: Run, r1: Run, where: str) -> None:
        self.r0, self.r1, self.where = r0, r1, where
        self.network = r0.network
        self.functions: list[Any] = []
        self.extra_vars: dict[str, tuple[int, ...]] = {}  # variables the merge adds, at batch 1 (-1 for batch)

    def fail(self, f: Any, reason: str) -> ValueError:
        return ValueError(
            f"{self.where}: nnl function {f.name!r} ({f.type}) {reason}; nnl cannot express that for a variable batch "
            "size: give the ONNX model a fixed batch size (onnx.tools.update_model_dims)."
        )

    def merge(self) -> None:
        fs0, fs1 = self.r0.network.function, self.r1.network.function
        if len(fs0) != len(fs1) or any((a.type, a.input, a.output) != (b.type, b.input, b.output)
                                       for a, b in zip(fs0, fs1)):
            raise ValueError(f"{self.where}: the converted network changes with the batch size; give the model a fixed "
                             "batch size (onnx.tools.update_model_dims).")
        for name, value in self.r0.parameters.items():
            other = self.r1.parameters.get(name)
            if other is None or other.shape != value.shape or not np.array_equal(other, value):
                raise ValueError(f"{self.where}: the constant {name!r} depends on the batch size; give the model a "
                                 "fixed batch size (onnx.tools.update_model_dims).")
        for f0, f1 in zip(fs0, fs1):
            self.function(f0, f1)
        del self.network.function[:]
        self.network.function.extend(self.functions)

    def _shape_arg(self, f0: Any, f1: Any, field: str) -> tuple[list[int], list[int], list[int]]:
        s0 = list(getattr(f0, field).shape.dim)
        s1 = list(getattr(f1, field).shape.dim)
        return s0, s1, _varying(s0, s1)

    def function(self, f0: Any, f1: Any) -> None:
        if f0 == f1:
            self.functions.append(f0)
            return
        if f0.type == "Reshape":
            self._reshape(f0, f1)
        elif f0.type in ("Broadcast", "Constant"):
            self._batch_first(f0, f1)
        elif f0.type == "Slice":
            self._slice(f0, f1)
        else:
            raise self.fail(f0, "has arguments that depend on the batch size")

    def _reshape(self, f0: Any, f1: Any) -> None:
        """The batch-dependent entry becomes -1; a leading one that is not the batch itself (``k * batch``, which
        nnabla's leading -1 would make the batch) goes through ``(1, -1, ...)`` and a Split of the leading axis."""
        s0, s1, v = self._shape_arg(f0, f1, "reshape_param")
        if len(v) != 1:
            raise self.fail(f0, f"reshapes to {tuple(s0)} at batch {_BATCHES[0]} and {tuple(s1)} at {_BATCHES[1]}")
        if v[0] or _affine(s0[0], s1[0]) == (1, 0):
            f0.reshape_param.shape.dim[v[0]] = -1
            self.functions.append(f0)
            return
        out = f0.output[0]
        f0.output[0] = self.r0.fresh(f"{out}/leading")
        f0.reshape_param.shape.ClearField("dim")
        f0.reshape_param.shape.dim.extend([1, -1] + s0[1:])
        self.extra_vars[f0.output[0]] = (1, _dim(s0[0], s1[0]), *s0[1:])
        self.functions.append(f0)
        split = pb.Function(name=self.r0.function_name(f"{f0.name}/leading"), type="Split", input=[f0.output[0]],
                            output=[out])
        split.split_param.axis = 0
        self.functions.append(split)

    def _batch_first(self, f0: Any, f1: Any) -> None:
        """Broadcast/Constant to a shape with the batch at axis ``a``: built batch-first, then transposed."""
        field = "broadcast_param" if f0.type == "Broadcast" else "constant_param"
        s0, s1, v = self._shape_arg(f0, f1, field)
        if len(v) != 1 or _affine(s0[v[0]], s1[v[0]]) != (1, 0):
            raise self.fail(f0, f"gives the shape {tuple(s0)} at batch {_BATCHES[0]} and {tuple(s1)} at {_BATCHES[1]}")
        a = v[0]
        shape = [-1] + s0[:a] + s0[a + 1 :]
        getattr(f0, field).shape.ClearField("dim")
        getattr(f0, field).shape.dim.extend(shape)
        if a == 0:
            self.functions.append(f0)
            return
        to_front = [a] + list(range(a)) + list(range(a + 1, len(s0)))
        back = [int(i) for i in np.argsort(to_front)]
        if f0.type == "Broadcast":
            x = f0.input[0]
            moved = self.r0.fresh(f"{x}/batch_first")
            self._transpose(f"{f0.name}/batch_first", x, moved, to_front, self.declared(x, self.r0.shape(x)))
            f0.input[0] = moved
        out = f0.output[0]
        f0.output[0] = self.r0.fresh(f"{out}/batch_first")
        self.extra_vars[f0.output[0]] = tuple(shape)
        self.functions.append(f0)
        self._transpose(f"{f0.name}/batch_axis", f0.output[0], out, back, None)

    def _transpose(self, name: str, x: str, out: str, axes: list[int], x_declared: list[int] | None) -> None:
        f = pb.Function(name=self.r0.function_name(name), type="Transpose", input=[x], output=[out])
        f.transpose_param.axes.extend(axes)
        if x_declared is not None:
            self.extra_vars[out] = tuple(x_declared[i] for i in axes)
        self.functions.append(f)

    def _slice(self, f0: Any, f1: Any) -> None:
        p0, p1 = f0.slice_param, f1.slice_param
        if list(p0.start) != list(p1.start) or list(p0.step) != list(p1.step):
            raise self.fail(f0, "starts or steps at positions that depend on the batch size")
        shape0, shape1 = self.r0.shape(f0.input[0]), self.r1.shape(f0.input[0])
        lead = len(shape0) - len(p0.stop)
        for i in _varying(p0.stop, p1.stop):
            full = p0.stop[i] == shape0[lead + i] and p1.stop[i] == shape1[lead + i] and p0.start[i] == 0
            if not full or p0.step[i] < 0:
                raise self.fail(f0, f"stops at a position that depends on the batch size (axis {lead + i})")
            p0.stop[i] = _FULL
        self.functions.append(f0)

    def declared(self, name: str, shape0: tuple[int, ...]) -> list[int]:
        if name in self.r0.parameters:
            return list(shape0)
        shape1 = self.r1.shape(name)
        return [_dim(d0, d1) for d0, d1 in zip(shape0, shape1)]


# -- public API ------------------------------------------------------------------------------------------------------
def _executor(nnp: NnpFile, network: Any, inputs: list[str], outputs: list[str]) -> None:
    exe = nnp.proto.executor.add()
    exe.name, exe.network_name = "runtime", network.name
    for name in inputs:
        v = exe.data_variable.add()
        v.variable_name = v.data_name = name
    for name in outputs:
        v = exe.output_variable.add()
        v.variable_name = v.data_name = name
    for name in nnp.parameters:
        exe.parameter_variable.add().variable_name = name


def import_model(source: Any, network_name: str | None = None) -> NnpFile:
    """The ONNX model ``source`` (a path, bytes or ``onnx.ModelProto``) as an ``NnpFile`` with one network.

    The network is named ``network_name`` (default: the ONNX graph's name, else ``"network"``) and has an executor
    ``"runtime"`` whose data/output variables are the graph's inputs and outputs.
    """
    model, where = _read(source)
    opset = _opset(model, where)
    types = _element_types(model)
    inputs = _graph_inputs(model, where)
    name = network_name or model.graph.name or "network"
    dynamic = any(d is None for _, dims in inputs for d in dims)
    if dynamic:
        r0, r1 = (_convert(model, where, opset, types, inputs, b) for b in _BATCHES)
        merger = _Merger(r0, r1, where)
        merger.merge()
        run, batch_size = r0, 1
        run.finish(name, batch_size, merger.declared)
        for vname, shape in merger.extra_vars.items():
            var = run.network.variable.add()
            var.name, var.type = vname, "Buffer"
            var.shape.dim.extend(shape)
    else:
        run = _convert(model, where, opset, types, inputs, None)
        batch_size = inputs[0][1][0] if inputs and inputs[0][1] else 1
        run.finish(name, int(batch_size), lambda _, shape: list(shape))  # type: ignore[arg-type]
    nnp = NnpFile()
    nnp.proto.network.add().CopyFrom(run.network)
    used = {n for f in run.network.function for n in f.input}
    for pname, value in run.parameters.items():
        if pname in used:
            nnp.add_parameter(pname, value, run.need_grad[pname])
    declared = {v.name for v in run.network.variable}
    _executor(nnp, run.network, [n for n, _ in inputs if n in declared], [v.name for v in model.graph.output])
    return nnp


def load(source: Any, batch_size: int | None = None) -> Any:
    """Import ``source`` and build it in nnl (``nnl.nnp.graph.build_network``): an ``NnpNetwork``."""
    from nnl.nnp.graph import build_network

    return build_network(import_model(source), batch_size=batch_size)
