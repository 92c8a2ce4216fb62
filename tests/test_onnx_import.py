"""ONNX import: one small model per op (and per important attribute), PyTorch exports, .nnp round trips, errors,
and nnl -> ONNX -> nnl round trips through the exporter.

Every imported network is built and run in nnl and compared with onnxruntime (CPUExecutionProvider) on the same
random inputs within 1e-5 (abs) / 1e-4 (rel). Models whose first input has a symbolic batch dimension run at two
batch sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import nnl  # noqa: E402
from nnl.nnp.container import read_nnp, write_nnp  # noqa: E402
from nnl.nnp.graph import build_network  # noqa: E402
from nnl.onnx import IMPORTABLE, import_model, load  # noqa: E402

F32 = np.float32
_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
         np.dtype(np.bool_): TensorProto.BOOL}


# -- helpers ----------------------------------------------------------------------------------------------------
def make_model(nodes: list[Any], inputs: dict[str, np.ndarray], outputs: list[str], inits: dict[str, Any] | None = None,
               opset: int = 17, dynamic: bool = False) -> Any:
    """A model of ``nodes``; ``dynamic``: the first dimension of the inputs whose first dimension is the first
    input's is the symbolic ``"batch"``."""
    lead = _lead(inputs)
    infos = [helper.make_tensor_value_info(k, _ELEM[v.dtype], [] if not v.ndim else
                                           (["batch"] if dynamic and v.shape[0] == lead else [v.shape[0]])
                                           + list(v.shape[1:])) for k, v in inputs.items()]
    initializers = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "test", infos, [helper.make_empty_tensor_value_info(o) for o in outputs],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.output)}
    del model.graph.output[:]
    model.graph.output.extend(helper.make_tensor_value_info(o, types.get(o) or TensorProto.FLOAT, None) for o in outputs)
    return model


def _lead(inputs: dict[str, np.ndarray]) -> int | None:
    first = next(iter(inputs.values()))
    return first.shape[0] if first.ndim else None


def ort_run(model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    if any(a.name == "layout" and a.i == 1 for n in model.graph.node for a in n.attribute):
        # onnxruntime runs no batch-first recurrent op: ONNX's reference implementation does
        return ReferenceEvaluator(model).run(None, feeds)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def nnl_run(nnp: Any, feeds: dict[str, np.ndarray], outputs: list[str], batch_size: int | None = None) -> list[Any]:
    if batch_size is None:  # the batch of the feeds where the network declares a variable batch
        declared = {v.name: list(v.shape.dim) for v in nnp.network().variable}
        batch_size = next((feeds[k].shape[dims.index(-1)] for k, dims in declared.items() if k in feeds and -1 in dims),
                          None)
    net = build_network(nnp, batch_size=batch_size, parameter_scope=False)
    for name, value in feeds.items():
        if name in net.inputs:  # inputs whose shape only is read are not network inputs
            net.inputs[name].d = value
    ys = [net.variables[o] for o in outputs]
    nnl.forward_all(ys)
    return [np.array(y.d) for y in ys]


def compare(got: list[np.ndarray], expected: list[np.ndarray], what: str, atol: float = 1e-5) -> None:
    for k, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e)
        assert g.shape == e.shape, f"{what}: output {k} has shape {g.shape}, onnxruntime {e.shape}"
        np.testing.assert_allclose(g, e.astype(np.float64), atol=atol, rtol=1e-4, err_msg=f"{what}: output {k}")


def check_model(model: Any, feeds: dict[str, np.ndarray], what: str, batches: list[int] | None = None,
                atol: float = 1e-5, make_feeds: Any = None) -> Any:
    """Import ``model`` and compare nnl with onnxruntime (at each of ``batches`` when the batch is symbolic)."""
    nnp = import_model(model)
    outputs = [o.name for o in model.graph.output]
    for batch in batches or [None]:
        data = feeds if batch is None else make_feeds(batch)
        compare(nnl_run(nnp, data, outputs, batch), ort_run(model, data), f"{what} (batch {batch})", atol)
    return nnp


# -- one model per op -------------------------------------------------------------------------------------------
@dataclass
class OpCase:
    id: str
    nodes: list[Any]
    inputs: dict[str, Any]  # name -> shape (random normal) or array
    inits: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=lambda: ["y"])
    opset: int = 17
    dynamic: bool = True  # also import with a symbolic batch (first dim of every input) and run at two sizes
    atol: float = 1e-5


def node(op: str, inputs: list[str], outputs: list[str] | None = None, **attrs: Any) -> Any:
    return helper.make_node(op, inputs, outputs or ["y"], **attrs)


R = np.random.RandomState(0)


def rand(*shape: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    if low is not None:
        return R.uniform(low, high, shape).astype(F32)
    return R.randn(*shape).astype(F32)


def i64(*values: int) -> np.ndarray:
    return np.asarray(values, np.int64)


def unary(op: str, shape: tuple[int, ...] = (2, 3, 4), low: float | None = None, high: float | None = None,
          opset: int = 17, **attrs: Any) -> OpCase:
    suffix = "-".join(f"{k}" for k in attrs)
    return OpCase(f"{op}{'-' + suffix if suffix else ''}", [node(op, ["x"], **attrs)],
                  {"x": rand(*shape, low=low, high=high) if low is not None else shape}, opset=opset)


def binary_case(op: str, a: Any, b: Any, const: str = "", name: str = "", **attrs: Any) -> OpCase:
    """``const``: which operand is an initializer ("a", "b" or "")."""
    def value(s: Any) -> np.ndarray:
        return s if isinstance(s, np.ndarray) else (rand(*s, low=0.5, high=2.0) if op == "Pow" else rand(*s))
    va, vb = value(a), value(b)
    inputs = {k: v for k, v in (("a", va), ("b", vb)) if k != const}
    inits = {k: v for k, v in (("a", va), ("b", vb)) if k == const}
    return OpCase(f"{op}-{name or const or 'vars'}", [node(op, ["a", "b"], **attrs)], inputs, inits,
                  dynamic=const != "a" or np.ndim(va) == 0)


CONV_W = rand(6, 4, 3, 3)
CONV_B = rand(6)
LSTM_W = {"W": rand(2, 20, 3), "R": rand(2, 20, 5), "B": rand(2, 40)}

CASES = [
    *(unary(op) for op in ("Relu", "Sigmoid", "Tanh", "Softsign", "Softplus", "Erf", "Exp", "Abs", "Neg",
                           "Floor", "Ceil", "Sign", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh", "Asinh", "Identity")),
    unary("Mish", opset=18), unary("Log", low=0.1, high=3.0), unary("Sqrt", low=0.1, high=3.0), unary("Reciprocal", low=0.5, high=3.0),
    unary("Asin", low=-0.9, high=0.9), unary("Acos", low=-0.9, high=0.9), unary("Atanh", low=-0.9, high=0.9),
    unary("Acosh", low=1.1, high=3.0),
    OpCase("Round", [node("Round", ["x"])], {"x": np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -3.7]], F32)},
           dynamic=False),
    unary("LeakyRelu", alpha=0.3), unary("Elu", alpha=0.7), unary("Selu"), unary("Celu", alpha=2.0), unary("Celu"),
    unary("HardSigmoid"), unary("HardSigmoid", alpha=0.3, beta=0.4), unary("HardSwish"),
    unary("Gelu", opset=20), unary("Gelu", opset=20, approximate="tanh"),
    unary("Softmax", axis=1), unary("Softmax", opset=11), unary("Softmax", opset=11, axis=2), unary("Softmax"),
    unary("LogSoftmax"), unary("LogSoftmax", opset=12, axis=1),
    unary("Clip", opset=9, min=-0.5, max=0.5),
    OpCase("Clip-inputs", [node("Clip", ["x", "lo", "hi"])], {"x": (2, 3, 4)}, {"lo": F32(-0.5), "hi": F32(0.7)}),
    OpCase("Clip-min", [node("Clip", ["x", "lo"])], {"x": (2, 3, 4)}, {"lo": F32(0.1)}),
    OpCase("Clip-dynamic", [node("Clip", ["x", "lo", "hi"])], {"x": (2, 3), "lo": np.array(-0.5, F32),
                                                                  "hi": np.array(0.3, F32)}),
    OpCase("PRelu-channel", [node("PRelu", ["x", "s"])], {"x": (2, 3, 4, 4)}, {"s": rand(3, 1, 1)}),
    OpCase("PRelu-shared", [node("PRelu", ["x", "s"])], {"x": (2, 3, 4)}, {"s": rand(1)}),
    OpCase("PRelu-general", [node("PRelu", ["x", "s"])], {"x": (2, 3, 4)}, {"s": rand(3, 4)}),
    OpCase("IsNaN", [node("IsNaN", ["x"])], {"x": np.array([[1.0, np.nan, 2.0]], F32)}),
    OpCase("IsInf", [node("IsInf", ["x"])], {"x": np.array([[1.0, np.inf, -np.inf]], F32)}),
    # binary ops with broadcasting and scalar constants
    *(binary_case(op, (2, 3, 4), (2, 3, 4)) for op in ("Add", "Sub", "Mul", "Div", "Pow")),
    *(binary_case(op, (2, 3, 4), (3, 1), name="broadcast") for op in ("Add", "Sub", "Mul", "Div")),
    *(binary_case(op, (2, 3, 4), np.array(1.5, F32), "b", "scalar-b") for op in ("Add", "Sub", "Mul", "Div", "Pow")),
    *(binary_case(op, np.array(1.5, F32), (2, 3, 4), "a", "scalar-a") for op in ("Add", "Sub", "Mul", "Div", "Pow")),
    binary_case("Add", (2, 3, 4), rand(4), "b", "const-vector"),
    binary_case("Mul", (2, 3, 4), np.array([2.0], F32), "b", "const-size1"),
    *(binary_case(op, (2, 3), (2, 3)) for op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")),
    *(binary_case(op, (2, 3), np.array(0.1, F32), "b", "scalar-b") for op in ("Less", "Greater", "GreaterOrEqual")),
    *(binary_case(op, np.array(0.1, F32), (2, 3), "a", "scalar-a") for op in ("Less", "LessOrEqual")),
    OpCase("Div-int", [node("Div", ["a", "b"])], {"a": np.array([[7, -7, 9, 2]], np.int64)},
           {"b": np.array([2, 2, -4, 3], np.int64)}),
    OpCase("Equal-int", [node("Equal", ["a", "b"])], {"a": np.array([[1, 2, 3]], np.int64)},
           {"b": np.array([2], np.int64)}),
    *(OpCase(op, [node(op, ["a", "b"])], {"a": R.rand(2, 3) > 0.5, "b": R.rand(2, 3) > 0.5})
      for op in ("And", "Or", "Xor")),
    OpCase("Not", [node("Not", ["a"])], {"a": R.rand(2, 3) > 0.5}),
    OpCase("Where", [node("Where", ["c", "a", "b"])], {"c": R.rand(2, 3, 4) > 0.5, "a": (2, 3, 4), "b": (2, 3, 4)}),
    OpCase("Where-broadcast", [node("Where", ["c", "a", "b"])], {"c": R.rand(2, 1, 4) > 0.5, "a": (2, 3, 4)},
           {"b": F32(0.0)}),
    OpCase("Mod-fmod", [node("Mod", ["a", "b"], fmod=1)], {"a": (2, 3)}, {"b": np.array(0.7, F32)}),
    *(OpCase(f"{op}-variadic", [node(op, ["a", "b", "c"])], {"a": (2, 3, 4), "b": (3, 4), "c": (2, 1, 4)})
      for op in ("Max", "Min", "Sum", "Mean")),
    OpCase("Sum-one", [node("Sum", ["a"])], {"a": (2, 3)}),
    OpCase("Cast-float", [node("Cast", ["x"], ["y0"], to=TensorProto.DOUBLE), node("Cast", ["y0"], ["y"], to=1)],
           {"x": (2, 3)}, dynamic=False),
    OpCase("Cast-bool", [node("Greater", ["x", "z"], ["g"]), node("Cast", ["g"], to=TensorProto.FLOAT)],
           {"x": (2, 3)}, {"z": F32(0.0)}),
    OpCase("CastLike", [node("CastLike", ["x", "z"], ["i"]), node("Cast", ["i"], to=1)],
           {"x": rand(2, 5, low=-5.0, high=5.0)}, {"z": np.zeros(1, np.int64)}),
    OpCase("Cast-int", [node("Cast", ["x"], ["i"], to=TensorProto.INT64), node("Cast", ["i"], to=1)],
           {"x": rand(2, 5, low=-5.0, high=5.0)}),
    # reductions
    *(OpCase(f"{op}-axes", [node(op, ["x"], axes=[1], keepdims=0)], {"x": (2, 3, 4)}, opset=12)
      for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                 "ReduceSumSquare", "ReduceLogSumExp")),
    OpCase("ReduceLogSum", [node("ReduceLogSum", ["x"], axes=[2])], {"x": rand(2, 3, 4, low=0.1, high=2.0)},
           opset=12),
    OpCase("ReduceSum-input", [node("ReduceSum", ["x", "ax"])], {"x": (2, 3, 4)}, {"ax": i64(-1, 1)}),
    OpCase("ReduceSum-all", [node("ReduceSum", ["x"], keepdims=0)], {"x": (2, 3, 4)}, dynamic=False),
    OpCase("ReduceMean-18", [node("ReduceMean", ["x", "ax"])], {"x": (2, 3, 4)}, {"ax": i64(2)}, opset=18),
    OpCase("ReduceMax-noop", [node("ReduceMax", ["x"], noop_with_empty_axes=1)], {"x": (2, 3)}, opset=18),
    OpCase("ArgMax", [node("ArgMax", ["x"], axis=1)], {"x": (2, 5, 3)}),
    OpCase("ArgMin", [node("ArgMin", ["x"], axis=-1, keepdims=0)], {"x": (2, 5, 3)}),
    OpCase("CumSum", [node("CumSum", ["x", "ax"])], {"x": (2, 4, 3)}, {"ax": i64(1)}),
    OpCase("CumSum-exclusive-reverse", [node("CumSum", ["x", "ax"], exclusive=1, reverse=1)], {"x": (2, 4, 3)},
           {"ax": np.array(-1, np.int64)}),
    OpCase("TopK", [node("TopK", ["x", "k"], ["y", "i"])], {"x": (2, 3, 7)}, {"k": i64(3)}, outputs=["y", "i"]),
    OpCase("TopK-axis-smallest", [node("TopK", ["x", "k"], ["y", "i"], axis=1, largest=0)], {"x": (2, 6, 3)},
           {"k": i64(2)}, outputs=["y", "i"]),
    OpCase("Einsum", [node("Einsum", ["a", "b"], equation="bij,bjk->bik")], {"a": (2, 3, 4), "b": (2, 4, 5)}),
    OpCase("Einsum-broadcast", [node("Einsum", ["a", "b"], equation="abij,abjk->abik")],
           {"a": (2, 1, 2, 3), "b": (1, 3, 3, 2)}, dynamic=False),
    OpCase("constant-output", [node("Constant", [], ["c"], value=numpy_helper.from_array(rand(2, 3))),
                               node("Relu", ["x"])], {"x": (2, 3)}, outputs=["y", "c"]),
    OpCase("shape-output", [node("Shape", ["x"], ["s"]), node("Relu", ["x"])], {"x": (2, 3)}, outputs=["y", "s"],
           dynamic=False),
    OpCase("Det", [node("Det", ["x"])], {"x": (2, 3, 3)}),
    OpCase("Trilu", [node("Trilu", ["x", "k"], upper=0)], {"x": (2, 4, 5)}, {"k": np.array(1, np.int64)}),
    OpCase("EyeLike", [node("EyeLike", ["x"], ["y0"], k=-1), node("Add", ["x", "y0"])], {"x": (3, 4)}, outputs=["y"],
           dynamic=False),
    OpCase("GatherND", [node("GatherND", ["x", "i"])], {"x": (3, 4, 5)}, {"i": np.array([[0, 1], [2, -1]],
                                                                                         np.int64)}),
    OpCase("GatherND-dynamic", [node("GatherND", ["x", "i"])], {"x": (3, 4, 2), "i": np.array([[1], [0]], np.int64)},
           dynamic=False),
    OpCase("GridSample", [node("GridSample", ["x", "g"], align_corners=1)], {"x": (2, 3, 5, 6)},
           {"g": rand(2, 4, 3, 2, low=-1.1, high=1.1)}, dynamic=False),
    OpCase("GridSample-border", [node("GridSample", ["x", "g"], padding_mode="border", mode="linear")],
           {"x": (2, 3, 5, 6), "g": rand(2, 4, 3, 2, low=-1.2, high=1.2)}, opset=20),
    # shapes and indexing
    OpCase("Reshape", [node("Reshape", ["x", "s"])], {"x": (2, 3, 4)}, {"s": i64(0, -1, 2)}),
    OpCase("Flatten", [node("Flatten", ["x"])], {"x": (2, 3, 4, 5)}),
    OpCase("Flatten-axis", [node("Flatten", ["x"], axis=2)], {"x": (2, 3, 4, 5)}, dynamic=False),
    OpCase("Squeeze", [node("Squeeze", ["x", "ax"])], {"x": (2, 1, 4, 1)}, {"ax": i64(1, -1)}),
    OpCase("Squeeze-11", [node("Squeeze", ["x"], axes=[1])], {"x": (2, 1, 4)}, opset=11),
    OpCase("Unsqueeze", [node("Unsqueeze", ["x", "ax"])], {"x": (2, 4)}, {"ax": i64(1, -1)}),
    OpCase("Unsqueeze-11", [node("Unsqueeze", ["x"], axes=[0, 3])], {"x": (2, 4)}, opset=11, dynamic=False),
    OpCase("Transpose", [node("Transpose", ["x"], perm=[0, 2, 3, 1])], {"x": (2, 3, 4, 5)}),
    OpCase("Transpose-default", [node("Transpose", ["x"])], {"x": (2, 3, 4)}, dynamic=False),
    OpCase("Concat", [node("Concat", ["a", "b", "c"], axis=1)], {"a": (2, 3, 4), "b": (2, 1, 4)},
           {"c": rand(2, 2, 4)}, dynamic=False),
    OpCase("Concat-negative", [node("Concat", ["a", "b"], axis=-1)], {"a": (2, 3), "b": (2, 4)}),
    OpCase("Split", [node("Split", ["x", "s"], ["y0", "y1"], axis=1)], {"x": (2, 5, 3)}, {"s": i64(2, 3)},
           outputs=["y0", "y1"]),
    OpCase("Split-equal", [node("Split", ["x"], ["y0", "y1", "y2"], axis=-1)], {"x": (2, 6)},
           outputs=["y0", "y1", "y2"]),
    OpCase("Split-11", [node("Split", ["x"], ["y0", "y1"], axis=1, split=[1, 3])], {"x": (2, 4)}, opset=11,
           outputs=["y0", "y1"]),
    OpCase("Split-18", [node("Split", ["x"], ["y0", "y1"], axis=1, num_outputs=2)], {"x": (2, 5)}, opset=18,
           outputs=["y0", "y1"]),
    OpCase("Slice", [node("Slice", ["x", "s", "e", "a", "st"])], {"x": (2, 6, 7)},
           {"s": i64(1, -1), "e": i64(5, -8), "a": i64(1, 2), "st": i64(2, -2)}),
    OpCase("Slice-defaults", [node("Slice", ["x", "s", "e"])], {"x": (3, 6)}, {"s": i64(1, 2), "e": i64(100, -1)},
           dynamic=False),
    OpCase("Slice-to-end", [node("Slice", ["x", "s", "e", "a"])], {"x": (2, 6, 4)},
           {"s": i64(-3), "e": i64(2**62), "a": i64(1)}),
    OpCase("Slice-9", [node("Slice", ["x"], starts=[1], ends=[3], axes=[1])], {"x": (2, 6)}, opset=9),
    OpCase("Gather-scalar", [node("Gather", ["x", "i"], axis=1)], {"x": (2, 5, 3)}, {"i": np.array(-1, np.int64)}),
    OpCase("Gather-vector", [node("Gather", ["x", "i"], axis=1)], {"x": (2, 5, 3)}, {"i": i64(4, 0, -2)}),
    OpCase("Gather-embed", [node("Gather", ["w", "i"])], {"i": np.array([[1, 4], [0, 2]], np.int64)},
           {"w": rand(5, 3)}),
    OpCase("Gather-dynamic", [node("Gather", ["x", "i"], axis=1)], {"x": (2, 5), "i": np.array([[3, 0, 1]] * 2)}),
    OpCase("Pad-constant", [node("Pad", ["x", "p", "v"])], {"x": (2, 3, 4)}, {"p": i64(0, 1, 2, 0, 0, 1),
                                                                               "v": F32(1.5)}),
    OpCase("Pad-reflect", [node("Pad", ["x", "p"], mode="reflect")], {"x": (2, 3, 5)}, {"p": i64(0, 0, 2, 0, 0, 1)}),
    OpCase("Pad-edge", [node("Pad", ["x", "p"], mode="edge")], {"x": (2, 3, 5)}, {"p": i64(0, 1, 1, 0, 2, 3)}),
    OpCase("Pad-negative", [node("Pad", ["x", "p"])], {"x": (2, 3, 5)}, {"p": i64(0, 0, -1, 0, 1, -2)}),
    OpCase("Pad-axes", [node("Pad", ["x", "p", "", "a"])], {"x": (2, 3, 5)}, {"p": i64(1, 2), "a": i64(-1)},
           opset=18),
    OpCase("Pad-11-attr", [node("Pad", ["x"], pads=[0, 1, 0, 2], value=0.5)], {"x": (2, 3)}, opset=10),
    OpCase("Expand", [node("Expand", ["x", "s"])], {"x": (2, 1, 4)}, {"s": i64(3, 1)}),
    OpCase("Expand-rank", [node("Expand", ["x", "s"])], {"x": (3, 1)}, {"s": i64(2, 1, 4)}, dynamic=False),
    OpCase("Tile", [node("Tile", ["x", "r"])], {"x": (2, 3)}, {"r": i64(1, 3)}),
    OpCase("DepthToSpace-DCR", [node("DepthToSpace", ["x"], blocksize=2)], {"x": (2, 8, 3, 4)}),
    OpCase("DepthToSpace-CRD", [node("DepthToSpace", ["x"], blocksize=2, mode="CRD")], {"x": (2, 8, 3, 4)}),
    OpCase("SpaceToDepth", [node("SpaceToDepth", ["x"], blocksize=2)], {"x": (2, 3, 4, 6)}),
    OpCase("Dropout", [node("Dropout", ["x"])], {"x": (2, 3)}),
    OpCase("Constant", [node("Constant", [], ["c"], value=numpy_helper.from_array(rand(3))), node("Add", ["x", "c"])],
           {"x": (2, 3)}),
    OpCase("ConstantOfShape", [node("ConstantOfShape", ["s"], ["c"], value=numpy_helper.from_array(F32([2.0]))),
                               node("Mul", ["x", "c"])], {"x": (2, 3)}, {"s": i64(3)}),
    OpCase("Shape-chain", [
        node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["b"], axis=0),
        node("Unsqueeze", ["b", "zero1"], ["b1"]), node("Concat", ["b1", "minus1"], ["t"], axis=0),
        node("Reshape", ["x", "t"])], {"x": (2, 3, 4)},
        {"zero": np.array(0, np.int64), "zero1": i64(0), "minus1": i64(-1)}),
    OpCase("Size", [node("Size", ["x"], ["n"]), node("Cast", ["n"], ["nf"], to=1), node("Div", ["x", "nf"])],
           {"x": (2, 3)}, dynamic=False),
    OpCase("Expand-shape", [node("Shape", ["x"], ["s"]), node("Expand", ["b", "s"], ["e"]), node("Add", ["x", "e"])],
           {"x": (2, 3, 4)}, {"b": rand(3, 1)}),
    OpCase("Range-folded", [node("Range", ["s", "l", "d"], ["r"]), node("Cast", ["r"], ["rf"], to=1),
                            node("Mul", ["x", "rf"])], {"x": (2, 4)}, {"s": np.array(0, np.int64),
                                                                       "l": np.array(4, np.int64),
                                                                       "d": np.array(1, np.int64)}),
    # layers
    OpCase("Conv", [node("Conv", ["x", "w", "b"], pads=[1, 1, 1, 1])], {"x": (2, 4, 7, 6)}, {"w": CONV_W, "b": CONV_B}),
    OpCase("Conv-strides-dilations", [node("Conv", ["x", "w"], strides=[2, 1], dilations=[1, 2])],
           {"x": (2, 4, 9, 8)}, {"w": CONV_W}),
    OpCase("Conv-group", [node("Conv", ["x", "w"], group=2, pads=[0, 1, 0, 1])], {"x": (2, 4, 5, 5)},
           {"w": rand(6, 2, 3, 3)}),
    OpCase("Conv-asymmetric", [node("Conv", ["x", "w"], pads=[0, 1, 2, 0])], {"x": (2, 4, 5, 5)}, {"w": CONV_W}),
    *(OpCase(f"Conv-{pad}", [node("Conv", ["x", "w"], auto_pad=pad, strides=[2, 2])], {"x": (2, 4, 6, 7)},
             {"w": CONV_W}) for pad in ("SAME_UPPER", "SAME_LOWER", "VALID")),
    OpCase("Conv-1d", [node("Conv", ["x", "w", "b"], pads=[2, 2])], {"x": (2, 3, 9)}, {"w": rand(4, 3, 5),
                                                                                        "b": rand(4)}),
    OpCase("Conv-3d", [node("Conv", ["x", "w"], pads=[1, 0, 1, 1, 0, 1])], {"x": (1, 2, 4, 5, 5)},
           {"w": rand(3, 2, 3, 2, 3)}),
    OpCase("ConvTranspose", [node("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 1, 1, 1])],
           {"x": (2, 4, 3, 4)}, {"w": rand(4, 3, 3, 3), "b": rand(3)}),
    OpCase("ConvTranspose-output-padding", [node("ConvTranspose", ["x", "w"], strides=[2, 2], output_padding=[1, 0],
                                                 group=2)], {"x": (2, 4, 3, 4)}, {"w": rand(4, 2, 3, 3)}),
    OpCase("ConvTranspose-asymmetric", [node("ConvTranspose", ["x", "w"], strides=[2, 2], pads=[0, 1, 1, 0])],
           {"x": (2, 4, 3, 4)}, {"w": rand(4, 3, 3, 3)}),
    OpCase("ConvTranspose-output-shape", [node("ConvTranspose", ["x", "w"], strides=[2, 2], output_shape=[6, 8])],
           {"x": (2, 4, 3, 4)}, {"w": rand(4, 3, 3, 3)}),
    OpCase("ConvTranspose-same", [node("ConvTranspose", ["x", "w"], strides=[2, 2], auto_pad="SAME_UPPER")],
           {"x": (2, 4, 3, 4)}, {"w": rand(4, 3, 3, 3)}),
    OpCase("Gemm", [node("Gemm", ["a", "b", "c"])], {"a": (3, 4)}, {"b": rand(4, 5), "c": rand(5)}),
    OpCase("Gemm-trans-alpha-beta", [node("Gemm", ["a", "b", "c"], transA=1, transB=1, alpha=0.5, beta=2.0)],
           {"a": (4, 3)}, {"b": rand(5, 4), "c": rand(1, 5)}, dynamic=False),
    OpCase("Gemm-matrix-c", [node("Gemm", ["a", "b", "c"], beta=0.5)], {"a": (3, 4)}, {"b": rand(4, 5),
                                                                                       "c": rand(3, 5)},
           dynamic=False),
    OpCase("Gemm-dynamic", [node("Gemm", ["a", "b", "c"], transB=1, alpha=2.0)], {"a": (3, 4), "b": (5, 4)},
           {"c": rand(5)}, dynamic=False),
    OpCase("MatMul", [node("MatMul", ["a", "b"])], {"a": (2, 3, 4)}, {"b": rand(4, 5)}),
    OpCase("MatMul-vector", [node("MatMul", ["a", "b"])], {"a": (2, 3, 4)}, {"b": rand(4)}),
    OpCase("MatMul-batched", [node("MatMul", ["a", "b"])], {"a": (2, 3, 4), "b": (2, 4, 5)}),
    OpCase("MatMul-broadcast", [node("MatMul", ["a", "b"])], {"a": (2, 1, 3, 4), "b": (3, 4, 5)}, dynamic=False),
    OpCase("MatMul-1d", [node("MatMul", ["a", "b"])], {"a": (4,), "b": (2, 4, 5)}, dynamic=False),
    OpCase("MaxPool", [node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
           {"x": (2, 3, 7, 8)}),
    OpCase("MaxPool-asymmetric", [node("MaxPool", ["x"], kernel_shape=[2, 2], pads=[0, 0, 1, 1])],
           {"x": (2, 3, 5, 5)}),
    OpCase("MaxPool-ceil", [node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
           {"x": (2, 3, 8, 8)}),
    OpCase("MaxPool-same", [node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")],
           {"x": (2, 3, 8, 7)}),
    OpCase("MaxPool-1d", [node("MaxPool", ["x"], kernel_shape=[3], strides=[2])], {"x": (2, 3, 9)}),
    OpCase("AveragePool", [node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
           {"x": (2, 3, 7, 8)}),
    OpCase("AveragePool-include-pad", [node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                            count_include_pad=1)], {"x": (2, 3, 5, 6)}),
    OpCase("AveragePool-asymmetric", [node("AveragePool", ["x"], kernel_shape=[2, 2], pads=[0, 1, 1, 0],
                                           count_include_pad=1)], {"x": (2, 3, 5, 6)}),
    OpCase("AveragePool-asymmetric-exclude-pad", [node("AveragePool", ["x"], kernel_shape=[3, 2], pads=[1, 0, 2, 1])],
           {"x": (2, 3, 6, 5)}),
    OpCase("AveragePool-ceil", [node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
           {"x": (2, 3, 8, 8)}),
    OpCase("AveragePool-3d", [node("AveragePool", ["x"], kernel_shape=[2, 2, 2])], {"x": (1, 2, 4, 4, 4)}),
    OpCase("GlobalAveragePool", [node("GlobalAveragePool", ["x"])], {"x": (2, 3, 4, 5)}),
    OpCase("GlobalAveragePool-1d", [node("GlobalAveragePool", ["x"])], {"x": (2, 3, 5)}),
    OpCase("GlobalMaxPool", [node("GlobalMaxPool", ["x"])], {"x": (2, 3, 4, 5)}),
    OpCase("LRN", [node("LRN", ["x"], size=3, alpha=0.01, beta=0.75, bias=2.0)], {"x": (2, 5, 3, 4)}),
    OpCase("BatchNormalization", [node("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3)],
           {"x": (2, 3, 4, 5)}, {"s": rand(3), "b": rand(3), "m": rand(3), "v": rand(3, low=0.5, high=2.0)}),
    OpCase("BatchNormalization-2d", [node("BatchNormalization", ["x", "s", "b", "m", "v"])], {"x": (4, 3)},
           {"s": rand(3), "b": rand(3), "m": rand(3), "v": rand(3, low=0.5, high=2.0)}),
    OpCase("InstanceNormalization", [node("InstanceNormalization", ["x", "s", "b"], epsilon=1e-3)],
           {"x": (2, 3, 4, 5)}, {"s": rand(3), "b": rand(3)}),
    OpCase("LayerNormalization", [node("LayerNormalization", ["x", "s", "b"])], {"x": (2, 3, 6)},
           {"s": rand(6), "b": rand(6)}),
    OpCase("LayerNormalization-axis", [node("LayerNormalization", ["x", "s"], axis=1, epsilon=1e-3)],
           {"x": (2, 3, 4)}, {"s": rand(3, 4)}),
    OpCase("GroupNormalization-21", [node("GroupNormalization", ["x", "s", "b"], num_groups=2)], {"x": (2, 4, 3, 3)},
           {"s": rand(4), "b": rand(4)}, opset=21),
    OpCase("GroupNormalization-18", [node("GroupNormalization", ["x", "s", "b"], num_groups=2)], {"x": (2, 4, 3, 3)},
           {"s": rand(2), "b": rand(2)}, opset=18),
    OpCase("Resize-nearest", [node("Resize", ["x", "", "sc"])], {"x": (2, 3, 4, 5)}, {"sc": F32([1, 1, 2, 3])}),
    OpCase("Resize-linear", [node("Resize", ["x", "", "sc"], mode="linear")], {"x": (2, 3, 4, 5)},
           {"sc": F32([1, 1, 2, 1.5])}),
    OpCase("Resize-align-corners", [node("Resize", ["x", "", "sc"], mode="linear",
                                         coordinate_transformation_mode="align_corners")], {"x": (2, 3, 4, 5)},
           {"sc": F32([1, 1, 2, 2])}),
    OpCase("Resize-sizes", [node("Resize", ["x", "", "", "sz"], mode="linear")], {"x": (2, 3, 4, 5)},
           {"sz": i64(2, 3, 7, 9)}, dynamic=False),
    OpCase("Resize-sizes-asymmetric-floor", [node("Resize", ["x", "", "", "sz"],
                                                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
           {"x": (2, 3, 4, 5)}, {"sz": i64(2, 3, 8, 10)}, dynamic=False),
    OpCase("Resize-identity", [node("Resize", ["x", "", "sc"], mode="linear")], {"x": (2, 3, 4, 5)},
           {"sc": F32([1, 1, 1, 1])}),
    OpCase("Upsample", [node("Upsample", ["x", "sc"])], {"x": (2, 3, 4, 5)}, {"sc": F32([1, 1, 2, 2])}, opset=9),
    OpCase("Upsample-linear", [node("Upsample", ["x", "sc"], mode="linear")], {"x": (2, 3, 4, 5)},
           {"sc": F32([1, 1, 2, 2])}, opset=9),
    OpCase("LSTM-bidirectional", [node("LSTM", ["x", "W", "R", "B"], ["y", "h", "c"], hidden_size=5,
                                       direction="bidirectional")], {"x": (4, 2, 3)}, LSTM_W,
           outputs=["y", "h", "c"], dynamic=False),
    OpCase("LSTM-initial-state", [node("LSTM", ["x", "W", "R", "", "", "h0", "c0"], ["y", "h"], hidden_size=5)],
           {"x": (4, 2, 3), "h0": (1, 2, 5), "c0": (1, 2, 5)},
           {"W": LSTM_W["W"][:1], "R": LSTM_W["R"][:1]}, outputs=["y", "h"], dynamic=False),
    OpCase("LSTM-reverse", [node("LSTM", ["x", "W", "R", "B"], ["y", "", "c"], hidden_size=5, direction="reverse")],
           {"x": (4, 2, 3)}, {"W": LSTM_W["W"][:1], "R": LSTM_W["R"][:1], "B": LSTM_W["B"][:1]}, outputs=["y", "c"],
           dynamic=False),
    OpCase("LSTM-layout", [node("LSTM", ["x", "W", "R", "B"], ["y", "h"], hidden_size=5, layout=1)],
           {"x": (2, 4, 3)}, {"W": LSTM_W["W"][:1], "R": LSTM_W["R"][:1], "B": LSTM_W["B"][:1]}, outputs=["y", "h"]),
    OpCase("LSTM-weight-inputs", [node("LSTM", ["x", "W", "R", "B"], ["y", "h", "c"], hidden_size=5,
                                       direction="bidirectional")], {"x": (4, 2, 3), **LSTM_W},
           outputs=["y", "h", "c"], dynamic=False),
    OpCase("GRU-weight-inputs", [node("GRU", ["x", "W", "R", "B"], ["y", "h"], hidden_size=5, linear_before_reset=1)],
           {"x": (4, 2, 3), "W": (1, 15, 3), "R": (1, 15, 5), "B": (1, 30)}, outputs=["y", "h"], dynamic=False),
    OpCase("RNN-weight-inputs", [node("RNN", ["x", "W", "R", "B"], ["y", "h"], hidden_size=5)],
           {"x": (4, 2, 3), "W": (1, 5, 3), "R": (1, 5, 5), "B": (1, 10)}, outputs=["y", "h"], dynamic=False),
    OpCase("GRU", [node("GRU", ["x", "W", "R", "B"], ["y", "h"], hidden_size=5, linear_before_reset=1,
                        direction="bidirectional")], {"x": (4, 2, 3)},
           {"W": rand(2, 15, 3), "R": rand(2, 15, 5), "B": rand(2, 30)}, outputs=["y", "h"], dynamic=False),
    OpCase("RNN", [node("RNN", ["x", "W", "R", "B"], ["y", "h"], hidden_size=5)], {"x": (4, 2, 3)},
           {"W": rand(1, 5, 3), "R": rand(1, 5, 5), "B": rand(1, 10)}, outputs=["y", "h"], dynamic=False),
    OpCase("RNN-relu", [node("RNN", ["x", "W", "R"], ["y"], hidden_size=5, activations=["Relu"])],
           {"x": (4, 2, 3)}, {"W": rand(1, 5, 3), "R": rand(1, 5, 5)}, dynamic=False),
]


def _feeds(case: OpCase, batch: int | None = None) -> dict[str, np.ndarray]:
    """Random inputs (the declared arrays as given); ``batch`` replaces the first input's first dimension in every
    input that shares it (arrays are tiled)."""
    rng = np.random.RandomState(7)
    specs = list(case.inputs.items())
    first = specs[0][1]
    lead = (first.shape[0] if first.ndim else None) if isinstance(first, np.ndarray) else first[0]
    feeds = {}
    for name, spec in specs:
        if isinstance(spec, np.ndarray):
            value = spec
            if batch is not None and value.ndim and value.shape[0] == lead:
                value = np.concatenate([value] * batch)[:batch]
        else:
            value = rng.randn(*((batch,) + spec[1:] if batch is not None and spec[0] == lead else spec)).astype(F32)
        feeds[name] = value
    return feeds


def _model_of(case: OpCase, dynamic: bool) -> Any:
    return make_model(case.nodes, _feeds(case), case.outputs, case.inits, case.opset, dynamic)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op(case: OpCase) -> None:
    check_model(_model_of(case, False), _feeds(case), case.id, atol=case.atol)


DYNAMIC = [c for c in CASES if c.dynamic]


@pytest.mark.parametrize("case", DYNAMIC, ids=[c.id for c in DYNAMIC])
def test_op_dynamic_batch(case: OpCase) -> None:
    """The same model with a symbolic batch runs at two batch sizes."""
    first = next(iter(_feeds(case).values()))
    batches = [first.shape[0], first.shape[0] + 2]
    check_model(_model_of(case, True), {}, case.id, batches, case.atol, lambda b: _feeds(case, b))


def test_every_importable_op_has_a_case() -> None:
    tested = {n.op_type for c in CASES for n in c.nodes}
    missing = set(IMPORTABLE) - tested
    assert not missing, f"no per-op model for {sorted(missing)}"


# -- PyTorch exports --------------------------------------------------------------------------------------------
def _torch_models() -> dict[str, tuple[Any, tuple[int, ...]]]:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Block(nn.Module):
        """A ResNet basic block with a strided projection shortcut."""

        def __init__(self) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(4, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8)
            self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
            self.proj, self.bp = nn.Conv2d(4, 8, 1, 2, bias=False), nn.BatchNorm2d(8)

        def forward(self, x: Any) -> Any:
            h = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
            return torch.relu(h + self.bp(self.proj(x)))

    class Lstm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 5, num_layers=2, bidirectional=True)
            self.fc = nn.Linear(10, 3)

        def forward(self, x: Any) -> Any:
            y, (h, c) = self.lstm(x)
            return self.fc(y[-1]), h, c

    class Attention(nn.Module):
        """Self-attention: PyTorch computes its reshapes from run-time shapes (batch * heads leading)."""

        def __init__(self) -> None:
            super().__init__()
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
            self.norm = nn.LayerNorm(8)

        def forward(self, x: Any) -> Any:
            y, _ = self.attention(x, x, x, need_weights=False)
            return nn.functional.gelu(self.norm(x + y)).mean(1)

    return {
        "mlp": (nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(-1)), (2, 3, 4)),
        "lenet": (nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 10)),
                  (2, 1, 28, 28)),
        "resnet-block": (Block(), (2, 4, 8, 8)),
        "lstm": (Lstm(), (6, 2, 4)),
        "gru": (nn.GRU(3, 4, batch_first=True, bidirectional=True), (2, 5, 3)),
        "attention": (Attention(), (2, 5, 8)),
        "transformer": (nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dropout=0.0),
                                              2, enable_nested_tensor=False), (2, 7, 16)),
        "mobile": (nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU6(),
                                 nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.Hardswish(), nn.MaxPool2d(3, 2, ceil_mode=True),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4), nn.LogSoftmax(1)),
                   (2, 3, 17, 17)),
        "upsample": (nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.AvgPool2d(2, ceil_mode=False),
                                   nn.Hardswish()), (2, 3, 4, 4)),
    }


def _torch_export(name: str) -> tuple[bytes, int]:
    """The ONNX bytes of model ``name`` (legacy exporter, symbolic batch) and the axis of its batch."""
    torch = pytest.importorskip("torch")
    module, shape = _torch_models()[name]
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial running statistics
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    module.eval()
    axis = 1 if name == "lstm" else 0
    import io
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(*shape),), buffer, dynamo=False, input_names=["x"], opset_version=17,
                          dynamic_axes={"x": {axis: "batch"}}, do_constant_folding=False)
    return buffer.getvalue(), axis


@pytest.mark.parametrize("name", ["mlp", "lenet", "resnet-block", "lstm", "gru", "attention", "transformer",
                                  "mobile", "upsample"])
def test_pytorch_export(name: str) -> None:
    data, axis = _torch_export(name)
    model = onnx.load_from_string(data)
    if name == "resnet-block":
        assert sum(n.op_type == "BatchNormalization" for n in model.graph.node) == 3
    shape = list(_torch_models()[name][1])

    def feeds(batch: int) -> dict[str, np.ndarray]:
        shape[axis] = batch
        return {"x": np.random.RandomState(batch).randn(*shape).astype(F32)}

    nnp = check_model(model, {}, name, [1, 3], make_feeds=feeds)
    x = nnp.network().variable[0]
    assert x.name == "x" and x.shape.dim[axis] == -1 and nnp.network().batch_size == 1


def test_load_file(tmp_path: Any) -> None:
    data, _ = _torch_export("lenet")
    path = tmp_path / "lenet.onnx"
    path.write_bytes(data)
    net = load(str(path), batch_size=4)
    x = np.random.RandomState(0).randn(4, 1, 28, 28).astype(F32)
    net.inputs["x"].d = x
    y = next(iter(net.outputs.values()))
    y.forward()
    compare([y.d], ort_run(onnx.load(str(path)), {"x": x}), "lenet")


# -- .nnp round trip --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lenet", "lstm", "attention"])
def test_nnp_round_trip(name: str, tmp_path: Any) -> None:
    data, axis = _torch_export(name)
    nnp = import_model(data, network_name="imported")
    assert nnp.network().name == "imported"
    exe = nnp.proto.executor[0]
    assert exe.name == "runtime" and exe.network_name == "imported"
    assert [v.variable_name for v in exe.data_variable] == ["x"]
    model = onnx.load_from_string(data)
    outputs = [o.name for o in model.graph.output]
    assert [v.variable_name for v in exe.output_variable] == outputs
    write_nnp(str(tmp_path / "m.nnp"), nnp)
    again = read_nnp(str(tmp_path / "m.nnp"))
    shape = list(_torch_models()[name][1])
    shape[axis] = 3
    feeds = {"x": np.random.RandomState(0).randn(*shape).astype(F32)}
    first = nnl_run(nnp, feeds, outputs, 3)
    for a, b in zip(first, nnl_run(again, feeds, outputs, 3)):
        np.testing.assert_array_equal(a, b)
    compare(first, ort_run(model, feeds), name)


# -- errors -----------------------------------------------------------------------------------------------------
def _error(model: Any) -> str:
    with pytest.raises(ValueError) as error:
        import_model(model)
    return str(error.value)


def test_unsupported_op() -> None:
    model = make_model([node("Relu", ["x"], ["h"], name="first"), node("Hardmax", ["h"], name="hard")],
                       {"x": rand(2, 3)}, ["y"])
    message = _error(model)
    for part in ("node #1", "'hard'", "(Hardmax)", "nnl.onnx.IMPORTABLE"):
        assert part in message, message


def test_unsupported_attribute() -> None:
    model = make_model([node("MaxPool", ["x"], name="pool", kernel_shape=[2, 2], dilations=[2, 2])],
                       {"x": rand(1, 1, 6, 6)}, ["y"])
    message = _error(model)
    assert "'pool' (MaxPool)" in message and "attribute 'dilations'" in message and "node #0" in message
    model = make_model([node("LSTM", ["x", "W", "R"], hidden_size=5, clip=1.0)], {"x": rand(4, 2, 3)}, ["y"],
                       {"W": LSTM_W["W"][:1], "R": LSTM_W["R"][:1]})
    assert "attribute 'clip'" in _error(model)
    unknown = node("Relu", ["x"], name="r")
    unknown.attribute.append(helper.make_attribute("bogus", 1))
    model = make_model([node("Abs", ["x"], ["h"]), unknown], {"x": rand(2, 3)}, ["y"])
    message = _error(model)
    assert "node #1 'r' (Relu)" in message and "'bogus'" in message


def test_unsupported_recurrent_settings() -> None:
    model = make_model([node("GRU", ["x", "W", "R"], hidden_size=5, name="gru")], {"x": rand(4, 2, 3)}, ["y"],
                       {"W": rand(1, 15, 3), "R": rand(1, 15, 5)})
    assert "attribute 'linear_before_reset'" in _error(model)
    model = make_model([node("LSTM", ["x", "W", "R", "", "n"], hidden_size=5)], {"x": rand(4, 2, 3)}, ["y"],
                       {"W": LSTM_W["W"][:1], "R": LSTM_W["R"][:1], "n": np.array([4, 3], np.int32)})
    assert "sequence_lens" in _error(model)


def test_other_domain_and_opsets() -> None:
    model = make_model([node("Relu", ["x"])], {"x": rand(2, 3)}, ["y"], opset=17)
    model.opset_import[0].version = 23
    assert "opset 23" in _error(model) and "21" in _error(model)
    model = make_model([node("Relu", ["x"])], {"x": rand(2, 3)}, ["y"])
    model.graph.node[0].domain = "com.microsoft"
    assert "'com.microsoft'" in _error(model)


def test_corrupt_and_missing_files(tmp_path: Any) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07 this is not protobuf \xff\xff")
    message = _error(str(path))
    assert "broken.onnx" in message and "not a valid ONNX model" in message
    assert "missing.onnx" in _error(str(tmp_path / "missing.onnx"))
    with pytest.raises(TypeError):
        import_model(3)


def test_batch_dependence_nnl_cannot_express() -> None:
    model = make_model([node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["b"]),
                        node("Concat", ["b", "b"], ["bb"], axis=0), node("Expand", ["one", "bb"])],
                       {"x": rand(2, 3)}, ["y"], {"zero": i64(0), "one": rand(1, 1)}, dynamic=True)
    message = _error(model)
    assert "Broadcast" in message and "fixed batch size" in message


def test_second_symbolic_dimension() -> None:
    model = make_model([node("Relu", ["x"])], {"x": rand(2, 3)}, ["y"], dynamic=True)
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "length"
    assert "'length'" in _error(model)


def test_non_constant_shape_argument() -> None:
    model = make_model([node("Reshape", ["x", "s"], name="r")], {"x": rand(2, 3), "s": i64(3, 2)}, ["y"])
    message = _error(model)
    assert "'r' (Reshape)" in message and "must be a constant" in message


# -- nnl -> ONNX -> nnl through the exporter --------------------------------------------------------------------
def _exporter() -> Any:
    try:
        from nnl.onnx import exporter
    except ImportError:
        pytest.skip("nnl/onnx/exporter.py is absent")
    return exporter


def _export_cases() -> list[Any]:
    from nnl.testing.cases import all_cases

    try:
        from nnl.onnx.exporter import EXPORTABLE
    except ImportError:
        return []
    return [c for c in all_cases() if c.function in EXPORTABLE]


EXPORT_CASES = _export_cases()
# Exported cases the importer refuses on purpose, and the phrase its error has.
IMPORT_ERRORS = {"Gather-batch_dims": "batch_dims=1 is not supported"}  # nnl's GatherNd has no batch axes


@pytest.mark.parametrize("case", EXPORT_CASES, ids=[c.id for c in EXPORT_CASES])
def test_export_import_round_trip(case: Any) -> None:
    """Every exportable function case: exported (symbolic batch), imported, run in nnl == onnxruntime's run of the
    exported model (which the exporter's tests compare with nnl)."""
    import warnings

    from nnl.nnp.capture import nnp_from_outputs
    from nnl.testing.function_tester import call_function, draw_inputs

    exporter = _exporter()
    arrays = draw_inputs(case)
    variables = [None if a is None else nnl.Variable.from_numpy_array(a) for a in arrays]
    outputs = call_function(case, variables)
    if any(o.parent is None for o in outputs):
        pytest.skip("the API returns its input (no function)")
    names = {f"in{i}": v for i, v in enumerate(variables) if v is not None}
    nnp = nnp_from_outputs({f"out{i}": o for i, o in enumerate(outputs)}, name="net", names=names)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = exporter.export_model(nnp, opset=20)
    except ValueError as e:
        pytest.skip(f"does not export: {e}")
    missing = sorted({n.op_type for n in model.graph.node} - set(IMPORTABLE) - {"Constant"})
    if missing:
        pytest.skip(f"exports to ONNX ops that nnl does not import: {missing}")
    if case.id in IMPORT_ERRORS:
        with pytest.raises(ValueError, match=IMPORT_ERRORS[case.id]):
            import_model(model)
        return
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    types = {"tensor(int64)": np.int64, "tensor(float)": np.float32}
    feeds = {i.name: np.asarray(arrays[int(i.name[2:])]).astype(types[i.type]) for i in session.get_inputs()}
    expected = session.run(None, feeds)
    got = nnl_run(import_model(model), feeds, [o.name for o in model.graph.output])
    compare(got, expected, case.id)


def test_lenet_round_trip() -> None:
    """A LeNet built with nnl, exported with a symbolic batch and imported, gives nnl's outputs at batch 1 and 3."""
    import nnl.functions as F
    import nnl.parametric_functions as PF

    exporter = _exporter()
    rng = np.random.RandomState(0)

    def lenet(x: Any) -> Any:
        h = F.max_pooling(F.relu(PF.convolution(x, 4, (5, 5), name="c1")), (2, 2))
        h = F.max_pooling(F.relu(PF.convolution(h, 8, (3, 3), pad=(1, 1), name="c2")), (2, 2))
        return F.softmax(PF.affine(F.relu(PF.affine(h, 20, name="f3")), 10, name="f4"))

    x = nnl.Variable((2, 1, 16, 16))
    y = lenet(x)
    for p in nnl.get_parameters().values():
        p.d = rng.randn(*p.shape) * 0.3
    model = exporter.export_model(__import__("nnl.nnp.capture", fromlist=["x"]).nnp_from_outputs({"y": y},
                                                                                                 names={"x": x}))
    nnp = import_model(model)
    for batch in (1, 3):
        data = rng.randn(batch, 1, 16, 16).astype(F32)
        xb = nnl.Variable.from_numpy_array(data)
        yb = lenet(xb)
        yb.forward()
        compare(nnl_run(nnp, {"x": data}, ["y"], batch), [yb.d], f"LeNet at batch {batch}")
