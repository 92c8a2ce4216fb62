"""Import converters of the layers: Conv, ConvTranspose, Gemm, MatMul, pooling, normalizations, LRN, Resize and
the recurrent ops (LSTM, GRU, RNN).

nnl pads symmetrically: asymmetric ONNX pads become an explicit ``Pad`` (``-inf`` for max pooling) before the layer.
Recurrent weights are rearranged into nnabla's layout: ONNX keeps ``W`` (D, G*H, I), ``R`` (D, G*H, H) and biases
``[Wb | Rb]`` with gates i, o, f, c (LSTM) and z, r, h (GRU); nnabla keeps ``[W_x | W_h]`` rows per gate with gates
i, f, g, o (LSTM) and r, z, n (GRU), one bias per gate plus GRU's ``b_hn`` (ONNX's ``linear_before_reset=1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nnl.onnx._import_array import slice_axes
from nnl.onnx._import_base import Node, converter
from nnl.onnx._import_ops import binary


# -- convolution and pooling ------------------------------------------------------------------------------------
def _spatial_pads(n: Node, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                  dilations: Sequence[int]) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis, with ``auto_pad`` resolved."""
    auto_pad = n.expect("auto_pad", ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"), "NOTSET")
    d = len(spatial)
    if auto_pad == "NOTSET":
        pads = n.attr("pads") or [0] * (2 * d)
        return [(int(pads[i]), int(pads[i + d])) for i in range(d)]
    n.attr("pads")
    if auto_pad == "VALID":
        return [(0, 0)] * d
    result = []
    for size, k, s, dil in zip(spatial, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * dil + 1 - size, 0)
        small = total // 2
        result.append((small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small))
    return result


def _geometry(n: Node, kernel: Sequence[int]) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    spatial = n.shape(0)[2:]
    d = len(spatial)
    declared = n.attr("kernel_shape")
    if declared is not None and list(declared) != list(kernel):
        raise n.fail(f"kernel_shape={list(declared)} differs from the weight's {list(kernel)}", "kernel_shape")
    strides = list(n.attr("strides") or [1] * d)
    dilations = list(n.attr("dilations") or [1] * d)
    return strides, dilations, _spatial_pads(n, spatial, kernel, strides, dilations)


def _explicit_pad(n: Node, x: str, pads: list[tuple[int, int]], value: float) -> str:
    widths = [w for p in pads for w in p]
    return n.emit("Pad", [x], pad_width=widths, mode="constant", constant_value=value)


@converter("Conv")
def _conv(n: Node) -> None:
    w_shape = n.shape(1)
    strides, dilations, pads = _geometry(n, w_shape[2:])
    x = n.x(0)
    if any(b != e for b, e in pads):
        x, pads = _explicit_pad(n, x, pads, 0.0), [(0, 0)] * len(pads)
    inputs = [x, n.x(1)] + ([n.x(2)] if n.has(2) else [])
    n.emit("Convolution", inputs, n.outputs[0], base_axis=1, pad=[b for b, _ in pads], stride=strides,
           dilation=dilations, group=n.attr("group", 1))


@converter("ConvTranspose")
def _conv_transpose(n: Node) -> None:
    in_spatial, w_shape = n.shape(0)[2:], n.shape(1)
    kernel, d = w_shape[2:], len(in_spatial)
    declared = n.attr("kernel_shape")
    if declared is not None and list(declared) != list(kernel):
        raise n.fail(f"kernel_shape={list(declared)} differs from the weight's {list(kernel)}", "kernel_shape")
    strides = list(n.attr("strides") or [1] * d)
    dilations = list(n.attr("dilations") or [1] * d)
    output_padding = list(n.attr("output_padding") or [0] * d)
    output_shape = n.attr("output_shape")
    auto_pad = n.expect("auto_pad", ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"), "NOTSET")
    full = [s * (i - 1) + op + (k - 1) * dl + 1 for i, s, op, k, dl in
            zip(in_spatial, strides, output_padding, kernel, dilations)]
    pads_attr = n.attr("pads")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = list(output_shape)[-d:] if output_shape is not None else [i * s for i, s in zip(in_spatial, strides)]
        totals = [f - t for f, t in zip(full, target)]
        if any(t < 0 for t in totals):
            raise n.fail(f"output_shape {target} is larger than the full deconvolution {full}", "output_shape")
        upper = auto_pad == "SAME_UPPER"
        pads = [(t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in totals]
    elif auto_pad == "NOTSET" and pads_attr:
        pads = [(int(pads_attr[i]), int(pads_attr[i + d])) for i in range(d)]
    else:
        pads = [(0, 0)] * d
    inputs = [n.x(0), n.x(1)] + ([n.x(2)] if n.has(2) else [])
    args = dict(base_axis=1, stride=strides, dilation=dilations, group=n.attr("group", 1))
    if all(b == e for b, e in pads):
        n.emit("Deconvolution", inputs, n.outputs[0], pad=[b for b, _ in pads], output_padding=output_padding, **args)
        return
    y = n.emit("Deconvolution", inputs, pad=[0] * d, output_padding=output_padding, **args)
    slice_axes(n, y, {2 + a: (b, full[a] - e, 1) for a, (b, e) in enumerate(pads)}, n.outputs[0])


def _ceil_extra(n: Node, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                pads: list[tuple[int, int]]) -> list[int]:
    """Extra end padding that makes floor-mode pooling give ONNX's ``ceil_mode=1`` output size."""
    if not n.attr("ceil_mode", 0):
        return [0] * len(spatial)
    extra = []
    for size, k, s, (b, e) in zip(spatial, kernel, strides, pads):
        span = size + b + e - k
        out = -(-span // s) + 1
        if (out - 1) * s >= size + b:  # the last window must start inside the input or its begin padding
            out -= 1
        extra.append(max((out - 1) * s + k - (size + b + e), 0))
    return extra


@converter("MaxPool", "AveragePool")
def _pool(n: Node) -> None:
    kernel = list(n.attr("kernel_shape"))
    strides, dilations, pads = _geometry(n, kernel)
    if any(d != 1 for d in dilations):
        raise n.fail("dilated pooling is not supported", "dilations")
    extra = _ceil_extra(n, n.shape(0)[2:], kernel, strides, pads)
    pads = [(b, e + x) for (b, e), x in zip(pads, extra)]
    x = n.x(0)
    if n.op == "MaxPool":
        n.expect("storage_order", (0,), 0)
        n.only_first_output("(the indices of the maxima) are not supported")
        if any(b != e for b, e in pads):
            x, pads = _explicit_pad(n, x, pads, -np.inf), [(0, 0)] * len(pads)
        n.emit("MaxPooling", [x], n.outputs[0], kernel=kernel, stride=strides, ignore_border=True,
               pad=[b for b, _ in pads], channel_last=False)
        return
    including = bool(n.attr("count_include_pad", 0))
    ignore_border = True
    if any(b != e for b, e in pads):
        if including and any(extra):
            raise n.fail("ceil_mode=1 with windows past the input needs count_include_pad=0", "ceil_mode")
        if including:
            x, pads = _explicit_pad(n, x, pads, 0.0), [(0, 0)] * len(pads)
        else:  # padding is not counted: nnl's windows with the begin padding, and past the end where ONNX has some
            ignore_border = _window_border(n, n.shape(0)[2:], kernel, strides, pads)
            pads = [(b, b) for b, _ in pads]
    n.emit("AveragePooling", [x], n.outputs[0], kernel=kernel, stride=strides, ignore_border=ignore_border,
           pad=[b for b, _ in pads], channel_last=False, including_pad=including)


def _window_border(n: Node, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   pads: list[tuple[int, int]]) -> bool:
    """nnl's ``ignore_border`` whose output sizes with pad = the begin pads are ONNX's with (begin, end) pads."""
    onnx = [(w + b + e - k) // s + 1 for w, k, s, (b, e) in zip(spatial, kernel, strides, pads)]
    for ignore_border in (True, False):
        sizes = [(w + b - (k - b if ignore_border else 1)) // s + 1 for w, k, s, (b, _) in
                 zip(spatial, kernel, strides, pads)]
        if sizes == onnx:
            return ignore_border
    raise n.fail(f"the padding {pads} is not expressible with nnl's symmetric pooling pads", "pads")


@converter("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(n: Node) -> None:
    rank = n.rank(0)
    if n.op == "GlobalAveragePool" and rank == 4:
        n.emit("GlobalAveragePooling", [n.x(0)], n.outputs[0])
        return
    type_name = "Mean" if n.op == "GlobalAveragePool" else "Max"
    n.emit(type_name, [n.x(0)], n.outputs[0], axes=list(range(2, rank)), keep_dims=True)


@converter("LRN")
def _lrn(n: Node) -> None:
    """``x / (bias + alpha / size * sum of squares over channel windows) ** beta`` from nnl functions."""
    size = int(n.attr("size"))
    alpha, beta, bias = n.attr("alpha", 1e-4), n.attr("beta", 0.75), n.attr("bias", 1.0)
    shape = n.shape(0)
    x = n.x(0)
    square = n.reshape(n.emit("PowScalar", [x], val=2.0), (shape[0], 1, shape[1], math.prod(shape[2:])))
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = n.emit("Pad", [square], pad_width=[before, after, 0, 0], mode="constant", constant_value=0.0)
    total = n.emit("SumPooling", [padded], kernel=[size, 1], stride=[1, 1], ignore_border=True, pad=[0, 0],
                   channel_last=False)
    scale = n.emit("AddScalar", [n.emit("MulScalar", [n.reshape(total, shape)], val=alpha / size)], val=bias)
    n.emit("Div2", [x, n.emit("PowScalar", [scale], val=beta)], n.outputs[0])


# -- dense ------------------------------------------------------------------------------------------------------
@converter("Gemm")
def _gemm(n: Node) -> None:
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    trans_a, trans_b = bool(n.attr("transA", 0)), bool(n.attr("transB", 0))
    a = n.emit("Transpose", [n.x(0)], axes=[1, 0]) if trans_a else n.x(0)
    b, c = n.const(1), n.const(2)
    y_out = n.outputs[0]
    bias = None
    if c is not None and (c.ndim <= 1 or c.shape[0] == 1):
        cols = n.shape(1)[0 if trans_b else 1]
        bias = n.parameter(np.broadcast_to(c.reshape(-1) * np.float32(beta), (cols,)), "bias")
    rest = n.has(2) and bias is None
    if b is not None:
        weight = (b.T if trans_b else b).astype(np.float32)
        w = n.run.parameter(weight * np.float32(alpha) if alpha != 1 else weight, n.inputs[1])
        y = n.emit("Affine", [a, w] + ([bias] if bias else []), None if rest else y_out, base_axis=1)
    else:
        product = n.emit("BatchMatmul", [a, n.x(1)], transpose_b=trans_b)
        if alpha != 1:
            product = n.emit("MulScalar", [product], val=alpha)
        y = n.emit("Add2", [product, n.to_rank(bias, 2)], None if rest else y_out) if bias else product
        if not rest and not bias:
            n.identity(y, y_out)
    if rest:
        cv = n.x(2) if beta == 1 else n.emit("MulScalar", [n.x(2)], val=beta)
        binary(n, "Add2", y, cv, y_out)


@converter("MatMul")
def _matmul(n: Node) -> None:
    sa, sb = n.shape(0), n.shape(1)
    b = n.const(1)
    if b is not None and b.ndim <= 2 and len(sa) >= 2:
        weight = n.input_as(1, sb if b.ndim == 2 else (sb[0], 1))
        y = n.emit("Affine", [n.x(0), weight], None if b.ndim == 1 else n.outputs[0], base_axis=len(sa) - 1)
        if b.ndim == 1:
            n.reshape(y, sa[:-1], n.outputs[0])
        return
    a_x = n.reshape(n.x(0), (1, sa[0])) if len(sa) == 1 else n.x(0)
    b_x = n.reshape(n.x(1), (sb[0], 1)) if len(sb) == 1 else n.x(1)
    out_shape = list(np.broadcast_shapes(n.run.shape(a_x)[:-2], n.run.shape(b_x)[:-2]))
    rank = len(out_shape) + 2
    y = n.emit("BatchMatmul", [n.to_rank(a_x, rank), n.to_rank(b_x, rank)])
    final = out_shape + ([sa[-2]] if len(sa) > 1 else []) + ([sb[-1]] if len(sb) > 1 else [])
    n.reshape(y, final, n.outputs[0])


# -- normalization ----------------------------------------------------------------------------------------------
def _channel_shape(n: Node) -> tuple[int, ...]:
    shape = n.shape(0)
    return (1, shape[1]) + (1,) * (len(shape) - 2)


@converter("BatchNormalization")
def _batch_norm(n: Node) -> None:
    n.attr("momentum")
    n.expect("training_mode", (0,), 0)
    n.expect("spatial", (1,), 1)
    n.only_first_output("(running statistics in training mode) are not supported")
    p = _channel_shape(n)
    beta, gamma, mean, var = (n.input_as(i, p) for i in (2, 1, 3, 4))
    n.emit("BatchNormalization", [n.x(0), beta, gamma, mean, var], n.outputs[0], axes=[1],
           eps=n.attr("epsilon", 1e-5), batch_stat=False)


@converter("InstanceNormalization")
def _instance_norm(n: Node) -> None:
    p = _channel_shape(n)
    n.emit("InstanceNormalization", [n.x(0), n.input_as(2, p), n.input_as(1, p)], n.outputs[0], channel_axis=1,
           batch_axis=[0], eps=n.attr("epsilon", 1e-5))


def _affine_parameter(n: Node, i: int, target: Sequence[int], expand: int = 1) -> str:
    """Scale/bias input ``i`` as a parameter of shape ``target`` (each value repeated ``expand`` times first)."""
    value = n.const(i)
    if value is None:
        if expand != 1:
            raise n.fail(f"input {i} must be a constant")
        return n.broadcast(n.x(i), target)
    value = np.repeat(value.reshape(-1), expand) if expand != 1 else value
    array = value.reshape(target) if value.size == math.prod(target) else np.broadcast_to(value, target)
    return n.run.parameter(array, n.inputs[i], n.inputs[i] in n.run.initializers)


@converter("LayerNormalization")
def _layer_norm(n: Node) -> None:
    shape = n.shape(0)
    axis = n.attr("axis", -1)
    axis = axis + len(shape) if axis < 0 else axis
    n.attr("stash_type")
    n.only_first_output("(mean and inverse standard deviation) are not supported")
    target = (1,) * axis + shape[axis:]
    gamma = _affine_parameter(n, 1, target)
    inputs = [n.x(0)] + ([_affine_parameter(n, 2, target)] if n.has(2) else []) + [gamma]
    n.emit("LayerNormalization", inputs, n.outputs[0], batch_axis=list(range(axis)), eps=n.attr("epsilon", 1e-5),
           no_bias=not n.has(2))


@converter("GroupNormalization")
def _group_norm(n: Node) -> None:
    groups = int(n.attr("num_groups"))
    n.attr("stash_type")
    p = _channel_shape(n)
    expand = 1 if n.opset >= 21 or n.shape(1)[0] == p[1] else p[1] // groups  # opset 18: one value per group
    beta, gamma = _affine_parameter(n, 2, p, expand), _affine_parameter(n, 1, p, expand)
    n.emit("GroupNormalization", [n.x(0), beta, gamma], n.outputs[0], num_groups=groups, channel_axis=1,
           batch_axis=[0], eps=n.attr("epsilon", 1e-5))


@converter("Det")
def _det(n: Node) -> None:
    """BatchDet over the leading axes flattened into one."""
    shape = n.shape(0)
    square = n.reshape(n.x(0), (math.prod(shape[:-2]), *shape[-2:]))
    n.reshape(n.emit("BatchDet", [square]), shape[:-2], n.outputs[0])


# -- resizing ---------------------------------------------------------------------------------------------------
@converter("GridSample")
def _grid_sample(n: Node) -> None:
    mode = n.expect("mode", ("bilinear", "linear", "nearest"), "linear" if n.opset >= 20 else "bilinear")
    padding = n.expect("padding_mode", ("zeros", "border", "reflection"), "zeros")
    n.emit("WarpByGrid", [n.x(0), n.x(1)], n.outputs[0], mode="nearest" if mode == "nearest" else "linear",
           padding_mode={"zeros": "zero", "border": "repeat", "reflection": "reflect"}[padding],
           align_corners=bool(n.attr("align_corners", 0)), channel_last=False)


_F32 = np.float32


def _resize_arguments(n: Node) -> tuple[list[float], list[int]]:
    """``(scales, sizes)`` over every axis; exact sizes are written as scales so that they follow the batch."""
    shape = n.shape(0)
    rank = len(shape)
    if n.op == "Upsample" or n.opset < 11:
        scales = n.const_or_attr(1, "scales")
        return [float(s) for s in np.asarray(scales).reshape(-1)], []
    scales = n.const(2) if n.has(2) else None
    sizes = n.need_const(3, "sizes") if n.has(3) else None
    if n.has(2) and scales is None:
        n.need_const(2, "scales")
    axes = n.attr("axes")
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    n.expect("keep_aspect_ratio_policy", ("stretch",), "stretch")
    if scales is not None and scales.size:
        full = [1.0] * rank
        for a, s in zip(axes, scales.reshape(-1)):
            full[a] = float(s)
        return full, []
    if sizes is None:
        raise n.fail("neither scales nor sizes are given")
    target = list(shape)
    for a, s in zip(axes, sizes.reshape(-1)):
        target[a] = int(s)
    ratios = [_F32(o) / _F32(i) for o, i in zip(target, shape)]
    if all(int(np.floor(_F32(i) * r)) == o for i, o, r in zip(shape, target, ratios)):
        return [float(r) for r in ratios], []
    return [], target


@converter("Resize", "Upsample")
def _resize(n: Node) -> None:
    legacy = n.op == "Upsample" or n.opset < 11
    mode = n.expect("mode", ("nearest", "linear", "cubic") if not legacy else ("nearest", "linear"), "nearest")
    scales, sizes = _resize_arguments(n)
    n.expect("antialias", (0,), 0)
    args = dict(mode=mode, scales=scales, sizes=sizes)
    if legacy:
        args.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        roi = n.const(1) if n.has(1) else None
        args.update(
            roi=[] if roi is None else [float(r) for r in roi.reshape(-1)],
            coordinate_transformation_mode=n.attr("coordinate_transformation_mode", "half_pixel"),
            cubic_coeff_a=n.attr("cubic_coeff_a", -0.75), exclude_outside=n.attr("exclude_outside", 0),
            extrapolation_value=n.attr("extrapolation_value", 0.0),
            nearest_mode=n.attr("nearest_mode", "round_prefer_floor"),
        )
    if scales and all(s == 1.0 for s in scales) and args.get("coordinate_transformation_mode") != "tf_crop_and_resize":
        n.identity(n.x(0), n.outputs[0])  # nothing is resized (nnl's ONNXResize wants at least one axis)
        return
    n.emit("ONNXResize", [n.x(0)], n.outputs[0], **args)


# -- recurrent --------------------------------------------------------------------------------------------------
# nnabla's gate k is ONNX's gate _GATES[op][k]
_GATES = {"RNN": [0], "LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2]}
_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}


def _recurrent_weights(n: Node, d: int, hidden: int) -> tuple[str, str | None]:
    """nnabla's ``weight_l0`` (D, [G,] H, I + H) and ``bias`` (1, D, [G',] H) from ONNX's W, R and B: parameters
    when those are constants, else functions computing them."""
    if all(n.const(i) is not None for i in range(1, 4) if n.has(i)):
        weight, bias = _constant_weights(n, d, hidden)
        return n.parameter(weight, "weight_l0"), (n.parameter(bias, "bias") if bias is not None else None)
    gates = _GATES[n.op]
    g = len(gates)
    order = n.parameter(np.asarray(gates), "gates", need_grad=False)

    def by_gate(i: int, shape: tuple[int, ...], axis: int) -> str:
        return n.emit("Gather", [n.reshape(n.x(i), shape), order], axis=axis, batch_dims=0)

    w = by_gate(1, (d, g, hidden, n.shape(1)[2]), 1)
    weight = n.emit("Concatenate", [w, by_gate(2, (d, g, hidden, hidden), 1)], axis=3)
    if n.op == "RNN":
        weight = n.reshape(weight, (d, hidden, n.shape(1)[2] + hidden))
    if not n.has(3):
        return weight, None
    b = by_gate(3, (d, 2, g, hidden), 2)

    def part(side: int, first: int, last: int) -> str:  # b[:, side, first:last]
        piece = n.emit("Slice", [b], start=[side, first, 0], stop=[side + 1, last, hidden], step=[1, 1, 1])
        return n.reshape(piece, (d, last - first, hidden))

    if n.op == "GRU":
        pieces = [n.emit("Add2", [part(0, 0, 2), part(1, 0, 2)]), part(0, 2, 3), part(1, 2, 3)]
        bias = n.emit("Concatenate", pieces, axis=1)
    else:
        bias = n.emit("Add2", [part(0, 0, g), part(1, 0, g)])
    return weight, n.reshape(bias, (1, d, hidden) if n.op == "RNN" else (1, d, g + (n.op == "GRU"), hidden))


def _constant_weights(n: Node, d: int, hidden: int) -> tuple[np.ndarray, np.ndarray | None]:
    gates = _GATES[n.op]
    w, r = n.const(1).astype(np.float32), n.const(2).astype(np.float32)  # type: ignore[union-attr]
    g = len(gates)
    w4 = w.reshape(d, g, hidden, -1)[:, gates]
    r4 = r.reshape(d, g, hidden, hidden)[:, gates]
    weight = np.concatenate([w4, r4], axis=3)
    if n.op == "RNN":
        weight = weight[:, 0]
    if not n.has(3):
        return weight, None
    b = n.const(3).astype(np.float32).reshape(d, 2, g, hidden)  # type: ignore[union-attr]
    wb, rb = b[:, 0][:, gates], b[:, 1][:, gates]
    if n.op == "GRU":  # b_r, b_z, b_n (input side) and b_hn (inside the reset product)
        bias = np.concatenate([wb[:, :2] + rb[:, :2], wb[:, 2:], rb[:, 2:]], axis=1)
    else:
        bias = wb + rb
    return weight, (bias[:, 0] if n.op == "RNN" else bias)[None]


def _check_recurrent(n: Node, d: int, seq_len: int) -> None:
    for name in ("activation_alpha", "activation_beta", "clip"):
        if n.attr(name) is not None:
            raise n.fail(f"{name} is not supported", name)
    activations = [a.lower() for a in (n.attr("activations") or [])]
    if n.op == "RNN":
        if activations and (set(activations) - {"tanh", "relu"} or len(set(activations)) != 1):
            raise n.fail(f"activations={activations} is not supported (tanh or relu for every direction)",
                         "activations")
    elif activations and activations != _ACTIVATIONS[n.op] * d:
        raise n.fail(f"activations={activations} is not supported (only the defaults)", "activations")
    if n.op == "LSTM":
        n.expect("input_forget", (0,), 0)
        peephole = n.const(7) if n.has(7) else None
        if n.has(7) and (peephole is None or np.any(peephole)):
            raise n.fail("peephole weights (input P) are not supported")
    if n.op == "GRU":
        n.expect("linear_before_reset", (1,), 0)
    if n.has(4):
        lengths = n.const(4)
        if lengths is None or np.any(lengths != seq_len):
            raise n.fail("sequence_lens other than the full length of every sequence is not supported")


@converter("LSTM", "GRU", "RNN")
def _recurrent(n: Node) -> None:
    direction = n.expect("direction", ("forward", "reverse", "bidirectional"), "forward")
    layout = n.expect("layout", (0, 1), 0)
    d = 2 if direction == "bidirectional" else 1
    hidden = int(n.attr("hidden_size"))
    x = n.emit("Transpose", [n.x(0)], axes=[1, 0, 2]) if layout else n.x(0)
    seq_len, batch, _ = n.run.shape(x)
    _check_recurrent(n, d, seq_len)
    if direction == "reverse":
        x = n.emit("Flip", [x], axes=[0])
    weight, bias = _recurrent_weights(n, d, hidden)
    state_shape = (1, d, batch, hidden)

    def state(i: int) -> str:
        if not n.has(i):
            return n.emit("Constant", [], val=0.0, shape=state_shape)
        value = n.const(i)
        if value is not None:
            value = value.transpose(1, 0, 2) if layout else value
            return n.const_variable(value.reshape(state_shape), n.tainted(i), "state")
        h = n.emit("Transpose", [n.x(i)], axes=[1, 0, 2]) if layout else n.x(i)
        return n.reshape(h, state_shape)

    states = [state(5)] + ([state(6)] if n.op == "LSTM" else [])
    inputs = [x, *states, weight] + ([bias] if bias is not None else [])
    args = dict(num_layers=1, dropout=0.0, bidirectional=d == 2, training=False)
    if n.op == "RNN":
        activations = n.attr("activations") or ["Tanh"]
        args["nonlinearity"] = activations[0].lower()
    outs = n.emit(n.op, inputs, len(states) + 1, **args)
    if n.has_output(0):
        y = n.emit("Flip", [outs[0]], axes=[0]) if direction == "reverse" else outs[0]
        y = n.reshape(y, (seq_len, batch, d, hidden))
        n.emit("Transpose", [y], n.outputs[0], axes=[1, 0, 2, 3] if layout else [0, 2, 1, 3])
    for k, final in enumerate(outs[1:], start=1):
        if n.has_output(k):
            if layout:
                n.emit("Transpose", [n.reshape(final, (d, batch, hidden))], n.outputs[k], axes=[1, 0, 2])
            else:
                n.reshape(final, (d, batch, hidden), n.outputs[k])
