"""Signal Processing: interpolation / resizing, FFT and short-time Fourier transforms.

Resizing is separable: each resized axis gets a small (out, in) weight matrix (computed once in setup with the
same float32 coordinate arithmetic as nnabla's kernels) applied with BLAS matmuls; the gradient applies the
transposed matrices. STFT / ISTFT are strided frames times windowed DFT matrices, and their exact adjoints
(overlap-add), exactly as nnabla composes them from pad, convolution and deconvolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Float, Floats, Function, Int64, Ints, String
from nnl.functions._array_helpers import (
    fail,
    frames,
    overlap_add,
    pad_backward,
    pad_forward,
    resample,
    resample_adjoint,
    scatter_matrix,
    take_adjoint,
)
from nnl.functions.registry import api

_F32 = np.float32


# ======================================================================================================
# Interpolate
# ======================================================================================================
def _linear_matrix(isize: int, osize: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    if osize <= 1:
        scale = _F32(0)
    elif align_corners:
        scale = _F32(isize - 1) / _F32(osize - 1)
    else:
        scale = _F32(isize) / _F32(osize)
    o = np.arange(osize, dtype=_F32)
    fx = np.maximum(_F32(0), scale * (o + _F32(0.5)) - _F32(0.5)) if half_pixel else scale * o
    x1 = fx.astype(np.int64)
    x2 = np.minimum(x1 + 1, isize - 1)
    lx1 = fx - x1.astype(_F32)
    return scatter_matrix(osize, isize, np.stack([x1, x2], 1), np.stack([_F32(1) - lx1, lx1], 1))


def _nearest_matrix(
    isize: int, osize: int, align_corners: bool, half_pixel: bool, half_pixel_for_nn: bool
) -> np.ndarray:
    o = np.arange(osize, dtype=_F32)
    if half_pixel_for_nn:
        fx = (_F32(isize) / _F32(osize)) * (o + _F32(0.5))
    else:
        if osize <= 1:
            scale = _F32(0)
        elif align_corners:
            scale = _F32(isize - 1) / _F32(osize - 1)
        else:
            scale = _F32(isize) / _F32(osize)
        fx = np.maximum(_F32(0), scale * (o + _F32(0.5)) - _F32(0.5)) if half_pixel else scale * o
    ix = np.minimum(fx.astype(np.int64), isize - 1)
    return scatter_matrix(osize, isize, ix[:, None], np.ones((osize, 1), _F32))


class Interpolate(Function):
    """Resize the last ``len(output_size)`` spatial axes (1 to 3; before the channel axis with ``channel_last``)
    with ``linear`` or ``nearest`` interpolation."""

    output_size: Ints = None
    mode: String = None
    align_corners: Bool = True
    half_pixel: Bool = False
    half_pixel_for_nn: Bool = False
    channel_last: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        size = tuple(int(s) for s in self.output_size)
        if not 1 <= len(size) <= 3:
            raise fail(self, "output_size", "1 to 3 output sizes (1-D, 2-D or 3-D interpolation)", size)
        if self.mode not in ("linear", "nearest"):
            raise fail(self, "mode", "'linear' or 'nearest'", repr(self.mode))
        if self.align_corners and self.half_pixel:
            raise fail(self, "half_pixel", "False when align_corners is True (both together are not supported)", True)
        offset = len(shape) - len(size) - (1 if self.channel_last else 0)
        if offset < 0:
            raise fail(
                self, "output_size", f"at most {len(shape) - int(self.channel_last)} sizes for x.shape={shape}", size
            )
        if any(s < 1 for s in size):
            raise fail(self, "output_size", "positive sizes", size)
        self.output_size = size
        out = list(shape)
        self._matrices = {}
        for d in reversed(range(len(size))):
            axis = offset + d
            out[axis] = size[d]
            if self.mode == "linear":
                w = _linear_matrix(shape[axis], size[d], self.align_corners, self.half_pixel)
            else:
                w = _nearest_matrix(shape[axis], size[d], self.align_corners, self.half_pixel, self.half_pixel_for_nn)
            self._matrices[axis] = w
        if self.mode == "nearest":
            self._take = {axis: np.argmax(w, axis=1) for axis, w in self._matrices.items()}
        return [tuple(out)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        if self.mode == "nearest":
            y = x[0]
            for axis, index in self._take.items():
                y = xp.take(y, index, axis=axis)
            return [y if y is not x[0] else y.copy()]
        return [resample(x[0], self._matrices)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        """The input gradient is the adjoint resampling of ``dy`` (InterpolateDataGrad, itself differentiable)."""
        from nnl.backward_function.interpolate import InterpolateDataGrad

        adjoint = InterpolateDataGrad(**{name: getattr(self, name) for name in self.args_spec})
        adjoint.context = self.context
        adjoint.xshape = tuple(x[0].shape)
        return [adjoint(dy[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if self.mode == "nearest":
            g = dy[0]
            for axis, index in reversed(list(self._take.items())):
                g = take_adjoint(g, index, axis, x[0].shape[axis])
            return [g]
        return [resample_adjoint(dy[0], self._matrices)]


@api(Interpolate)
def interpolate(
    x: Any,
    scale: Any = None,
    output_size: Any = None,
    mode: str = "linear",
    align_corners: bool = False,
    half_pixel: bool = False,
    half_pixel_for_nn: bool = False,
    channel_last: bool = False,
) -> Any:
    if scale is None and output_size is None:
        raise ValueError("interpolate: either scale or output_size must be given.")
    if output_size is None:
        n = len(scale)
        spatial = x.shape[-n - 1 : -1] if channel_last else x.shape[-n:]
        output_size = [int(np.floor(s * d)) for d, s in zip(spatial, scale)]
    return Interpolate(tuple(output_size), mode, align_corners, half_pixel, half_pixel_for_nn, channel_last)(x)


# ======================================================================================================
# ONNXResize
# ======================================================================================================
_COORDINATE_MODES = (
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
)
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


class ONNXResize(Function):
    """ONNX ``Resize`` (opset 11+): ``nearest``, ``linear`` or ``cubic`` on up to 3 trailing resized axes, with
    ONNX's coordinate transformation and nearest rounding modes."""

    roi: Floats = ()
    scales: Floats = ()
    sizes: Ints = ()
    mode: String = "nearest"
    coordinate_transformation_mode: String = "half_pixel"
    cubic_coeff_a: Float = -0.75
    exclude_outside: Int64 = 0
    extrapolation_value: Float = 0.0
    nearest_mode: String = "round_prefer_floor"
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        if self.coordinate_transformation_mode not in _COORDINATE_MODES:
            raise fail(
                self,
                "coordinate_transformation_mode",
                f"one of {_COORDINATE_MODES}",
                repr(self.coordinate_transformation_mode),
            )
        if self.nearest_mode not in _NEAREST_MODES:
            raise fail(self, "nearest_mode", f"one of {_NEAREST_MODES}", repr(self.nearest_mode))
        if self.mode not in ("nearest", "linear", "cubic"):
            raise fail(self, "mode", "'nearest', 'linear' or 'cubic'", repr(self.mode))
        sizes, scales = tuple(int(s) for s in self.sizes), tuple(float(s) for s in self.scales)
        if bool(sizes) == bool(scales):
            raise fail(self, "sizes/scales", "exactly one of sizes and scales", f"sizes={sizes}, scales={scales}")
        if sizes:
            if len(sizes) != ndim:
                raise fail(self, "sizes", f"{ndim} sizes (one per axis of x.shape={shape})", sizes)
            out = sizes
            actual = [_F32(o) / _F32(i) for o, i in zip(sizes, shape)]
        else:
            if len(scales) != ndim:
                raise fail(self, "scales", f"{ndim} scales (one per axis of x.shape={shape})", scales)
            out = tuple(int(np.floor(_F32(i) * _F32(s))) for i, s in zip(shape, scales))
            actual = [_F32(s) for s in scales]
        outer = 0
        while outer < ndim and actual[outer] == 1:
            outer += 1
        if not 1 <= ndim - outer <= 3:
            raise fail(
                self,
                "scales",
                "1 to 3 resized trailing axes (1-D, 2-D or 3-D resizing)",
                tuple(float(a) for a in actual),
            )
        crop = self.coordinate_transformation_mode == "tf_crop_and_resize"
        roi = tuple(float(r) for r in self.roi)
        if crop:
            if len(roi) != 2 * ndim:
                raise fail(self, "roi", f"{2 * ndim} values (starts then ends per axis)", roi)
            if any(roi[i] != 0 or roi[ndim + i] != 1 for i in range(outer)):
                raise fail(self, "roi", "(0, 1) on the axes that are not resized", roi)
        self._matrices, self._valid = {}, {}
        for axis in range(outer, ndim):
            if actual[axis] == 1:
                continue
            w, valid = self._axis_matrix(
                shape[axis], out[axis], actual[axis], roi[axis] if crop else 0.0, roi[ndim + axis] if crop else 1.0
            )
            self._matrices[axis] = w
            if crop:
                self._valid[axis] = valid
        return [tuple(out)]

    def _axis_matrix(
        self, isize: int, osize: int, scale: Any, roi_start: float, roi_end: float
    ) -> tuple[np.ndarray, np.ndarray]:
        o = np.arange(osize, dtype=_F32)
        length_in, length_out = _F32(isize), _F32(osize)
        half = _F32(0.5)
        mode = self.coordinate_transformation_mode
        if mode == "half_pixel":
            fx = (o + half) / scale - half
        elif mode == "pytorch_half_pixel":
            fx = (o + half) / scale - half if length_out > 1 else np.zeros(osize, _F32)
        elif mode == "align_corners":
            fx = o * (length_in - 1) / (length_out - 1) if osize != 1 else np.zeros(osize, _F32)
        elif mode == "asymmetric":
            fx = o / scale
        elif mode == "tf_half_pixel_for_nn":
            fx = (o + half) / scale
        else:
            start, end = _F32(roi_start), _F32(roi_end)
            if length_out > 1:
                fx = start * (length_in - 1) + o * (end - start) * (length_in - 1) / (length_out - 1)
            else:
                fx = np.full(osize, half * (start + end) * (length_in - 1), _F32)
        fx = fx.astype(_F32)
        valid = (fx >= 0) & (fx <= length_in - 1)
        floor = np.floor(fx)
        xi = floor.astype(np.int64)
        if self.mode == "nearest":
            is_half = fx.astype(np.float64) == floor.astype(np.float64) + 0.5
            if self.nearest_mode == "round_prefer_floor":
                index = np.where(is_half, floor, np.rint(fx))
            elif self.nearest_mode == "round_prefer_ceil":
                index = np.where(is_half, np.where(fx >= 0, np.ceil(fx), floor), np.rint(fx))
            elif self.nearest_mode == "floor":
                index = floor
            else:
                index = np.ceil(fx)
            index = np.clip(index.astype(np.int64), 0, isize - 1)
            return scatter_matrix(osize, isize, index[:, None], np.ones((osize, 1), _F32)), valid
        if self.mode == "linear":
            x0 = np.clip(xi, 0, isize - 1)
            x1 = np.clip(xi + 1, 0, isize - 1)
            lx1 = fx - x0.astype(_F32)
            return scatter_matrix(osize, isize, np.stack([x0, x1], 1), np.stack([_F32(1) - lx1, lx1], 1)), valid
        a = _F32(self.cubic_coeff_a)
        lx = fx - floor

        def near(t: Any) -> Any:  # 0 <= t <= 1
            return (a + _F32(2)) * t * t * t - (a + _F32(3)) * t * t + _F32(1)

        def far(t: Any) -> Any:  # 1 <= t <= 2
            return a * t * t * t - _F32(5) * a * t * t + _F32(8) * a * t - _F32(4) * a

        coeffs = np.stack([far(_F32(1) + lx), near(lx), near(_F32(1) - lx), far(_F32(2) - lx)], 1).astype(_F32)
        taps = xi[:, None] + np.arange(-1, 3)[None, :]
        if self.exclude_outside:
            coeffs = np.where((taps < 0) | (taps >= isize), _F32(0), coeffs)
            coeffs = (coeffs / coeffs.sum(axis=1, keepdims=True)).astype(_F32)
        return scatter_matrix(osize, isize, np.clip(taps, 0, isize - 1), coeffs), valid

    def _mask(self, shape: tuple[int, ...]) -> Any:
        mask = None
        for axis, valid in self._valid.items():
            view = valid.reshape((1,) * axis + (-1,) + (1,) * (len(shape) - axis - 1))
            mask = view if mask is None else mask & view
        return mask

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = resample(x[0], self._matrices)
        if self._valid:
            y = xp.where(self._mask(y.shape), y, xp.asarray(self.extrapolation_value, dtype=y.dtype))
        return [y if y is not x[0] else y.copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        if self._valid:
            g = g * self._mask(g.shape)
        return [resample_adjoint(g, self._matrices)]


@api(ONNXResize)
def onnx_resize(
    x: Any,
    roi: Any = (),
    scales: Any = (),
    sizes: Any = (),
    mode: str = "nearest",
    coordinate_transformation_mode: str = "half_pixel",
    cubic_coeff_a: Any = None,
    exclude_outside: Any = None,
    extrapolation_value: Any = None,
    nearest_mode: str = "round_prefer_floor",
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    function = ONNXResize(
        tuple(roi),
        tuple(scales),
        tuple(sizes),
        mode,
        coordinate_transformation_mode,
        -0.75 if cubic_coeff_a is None else cubic_coeff_a,
        0 if exclude_outside is None else exclude_outside,
        0.0 if extrapolation_value is None else extrapolation_value,
        nearest_mode,
    )
    return function(x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# FFT, IFFT
# ======================================================================================================
class _FourierBase(Function):
    signal_ndim: Int64 = None
    normalized: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.signal_ndim not in (1, 2, 3):
            raise fail(self, "signal_ndim", "1, 2 or 3", self.signal_ndim)
        if len(shape) < self.signal_ndim + 1 or shape[-1] != 2:
            raise fail(
                self,
                "x",
                f"complex input (..., {'N, ' * self.signal_ndim}2) with real and imaginary parts last",
                f"x.shape={shape}",
            )
        self._axes = tuple(range(-self.signal_ndim, 0))
        self._n = int(np.prod(shape[-self.signal_ndim - 1 : -1]))
        return [shape]

    def _transform(self, a: Any, inverse: bool, norm: str) -> Any:
        c = a[..., 0] + 1j * a[..., 1]
        out = (np.fft.ifftn if inverse else np.fft.fftn)(c, axes=self._axes, norm=norm)
        return np.stack([out.real, out.imag], axis=-1).astype(a.dtype)


class FFT(_FourierBase):
    """Complex-to-complex DFT over the ``signal_ndim`` axes before the last (real, imaginary) axis;
    ``normalized`` scales by ``1/sqrt(N)``."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._transform(x[0], False, "ortho" if self.normalized else "backward")]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._transform(dy[0], True, "ortho" if self.normalized else "forward")]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if self.normalized:
            return [F.ifft(dy[0], self.signal_ndim, True)]
        return [F.ifft(dy[0], self.signal_ndim, False) * float(self._n)]


@api(FFT)
def fft(x: Any, signal_ndim: int, normalized: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return FFT(signal_ndim, normalized)(x, n_outputs=n_outputs, outputs=outputs)


class IFFT(_FourierBase):
    """Inverse complex-to-complex DFT (scaled by ``1/N``, or ``1/sqrt(N)`` when ``normalized``)."""

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._transform(x[0], True, "ortho" if self.normalized else "backward")]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._transform(dy[0], False, "ortho" if self.normalized else "forward")]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if self.normalized:
            return [F.fft(dy[0], self.signal_ndim, True)]
        return [F.fft(dy[0], self.signal_ndim, False) * (1.0 / self._n)]


@api(IFFT)
def ifft(x: Any, signal_ndim: int, normalized: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return IFFT(signal_ndim, normalized)(x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# STFT, ISTFT
# ======================================================================================================
_WINDOWS = ("hanning", "hamming", "rectangular")


def _window(window_type: str, window_size: int, fft_size: int, dtype: Any) -> np.ndarray:
    w = np.zeros(fft_size, np.float64)
    left = (fft_size - window_size) // 2
    i = np.arange(window_size)
    if window_type == "hanning":
        w[left : left + window_size] = 0.5 - 0.5 * np.cos(2.0 * np.pi * i / window_size)
    elif window_type == "hamming":
        w[left : left + window_size] = 0.54 - 0.46 * np.cos(2.0 * np.pi * i / window_size)
    else:
        w[left : left + window_size] = 1.0
    return w.astype(dtype)


def _dft_weights(fft_size: int, window: np.ndarray, inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) cosine and sine weights times the window: the DFT (STFT) or the one-sided IDFT (ISTFT)."""
    k = np.arange(fft_size // 2 + 1)[:, None]
    angle = 2.0 * np.pi * k * np.arange(fft_size)[None, :] / fft_size
    cos, sin = np.cos(angle), -np.sin(angle)
    if inverse:
        alpha = np.where((k == 0) | (k == fft_size // 2), 1.0, 2.0) / fft_size
        cos, sin = alpha * cos, alpha * sin
    return cos.astype(window.dtype) * window, sin.astype(window.dtype) * window


class _STFTBase(Function):
    window_size: Int64 = None
    stride: Int64 = None
    fft_size: Int64 = None
    window_type: String = "hanning"
    center: Bool = True
    pad_mode: String = "reflect"
    grad_depends_input = False

    def _check(self) -> None:
        if self.window_type not in _WINDOWS:
            raise fail(self, "window_type", f"one of {_WINDOWS}", repr(self.window_type))
        if self.fft_size < self.window_size:
            raise fail(self, "fft_size", f"at least window_size={self.window_size}", self.fft_size)
        if self.pad_mode not in ("constant", "reflect"):
            raise fail(self, "pad_mode", "'constant' or 'reflect'", repr(self.pad_mode))
        if self.stride < 1:
            raise fail(self, "stride", "a positive hop size", self.stride)

    def _weights(self, dtype: Any, inverse: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (np.dtype(dtype).str, inverse)
        cache = self.__dict__.setdefault("_weight_cache", {})
        if key not in cache:
            cache[key] = _dft_weights(
                self.fft_size, _window(self.window_type, self.window_size, self.fft_size, dtype), inverse
            )
        return cache[key]

    def _inv_window(self, length: int, dtype: Any) -> np.ndarray:
        """Overlap-add of the squared window over ``length`` samples (nnabla's ``inv_window``)."""
        w = _window(self.window_type, self.window_size, self.fft_size, dtype)
        n_frames = (length - self.fft_size) // self.stride + 1
        return overlap_add(np.broadcast_to(w * w, (1, n_frames, self.fft_size)), self.stride, length)[0]

    def _apply_inv_window(self, z: Any) -> Any:
        """Divide by ``inv_window`` (only inside the centre region when ``center``; the pad region becomes 0)."""
        length = z.shape[1]
        inv = self._inv_window(length, z.dtype)
        safe = np.where(inv != 0, inv, 1)
        out = np.where(inv != 0, z / safe, 0).astype(z.dtype)
        if self.center:
            h = self.fft_size // 2
            out[:, :h] = 0
            out[:, length - h :] = 0
        return out

    def _analysis(self, z: Any, inverse: bool) -> tuple[Any, Any]:
        wr, wi = self._weights(z.dtype, inverse)
        f = frames(z, self.fft_size, self.stride)
        return np.ascontiguousarray((f @ wr.T).transpose(0, 2, 1)), np.ascontiguousarray((f @ wi.T).transpose(0, 2, 1))

    def _synthesis(self, yr: Any, yi: Any, inverse: bool, length: int) -> Any:
        wr, wi = self._weights(yr.dtype, inverse)
        f = yr.transpose(0, 2, 1) @ wr + yi.transpose(0, 2, 1) @ wi
        return overlap_add(f, self.stride, length)

    def _widths(self) -> list[tuple[int, int]]:
        h = self.fft_size // 2
        return [(0, 0), (h, h)]


class STFT(_STFTBase):
    """Short-time Fourier transform of (B, L) signals: real and imaginary parts of shape (B, fft_size//2 + 1, frames).

    ``center`` pads ``fft_size // 2`` samples on both sides (``pad_mode``). ``as_istft_backward`` computes the
    gradient of ISTFT instead (used by ``nn.grad``).
    """

    output_names = ("y_r", "y_i")
    as_istft_backward: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self._check()
        shape = tuple(inputs[0].shape)
        if len(shape) != 2:
            raise fail(self, "x", "a (batch, samples) signal", f"x.shape={shape}")
        if self.as_istft_backward and self.pad_mode != "constant":
            raise fail(self, "pad_mode", "'constant' when as_istft_backward is True", repr(self.pad_mode))
        length = shape[1] + (2 * (self.fft_size // 2) if self.center else 0)
        if length < self.fft_size:
            raise fail(
                self, "x", f"at least fft_size={self.fft_size} samples (after centre padding)", f"x.shape={shape}"
            )
        self._length = length
        n_frames = (length - self.fft_size) // self.stride + 1
        out = (shape[0], self.fft_size // 2 + 1, n_frames)
        return [out, out]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        z = pad_forward(x[0], self._widths(), self.pad_mode) if self.center else x[0]
        if self.as_istft_backward:
            z = self._apply_inv_window(z)
        return list(self._analysis(z, self.as_istft_backward))

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._synthesis(dy[0], dy[1], self.as_istft_backward, self._length)
        if self.as_istft_backward:
            g = self._apply_inv_window(g)
        return [pad_backward(g, x[0].shape, self._widths(), self.pad_mode) if self.center else g]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        n_frames = dy[0].shape[2]
        covered = (n_frames - 1) * self.stride + self.fft_size
        if covered != self._length or (self.as_istft_backward and self.fft_size % self.stride):
            # ISTFT cannot express this adjoint (trailing samples no frame reads): first-order node instead
            from nnl.core.grad import BackwardOf

            return [BackwardOf(self, need)(*x, *y, *dy)]
        args = (self.window_size, self.stride, self.fft_size, self.window_type, self.center)
        if self.as_istft_backward:
            return [F.istft(dy[0], dy[1], *args, "constant", False)]
        return [F.istft(dy[0], dy[1], *args, self.pad_mode, True)]


@api(STFT)
def stft(
    x: Any,
    window_size: int,
    stride: int,
    fft_size: int,
    window_type: str = "hanning",
    center: bool = True,
    pad_mode: str = "reflect",
    as_istft_backward: bool = False,
) -> Any:
    window_type = "rectangular" if window_type is None else window_type
    return STFT(window_size, stride, fft_size, window_type, center, pad_mode, as_istft_backward)(x)


class ISTFT(_STFTBase):
    """Inverse STFT by windowed overlap-add (divided by the overlap-added squared window); output (B, samples).

    ``pad_mode`` must be ``'constant'`` in normal use (as in nnabla); ``as_stft_backward`` computes the gradient
    of STFT instead (used by ``nn.grad``).
    """

    input_names = ("y_r", "y_i")
    output_names = ("x",)
    as_stft_backward: Bool = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        self._check()
        rs, is_ = tuple(inputs[0].shape), tuple(inputs[1].shape)
        k = self.fft_size // 2 + 1
        if len(rs) != 3 or rs[1] != k:
            raise fail(self, "y_r", f"a (batch, {k}, frames) array (fft_size // 2 + 1 bins)", f"y_r.shape={rs}")
        if is_ != rs:
            raise fail(self, "y_i", f"y_i.shape == y_r.shape={rs}", f"y_i.shape={is_}")
        if self.fft_size % self.stride and not self.as_stft_backward:
            raise fail(self, "stride", f"a divisor of fft_size={self.fft_size}", self.stride)
        if not self.as_stft_backward and self.pad_mode != "constant":
            raise fail(
                self,
                "pad_mode",
                "'constant' for the normal use of ISTFT (as_stft_backward=False)",
                repr(self.pad_mode),
                "pad_mode makes no difference there; pass pad_mode='constant' (nnabla raises as well).",
            )
        length = (rs[2] - 1) * self.stride + self.fft_size
        self._length = length
        h = self.fft_size // 2
        if not self.as_stft_backward:
            inv = self._inv_window(length, np.float32)
            inner = inv[h : length - h] if self.center else inv
            if inner.size and inner.min() < 1e-11:
                where = int(np.argmin(inner)) + (h if self.center else 0)
                raise fail(
                    self,
                    "window_type/stride",
                    "windows that overlap everywhere",
                    f"inv_window[{where}] == {float(inv[where])}",
                    "NOLA(Nonzero Overlap Add) condition is not met.",
                )
        return [(rs[0], length - 2 * h if self.center else length)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        h = self.fft_size // 2
        if self.as_stft_backward:
            z = self._synthesis(x[0], x[1], False, self._length)
            out_shape = (z.shape[0], self._length - 2 * h)
            return [pad_backward(z, out_shape, self._widths(), self.pad_mode) if self.center else z]
        z = self._apply_inv_window(self._synthesis(x[0], x[1], True, self._length))
        return [z[:, h : self._length - h].copy() if self.center else z]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        h = self.fft_size // 2
        if self.as_stft_backward:
            z = pad_forward(dy[0], self._widths(), self.pad_mode) if self.center else dy[0]
            gr, gi = self._analysis(z, False)
        else:
            z = dy[0]
            if self.center:
                z = np.concatenate([np.zeros((z.shape[0], h), z.dtype), z, np.zeros((z.shape[0], h), z.dtype)], axis=1)
            gr, gi = self._analysis(self._apply_inv_window(z), True)
        return [gr if need[0] else None, gi if need[1] else None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        args = (self.window_size, self.stride, self.fft_size, self.window_type, self.center)
        if self.as_stft_backward:
            gr, gi = F.stft(dy[0], *args, self.pad_mode, False)
        else:
            gr, gi = F.stft(dy[0], *args, "constant", True)
        return [gr if need[0] else None, gi if need[1] else None]


@api(ISTFT)
def istft(
    y_r: Any,
    y_i: Any,
    window_size: int,
    stride: int,
    fft_size: int,
    window_type: str = "hanning",
    center: bool = True,
    pad_mode: str = "reflect",
    as_stft_backward: bool = False,
) -> Any:
    window_type = "rectangular" if window_type is None else window_type
    return ISTFT(window_size, stride, fft_size, window_type, center, pad_mode, as_stft_backward)(y_r, y_i)
