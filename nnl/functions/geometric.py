"""Geometric Neural Network Layers: affine sampling grids and warping by a grid or by optical flow.

Coordinates follow nnabla: a grid holds normalised coordinates in ``[-1, 1]`` ordered ``(x, y[, z])``;
with ``align_corners`` -1 and 1 are the centres of the corner pixels, otherwise the outer edges of the corner
pixels. Sampling is vectorised: indices are computed for all output points at once, gathered with
``take_along_axis`` and the backward scatters with ``np.bincount``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Function, Ints, String
from nnl.functions.registry import api


# ---------------------------------------------------------------------------------------------------------------
# AffineGrid
# ---------------------------------------------------------------------------------------------------------------
def _base_coords(n: int, align_corners: bool) -> np.ndarray:
    """Normalised coordinates of ``n`` pixel centres."""
    if n == 1:
        return np.zeros(1)
    c = 2.0 * np.arange(n) / (n - 1) - 1.0
    return c if align_corners else c * ((n - 1) / n)


def _target_grid(size: tuple[int, ...], align_corners: bool) -> np.ndarray:
    """Homogeneous target grid ``(prod(size), len(size) + 1)`` with columns (x, y[, z], 1)."""
    axes = [_base_coords(n, align_corners) for n in size]  # (z,) y, x order
    mesh = np.meshgrid(*axes, indexing="ij")
    cols = [m.ravel() for m in reversed(mesh)] + [np.ones(int(np.prod(size)))]
    return np.stack(cols, axis=1)


class AffineGrid(Function):
    """Sampling grid of an affine transform: ``grid[b, h, w] = theta[b] @ (x_w, y_h, 1)``.

    ``theta`` is ``(B, 2, 3)`` for ``size=(H, W)`` (grid ``(B, H, W, 2)``) or ``(B, 3, 4)`` for
    ``size=(D, H, W)`` (grid ``(B, D, H, W, 3)``).
    """

    input_names = ("theta",)
    output_names = ("grid",)
    size: Ints = None
    align_corners: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ts = tuple(inputs[0].shape)
        size = tuple(int(s) for s in (self.size or ()))
        if len(size) not in (2, 3) or any(s < 1 for s in size):
            raise self.fail("size", "(H, W) or (D, H, W) with positive sizes", size)
        self.size = size
        k = len(size)
        if len(ts) != 3 or ts[1:] != (k, k + 1):
            raise self.fail("theta", f"theta of shape (B, {k}, {k + 1}) for a {k}-D grid", f"theta.shape={ts}")
        self._grid_t = None
        return [(ts[0],) + size + (k,)]

    def _grid(self, dtype: Any) -> np.ndarray:
        g = self.__dict__.get("_grid_t")
        if g is None or g.dtype != dtype:
            g = self._grid_t = _target_grid(self.size, self.align_corners).astype(dtype)
        return g

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        theta = x[0]
        g = self._grid(theta.dtype)
        out = np.matmul(g[None], np.swapaxes(theta, 1, 2))  # (B, P, k)
        return [out.reshape((theta.shape[0],) + self.size + (len(self.size),))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        theta = x[0]
        k = len(self.size)
        g = self._grid(dy[0].dtype)
        d = dy[0].reshape(theta.shape[0], -1, k)
        return [np.matmul(np.swapaxes(d, 1, 2), g[None])]


@api(AffineGrid)
def affine_grid(theta: Any, size: Any, align_corners: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return AffineGrid(tuple(size), align_corners)(theta, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# WarpByGrid
# ---------------------------------------------------------------------------------------------------------------
def _reflect(s: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Reflect ``s`` into ``[low, high]`` (repeatedly); also the derivative sign (+1 / -1)."""
    length = high - low
    if length <= 0:
        return np.full_like(s, low), np.zeros_like(s)
    below, above = s < low, s > high
    d = np.where(below, low - s, np.where(above, s - high, 0.0))
    n = np.floor(d / length)
    r = d - n * length
    even = (n % 2) == 0
    out = np.where(below, np.where(even, low + r, high - r), np.where(above, np.where(even, high - r, low + r), s))
    sign = np.where(below | above, np.where(even, -1.0, 1.0), 1.0)
    return out, sign


def _source_coords(g: np.ndarray, size: int, padding: str, align: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised source coordinate after padding, and d(coordinate)/d(grid value)."""
    if align:
        s = (g + 1.0) * (size - 1) / 2.0
        unit = (size - 1) / 2.0
    else:
        s = ((g + 1.0) * size - 1.0) / 2.0
        unit = size / 2.0
    if padding == "zero":
        return s, np.full_like(s, unit)
    if padding == "repeat":
        inside = (s >= 0) & (s <= size - 1)
        return np.clip(s, 0, size - 1), np.where(inside, unit, 0.0)
    # reflect
    if align:
        r, sign = _reflect(s, 0.0, float(size - 1))
        return r, sign * unit
    r, sign = _reflect(2.0 * s, -1.0, 2.0 * size - 1.0)
    r = r * 0.5
    inside = (r >= 0) & (r <= size - 1)
    return np.clip(r, 0, size - 1), np.where(inside, sign * unit, 0.0)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))


class WarpByGrid(Function):
    """Sample ``x`` (``(B, C, H, W)`` or ``(B, C, D, H, W)``) at the normalised points of ``grid``.

    ``grid`` is ``(B, Ho, Wo, 2)`` (or ``(B, Do, Ho, Wo, 3)``) holding ``(x, y[, z])`` in ``[-1, 1]``.
    ``mode``: ``'linear'`` (bi/tri-linear) or ``'nearest'``; ``padding_mode``: ``'zero'`` (outside reads 0),
    ``'repeat'`` (clamp to the border) or ``'reflect'``. ``channel_last`` takes ``x`` as ``(B, H, W, C)`` and
    returns ``(B, Ho, Wo, C)``. The grid's gradient is defined for ``'linear'`` only (like nnabla).
    """

    input_names = ("x", "grid")
    mode: String = "linear"
    padding_mode: String = "zero"
    align_corners: Bool = False
    channel_last: Bool = False
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs, gs = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if self.mode not in ("linear", "nearest"):
            raise self.fail("mode", "'linear' or 'nearest'", repr(self.mode))
        if self.padding_mode not in ("zero", "repeat", "reflect"):
            raise self.fail("padding_mode", "'zero', 'repeat' or 'reflect'", repr(self.padding_mode))
        if len(gs) not in (4, 5) or gs[-1] != len(gs) - 2:
            raise self.fail("grid", "grid of shape (B, Ho, Wo, 2) or (B, Do, Ho, Wo, 3)", f"grid.shape={gs}")
        if len(xs) != len(gs):
            raise self.fail("x", f"x with {len(gs)} dims like grid (grid.shape={gs})", f"x.shape={xs}")
        if xs[0] != gs[0]:
            raise self.fail("grid", f"the batch size of x ({xs[0]})", f"grid.shape={gs}")
        c = xs[-1] if self.channel_last else xs[1]
        spatial = gs[1:-1]
        return [(xs[0],) + spatial + (c,) if self.channel_last else (xs[0], c) + spatial]

    # -- sampling plan: per corner, a flat index into the spatial input, a validity mask and a weight ------------
    def _plan(self, x_shape: tuple[int, ...], grid: np.ndarray) -> dict[str, Any]:
        k = grid.shape[-1]
        in_sp = x_shape[2:]  # ([D,] H, W)
        B = grid.shape[0]
        # grid component i (x, y, z) addresses spatial dim k-1-i
        sizes = [in_sp[k - 1 - i] for i in range(k)]
        strides = [int(np.prod(in_sp[k - i :], dtype=np.int64)) for i in range(k)]
        coords, units = [], []
        for i in range(k):
            s, u = _source_coords(
                grid[..., i].reshape(B, -1).astype(np.float64), sizes[i], self.padding_mode, self.align_corners
            )
            coords.append(s)
            units.append(u)
        corners = []
        fracs: list[np.ndarray] = []
        if self.mode == "nearest":
            idx = 0
            valid = np.ones(coords[0].shape, bool)
            for s, n, st in zip(coords, sizes, strides):
                q = _round_half_away(s).astype(np.int64)
                valid &= (q >= 0) & (q < n)
                idx = idx + np.clip(q, 0, n - 1) * st
            corners.append((idx, valid.astype(np.float64), valid.astype(np.float64), ()))
        else:
            lows = [np.floor(s).astype(np.int64) for s in coords]
            fracs = [s - lo for s, lo in zip(coords, lows)]
            for bits in np.ndindex(*(2,) * k):
                idx = 0
                weight = np.ones(coords[0].shape)
                valid = np.ones(coords[0].shape, bool)
                for i, b in enumerate(bits):
                    q = lows[i] + b
                    valid &= (q >= 0) & (q < sizes[i])
                    idx = idx + np.clip(q, 0, sizes[i] - 1) * strides[i]
                    weight = weight * (fracs[i] if b else 1.0 - fracs[i])
                vf = valid.astype(np.float64)
                corners.append((idx, weight * vf, vf, bits))
        return {"corners": corners, "fracs": fracs, "units": units, "k": k}

    def _to_first(self, a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a, -1, 1) if self.channel_last else a

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, grid = self._to_first(x[0]), x[1]
        B, C = data.shape[:2]
        plan = self._plan(data.shape, grid)
        src = data.reshape(B, C, -1)
        out = None
        for idx, weight, _, _ in plan["corners"]:
            term = np.take_along_axis(src, idx[:, None, :], axis=2) * weight[:, None, :].astype(data.dtype)
            out = term if out is None else out + term
        out = out.reshape((B, C) + grid.shape[1:-1])
        if self.channel_last:
            out = np.ascontiguousarray(np.moveaxis(out, 1, -1))
        return [out]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data, grid = self._to_first(x[0]), x[1]
        B, C = data.shape[:2]
        g = self._to_first(dy[0]).reshape(B, C, -1)
        plan = self._plan(data.shape, grid)
        n_in = int(np.prod(data.shape[2:], dtype=np.int64))
        dx = dgrid = None
        if need[0]:
            base = (np.arange(B * C) * n_in).reshape(B, C, 1)
            lin = np.concatenate([base + idx[:, None, :] for idx, _, _, _ in plan["corners"]], axis=2)
            wts = np.concatenate([g * w[:, None, :] for _, w, _, _ in plan["corners"]], axis=2)
            dx = np.bincount(lin.ravel(), weights=wts.ravel(), minlength=B * C * n_in).astype(dy[0].dtype)
            dx = dx.reshape(data.shape)
            if self.channel_last:
                dx = np.ascontiguousarray(np.moveaxis(dx, 1, -1))
        if need[1]:
            if self.mode != "linear":
                raise ValueError(
                    "WarpByGrid: argument mode: expected 'linear' for the gradient of grid, got 'nearest'."
                )
            k, fracs = plan["k"], plan["fracs"]
            src = data.reshape(B, C, -1)
            comps = [np.zeros(fracs[0].shape) for _ in range(k)]
            for idx, _, valid, bits in plan["corners"]:
                # sum_c dy * value at this corner (0 outside the image)
                gv = np.einsum("bcp,bcp->bp", g, np.take_along_axis(src, idx[:, None, :], axis=2)) * valid
                for i in range(k):
                    other = np.ones(fracs[0].shape)
                    for j, b in enumerate(bits):
                        if j != i:
                            other = other * (fracs[j] if b else 1.0 - fracs[j])
                    comps[i] += gv * other if bits[i] else -(gv * other)
            dgrid = np.stack([c * u for c, u in zip(comps, plan["units"])], axis=-1)
            dgrid = dgrid.reshape(grid.shape).astype(dy[0].dtype)
        return [dx, dgrid]


@api(WarpByGrid)
def warp_by_grid(
    x: Any,
    grid: Any,
    mode: str = "linear",
    padding_mode: str = "zero",
    align_corners: bool = False,
    channel_last: bool = False,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return WarpByGrid(mode, padding_mode, align_corners, channel_last)(x, grid, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# WarpByFlow
# ---------------------------------------------------------------------------------------------------------------
class WarpByFlow(Function):
    """Warp ``data`` ``(N, C, H, W)`` by a dense ``flow`` ``(N, 2, H, W)`` (x then y displacement, in pixels).

    ``y[n, c, i, j] = bilinear(data[n, c], j + flow[n, 0, i, j], i + flow[n, 1, i, j])`` with the four
    neighbour indices clamped to the image (nnabla's formulas, including its border extrapolation).
    """

    input_names = ("data", "flow")
    output_names = ("warped_image",)
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ds, fs = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ds) != 4:
            raise self.fail("data", "4 dims (N, C, H, W)", f"data.shape={ds}")
        if len(fs) != 4 or fs[0] != ds[0] or fs[1] != 2 or fs[2:] != ds[2:]:
            raise self.fail("flow", f"flow.shape == ({ds[0]}, 2, {ds[2]}, {ds[3]})", f"flow.shape={fs}")
        return [ds]

    def _plan(self, flow: np.ndarray) -> tuple[Any, ...]:
        N, _, H, W = flow.shape
        xf = np.arange(W)[None, None, :] + flow[:, 0]
        yf = np.arange(H)[None, :, None] + flow[:, 1]
        fx, fy = np.floor(xf), np.floor(yf)
        xl = np.clip(fx, 0, W - 1).astype(np.int64)
        xr = np.clip(fx + 1, 0, W - 1).astype(np.int64)
        yt = np.clip(fy, 0, H - 1).astype(np.int64)
        yb = np.clip(fy + 1, 0, H - 1).astype(np.int64)
        alpha = xf - xl
        beta = yf - yt
        return xf, yf, xl, xr, yt, yb, alpha, beta

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, flow = x
        N, C, H, W = data.shape
        xf, yf, xl, xr, yt, yb, alpha, beta = self._plan(flow)
        src = data.reshape(N, C, H * W)

        def take(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
            return np.take_along_axis(src, (yy * W + xx).reshape(N, 1, -1), axis=2).reshape(N, C, H, W)

        tl, tr, bl, br = take(yt, xl), take(yt, xr), take(yb, xl), take(yb, xr)
        a, b = alpha[:, None].astype(data.dtype), beta[:, None].astype(data.dtype)
        upper = a * (tr - tl) + tl
        lower = a * (br - bl) + bl
        return [b * (lower - upper) + upper]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data, flow = x
        N, C, H, W = data.shape
        xf, yf, xl, xr, yt, yb, alpha, beta = self._plan(flow)
        g = dy[0]
        ddata = dflow = None
        if need[0]:
            base = (np.arange(N * C) * (H * W)).reshape(N, C, 1)
            wx0, wx1 = 1 - xf + xl, xf - xl
            wy0, wy1 = 1 - yf + yt, yf - yt
            pairs = [(yt, xl, wx0 * wy0), (yb, xl, wx0 * wy1), (yt, xr, wx1 * wy0), (yb, xr, wx1 * wy1)]
            lin = np.concatenate([base + (yy * W + xx).reshape(N, 1, -1) for yy, xx, _ in pairs], axis=2)
            gf = g.reshape(N, C, -1)
            wts = np.concatenate([gf * w.reshape(N, 1, -1) for _, _, w in pairs], axis=2)
            ddata = (
                np.bincount(lin.ravel(), weights=wts.ravel(), minlength=N * C * H * W)
                .astype(g.dtype)
                .reshape(data.shape)
            )
        if need[1]:
            src = data.reshape(N, C, H * W)

            def take(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
                return np.take_along_axis(src, (yy * W + xx).reshape(N, 1, -1), axis=2).reshape(N, C, H, W)

            tl, tr, bl, br = take(yt, xl), take(yt, xr), take(yb, xl), take(yb, xr)
            g1 = (yb - yf)[:, None] * (tr - tl) + (1 - yb + yf)[:, None] * (br - bl)
            g2 = (xr - xf)[:, None] * (bl - tl) + (1 - xr + xf)[:, None] * (br - tr)
            dflow = np.stack([np.sum(g * g1, axis=1), np.sum(g * g2, axis=1)], axis=1).astype(g.dtype)
        return [ddata, dflow]


@api(WarpByFlow)
def warp_by_flow(data: Any, flow: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return WarpByFlow()(data, flow, n_outputs=n_outputs, outputs=outputs)
