"""Array kernels of the convolution family (N-d, channel-first, batch flattened to one axis).

Layout used by every kernel: data ``(B, C, *S)``, weight ``(OC, C // group, *K)``. A convolution maps a "big"
array (spatial ``S``) to a "small" one (spatial ``O = (S + 2 pad - dilation (K - 1) - 1) // stride + 1``); a
deconvolution is its adjoint, so the three kernels below serve both:

- ``conv_forward(big, w)``: the convolution (im2col from strided views + one batched BLAS matmul),
- ``conv_backward_data(small, w, S)``: its adjoint in the data (matmul + col2im, a loop over the kernel taps),
- ``conv_backward_filter(small, big, w_shape)``: the correlation giving the weight gradient.

Depthwise settings (one input channel per group) take a tap loop of element-wise products instead of many tiny
matrix products.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def out_size(size: int, kernel: int, pad: int, stride: int, dilation: int) -> int:
    """Spatial size of a convolution's output along one axis."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def deconv_out_size(size: int, kernel: int, pad: int, stride: int, dilation: int, output_padding: int = 0) -> int:
    """Spatial size of a deconvolution's output along one axis."""
    return stride * (size - 1) + dilation * (kernel - 1) + 1 - 2 * pad + output_padding


def adjoint_output_padding(
    big: tuple, small: tuple, kernel: tuple, pad: tuple, stride: tuple, dilation: tuple
) -> tuple:
    """The ``output_padding`` with which the deconvolution of ``small`` has the spatial shape ``big``."""
    return tuple(
        int(b - deconv_out_size(s, k, p, st, d)) for b, s, k, p, st, d in zip(big, small, kernel, pad, stride, dilation)
    )


def _pad(x: Any, pad: tuple) -> Any:
    if not any(pad):
        return x
    padded = np.zeros(x.shape[:2] + tuple(s + 2 * p for s, p in zip(x.shape[2:], pad)), dtype=x.dtype)
    padded[(slice(None), slice(None)) + tuple(slice(p, p + s) for s, p in zip(x.shape[2:], pad))] = x
    return padded


def windows(x: Any, kernel: tuple, pad: tuple, stride: tuple, dilation: tuple, out: tuple) -> Any:
    """A strided view ``(B, C, *O, *K)`` of the padded input: element ``[..., o, k]`` is ``x[o*stride + k*dilation - pad]``."""
    n = len(kernel)
    xp = _pad(x, pad)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(xp, span, axis=tuple(range(2, 2 + n)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))
    index += tuple(slice(None, None, d) for d in dilation)
    return view[index]


def im2col(x: Any, kernel: tuple, pad: tuple, stride: tuple, dilation: tuple, out: tuple) -> Any:
    """The contiguous patch matrix ``(B, C, *K, *O)`` of ``x`` ``(B, C, *S)``."""
    n = len(kernel)
    view = windows(x, kernel, pad, stride, dilation, out)
    order = (0, 1) + tuple(range(2 + n, 2 + 2 * n)) + tuple(range(2, 2 + n))
    return np.ascontiguousarray(view.transpose(order))


def _tap_slices(tap: tuple, out: tuple, stride: tuple, dilation: tuple) -> tuple:
    return (slice(None), slice(None)) + tuple(
        slice(k * d, k * d + (o - 1) * s + 1, s) for k, o, s, d in zip(tap, out, stride, dilation)
    )


def _crop(xp: Any, size: tuple, pad: tuple) -> Any:
    if not any(pad):
        return xp
    return np.ascontiguousarray(xp[(slice(None), slice(None)) + tuple(slice(p, p + s) for s, p in zip(size, pad))])


def col2im(col: Any, size: tuple, pad: tuple, stride: tuple, dilation: tuple) -> Any:
    """The adjoint of ``im2col``: ``col`` ``(B, C, *K, *O)`` summed back onto ``(B, C, *size)``."""
    n = len(size)
    kernel, out = col.shape[2 : 2 + n], col.shape[2 + n :]
    padded = np.zeros(col.shape[:2] + tuple(s + 2 * p for s, p in zip(size, pad)), dtype=col.dtype)
    for tap in itertools.product(*[range(k) for k in kernel]):
        padded[_tap_slices(tap, out, stride, dilation)] += col[(slice(None), slice(None)) + tap]
    return _crop(padded, size, pad)


def _chunk(batch: int, per_item: int, budget: int = 1 << 17) -> int:
    """How many batch items keep an element-wise working set of about ``budget`` elements (cache-sized)."""
    return int(min(batch, max(1, budget // max(per_item, 1))))


def _taps(kernel: tuple) -> list[tuple]:
    return list(itertools.product(*[range(k) for k in kernel]))


def conv_forward(x: Any, w: Any, group: int, pad: tuple, stride: tuple, dilation: tuple) -> Any:
    """Convolution of ``x`` ``(B, C, *S)`` with ``w`` ``(OC, C // group, *K)``: ``(B, OC, *O)`` (no bias)."""
    kernel = tuple(w.shape[2:])
    n = len(kernel)
    out = tuple(out_size(s, k, p, st, d) for s, k, p, st, d in zip(x.shape[2:], kernel, pad, stride, dilation))
    batch, channels = x.shape[:2]
    oc, cg = w.shape[:2]
    dtype = np.result_type(x.dtype, w.dtype)
    if cg == 1 and group > 1:  # depthwise: a loop over the taps of element-wise products, in cache-sized chunks
        m = oc // group
        xp = _pad(x, pad)
        wg = w.reshape((group, m, -1)).astype(dtype, copy=False)
        y = np.empty((batch, group, m) + out, dtype=dtype)
        chunk = _chunk(batch, group * m * int(np.prod(out)))
        tmp = np.empty((chunk, group, m) + out, dtype=dtype)
        expand = (None, slice(None), slice(None)) + (None,) * n
        weights = [wg[:, :, t][expand] for t in range(wg.shape[2])]
        for b0 in range(0, batch, chunk):
            yb = y[b0 : b0 + chunk]
            tb = tmp[: len(yb)]
            for t, tap in enumerate(_taps(kernel)):
                src = xp[(slice(b0, b0 + chunk),) + _tap_slices(tap, out, stride, dilation)[1:]][:, :, None]
                if t == 0:
                    np.multiply(src, weights[t], out=yb)
                else:
                    np.multiply(src, weights[t], out=tb)
                    yb += tb
        return y.reshape((batch, oc) + out)
    col = im2col(x, kernel, pad, stride, dilation, out)
    col = col.reshape(batch, group, -1, int(np.prod(out)))
    y = np.matmul(w.reshape(group, oc // group, -1).astype(dtype, copy=False), col)
    return y.reshape((batch, oc) + out)


def conv_backward_data(dy: Any, w: Any, group: int, size: tuple, pad: tuple, stride: tuple, dilation: tuple) -> Any:
    """Adjoint of ``conv_forward`` in its data: ``dy`` ``(B, OC, *O)`` to ``(B, C, *size)``."""
    kernel = tuple(w.shape[2:])
    n = len(kernel)
    out = tuple(dy.shape[2:])
    batch = dy.shape[0]
    oc, cg = w.shape[:2]
    channels = cg * group
    dtype = np.result_type(dy.dtype, w.dtype)
    if cg == 1 and group > 1:
        m = oc // group
        wg = w.reshape((group, m, -1)).astype(dtype, copy=False)
        dyg = dy.reshape((batch, group, m) + out)
        padded = np.zeros((batch, channels) + tuple(s + 2 * p for s, p in zip(size, pad)), dtype=dtype)
        chunk = _chunk(batch, channels * int(np.prod(out)))
        tmp = np.empty((chunk, group) + out, dtype=dtype)
        expand = (None, slice(None)) + (None,) * n
        for b0 in range(0, batch, chunk):
            gb = dyg[b0 : b0 + chunk]
            tb = tmp[: len(gb)]
            for t, tap in enumerate(_taps(kernel)):
                if m == 1:
                    np.multiply(gb[:, :, 0], wg[:, 0, t][expand], out=tb)
                else:
                    tb[...] = np.einsum("bgm...,gm->bg...", gb, wg[:, :, t])
                padded[(slice(b0, b0 + chunk),) + _tap_slices(tap, out, stride, dilation)[1:]] += tb
        return _crop(padded, size, pad)
    full_pad = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dilation, pad))
    if all(st == 1 for st in stride) and min(full_pad) >= 0:
        # stride 1: the adjoint is itself a convolution (full padding, flipped kernel, in/out channels swapped),
        # one im2col + matmul without the col2im scatter
        flipped = w.reshape((group, oc // group, cg) + kernel).swapaxes(1, 2)[
            (Ellipsis,) + (slice(None, None, -1),) * n
        ]
        flipped = np.ascontiguousarray(flipped.reshape((channels, oc // group) + kernel), dtype=dtype)
        return conv_forward(dy, flipped, group, full_pad, stride, dilation)
    dcol = np.matmul(
        w.reshape(group, oc // group, -1).transpose(0, 2, 1).astype(dtype, copy=False),
        dy.reshape(batch, group, oc // group, -1),
    )
    dcol = dcol.reshape((batch, channels) + kernel + out)
    return col2im(dcol, size, pad, stride, dilation)


def conv_backward_filter(
    dy: Any, x: Any, w_shape: tuple, group: int, pad: tuple, stride: tuple, dilation: tuple
) -> Any:
    """Gradient of ``conv_forward`` in its weight: the correlation of ``x`` ``(B, C, *S)`` with ``dy`` ``(B, OC, *O)``."""
    kernel = tuple(w_shape[2:])
    out = tuple(dy.shape[2:])
    batch = x.shape[0]
    oc, cg = w_shape[:2]
    dtype = np.result_type(dy.dtype, x.dtype)
    if cg == 1 and group > 1:
        m = oc // group
        view = windows(x, kernel, pad, stride, dilation, out)
        dyg = dy.reshape((batch, group, m, -1))
        dw = np.empty((group, m, int(np.prod(kernel))), dtype=dtype)
        for t, tap in enumerate(_taps(kernel)):
            xt = view[(Ellipsis,) + tap].reshape(batch, group, -1)
            dw[:, :, t] = np.einsum("bgmo,bgo->gm", dyg, xt)
        return dw.reshape(w_shape)
    col = im2col(x, kernel, pad, stride, dilation, out).reshape(batch, group, -1, int(np.prod(out)))
    dyg = dy.reshape(batch, group, oc // group, -1)
    if batch == 1:
        dw = np.matmul(dyg[0], col[0].transpose(0, 2, 1))
    else:
        dw = np.matmul(dyg, col.transpose(0, 1, 3, 2)).sum(axis=0)
    return dw.reshape(w_shape).astype(dtype, copy=False)
