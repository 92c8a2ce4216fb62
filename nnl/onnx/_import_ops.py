"""Import converters of element-wise ops, activations, comparisons, reductions and constants.

Binary ops broadcast as NumPy (operands of lower rank get leading 1s); a size-1 constant operand that does not grow
the output becomes the ``*Scalar`` form (``Add(x, 2)`` -> ``AddScalar``). Comparisons give nnl's 0/1 floats where
ONNX gives booleans, and index outputs (ArgMax, TopK) are float-valued indices, as in nnabla.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper

from nnl.onnx._import_base import FLOAT_TYPES, INT_TYPES, Node, axis_of, converter, tensor_value

# -- unary ------------------------------------------------------------------------------------------------------
_UNARY = {
    "Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softsign": "SoftSign", "Mish": "Mish", "Erf": "Erf",
    "Exp": "Exp", "Log": "Log", "Abs": "Abs", "Floor": "Floor", "Ceil": "Ceil", "Sin": "Sin", "Cos": "Cos",
    "Tan": "Tan", "Asin": "ASin", "Acos": "ACos", "Atan": "ATan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "ASinh",
    "Acosh": "ACosh", "Atanh": "ATanh", "Not": "LogicalNot", "Identity": "Identity",
}
# op -> (nnl type, arguments)
_UNARY_ARGS = {
    "Neg": ("MulScalar", {"val": -1.0}),
    "Reciprocal": ("RDivScalar", {"val": 1.0}),
    "Sqrt": ("PowScalar", {"val": 0.5}),
    "Softplus": ("SoftPlus", {"beta": 1.0}),
    "Sign": ("Sign", {"alpha": 0.0}),
}


@converter(*_UNARY)
def _unary(n: Node) -> None:
    n.emit(_UNARY[n.op], [n.x(0)], n.outputs[0])


@converter(*_UNARY_ARGS)
def _unary_args(n: Node) -> None:
    type_name, args = _UNARY_ARGS[n.op]
    n.emit(type_name, [n.x(0)], n.outputs[0], **args)


@converter("IsNaN")
def _isnan(n: Node) -> None:
    n.emit("IsNaN", [n.x(0)], n.outputs[0])


@converter("IsInf")
def _isinf(n: Node) -> None:
    n.expect("detect_negative", (1,), 1)
    n.expect("detect_positive", (1,), 1)
    n.emit("IsInf", [n.x(0)], n.outputs[0])


@converter("LeakyRelu")
def _leaky_relu(n: Node) -> None:
    n.emit("LeakyReLU", [n.x(0)], n.outputs[0], alpha=n.attr("alpha", 0.01))


@converter("Elu")
def _elu(n: Node) -> None:
    n.emit("ELU", [n.x(0)], n.outputs[0], alpha=n.attr("alpha", 1.0))


@converter("Selu")
def _selu(n: Node) -> None:
    n.emit("SELU", [n.x(0)], n.outputs[0], alpha=n.attr("alpha", 1.67326319217681884765625),
           scale=n.attr("gamma", 1.05070102214813232421875))


@converter("Celu")
def _celu(n: Node) -> None:
    """``alpha * elu(x / alpha)`` (nnl's CELU is nnabla's concatenated ELU, another function)."""
    alpha = float(n.attr("alpha", 1.0))
    if alpha == 1.0:
        n.emit("ELU", [n.x(0)], n.outputs[0], alpha=1.0)
        return
    scaled = n.emit("MulScalar", [n.x(0)], val=1.0 / alpha)
    n.emit("MulScalar", [n.emit("ELU", [scaled], alpha=1.0)], n.outputs[0], val=alpha)


def _clip01(n: Node, x: str, alpha: float, beta: float, out: str | None = None) -> str:
    y = n.emit("AddScalar", [n.emit("MulScalar", [x], val=alpha)], val=beta)
    return n.emit("MinimumScalar", [n.emit("MaximumScalar", [y], val=0.0)], out, val=1.0)


@converter("HardSigmoid")
def _hard_sigmoid(n: Node) -> None:
    alpha, beta = n.attr("alpha", 0.2), n.attr("beta", 0.5)
    if np.float32(alpha) == np.float32(0.2) and np.float32(beta) == np.float32(0.5):
        n.emit("HardSigmoid", [n.x(0)], n.outputs[0])
    else:
        _clip01(n, n.x(0), alpha, beta, n.outputs[0])


@converter("HardSwish")
def _hard_swish(n: Node) -> None:
    x = n.x(0)
    n.emit("Mul2", [x, _clip01(n, x, 1.0 / 6.0, 0.5)], n.outputs[0])


@converter("Gelu")
def _gelu(n: Node) -> None:
    approximate = n.expect("approximate", ("none", "tanh"), "none")
    x = n.x(0)
    if approximate == "tanh":
        n.emit("GELU", [x], n.outputs[0])
        return
    erf = n.emit("Erf", [n.emit("MulScalar", [x], val=1.0 / math.sqrt(2.0))])
    half = n.emit("MulScalar", [n.emit("AddScalar", [erf], val=1.0)], val=0.5)
    n.emit("Mul2", [x, half], n.outputs[0])


@converter("PRelu")
def _prelu(n: Node) -> None:
    shape, slope = n.shape(0), n.const(1)
    if slope is not None:
        padded = (1,) * (len(shape) - slope.ndim) + slope.shape
        channel = [a for a, s in enumerate(padded) if s != 1]
        if slope.size == 1:
            n.emit("PReLU", [n.x(0), n.parameter(slope.reshape(1), "slope")], n.outputs[0], base_axis=1)
            return
        if len(channel) == 1 and padded[channel[0]] == shape[channel[0]]:
            w = n.parameter(slope.reshape(-1), "slope")
            n.emit("PReLU", [n.x(0), w], n.outputs[0], base_axis=channel[0])
            return
    x = n.x(0)
    negative = n.emit("MinimumScalar", [x], val=0.0)
    out_shape = np.broadcast_shapes(shape, n.shape(1))
    scaled = n.emit("Mul2", [n.to_rank(negative, len(out_shape)), n.to_rank(n.x(1), len(out_shape))])
    n.emit("Add2", [n.to_rank(n.emit("ReLU", [x]), len(out_shape)), scaled], n.outputs[0])


@converter("Softmax", "LogSoftmax")
def _softmax(n: Node) -> None:
    type_name = "Softmax" if n.op == "Softmax" else "LogSoftmax"
    rank = n.rank(0)
    axis = axis_of(n, n.attr("axis", -1 if n.opset >= 13 else 1), rank)
    if n.opset >= 13 or axis == rank - 1:
        n.emit(type_name, [n.x(0)], n.outputs[0], axis=axis)
        return
    shape = n.shape(0)  # opset < 13: the input seen as 2-D (prod(shape[:axis]), prod(shape[axis:]))
    flat = n.reshape(n.x(0), (math.prod(shape[:axis]), math.prod(shape[axis:])))
    n.reshape(n.emit(type_name, [flat], axis=1), shape, n.outputs[0])


# -- binary -----------------------------------------------------------------------------------------------------
# op -> (nnl binary type, scalar form with the constant second, scalar form with the constant first)
_ARITHMETIC = {
    "Add": ("Add2", lambda c: ("AddScalar", c), lambda c: ("AddScalar", c)),
    "Sub": ("Sub2", lambda c: ("AddScalar", -c), lambda c: ("RSubScalar", c)),
    "Mul": ("Mul2", lambda c: ("MulScalar", c), lambda c: ("MulScalar", c)),
    "Div": ("Div2", lambda c: ("MulScalar", 1.0 / c) if c else None, lambda c: ("RDivScalar", c)),
    "Pow": ("Pow2", lambda c: ("PowScalar", c), lambda c: ("RPowScalar", c)),
}
_COMPARISON = {
    "Equal": ("Equal", "EqualScalar", "EqualScalar"),
    "Less": ("Less", "LessScalar", "GreaterScalar"),
    "Greater": ("Greater", "GreaterScalar", "LessScalar"),
    "LessOrEqual": ("LessEqual", "LessEqualScalar", "GreaterEqualScalar"),
    "GreaterOrEqual": ("GreaterEqual", "GreaterEqualScalar", "LessEqualScalar"),
}
_LOGICAL = {"And": "LogicalAnd", "Or": "LogicalOr", "Xor": "LogicalXor"}


def _scalar_operand(n: Node) -> tuple[int, float] | None:
    """``(position, value)`` of a size-1 constant operand that does not change the output shape."""
    out = tuple(np.broadcast_shapes(n.shape(0), n.shape(1)))
    for i in (1, 0):
        value = n.const(i)
        if value is not None and value.size == 1 and n.shape(1 - i) == out and value.dtype.kind in "fiub":
            return i, float(value.flat[0])
    return None


def binary(n: Node, type_name: str, a: str, b: str, out: str | None = None, **args: object) -> str:
    """``type_name(a, b)`` with NumPy broadcasting (equal ranks made explicit)."""
    rank = max(len(n.run.shape(a)), len(n.run.shape(b)))
    return n.emit(type_name, [n.to_rank(a, rank), n.to_rank(b, rank)], out, **args)


@converter(*_ARITHMETIC)
def _arithmetic(n: Node) -> None:
    type_name, second, first = _ARITHMETIC[n.op]
    if n.op == "Div" and n.elem_type(0) in INT_TYPES:  # integer division truncates
        truncate(n, binary(n, type_name, n.x(0), n.x(1)), n.outputs[0])
        return
    scalar = _scalar_operand(n)
    if scalar is not None:
        i, value = scalar
        form = second(value) if i == 1 else first(value)
        if form is not None:
            n.emit(form[0], [n.x(1 - i)], n.outputs[0], val=form[1])
            return
    binary(n, type_name, n.x(0), n.x(1), n.outputs[0])


def truncate(n: Node, x: str, out: str) -> str:
    """``x`` rounded toward zero: ``sign(x) * floor(|x|)``."""
    magnitude = n.emit("Floor", [n.emit("Abs", [x])])
    return n.emit("Mul2", [n.emit("Sign", [x], alpha=0.0), magnitude], out)


@converter(*_COMPARISON)
def _comparison(n: Node) -> None:
    type_name, second, first = _COMPARISON[n.op]
    scalar = _scalar_operand(n)
    if scalar is not None:
        i, value = scalar
        n.emit(second if i == 1 else first, [n.x(1 - i)], n.outputs[0], val=value)
    else:
        binary(n, type_name, n.x(0), n.x(1), n.outputs[0])


@converter(*_LOGICAL)
def _logical(n: Node) -> None:
    binary(n, _LOGICAL[n.op], n.x(0), n.x(1), n.outputs[0])


@converter("Mod")
def _mod(n: Node) -> None:
    fmod = n.expect("fmod", (0, 1), 0)
    binary(n, "Mod2", n.x(0), n.x(1), n.outputs[0], fmod=bool(fmod))


@converter("Max", "Min", "Sum", "Mean")
def _variadic(n: Node) -> None:
    type_name = {"Max": "Maximum2", "Min": "Minimum2", "Sum": "Add2", "Mean": "Add2"}[n.op]
    values = [n.x(i) for i in range(len(n.inputs)) if n.has(i)]
    if len(values) == 1:
        n.identity(values[0], n.outputs[0])
        return
    last = n.op != "Mean"
    acc = values[0]
    for k, v in enumerate(values[1:]):
        acc = binary(n, type_name, acc, v, n.outputs[0] if last and k == len(values) - 2 else None)
    if not last:
        n.emit("MulScalar", [acc], n.outputs[0], val=1.0 / len(values))


@converter("Where")
def _where(n: Node) -> None:
    shape = tuple(np.broadcast_shapes(n.shape(0), n.shape(1), n.shape(2)))
    condition, a, b = (n.broadcast(n.x(i), shape) for i in range(3))
    n.emit("Where", [condition, a, b], n.outputs[0])


@converter("Clip")
def _clip(n: Node) -> None:
    x = n.x(0)
    bounds = [("min", "MaximumScalar", "Maximum2"), ("max", "MinimumScalar", "Minimum2")]
    steps = []
    for i, (attribute, scalar_type, binary_type) in enumerate(bounds, start=1):
        if n.opset < 11:
            value = n.attr(attribute)
            if value is not None:
                steps.append((scalar_type, float(value), None))
        elif n.has(i):
            value = n.const(i)
            steps.append((scalar_type, float(value.flat[0]), None) if value is not None else (binary_type, 0.0, i))
    if not steps:
        n.identity(x, n.outputs[0])
    for k, (type_name, value, i) in enumerate(steps):
        out = n.outputs[0] if k == len(steps) - 1 else None
        x = n.emit(type_name, [x], out, val=value) if i is None else binary(n, type_name, x, n.x(i), out)


@converter("Cast", "CastLike")
def _cast(n: Node) -> None:
    """Casts between float types and from integers/booleans are identities (nnl computes in float32); a cast to
    an integer truncates, to bool compares with 0."""
    if n.op == "Cast":
        to = n.attr("to")
        n.attr("saturate")
        n.attr("round_mode")
    else:
        to = n.elem_type(1)
    source = n.elem_type(0)
    x = n.x(0)
    if to in FLOAT_TYPES or source == TensorProto.BOOL or (to in INT_TYPES and source in INT_TYPES):
        n.identity(x, n.outputs[0])
    elif to == TensorProto.BOOL:
        n.emit("NotEqualScalar", [x], n.outputs[0], val=0.0)
    elif to in INT_TYPES:
        truncate(n, x, n.outputs[0])
    else:
        raise n.fail(f"a cast to {helper.tensor_dtype_to_string(to)} is not supported", "to")


@converter("Round")
def _round(n: Node) -> None:
    """Half to even (ONNX), from floor(x + 0.5) moved down by one at odd ties (nnl's Round goes away from 0)."""
    x = n.x(0)
    f = n.emit("Floor", [n.emit("AddScalar", [x], val=0.5)])
    tie = n.emit("EqualScalar", [n.emit("Sub2", [f, x])], val=0.5)
    odd = n.emit("Sub2", [f, n.emit("MulScalar", [n.emit("Floor", [n.emit("MulScalar", [f], val=0.5)])], val=2.0)])
    n.emit("Sub2", [f, n.emit("Mul2", [tie, odd])], n.outputs[0])


@converter("Dropout")
def _dropout(n: Node) -> None:
    n.attr("ratio")
    n.attr("seed")
    n.attr("is_test")
    training = n.const(2)
    if (n.has(2) and training is None) or (training is not None and bool(training)):
        raise n.fail("training_mode must be a constant false (imported networks are inference graphs)")
    n.only_first_output("(the dropout mask) are not supported")
    n.identity(n.x(0), n.outputs[0])


# -- constants and shapes ---------------------------------------------------------------------------------------
@converter("Constant")
def _constant(n: Node) -> None:
    for name, convert in (("value", tensor_value), ("value_float", np.float32), ("value_floats", np.float32),
                          ("value_int", np.int64), ("value_ints", np.int64)):
        value = n.attr(name)
        if value is not None:
            n.set_const(0, np.asarray(convert(value)))
            return
    present = next(iter(n.attributes), "value")
    n.attr(present)
    raise n.fail("only dense tensor, float and int values are supported", present)


@converter("ConstantOfShape")
def _constant_of_shape(n: Node) -> None:
    shape = n.need_const(0, "shape")
    value = n.attr("value")
    fill = tensor_value(value) if value is not None else np.zeros(1, np.float32)
    n.set_const(0, np.full(tuple(int(d) for d in shape), fill.reshape(-1)[0], fill.dtype), n.tainted(0))


@converter("Shape")
def _shape(n: Node) -> None:
    shape = np.asarray(n.shape(0), np.int64)
    start, end = n.attr("start", 0), n.attr("end")
    n.set_const(0, shape[start:end], True)


@converter("Size")
def _size(n: Node) -> None:
    n.set_const(0, np.asarray(math.prod(n.shape(0)), np.int64), True)


# -- reductions -------------------------------------------------------------------------------------------------
_REDUCE = {"ReduceSum": "Sum", "ReduceMean": "Mean", "ReduceMax": "Max", "ReduceMin": "Min", "ReduceProd": "Prod"}
_AXES_INPUT_FROM = {"ReduceSum": 13}  # other reductions take axes as an input from opset 18


def _reduce_axes(n: Node) -> tuple[int, ...] | None:
    """The reduced axes; None when the reduction is a no-op (``noop_with_empty_axes``)."""
    rank = n.rank(0)
    if n.opset >= _AXES_INPUT_FROM.get(n.op, 18):
        axes = n.need_const(1, "axes") if n.has(1) else None
        noop = n.attr("noop_with_empty_axes", 0)
    else:
        axes, noop = n.attr("axes"), 0
    if axes is None or len(axes) == 0:
        return None if noop else tuple(range(rank))
    return tuple(sorted({axis_of(n, int(a), rank, "axes") for a in np.asarray(axes).reshape(-1)}))


def _reduce(n: Node, type_name: str, x: str, axes: tuple[int, ...], keep: bool, out: str | None, **args: object) -> str:
    return n.emit(type_name, [x], out, axes=axes, keep_dims=keep, **args)


@converter(*_REDUCE, "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp")
def _reduction(n: Node) -> None:
    axes = _reduce_axes(n)
    keep = bool(n.attr("keepdims", 1))
    x, out = n.x(0), n.outputs[0]
    if axes is None:
        n.identity(x, out)
    elif n.op in _REDUCE:
        _reduce(n, _REDUCE[n.op], x, axes, keep, out)
    elif n.op == "ReduceL1":
        _reduce(n, "Sum", n.emit("Abs", [x]), axes, keep, out)
    elif n.op == "ReduceL2":
        _reduce(n, "Norm", x, axes, keep, out, p=2.0)
    elif n.op == "ReduceSumSquare":
        _reduce(n, "Sum", n.emit("PowScalar", [x], val=2.0), axes, keep, out)
    elif n.op == "ReduceLogSum":
        n.emit("Log", [_reduce(n, "Sum", x, axes, keep, None)], out)
    else:  # log-sum-exp, shifted by the maximum
        peak = _reduce(n, "Max", x, axes, True, None)
        total = _reduce(n, "Sum", n.emit("Exp", [n.emit("Sub2", [x, peak])]), axes, True, None)
        result = n.emit("Add2", [n.emit("Log", [total]), peak], None if not keep else out)
        if not keep:
            n.reshape(result, [d for a, d in enumerate(n.shape(0)) if a not in axes], out)


@converter("ArgMax", "ArgMin")
def _arg_extreme(n: Node) -> None:
    n.expect("select_last_index", (0,), 0)
    axis = axis_of(n, n.attr("axis", 0), n.rank(0))
    type_name = "Max" if n.op == "ArgMax" else "Min"
    _reduce(n, type_name, n.x(0), (axis,), bool(n.attr("keepdims", 1)), n.outputs[0], only_index=True)


@converter("CumSum")
def _cumsum(n: Node) -> None:
    axis = axis_of(n, int(n.need_const(1, "axis").reshape(-1)[0]), n.rank(0))
    n.emit("CumSum", [n.x(0)], n.outputs[0], axis=axis, exclusive=bool(n.attr("exclusive", 0)),
           reverse=bool(n.attr("reverse", 0)))


@converter("TopK")
def _top_k(n: Node) -> None:
    """``TopKData`` over the last axis (other axes are moved there and back)."""
    rank = n.rank(0)
    axis = axis_of(n, n.attr("axis", -1), rank)
    k = int(n.need_const(1, "K").reshape(-1)[0]) if n.opset >= 10 else int(n.attr("k"))
    largest = bool(n.attr("largest", 1))
    n.attr("sorted")  # the values come sorted either way
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = perm != list(range(rank))
    x = n.emit("Transpose", [n.x(0)], axes=perm) if moved else n.x(0)
    with_index = bool(n.outputs[1:2] and n.outputs[1])
    outs = n.emit("TopKData", [x], 2 if with_index else 1, k=k, abs=False, reduce=True, base_axis=rank - 1,
                  largest=largest, with_index=with_index)
    back = [int(i) for i in np.argsort(perm)]
    for i, y in enumerate(outs):
        n.emit("Transpose", [y], n.outputs[i], axes=back) if moved else n.identity(y, n.outputs[i])


@converter("Einsum")
def _einsum(n: Node) -> None:
    """nnl's Einsum wants equal sizes per label: size-1 axes are broadcast first (ONNX broadcasts them)."""
    equation = n.attr("equation").replace(" ", "")
    terms = equation.split("->")[0].split(",")
    xs = [n.x(i) for i in range(len(n.inputs))]
    if "..." not in equation:
        sizes: dict[str, int] = {}
        for term, x in zip(terms, xs):
            for label, size in zip(term, n.run.shape(x)):
                sizes[label] = max(sizes.get(label, 1), size)
        xs = [n.broadcast(x, [sizes[label] for label in term]) for term, x in zip(terms, xs)]
    n.emit("Einsum", xs, n.outputs[0], equation=equation)
