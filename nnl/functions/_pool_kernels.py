"""Array kernels of the pooling family (N-d, channel first or last), shared by ``pooling.py``.

Windows follow nnabla's rule: along one spatial axis of size ``w`` (kernel ``k``, stride ``s``, pad ``p``), output
``o`` covers ``[o*s - p, min(o*s - p + k, w + p))`` and only the positions inside ``[0, w)`` take part. The output
length is ``(w + p - (k - p if ignore_border else 1)) / s + 1`` with C's truncating division.

Everything is computed tap by tap: the input is padded once, and each kernel tap is a strided view of the padded
array with the output's shape, so a window reduction is ``prod(kernel)`` vectorised passes over the output (no
Python loop over elements) and a scatter back is ``prod(kernel)`` strided additions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (C semantics)."""
    q = abs(a) // b
    return q if a >= 0 else -q


@dataclass
class PoolGeometry:
    """Where the windows of one pooling configuration lie, for one input shape."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    axes: tuple[int, ...]  # the spatial axes of the input
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad: tuple[int, ...]
    padded_shape: tuple[int, ...]

    @property
    def needs_padding(self) -> bool:
        return self.padded_shape != self.in_shape

    @property
    def no_overlap(self) -> bool:
        return all(s >= k for s, k in zip(self.stride, self.kernel))

    @property
    def n_taps(self) -> int:
        return int(np.prod(self.kernel, dtype=np.int64))

    def starts(self, i: int) -> np.ndarray:
        """Window starts (input coordinates, may be negative) along spatial axis number ``i``."""
        return np.arange(self.out_shape[self.axes[i]], dtype=np.int64) * self.stride[i] - self.pad[i]

    def ends(self, i: int) -> np.ndarray:
        w = self.in_shape[self.axes[i]]
        return np.minimum(self.starts(i) + self.kernel[i], w + self.pad[i])

    def spatial_view_shape(self, i: int) -> tuple[int, ...]:
        """A shape that puts a 1-d array along spatial axis ``i`` of the output (1 elsewhere)."""
        shape = [1] * len(self.out_shape)
        shape[self.axes[i]] = self.out_shape[self.axes[i]]
        return tuple(shape)

    def taps(self) -> Any:
        """``(tap index, slices into the padded array)`` for each kernel tap, in row-major kernel order."""
        ndim = len(self.in_shape)
        for t, offsets in enumerate(itertools.product(*[range(k) for k in self.kernel])):
            index = [slice(None)] * ndim
            for a, j, s in zip(self.axes, offsets, self.stride):
                n = self.out_shape[a]
                index[a] = slice(j, j + (n - 1) * s + 1, s)
            yield t, tuple(index)

    def crop(self) -> tuple[slice, ...]:
        """The slices of the padded array that hold the input."""
        index = [slice(None)] * len(self.in_shape)
        for a, p in zip(self.axes, self.pad):
            index[a] = slice(p, p + self.in_shape[a])
        return tuple(index)


def spatial_axes(ndim: int, n_kernel: int, channel_last: bool) -> tuple[int, ...]:
    first = ndim - n_kernel - (1 if channel_last else 0)
    return tuple(range(first, first + n_kernel))


def geometry(in_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], pad: tuple[int, ...], ignore_border: bool, channel_last: bool) -> PoolGeometry:
    axes = spatial_axes(len(in_shape), len(kernel), channel_last)
    out = list(in_shape)
    padded = list(in_shape)
    for a, k, s, p in zip(axes, kernel, stride, pad):
        w = in_shape[a]
        n = max(_c_div(w + p - (k - p if ignore_border else 1), s) + 1, 0)
        out[a] = n
        padded[a] = max(p + w, (n - 1) * s + k if n > 0 else 0)
    return PoolGeometry(tuple(in_shape), tuple(out), axes, tuple(kernel), tuple(stride), tuple(pad), tuple(padded))


def padded(x: np.ndarray, g: PoolGeometry, value: float) -> np.ndarray:
    """``x`` placed in an array of the padded shape filled with ``value`` (``x`` itself when no pad is needed)."""
    if not g.needs_padding:
        return x
    out = np.full(g.padded_shape, value, dtype=x.dtype)
    out[g.crop()] = x
    return out


def _empty(g: PoolGeometry, dtype: Any) -> np.ndarray:
    return np.empty(g.out_shape, dtype=dtype)


# -- sum / average ------------------------------------------------------------------------------------------
def sum_pool(x: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """Window sums over the positions inside the input."""
    if 0 in g.out_shape:
        return np.zeros(g.out_shape, x.dtype)
    xp = padded(x, g, 0)
    taps = g.taps()
    _, first = next(taps)
    y = np.array(xp[first], dtype=x.dtype)
    for _, index in taps:
        y += xp[index]
    return y


def sum_pool_backward(dy: np.ndarray, g: PoolGeometry, dtype: Any = None) -> np.ndarray:
    """The transpose of ``sum_pool``: each output gradient added to every input position of its window."""
    dtype = dtype or dy.dtype
    dxp = np.zeros(g.padded_shape, dtype)
    if 0 not in g.out_shape:
        if g.no_overlap:  # each input position belongs to at most one window: plain strided writes
            for _, index in g.taps():
                dxp[index] = dy
        else:
            for _, index in g.taps():
                dxp[index] += dy
    return np.ascontiguousarray(dxp[g.crop()]) if g.needs_padding else dxp


def pool_sizes(g: PoolGeometry, including_pad: bool, dtype: Any) -> Any:
    """The divisor of average pooling for each output position (broadcastable to the output; a scalar when
    every window has the same size)."""
    size = np.ones([1] * len(g.out_shape), dtype=np.int64)
    for i, a in enumerate(g.axes):
        start, end = g.starts(i), g.ends(i)
        w = g.in_shape[a]
        n = end - start if including_pad else np.minimum(end, w) - np.maximum(start, 0)
        size = size * n.reshape(g.spatial_view_shape(i))
    if size.size and np.all(size == size.flat[0]):
        return np.dtype(dtype).type(size.flat[0])
    return size.astype(dtype)


def average_pool(x: np.ndarray, g: PoolGeometry, including_pad: bool) -> np.ndarray:
    y = sum_pool(x, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        y /= pool_sizes(g, including_pad, y.dtype)
    return y


def average_pool_backward(dy: np.ndarray, g: PoolGeometry, including_pad: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = dy / pool_sizes(g, including_pad, dy.dtype)
    return sum_pool_backward(scaled, g)


# -- max ------------------------------------------------------------------------------------------------------
def _first_valid(x: np.ndarray, g: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """The value at each window's first position inside the input (nnabla's initial candidate) and its tap
    index (-1 for a window lying wholly in the padding, whose value nnabla reads at the clipped start)."""
    values = x
    tap = np.zeros([1] * len(g.out_shape), dtype=np.int64)
    empty = np.zeros([1] * len(g.out_shape), dtype=bool)
    weight = 1
    for i in reversed(range(len(g.axes))):
        a = g.axes[i]
        w = g.in_shape[a]
        start, end = g.starts(i), g.ends(i)
        clipped = np.clip(start, 0, w - 1)
        values = values.take(clipped, axis=a)
        offset = clipped - start
        view = g.spatial_view_shape(i)
        tap = tap + (offset * weight).reshape(view)
        empty = empty | (np.minimum(end, w) <= np.maximum(start, 0)).reshape(view)
        weight *= g.kernel[i]
    return values, np.where(empty, -1, tap)


def _index_dtype(g: PoolGeometry) -> Any:
    return np.int8 if g.n_taps < 127 else (np.int16 if g.n_taps < 32767 else np.int32)


def max_pool(x: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """Window maxima over the positions inside the input."""
    if 0 in g.out_shape:
        return np.zeros(g.out_shape, x.dtype)
    taps = g.taps()
    if all(p == 0 for p in g.pad):  # every window starts inside the input: tap 0 is its first candidate
        xp = padded(x, g, -np.inf)
        _, first = next(taps)
        y = np.array(xp[first], dtype=x.dtype)
    else:
        xp = padded(x, g, -np.inf)
        y, _ = _first_valid(x, g)
        y = np.array(y, dtype=x.dtype)
    for _, index in taps:
        np.maximum(y, xp[index], out=y)
    return y


def max_pool_argmax(x: np.ndarray, g: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima and, per output, the kernel tap of the first maximum (nnabla's strict ``<`` scan).

    A tap index of -1 marks a window with no position inside the input (only possible when pad >= kernel).
    """
    dtype = _index_dtype(g)
    if 0 in g.out_shape:
        return np.zeros(g.out_shape, x.dtype), np.zeros(g.out_shape, dtype)
    xp = padded(x, g, -np.inf)
    taps = g.taps()
    if all(p == 0 for p in g.pad):
        _, first = next(taps)
        y = np.array(xp[first], dtype=x.dtype)
        idx = np.zeros(g.out_shape, dtype)
    else:
        y, tap = _first_valid(x, g)
        y = np.array(y, dtype=x.dtype)
        idx = np.empty(g.out_shape, dtype)
        idx[...] = tap
    better = np.empty(g.out_shape, bool)
    step = np.empty(g.out_shape, dtype)
    flags = better.view(np.int8)
    for t, index in taps:
        v = xp[index]
        np.greater(v, y, out=better)
        np.maximum(y, v, out=y)  # equal to taking v where better (NaN aside)
        # idx = better ? t : idx, in integer arithmetic (much faster than a masked copy)
        np.subtract(dtype(t), idx, out=step)
        np.multiply(step, flags.astype(dtype, copy=False), out=step)
        idx += step
    return y, idx


def max_pool_route(dy: np.ndarray, idx: np.ndarray, g: PoolGeometry, dtype: Any = None) -> np.ndarray:
    """Scatter ``dy`` to the arg-max position of each window (accumulating where windows overlap)."""
    dtype = dtype or dy.dtype
    dxp = np.zeros(g.padded_shape, dtype)
    if 0 in g.out_shape:
        return dxp[g.crop()] if g.needs_padding else dxp
    mask = np.empty(g.out_shape, bool)
    if g.no_overlap:  # windows do not overlap: write each tap in place
        for t, index in g.taps():
            np.equal(idx, t, out=mask)
            np.multiply(dy, mask, out=dxp[index])
    else:
        part = np.empty(g.out_shape, dtype)
        for t, index in g.taps():
            np.equal(idx, t, out=mask)
            np.multiply(dy, mask, out=part)
            dxp[index] += part
    dx = dxp[g.crop()] if g.needs_padding else dxp
    _route_empty(dx, dy, idx, g, scatter=True)
    return np.ascontiguousarray(dx)


def max_pool_gather(gdx: np.ndarray, idx: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """For each window, the value of ``gdx`` at its arg-max position (the transpose of ``max_pool_route``)."""
    out = np.zeros(g.out_shape, gdx.dtype)
    if 0 in g.out_shape:
        return out
    gp = padded(gdx, g, 0)
    mask = np.empty(g.out_shape, bool)
    for t, index in g.taps():
        np.equal(idx, t, out=mask)
        np.copyto(out, gp[index], where=mask)
    _route_empty(gdx, out, idx, g, scatter=False)
    return out


def _route_empty(dx: np.ndarray, dy: np.ndarray, idx: np.ndarray, g: PoolGeometry, scatter: bool) -> None:
    """Windows wholly in the padding: nnabla uses the clipped window start (scatter to / gather from it)."""
    empty = idx < 0
    if not empty.any():
        return
    coords = list(np.nonzero(empty))
    for i, a in enumerate(g.axes):
        clipped = np.clip(g.starts(i), 0, g.in_shape[a] - 1)
        coords[a] = clipped[coords[a]]
    if scatter:
        np.add.at(dx, tuple(coords), dy[empty])
    else:
        dy[empty] = dx[tuple(coords)]


# -- unpooling ---------------------------------------------------------------------------------------------------
def unpool(x: np.ndarray, axes: tuple[int, ...], kernel: tuple[int, ...]) -> np.ndarray:
    """Repeat each element ``kernel[i]`` times along spatial axis ``axes[i]`` (one broadcast copy)."""
    shape, expanded, final = [], [], []
    for a, n in enumerate(x.shape):
        if a in axes:
            k = kernel[axes.index(a)]
            shape += [n, 1]
            expanded += [n, k]
            final.append(n * k)
        else:
            shape.append(n)
            expanded.append(n)
            final.append(n)
    out = np.empty(expanded, x.dtype)
    out[...] = x.reshape(shape)
    return out.reshape(final)


def unpool_backward(dy: np.ndarray, axes: tuple[int, ...], kernel: tuple[int, ...]) -> np.ndarray:
    """Sum ``dy`` over each block of ``kernel`` positions (the transpose of ``unpool``)."""
    shape, sum_axes = [], []
    for a, n in enumerate(dy.shape):
        if a in axes:
            k = kernel[axes.index(a)]
            shape += [n // k, k]
            sum_axes.append(len(shape) - 1)
        else:
            shape.append(n)
    return np.ascontiguousarray(dy.reshape(shape).sum(axis=tuple(sum_axes), dtype=dy.dtype))
