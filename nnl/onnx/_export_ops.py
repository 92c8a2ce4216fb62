"""Export converters of the element-wise functions: activations, arithmetic, logical, math, losses.

Each nnl function becomes one ONNX op where ONNX has the same formula, else a short composition. nnabla's logical
functions give float 0/1, so comparisons are cast back to float.
"""

from __future__ import annotations

import numpy as np

from nnl.onnx._export_base import FLOAT, Step, converter, round_half_away

# nnl type -> ONNX op of the same element-wise formula
_SAME = {
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
    "ReLU": "Relu",
    "Abs": "Abs",
    "Exp": "Exp",
    "Log": "Log",
    "Identity": "Identity",
    "Ceil": "Ceil",
    "Floor": "Floor",
    "Sin": "Sin",
    "Cos": "Cos",
    "Tan": "Tan",
    "Sinh": "Sinh",
    "Cosh": "Cosh",
    "ASin": "Asin",
    "ACos": "Acos",
    "ATan": "Atan",
    "ASinh": "Asinh",
    "ACosh": "Acosh",
    "ATanh": "Atanh",
    "Erf": "Erf",
    "SoftSign": "Softsign",
    "Add2": "Add",
    "BcAdd2": "Add",
    "Sub2": "Sub",
    "Mul2": "Mul",
    "Div2": "Div",
    "Pow2": "Pow",
    "Minimum2": "Min",
    "Maximum2": "Max",
    "AddN": "Sum",
    "Dropout": "Identity",
    "Unlink": "Identity",
    "TopKGrad": "Identity",
    "ClipGradByValue": "Identity",
    "ClipGradByNorm": "Identity",
}
_COMPARE = {
    "Equal": "Equal",
    "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual",
    "Less": "Less",
    "LessEqual": "LessOrEqual",
    "NotEqual": "Equal",
}
_LOGICAL = {"LogicalAnd": "And", "LogicalOr": "Or", "LogicalXor": "Xor"}


@converter(*_SAME)
def _same(s: Step) -> None:
    s.node(_SAME[s.fn.name], s.x[: 1 if s.fn.name in ("ClipGradByValue", "Dropout") else None], s.y[0])


@converter("MulN")
def _mul_n(s: Step) -> None:
    out = s.x[0]
    for i, name in enumerate(s.x[1:], 1):
        out = s.node("Mul", [out, name], s.y[0] if i == len(s.x) - 1 else None)
    if len(s.x) == 1:
        s.node("Identity", s.x, s.y[0])


# -- scalar arithmetic --------------------------------------------------------------------------------------------
@converter("AddScalar", "MulScalar", "RSubScalar", "RDivScalar", "RPowScalar", "MinimumScalar", "MaximumScalar")
def _scalar(s: Step) -> None:
    op, reverse = {
        "AddScalar": ("Add", False),
        "MulScalar": ("Mul", False),
        "RSubScalar": ("Sub", True),
        "RDivScalar": ("Div", True),
        "RPowScalar": ("Pow", True),
        "MinimumScalar": ("Min", False),
        "MaximumScalar": ("Max", False),
    }[s.fn.name]
    val = s.const(s.fn.val)
    s.node(op, [val, s.x[0]] if reverse else [s.x[0], val], s.y[0])


@converter("PowScalar")
def _pow_scalar(s: Step) -> None:
    val = float(s.fn.val)
    if val == 0.5:
        s.node("Sqrt", [s.x[0]], s.y[0])
    elif val == 2.0:
        s.node("Mul", [s.x[0], s.x[0]], s.y[0])
    else:
        s.node("Pow", [s.x[0], s.const(val)], s.y[0])


# -- activations ----------------------------------------------------------------------------------------------
@converter("LeakyReLU")
def _leaky_relu(s: Step) -> None:
    s.node("LeakyRelu", [s.x[0]], s.y[0], alpha=float(s.fn.alpha))


@converter("ELU")
def _elu(s: Step) -> None:
    s.node("Elu", [s.x[0]], s.y[0], alpha=float(s.fn.alpha))


@converter("SELU")
def _selu(s: Step) -> None:
    s.node("Selu", [s.x[0]], s.y[0], alpha=float(s.fn.alpha), gamma=float(s.fn.scale))


@converter("Swish")
def _swish(s: Step) -> None:
    s.node("Mul", [s.x[0], s.node("Sigmoid", [s.x[0]])], s.y[0])


@converter("Softmax", "LogSoftmax")
def _softmax(s: Step) -> None:
    s.node(s.fn.name, [s.x[0]], s.y[0], axis=int(s.fn._axis))


@converter("CReLU", "CELU")
def _concatenated(s: Step) -> None:
    neg = s.node("Neg", [s.x[0]])
    if s.fn.name == "CReLU":
        parts = [s.node("Relu", [s.x[0]]), s.node("Relu", [neg])]
    else:
        parts = [s.node("Elu", [v], alpha=float(s.fn.alpha)) for v in (s.x[0], neg)]
    s.node("Concat", parts, s.y[0], axis=int(s.fn._axis))


@converter("PReLU")
def _prelu(s: Step) -> None:
    """Slope ``x1``: shared (size 1) or per channel along ``base_axis``; ``x >= 0`` keeps ``x``."""
    slope = s.reshape(s.x[1], tuple(s.fn._wshape))
    s.node("PRelu", [s.x[0], slope], s.y[0])


@converter("GELU")
def _gelu(s: Step) -> None:
    """The tanh approximation (nnabla's): ``x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``."""
    x = s.x[0]
    cube = s.node("Mul", [s.node("Mul", [x, x]), x])
    inner = s.node("Mul", [s.node("Add", [x, s.node("Mul", [cube, s.const(0.044715)])]), s.const(np.sqrt(2.0 / np.pi))])
    half = s.node("Mul", [x, s.const(0.5)])
    s.node("Mul", [half, s.node("Add", [s.node("Tanh", [inner]), s.const(1.0)])], s.y[0])


@converter("Mish")
def _mish(s: Step) -> None:
    s.node("Mul", [s.x[0], s.node("Tanh", [s.node("Softplus", [s.x[0]])])], s.y[0])


@converter("ReLU6")
def _relu6(s: Step) -> None:
    s.node("Clip", [s.x[0], s.const(0.0), s.const(6.0)], s.y[0])


@converter("HardSigmoid")
def _hard_sigmoid(s: Step) -> None:
    s.node("HardSigmoid", [s.x[0]], s.y[0], alpha=0.2, beta=0.5)


@converter("HardTanh")
def _hard_tanh(s: Step) -> None:
    s.node("Clip", [s.x[0], s.const(-1.0), s.const(1.0)], s.y[0])


@converter("LogSigmoid")
def _log_sigmoid(s: Step) -> None:
    s.node("Neg", [s.node("Softplus", [s.node("Neg", [s.x[0]])])], s.y[0])


@converter("SoftPlus")
def _softplus(s: Step) -> None:
    beta = float(s.fn.beta)
    if beta == 1.0:
        s.node("Softplus", [s.x[0]], s.y[0])
        return
    scaled = s.node("Softplus", [s.node("Mul", [s.x[0], s.const(beta)])])
    s.node("Div", [scaled, s.const(beta)], s.y[0])


@converter("TanhShrink")
def _tanh_shrink(s: Step) -> None:
    s.node("Sub", [s.x[0], s.node("Tanh", [s.x[0]])], s.y[0])


@converter("Sinc")
def _sinc(s: Step) -> None:
    x = s.x[0]
    zero = s.node("Equal", [x, s.const(0.0)])
    safe = s.node("Where", [zero, s.const(1.0), x])
    s.node("Where", [zero, s.const(1.0), s.node("Div", [s.node("Sin", [safe]), safe])], s.y[0])


# -- logical --------------------------------------------------------------------------------------------------------
def _as_float(s: Step, boolean: str) -> None:
    s.node("Cast", [boolean], s.y[0], to=FLOAT)


@converter(*_COMPARE)
def _compare(s: Step) -> None:
    result = s.node(_COMPARE[s.fn.name], s.x[:2])
    _as_float(s, s.node("Not", [result]) if s.fn.name == "NotEqual" else result)


@converter(*_LOGICAL)
def _logical(s: Step) -> None:
    _as_float(s, s.node(_LOGICAL[s.fn.name], [s.as_bool(s.x[0]), s.as_bool(s.x[1])]))


@converter("LogicalNot")
def _logical_not(s: Step) -> None:
    _as_float(s, s.node("Not", [s.as_bool(s.x[0])]))


@converter("LogicalAndScalar", "LogicalOrScalar", "LogicalXorScalar")
def _logical_scalar(s: Step) -> None:
    op = _LOGICAL[s.fn.name.replace("Scalar", "")]
    _as_float(s, s.node(op, [s.as_bool(s.x[0]), s.const(bool(s.fn.val), np.bool_)]))


@converter("EqualScalar", "NotEqualScalar", "GreaterEqualScalar", "GreaterScalar", "LessEqualScalar", "LessScalar")
def _compare_scalar(s: Step) -> None:
    name = s.fn.name.replace("Scalar", "")
    result = s.node(_COMPARE[name], [s.x[0], s.const(s.fn.val)])
    _as_float(s, s.node("Not", [result]) if name == "NotEqual" else result)


@converter("IsNaN", "IsInf")
def _is_special(s: Step) -> None:
    _as_float(s, s.node(s.fn.name, [s.x[0]]))


@converter("ResetNaN", "ResetInf")
def _reset(s: Step) -> None:
    found = s.node(s.fn.name.replace("Reset", "Is"), [s.x[0]])
    s.node("Where", [found, s.const(float(s.fn.val)), s.x[0]], s.y[0])


@converter("Sign")
def _sign(s: Step) -> None:
    sign = s.node("Sign", [s.x[0]])
    if float(s.fn.alpha) == 0.0:
        s.node("Identity", [sign], s.y[0])
        return
    zero = s.node("Equal", [s.x[0], s.const(0.0)])
    s.node("Where", [zero, s.const(float(s.fn.alpha)), sign], s.y[0])


@converter("Where")
def _where(s: Step) -> None:
    """``condition`` covers the leading axes of ``x_true``: it gets trailing axes of size 1 to broadcast."""
    extra = len(s.in_shape(1)) - len(s.in_shape(0))
    condition = s.reshape(s.x[0], tuple(p + (1,) * extra for p in s.pair(s.x[0]))) if extra else s.x[0]
    s.node("Where", [s.as_bool(condition), s.x[1], s.x[2]], s.y[0])


@converter("SearchSorted")
def _searchsorted(s: Step) -> None:
    """The count of sequence entries below each value (``<=`` with ``right``) along the last axis."""
    seq = s.node("Unsqueeze", [s.x[0], s.ints([-2])])  # (..., 1, N)
    values = s.node("Unsqueeze", [s.x[1], s.ints([-1])])  # (..., M, 1)
    below = s.node("LessOrEqual" if s.fn.right else "Less", [seq, values])
    s.reduce("ReduceSum", s.as_float(below), [-1], keepdims=False, out=s.y[0])


# -- math -------------------------------------------------------------------------------------------------------------
@converter("Constant", "Arange", "Linspace")
def _source(s: Step) -> None:
    """Inputless functions are their values."""
    value = np.asarray(s.fn.forward_impl(np, [])[0], np.float32)
    s.node("Identity", [s.const(value)], s.y[0])


@converter("Round")
def _round(s: Step) -> None:
    round_half_away(s, s.x[0], s.y[0])


@converter("ATan2")
def _atan2(s: Step) -> None:
    """``atan(y / x)`` corrected by ``pi`` in the left half-plane (``x == 0`` handled by the sign of ``y``)."""
    y, x = s.x[0], s.x[1]
    zero = s.const(0.0)
    x_zero = s.node("Equal", [x, zero])
    safe_x = s.node("Where", [x_zero, s.const(1.0), x])
    base = s.node("Atan", [s.node("Div", [y, safe_x])])
    y_neg = s.node("Less", [y, zero])
    pi = s.node("Where", [y_neg, s.const(-np.pi), s.const(np.pi)])
    left = s.node("Add", [base, pi])
    value = s.node("Where", [s.node("Less", [x, zero]), left, base])
    half = s.node("Mul", [s.node("Where", [y_neg, s.const(-1.0), s.const(1.0)]), s.const(np.pi / 2)])
    on_axis = s.node("Where", [s.node("Equal", [y, zero]), zero, half])
    s.node("Where", [x_zero, on_axis, value], s.y[0])


@converter("Mod2")
def _mod2(s: Step) -> None:
    """C's ``fmod``: what nnl computes for float data (exported tensors are float, as in nnabla)."""
    s.node("Mod", s.x[:2], s.y[0], fmod=1)


@converter("BatchMatmul")
def _batch_matmul(s: Step) -> None:
    def side(name: str, transposed: bool) -> str:
        if not transposed:
            return name
        n = len(s.shape(name))
        return s.transpose(name, list(range(n - 2)) + [n - 1, n - 2])

    s.node("MatMul", [side(s.x[0], s.fn.transpose_a), side(s.x[1], s.fn.transpose_b)], s.y[0])


@converter("Einsum")
def _einsum(s: Step) -> None:
    """The equation with every ``...`` spelled out in unused letters (ranks are known), which ORT requires."""
    equation = s.fn.equation.replace(" ", "")
    if "..." in equation:
        inputs, _, output = equation.partition("->")
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
        terms = inputs.split(",")
        span = max(len(s.in_shape(i)) - len(t.replace("...", "")) for i, t in enumerate(terms) if "..." in t)
        letters = "".join(free[:span])
        terms = [
            t.replace("...", letters[span - (len(s.in_shape(i)) - len(t.replace("...", ""))) :])
            for i, t in enumerate(terms)
        ]
        equation = ",".join(terms) + "->" + output.replace("...", letters)
    s.node("Einsum", s.x, s.y[0], equation=equation)


# -- reductions ---------------------------------------------------------------------------------------------------
_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Prod": "ReduceProd", "Max": "ReduceMax", "Min": "ReduceMin"}


@converter("Sum", "Mean", "Prod")
def _reduction(s: Step) -> None:
    axes = s.fn.axes
    if not axes:
        s.node("Identity", [s.x[0]], s.y[0])
        return
    s.reduce(_REDUCE[s.fn.name], s.x[0], axes, bool(s.fn.keep_dims), out=s.y[0])


@converter("ReduceSum", "ReduceMean")
def _reduce_all(s: Step) -> None:
    s.reduce(s.fn.name, s.x[0], range(len(s.in_shape())), False, out=s.y[0])


@converter("Max", "Min")
def _extremum(s: Step) -> None:
    """The value and/or the flat index of the first extremum inside the reduced axes (ArgMax on a merged axis)."""
    fn, x = s.fn, s.x[0]
    axes = list(fn.axes)
    outputs = list(s.y)
    if not fn.only_index:
        value_out = outputs.pop(0)
        if axes:
            s.reduce(_REDUCE[fn.name], x, axes, bool(fn.keep_dims), out=value_out)
        else:
            s.node("Identity", [x], value_out)
    if not (fn.with_index or fn.only_index):
        return
    ndim = len(s.in_shape())
    kept = [i for i in range(ndim) if i not in axes]
    moved = s.transpose(x, kept + axes)
    s0, s1 = s.pair(x)
    merged = s.reshape(moved, (tuple(s0[i] for i in kept) + (-1,), tuple(s1[i] for i in kept) + (-1,)))
    index = s.node("ArgMax" if fn.name == "Max" else "ArgMin", [merged], axis=-1, keepdims=0)
    s.reshape(index, s.pair(outputs[0]), out=outputs[0])


@converter("Norm")
def _norm(s: Step) -> None:
    p, axes, keep = float(s.fn.p), s.fn.axes, bool(s.fn.keep_dims)
    if p == 2.0:
        s.reduce("ReduceL2", s.x[0], axes, keep, out=s.y[0])
    elif p == 1.0:
        s.reduce("ReduceL1", s.x[0], axes, keep, out=s.y[0])
    else:
        total = s.reduce("ReduceSum", s.node("Pow", [s.node("Abs", [s.x[0]]), s.const(p)]), axes, keep)
        s.node("Pow", [total, s.const(1.0 / p)], s.y[0])


@converter("CumSum")
def _cumsum(s: Step) -> None:
    s.node(
        "CumSum",
        [s.x[0], s.const(int(s.fn.axis), np.int64)],
        s.y[0],
        exclusive=int(s.fn.exclusive),
        reverse=int(s.fn.reverse),
    )


# -- losses -------------------------------------------------------------------------------------------------------
@converter("SquaredError")
def _squared_error(s: Step) -> None:
    d = s.node("Sub", s.x[:2])
    s.node("Mul", [d, d], s.y[0])


@converter("AbsoluteError")
def _absolute_error(s: Step) -> None:
    s.node("Abs", [s.node("Sub", s.x[:2])], s.y[0])


@converter("HuberLoss")
def _huber(s: Step) -> None:
    d = s.node("Abs", [s.node("Sub", s.x[:2])])
    c = s.node("Min", [d, s.const(float(s.fn.delta))])
    s.node("Mul", [c, s.node("Sub", [s.node("Add", [d, d]), c])], s.y[0])


@converter("EpsilonInsensitiveLoss")
def _epsilon_insensitive(s: Step) -> None:
    d = s.node("Sub", [s.node("Abs", [s.node("Sub", s.x[:2])]), s.const(float(s.fn.epsilon))])
    s.node("Relu", [d], s.y[0])


def _truncated(s: Step, name: str) -> str:
    """Targets read as integers (truncated toward zero), as nnabla does."""
    return s.as_float(s.as_int(name))


@converter("SigmoidCrossEntropy")
def _sigmoid_cross_entropy(s: Step) -> None:
    """``max(x, 0) - x t + log(1 + exp(-|x|))``."""
    x, t = s.x[0], _truncated(s, s.x[1])
    soft = s.node("Log", [s.node("Add", [s.node("Exp", [s.node("Neg", [s.node("Abs", [x])])]), s.const(1.0)])])
    s.node("Add", [s.node("Sub", [s.node("Relu", [x]), s.node("Mul", [x, t])]), soft], s.y[0])


def _clipped_log(s: Step, name: str) -> str:
    return s.node("Log", [s.node("Max", [name, s.const(np.finfo(np.float32).tiny)])])


@converter("BinaryCrossEntropy")
def _binary_cross_entropy(s: Step) -> None:
    p, t = s.x[0], s.x[1]
    one = s.const(1.0)
    positive = s.node("Mul", [t, _clipped_log(s, p)])
    negative = s.node("Mul", [s.node("Sub", [one, t]), _clipped_log(s, s.node("Sub", [one, p]))])
    s.node("Neg", [s.node("Add", [positive, negative])], s.y[0])


def _picked(s: Step) -> tuple[str, str]:
    """``x`` at the label along the function's axis (negative labels read index 0) and the validity mask."""
    label = s.as_int(s.x[1])
    valid = s.node("GreaterOrEqual", [label, s.const(0, np.int64)])
    safe = s.node("Where", [valid, label, s.const(0, np.int64)])
    return s.node("GatherElements", [s.x[0], safe], axis=int(s.fn.axis)), valid


@converter("SoftmaxCrossEntropy")
def _softmax_cross_entropy(s: Step) -> None:
    x, axis = s.x[0], [int(s.fn.axis)]
    m = s.reduce("ReduceMax", x, axis)
    total = s.reduce("ReduceSum", s.node("Exp", [s.node("Sub", [x, m])]), axis)
    lse = s.node("Add", [s.node("Log", [total]), m])
    picked, valid = _picked(s)
    s.node("Where", [valid, s.node("Sub", [lse, picked]), s.const(0.0)], s.y[0])


@converter("CategoricalCrossEntropy")
def _categorical_cross_entropy(s: Step) -> None:
    picked, valid = _picked(s)
    s.node("Where", [valid, s.node("Neg", [_clipped_log(s, picked)]), s.const(0.0)], s.y[0])


@converter("KLMultinomial")
def _kl_multinomial(s: Step) -> None:
    p, q = s.x[0], s.x[1]
    eps = s.const(1e-8)
    diff = s.node("Sub", [s.node("Log", [s.node("Add", [p, eps])]), s.node("Log", [s.node("Add", [q, eps])])])
    axes = list(range(s.fn.base_axis, len(s.in_shape())))
    total = s.reduce("ReduceSum", s.node("Mul", [p, diff]), axes, keepdims=False)
    s.reshape(total, s.pair(s.y[0]), out=s.y[0])


# -- validation -------------------------------------------------------------------------------------------------
@converter("TopNError")
def _top_n_error(s: Step) -> None:
    """1 where more than ``n`` scores reach the target's score."""
    x, axis = s.x[0], int(s.fn.axis)
    threshold = s.node("GatherElements", [x, s.as_int(s.x[1])], axis=axis)
    count = s.reduce("ReduceSum", s.as_float(s.node("GreaterOrEqual", [x, threshold])), [axis])
    _as_float(s, s.node("Greater", [count, s.const(float(s.fn.n))]))


@converter("BinaryError")
def _binary_error(s: Step) -> None:
    half = s.const(0.5)
    _as_float(s, s.node("Xor", [s.node("GreaterOrEqual", [s.x[0], half]), s.node("GreaterOrEqual", [s.x[1], half])]))


@converter("ConfusionMatrix")
def _confusion_matrix(s: Step) -> None:
    """Counts of ``target * C + argmax`` pairs (int32, as nnl gives them)."""
    n = s.in_shape()[int(s.fn.axis)]
    predicted = s.reshape(s.node("ArgMax", [s.x[0]], axis=int(s.fn.axis), keepdims=1), (-1,), out=s.fresh("pred"))
    target = s.reshape(s.as_int(s.x[1]), (-1,), out=s.fresh("target"))
    pair = s.node("Add", [s.node("Mul", [target, s.const(n, np.int64)]), predicted])
    hits = s.node("OneHot", [pair, s.const([n * n], np.int64), s.const([0.0, 1.0])], axis=-1)
    counts = s.reduce("ReduceSum", hits, [0], keepdims=False)
    s.node("Cast", [s.reshape(counts, (n, n), out=s.fresh("counts"))], s.y[0], to=6)


# -- Fourier transforms ---------------------------------------------------------------------------------------------
@converter("FFT", "IFFT")
def _fft(s: Step) -> None:
    """One DFT per signal axis (the last axis holds real, imaginary parts); ONNX's inverse divides by each length,
    ``normalized`` scales by ``1/sqrt(N)`` instead."""
    fn = s.fn
    shape = s.in_shape()
    k = int(fn.signal_ndim)
    inverse = fn.name == "IFFT"
    x = s.x[0]
    lead = len(shape) - 1 - k
    if lead == 0:  # DFT wants a batch axis in front
        x = s.node("Unsqueeze", [x, s.ints([0])])
    for axis in range(max(lead, 1), max(lead, 1) + k):
        if s.opset >= 20:
            x = s.node("DFT", [x, "", s.const(axis, np.int64)], inverse=int(inverse))
        else:
            x = s.node("DFT", [x], axis=axis, inverse=int(inverse))
    n = float(np.prod(shape[lead:-1]))
    out = s.y[0] if lead else None
    if fn.normalized:
        x = s.node("Mul", [x, s.const(np.sqrt(n) if inverse else 1.0 / np.sqrt(n))], out)
    elif out is not None:
        x = s.node("Identity", [x], out)
    if not lead:
        s.node("Squeeze", [x, s.ints([0])], s.y[0])
