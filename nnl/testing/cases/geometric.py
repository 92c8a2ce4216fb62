"""Cases for nnl/functions/geometric.py (references: per-point Python loops following nnabla's definitions)."""

from __future__ import annotations

import itertools

import numpy as np

from nnl.testing.function_tester import Case


# -- AffineGrid -----------------------------------------------------------------------------------------------------
def _ref_affine_grid(theta, size, align_corners=False, **kw):
    B = theta.shape[0]
    k = len(size)
    out = np.zeros((B,) + tuple(size) + (k,))

    def coord(i, n):
        c = 2.0 * i / (n - 1) - 1.0
        return c if align_corners else c * (n - 1) / n

    for b in range(B):
        for pos in itertools.product(*[range(n) for n in size]):
            # pos is ([d,] h, w); the homogeneous point is (x, y[, z], 1)
            point = [coord(p, n) for p, n in zip(reversed(pos), reversed(size))] + [1.0]
            out[(b,) + pos] = theta[b].astype(np.float64) @ np.array(point)
    return out


# -- WarpByGrid -----------------------------------------------------------------------------------------------------
def _reflect(s, lo, hi):
    length = hi - lo
    while s < lo or s > hi:
        s = 2 * lo - s if s < lo else 2 * hi - s
    return s if length > 0 else lo


def _src(g, n, padding, align):
    s = (g + 1) * (n - 1) / 2 if align else ((g + 1) * n - 1) / 2
    if padding == "repeat":
        return min(max(s, 0.0), n - 1.0)
    if padding == "reflect":
        if align:
            return _reflect(s, 0.0, n - 1.0)
        return min(max(_reflect(2 * s, -1.0, 2.0 * n - 1) / 2, 0.0), n - 1.0)
    return s


def _ref_warp(x, grid, mode="linear", padding_mode="zero", align_corners=False, channel_last=False, **kw):
    x = np.asarray(x, np.float64)
    if channel_last:
        x = np.moveaxis(x, -1, 1)
    B, C = x.shape[:2]
    in_sp = x.shape[2:]
    k = grid.shape[-1]
    out = np.zeros((B, C) + grid.shape[1:-1])

    def pixel(b, c, q):  # q in ([d,] h, w) order
        if all(0 <= qi < n for qi, n in zip(q, in_sp)):
            return x[(b, c) + tuple(q)]
        return 0.0

    for b in range(B):
        for pos in itertools.product(*[range(n) for n in grid.shape[1:-1]]):
            src = [
                _src(float(grid[(b,) + pos + (i,)]), in_sp[k - 1 - i], padding_mode, align_corners) for i in range(k)
            ]
            src = src[::-1]  # ([z,] y, x)
            for c in range(C):
                if mode == "nearest":
                    q = [int(np.floor(s + 0.5)) if s >= 0 else int(np.ceil(s - 0.5)) for s in src]
                    out[(b, c) + pos] = pixel(b, c, q)
                    continue
                lows = [int(np.floor(s)) for s in src]
                val = 0.0
                for bits in itertools.product((0, 1), repeat=k):
                    w = 1.0
                    for s, low, bit in zip(src, lows, bits):
                        w *= (s - low) if bit else (1 - (s - low))
                    val += w * pixel(b, c, [low + bit for low, bit in zip(lows, bits)])
                out[(b, c) + pos] = val
    return np.moveaxis(out, 1, -1) if channel_last else out


def _warp_inputs(x_shape, out_sp, padding, align, channel_last=False):
    """Random x and a grid whose source coordinates stay away from pixel and reflection boundaries."""

    def make(rng):
        x = rng.randn(*x_shape).astype(np.float32)
        in_sp = x_shape[1:-1] if channel_last else x_shape[2:]
        k = len(in_sp)
        B = x_shape[0]
        grid = np.zeros((B,) + tuple(out_sp) + (k,))
        for i in range(k):
            n = in_sp[k - 1 - i]
            lo, hi = (-2, n + 1) if padding != "zero" else (-1, n)
            base = rng.randint(lo, hi, size=(B,) + tuple(out_sp))
            frac = rng.uniform(0.1, 0.4, size=base.shape) + 0.5 * rng.randint(0, 2, size=base.shape)
            s = base + frac
            grid[..., i] = 2 * s / (n - 1) - 1 if align else (2 * s + 1) / n - 1
        return [x, grid.astype(np.float32)]

    return make


# -- WarpByFlow -----------------------------------------------------------------------------------------------------
def _ref_warp_flow(data, flow, **kw):
    N, C, H, W = data.shape
    out = np.zeros(data.shape)
    for n in range(N):
        for c in range(C):
            for y in range(H):
                for x in range(W):
                    xf = x + float(flow[n, 0, y, x])
                    yf = y + float(flow[n, 1, y, x])
                    xl = min(max(int(np.floor(xf)), 0), W - 1)
                    xr = min(max(int(np.floor(xf)) + 1, 0), W - 1)
                    yt = min(max(int(np.floor(yf)), 0), H - 1)
                    yb = min(max(int(np.floor(yf)) + 1, 0), H - 1)
                    a, b = xf - xl, yf - yt
                    d = data[n, c].astype(np.float64)
                    up = a * (d[yt, xr] - d[yt, xl]) + d[yt, xl]
                    low = a * (d[yb, xr] - d[yb, xl]) + d[yb, xl]
                    out[n, c, y, x] = b * (low - up) + up
    return out


def _flow_inputs(shape):
    def make(rng):
        data = rng.randn(*shape).astype(np.float32)
        N, _, H, W = shape
        mag = rng.uniform(0.15, 0.85, size=(N, 2, H, W)) + rng.randint(0, 2, size=(N, 2, H, W))
        flow = np.where(rng.rand(N, 2, H, W) < 0.5, -mag, mag)
        return [data, flow.astype(np.float32)]

    return make


CASES = [
    Case(
        "AffineGrid",
        [(2, 2, 3)],
        _ref_affine_grid,
        args=dict(size=(3, 4)),
        errors=[([(2, 3, 3)], dict(size=(3, 4)), "theta")],
    ),
    Case("AffineGrid", [(1, 2, 3)], _ref_affine_grid, args=dict(size=(2, 3), align_corners=True), name="align"),
    Case("AffineGrid", [(1, 3, 4)], _ref_affine_grid, args=dict(size=(2, 2, 3)), name="3d"),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "zero", False),
        _ref_warp,
        atol_b=3e-3,
        errors=[([(1, 2, 3, 4), (1, 2, 3, 2)], dict(mode="cubic"), "mode"), ([(1, 2, 3, 4), (2, 2, 3, 2)], {}, "grid")],
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "zero", True),
        _ref_warp,
        args=dict(align_corners=True),
        atol_b=3e-3,
        name="zero-align",
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "repeat", False),
        _ref_warp,
        args=dict(padding_mode="repeat"),
        atol_b=3e-3,
        name="repeat",
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "reflect", False),
        _ref_warp,
        args=dict(padding_mode="reflect"),
        atol_b=3e-3,
        name="reflect",
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "reflect", True),
        _ref_warp,
        args=dict(padding_mode="reflect", align_corners=True),
        atol_b=3e-3,
        name="reflect-align",
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 2, 3, 4), (2, 3), "zero", False),
        _ref_warp,
        args=dict(mode="nearest"),
        grad_inputs=[0],
        name="nearest",
    ),
    Case(
        "WarpByGrid",
        _warp_inputs((1, 3, 4, 2), (2, 3), "repeat", False, channel_last=True),
        _ref_warp,
        args=dict(padding_mode="repeat", channel_last=True),
        atol_b=3e-3,
        name="channel_last",
    ),
    Case("WarpByGrid", _warp_inputs((1, 1, 2, 3, 2), (2, 2, 2), "zero", False), _ref_warp, atol_b=3e-3, name="3d"),
    Case(
        "WarpByFlow",
        _flow_inputs((1, 2, 3, 4)),
        _ref_warp_flow,
        atol_b=3e-3,
        errors=[([(1, 2, 3, 4), (1, 3, 3, 4)], {}, "flow")],
    ),
]
