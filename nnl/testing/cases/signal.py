"""Cases for nnl/functions/signal.py: naive per-output-coordinate loops, explicit DFT sums, operator matrices."""

from __future__ import annotations

import itertools
import math

import numpy as np

from nnl.testing.function_tester import Case


# -- Interpolate -------------------------------------------------------------------------------------------
def _source(o, isize, osize, mode, align_corners, half_pixel, half_pixel_for_nn):
    if mode == "nearest" and half_pixel_for_nn:
        return (o + 0.5) * isize / osize
    if osize <= 1:
        scale = 0.0
    else:
        scale = (isize - 1) / (osize - 1) if align_corners else isize / osize
    return max(0.0, (o + 0.5) * scale - 0.5) if half_pixel else o * scale


def _taps(o, isize, osize, mode, *flags):
    """(index, weight) pairs of one output coordinate along one axis."""
    f = _source(o, isize, osize, mode, *flags)
    if mode == "nearest":
        return [(min(int(math.floor(f)), isize - 1), 1.0)]
    i0 = int(math.floor(f))
    w1 = f - i0
    return [(i0, 1.0 - w1), (min(i0 + 1, isize - 1), w1)]


def _interpolate_ref(
    x,
    output_size=None,
    scale=None,
    mode="linear",
    align_corners=False,
    half_pixel=False,
    half_pixel_for_nn=False,
    channel_last=False,
):
    nd = len(output_size) if output_size is not None else len(scale)
    first = x.ndim - nd - (1 if channel_last else 0)
    axes = list(range(first, first + nd))
    if output_size is None:
        output_size = [int(math.floor(s * x.shape[a])) for a, s in zip(axes, scale)]
    out_shape = list(x.shape)
    for a, s in zip(axes, output_size):
        out_shape[a] = s
    y = np.zeros(out_shape)
    flags = (align_corners, half_pixel, half_pixel_for_nn)
    for idx in np.ndindex(*out_shape):
        per_axis = [_taps(idx[a], x.shape[a], out_shape[a], mode, *flags) for a in axes]
        total = 0.0
        for combo in itertools.product(*per_axis):
            src = list(idx)
            w = 1.0
            for a, (i, wi) in zip(axes, combo):
                src[a] = i
                w *= wi
            total += w * x[tuple(src)]
        y[idx] = total
    return y


# -- ONNXResize --------------------------------------------------------------------------------------------
def _onnx_source(o, isize, osize, scale, mode, roi_start, roi_end):
    if scale == 1.0:
        return float(o)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if osize > 1 else 0.0
    if mode == "align_corners":
        return 0.0 if osize == 1 else o * (isize - 1) / (osize - 1)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    if osize > 1:
        return roi_start * (isize - 1) + o * (roi_end - roi_start) * (isize - 1) / (osize - 1)
    return 0.5 * (roi_start + roi_end) * (isize - 1)


def _cubic(t, a):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def _onnx_taps(f, isize, mode, nearest_mode, a, exclude_outside):
    clamp = lambda i: min(max(i, 0), isize - 1)  # noqa: E731
    if mode == "nearest":
        fl = math.floor(f)
        if nearest_mode == "floor":
            i = fl
        elif nearest_mode == "ceil":
            i = math.ceil(f)
        elif f - fl == 0.5:
            i = fl if nearest_mode == "round_prefer_floor" else fl + 1
        else:
            i = int(round(f))
        return [(clamp(i), 1.0)]
    if mode == "linear":
        i0 = clamp(math.floor(f))
        return [(i0, 1.0 - (f - i0)), (clamp(math.floor(f) + 1), f - i0)]
    base = math.floor(f)
    taps = [(base + k, _cubic(f - (base + k), a)) for k in (-1, 0, 1, 2)]
    if exclude_outside:
        taps = [(i, w if 0 <= i < isize else 0.0) for i, w in taps]
        s = sum(w for _, w in taps)
        taps = [(i, w / s) for i, w in taps]
    return [(clamp(i), w) for i, w in taps]


def _onnx_resize_ref(
    x,
    roi=(),
    scales=(),
    sizes=(),
    mode="nearest",
    coordinate_transformation_mode="half_pixel",
    cubic_coeff_a=-0.75,
    exclude_outside=0,
    extrapolation_value=0.0,
    nearest_mode="round_prefer_floor",
):
    if sizes:
        out_shape = list(sizes)
        scales = [o / i for o, i in zip(sizes, x.shape)]
    else:
        out_shape = [int(math.floor(i * s)) for i, s in zip(x.shape, scales)]
    nd = x.ndim
    y = np.zeros(out_shape)
    for idx in np.ndindex(*out_shape):
        per_axis, outside = [], False
        for a in range(nd):
            f = _onnx_source(
                idx[a],
                x.shape[a],
                out_shape[a],
                scales[a],
                coordinate_transformation_mode,
                roi[a] if roi else 0.0,
                roi[nd + a] if roi else 1.0,
            )
            if (
                coordinate_transformation_mode == "tf_crop_and_resize"
                and scales[a] != 1.0
                and not 0 <= f <= x.shape[a] - 1
            ):
                outside = True
            per_axis.append(
                [(idx[a], 1.0)]
                if scales[a] == 1.0
                else _onnx_taps(f, x.shape[a], mode, nearest_mode, cubic_coeff_a, exclude_outside)
            )
        if outside:
            y[idx] = extrapolation_value
            continue
        y[idx] = sum(
            np.prod([w for _, w in combo]) * x[tuple(i for i, _ in combo)] for combo in itertools.product(*per_axis)
        )
    return y


# -- FFT ---------------------------------------------------------------------------------------------------
def _dft_ref(x, signal_ndim, normalized=False, inverse=False):
    c = x[..., 0].astype(np.float64) + 1j * x[..., 1]
    sig_shape = c.shape[c.ndim - signal_ndim :]
    n_total = int(np.prod(sig_shape))
    sign = 1 if inverse else -1
    out = np.zeros_like(c)
    for k in np.ndindex(*sig_shape):
        acc = 0
        for n in np.ndindex(*sig_shape):
            phase = sum(ki * ni / size for ki, ni, size in zip(k, n, sig_shape))
            acc = acc + c[(Ellipsis,) + n] * np.exp(sign * 2j * np.pi * phase)
        out[(Ellipsis,) + k] = acc
    if normalized:
        out /= np.sqrt(n_total)
    elif inverse:
        out /= n_total
    return np.stack([out.real, out.imag], axis=-1)


# -- STFT / ISTFT ------------------------------------------------------------------------------------------
def _window(window_type, window_size, fft_size):
    if window_type == "hanning":
        w = np.hanning(window_size + 1)[:-1]
    elif window_type == "hamming":
        w = np.hamming(window_size + 1)[:-1]
    else:
        w = np.ones(window_size)
    left = (fft_size - window_size) // 2
    return np.pad(w, (left, fft_size - window_size - left))


def _stft_ref(
    x, window_size, stride, fft_size, window_type="hanning", center=True, pad_mode="reflect", as_istft_backward=False
):
    if as_istft_backward:  # the adjoint of ISTFT (pad_mode 'constant'), from ISTFT's matrix
        shape = (x.shape[0], fft_size // 2 + 1, _n_frames(x.shape[1], stride, fft_size, center))
        n = int(np.prod(shape))
        args = (window_size, stride, fft_size, window_type, center, "constant")
        m = _matrix(lambda v: _istft_ref(v[:n].reshape(shape), v[n:].reshape(shape), *args).ravel(), 2 * n)
        y = m.T @ x.ravel()
        return y[:n].reshape(shape), y[n:].reshape(shape)
    w = _window(window_type, window_size, fft_size)
    h = fft_size // 2
    xp = np.pad(x, ((0, 0), (h, h)), mode="reflect" if pad_mode == "reflect" else "constant") if center else x
    n_frames = (xp.shape[1] - fft_size) // stride + 1
    k = fft_size // 2 + 1
    yr, yi = np.zeros((x.shape[0], k, n_frames)), np.zeros((x.shape[0], k, n_frames))
    for b in range(x.shape[0]):
        for f in range(n_frames):
            seg = xp[b, f * stride : f * stride + fft_size] * w
            for q in range(k):
                angle = 2 * np.pi * q * np.arange(fft_size) / fft_size
                yr[b, q, f] = np.sum(seg * np.cos(angle))
                yi[b, q, f] = -np.sum(seg * np.sin(angle))
    return yr, yi


def _n_frames(length, stride, fft_size, center):
    padded = length + (2 * (fft_size // 2) if center else 0)
    return (padded - fft_size) // stride + 1


def _istft_ref(
    y_r,
    y_i,
    window_size,
    stride,
    fft_size,
    window_type="hanning",
    center=True,
    pad_mode="constant",
    as_stft_backward=False,
):
    if as_stft_backward:  # the adjoint of STFT, from STFT's matrix
        shape = (y_r.shape[0], (y_r.shape[2] - 1) * stride + fft_size - (2 * (fft_size // 2) if center else 0))
        args = (window_size, stride, fft_size, window_type, center, pad_mode)
        m = _matrix(
            lambda v: np.concatenate([o.ravel() for o in _stft_ref(v.reshape(shape), *args)]), int(np.prod(shape))
        )
        return (m.T @ np.concatenate([y_r.ravel(), y_i.ravel()])).reshape(shape)
    w = _window(window_type, window_size, fft_size)
    b, k, n_frames = y_r.shape
    length = (n_frames - 1) * stride + fft_size
    out, norm = np.zeros((b, length)), np.zeros(length)
    t = np.arange(fft_size)
    for f in range(n_frames):
        for bb in range(b):
            seg = np.zeros(fft_size)
            for q in range(k):
                alpha = (1.0 if q in (0, fft_size // 2) else 2.0) / fft_size
                angle = 2 * np.pi * q * t / fft_size
                seg += alpha * (y_r[bb, q, f] * np.cos(angle) - y_i[bb, q, f] * np.sin(angle))
            out[bb, f * stride : f * stride + fft_size] += seg * w
        norm[f * stride : f * stride + fft_size] += w * w
    with np.errstate(invalid="ignore", divide="ignore"):  # edges without window overlap are sliced away
        out = out / norm
    h = fft_size // 2
    return out[:, h : length - h] if center else out


def _matrix(forward, n_in):
    """The matrix of a linear reference operator (flat vector -> flat vector), column by column."""
    return np.stack([forward(np.eye(n_in)[j]) for j in range(n_in)], axis=1)


def _istft_adjoint_inputs(rng):
    return [rng.randn(1, 5, 5).astype(np.float32), rng.randn(1, 5, 5).astype(np.float32)]


CASES = [
    # Interpolate
    Case(
        "Interpolate",
        [(2, 5)],
        _interpolate_ref,
        args={"output_size": (8,), "mode": "linear"},
        name="linear_1d",
        errors=[
            ([(2, 3)], {"output_size": (4,), "mode": "cubic"}, "mode"),
            (
                [(2, 3)],
                {"output_size": (4,), "mode": "linear", "align_corners": True, "half_pixel": True},
                "half_pixel",
            ),
        ],
    ),
    Case(
        "Interpolate",
        [(1, 2, 3, 4)],
        _interpolate_ref,
        args={"output_size": (5, 3), "mode": "linear", "align_corners": True},
        name="linear_2d_align",
    ),
    Case(
        "Interpolate",
        [(1, 1, 3, 4)],
        _interpolate_ref,
        args={"output_size": (7, 6), "mode": "linear", "half_pixel": True},
        name="linear_2d_half_pixel",
    ),
    Case(
        "Interpolate",
        [(1, 2, 2, 3)],
        _interpolate_ref,
        args={"output_size": (3, 4, 2), "mode": "linear"},
        name="linear_3d",
    ),
    Case("Interpolate", [(2, 3, 2)], _interpolate_ref, args={"scale": (2.0, 1.5), "mode": "linear"}, name="scale"),
    Case(
        "Interpolate",
        [(1, 2, 2, 4)],
        _interpolate_ref,
        args={"output_size": (4, 8), "mode": "nearest"},
        name="nearest_2d",
    ),
    Case(
        "Interpolate",
        [(1, 2, 4, 4)],
        _interpolate_ref,
        args={"output_size": (2, 8), "mode": "nearest", "half_pixel_for_nn": True},
        name="nearest_half_pixel_for_nn",
    ),
    Case(
        "Interpolate",
        [(1, 3, 2, 2)],
        _interpolate_ref,
        args={"output_size": (3, 4), "mode": "linear", "align_corners": True, "channel_last": True},
        name="channel_last",
    ),
    # ONNXResize
    Case(
        "ONNXResize",
        [(1, 2, 3, 4)],
        _onnx_resize_ref,
        args={"sizes": (1, 2, 5, 6), "mode": "linear"},
        name="linear_half_pixel",
        errors=[
            ([(2, 3)], {"sizes": (2, 3), "scales": (1.0, 2.0)}, "sizes"),
            ([(2, 3)], {"scales": (1.0, 2.0), "mode": "area"}, "mode"),
        ],
    ),
    Case(
        "ONNXResize",
        [(2, 5)],
        _onnx_resize_ref,
        args={"scales": (1.0, 1.6), "mode": "cubic", "coordinate_transformation_mode": "asymmetric"},
        name="cubic_asymmetric",
    ),
    Case(
        "ONNXResize",
        [(1, 4, 4)],
        _onnx_resize_ref,
        args={
            "sizes": (1, 3, 6),
            "mode": "cubic",
            "cubic_coeff_a": -0.5,
            "exclude_outside": 1,
            "coordinate_transformation_mode": "pytorch_half_pixel",
        },
        name="cubic_exclude_outside",
    ),
    Case(
        "ONNXResize", [(2, 4, 4)], _onnx_resize_ref, args={"scales": (1.0, 0.5, 2.0), "mode": "nearest"}, name="nearest"
    ),
    Case(
        "ONNXResize",
        [(3, 4)],
        _onnx_resize_ref,
        args={
            "sizes": (6, 8),
            "mode": "nearest",
            "nearest_mode": "round_prefer_ceil",
            "coordinate_transformation_mode": "align_corners",
        },
        name="nearest_align_ceil",
    ),
    Case(
        "ONNXResize",
        [(1, 4, 5)],
        _onnx_resize_ref,
        args={
            "sizes": (1, 5, 4),
            "mode": "nearest",
            "nearest_mode": "floor",
            "coordinate_transformation_mode": "tf_half_pixel_for_nn",
        },
        name="nearest_tf_half_pixel_floor",
    ),
    Case(
        "ONNXResize",
        [(1, 4, 4)],
        _onnx_resize_ref,
        args={
            "sizes": (1, 3, 5),
            "mode": "linear",
            "coordinate_transformation_mode": "tf_crop_and_resize",
            "roi": (0.0, -0.2, 0.1, 1.0, 0.8, 1.3),
            "extrapolation_value": 2.5,
        },
        name="tf_crop_and_resize",
    ),
    # FFT / IFFT
    Case(
        "FFT",
        [(3, 5, 2)],
        lambda x, signal_ndim, normalized=False: _dft_ref(x, signal_ndim, normalized),
        args={"signal_ndim": 1},
        errors=[([(3, 4)], {"signal_ndim": 1}, "x.shape"), ([(3, 4, 2)], {"signal_ndim": 4}, "signal_ndim")],
    ),
    Case(
        "FFT",
        [(2, 3, 4, 2)],
        lambda x, signal_ndim, normalized: _dft_ref(x, signal_ndim, normalized),
        args={"signal_ndim": 2, "normalized": True},
        name="2d_normalized",
    ),
    Case("FFT", [(2, 2, 3, 2)], lambda x, signal_ndim: _dft_ref(x, signal_ndim), args={"signal_ndim": 3}, name="3d"),
    Case(
        "IFFT",
        [(2, 6, 2)],
        lambda x, signal_ndim, normalized=False: _dft_ref(x, signal_ndim, normalized, inverse=True),
        args={"signal_ndim": 1},
    ),
    Case(
        "IFFT",
        [(3, 4, 2)],
        lambda x, signal_ndim, normalized: _dft_ref(x, signal_ndim, normalized, inverse=True),
        args={"signal_ndim": 2, "normalized": True},
        name="2d_normalized",
    ),
    # STFT / ISTFT
    Case(
        "STFT",
        [(2, 20)],
        _stft_ref,
        args={"window_size": 8, "stride": 4, "fft_size": 8},
        atol_f=1e-4,
        errors=[
            ([(2, 20)], {"window_size": 8, "stride": 4, "fft_size": 4}, "fft_size"),
            ([(2, 20)], {"window_size": 8, "stride": 4, "fft_size": 8, "window_type": "kaiser"}, "window_type"),
        ],
    ),
    Case(
        "STFT",
        [(1, 23)],
        _stft_ref,
        args={
            "window_size": 6,
            "stride": 3,
            "fft_size": 8,
            "window_type": "hamming",
            "center": True,
            "pad_mode": "constant",
        },
        atol_f=1e-4,
        name="hamming_constant",
    ),
    Case(
        "STFT",
        [(2, 17)],
        _stft_ref,
        args={"window_size": 8, "stride": 3, "fft_size": 8, "window_type": "rectangular", "center": False},
        atol_f=1e-4,
        name="no_center",
    ),
    Case(
        "STFT",
        [(1, 16)],
        _stft_ref,
        args={"window_size": 8, "stride": 4, "fft_size": 8, "pad_mode": "constant", "as_istft_backward": True},
        atol_f=1e-4,
        name="as_istft_backward",
    ),
    Case(
        "ISTFT",
        _istft_adjoint_inputs,
        _istft_ref,
        args={"window_size": 8, "stride": 4, "fft_size": 8, "pad_mode": "constant"},
        atol_f=1e-4,
        errors=[
            (
                _istft_adjoint_inputs(np.random.RandomState(0)),
                {"window_size": 8, "stride": 4, "fft_size": 8},
                "pad_mode",
            ),
            (
                _istft_adjoint_inputs(np.random.RandomState(0)),
                {"window_size": 4, "stride": 4, "fft_size": 8, "pad_mode": "constant", "center": False},
                "NOLA",
            ),
        ],
    ),
    Case(
        "ISTFT",
        lambda rng: [rng.randn(2, 5, 4).astype(np.float32), rng.randn(2, 5, 4).astype(np.float32)],
        _istft_ref,
        args={
            "window_size": 8,
            "stride": 2,
            "fft_size": 8,
            "window_type": "hamming",
            "center": False,
            "pad_mode": "constant",
        },
        atol_f=1e-4,
        name="no_center",
    ),
    Case(
        "ISTFT",
        _istft_adjoint_inputs,
        _istft_ref,
        args={"window_size": 8, "stride": 4, "fft_size": 8, "pad_mode": "reflect", "as_stft_backward": True},
        atol_f=1e-4,
        name="as_stft_backward",
    ),
]
