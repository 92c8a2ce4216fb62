"""The machinery the per-op import converters share: one conversion of an ONNX graph into an nnl network.

A converter is ``convert(n: Node) -> None``: it reads the ONNX node through ``n`` (attributes, constant inputs,
input shapes) and either emits nnl functions with ``n.emit`` writing every output of the node, or gives an output a
constant value with ``n.set_const``. Converters register with ``@converter("OpType", ...)``.

A ``Run`` converts the whole graph at one concrete batch size: every value is either a known constant (initializers,
``Constant`` nodes and everything computed from them, shapes of tensors included) or an nnl Variable whose shape the
emitted function's setup gives. Constants become parameters only when an emitted function reads them. The importer
runs twice at two batch sizes when the batch is symbolic and merges the two networks (``importer._merge``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from nnl.core.function import REQUIRED
from nnl.core.variable import Variable
from nnl.functions import registry
from nnl.nnp import nnabla_pb2 as pb
from nnl.nnp.arguments import create_function, parameter_field

Converter = Callable[["Node"], None]
CONVERTERS: dict[str, Converter] = {}

INT_TYPES = frozenset(
    {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8,
     TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}
)
FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16})


def converter(*ops: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of the ONNX ``ops``."""

    def register(fn: Converter) -> Converter:
        for op in ops:
            CONVERTERS[op] = fn
        return fn

    return register


class ImportFailure(ValueError):
    """A node (or one of its attributes/inputs) has no nnl equivalent; the importer adds where it happened."""

    def __init__(self, reason: str, attribute: str | None = None) -> None:
        super().__init__(reason)
        self.attribute = attribute


def _field_value(spec_type: str, message: Any, name: str, value: Any) -> None:
    if spec_type == "Shape":
        getattr(message, name).SetInParent()
        getattr(message, name).dim.extend(int(d) for d in value)
    elif spec_type.startswith("repeated"):
        cast = float if "float" in spec_type else int
        getattr(message, name).extend(cast(v) for v in value)
    elif spec_type in ("float", "double"):
        setattr(message, name, float(value))
    elif spec_type == "int64":
        setattr(message, name, int(value))
    elif spec_type == "bool":
        setattr(message, name, bool(value))
    else:
        setattr(message, name, value)


def fill_arguments(proto: Any, type_name: str, args: dict[str, Any]) -> None:
    """Write every argument of ``type_name`` into ``proto``'s parameter message (class defaults where not given)."""
    cls = registry.function_class(type_name)
    unknown = set(args) - set(cls.args_spec)
    if unknown:
        raise TypeError(f"{type_name} has no argument(s) {sorted(unknown)}")
    field = parameter_field(type_name)
    if field is None:
        return
    message = getattr(proto, field)
    message.SetInParent()
    for name, spec in cls.args_spec.items():
        value = args.get(name, spec.default)
        if value is REQUIRED:
            raise TypeError(f"{type_name} needs the argument {name!r}")
        if value is None or spec.type == "Communicator":
            if spec.type not in ("Shape", "string") and not spec.type.startswith("repeated"):
                raise TypeError(f"{type_name}: the argument {name!r} must be given (its default is computed)")
            continue
        _field_value(spec.type, message, name, value)


class Run:
    """One conversion of a graph at one batch size: the network, its parameters, and every value's state."""

    def __init__(self, where: str, opset: int, types: dict[str, int], tainting: bool) -> None:
        self.where = where
        self.opset = opset
        self.types = types  # ONNX element types from shape inference
        self.tainting = tainting  # track constants computed from the (batch-dependent) shapes of tensors
        self.network = pb.Network()
        self.parameters: OrderedDict[str, np.ndarray] = OrderedDict()
        self.need_grad: dict[str, bool] = {}
        self.consts: dict[str, np.ndarray] = {}
        self.tainted: set[str] = set()
        self.vars: OrderedDict[str, Variable] = OrderedDict()
        self.initializers: set[str] = set()
        self._used: set[str] = set()
        self._function_names: set[str] = set()
        self._materialized: dict[str, str] = {}  # constant -> the parameter holding it

    # -- names -------------------------------------------------------------------------------------------------
    def reserve(self, names: Any) -> None:
        self._used.update(n for n in names if n)

    def function_name(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._function_names:
            name, k = f"{hint}_{k}", k + 1
        self._function_names.add(name)
        return name

    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._used:
            name, k = f"{hint}_{k}", k + 1
        self._used.add(name)
        return name

    # -- values --------------------------------------------------------------------------------------------------
    def add_input(self, name: str, shape: tuple[int, ...]) -> None:
        self.vars[name] = Variable(shape)

    def set_const(self, name: str, value: Any, tainted: bool = False) -> None:
        self.consts[name] = np.asarray(value)
        if tainted and self.tainting:
            self.tainted.add(name)

    def shape(self, name: str) -> tuple[int, ...]:
        if name in self.vars:
            return tuple(int(d) for d in self.vars[name].shape)
        return tuple(self.consts[name].shape)

    def elem_type(self, name: str) -> int:
        if name in self.consts:
            kind = self.consts[name].dtype.kind
            return TensorProto.BOOL if kind == "b" else TensorProto.INT64 if kind in "iu" else TensorProto.FLOAT
        return self.types.get(name, TensorProto.FLOAT)

    def parameter(self, array: Any, name: str, need_grad: bool = True) -> str:
        """A parameter variable holding ``array`` (float32), called ``name`` (made unique)."""
        array = np.asarray(array, dtype=np.float32)
        base = name.lstrip("/") or "parameter"  # HDF5 parameter files drop a leading "/"
        taken = base in self.vars or base in self.parameters or (base != name and base in self._used)
        name = self.fresh(base) if taken else base
        self._used.add(name)
        self.parameters[name] = array
        self.need_grad[name] = need_grad
        self.vars[name] = Variable(array.shape)
        self.vars[name].d = array
        return name

    def variable(self, name: str, hint: str) -> str:
        """The nnl variable holding the value ``name``: constants become parameters (or ``Constant`` fills)."""
        if name in self.vars:
            return name
        if name in self._materialized:
            return self._materialized[name]
        value = self.consts[name]
        if name in self.tainted and value.size and np.all(value == value.flat[0]):
            # a fill whose shape follows the batch (zeros for recurrent states, say): a Constant function
            return self.emit(f"{hint}/Constant", "Constant", [], [name], {"val": float(value.flat[0]),
                                                                          "shape": value.shape})[0]
        need_grad = name in self.initializers and value.dtype.kind == "f"
        self._materialized[name] = self.parameter(value, name, need_grad)
        return self._materialized[name]

    # -- functions -----------------------------------------------------------------------------------------------
    def emit(self, fname: str, type_name: str, inputs: Sequence[str], outputs: Sequence[str],
             args: dict[str, Any]) -> list[str]:
        """Add a function (its variables' shapes from nnl's setup); returns its output names."""
        proto = self.network.function.add()
        proto.name = self.function_name(fname)
        proto.type = type_name
        proto.input.extend(inputs)
        proto.output.extend(outputs)
        fill_arguments(proto, type_name, args)
        function = create_function(proto, self.where)
        try:
            result = function(*[self.vars[i] for i in inputs], n_outputs=len(outputs), auto_forward=False)
        except Exception as e:  # nnl's setup names the argument at fault
            shapes = ", ".join(f"{tuple(self.vars[i].shape)}" for i in inputs)
            raise ImportFailure(f"nnl's {type_name} rejects inputs of shapes {shapes}: {e}") from e
        result = list(result) if isinstance(result, (list, tuple)) else [result]
        for name, v in zip(outputs, result):
            self._used.add(name)
            self.vars[name] = v
        return list(outputs)

    # -- result --------------------------------------------------------------------------------------------------
    def finish(self, name: str, batch_size: int, declared: Callable[[str, tuple[int, ...]], list[int]]) -> None:
        """Declare every variable (``declared`` gives the shape to write) and set the network's name/batch."""
        self.network.name = name
        self.network.batch_size = batch_size
        used = {n for f in self.network.function for n in (*f.input, *f.output)}
        for vname, v in self.vars.items():
            if vname not in used:
                continue
            var = self.network.variable.add()
            var.name = vname
            var.type = "Parameter" if vname in self.parameters else "Buffer"
            var.shape.dim.extend(declared(vname, tuple(int(d) for d in v.shape)))


class Node:
    """One ONNX node during its conversion: attributes (their use recorded), inputs, outputs and emitting."""

    def __init__(self, run: Run, proto: Any, index: int) -> None:
        self.run = run
        self.op = proto.op_type
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.attributes = {a.name: a for a in proto.attribute}
        self.read: set[str] = set()
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)

    @property
    def opset(self) -> int:
        return self.run.opset

    # -- attributes ----------------------------------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        if name not in self.attributes:
            return default
        value = helper.get_attribute_value(self.attributes[name])
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, list):
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        return value

    def fail(self, reason: str, attribute: str | None = None) -> ImportFailure:
        return ImportFailure(reason, attribute)

    def expect(self, name: str, allowed: Any, default: Any) -> Any:
        """The attribute's value, which must be one of ``allowed``."""
        value = self.attr(name, default)
        if value not in allowed:
            raise self.fail(f"{name}={value!r} is not supported (nnl supports {allowed})", name)
        return value

    # -- inputs --------------------------------------------------------------------------------------------------
    def has(self, i: int) -> bool:
        return i < len(self.inputs) and bool(self.inputs[i])

    def const(self, i: int) -> np.ndarray | None:
        return self.run.consts.get(self.inputs[i]) if self.has(i) else None

    def need_const(self, i: int, what: str) -> np.ndarray:
        value = self.const(i)
        if value is None:
            raise self.fail(f"input {i} ({what}, {self.inputs[i]!r}) must be a constant (an initializer or computed "
                            "from initializers and shapes); nnl networks are static")
        return value

    def const_or_attr(self, i: int, attribute: str, default: Any = None) -> Any:
        """An argument given as input ``i`` (newer opsets) or as the attribute (older ones)."""
        if self.has(i):
            return self.need_const(i, attribute)
        return self.attr(attribute, default)

    def x(self, i: int) -> str:
        """The nnl variable of input ``i`` (a constant becomes a parameter)."""
        return self.run.variable(self.inputs[i], self.name)

    def shape(self, i: int) -> tuple[int, ...]:
        return self.run.shape(self.inputs[i])

    def rank(self, i: int) -> int:
        return len(self.shape(i))

    def elem_type(self, i: int) -> int:
        return self.run.elem_type(self.inputs[i])

    def tainted(self, i: int) -> bool:
        return self.has(i) and self.inputs[i] in self.run.tainted

    # -- outputs -------------------------------------------------------------------------------------------------
    def has_output(self, i: int) -> bool:
        return i < len(self.outputs) and bool(self.outputs[i])

    def only_first_output(self, what: str = "") -> None:
        extra = [o for o in self.outputs[1:] if o]
        if extra:
            raise self.fail(f"the output(s) {extra} {what or 'are not supported'}")

    def set_const(self, i: int, value: Any, tainted: bool = False) -> None:
        self.run.set_const(self.outputs[i], value, tainted)

    # -- emitting ------------------------------------------------------------------------------------------------
    def emit(self, type_name: str, inputs: Sequence[str], out: str | Sequence[str] | int | None = None,
             **args: Any) -> Any:
        """Emit one nnl function; ``out``: an output name, names, a count of fresh outputs, or None (one fresh).

        Returns the output name (one output) or the list of names.
        """
        if out is None or isinstance(out, int):
            outputs = [self.run.fresh(f"{self.name}/{type_name}") for _ in range(out or 1)]
        else:
            outputs = [out] if isinstance(out, str) else list(out)
        main = any(o in self.outputs for o in outputs)
        names = self.run.emit(self.name if main else f"{self.name}/{type_name}", type_name, list(inputs), outputs,
                              args)
        return names[0] if isinstance(out, str) or out is None else names

    def reshape(self, x: str, shape: Sequence[int], out: str | None = None) -> str:
        shape = tuple(int(d) for d in shape)
        if out is None and self.run.shape(x) == shape:
            return x
        return self.emit("Reshape", [x], out, shape=shape)

    def identity(self, x: str, out: str) -> str:
        return self.emit("Identity", [x], out)

    def parameter(self, array: Any, hint: str, need_grad: bool = True) -> str:
        return self.run.parameter(array, f"{self.name}/{hint}", need_grad)

    def to_rank(self, x: str, rank: int) -> str:
        """``x`` with leading 1s up to ``rank`` dimensions (NumPy broadcasting made explicit)."""
        shape = self.run.shape(x)
        return self.reshape(x, (1,) * (rank - len(shape)) + shape) if len(shape) < rank else x

    def broadcast(self, x: str, shape: Sequence[int], out: str | None = None) -> str:
        """``x`` broadcast to ``shape`` (NumPy rules)."""
        shape = tuple(int(d) for d in shape)
        x = self.to_rank(x, len(shape))
        if self.run.shape(x) == shape:
            return x if out is None else self.identity(x, out)
        return self.emit("Broadcast", [x], out, shape=shape)

    def input_as(self, i: int, shape: Sequence[int]) -> str:
        """Input ``i`` reshaped to ``shape``: a constant becomes a parameter of that shape (keeping its name)."""
        name = self.inputs[i]
        if name in self.run.vars or name not in self.run.consts:
            return self.reshape(self.x(i), shape)
        value = self.run.consts[name]
        return self.run.parameter(value.reshape(tuple(shape)), name, name in self.run.initializers)

    def const_variable(self, value: Any, tainted: bool, hint: str) -> str:
        """A variable for a constant computed here (tainted: its shape follows the batch, see ``Run.variable``)."""
        name = self.run.fresh(f"{self.name}/{hint}")
        self.run.set_const(name, value, tainted)
        return self.run.variable(name, self.name)


def tensor_value(attribute_value: Any) -> np.ndarray:
    return numpy_helper.to_array(attribute_value)


def axis_of(n: Node, axis: int, rank: int, attribute: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise n.fail(f"{attribute}={axis} is out of range for a rank-{rank} input", attribute)
    return axis % rank if rank else 0
