"""Helpers shared by ``array.py`` and ``signal.py``: index maps, padding, separable resampling, overlap-add.

Everything here works on plain arrays (``xp`` is NumPy) and is fully vectorised; loops run over axes or a few
kernel taps only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.errors import FunctionArgumentError


class ArgumentError(FunctionArgumentError, RuntimeError):
    """A FunctionArgumentError that is also a RuntimeError (what nnabla raises for a failed NBLA_CHECK)."""


def fail(function: Any, argument: str, expected: str, received: Any, hint: str = "") -> ArgumentError:
    return ArgumentError(function.name, argument, expected, received, hint)


def prod(values: Any) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def finish_data_dependent(function: Any, arrays: list[Any]) -> list[Any]:
    """Outputs whose shape depends on input *data* (BoolGather, NonZero, ...): keep the graph's shapes in step
    with what forward produced (the data may have changed since setup)."""
    for nd, grad, array in zip(getattr(function, "_out_data", []), getattr(function, "_out_grad", []), arrays):
        shape = tuple(np.shape(array))
        if nd._shape != shape:
            nd.reshape(shape, force=True)
            grad.reshape(shape, force=True)
    return arrays


# -- index maps ----------------------------------------------------------------------------------------------
def take_adjoint(dy: Any, index: np.ndarray, axis: int, size: int) -> np.ndarray:
    """The adjoint of ``np.take(x, index, axis)`` (1-D ``index``) for ``x.shape[axis] == size``: scatter-add ``dy``
    back, as sorted segments summed with ``np.add.reduceat`` (much faster than ``np.add.at``)."""
    index = np.asarray(index, dtype=np.int64).ravel()
    if 0 < index.size * size <= 1 << 18 and dy.dtype.kind == "f":  # small: a one-hot matrix and BLAS
        onehot = np.zeros((size, index.size), dy.dtype)
        np.add.at(onehot, (index, np.arange(index.size)), 1)
        return resample(dy, {axis: onehot})
    if index.size == 0:
        shape = list(dy.shape)
        shape[axis] = size
        return np.zeros(shape, dy.dtype)
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    monotone = bool(np.all(order == np.arange(order.size)))
    sums = np.add.reduceat(dy if monotone else np.take(dy, order, axis=axis), starts, axis=axis)
    targets = ordered[starts]
    if targets.size == size:  # every position received something: sums are already in order
        return sums
    shape = list(dy.shape)
    shape[axis] = size
    out = np.zeros(shape, dy.dtype)
    out[(slice(None),) * axis + (targets,)] = sums
    return out


def scatter_add_rows(values: Any, flat_index: np.ndarray, rows: int) -> np.ndarray:
    """``out[flat_index[k]] += values[k]`` for an (n, ...) array of values and (rows, ...) output."""
    return take_adjoint(values, flat_index, 0, rows)


def reflect_index(dst_len: int, before: int, src_len: int) -> np.ndarray:
    """Source index of each destination position of a reflect pad (mirrored on the edge values, bouncing)."""
    idx = np.abs(np.arange(dst_len, dtype=np.int64) - before)
    period = src_len - 1
    if period <= 0:
        return np.zeros(dst_len, np.int64)
    return np.abs(((idx // period) & 1) * period - idx % period)


def repeat_index(dst_len: int, before: int, src_len: int) -> np.ndarray:
    """Source index of each destination position of an edge ('repeat') pad."""
    return np.clip(np.arange(dst_len, dtype=np.int64) - before, 0, src_len - 1)


def pad_widths(pad_width: Any, ndim: int) -> list[tuple[int, int]]:
    """(before, after) per axis; ``pad_width`` pairs apply to the last axes."""
    pairs = [(int(pad_width[i]), int(pad_width[i + 1])) for i in range(0, len(pad_width), 2)]
    return [(0, 0)] * (ndim - len(pairs)) + pairs


def pad_forward(x: Any, widths: list[tuple[int, int]], mode: str, value: float = 0.0) -> Any:
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(value, dtype=x.dtype))
    y = x
    for axis, (b, a) in enumerate(widths):
        if b == 0 and a == 0:
            continue
        n = y.shape[axis]
        index = reflect_index(n + b + a, b, n) if mode == "reflect" else repeat_index(n + b + a, b, n)
        y = np.take(y, index, axis=axis)
    return y if y is not x else x.copy()


def pad_backward(dy: Any, x_shape: tuple[int, ...], widths: list[tuple[int, int]], mode: str) -> Any:
    if mode == "constant":
        return dy[tuple(slice(b, b + n) for (b, _), n in zip(widths, x_shape))]
    g = dy
    for axis in reversed(range(len(widths))):
        b, a = widths[axis]
        if b == 0 and a == 0:
            continue
        n = x_shape[axis]
        index = reflect_index(n + b + a, b, n) if mode == "reflect" else repeat_index(n + b + a, b, n)
        # the interior maps one to one; only the padded borders need a scatter-add
        centre = [slice(None)] * g.ndim
        centre[axis] = slice(b, b + n)
        out = np.array(g[tuple(centre)])
        border = np.concatenate([np.arange(b), np.arange(b + n, b + n + a)]).astype(np.int64)
        if border.size:
            out += take_adjoint(np.take(g, border, axis=axis), index[border], axis, n)
        g = out
    return g


# -- separable linear resampling (Interpolate, ONNXResize) -----------------------------------------------------
def resample(x: Any, matrices: dict[int, np.ndarray]) -> Any:
    """Apply ``y = W x`` along each axis ``a`` of ``matrices`` (``W`` of shape (out, in)) with BLAS matmuls."""
    y = x
    for axis, w in matrices.items():
        w = w.astype(y.dtype, copy=False) if y.dtype.kind == "f" else w
        shape = y.shape
        n = shape[axis]
        outer, inner = prod(shape[:axis]), prod(shape[axis + 1 :])
        if inner == 1:
            z = y.reshape(outer, n) @ w.T
        else:
            z = np.matmul(w, y.reshape(outer, n, inner))
        y = z.reshape(shape[:axis] + (w.shape[0],) + shape[axis + 1 :])
    return y


def resample_adjoint(dy: Any, matrices: dict[int, np.ndarray]) -> Any:
    return resample(dy, {axis: w.T for axis, w in matrices.items()})


def scatter_matrix(out_size: int, in_size: int, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A dense (out, in) matrix with ``W[o, index[o, k]] += weight[o, k]`` (taps that hit the same input add)."""
    w = np.zeros((out_size, in_size), np.float64)
    rows = np.broadcast_to(np.arange(out_size)[:, None], index.shape)
    np.add.at(w, (rows, index), weight)
    return w.astype(np.float32)


# -- overlap-add (STFT / ISTFT) ---------------------------------------------------------------------------------
def frames(x: Any, size: int, stride: int) -> Any:
    """(B, L) -> (B, F, size) windows taken every ``stride`` samples (a strided view)."""
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)[:, ::stride]


def overlap_add(f: Any, stride: int, length: int) -> Any:
    """The adjoint of :func:`frames`: (B, F, size) -> (B, length), summing overlapping windows."""
    b, n_frames, size = f.shape
    chunks = -(-size // stride)
    if chunks * stride != size:
        f = np.concatenate([f, np.zeros((b, n_frames, chunks * stride - size), f.dtype)], axis=2)
    f = f.reshape(b, n_frames, chunks, stride)
    out = np.zeros((b, (n_frames + chunks - 1) * stride), f.dtype)
    for r in range(chunks):
        out[:, r * stride : (r + n_frames) * stride] += f[:, :, r, :].reshape(b, n_frames * stride)
    if out.shape[1] >= length:
        return out[:, :length]
    return np.concatenate([out, np.zeros((b, length - out.shape[1]), f.dtype)], axis=1)
