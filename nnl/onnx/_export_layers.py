"""Export converters of the layers: affine, convolutions, pooling, resizing, embedding, geometry, quantization.

Spatial functions work on an ``(N, C, *spatial)`` view of their input (leading axes merged, ``channel_last``
transposed), which is undone on the output. Weights that nnabla binarizes at run time are binarized here when they
are parameters (new initializers, as nnabla's exporter does) and computed by ONNX ops otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.onnx._export_base import ShapePair, Step, converter, round_half_away, take


def _prod(values: tuple[int, ...]) -> int:
    return int(math.prod(values))


def _permuted(pair: ShapePair, perm: list[int]) -> ShapePair:
    return tuple(tuple(shape[i] for i in perm) for shape in pair)  # type: ignore[return-value]


def _channel_first(ndim: int, n: int) -> list[int]:
    """The permutation moving the last axis in front of the ``n`` spatial axes before it."""
    return list(range(ndim - 1 - n)) + [ndim - 1] + list(range(ndim - 1 - n, ndim - 1))


def _nc_pair(pair: ShapePair, n: int, channel_last: bool) -> ShapePair:
    """The shapes of the ``(N, C, *spatial)`` view of a tensor of shapes ``pair`` with ``n`` spatial axes."""
    if channel_last:
        pair = _permuted(pair, _channel_first(len(pair[0]), n))
    lead = len(pair[0]) - n
    return tuple(  # type: ignore[return-value]
        (_prod(shape[: lead - 1]) if lead else 1, shape[lead - 1] if lead else 1) + shape[lead:] for shape in pair
    )


def _nc_view(s: Step, name: str, n: int, channel_last: bool) -> str:
    pair = s.pair(name)
    if channel_last:
        name = s.transpose(name, _channel_first(len(pair[0]), n))
    if len(pair[0]) - n != 2:
        name = s.reshape(name, _nc_pair(pair, n, channel_last), out=s.fresh("nc"))
    return name


def _direct(s: Step, out: str, n: int, channel_last: bool) -> str | None:
    """``out`` when the ``(N, C, *spatial)`` result needs no undoing, else None (a fresh name)."""
    return out if not channel_last and len(s.pair(out)[0]) - n == 2 else None


def _nc_restore(s: Step, result: str, out: str, n: int, channel_last: bool) -> None:
    if result == out:
        return
    pair = s.pair(out)
    ndim = len(pair[0])
    if ndim - n != 2:
        target = _permuted(pair, _channel_first(ndim, n)) if channel_last else pair
        result = s.reshape(result, target, out=None if channel_last else out)
    if channel_last:
        s.node("Transpose", [result], out, perm=[int(i) for i in np.argsort(_channel_first(ndim, n))])


# -- affine -------------------------------------------------------------------------------------------------------
def _affine(s: Step, axis: int, weight: str, bias: str | None) -> None:
    """``Flatten(x, axis) @ W (+ b)`` as Gemm / MatMul, reshaped to the output shape when that differs."""
    w_shape = s.in_shape(1)
    features = _prod(w_shape[1:])
    if len(w_shape) != 2:
        weight = s.reshape(weight, (w_shape[0], features))
    x0, x1 = s.pair(s.x[0])
    rows = ((_prod(x0[:axis]), features), (_prod(x1[:axis]), features))
    out = s.y[0] if s.pair(s.y[0]) == rows else None
    flat = s.node("Flatten", [s.x[0]], axis=axis)
    if bias is None:
        result = s.node("MatMul", [flat, weight], out)
    else:
        result = s.node("Gemm", [flat, weight, s.reshape(bias, (features,))], out)
    if out is None:
        s.reshape(result, s.pair(s.y[0]), out=s.y[0])


@converter("Affine")
def _affine_layer(s: Step) -> None:
    _affine(s, s.fn._axis, s.x[1], s.x[2] if len(s.x) > 2 else None)


# -- convolutions -------------------------------------------------------------------------------------------------
def _conv(
    s: Step, op: str, weight: str, bias: str | None, group: int, n: int, channel_last: bool, **extra: object
) -> None:
    fn = s.fn
    x = _nc_view(s, s.x[0], n, channel_last)
    inputs = [x, weight] + ([bias] if bias is not None else [])
    result = s.node(
        op,
        inputs,
        _direct(s, s.y[0], n, channel_last),
        group=int(group),
        pads=list(fn.pad) * 2,
        strides=list(fn.stride),
        dilations=list(fn.dilation),
        **extra,
    )
    _nc_restore(s, result, s.y[0], n, channel_last)


def _weight_cf(s: Step, weight: str, n: int, channel_last: bool) -> str:
    return s.transpose(weight, [0, n + 1] + list(range(1, n + 1))) if channel_last else weight


def _bias(s: Step, index: int) -> str | None:
    return s.x[index] if len(s.x) > index else None


@converter("Convolution")
def _convolution(s: Step) -> None:
    n, cl = len(s.fn._lay.spatial), bool(s.fn.channel_last)
    _conv(s, "Conv", _weight_cf(s, s.x[1], n, cl), _bias(s, 2), s.fn.group, n, cl)


@converter("Deconvolution")
def _deconvolution(s: Step) -> None:
    n, cl = len(s.fn._lay.spatial), bool(s.fn.channel_last)
    _conv(
        s,
        "ConvTranspose",
        _weight_cf(s, s.x[1], n, cl),
        _bias(s, 2),
        s.fn.group,
        n,
        cl,
        output_padding=list(s.fn.output_padding),
    )


@converter("DepthwiseConvolution", "DepthwiseDeconvolution")
def _depthwise(s: Step) -> None:
    """Grouped (de)convolutions of one-channel kernels: ``group = C`` (``C / divisor`` for the deconvolution)."""
    fn = s.fn
    weight = s.reshape(s.x[1], tuple(fn._w_cf))
    deconv = fn.name == "DepthwiseDeconvolution"
    group = fn._group if deconv else fn._lay.channels
    _conv(s, "ConvTranspose" if deconv else "Conv", weight, _bias(s, 2), group, len(fn._lay.spatial), False)


_FUSED_ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu", "elu": "Elu"}


@converter("FusedConvolution")
def _fused_convolution(s: Step) -> None:
    """Pad, Conv, batch normalization over the channels, ``+ z`` and the activation, on the ``(N, C, *S)`` view."""
    from nnl.onnx._export_normalization import _standardized

    fn, roles = s.fn, s.fn._roles
    n, cl = len(fn._lay.spatial), bool(fn.channel_last)
    h = _nc_view(s, s.x[0], n, cl)
    if fn._explicit_pad:
        pads = s.ints([0, 0] + [b for b, _ in fn._pad_pairs] + [0, 0] + [a for _, a in fn._pad_pairs])
        mode = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}[fn.pad_mode]
        value = [s.const(float(fn.constant_value))] if mode == "constant" else []
        h = s.node("Pad", [h, pads, *value], mode=mode)
    bias = [s.x[roles["bias"]]] if "bias" in roles else []
    h = s.node(
        "Conv",
        [h, _weight_cf(s, s.x[1], n, cl), *bias],
        group=int(fn.group),
        pads=list(fn._conv_pad) * 2,
        strides=list(fn.stride),
        dilations=list(fn.dilation),
    )
    channels = s.in_shape(1)[0]
    if "beta" in roles:
        beta, gamma, mean, var = (s.reshape(s.x[roles[k]], (channels,)) for k in ("beta", "gamma", "mean", "variance"))
        if fn.batch_stat:
            stat = (1, channels) + (1,) * n
            normalized, _, _ = _standardized(s, h, [0] + list(range(2, n + 2)), float(fn.eps))
            h = s.node("Add", [s.node("Mul", [normalized, s.reshape(gamma, stat)]), s.reshape(beta, stat)])
        else:
            h = s.node("BatchNormalization", [h, gamma, beta, mean, var], epsilon=float(fn.eps))
    if "z" in roles:
        h = s.node("Add", [h, _nc_view(s, s.x[roles["z"]], n, cl)])
    out = _direct(s, s.y[0], n, cl)
    args = fn.nonlinearity_args
    if fn.nonlinearity == "relu6":
        h = s.node("Clip", [h, s.const(0.0), s.const(6.0)], out)
    elif fn.nonlinearity in _FUSED_ACTIVATIONS:
        attrs = (
            {"alpha": float(args[0]) if args else (0.1 if fn.nonlinearity == "leaky_relu" else 1.0)}
            if fn.nonlinearity in ("leaky_relu", "elu")
            else {}
        )
        h = s.node(_FUSED_ACTIVATIONS[fn.nonlinearity], [h], out, **attrs)
    elif out is not None:
        h = s.node("Identity", [h], out)
    _nc_restore(s, h, s.y[0], n, cl)


def _binarized(s: Step) -> str:
    """``sign(weight)`` with ``quantize_zero_to`` at zero."""
    zero_to = float(s.fn.quantize_zero_to)
    value = s.value(1)
    if value is not None:
        return s.param(np.where(value > 0, 1.0, np.where(value < 0, -1.0, zero_to)), "binary_weight")
    w, zero = s.x[1], s.const(0.0)
    negative = s.node("Where", [s.node("Less", [w, zero]), s.const(-1.0), s.const(zero_to)])
    return s.node("Where", [s.node("Greater", [w, zero]), s.const(1.0), negative])


def _scaled_binary(s: Step, conv: bool) -> str:
    """``sign(weight) * alpha``: alpha is the mean ``|weight|`` per output map (conv) or output feature (affine)."""
    binary = _binarized(s)
    shape = s.in_shape(1)
    rows = (shape[0], _prod(shape[1:]))
    value = s.value(1)
    if value is not None:
        flat = np.abs(value.reshape(rows))
        alpha = flat.mean(axis=1, keepdims=True) if conv else flat.mean(axis=0, keepdims=True)
        return s.param((s.g.initializers[binary].reshape(rows) * alpha).reshape(shape), "binary_weight_scaled")
    alpha = s.reduce("ReduceMean", s.node("Abs", [s.reshape(s.x[1], rows)]), [1 if conv else 0])
    return s.reshape(s.node("Mul", [s.reshape(binary, rows), alpha]), shape, out=s.fresh("weight"))


def _quantized_weight(s: Step, conv: bool) -> tuple[str, str | None]:
    if s.fn.name.startswith("BinaryConnect"):
        return _binarized(s), _bias(s, 3)
    return _scaled_binary(s, conv), _bias(s, 4)


@converter("BinaryConnectAffine", "BinaryWeightAffine")
def _binary_affine(s: Step) -> None:
    weight, bias = _quantized_weight(s, conv=False)
    _affine(s, s.fn._inner._axis, weight, bias)


@converter("BinaryConnectConvolution", "BinaryWeightConvolution")
def _binary_convolution(s: Step) -> None:
    weight, bias = _quantized_weight(s, conv=True)
    _conv(s, "Conv", weight, bias, s.fn.group, len(s.in_shape(1)) - 2, False)


# -- pooling --------------------------------------------------------------------------------------------------------
def _window_scale(s: Step) -> np.ndarray | None:
    """The per-output factor turning ONNX's average over input positions into nnabla's sum / average."""
    fn, g = s.fn, s.fn._geom
    factors = []
    for a, k, st, p in zip(g.axes, fn.kernel, fn.stride, fn.pad):
        w = g.in_shape[a]
        start = np.arange(g.out_shape[a]) * st - p
        inside = np.minimum(start + k, w) - np.maximum(start, 0)
        if fn.name == "SumPooling":
            factors.append(inside)
        elif fn.including_pad:
            factors.append(inside / (np.minimum(start + k, w + p) - start))
        else:
            factors.append(np.ones_like(inside))
    scale = factors[0].astype(np.float64)
    for f in factors[1:]:
        scale = np.multiply.outer(scale, f)
    if np.all(scale == 1):
        return None
    return scale.reshape((1, 1) + scale.shape).astype(np.float32)


@converter("MaxPooling", "AveragePooling", "SumPooling")
def _pooling(s: Step) -> None:
    """nnabla's windows as explicit pads: the partial windows of ``ignore_border=False`` pad the end as needed."""
    fn, g = s.fn, s.fn._geom
    n, cl = len(fn.kernel), bool(fn.channel_last)
    if any(p >= k for p, k in zip(fn.pad, fn.kernel)):
        raise s.fail("pad", "ONNX pooling needs pads smaller than the kernel (windows inside the padding)")
    ends = [
        max(0, (g.out_shape[a] - 1) * st + k - g.in_shape[a] - p)
        for a, k, st, p in zip(g.axes, fn.kernel, fn.stride, fn.pad)
    ]
    attrs = dict(kernel_shape=list(fn.kernel), strides=list(fn.stride), pads=list(fn.pad) + ends)
    x = _nc_view(s, s.x[0], n, cl)
    if fn.name == "MaxPooling":
        result = s.node("MaxPool", [x], _direct(s, s.y[0], n, cl), **attrs)
    else:
        scale = _window_scale(s)
        direct = _direct(s, s.y[0], n, cl)
        result = s.node("AveragePool", [x], direct if scale is None else None, count_include_pad=0, **attrs)
        if scale is not None:
            result = s.node("Mul", [result, s.const(scale)], direct)
    _nc_restore(s, result, s.y[0], n, cl)


@converter("GlobalAveragePooling")
def _global_average_pooling(s: Step) -> None:
    ndim = len(s.in_shape())
    if ndim == 4:
        s.node("GlobalAveragePool", [s.x[0]], s.y[0])
        return
    mean = s.reduce("ReduceMean", s.x[0], range(2, ndim), keepdims=False) if ndim > 2 else s.x[0]
    s.reshape(mean, s.pair(s.y[0]), out=s.y[0])


@converter("Unpooling")
def _unpooling(s: Step) -> None:
    scales = [1.0] * len(s.in_shape())
    for a, k in zip(s.fn._axes, s.fn.kernel):
        scales[a] = float(k)
    s.node(
        "Resize",
        [s.x[0], "", s.const(scales)],
        s.y[0],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


# -- resizing -------------------------------------------------------------------------------------------------------
@converter("Interpolate")
def _interpolate(s: Step) -> None:
    """Resize: nnabla's source coordinates are ``align_corners``, ``pytorch_half_pixel`` (half_pixel, clamped at
    0) or ``asymmetric``; nearest takes the floor. ``half_pixel_for_nn`` gathers at nnl's source indices."""
    fn = s.fn
    n, cl = len(fn.output_size), bool(fn.channel_last)
    if fn.mode == "nearest" and fn.half_pixel_for_nn:  # ONNX dropped tf_half_pixel_for_nn: nnl's source indices
        take(s, s.x[0], dict(fn._take), s.y[0])
        return
    if fn.align_corners:
        mode = "align_corners"
    else:
        mode = "pytorch_half_pixel" if fn.half_pixel else "asymmetric"
    x = _nc_view(s, s.x[0], n, cl)
    sizes = s.dims(_nc_pair(s.pair(s.y[0]), n, cl))
    result = s.node(
        "Resize",
        [x, "", "", sizes],
        _direct(s, s.y[0], n, cl),
        mode=fn.mode,
        coordinate_transformation_mode=mode,
        nearest_mode="floor",
    )
    _nc_restore(s, result, s.y[0], n, cl)


@converter("ONNXResize")
def _onnx_resize(s: Step) -> None:
    """nnl's ONNXResize is ONNX Resize; inputs not 4-D that resize only their last two axes run as
    ``(1, N, H, W)`` (ORT's cubic mode takes 2-D and 4-D inputs only)."""
    fn = s.fn
    i0, o0 = s.in_shape(), s.out_shape()
    view = len(i0) not in (2, 4) and len(i0) >= 2 and i0[:-2] == o0[:-2] and not fn.roi
    x = _nc_view(s, s.x[0], 2, False) if view else s.x[0]
    roi = s.const(list(fn.roi)) if fn.roi else ""
    scales = list(fn.scales)
    if scales and view:
        scales = [1.0, 1.0] + scales[-2:]
    sizes = s.dims(_nc_pair(s.pair(s.y[0]), 2, False) if view else s.pair(s.y[0])) if fn.sizes else ""
    result = s.node(
        "Resize",
        [x, roi, s.const(scales) if scales else "", sizes],
        s.y[0] if not view else None,
        mode=fn.mode,
        coordinate_transformation_mode=fn.coordinate_transformation_mode,
        cubic_coeff_a=float(fn.cubic_coeff_a),
        exclude_outside=int(fn.exclude_outside),
        extrapolation_value=float(fn.extrapolation_value),
        nearest_mode=fn.nearest_mode,
    )
    if view:
        s.reshape(result, s.pair(s.y[0]), out=s.y[0])


# -- embedding --------------------------------------------------------------------------------------------------
@converter("Embed")
def _embed(s: Step) -> None:
    s.node("Gather", [s.x[1], s.as_int(s.x[0])], s.y[0], axis=0)


# -- quantization -------------------------------------------------------------------------------------------------
@converter("BinarySigmoid")
def _binary_sigmoid(s: Step) -> None:
    s.node("Cast", [s.node("Greater", [s.x[0], s.const(0.0)])], s.y[0], to=1)


@converter("BinaryTanh")
def _binary_tanh(s: Step) -> None:
    s.node("Where", [s.node("Greater", [s.x[0], s.const(0.0)]), s.const(1.0), s.const(-1.0)], s.y[0])


@converter("FixedPointQuantize")
def _fixed_point_quantize(s: Step) -> None:
    """``sign(x) floor(|x| / delta + 0.5) delta``, saturated to ``[-max or 0, max]``."""
    fn, x = s.fn, s.x[0]
    delta = s.const(np.float32(fn.delta))
    high = float(np.float32(fn._max))
    low = -high if fn.sign else 0.0
    steps = s.node("Floor", [s.node("Add", [s.node("Div", [s.node("Abs", [x]), delta]), s.const(0.5)])])
    q = s.node("Mul", [steps, delta])
    q = s.node("Where", [s.node("Less", [x, s.const(0.0)]), s.node("Neg", [q]), q])
    q = s.node("Where", [s.node("Less", [x, s.const(low)]), s.const(low), q])
    s.node("Where", [s.node("Greater", [x, s.const(high)]), s.const(high), q], s.y[0])


@converter("Pow2Quantize")
def _pow2_quantize(s: Step) -> None:
    """``2^round(log2 |x|)`` clipped to ``[p_min, p_max]`` (zero below ``p_min / sqrt(2)`` with ``with_zero``)."""
    fn, x = s.fn, s.x[0]
    a = s.node("Abs", [x])
    log2 = s.node("Div", [s.node("Log", [a]), s.const(np.log(2.0))])
    q = s.node("Pow", [s.const(2.0), round_half_away(s, log2)])
    p_max, p_min = s.const(fn._p_max), s.const(fn._p_min)
    small = (
        s.node("Where", [s.node("Less", [a, s.const(fn._threshold)]), s.const(0.0), p_min]) if fn.with_zero else p_min
    )
    q = s.node("Where", [s.node("Less", [q, p_min]), small, q])
    q = s.node("Where", [s.node("Greater", [q, p_max]), p_max, q])
    negative = s.node("Less", [x, s.const(0.0)])
    if fn.sign:
        s.node("Where", [negative, s.node("Neg", [q]), q], s.y[0])
    else:
        s.node("Where", [negative, s.const(0.0) if fn.with_zero else p_min, q], s.y[0])


@converter("MinMaxQuantize")
def _min_max_quantize(s: Step) -> None:
    """Uniform levels over ``[qr_min, qr_max]`` nudged so that zero is a level (the range from ``x`` with
    ``x_min_max``, blended into the given one with ``ema``)."""
    fn = s.fn
    x, qr_min, qr_max, ql_min, ql_max = s.x
    if fn.x_min_max:
        x_min = s.reduce("ReduceMin", x, list(fn._axes))
        x_max = s.reduce("ReduceMax", x, list(fn._axes))
        if fn.ema:
            decay, keep = s.const(np.float32(fn.decay)), s.const(np.float32(1.0 - fn.decay))
            x_min = s.node("Add", [s.node("Mul", [qr_min, decay]), s.node("Mul", [x_min, keep])])
            x_max = s.node("Add", [s.node("Mul", [qr_max, decay]), s.node("Mul", [x_max, keep])])
        qr_min, qr_max = x_min, x_max
    eps = s.const(np.float32(fn.eps))
    narrow = s.node("Less", [s.node("Sub", [qr_max, qr_min]), eps])
    qr_max = s.node("Where", [narrow, s.node("Add", [qr_min, eps]), qr_max])
    scale = s.node("Div", [s.node("Sub", [qr_max, qr_min]), s.node("Sub", [ql_max, ql_min])])
    zero_from_min = s.node("Sub", [ql_min, s.node("Div", [qr_min, scale])])
    zero = s.node(
        "Where", [s.node("GreaterOrEqual", [zero_from_min, ql_max]), ql_max, round_half_away(s, zero_from_min)]
    )
    zero = s.node("Where", [s.node("LessOrEqual", [zero_from_min, ql_min]), ql_min, zero])
    low = s.node("Mul", [s.node("Sub", [ql_min, zero]), scale])
    high = s.node("Mul", [s.node("Sub", [ql_max, zero]), scale])
    clipped = s.node("Min", [s.node("Max", [x, low]), high])
    q = round_half_away(s, s.node("Div", [s.node("Sub", [clipped, low]), scale]))
    s.node("Add", [s.node("Mul", [q, scale]), low], s.y[0])


@converter("Prune")
def _prune(s: Step) -> None:
    """Zero where ``|x|`` is below its ``index``-th smallest value (above every value when ``rate`` is 1)."""
    fn = s.fn
    a = s.node("Abs", [s.x[0]])
    flat = s.reshape(a, (-1,) if len(s.in_shape()) else (1,), out=s.fresh("flat"))
    k = fn._index + 1
    smallest = s.node("TopK", [flat, s.ints([k])], n_out=2, axis=0, largest=0, sorted=1)[0]
    threshold = s.node("Gather", [smallest, s.const(fn._index, np.int64)], axis=0)
    if fn.rate == 1.0:
        threshold = s.node("Add", [threshold, s.const(1.0)])
    s.node("Where", [s.node("Less", [a, threshold]), s.const(0.0), s.x[0]], s.y[0])


@converter("QuantizeLinear")
def _quantize_linear(s: Step) -> None:
    """nnabla's float-valued quantization: ``clip(round(x / scale) + clip(round(zero_point)))``."""
    fn = s.fn
    low, high = (s.const(float(v)) for v in fn._range)

    def rounded(name: str) -> str:
        if fn.round_mode == "HALF_TO_EVEN":
            return s.node("Round", [name])
        return round_half_away(s, name)

    zero = s.node("Clip", [rounded(s.as_float(s.x[2])), low, high])
    value = s.node("Add", [rounded(s.node("Div", [s.x[0], s.as_float(s.x[1])])), zero])
    s.node("Clip", [value, low, high], s.y[0])


@converter("DequantizeLinear")
def _dequantize_linear(s: Step) -> None:
    value = s.node("Sub", [s.as_float(s.x[0]), s.as_float(s.x[2])])
    s.node("Mul", [value, s.as_float(s.x[1])], s.y[0])


# -- geometric ------------------------------------------------------------------------------------------------------
@converter("AffineGrid")
def _affine_grid(s: Step) -> None:
    """``grid = target @ theta^T`` with nnl's homogeneous target grid as a constant."""
    from nnl.functions.geometric import _target_grid

    fn = s.fn
    target = s.const(_target_grid(fn.size, bool(fn.align_corners))[None])
    points = s.node("MatMul", [target, s.node("Transpose", [s.x[0]], perm=[0, 2, 1])])
    s.reshape(points, s.pair(s.y[0]), out=s.y[0])


@converter("WarpByGrid")
def _warp_by_grid(s: Step) -> None:
    """GridSample (2-D; 3-D from opset 20). nnl's nearest rounds halves away from zero, ORT to even."""
    fn = s.fn
    n = len(s.in_shape(1)) - 2
    if n != 2 and s.opset < 20:
        raise s.fail("grid", "3-D warping needs opset 20 or later (GridSample)")
    cl = bool(fn.channel_last)
    mode = ("linear" if s.opset >= 20 else "bilinear") if fn.mode == "linear" else "nearest"
    padding = {"zero": "zeros", "repeat": "border", "reflect": "reflection"}[fn.padding_mode]
    x = s.transpose(s.x[0], _channel_first(n + 2, n)) if cl else s.x[0]
    out = None if cl else s.y[0]
    result = s.node(
        "GridSample", [x, s.x[1]], out, mode=mode, padding_mode=padding, align_corners=int(bool(fn.align_corners))
    )
    if cl:
        s.node("Transpose", [result], s.y[0], perm=[int(i) for i in np.argsort(_channel_first(n + 2, n))])


@converter("RoiAlign")
def _roi_align(s: Step) -> None:
    """ONNX RoiAlign with ``half_pixel`` coordinates; the per-axis ``spatial_scale`` is applied to the boxes."""
    fn = s.fn
    scale_y, scale_x = fn.spatial_scale
    boxes = s.x[1]
    corners = s.node("Slice", [boxes, s.ints([1]), s.ints([5]), s.ints([1])])
    rois = s.node("Mul", [corners, s.const([scale_x, scale_y, scale_x, scale_y])])
    index = s.as_int(
        s.reshape(s.node("Slice", [boxes, s.ints([0]), s.ints([1]), s.ints([1])]), (-1,), out=s.fresh("index"))
    )
    cl = bool(fn.channel_last)
    x = s.transpose(s.x[0], [0, 3, 1, 2]) if cl else s.x[0]
    oh, ow = fn.output_size
    result = s.node(
        "RoiAlign",
        [x, rois, index],
        None if cl else s.y[0],
        coordinate_transformation_mode="half_pixel",
        mode="avg",
        output_height=int(oh),
        output_width=int(ow),
        sampling_ratio=max(int(fn.sampling_ratio), 0),
        spatial_scale=1.0,
    )
    if cl:
        s.node("Transpose", [result], s.y[0], perm=[0, 2, 3, 1])
