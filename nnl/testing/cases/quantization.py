"""Cases for nnl/functions/quantization.py.

References are naive element/sample loops written from the definitions. The straight-through-estimator (STE)
gradients of the quantizers are not the derivative of the forward, so the numerical gradient check cannot apply to
them: those cases set ``backward=False`` (their gradients are verified by nnabla's own tests, see the report), and
the layer cases check the exact gradients only (``x`` and ``bias``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from nnl.testing.function_tester import Case


# -- helpers ---------------------------------------------------------------------------------------------------------
def _sign(w, zero_to):
    out = np.empty(w.shape, np.float64)
    for i in np.ndindex(*w.shape):
        out[i] = 1.0 if w[i] > 0 else (-1.0 if w[i] < 0 else zero_to)
    return out


def _affine(x, w, b, base_axis):
    base_axis = base_axis + x.ndim if base_axis < 0 else base_axis
    rows = int(np.prod(x.shape[:base_axis]))
    xf = x.reshape(rows, -1).astype(np.float64)
    wf = w.reshape(w.shape[0], -1).astype(np.float64)
    y = np.zeros((rows, wf.shape[1]))
    for r in range(rows):
        for k in range(wf.shape[0]):
            y[r] += xf[r, k] * wf[k]
    if b is not None:
        y += b.reshape(1, -1)
    return y.reshape(x.shape[:base_axis] + w.shape[1:])


def _conv2d(x, w, b, pad, stride, dilation, group):
    """Direct 2-D convolution, channel first, one batch axis."""
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])])
    oh = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, oc, oh, ow))
    per_group = oc // group
    for b_, o, i, j in itertools.product(range(n), range(oc), range(oh), range(ow)):
        g = o // per_group
        total = 0.0
        for ci, ki, kj in itertools.product(range(cg), range(kh), range(kw)):
            total += (
                w[o, ci, ki, kj]
                * xp[b_, g * cg + ci, i * stride[0] + ki * dilation[0], j * stride[1] + kj * dilation[1]]
            )
        y[b_, o, i, j] = total + (b[o] if b is not None else 0.0)
    return y


def _with_zeros(shape, rng, count=2):
    w = rng.randn(*shape).astype(np.float32)
    w.reshape(-1)[rng.choice(w.size, count, replace=False)] = 0.0
    return w


# -- binary activations / weights ----------------------------------------------------------------------------------
def _away_from(points, shape, margin=0.05, scale=1.5):
    def make(rng):
        x = (rng.randn(*shape) * scale).astype(np.float32)
        for p in points:
            x = np.where(np.abs(x - p) < margin, p + 2 * margin, x)
        return [x.astype(np.float32)]

    return make


def _binary_connect_affine_ref(x, w, wb, b=None, base_axis=1, quantize_zero_to=1.0):
    return _affine(x, _sign(w, quantize_zero_to), b, base_axis)


def _binary_weight_affine_ref(x, w, wb, alpha, b=None, base_axis=1, quantize_zero_to=1.0):
    w2 = w.reshape(w.shape[0], -1).astype(np.float64)
    scale = np.array([np.mean(np.abs(w2[:, j])) for j in range(w2.shape[1])])
    scaled = _sign(w2, quantize_zero_to) * scale[None, :]
    return _affine(x, scaled.reshape(w.shape), b, base_axis)


def _binary_connect_conv_ref(
    x, w, wb, b=None, base_axis=1, pad=None, stride=None, dilation=None, group=1, quantize_zero_to=1.0
):
    return _conv2d(x, _sign(w, quantize_zero_to), b, pad or (0, 0), stride or (1, 1), dilation or (1, 1), group)


def _binary_weight_conv_ref(
    x, w, wb, alpha, b=None, base_axis=1, pad=None, stride=None, dilation=None, group=1, quantize_zero_to=1.0
):
    scale = np.array([np.mean(np.abs(w[o].astype(np.float64))) for o in range(w.shape[0])])
    scaled = _sign(w, quantize_zero_to) * scale[:, None, None, None]
    return _conv2d(x, scaled, b, pad or (0, 0), stride or (1, 1), dilation or (1, 1), group)


def _bc_affine_inputs(rng):
    return [
        rng.randn(2, 6).astype(np.float32),
        _with_zeros((6, 3), rng),
        np.zeros((6, 3), np.float32),
        rng.randn(3).astype(np.float32),
    ]


def _bw_affine_inputs(rng):
    x = rng.randn(2, 3, 2).astype(np.float32)
    return [
        x,
        _with_zeros((6, 2, 2), rng),
        np.zeros((6, 2, 2), np.float32),
        np.zeros(4, np.float32),
        rng.randn(2, 2).astype(np.float32),
    ]


def _bc_conv_inputs(rng):
    return [
        rng.randn(1, 2, 4, 4).astype(np.float32),
        _with_zeros((4, 1, 2, 2), rng),
        np.zeros((4, 1, 2, 2), np.float32),
        rng.randn(4).astype(np.float32),
    ]


def _bw_conv_inputs(rng):
    return [
        rng.randn(1, 2, 4, 3).astype(np.float32),
        _with_zeros((3, 2, 2, 2), rng),
        np.zeros((3, 2, 2, 2), np.float32),
        np.zeros(3, np.float32),
        None,
    ]


# -- INQ -------------------------------------------------------------------------------------------------------------
def _inq_quantize(w, fixed, num_bits):
    """Power-of-two quantization of the fixed weights, written from the INQ paper's rule (float64)."""
    w = w.astype(np.float64)
    max_abs = np.max(np.abs(w)) or 1.0
    n1 = math.floor(math.log2(max_abs)) + (math.log2(max_abs) - math.floor(math.log2(max_abs)) >= math.log2(1.5))
    n2 = n1 + 1 - 2 ** (num_bits - 2)
    out = w.copy()
    for i in np.ndindex(*w.shape):
        if not fixed[i]:
            continue
        a = abs(w[i])
        if a < 2.0 ** (n2 - 1):
            out[i] = 0.0
            continue
        b = math.log2(a)
        e = math.floor(b) + (b - math.floor(b) >= math.log2(1.5))
        e = min(max(e, n2), n1)
        out[i] = math.copysign(2.0**e, w[i])
    return out


def _inq_fixed(w, ind, inq_iterations):
    fixed = ind.astype(bool)
    if inq_iterations and inq_iterations[-1] == 0:
        return np.ones_like(fixed)
    if inq_iterations and 0 in inq_iterations:  # largest_abs: half of the learnable weights, largest first
        learnable = [i for i in np.ndindex(*w.shape) if not fixed[i]]
        learnable.sort(key=lambda i: -abs(float(w[i])))
        for i in learnable[: len(learnable) // 2]:
            fixed[i] = True
    return fixed


def _inq_affine_ref(
    x, w, ind, b=None, base_axis=1, num_bits=4, inq_iterations=(), selection_algorithm="largest_abs", seed=-1
):
    wq = _inq_quantize(w, _inq_fixed(w, ind, inq_iterations), num_bits)
    return _affine(x, wq, b, base_axis)


def _inq_conv_ref(
    x,
    w,
    ind,
    b=None,
    base_axis=1,
    pad=None,
    stride=None,
    dilation=None,
    group=1,
    num_bits=4,
    inq_iterations=(),
    selection_algorithm="largest_abs",
    seed=-1,
):
    wq = _inq_quantize(w, _inq_fixed(w, ind, inq_iterations), num_bits)
    return _conv2d(x, wq, b, pad or (0, 0), stride or (1, 1), dilation or (1, 1), group)


def _inq_affine_inputs(rng):
    return [
        rng.randn(2, 5).astype(np.float32),
        rng.randn(5, 3).astype(np.float32),
        rng.randint(0, 2, (5, 3)),
        rng.randn(3).astype(np.float32),
    ]


def _inq_conv_inputs(rng):
    return [
        rng.randn(1, 2, 3, 3).astype(np.float32),
        rng.randn(2, 2, 2, 2).astype(np.float32),
        rng.randint(0, 2, (2, 2, 2, 2)),
        None,
    ]


# -- element-wise quantizers -----------------------------------------------------------------------------------------
def _fixed_point_ref(x, sign=True, n=8, delta=0.0625, quantize=True, ste_fine_grained=True):
    if not quantize:
        return x
    delta = float(np.float32(delta))
    high = (2 ** (n - 1 if sign else n) - 1) * delta
    low = -high if sign else 0.0
    out = np.empty(x.shape)
    for i in np.ndindex(*x.shape):
        v = float(x[i])
        if v > high:
            out[i] = high
        elif v < low:
            out[i] = low
        else:
            out[i] = math.copysign(math.floor(abs(v) / delta + 0.5) * delta, v)
    return out


def _fixed_point_inputs(delta, shape=(3, 5)):
    """Values kept away from the rounding boundaries (k + 1/2) * delta."""

    def make(rng):
        x = rng.randn(*shape) * 0.4
        frac = np.abs(x) / delta - np.floor(np.abs(x) / delta)
        x = np.where(np.abs(frac - 0.5) < 0.05, x + 0.2 * delta, x)
        return [x.astype(np.float32)]

    return make


def _pow2_ref(x, sign=True, with_zero=True, n=8, m=1, quantize=True, ste_fine_grained=True):
    bits = n - int(sign) - int(with_zero)
    p_max, p_min = 2.0**m, 2.0 ** (m - (2**bits - 1))
    out = np.empty(x.shape)
    for i in np.ndindex(*x.shape):
        v = float(x[i])
        a = abs(v)
        q = 2.0 ** math.floor(math.log2(a) + 0.5) if a > 0 else 0.0
        if q > p_max:
            q = p_max
        elif q < p_min:
            q = (0.0 if a < p_min / math.sqrt(2) else p_min) if with_zero else p_min
        if v < 0:
            q = -q if sign else (0.0 if with_zero else p_min)
        out[i] = q
    return out


def _pow2_inputs(rng):
    """log2|x| kept away from the rounding boundaries k + 1/2, with a few tiny values."""
    e = rng.uniform(-9, 3, size=(3, 5))
    e = np.where(np.abs(e - np.floor(e) - 0.5) < 0.05, e + 0.2, e)
    x = np.sign(rng.randn(3, 5)) * 2.0**e
    return [x.astype(np.float32)]


def _round_half_away(v):
    return math.copysign(math.floor(abs(v) + 0.5), v)


def _min_max_ref(
    x,
    qr_min,
    qr_max,
    ql_min,
    ql_max,
    decay=0.999,
    x_min_max=False,
    ema=False,
    ste_fine_grained=True,
    eps=0.01,
    quantize=True,
):
    x, qr_min, qr_max = x.astype(np.float64), qr_min.astype(np.float64).copy(), qr_max.astype(np.float64).copy()
    axes = tuple(i for i, s in enumerate(ql_min.shape) if s == 1)
    if x_min_max:
        x_min, x_max = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
        if ema:
            qr_min, qr_max = decay * qr_min + (1 - decay) * x_min, decay * qr_max + (1 - decay) * x_max
        else:
            qr_min, qr_max = x_min, x_max
    out = np.empty(x.shape)
    for i in np.ndindex(*x.shape):
        q = tuple(0 if s == 1 else k for k, s in zip(i, ql_min.shape))
        lo, hi, lmin, lmax = qr_min[q], qr_max[q], float(ql_min[q]), float(ql_max[q])
        if hi - lo < eps:
            hi = lo + eps
        scale = (hi - lo) / (lmax - lmin)
        z = lmin - lo / scale
        z = lmin if z <= lmin else (lmax if z >= lmax else _round_half_away(z))
        lo_n, hi_n = (lmin - z) * scale, (lmax - z) * scale
        v = min(max(float(x[i]), lo_n), hi_n)
        out[i] = _round_half_away((v - lo_n) / scale) * scale + lo_n
    return out


def _min_max_inputs(rng):
    return [
        rng.randn(2, 3, 4).astype(np.float32),
        (-0.5 * rng.rand(1, 3, 1)).astype(np.float32),
        (0.5 * rng.rand(1, 3, 1)).astype(np.float32),
        np.zeros((1, 3, 1), np.float32),
        np.full((1, 3, 1), 15.0, np.float32),
    ]


def _prune_ref(x, rate=0.9):
    flat = sorted(abs(float(v)) for v in x.reshape(-1))
    threshold = flat[int((x.size - 1) * rate)] + (1.0 if rate == 1.0 else 0.0)
    return np.where(np.abs(x) < threshold, 0.0, x)


def _quantize_linear_ref(x, scale, zero_point, round_mode="HALF_AWAY_FROM_ZERO", narrow_range=False, dtype=np.int8):
    info = np.iinfo(dtype)
    low, high = int(info.min) + int(narrow_range), int(info.max)

    def rnd(v):
        if round_mode == "HALF_AWAY_FROM_ZERO":
            return _round_half_away(v)
        f = math.floor(v)
        return f + 1 if v - f > 0.5 or (v - f == 0.5 and f % 2 == 1) else f

    out = np.empty(x.shape)
    for i in np.ndindex(*x.shape):
        j = tuple(0 if s == 1 else k for k, s in zip(i, scale.shape))
        z = min(max(rnd(float(zero_point[j])), low), high)
        out[i] = min(max(rnd(float(x[i]) / float(scale[j])) + z, low), high)
    return out


def _quantize_linear_inputs(rng):
    # exact halves of the scale (0.5) test the rounding mode; a large range tests saturation
    x = (rng.randint(-300, 300, (2, 3, 4)) + 0.5) * 0.25
    x[0, 0, :2] = [0.25, -0.25]  # +-0.5 after scaling
    return [x.astype(np.float32), np.full((1, 3, 1), 0.5, np.float32), rng.randint(-20, 20, (1, 3, 1))]


def _dequantize_linear_ref(x, scale, zero_point):
    out = np.empty(x.shape)
    for i in np.ndindex(*x.shape):
        j = tuple(0 if s == 1 else k for k, s in zip(i, scale.shape))
        out[i] = (float(x[i]) - float(zero_point[j])) * float(scale[j])
    return out


CASES = [
    Case("BinarySigmoid", _away_from([0.0], (3, 4)), lambda x: (x > 0).astype(np.float64), backward=False),
    Case("BinaryTanh", _away_from([0.0], (3, 4)), lambda x: np.where(x > 0, 1.0, -1.0), backward=False),
    Case(
        "BinaryConnectAffine",
        _bc_affine_inputs,
        _binary_connect_affine_ref,
        grad_inputs=[0, 3],
        errors=[([(2, 6), (6, 3), (6, 2)], {}, "binary_weight"), ([(2, 5), (6, 3), (6, 3)], {}, "weight")],
    ),
    Case(
        "BinaryConnectAffine",
        lambda rng: _bc_affine_inputs(rng)[:3] + [None],
        _binary_connect_affine_ref,
        args={"quantize_zero_to": 0.0},
        grad_inputs=[0],
        name="zero_to_0_nobias",
    ),
    Case(
        "BinaryConnectConvolution",
        _bc_conv_inputs,
        _binary_connect_conv_ref,
        args={"pad": (1, 0), "stride": (2, 1), "group": 2, "quantize_zero_to": -1.0},
        grad_inputs=[0, 3],
        errors=[([(1, 2, 4, 4), (4, 1, 2, 2), (4, 2, 2, 2)], {}, "binary_weight")],
    ),
    Case(
        "BinaryWeightAffine",
        _bw_affine_inputs,
        _binary_weight_affine_ref,
        args={"base_axis": -2},
        grad_inputs=[0, 4],
        errors=[([(2, 6), (6, 4), (6, 4), (3,)], {}, "alpha")],
    ),
    Case(
        "BinaryWeightConvolution",
        _bw_conv_inputs,
        _binary_weight_conv_ref,
        args={"dilation": (1, 2), "quantize_zero_to": 0.0},
        grad_inputs=[0],
    ),
    Case("INQAffine", _inq_affine_inputs, _inq_affine_ref, args={"num_bits": 3}, grad_inputs=[0, 3]),
    Case(
        "INQAffine",
        _inq_affine_inputs,
        _inq_affine_ref,
        args={"inq_iterations": (0,)},
        backward=False,
        name="all_fixed",
    ),
    Case(
        "INQAffine",
        _inq_affine_inputs,
        _inq_affine_ref,
        args={"inq_iterations": (0, 7), "selection_algorithm": "largest_abs"},
        backward=False,
        errors=[([(2, 5), (5, 3), (5, 2)], {}, "indicator_fixedweights")],
        name="largest_abs",
    ),
    Case("INQConvolution", _inq_conv_inputs, _inq_conv_ref, args={"pad": (1, 1), "num_bits": 4}, grad_inputs=[0]),
    Case(
        "FixedPointQuantize",
        _fixed_point_inputs(0.0625),
        _fixed_point_ref,
        backward=False,
        errors=[([(2, 2)], {"n": 1}, "n")],
    ),
    Case(
        "FixedPointQuantize",
        _fixed_point_inputs(0.1),
        _fixed_point_ref,
        args={"sign": False, "n": 3, "delta": 0.1},
        backward=False,
        name="unsigned",
    ),
    Case(
        "FixedPointQuantize", [(3, 4)], _fixed_point_ref, args={"quantize": False}, backward=False, name="no_quantize"
    ),
    Case("Pow2Quantize", _pow2_inputs, _pow2_ref, args={"n": 4, "m": 1}, backward=False),
    Case(
        "Pow2Quantize",
        _pow2_inputs,
        _pow2_ref,
        args={"sign": False, "with_zero": False, "n": 3, "m": 0},
        backward=False,
        name="unsigned",
    ),
    Case(
        "Pow2Quantize",
        _pow2_inputs,
        _pow2_ref,
        args={"sign": True, "with_zero": False, "n": 5, "m": 2},
        backward=False,
        name="no_zero",
    ),
    Case(
        "MinMaxQuantize",
        _min_max_inputs,
        _min_max_ref,
        backward=False,
        errors=[([(2, 3, 4), (1, 3, 1), (1, 3, 1), (1, 3, 1), (1, 1, 3)], {}, "ql_max")],
    ),
    Case("MinMaxQuantize", _min_max_inputs, _min_max_ref, args={"x_min_max": True}, backward=False, name="x_min_max"),
    Case(
        "MinMaxQuantize",
        _min_max_inputs,
        _min_max_ref,
        args={"x_min_max": True, "ema": True, "decay": 0.9},
        backward=False,
        name="ema",
    ),
    Case("Prune", [(4, 5)], _prune_ref, args={"rate": 0.5}, backward=False, errors=[([(2, 2)], {"rate": 1.5}, "rate")]),
    Case("Prune", [(3, 4)], _prune_ref, args={"rate": 1.0}, backward=False, name="all"),
    Case(
        "QuantizeLinear",
        _quantize_linear_inputs,
        _quantize_linear_ref,
        backward=False,
        errors=[([(2, 3, 4), (3, 1), (1, 3, 1)], {}, "scale")],
    ),
    Case(
        "QuantizeLinear",
        _quantize_linear_inputs,
        _quantize_linear_ref,
        args={"round_mode": "HALF_TO_EVEN", "narrow_range": True, "dtype": np.uint8},
        backward=False,
        name="even_uint8_narrow",
    ),
    Case(
        "DequantizeLinear",
        lambda rng: [
            rng.randn(2, 3, 4).astype(np.float32),
            (rng.rand(1, 3, 1) + 0.1).astype(np.float32),
            rng.randint(-5, 5, (1, 3, 1)),
        ],
        _dequantize_linear_ref,
        grad_inputs=[0],
    ),
]
