"""Cases for the convolution family, Embed and RoiAlign of nnl/functions/neural_network.py.

References are naive loops (direct sums over output positions, scatters over input positions, scalar bilinear
sampling), independent of the im2col/col2im kernels they check.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from nnl.testing.function_tester import Case


# -- references ----------------------------------------------------------------------------------------------------
def _norm_axis(base_axis, ndim):
    return base_axis + ndim if base_axis < 0 else base_axis


def _to_first(a, base_axis):
    """Channel-last ``(*batch, *S, C)`` to ``(*batch, C, *S)``."""
    return np.moveaxis(a, -1, base_axis)


def _conv_ref(x, w, b=None, base_axis=1, pad=None, stride=None, dilation=None, group=1, channel_last=False):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    base_axis = _norm_axis(base_axis, x.ndim)
    if channel_last:
        x, w = _to_first(x, base_axis), _to_first(w, 1)
    n = x.ndim - base_axis - 1
    pad = pad or (0,) * n
    stride = stride or (1,) * n
    dilation = dilation or (1,) * n
    batch = x.shape[:base_axis]
    xs = x.reshape((-1,) + x.shape[base_axis:])
    kernel = w.shape[2:]
    xp = np.pad(xs, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = [
        (s + 2 * p - d * (k - 1) - 1) // st + 1 for s, p, d, k, st in zip(xs.shape[2:], pad, dilation, kernel, stride)
    ]
    oc, cg = w.shape[:2]
    ocg = oc // group
    y = np.zeros((xs.shape[0], oc) + tuple(out))
    for pos in np.ndindex(*out):
        index = tuple(slice(o * st, o * st + d * (k - 1) + 1, d) for o, st, d, k in zip(pos, stride, dilation, kernel))
        patch = xp[(slice(None), slice(None)) + index]
        for g in range(group):
            y[(slice(None), slice(g * ocg, (g + 1) * ocg)) + pos] = np.tensordot(
                patch[:, g * cg : (g + 1) * cg],
                w[g * ocg : (g + 1) * ocg],
                axes=(list(range(1, n + 2)), list(range(1, n + 2))),
            )
    if b is not None:
        y += b.reshape((1, -1) + (1,) * n)
    y = y.reshape(batch + y.shape[1:])
    return np.moveaxis(y, base_axis, -1) if channel_last else y


def _deconv_ref(
    x, w, b=None, base_axis=1, pad=None, stride=None, dilation=None, group=1, channel_last=False, output_padding=None
):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    base_axis = _norm_axis(base_axis, x.ndim)
    if channel_last:
        x, w = _to_first(x, base_axis), _to_first(w, 1)
    n = x.ndim - base_axis - 1
    pad = pad or (0,) * n
    stride = stride or (1,) * n
    dilation = dilation or (1,) * n
    output_padding = output_padding or (0,) * n
    batch = x.shape[:base_axis]
    xs = x.reshape((-1,) + x.shape[base_axis:])
    kernel = w.shape[2:]
    cin, cog = w.shape[:2]
    cig = cin // group
    big = [
        st * (s - 1) + d * (k - 1) + 1 - 2 * p + op
        for s, st, d, k, p, op in zip(xs.shape[2:], stride, dilation, kernel, pad, output_padding)
    ]
    yp = np.zeros(
        (xs.shape[0], cog * group) + tuple(b_ + 2 * p + k * d for b_, p, k, d in zip(big, pad, kernel, dilation))
    )
    for pos in np.ndindex(*xs.shape[2:]):
        for tap in np.ndindex(*kernel):
            at = tuple(i * st + t * d for i, st, t, d in zip(pos, stride, tap, dilation))
            for g in range(group):
                value = (
                    xs[(slice(None), slice(g * cig, (g + 1) * cig)) + pos]
                    @ w[(slice(g * cig, (g + 1) * cig), slice(None)) + tap]
                )
                yp[(slice(None), slice(g * cog, (g + 1) * cog)) + at] += value
    y = yp[(slice(None), slice(None)) + tuple(slice(p, p + b_) for p, b_ in zip(pad, big))]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * n)
    y = y.reshape(batch + y.shape[1:])
    return np.moveaxis(y, base_axis, -1) if channel_last else y


def _depthwise_conv_ref(x, w, b=None, base_axis=1, pad=None, stride=None, dilation=None, multiplier=1):
    channels = x.shape[_norm_axis(base_axis, x.ndim)]
    return _conv_ref(x, w[:, None], b, base_axis, pad, stride, dilation, group=channels)


def _depthwise_deconv_ref(x, w, b=None, base_axis=1, pad=None, stride=None, dilation=None, divisor=1):
    channels = x.shape[_norm_axis(base_axis, x.ndim)]
    return _deconv_ref(x, w[:, None], b, base_axis, pad, stride, dilation, group=channels // divisor)


_ACTS = {
    "identity": lambda h, a: h,
    "relu": lambda h, a: np.maximum(h, 0),
    "sigmoid": lambda h, a: 1 / (1 + np.exp(-h)),
    "tanh": lambda h, a: np.tanh(h),
    "leaky_relu": lambda h, a: np.where(h > 0, h, a[0] * h),
    "elu": lambda h, a: np.where(h > 0, h, a[0] * (np.exp(h) - 1)),
    "relu6": lambda h, a: np.minimum(np.maximum(h, 0), 6),
}


def _fused_ref(
    *arrays,
    roles=(),
    base_axis=1,
    pad=None,
    stride=None,
    dilation=None,
    group=1,
    channel_last=False,
    decay_rate=0.9,
    eps=1e-5,
    batch_stat=True,
    nonlinearity="relu",
    nonlinearity_args=(),
    pad_mode="constant",
    constant_value=0.0,
):
    x, w = arrays[0].astype(np.float64), arrays[1]
    named = dict(zip(roles, arrays[2:]))
    n = x.ndim - base_axis - 1
    pad = tuple(pad or (0,) * n)
    pairs = list(zip(pad[::2], pad[1::2])) if len(pad) == 2 * n else [(p, p) for p in pad]
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}[pad_mode]
    kwargs = {"constant_values": constant_value} if mode == "constant" else {}
    xp = np.pad(x, [(0, 0)] * (base_axis + 1) + pairs, mode=mode, **kwargs)
    h = _conv_ref(xp, w, named.get("bias"), base_axis, None, stride, dilation, group)
    if "beta" in named:
        axes = tuple(i for i in range(h.ndim) if i != base_axis)
        if batch_stat:
            mean, var = h.mean(axis=axes, keepdims=True), h.var(axis=axes, keepdims=True)
        else:
            mean, var = named["mean"].astype(np.float64), named["variance"].astype(np.float64)
        h = (h - mean) / np.sqrt(var + eps) * named["gamma"] + named["beta"]
    if "z" in named:
        h = h + named["z"]
    return _ACTS[nonlinearity](h, nonlinearity_args)


def _bilinear(img, py, px):
    """Bilinear sample of ``img`` ``(C, H, W)`` at one point; corners outside read zero."""
    height, width = img.shape[1:]
    if not (-1 < py < height and -1 < px < width):
        return np.zeros(img.shape[0])
    y0, x0 = math.floor(py), math.floor(px)
    total = np.zeros(img.shape[0])
    for yy, xx in itertools.product((y0, y0 + 1), (x0, x0 + 1)):
        if 0 <= yy < height and 0 <= xx < width:
            total += img[:, yy, xx] * (1 - abs(py - yy)) * (1 - abs(px - xx))
    return total


def _deformable_ref(
    x,
    w,
    offset,
    mask=None,
    b=None,
    base_axis=1,
    pad=None,
    stride=None,
    dilation=None,
    group=1,
    deformable_group=1,
    channel_last=False,
):
    x, w, offset = x.astype(np.float64), w.astype(np.float64), offset.astype(np.float64)
    (ph, pw), (sh, sw), (dh, dw) = pad or (0, 0), stride or (1, 1), dilation or (1, 1)
    bsz, c, height, width = x.shape
    oc, cg, kh, kw = w.shape
    oh, ow = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cdg = c // deformable_group
    y = np.zeros((bsz, oc, oh, ow))
    for n_, i, j in itertools.product(range(bsz), range(oh), range(ow)):
        col = np.zeros((c, kh, kw))
        for dgi, ki, kj in itertools.product(range(deformable_group), range(kh), range(kw)):
            tap = ki * kw + kj
            oy = offset[n_, dgi * 2 * kh * kw + 2 * tap, i * sh, j * sw]
            ox = offset[n_, dgi * 2 * kh * kw + 2 * tap + 1, i * sh, j * sw]
            value = _bilinear(
                x[n_, dgi * cdg : (dgi + 1) * cdg], i * sh + ki * dh - ph + oy, j * sw + kj * dw - pw + ox
            )
            if mask is not None:
                value = value * mask[n_, dgi * kh * kw + tap, i * sh, j * sw]
            col[dgi * cdg : (dgi + 1) * cdg, ki, kj] = value
        ocg = oc // group
        for g in range(group):
            y[n_, g * ocg : (g + 1) * ocg, i, j] = np.tensordot(
                w[g * ocg : (g + 1) * ocg], col[g * cg : (g + 1) * cg], axes=3
            )
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _adaptive_sep_ref(x, kv, kh):
    bsz, c, height, width = x.shape
    oh, ow = height - kv.shape[1] + 1, width - kh.shape[1] + 1
    y = np.zeros((bsz, c, oh, ow))
    for n_, i, j in itertools.product(range(bsz), range(oh), range(ow)):
        kernel = np.outer(kv[n_, :, i, j], kh[n_, :, i, j])
        y[n_, :, i, j] = (x[n_, :, i : i + kv.shape[1], j : j + kh.shape[1]] * kernel).sum(axis=(1, 2))
    return y


def _roi_align_ref(x, boxes, output_size, spatial_scale=(1.0, 1.0), sampling_ratio=None, channel_last=None):
    x = x.astype(np.float64)
    if channel_last:
        x = np.moveaxis(x, -1, 1)
    height, width = x.shape[2:]
    oh, ow = output_size
    out = np.zeros((len(boxes), x.shape[1], oh, ow))
    for k, (bi, x1, y1, x2, y2) in enumerate(boxes):
        y1, y2 = y1 * spatial_scale[0] - 0.5, y2 * spatial_scale[0] - 0.5
        x1, x2 = x1 * spatial_scale[1] - 0.5, x2 * spatial_scale[1] - 0.5
        bin_h, bin_w = (y2 - y1) / oh, (x2 - x1) / ow
        gy = sampling_ratio if sampling_ratio and sampling_ratio > 0 else max(math.ceil(bin_h), 1)
        gx = sampling_ratio if sampling_ratio and sampling_ratio > 0 else max(math.ceil(bin_w), 1)
        for i, j in itertools.product(range(oh), range(ow)):
            total = np.zeros(x.shape[1])
            for a, c in itertools.product(range(gy), range(gx)):
                py = y1 + i * bin_h + (a + 0.5) * bin_h / gy
                px = x1 + j * bin_w + (c + 0.5) * bin_w / gx
                if py < -1 or py > height or px < -1 or px > width:
                    continue
                total += _bilinear(x[int(bi)], min(max(py, 0), height - 1), min(max(px, 0), width - 1))
            out[k, :, i, j] = total / (gy * gx)
    return np.moveaxis(out, 1, -1) if channel_last else out


# -- inputs ----------------------------------------------------------------------------------------------------------
def _fused_inputs(x_shape, w_shape, roles, oc, y_shape):
    def make(rng):
        arrays = [rng.randn(*x_shape).astype(np.float32), rng.randn(*w_shape).astype(np.float32)]
        for role in roles:
            if role == "bias":
                arrays.append(rng.randn(oc).astype(np.float32))
            elif role in ("beta", "gamma"):
                arrays.append(rng.randn(1, oc, 1, 1).astype(np.float32))
            elif role == "mean":
                arrays.append((rng.randn(1, oc, 1, 1) * 0.2).astype(np.float32))
            elif role == "variance":
                arrays.append((rng.rand(1, oc, 1, 1) + 0.5).astype(np.float32))
            elif role == "z":
                arrays.append(rng.randn(*y_shape).astype(np.float32))
        return arrays

    return make


def _fused_call(roles, **args):
    def call(F, x, w, *rest):
        return F.fused_convolution(x, w, **dict(zip(roles, rest)), **args)

    return call


def _fused_case(name, roles, x_shape, w_shape, y_shape, grad_inputs=None, **args):
    oc = w_shape[0]
    return Case(
        "FusedConvolution",
        _fused_inputs(x_shape, w_shape, roles, oc, y_shape),
        lambda *arrays: _fused_ref(*arrays, roles=roles, **args),
        call=_fused_call(roles, **args),
        grad_inputs=grad_inputs,
        name=name,
    )


def _deformable_inputs(x_shape, w_shape, dg, with_mask, with_bias):
    def make(rng):
        taps = w_shape[2] * w_shape[3]
        spatial = x_shape[2:]
        offset = rng.uniform(-1.9, 1.9, (x_shape[0], 2 * dg * taps) + spatial)
        # keep sample positions away from integer coordinates (bilinear kinks)
        offset += 0.5 * (np.abs(offset - np.round(offset)) < 0.1)
        arrays = [
            rng.randn(*x_shape).astype(np.float32),
            rng.randn(*w_shape).astype(np.float32),
            offset.astype(np.float32),
        ]
        arrays.append(rng.rand(x_shape[0], dg * taps, *spatial).astype(np.float32) if with_mask else None)
        arrays.append(rng.randn(w_shape[0]).astype(np.float32) if with_bias else None)
        return arrays

    return make


def _embed_inputs(x_shape, w_shape):
    def make(rng):
        return [rng.randint(0, w_shape[0], x_shape).astype(np.int32), rng.randn(*w_shape).astype(np.float32)]

    return make


def _roi_inputs(x_shape, boxes):
    def make(rng):
        return [rng.randn(*x_shape).astype(np.float32), np.array(boxes, np.float32)]

    return make


_CONV_ERRORS = [
    ([(2, 3, 6), (4, 2, 3)], {}, "channels per group"),
    ([(2, 4, 6), (4, 2, 3)], {"group": 3}, "group"),
    ([(2, 2, 6), (4, 2, 3)], {"pad": (1, 1)}, "pad"),
    ([(2, 2, 6), (4, 2, 3), (3,)], {}, "bias"),
    ([(2, 2, 2), (4, 2, 3)], {}, "spatial size"),
]

_DECONV_ERRORS = [
    ([(2, 3, 5), (4, 2, 3)], {}, "weight.shape[0]"),
    ([(2, 4, 5), (4, 2, 3)], {"stride": (2,), "output_padding": (2,)}, "output_padding"),
    ([(2, 4, 5), (4, 2, 3), (3,)], {}, "bias"),
]


CASES = [
    # Convolution
    Case(
        "Convolution",
        [(2, 2, 7), (3, 2, 3), (3,)],
        _conv_ref,
        args={"pad": (1,), "stride": (2,)},
        name="1d",
        errors=_CONV_ERRORS,
    ),
    Case(
        "Convolution",
        [(2, 4, 5, 4), (2, 2, 3, 2), (2,)],
        _conv_ref,
        args={"pad": (1, 0), "stride": (1, 2), "dilation": (2, 1), "group": 2},
        name="2d_group_dilation",
    ),
    Case(
        "Convolution",
        [(2, 2, 5, 5), (3, 2, 2, 2), None],
        _conv_ref,
        args={"pad": (1, 1), "stride": (2, 2)},
        name="2d_stride_nobias",
    ),
    Case(
        "Convolution",
        [(2, 4, 5, 4), (4, 2, 3, 2), (4,)],
        _conv_ref,
        args={"pad": (1, 1), "dilation": (2, 1), "group": 2},
        name="2d_group_stride1",
    ),
    Case(
        "Convolution",
        [(1, 2, 4, 3, 3), (2, 2, 2, 2, 1), (2,)],
        _conv_ref,
        args={"pad": (1, 0, 1), "stride": (2, 1, 1)},
        name="3d",
    ),
    Case(
        "Convolution", [(2, 2, 2, 6), (2, 2, 3), None], _conv_ref, args={"base_axis": 2, "pad": (1,)}, name="base_axis2"
    ),
    Case(
        "Convolution",
        [(2, 2, 6), (3, 2, 3), None],
        _conv_ref,
        args={"base_axis": -2, "dilation": (2,)},
        name="base_axis_negative",
    ),
    Case(
        "Convolution",
        [(2, 5, 4, 2), (3, 2, 2, 2), (3,)],
        _conv_ref,
        args={"pad": (1, 0), "channel_last": True},
        name="channel_last",
    ),
    Case(
        "Convolution",
        [(2, 3, 6, 5), (6, 1, 3, 2), None],
        _conv_ref,
        args={"pad": (1, 1), "group": 3},
        name="depthwise_group",
    ),
    # Deconvolution
    Case(
        "Deconvolution",
        [(2, 4, 5), (4, 1, 3), (2,)],
        _deconv_ref,
        args={"pad": (1,), "stride": (2,), "group": 2, "output_padding": (1,)},
        name="1d_group_outpad",
        errors=_DECONV_ERRORS,
    ),
    Case(
        "Deconvolution",
        [(2, 2, 3, 4), (2, 3, 2, 3), (3,)],
        _deconv_ref,
        args={"pad": (1, 0), "stride": (2, 1), "dilation": (1, 2)},
        name="2d",
    ),
    Case("Deconvolution", [(1, 2, 2, 3, 2), (2, 2, 2, 2, 2), None], _deconv_ref, args={"stride": (1, 2, 1)}, name="3d"),
    Case(
        "Deconvolution",
        [(2, 3, 3, 2), (2, 2, 2, 2), (2,)],
        _deconv_ref,
        args={"pad": (0, 1), "channel_last": True},
        name="channel_last",
    ),
    # DepthwiseConvolution / DepthwiseDeconvolution
    Case(
        "DepthwiseConvolution",
        [(2, 2, 5, 4), (4, 3, 2), (4,)],
        _depthwise_conv_ref,
        args={"pad": (1, 0), "multiplier": 2, "dilation": (1, 2)},
        name="2d_multiplier",
        errors=[([(2, 2, 5, 4), (3, 3, 2)], {"multiplier": 2}, "weight.shape[0]")],
    ),
    Case(
        "DepthwiseConvolution",
        [(2, 3, 8), (3, 3), None],
        _depthwise_conv_ref,
        args={"pad": (2,), "stride": (2,)},
        name="1d",
    ),
    Case(
        "DepthwiseDeconvolution",
        [(2, 4, 3, 3), (4, 2, 2), (2,)],
        _depthwise_deconv_ref,
        args={"pad": (1, 0), "stride": (2, 1), "divisor": 2},
        name="2d_divisor",
        errors=[([(2, 3, 3, 3), (3, 2, 2)], {"divisor": 2}, "divisor")],
    ),
    Case(
        "DepthwiseDeconvolution", [(2, 2, 5), (2, 3), None], _depthwise_deconv_ref, args={"dilation": (2,)}, name="1d"
    ),
    # FusedConvolution
    _fused_case(
        "bn_z_tanh",
        ("beta", "gamma", "mean", "variance", "z"),
        (2, 2, 4, 4),
        (4, 1, 3, 3),
        (2, 4, 2, 2),
        grad_inputs=[0, 1, 2, 3, 6],
        pad=(1, 1),
        stride=(2, 2),
        group=2,
        nonlinearity="tanh",
    ),
    _fused_case(
        "bias_reflect_leaky",
        ("bias",),
        (2, 2, 3, 4),
        (3, 2, 2, 2),
        (2, 3, 4, 3),
        pad=(1, 0, 1, 0),
        pad_mode="reflect",
        nonlinearity="leaky_relu",
        nonlinearity_args=(0.2,),
    ),
    _fused_case(
        "inference_bn_repeat_elu",
        ("beta", "gamma", "mean", "variance"),
        (1, 2, 4, 3),
        (2, 2, 2, 2),
        (1, 2, 5, 4),
        grad_inputs=[0, 1, 2, 3],
        pad=(1, 1),
        pad_mode="repeat",
        batch_stat=False,
        nonlinearity="elu",
        nonlinearity_args=(0.5,),
    ),
    _fused_case(
        "constant_z_sigmoid",
        ("bias", "z"),
        (2, 2, 3, 3),
        (2, 2, 2, 2),
        (2, 2, 4, 4),
        pad=(1, 1),
        pad_mode="constant",
        constant_value=0.5,
        nonlinearity="sigmoid",
    ),
    # DeformableConvolution
    Case(
        "DeformableConvolution",
        _deformable_inputs((1, 2, 4, 4), (2, 1, 3, 2), 2, True, True),
        _deformable_ref,
        args={"pad": (1, 0), "group": 2, "deformable_group": 2},
        atol_b=5e-3,
        dstep=1e-3,
        name="mask_bias",
    ),
    Case(
        "DeformableConvolution",
        _deformable_inputs((1, 2, 4, 5), (2, 2, 2, 2), 1, False, False),
        _deformable_ref,
        args={"pad": (1, 1), "stride": (1, 2), "dilation": (2, 1)},
        atol_b=5e-3,
        dstep=1e-3,
        name="stride_dilation",
    ),
    # AdaptiveSeparableConvolution
    Case(
        "AdaptiveSeparableConvolution",
        [(1, 2, 5, 4), (1, 3, 3, 2), (1, 3, 3, 2)],
        _adaptive_sep_ref,
        errors=[([(1, 2, 5, 4), (2, 3, 3, 2), (1, 3, 3, 2)], {}, "batch size")],
    ),
    # Embed
    Case("Embed", _embed_inputs((2, 3), (4, 3)), lambda x0, w: w[x0], grad_inputs=[1]),
    Case("Embed", _embed_inputs((7,), (3, 2, 2)), lambda x0, w: w[x0], grad_inputs=[1], name="3d_weight"),
    # RoiAlign
    Case(
        "RoiAlign",
        _roi_inputs((2, 2, 5, 5), [[0, 0.3, 0.6, 4.2, 3.7], [1, 1.1, 0.2, 3.3, 5.1]]),
        _roi_align_ref,
        args={"output_size": (2, 3)},
        grad_inputs=[0],
        errors=[([(2, 2, 5, 5), (3, 4)], {"output_size": (2, 2)}, "boxes")],
    ),
    Case(
        "RoiAlign",
        _roi_inputs((2, 2, 4, 5), [[1, -1.2, 0.4, 6.3, 3.9], [0, 0.5, 0.5, 2.5, 2.5]]),
        _roi_align_ref,
        args={"output_size": (3, 2), "spatial_scale": (0.8, 1.2), "sampling_ratio": 2},
        grad_inputs=[0],
        name="scale_ratio",
    ),
    Case(
        "RoiAlign",
        _roi_inputs((1, 4, 4, 2), [[0, 0.4, 0.7, 3.6, 3.1]]),
        _roi_align_ref,
        args={"output_size": (2, 2), "channel_last": True},
        grad_inputs=[0],
        name="channel_last",
    ),
]
