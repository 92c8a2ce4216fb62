"""Export converters of the normalization functions.

Batch normalization with running statistics over the channel axis is ONNX ``BatchNormalization``; everything else
is composed from its statistics: ``(x - mean) / sqrt(var + eps) * gamma + beta`` with the biased variance, as nnl
computes it. Functions that update running statistics in training export the forward of one call.
"""

from __future__ import annotations

import numpy as np

from nnl.onnx._export_base import Step, converter


def _standardized(s: Step, x: str, axes: list[int], eps: float) -> tuple[str, str, str]:
    """``(x - mean) / sqrt(var + eps)``, the mean and the biased variance (kept dimensions) over ``axes``."""
    mean = s.reduce("ReduceMean", x, axes)
    centered = s.node("Sub", [x, mean])
    var = s.reduce("ReduceMean", s.node("Mul", [centered, centered]), axes)
    std = s.node("Sqrt", [s.node("Add", [var, s.const(eps)])])
    return s.node("Div", [centered, std]), mean, var


def _affine(s: Step, y: str, gamma: str | None, beta: str | None, out: str | None) -> str:
    if gamma is not None:
        y = s.node("Mul", [y, gamma], out if beta is None else None)
    if beta is not None:
        y = s.node("Add", [y, beta], out)
    if gamma is None and beta is None and out is not None:
        y = s.node("Identity", [y], out)
    return y


@converter("BatchNormalization", "FusedBatchNormalization", "SyncBatchNormalization")
def _batch_normalization(s: Step) -> None:
    fn = s.fn
    idx = fn._idx
    get = lambda name: None if idx.get(name) is None else s.x[idx[name]]  # noqa: E731
    beta, gamma, mean, var, z = get("beta"), get("gamma"), get("mean"), get("variance"), get("z")
    fused = fn.name == "FusedBatchNormalization"
    out = None if fused else s.y[0]
    ndim = len(s.in_shape())
    if not fn.batch_stat and tuple(fn.axes) == (1,) and ndim >= 2:
        channels = s.in_shape()[1]

        def vector(name: str | None, fill: float) -> str:
            return s.const(np.full(channels, fill)) if name is None else s.reshape(name, (channels,))

        y = s.node(
            "BatchNormalization",
            [s.x[0], vector(gamma, 1.0), vector(beta, 0.0), vector(mean, 0.0), vector(var, 1.0)],
            out,
            epsilon=float(fn.eps),
        )
    elif not fn.batch_stat:
        scale = s.node("Div", [s.const(1.0), s.node("Sqrt", [s.node("Add", [var, s.const(float(fn.eps))])])])
        if gamma is not None:
            scale = s.node("Mul", [scale, gamma])
        shift = s.node("Neg", [s.node("Mul", [mean, scale])])
        if beta is not None:
            shift = s.node("Add", [shift, beta])
        y = s.node("Add", [s.node("Mul", [s.x[0], scale]), shift], out)
    else:
        normalized, batch_mean, batch_var = _standardized(s, s.x[0], list(fn._raxes), float(fn.eps))
        y = _affine(s, normalized, gamma, beta, out)
        if len(s.y) == 3:
            s.node("Identity", [batch_mean], s.y[1])
            s.node("Identity", [batch_var], s.y[2])
    if fused:
        if z is not None:
            y = s.node("Add", [y, z])
        s.node("Relu", [y], s.y[0])


@converter(
    "TensorNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization", "WeightStandardization"
)
def _standardize(s: Step) -> None:
    """Statistics over ``_raxes`` of the working view ``_work`` (group normalization splits the channel axis)."""
    fn = s.fn
    s0, s1 = s.pair(s.x[0])
    x = s.x[0]
    if fn.name == "GroupNormalization":
        c, groups = fn.channel_axis, int(fn.num_groups)
        work = tuple(shape[:c] + (groups, shape[c] // groups) + shape[c + 1 :] for shape in (s0, s1))
        x = s.reshape(x, work, out=s.fresh("groups"))  # type: ignore[arg-type]

    def param(i: int | None) -> str | None:
        return None if i is None else s.reshape(s.x[i], tuple(fn._work_param[i]))

    normalized, mean, var = _standardized(s, x, list(fn._raxes), float(fn.eps))
    same = x == s.x[0]
    y = _affine(s, normalized, param(fn._ig), param(fn._ib), s.y[0] if same else None)
    if not same:
        s.reshape(y, s.pair(s.y[0]), out=s.y[0])
    if len(s.y) == 3:
        s.node("Identity", [mean], s.y[1])
        s.node("Identity", [var], s.y[2])


@converter("WeightNormalization")
def _weight_normalization(s: Step) -> None:
    fn = s.fn
    w = s.x[0]
    total = s.reduce("ReduceSum", s.node("Mul", [w, w]), list(fn._raxes))
    inv = s.node("Div", [s.const(1.0), s.node("Sqrt", [s.node("Add", [total, s.const(float(fn.eps))])])])
    s.node("Mul", [w, s.node("Mul", [inv, s.reshape(s.x[1], tuple(fn._gshape))])], s.y[0])


@converter("NormNormalization")
def _norm_normalization(s: Step) -> None:
    fn = s.fn
    p = float(fn.p)
    a = s.node("Abs", [s.x[0]])
    powered = s.node("Mul", [a, a]) if p == 2 else s.node("Pow", [a, s.const(p)])
    total = s.node("Add", [s.reduce("ReduceSum", powered, list(fn.axes)), s.const(float(fn.eps))])
    norm = s.node("Sqrt", [total]) if p == 2 else s.node("Pow", [total, s.const(1.0 / p)])
    s.node("Div", [s.x[0], norm], s.y[0])


@converter("MeanSubtraction")
def _mean_subtraction(s: Step) -> None:
    """``x - rmean``; with ``update_running_mean`` the mean first moves towards the batch mean by ``1 / (t + 1)``."""
    fn = s.fn
    rmean = s.x[1]
    if fn.update_running_mean:
        batch_mean = s.reduce("ReduceMean", s.x[0], list(fn._batch_axes), keepdims=False) if fn._batch_axes else s.x[0]
        count = s.reshape(s.as_float(s.x[2]), (1,))
        step = s.node("Div", [s.const(1.0), s.node("Add", [count, s.const(1.0)])])
        rmean = s.node("Add", [rmean, s.node("Mul", [s.node("Sub", [batch_mean, rmean]), step])])
    s.node("Sub", [s.x[0], rmean], s.y[0])


@converter("SpectralNorm")
def _spectral_norm(s: Step) -> None:
    """``itr`` power iterations from ``u`` on ``W`` (``dim`` first, flattened), then ``w / sigma``."""
    fn = s.fn
    shape = s.in_shape()
    dim = int(fn.dim)
    rows = shape[dim]
    moved = s.transpose(s.x[0], [dim] + [a for a in range(len(shape)) if a != dim])
    matrix = s.reshape(moved, (rows, int(np.prod(shape)) // rows), out=s.fresh("W"))
    eps = s.const(float(fn.eps))

    def normalized(v: str) -> str:
        return s.node(
            "Div",
            [
                v,
                s.node(
                    "Sqrt", [s.node("Add", [s.reduce("ReduceSum", s.node("Mul", [v, v]), [0], keepdims=False), eps])]
                ),
            ],
        )

    u = s.reshape(s.x[1], (rows,), out=s.fresh("u"))
    v = u
    for _ in range(int(fn.itr)):
        v = normalized(s.node("MatMul", [u, matrix]))
        u = normalized(s.node("MatMul", [matrix, v]))
    sigma = s.reduce("ReduceSum", s.node("Mul", [u, s.node("MatMul", [matrix, v])]), [0], keepdims=False)
    s.node("Div", [s.x[0], sigma], s.y[0])
    if len(s.y) > 1:
        s.node("Identity", [s.x[1]], s.y[1])
