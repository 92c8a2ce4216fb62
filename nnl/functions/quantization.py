"""Quantization Neural Network Layers: binary activations and weights, INQ, fixed-point / power-of-two / min-max
quantizers, pruning and ONNX-style linear (de)quantization.

Gradients follow nnabla's straight-through estimators (STE): the quantizer is treated as the identity in backward,
optionally masked to the range where it does not saturate (``ste_fine_grained``). The binary and INQ layers write
their quantized weights into their ``binary_weight`` / ``weight`` / ``indicator_fixedweights`` input buffers during
forward, as nnabla does, and run the ordinary Affine / Convolution kernels on the quantized weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.errors import FunctionArgumentError
from nnl.core.function import Bool, Float, Function, Int64, Ints, Shape, String
from nnl.functions.registry import api


# -- shared helpers ---------------------------------------------------------------------------------------------
def _round_half_away(xp: Any, v: Any) -> Any:
    """``std::round``: halves go away from zero (exact, unlike ``floor(v + 0.5)`` near 0.5 in float32)."""
    t = xp.trunc(v)
    with np.errstate(invalid="ignore"):  # -inf (log2 of 0) stays -inf
        return t + xp.where(xp.abs(v - t) >= 0.5, xp.sign(v), 0).astype(v.dtype, copy=False)


def _float_dtype(array: Any) -> np.dtype:
    return array.dtype if array.dtype.kind == "f" else np.dtype(np.float32)


def _binarize(xp: Any, w: Any, zero_to: float) -> Any:
    """nnabla's Sign: +1 / -1, and ``zero_to`` at exactly zero."""
    one = w.dtype.type(1)
    return xp.where(w > 0, one, xp.where(w < 0, -one, w.dtype.type(zero_to)))


def _normalized_base_axis(function: Function, base_axis: int, ndim: int) -> int:
    axis = base_axis + ndim if base_axis < 0 else base_axis
    if not 0 <= axis < max(ndim, 1):
        raise function.fail("base_axis", f"an axis in [{-ndim}, {ndim})", base_axis)
    return axis


def _check_same_shape(function: Function, inputs: list[Any], i: int, j: int) -> None:
    a, b = function.input_names[i].rstrip("?"), function.input_names[j].rstrip("?")
    if tuple(inputs[i].shape) != tuple(inputs[j].shape):
        raise function.fail(
            b, f"{b}.shape == {a}.shape = {tuple(inputs[i].shape)}", f"{b}.shape={tuple(inputs[j].shape)}"
        )


def _renamed(function: Function, error: FunctionArgumentError) -> FunctionArgumentError:
    """An error raised by the inner Affine/Convolution, reported under the outer function's name."""
    message = str(error)
    inner = getattr(error, "function", "")
    if inner and message.startswith(f"{inner}:"):
        message = function.name + message[len(inner) :]
    renamed = FunctionArgumentError(function.name, error.argument, "", "")
    renamed.args = (message,)
    return renamed


class _WeightLayer(Function):
    """A layer that runs an inner Affine or Convolution on a quantized copy of its weight.

    Subclasses set ``_conv`` and the input positions of the weight and of the optional bias.
    """

    _conv = False
    _bias_index = 3
    base_axis: Int64 = 1

    def _setup_inner(self, inputs: list[Any]) -> tuple[int, ...]:
        base_axis = _normalized_base_axis(self, self.base_axis, len(inputs[0].shape))
        from nnl.functions import neural_network

        if self._conv:
            inner = neural_network.Convolution(
                base_axis=base_axis,
                pad=self.pad,
                stride=self.stride,
                dilation=self.dilation,
                group=self.group,
                channel_last=False,
            )
        else:
            inner = neural_network.Affine(base_axis)
        layer_inputs = [inputs[0], inputs[1]]
        if len(inputs) > self._bias_index:
            layer_inputs.append(inputs[self._bias_index])
        try:
            shapes = inner.setup_impl(layer_inputs)
        except FunctionArgumentError as error:
            raise _renamed(self, error) from None
        if self._conv:  # write the concrete defaults back so that a saved NNP carries them
            self.pad, self.stride, self.dilation = tuple(inner.pad), tuple(inner.stride), tuple(inner.dilation)
        self._inner = inner
        return tuple(shapes[0])

    def _inner_forward(self, xp: Any, x: list[Any], w: Any) -> Any:
        arrays = [x[0], w] + ([x[self._bias_index]] if len(x) > self._bias_index else [])
        return self._inner.forward_impl(xp, arrays)[0]

    def _inner_backward(self, xp: Any, x: list[Any], w: Any, dy: list[Any], need_x: bool, need_w: bool) -> list[Any]:
        """Gradients of (x, w, bias) of the inner layer run on ``w``."""
        has_bias = len(x) > self._bias_index
        arrays = [x[0], w] + ([x[self._bias_index]] if has_bias else [])
        need = [need_x, need_w] + ([self._need_bias] if has_bias else [])
        grads = self._inner.backward_impl(xp, arrays, [None], dy, need)
        return list(grads) + [None] * (3 - len(grads))


# -- binary activations -----------------------------------------------------------------------------------------
class BinarySigmoid(Function):
    """``y = 1 if x > 0 else 0``; backward is the STE ``dy / 2`` for ``|x| < 1`` and 0 elsewhere."""

    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        return [(v > 0).astype(_float_dtype(v))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.where(xp.abs(x[0]) < 1, dy[0] * 0.5, 0).astype(dy[0].dtype, copy=False)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [dy[0] * F.mul_scalar(F.less_scalar(F.abs(x[0]), 1.0), 0.5)]  # the mask is constant in x


@api(BinarySigmoid)
def binary_sigmoid(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BinarySigmoid()(x, n_outputs=n_outputs, outputs=outputs)


class BinaryTanh(Function):
    """``y = 1 if x > 0 else -1``; backward is the STE ``dy`` for ``|x| < 1`` and 0 elsewhere."""

    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        dtype = _float_dtype(v)
        return [xp.where(v > 0, dtype.type(1), dtype.type(-1))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.where(xp.abs(x[0]) < 1, dy[0], 0).astype(dy[0].dtype, copy=False)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [dy[0] * F.less_scalar(F.abs(x[0]), 1.0)]  # the mask is constant in x


@api(BinaryTanh)
def binary_tanh(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BinaryTanh()(x, n_outputs=n_outputs, outputs=outputs)


# -- binary weights ---------------------------------------------------------------------------------------------
class _BinaryConnect(_WeightLayer):
    """Forward writes ``sign(weight)`` into ``binary_weight`` and runs the layer on it; the gradient of the binary
    weight is passed straight to ``weight`` (nnabla's Sign backward is the identity)."""

    input_names = ("x", "weight", "binary_weight", "bias?")
    grad_depends_input = (0, 2)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        _check_same_shape(self, inputs, 1, 2)
        return [self._setup_inner(inputs)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        wb = _binarize(xp, x[1], self.quantize_zero_to)
        if x[2].shape == wb.shape:
            x[2][...] = wb
        return [self._inner_forward(xp, x, wb)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        self._need_bias = len(x) > 3 and need[3]
        wb = x[2].astype(x[0].dtype, copy=False)
        gx, gw, gb = self._inner_backward(xp, x, wb, dy, need[0], need[1])
        grads = [gx, gw, None]
        if len(x) > 3:
            grads.append(gb)
        return grads


class BinaryConnectAffine(_BinaryConnect):
    """Affine with binarized weights (BinaryConnect, Courbariaux et al. 2015)."""

    base_axis: Int64 = 1
    quantize_zero_to: Float = 1.0


@api(BinaryConnectAffine)
def binary_connect_affine(
    x: Any,
    weight: Any,
    binary_weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    quantize_zero_to: float = 1.0,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, binary_weight) if bias is None else (x, weight, binary_weight, bias)
    return BinaryConnectAffine(base_axis, quantize_zero_to)(*inputs, n_outputs=n_outputs, outputs=outputs)


class BinaryConnectConvolution(_BinaryConnect):
    """Convolution with binarized weights (BinaryConnect)."""

    _conv = True
    base_axis: Int64 = 1
    pad: Shape = None
    stride: Shape = None
    dilation: Shape = None
    group: Int64 = 1
    quantize_zero_to: Float = 1.0


@api(BinaryConnectConvolution)
def binary_connect_convolution(
    x: Any,
    weight: Any,
    binary_weight: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    quantize_zero_to: float = 1.0,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, binary_weight) if bias is None else (x, weight, binary_weight, bias)
    function = BinaryConnectConvolution(
        base_axis, _shape_or_none(pad), _shape_or_none(stride), _shape_or_none(dilation), group, quantize_zero_to
    )
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


def _shape_or_none(value: Any) -> Any:
    return None if value is None else tuple(int(v) for v in value)


class _BinaryWeight(_WeightLayer):
    """Forward writes ``sign(weight)`` into ``binary_weight`` and the per-output mean of ``|weight|`` into
    ``alpha``, and runs the layer on ``binary_weight * alpha``; the gradient of the scaled weight is passed straight
    to ``weight``."""

    input_names = ("x", "weight", "binary_weight", "alpha", "bias?")
    grad_depends_input = (0, 2, 3)
    _bias_index = 4

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        _check_same_shape(self, inputs, 1, 2)
        shape = self._setup_inner(inputs)
        w_shape = tuple(inputs[1].shape)
        size = int(np.prod(w_shape, dtype=np.int64))
        outputs = w_shape[0] if self._conv else size // w_shape[0]
        alpha_size = int(np.prod(inputs[3].shape, dtype=np.int64))
        if alpha_size != outputs:
            raise self.fail(
                "alpha", f"alpha of size {outputs} (one scale per output)", f"alpha.shape={tuple(inputs[3].shape)}"
            )
        return [shape]

    def _scaled(self, binary: Any, alpha: Any) -> Any:
        rows = binary.shape[0]
        if self._conv:
            return (binary.reshape(rows, -1) * alpha.reshape(rows, 1)).reshape(binary.shape)
        return (binary.reshape(rows, -1) * alpha.reshape(1, -1)).reshape(binary.shape)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w = x[1]
        rows = w.shape[0]
        w2 = xp.abs(w.reshape(rows, -1))
        if self._conv:  # one scale per output map: mean over (C, *kernel)
            alpha = w2.sum(axis=1) * w.dtype.type(1.0 / w2.shape[1])
        else:  # one scale per output feature: mean over the input features
            alpha = w2.sum(axis=0) * w.dtype.type(1.0 / rows)
        wb = _binarize(xp, w, self.quantize_zero_to)
        if x[2].shape == wb.shape:
            x[2][...] = wb
        if x[3].size == alpha.size:
            x[3][...] = alpha.reshape(x[3].shape)
        return [self._inner_forward(xp, x, self._scaled(wb, alpha))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        self._need_bias = len(x) > 4 and need[4]
        dtype = x[0].dtype
        scaled = self._scaled(x[2].astype(dtype, copy=False), x[3].astype(dtype, copy=False))
        gx, gw, gb = self._inner_backward(xp, x, scaled, dy, need[0], need[1])
        grads = [gx, gw, None, None]
        if len(x) > 4:
            grads.append(gb)
        return grads


class BinaryWeightAffine(_BinaryWeight):
    """Affine with binary weights scaled per output (XNOR-Net's BWN, Rastegari et al. 2016)."""

    base_axis: Int64 = 1
    quantize_zero_to: Float = 1.0


@api(BinaryWeightAffine)
def binary_weight_affine(
    x: Any,
    weight: Any,
    binary_weight: Any,
    alpha: Any,
    bias: Any = None,
    base_axis: int = 1,
    quantize_zero_to: float = 1.0,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, binary_weight, alpha) if bias is None else (x, weight, binary_weight, alpha, bias)
    return BinaryWeightAffine(base_axis, quantize_zero_to)(*inputs, n_outputs=n_outputs, outputs=outputs)


class BinaryWeightConvolution(_BinaryWeight):
    """Convolution with binary weights scaled per output map (BWN)."""

    _conv = True
    base_axis: Int64 = 1
    pad: Shape = None
    stride: Shape = None
    dilation: Shape = None
    group: Int64 = 1
    quantize_zero_to: Float = 1.0


@api(BinaryWeightConvolution)
def binary_weight_convolution(
    x: Any,
    weight: Any,
    binary_weight: Any,
    alpha: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    quantize_zero_to: float = 1.0,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, binary_weight, alpha) if bias is None else (x, weight, binary_weight, alpha, bias)
    function = BinaryWeightConvolution(
        base_axis, _shape_or_none(pad), _shape_or_none(stride), _shape_or_none(dilation), group, quantize_zero_to
    )
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- INQ ---------------------------------------------------------------------------------------------------------
_LOG2_1_5 = 0.58496250072115619  # log2(1.5): rounding threshold between two powers of two (arithmetic mean)


class _INQ(_WeightLayer):
    """Incremental Network Quantization (Zhou et al. 2017).

    Each forward restores the weights fixed at the previous forward, fixes more weights at the iterations listed in
    ``inq_iterations`` (half of the learnable ones, all of them at the last), quantizes the fixed weights to powers
    of two in place, and runs the layer. The gradient is the plain layer gradient.
    """

    input_names = ("x", "weight", "indicator_fixedweights", "bias?")
    grad_depends_input = (0, 1)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        _check_same_shape(self, inputs, 1, 2)
        if self.selection_algorithm not in ("largest_abs", "random"):
            raise self.fail("selection_algorithm", "'largest_abs' or 'random'", repr(self.selection_algorithm))
        if self.num_bits < 2:
            raise self.fail("num_bits", "at least 2 (one bit codes zero, one the sign)", self.num_bits)
        shape = self._setup_inner(inputs)
        self._counter = 0
        self._old_weights: Any = None
        self._old_indicators: Any = None
        return [shape]

    def _quantize(self, xp: Any, w: Any, fixed: Any) -> None:
        """Powers of two for the fixed weights, in place (zero under the pruning threshold)."""
        t = w.dtype.type
        max_abs = t(xp.max(xp.abs(w))) if w.size else t(0)
        if max_abs == 0:
            max_abs = t(1)
        log_max = np.log2(max_abs)
        n1 = int(np.floor(log_max) + (log_max - np.floor(log_max) >= t(np.log2(1.5))))
        n2 = n1 + 1 - int(2 ** (self.num_bits - 2))
        threshold = t(2.0 ** (n2 - 1))
        with np.errstate(divide="ignore", invalid="ignore"):  # log2(0) = -inf: those weights are pruned below
            b = xp.log2(xp.abs(w))
            fb = xp.floor(b)
            e = xp.clip(fb + (b - fb >= t(_LOG2_1_5)), n2, n1)
        e = xp.where(xp.isfinite(e), e, n2).astype(np.int32)
        q = xp.ldexp(xp.where(w < 0, t(-1), t(1)), e).astype(w.dtype, copy=False)
        q = xp.where(xp.abs(w) < threshold, t(0), q)
        w[...] = xp.where(fixed, q, w)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w, indicators = x[1], x[2]
        if self._old_indicators is not None and self._old_indicators.shape == indicators.shape:
            restore = self._old_indicators == 1
            w[...] = xp.where(restore, self._old_weights.astype(w.dtype, copy=False), w)
        iterations = list(self.inq_iterations or ())
        if self._counter in iterations:
            if iterations[-1] == self._counter:
                indicators[...] = 1
            elif self.selection_algorithm == "largest_abs":
                flat = indicators.reshape(-1).copy()
                learnable = flat == 0
                order = np.argsort(-np.abs(w.reshape(-1)), kind="stable")
                half = int(learnable.sum()) // 2
                if half == 0:  # nnabla's loop stops after the largest weight (fixing it if it is learnable)
                    chosen = order[:1][learnable[order[:1]]]
                else:  # the `half` learnable weights of largest magnitude
                    chosen = order[learnable[order]][:half]
                flat[chosen] = 1
                indicators[...] = flat.reshape(indicators.shape)
            else:
                learnable = indicators == 0
                draws = self.rng().rand(*indicators.shape) < 0.5
                indicators[...] = xp.where(learnable, draws.astype(indicators.dtype), indicators)
        self._quantize(xp, w, indicators == 1)
        y = self._inner_forward(xp, x, w)
        self._counter += 1
        self._old_weights = w.copy()
        self._old_indicators = indicators.copy()
        return [y]

    def recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Recomputation re-runs the layer on the weights prepared by the last forward (no new quantization step)."""
        arrays = [v._data.data for v in inputs]
        outputs[0]._data._adopt(self._inner_forward(self.xp, arrays, arrays[1]))

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        self._need_bias = len(x) > 3 and need[3]
        gx, gw, gb = self._inner_backward(xp, x, x[1], dy, need[0], need[1])
        grads = [gx, gw, None]
        if len(x) > 3:
            grads.append(gb)
        return grads


class INQAffine(_INQ):
    """Affine layer with Incremental Network Quantization of its weight."""

    base_axis: Int64 = 1
    num_bits: Int64 = 4
    inq_iterations: Ints = ()
    selection_algorithm: String = "largest_abs"
    seed: Int64 = -1


@api(INQAffine)
def inq_affine(
    x: Any,
    weight: Any,
    indicator_fixedweights: Any,
    bias: Any = None,
    base_axis: int = 1,
    num_bits: int = 4,
    inq_iterations: Any = (),
    selection_algorithm: str = "largest_abs",
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, indicator_fixedweights) if bias is None else (x, weight, indicator_fixedweights, bias)
    function = INQAffine(base_axis, num_bits, tuple(int(i) for i in inq_iterations), selection_algorithm, seed)
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


class INQConvolution(_INQ):
    """Convolution with Incremental Network Quantization of its weight."""

    _conv = True
    base_axis: Int64 = 1
    pad: Shape = None
    stride: Shape = None
    dilation: Shape = None
    group: Int64 = 1
    num_bits: Int64 = 4
    inq_iterations: Ints = ()
    selection_algorithm: String = "largest_abs"
    seed: Int64 = -1


@api(INQConvolution)
def inq_convolution(
    x: Any,
    weight: Any,
    indicator_fixedweights: Any,
    bias: Any = None,
    base_axis: int = 1,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    num_bits: int = 4,
    inq_iterations: Any = (),
    selection_algorithm: str = "largest_abs",
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    inputs = (x, weight, indicator_fixedweights) if bias is None else (x, weight, indicator_fixedweights, bias)
    function = INQConvolution(
        base_axis,
        _shape_or_none(pad),
        _shape_or_none(stride),
        _shape_or_none(dilation),
        group,
        num_bits,
        tuple(int(i) for i in inq_iterations),
        selection_algorithm,
        seed,
    )
    return function(*inputs, n_outputs=n_outputs, outputs=outputs)


# -- element-wise quantizers -------------------------------------------------------------------------------------
class FixedPointQuantize(Function):
    """Uniform quantization to ``n`` bits with step ``delta`` (one bit for the sign when ``sign``), saturating.

    Backward: ``dy`` inside ``[min, max]`` and 0 outside (``ste_fine_grained``), or ``dy`` everywhere.

    >>> import nnl, nnl.functions as F, numpy as np
    >>> x = nnl.Variable.from_numpy_array(np.array([-1.0, 0.1, 0.3], np.float32))
    >>> with nnl.auto_forward():
    ...     F.fixed_point_quantize(x, n=3, delta=0.25).d.tolist()
    [-0.75, 0.0, 0.25]
    """

    sign: Bool = True
    n: Int64 = 8
    delta: Float = 0.0625
    ste_fine_grained: Bool = True
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.n <= 0:
            raise self.fail("n", "a positive bit width", self.n)
        if not self.delta > 0:
            raise self.fail("delta", "a positive step", self.delta)
        bits = self.n - 1 if self.sign else self.n
        if bits <= 0:
            raise self.fail("n", "at least 2 bits when sign=True (one bit is the sign)", self.n)
        self._max = (2.0**bits - 1) * float(np.float32(self.delta))
        return [inputs[0].shape]

    def _range(self, dtype: np.dtype) -> tuple[Any, Any]:
        t = dtype.type
        high = t(np.float32(self._max))
        return (-high if self.sign else t(0)), high

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        t = v.dtype.type
        low, high = self._range(v.dtype)
        delta = t(np.float32(self.delta))
        q = xp.floor(xp.abs(v) / delta + t(0.5)) * delta
        q = xp.where(v < 0, -q, q)
        return [xp.where(v > high, high, xp.where(v < low, low, q))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.ste_fine_grained:
            return [dy[0].copy()]
        low, high = self._range(x[0].dtype)
        return [xp.where((x[0] > high) | (x[0] < low), 0, dy[0]).astype(dy[0].dtype, copy=False)]


@api(FixedPointQuantize)
def fixed_point_quantize(
    x: Any,
    sign: bool = True,
    n: int = 8,
    delta: float = 0.0625,
    quantize: bool = True,
    ste_fine_grained: bool = True,
    outputs: Any = None,
) -> Any:
    if not quantize:
        return x
    return FixedPointQuantize(sign, n, delta, ste_fine_grained)(x, outputs=outputs)


class Pow2Quantize(Function):
    """Quantization to signed/unsigned powers of two in ``[2^(m - 2^(n') + 1), 2^m]`` (optionally with zero).

    Backward (``ste_fine_grained``): ``dy`` except where the rounded power exceeds ``2^m`` or, when unsigned, for
    negative inputs.
    """

    sign: Bool = True
    with_zero: Bool = True
    n: Int64 = 8
    m: Int64 = 1
    ste_fine_grained: Bool = True
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.n <= 0:
            raise self.fail("n", "a positive bit width", self.n)
        bits = self.n - (1 if self.sign else 0) - (1 if self.with_zero else 0)
        if bits <= 0:
            raise self.fail("n", "more bits than sign and zero take (1 bit each)", self.n)
        self._p_max = 2.0**self.m
        self._p_min = 2.0 ** (self.m - ((1 << bits) - 1))
        self._threshold = self._p_min * 2.0**-0.5
        return [inputs[0].shape]

    def _power(self, xp: Any, v: Any) -> tuple[Any, Any]:
        a = xp.abs(v)
        with np.errstate(divide="ignore"):
            q = xp.exp2(_round_half_away(xp, xp.log2(a)))
        return a, q

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        t = v.dtype.type
        a, q = self._power(xp, v)
        p_max, p_min = t(self._p_max), t(self._p_min)
        if self.with_zero:
            small = xp.where(a < self._threshold, t(0), p_min)
        else:
            small = p_min
        q = xp.where(q > self._p_max, p_max, xp.where(q < self._p_min, small, q))
        if self.sign:
            q = xp.where(v < 0, -q, q)
        else:
            q = xp.where(v < 0, t(0) if self.with_zero else p_min, q)
        return [q.astype(v.dtype, copy=False)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.ste_fine_grained:
            return [dy[0].copy()]
        _, q = self._power(xp, x[0])
        blocked = q > self._p_max
        if not self.sign:
            blocked = blocked | (x[0] < 0)
        return [xp.where(blocked, 0, dy[0]).astype(dy[0].dtype, copy=False)]


@api(Pow2Quantize)
def pow2_quantize(
    x: Any,
    sign: bool = True,
    with_zero: bool = True,
    n: int = 8,
    m: int = 1,
    quantize: bool = True,
    ste_fine_grained: bool = True,
    outputs: Any = None,
) -> Any:
    if not quantize:
        return x
    return Pow2Quantize(sign, with_zero, n, m, ste_fine_grained)(x, outputs=outputs)


class MinMaxQuantize(Function):
    """Uniform quantization of ``x`` to the levels ``[ql_min, ql_max]`` over the range ``[qr_min, qr_max]``.

    The range is nudged so that zero is exactly representable. With ``x_min_max`` the range is taken from ``x``
    (reduced over the axes where ``ql_min`` has size 1), averaged into ``qr_min``/``qr_max`` when ``ema``; the new
    range is written into the ``qr_min``/``qr_max`` buffers (and ``qr_max`` is pushed to ``qr_min + eps`` when the
    range is narrower than ``eps``), as nnabla does. Backward: STE to ``x``; when the range is learned (neither
    ``x_min_max`` nor ``ema``) ``qr_min``/``qr_max`` receive the gradients of the values clipped at them.
    """

    input_names = ("x", "qr_min", "qr_max", "ql_min", "ql_max")
    decay: Float = 0.999
    x_min_max: Bool = False
    ema: Bool = False
    ste_fine_grained: Bool = True
    eps: Float = 0.01
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x_shape = tuple(inputs[0].shape)
        q_shape = tuple(inputs[3].shape)
        for i in (1, 2, 4):
            if tuple(inputs[i].shape) != q_shape:
                name = self.input_names[i]
                raise self.fail(
                    name, f"{name}.shape == ql_min.shape = {q_shape}", f"{name}.shape={tuple(inputs[i].shape)}"
                )
        if len(q_shape) != len(x_shape) or any(q != 1 and q != s for q, s in zip(q_shape, x_shape)):
            raise self.fail(
                "ql_min",
                f"a shape of {len(x_shape)} dimensions equal to x.shape={x_shape} or 1 in each",
                f"ql_min.shape={q_shape}",
            )
        self._axes = tuple(i for i, q in enumerate(q_shape) if q == 1)
        return [x_shape]

    def _nudged(self, xp: Any, qr_min: Any, qr_max: Any, ql_min: Any, ql_max: Any) -> tuple[Any, Any, Any]:
        scale = (qr_max - qr_min) / (ql_max - ql_min)
        zero_from_min = ql_min - qr_min / scale
        zero = xp.where(
            zero_from_min <= ql_min,
            ql_min,
            xp.where(zero_from_min >= ql_max, ql_max, _round_half_away(xp, zero_from_min)),
        )
        return (ql_min - zero) * scale, (ql_max - zero) * scale, scale

    def _cast(self, x: list[Any]) -> list[Any]:
        dtype = _float_dtype(x[0])
        return [v.astype(dtype, copy=False) for v in x]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v, qr_min, qr_max, ql_min, ql_max = self._cast(x)
        t = v.dtype.type
        if self.x_min_max:
            x_min = v.min(axis=self._axes, keepdims=True) if v.size else xp.zeros(qr_min.shape, v.dtype)
            x_max = v.max(axis=self._axes, keepdims=True) if v.size else xp.zeros(qr_max.shape, v.dtype)
            if self.ema:
                decay = t(np.float32(self.decay))
                keep = t(np.float32(1.0 - self.decay))
                new_min, new_max = qr_min * decay + x_min * keep, qr_max * decay + x_max * keep
            else:
                new_min, new_max = x_min, x_max
            x[1][...] = new_min
            x[2][...] = new_max
            qr_min, qr_max = new_min, new_max
        eps = t(np.float32(self.eps))
        if xp.any(qr_max - qr_min < eps):
            qr_max = xp.where(qr_max - qr_min < eps, qr_min + eps, qr_max)
            x[2][...] = qr_max
        low, high, scale = self._nudged(xp, qr_min, qr_max, ql_min, ql_max)
        q = _round_half_away(xp, (xp.minimum(xp.maximum(v, low), high) - low) / scale)
        return [q * scale + low]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if (len(need) > 3 and need[3]) or (len(need) > 4 and need[4]):
            raise self.fail(
                "ql_min/ql_max",
                "need_grad=False (only x, qr_min and qr_max have gradients)",
                "need_grad=True",
                "Set need_grad=False on ql_min and ql_max.",
            )
        v, qr_min, qr_max, ql_min, ql_max = self._cast(x)
        g = dy[0]
        low, high, _ = self._nudged(xp, qr_min, qr_max, ql_min, ql_max)
        grads: list[Any] = [None] * 5
        if need[0]:
            grads[0] = (
                xp.where((v >= low) & (v <= high), g, 0).astype(g.dtype, copy=False)
                if self.ste_fine_grained
                else g.copy()
            )
        if not (self.x_min_max or self.ema):
            if need[1]:
                grads[1] = xp.where(v < low, g, 0).sum(axis=self._axes, keepdims=True).astype(g.dtype, copy=False)
            if need[2]:
                grads[2] = xp.where(v > high, g, 0).sum(axis=self._axes, keepdims=True).astype(g.dtype, copy=False)
        return grads


@api(MinMaxQuantize)
def min_max_quantize(
    x: Any,
    qr_min: Any,
    qr_max: Any,
    ql_min: Any,
    ql_max: Any,
    decay: float = 0.999,
    x_min_max: bool = False,
    ema: bool = False,
    ste_fine_grained: bool = True,
    eps: float = 0.01,
    quantize: bool = True,
    outputs: Any = None,
) -> Any:
    if not quantize:
        return x
    return MinMaxQuantize(decay, x_min_max, ema, ste_fine_grained, eps)(
        x, qr_min, qr_max, ql_min, ql_max, outputs=outputs
    )


class Prune(Function):
    """Zeroes the ``rate`` fraction of ``x`` with the smallest magnitudes (ties kept); backward is the identity."""

    rate: Float = 0.9
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not 0 <= self.rate <= 1:
            raise self.fail("rate", "a rate in [0, 1]", self.rate)
        size = int(np.prod(inputs[0].shape, dtype=np.int64))
        # nnabla computes the index in single precision: int((size - 1) * rate)
        self._index = int(np.float32(size - 1) * np.float32(self.rate)) if size else 0
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        if v.size == 0:
            return [v.copy()]
        a = xp.abs(v)
        threshold = xp.partition(a.reshape(-1), self._index)[self._index]
        if self.rate == 1.0:
            threshold = threshold + 1
        return [xp.where(a < threshold, v.dtype.type(0), v)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].copy()]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.identity(dy[0])]


@api(Prune)
def prune(x: Any, rate: float = 0.9, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Prune(rate)(x, n_outputs=n_outputs, outputs=outputs)


# -- linear (de)quantization ---------------------------------------------------------------------------------------
def _check_scale_shapes(function: Function, inputs: list[Any]) -> None:
    x_shape = tuple(inputs[0].shape)
    for i, name in ((1, "scale"), (2, "zero_point")):
        shape = tuple(inputs[i].shape)
        if len(shape) != len(x_shape) or any(s != 1 and s != d for s, d in zip(shape, x_shape)):
            raise function.fail(
                name,
                f"a shape of {len(x_shape)} dimensions, each 1 or equal to x.shape={x_shape}",
                f"{name}.shape={shape}",
            )


def _no_scale_gradients(function: Function, need: list[bool]) -> None:
    for i, name in ((1, "scale"), (2, "zero_point")):
        if need[i]:
            raise function.fail(name, "need_grad=False (the gradient w.r.t. it is not supported)", "need_grad=True")


class QuantizeLinear(Function):
    """``y = saturate(round(x / scale) + round(zero_point))`` into the range of the integer ``dtype`` (float output).

    ``round_mode`` is ``HALF_AWAY_FROM_ZERO`` or ``HALF_TO_EVEN``; ``narrow_range`` drops the lowest level
    (``[-127, 127]`` for int8). Backward: ``dy / scale`` to ``x`` (STE).
    """

    input_names = ("x", "scale", "zero_point")
    round_mode: String = "HALF_AWAY_FROM_ZERO"
    narrow_range: Bool = False
    dtype: Int64 = 1
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        _check_scale_shapes(self, inputs)
        if self.round_mode not in ("HALF_AWAY_FROM_ZERO", "HALF_TO_EVEN"):
            raise self.fail("round_mode", "'HALF_AWAY_FROM_ZERO' or 'HALF_TO_EVEN'", repr(self.round_mode))
        from nnl.dtypes import int_to_np_dtype

        dtype = int_to_np_dtype.get(int(self.dtype))
        if dtype is None or dtype.kind not in "iu":
            raise self.fail("dtype", "the code of an integer type (1 for int8, 2 for uint8)", self.dtype)
        info = np.iinfo(dtype)
        self._range = (int(info.min) + (1 if self.narrow_range else 0), int(info.max))
        return [inputs[0].shape]

    def _round(self, xp: Any, v: Any) -> Any:
        return _round_half_away(xp, v) if self.round_mode == "HALF_AWAY_FROM_ZERO" else xp.rint(v)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dtype = _float_dtype(x[0])
        v, scale, zero = (a.astype(dtype, copy=False) for a in x)
        low, high = dtype.type(self._range[0]), dtype.type(self._range[1])
        zero = xp.clip(self._round(xp, zero), low, high)
        return [xp.clip(self._round(xp, v / scale) + zero, low, high)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        _no_scale_gradients(self, need)
        return [dy[0] / x[1].astype(dy[0].dtype, copy=False), None, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        _no_scale_gradients(self, need)
        from nnl import functions as F

        return [F.div2(dy[0], x[1]), None, None]


@api(QuantizeLinear)
def quantize_linear(
    x: Any,
    scale: Any,
    zero_point: Any,
    round_mode: str = "HALF_AWAY_FROM_ZERO",
    narrow_range: bool = False,
    dtype: Any = np.int8,
) -> Any:
    from nnl.dtypes import np_dtpye_to_int

    code = int(dtype) if isinstance(dtype, (int, np.integer)) else np_dtpye_to_int[np.dtype(dtype)]
    return QuantizeLinear(round_mode, narrow_range, code)(x, scale, zero_point)


class DequantizeLinear(Function):
    """``y = (x - zero_point) * scale``; backward: ``dy * scale`` to ``x``."""

    input_names = ("x", "scale", "zero_point")
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        _check_scale_shapes(self, inputs)
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        dtype = _float_dtype(x[0])
        v, scale, zero = (a.astype(dtype, copy=False) for a in x)
        return [(v - zero) * scale]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        _no_scale_gradients(self, need)
        return [dy[0] * x[1].astype(dy[0].dtype, copy=False), None, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        _no_scale_gradients(self, need)
        from nnl import functions as F

        return [F.mul2(dy[0], x[1]), None, None]


@api(DequantizeLinear)
def dequantize_linear(x: Any, scale: Any, zero_point: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return DequantizeLinear()(x, scale, zero_point, n_outputs=n_outputs, outputs=outputs)
