"""The machinery the per-function export converters share: the ONNX graph being built and one conversion step.

A converter is ``convert(s: Step) -> None``: it reads the set-up nnl function ``s.fn`` (arguments with their
defaults resolved, input/output shapes), the ONNX names of its inputs ``s.x`` and outputs ``s.y``, and emits nodes
with ``s.node`` writing every name of ``s.y``. Converters register with ``@converter("Type", ...)``.

Shapes come in pairs: every variable was set up at two batch sizes (``b0`` and ``b1``; the same one when the batch
is fixed), so a dimension that differs between them depends on the batch. ``Step.dims`` turns such a pair into an
ONNX shape tensor (computing ``k * batch`` from a graph input's shape where needed); dynamic-batch models therefore
need no shape literal that would pin the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from nnl.core.function import Function

Converter = Callable[["Step"], None]
CONVERTERS: dict[str, Converter] = {}

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
_BOOL_OPS = frozenset(
    {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"}
)
_INT64_OPS = frozenset({"ArgMax", "ArgMin", "Shape", "NonZero", "Size", "NonMaxSuppression"})
_TYPE_FROM = {"Where": 1, "OneHot": 2}  # ops whose output type is that of another input than the first
_INDEX_OUTPUTS = {"TopK": (1,), "Unique": (1, 2, 3)}  # int64 outputs of ops whose first output is data

ShapePair = tuple[tuple[int, ...], tuple[int, ...]]


def converter(*types: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of the nnl function ``types``."""

    def register(fn: Converter) -> Converter:
        for t in types:
            CONVERTERS[t] = fn
        return fn

    return register


class ExportError(ValueError):
    """A function (or one of its arguments) has no ONNX equivalent; the exporter adds where it happened."""


class Graph:
    """Nodes, initializers and element types of the ONNX graph under construction."""

    def __init__(self, opset: int, batches: tuple[int, int]) -> None:
        self.opset = opset
        self.b0, self.b1 = batches
        self.nodes: list[Any] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.types: dict[str, int] = {}
        self.batch_source: tuple[str, int, int] | None = None  # (graph input, axis, batch multiple of that dim)
        self._batch: str | None = None
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], str] = {}
        self._used: set[str] = set()

    def reserve(self, names: Any) -> None:
        """Keep ``names`` (the network's own variables) out of the generated names."""
        self._used.update(names)

    def fresh(self, hint: str) -> str:
        base = hint.replace(" ", "_")
        name, k = base, 1
        while name in self._used or name in self.types:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name

    def initializer(self, name: str, array: np.ndarray) -> str:
        array = np.asarray(array)
        self.initializers[name] = array
        self.types[name] = helper.np_dtype_to_tensor_dtype(array.dtype)
        return name

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        """An initializer holding ``value`` (shared between equal small constants)."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key not in self._constants or array.size > 64:
            self._constants[key] = self.initializer(self.fresh("const"), array)
        return self._constants[key]

    def batch(self) -> str:
        """A 1-element int64 tensor holding the batch size, read from a graph input's shape."""
        if self._batch is None:
            if self.batch_source is None:
                raise ExportError("the network has no graph input that carries the batch size")
            name, axis, multiple = self.batch_source
            out = self.fresh("batch")
            self.nodes.append(helper.make_node("Shape", [name], [out], start=axis, end=axis + 1))
            self.types[out] = INT64
            if multiple != 1:
                divided = self.fresh("batch")
                self.nodes.append(helper.make_node("Div", [out, self.const([multiple], np.int64)], [divided]))
                self.types[divided] = INT64
                out = divided
            self._batch = out
        return self._batch

    def factor(self, d0: int, d1: int) -> int:
        """``k`` with ``d == k * batch`` for a dimension of size ``d0`` at ``b0`` and ``d1`` at ``b1``."""
        k, rest = divmod(d1 - d0, self.b1 - self.b0)
        if rest or k * self.b0 != d0:
            raise ExportError(
                f"a dimension ({d0} at batch {self.b0}, {d1} at batch {self.b1}) is not a multiple of "
                "the batch size; export with a fixed batch_size"
            )
        return k


class Step:
    """The conversion of one nnl function: its inputs/outputs and helpers to emit ONNX nodes."""

    def __init__(
        self, graph: Graph, fn: Function, x: list[str], y: list[str], shapes: dict[str, ShapePair], label: str
    ) -> None:
        self.g, self.fn, self.x, self.y = graph, fn, x, y
        self.opset = graph.opset
        self._shapes = shapes
        self._label = label

    # -- what the function sees ------------------------------------------------------------------------------
    def shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[name][0]

    def pair(self, name: str) -> ShapePair:
        return self._shapes[name]

    def in_shape(self, i: int = 0) -> tuple[int, ...]:
        return self.shape(self.x[i])

    def out_shape(self, j: int = 0) -> tuple[int, ...]:
        return self.shape(self.y[j])

    def value(self, i: int) -> np.ndarray | None:
        """The value of input ``i`` when it is a parameter (an initializer), else None."""
        return self.g.initializers.get(self.x[i])

    def dtype(self, name: str) -> int:
        return self.g.types.get(name, FLOAT)

    def fail(self, argument: str, reason: str) -> ExportError:
        value = getattr(self.fn, argument, None)
        shown = f"={value!r}" if argument in self.fn.args_spec else ""
        return ExportError(f"argument {argument}{shown}: {reason}")

    # -- emitting ------------------------------------------------------------------------------------------------
    def fresh(self, hint: str = "") -> str:
        return self.g.fresh(f"{self._label}/{hint or 'tmp'}")

    def node(
        self, op: str, inputs: Sequence[str], out: str | Sequence[str] | None = None, n_out: int = 1, **attrs: Any
    ) -> Any:
        """Emit ``op``; returns its output name (a list when ``out`` is a list or ``n_out > 1``)."""
        many = not isinstance(out, str) and (out is not None or n_out > 1)
        names = (
            [out] if isinstance(out, str) else list(out) if out is not None else [self.fresh(op) for _ in range(n_out)]
        )
        self.g.nodes.append(helper.make_node(op, list(inputs), names, **attrs))
        if op in _BOOL_OPS:
            dtype = BOOL
        elif op in _INT64_OPS:
            dtype = INT64
        elif op == "Cast":
            dtype = attrs["to"]
        elif op in _TYPE_FROM:
            dtype = self.dtype(inputs[_TYPE_FROM[op]])
        else:
            dtype = self.dtype(inputs[0]) if inputs and inputs[0] else FLOAT
        for n in names:
            self.g.types[n] = dtype
        for k in _INDEX_OUTPUTS.get(op, ()):
            if k < len(names):
                self.g.types[names[k]] = INT64
        return names if many else names[0]

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        return self.g.const(value, dtype)

    def ints(self, values: Sequence[int]) -> str:
        return self.g.const(list(values), np.int64)

    def param(self, array: np.ndarray, hint: str) -> str:
        """A new float32 initializer computed from parameters (binarized weights...)."""
        return self.g.initializer(self.fresh(hint), np.asarray(array, np.float32))

    # -- types -----------------------------------------------------------------------------------------------------
    def cast(self, name: str, to: int, out: str | None = None) -> str:
        if self.dtype(name) == to and out is None:
            return name
        return self.node("Cast", [name], out, to=to)

    def as_float(self, name: str, out: str | None = None) -> str:
        return self.cast(name, FLOAT, out)

    def as_int(self, name: str) -> str:
        return self.cast(name, INT64)

    def as_bool(self, name: str) -> str:
        """Nonzero is true (nnabla's logical functions read float 0/1)."""
        if self.dtype(name) == BOOL:
            return name
        return self.node("Not", [self.node("Equal", [name, self.const(0, _np_type(self.dtype(name)))])])

    # -- shapes ----------------------------------------------------------------------------------------------------
    def dims(self, pair: ShapePair) -> str:
        """An int64 shape tensor for the shape ``pair`` (batch-dependent dimensions computed at run time)."""
        s0, s1 = pair
        if s0 == s1:
            return self.ints(s0)
        parts: list[str] = []
        static: list[int] = []
        for d0, d1 in zip(s0, s1):
            if d0 == d1:
                static.append(d0)
                continue
            if static:
                parts.append(self.ints(static))
                static = []
            k = self.g.factor(d0, d1)
            batch = self.g.batch()
            parts.append(batch if k == 1 else self.node("Mul", [batch, self.ints([k])]))
        if static:
            parts.append(self.ints(static))
        return parts[0] if len(parts) == 1 else self.node("Concat", parts, axis=0)

    def reshape(self, name: str, pair: ShapePair | tuple[int, ...], out: str | None = None) -> str:
        """Reshape to ``pair`` (one batch-dependent dimension becomes ``-1``); no node when nothing changes."""
        if not isinstance(pair[0], tuple):
            pair = (tuple(pair), tuple(pair))  # type: ignore[assignment]
        s0, s1 = pair  # type: ignore[misc]
        if out is None and name in self._shapes and self._shapes[name] == (s0, s1):
            return name
        varying = [i for i, (a, b) in enumerate(zip(s0, s1)) if a != b]
        if len(varying) == 1:
            target = self.ints([-1 if i == varying[0] else d for i, d in enumerate(s0)])
        else:
            target = self.dims((s0, s1))
        result = self.node("Reshape", [name, target], out)
        self._shapes[result] = (tuple(s0), tuple(s1))
        return result

    def reduce(self, op: str, name: str, axes: Sequence[int], keepdims: bool = True, out: str | None = None) -> str:
        """``Reduce*`` over ``axes`` (attribute or input, as the opset wants)."""
        axes = [int(a) for a in axes]
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [name, self.ints(axes)], out, keepdims=int(keepdims))
        return self.node(op, [name], out, axes=axes, keepdims=int(keepdims))

    def transpose(self, name: str, perm: Sequence[int], out: str | None = None) -> str:
        if list(perm) == sorted(perm) and out is None:
            return name
        return self.node("Transpose", [name], out, perm=list(perm))


def round_half_away(s: Step, name: str, out: str | None = None) -> str:
    """C's ``round`` (halves away from zero): ONNX ``Round`` goes to even, so ties move half a unit outwards."""
    r = s.node("Round", [name])
    tie = s.node("Equal", [s.node("Abs", [s.node("Sub", [name, r])]), s.const(0.5)])
    away = s.node("Add", [name, s.node("Mul", [s.node("Sign", [name]), s.const(0.5)])])
    return s.node("Where", [tie, away, r], out)


def take(s: Step, name: str, maps: dict[int, np.ndarray], out: str) -> None:
    """``name`` gathered at ``maps[axis]`` along each axis (Identity when there is nothing to move)."""
    if not maps:
        s.node("Identity", [name], out)
    for i, (axis, index) in enumerate(maps.items()):
        name = s.node("Gather", [name, s.const(index, np.int64)], out if i == len(maps) - 1 else None, axis=axis)


def _np_type(elem: int) -> Any:
    return helper.tensor_dtype_to_np_dtype(elem)


def tensor(name: str, array: np.ndarray) -> Any:
    return numpy_helper.from_array(np.asarray(array), name)
