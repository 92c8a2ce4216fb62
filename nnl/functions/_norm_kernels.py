"""Shared array kernels of the normalization functions (``nnl/functions/normalization.py``).

Every normalization of the catalogue is "standardise over some axes, then scale and shift":
``xhat = (x - mean) / sqrt(var + eps)`` with the *biased* variance, ``y = xhat * gamma + beta``.
The kernels below take the reduced axes explicitly so that batch, layer, instance, group, tensor and weight
normalization share one forward and one backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnl.functions._helpers import sum_to_shape


def count_of(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= int(shape[a])
    return n


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def reduce_sum(a: np.ndarray, axes: tuple[int, ...], b: np.ndarray | None = None) -> np.ndarray:
    """``sum(a [* b], axes, keepdims=True)`` through einsum (no temporary for the product, fast strided sums)."""
    if not axes:
        return a * b if b is not None else a.copy()
    letters = _LETTERS[: a.ndim]
    out = "".join(c for i, c in enumerate(letters) if i not in axes)
    if b is not None and b.shape == a.shape:
        r = np.einsum(f"{letters},{letters}->{out}", a, b)
    else:
        r = np.einsum(f"{letters}->{out}", a if b is None else a * b)
    return np.asarray(r).reshape(tuple(1 if i in axes else s for i, s in enumerate(a.shape)))


def sum_to(a: np.ndarray, shape: tuple[int, ...], b: np.ndarray | None = None) -> np.ndarray:
    """``sum_to_shape(a [* b], shape)`` for ``shape`` of the same rank with 1s on the summed axes (einsum)."""
    shape = tuple(shape)
    if len(shape) != a.ndim:
        return sum_to_shape(a * b if b is not None else a, shape)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and a.shape[i] != 1)
    return reduce_sum(a, axes, b).reshape(shape)


def moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance over ``axes`` (kept as size-1 dimensions), two-pass for accuracy."""
    mean, var, _ = centered_moments(x, axes)
    return mean, var


def centered_moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, biased variance and the centred array ``x - mean`` (a new array the caller may reuse)."""
    n = count_of(x.shape, axes)
    mean = reduce_sum(x, axes) * (1.0 / n)
    centered = x - mean
    var = reduce_sum(centered, axes, centered) * (1.0 / n)
    return mean, var, centered


def per_group(p: Any, stat_shape: tuple[int, ...]) -> bool:
    """Whether parameter ``p`` is constant within each normalised group (broadcasts to the statistics' shape)."""
    if p is None:
        return True
    try:
        return np.broadcast_shapes(p.shape, stat_shape) == tuple(stat_shape)
    except ValueError:
        return False


def normalize(
    x: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float, gamma: Any, beta: Any, centered: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """``((x - mean) / sqrt(var + eps)) * gamma + beta`` (gamma / beta may be None) and ``1/sqrt(var+eps)``.

    ``centered`` (``x - mean``, owned by the caller) is reused as the output buffer when given.
    """
    inv_std = 1.0 / np.sqrt(var + eps)
    y = centered if centered is not None and centered.dtype == np.result_type(x, mean) else x - mean
    if gamma is not None and _small(np.broadcast_shapes(inv_std.shape, gamma.shape), y.size):
        y = _imul(y, inv_std * gamma)
    else:
        y *= inv_std
        if gamma is not None:
            y = _imul(y, gamma)
    if beta is not None:
        y = _iadd(y, beta)
    return y, inv_std


def _small(shape: tuple[int, ...], size: int) -> bool:
    return int(np.prod(shape, dtype=np.int64)) * 4 <= size


def _imul(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``y * a``, in place when ``a`` broadcasts into ``y`` without changing its dtype."""
    if np.result_type(y, a) == y.dtype and np.broadcast_shapes(y.shape, a.shape) == y.shape:
        y *= a
        return y
    return y * a


def _iadd(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    if np.result_type(y, a) == y.dtype and np.broadcast_shapes(y.shape, a.shape) == y.shape:
        y += a
        return y
    return y + a


def affine_from_stats(
    x: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float, gamma: Any, beta: Any
) -> np.ndarray:
    """Normalization with given statistics as one multiply-add: ``x * scale + shift`` (test-mode batch norm)."""
    scale = 1.0 / np.sqrt(var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale
    if beta is not None:
        shift = shift + beta
    y = x * scale
    y += shift
    return y


def normalize_backward(
    x: np.ndarray,
    dy: np.ndarray,
    axes: tuple[int, ...],
    mean: np.ndarray,
    inv_std: np.ndarray,
    gamma: Any,
    need_x: bool,
    need_gamma: bool,
    need_beta: bool,
    shape_gamma: tuple[int, ...] | None,
    shape_beta: tuple[int, ...] | None,
    dmean: Any = None,
    dvar: Any = None,
    allreduce: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
    count: int | None = None,
) -> tuple[Any, Any, Any]:
    """Gradients of ``normalize`` through the statistics (training mode).

    ``dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)) + dmean / n + dvar * 2 (x - mean) / n`` with
    ``g = dy * gamma``; ``dgamma = sum(dy * xhat)``, ``dbeta = sum(dy)`` reduced to the parameters' shapes.
    ``allreduce`` (sync batch norm) sums the per-statistic sums across processes; ``count`` is then the global
    number of elements per statistic.
    """
    dx = dgamma = dbeta = None
    n = count if count is not None else count_of(x.shape, axes)
    stat_shape = mean.shape
    shapes = [stat_shape] + ([gamma.shape] if gamma is not None else []) + ([shape_beta] if need_beta else [])
    k_shape = np.broadcast_shapes(*shapes) if dy.shape == x.shape else None
    if k_shape is not None and len(k_shape) == x.ndim and _small(k_shape, x.size):
        # the parameters vary over few positions: reduce dy and dy * x once to k_shape (einsum, no temporaries),
        # then dx = dy * a + x * b + c with small coefficient arrays
        k_axes = tuple(i for i, s in enumerate(k_shape) if s == 1 and x.shape[i] != 1)
        q_dy = reduce_sum(dy, k_axes)
        q_dyx = reduce_sum(dy, k_axes, x)
        if need_gamma:
            dgamma = sum_to((q_dyx - mean * q_dy) * inv_std, shape_gamma)
        if need_beta:
            dbeta = sum_to(q_dy, shape_beta)
        if need_x:
            gam = 1.0 if gamma is None else gamma
            s_g = sum_to(q_dy * gam, stat_shape)
            s_gx = (sum_to(q_dyx * gam, stat_shape) - mean * s_g) * inv_std
            if allreduce is not None:
                s_g, s_gx = allreduce([np.ascontiguousarray(s_g), np.ascontiguousarray(s_gx)])
            a = inv_std * gam
            b = -(inv_std * inv_std) * s_gx * (1.0 / n)
            c = -inv_std * s_g * (1.0 / n) - mean * b
            if dvar is not None:
                b = b + dvar * (2.0 / n)
                c = c - mean * (dvar * (2.0 / n))
            if dmean is not None:
                c = c + dmean * (1.0 / n)
            dx = dy * np.asarray(a, dtype=dy.dtype)
            dx += x * b.astype(dy.dtype, copy=False)
            dx += c.astype(dy.dtype, copy=False)
        return dx, dgamma, dbeta
    xhat = x - mean
    xhat *= inv_std
    if need_gamma:
        dgamma = sum_to(dy, shape_gamma, xhat)
    if need_beta:
        dbeta = sum_to(dy, shape_beta)
    if need_x:
        g = dy * gamma if gamma is not None else dy
        s_g = reduce_sum(g, axes)
        s_gx = reduce_sum(g, axes, xhat)
        if allreduce is not None:
            s_g, s_gx = allreduce([s_g, s_gx])
        dx = g - s_g * (1.0 / n)
        dx -= xhat * (s_gx * (1.0 / n))
        dx *= inv_std
        if dmean is not None:
            dx += dmean * (1.0 / n)
        if dvar is not None:
            dx += (x - mean) * (dvar * (2.0 / n))
    return dx, dgamma, dbeta
