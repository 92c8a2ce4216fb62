"""Cases for nnl/functions/normalization.py (references: per-slice loops, independent of nnl)."""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


# -- naive references ---------------------------------------------------------------------------------------------
def _standardize_rows(x: np.ndarray, kept: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise x over every axis not in ``kept``, one kept index at a time (python loop over rows)."""
    x = np.asarray(x, np.float64)
    ndim = x.ndim
    kept = tuple(sorted(a % ndim for a in kept))
    rest = tuple(i for i in range(ndim) if i not in kept)
    moved = np.transpose(x, kept + rest)
    rows = moved.reshape(int(np.prod([x.shape[k] for k in kept])), -1)
    out = np.empty_like(rows)
    means = np.empty(rows.shape[0])
    variances = np.empty(rows.shape[0])
    for r in range(rows.shape[0]):
        m = rows[r].sum() / rows[r].size
        v = ((rows[r] - m) ** 2).sum() / rows[r].size
        out[r] = (rows[r] - m) / np.sqrt(v + eps)
        means[r], variances[r] = m, v
    y = np.transpose(out.reshape(moved.shape), np.argsort(kept + rest))
    stat_shape = tuple(s if i in kept else 1 for i, s in enumerate(x.shape))
    return y, means.reshape(stat_shape), variances.reshape(stat_shape)


def _ref_bn(x, beta, gamma, mean, var, axes=(1,), decay_rate=0.9, eps=1e-5, batch_stat=True, output_stat=False, **kw):
    if batch_stat:
        y, m, v = _standardize_rows(x, tuple(axes), eps)
    else:
        m, v = mean.astype(np.float64), var.astype(np.float64)
        y = (x - m) / np.sqrt(v + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return (y, m, v) if output_stat else y


def _bn_inputs(shape, axes=(1,)):
    def make(rng):
        stat = tuple(s if i in axes else 1 for i, s in enumerate(shape))
        x = (rng.randn(*shape) * 2 + 0.5).astype(np.float32)
        return [
            x,
            rng.randn(*stat).astype(np.float32),
            rng.randn(*stat).astype(np.float32),
            rng.randn(*stat).astype(np.float32),
            (1 + rng.rand(*stat)).astype(np.float32),
        ]

    return make


def _no_affine_inputs(rng):
    x, _, _, mean, var = _bn_inputs((3, 4))(rng)
    return [x, mean, var]


def _ref_bn_no_affine(x, mean, var, **kw):
    return _ref_bn(x, None, None, mean, var, **kw)


def _bn_class(cls_name, n_outputs=1, **kwargs):
    def call(F, *v):
        from nnl.functions import normalization

        return getattr(normalization, cls_name)(**kwargs)(*v, n_outputs=n_outputs)

    return call


def _fused_inputs(shape):
    """z chosen so that BN(x) + z stays away from the relu kink."""

    def make(rng):
        x, beta, gamma, mean, var = _bn_inputs(shape)(rng)
        bn = _ref_bn(x, beta, gamma, mean, var)
        r = rng.randn(*shape)
        r = np.where(np.abs(r) < 0.2, 0.6 * np.sign(r + 1e-9), r)
        return [x, beta, gamma, mean, var, (r - bn).astype(np.float32)]

    return make


def _ref_fused(x, beta, gamma, mean, var, z=None, batch_stat=True, **kw):
    y = _ref_bn(x, beta, gamma, mean, var, batch_stat=batch_stat)
    if z is not None:
        y = y + z
    return np.maximum(y, 0)


def _ref_affine(y, beta, gamma):
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def _ref_layer(x, beta=None, gamma=None, batch_axis=(0,), eps=1e-5, output_stat=False, **kw):
    y, m, v = _standardize_rows(x, tuple(batch_axis), eps)
    y = _ref_affine(y, beta, gamma)
    return (y, m, v) if output_stat else y


def _ref_instance(x, beta=None, gamma=None, channel_axis=1, batch_axis=(0,), eps=1e-5, output_stat=False, **kw):
    y, m, v = _standardize_rows(x, tuple(batch_axis) + (channel_axis,), eps)
    y = _ref_affine(y, beta, gamma)
    return (y, m, v) if output_stat else y


def _ref_group(
    x, beta=None, gamma=None, num_groups=1, channel_axis=1, batch_axis=(0,), eps=1e-5, output_stat=False, **kw
):
    # loop over (sample, group) blocks of channels
    x = np.asarray(x, np.float64)
    B, C = x.shape[0], x.shape[1]
    per = C // num_groups
    y = np.empty_like(x)
    m = np.empty((B, num_groups) + (1,) * (x.ndim - 1))
    v = np.empty_like(m)
    for b in range(B):
        for g in range(num_groups):
            block = x[b, g * per : (g + 1) * per]
            mu = block.mean()
            var = ((block - mu) ** 2).mean()
            y[b, g * per : (g + 1) * per] = (block - mu) / np.sqrt(var + eps)
            m[b, g], v[b, g] = mu, var
    y = _ref_affine(y, beta, gamma)
    return (y, m, v) if output_stat else y


def _ref_tensor(x, beta=None, gamma=None, axes=(1,), eps=1e-5, output_stat=False, **kw):
    y, m, v = _standardize_rows(x, tuple(axes), eps)
    y = _ref_affine(y, beta, gamma)
    return (y, m, v) if output_stat else y


def _ref_ws(w, channel_axis=0, eps=1e-5, output_stat=False, **kw):
    y, m, v = _standardize_rows(w, (channel_axis,), eps)
    return (y, m, v) if output_stat else y


def _ref_wn(w, g, dim=0, eps=1e-12, **kw):
    w = np.asarray(w, np.float64)
    out = np.empty_like(w)
    for i in range(w.shape[dim]):
        sl = np.take(w, i, axis=dim)
        idx = [slice(None)] * w.ndim
        idx[dim] = i
        out[tuple(idx)] = g[i] * sl / np.sqrt((sl**2).sum() + eps)
    return out


def _ref_norm_norm(x, p=2.0, axes=None, eps=1e-12, **kw):
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    x = np.asarray(x, np.float64)
    n = (np.abs(x) ** p).sum(axis=axes, keepdims=True) + eps
    return x / n ** (1.0 / p)


def _ref_spectral(w, u, dim=0, itr=1, eps=1e-12, test=False, output_u=False, **kw):
    w = np.asarray(w, np.float64)
    perm = [dim] + [i for i in range(w.ndim) if i != dim]
    W = w.transpose(perm).reshape(w.shape[dim], -1)
    uu = np.asarray(u, np.float64)
    for _ in range(itr):
        v = W.T.dot(uu)
        v = v / np.sqrt((v**2).sum() + eps)
        uu = W.dot(v)
        uu = uu / np.sqrt((uu**2).sum() + eps)
    sigma = uu.dot(W.dot(v))
    out = w / sigma
    return (out, u) if output_u else out


def _ref_mean_sub(x, rmean, t=None, base_axis=1, update_running_mean=True, **kw):
    if update_running_mean:
        m = x.reshape((-1,) + rmean.shape).astype(np.float64).mean(axis=0)
        count = int(t.reshape(-1)[0])
        rmean = rmean + (m - rmean) / (count + 1)
    return x - rmean


def _positive_rows(shape):
    def make(rng):
        x = rng.randn(*shape).astype(np.float32)
        return [np.where(np.abs(x) < 0.1, 0.5, x).astype(np.float32)]

    return make


CASES = [
    # -- batch normalization ----------------------------------------------------------------------------------------
    Case(
        "BatchNormalization",
        _bn_inputs((2, 3, 4)),
        _ref_bn,
        args=dict(axes=(1,)),
        call=_bn_class("BatchNormalization", axes=(1,)),
        grad_inputs=[0, 1, 2],
        atol_b=3e-3,
        name="train",
    ),
    Case(
        "BatchNormalization",
        _bn_inputs((2, 3, 4), axes=(2,)),
        _ref_bn,
        args=dict(axes=(2,)),
        call=_bn_class("BatchNormalization", axes=(2,)),
        grad_inputs=[0, 1, 2],
        atol_b=3e-3,
        name="train-axis2",
    ),
    Case(
        "BatchNormalization",
        _bn_inputs((2, 3, 4), axes=(1, 2)),
        _ref_bn,
        args=dict(axes=(1, 2)),
        call=_bn_class("BatchNormalization", axes=(1, 2)),
        grad_inputs=[0, 1, 2],
        atol_b=3e-3,
        name="train-2axes",
    ),
    Case(
        "BatchNormalization",
        _bn_inputs((4, 3, 2)),
        _ref_bn,
        args=dict(axes=(1,), output_stat=True),
        call=_bn_class("BatchNormalization", n_outputs=3, axes=(1,)),
        grad_inputs=[0, 1, 2],
        atol_b=3e-3,
        name="output_stat",
    ),
    Case(
        "BatchNormalization",
        _no_affine_inputs,
        _ref_bn_no_affine,
        args=dict(axes=(1,)),
        call=_bn_class("BatchNormalization", axes=(1,), no_scale=True, no_bias=True),
        grad_inputs=[0],
        atol_b=3e-3,
        name="no_affine",
    ),
    Case(
        "BatchNormalization",
        _bn_inputs((2, 3, 4)),
        _ref_bn,
        args=dict(axes=[1], batch_stat=False),
        grad_inputs=[0, 1, 2],
        name="test_mode",
        errors=[
            ([(2, 3, 4), (1, 4, 1), (1, 3, 1), (1, 3, 1), (1, 3, 1)], dict(batch_stat=False), "beta"),
            ([(2, 3, 4), (1, 3, 1), (1, 3, 1), (1, 3, 1), (1, 3, 1)], dict(axes=[3], batch_stat=False), "axes"),
        ],
    ),
    Case(
        "FusedBatchNormalization",
        _fused_inputs((2, 3, 4)),
        _ref_fused,
        call=_bn_class("FusedBatchNormalization"),
        grad_inputs=[0, 1, 2, 5],
        atol_b=3e-3,
    ),
    Case(
        "FusedBatchNormalization",
        lambda rng: _fused_inputs((2, 3, 4))(rng)[:5],
        _ref_fused,
        args=dict(batch_stat=False),
        grad_inputs=[0, 1, 2],
        name="test_mode_no_z",
        errors=[([(2, 3, 4), (1, 3, 1), (1, 3, 1), (1, 3, 1), (1, 3, 1)], dict(nonlinearity="tanh"), "nonlinearity")],
    ),
    Case(
        "SyncBatchNormalization",
        _bn_inputs((2, 3, 4)),
        _ref_bn,
        call=_bn_class("SyncBatchNormalization", comm=None),
        grad_inputs=[0, 1, 2],
        atol_b=3e-3,
    ),
    # -- standardisation without running statistics ---------------------------------------------------------------------
    Case(
        "LayerNormalization",
        lambda rng: [
            rng.randn(3, 2, 4).astype(np.float32),
            rng.randn(1, 2, 4).astype(np.float32),
            rng.randn(1, 2, 4).astype(np.float32),
        ],
        _ref_layer,
        call=lambda F, x, b, g: F.layer_normalization(x, b, g),
        atol_b=3e-3,
        errors=[([(3, 2, 4), (1, 2, 1), (1, 2, 4)], {}, "beta")],
    ),
    Case(
        "LayerNormalization",
        [(2, 3, 4)],
        _ref_layer,
        args=dict(batch_axis=(0, 1), output_stat=True),
        call=lambda F, x: F.layer_normalization(x, None, None, batch_axis=(0, 1), output_stat=True),
        atol_b=3e-3,
        name="stat",
    ),
    Case(
        "InstanceNormalization",
        lambda rng: [
            rng.randn(2, 3, 5).astype(np.float32),
            rng.randn(1, 3, 1).astype(np.float32),
            rng.randn(1, 3, 1).astype(np.float32),
        ],
        _ref_instance,
        call=lambda F, x, b, g: F.instance_normalization(x, b, g),
        atol_b=3e-3,
        errors=[([(2, 3, 5), (1, 2, 1), (1, 3, 1)], {}, "beta")],
    ),
    Case(
        "InstanceNormalization",
        [(2, 5, 3)],
        _ref_instance,
        args=dict(channel_axis=2, output_stat=True),
        call=lambda F, x: F.instance_normalization(x, None, None, channel_axis=2, output_stat=True),
        atol_b=3e-3,
        name="channel_last",
    ),
    Case(
        "GroupNormalization",
        lambda rng: [
            rng.randn(2, 4, 3).astype(np.float32),
            rng.randn(1, 4, 1).astype(np.float32),
            rng.randn(1, 4, 1).astype(np.float32),
        ],
        _ref_group,
        args=dict(num_groups=2),
        call=lambda F, x, b, g: F.group_normalization(x, b, g, 2),
        atol_b=3e-3,
        errors=[([(2, 5, 3), (1, 5, 1), (1, 5, 1)], {}, "num_groups")],
    ),
    Case(
        "GroupNormalization",
        [(2, 6, 2)],
        _ref_group,
        args=dict(num_groups=3, output_stat=True),
        call=lambda F, x: F.group_normalization(x, None, None, 3, output_stat=True),
        atol_b=3e-3,
        name="stat",
    ),
    Case(
        "TensorNormalization",
        lambda rng: [
            rng.randn(2, 3, 4).astype(np.float32),
            rng.randn(2, 1, 4).astype(np.float32),
            rng.randn(2, 1, 4).astype(np.float32),
        ],
        _ref_tensor,
        args=dict(axes=(0, 2)),
        call=lambda F, x, b, g: F.tensor_normalization(x, (0, 2), b, g),
        atol_b=3e-3,
    ),
    Case("WeightStandardization", [(3, 2, 4)], _ref_ws, atol_b=3e-3),
    Case(
        "WeightStandardization",
        [(4, 5)],
        _ref_ws,
        args=dict(channel_axis=1, output_stat=True),
        atol_b=3e-3,
        name="stat",
    ),
    # -- weight / norm normalization, spectral norm --------------------------------------------------------------------
    Case(
        "WeightNormalization",
        lambda rng: [rng.randn(3, 2, 4).astype(np.float32), rng.randn(2).astype(np.float32)],
        _ref_wn,
        args=dict(dim=1),
        errors=[([(3, 2, 4), (3,)], dict(dim=1), "g")],
    ),
    Case("NormNormalization", _positive_rows((2, 3, 4)), _ref_norm_norm, args=dict(p=2.0, axes=(0, 2))),
    Case(
        "NormNormalization",
        _positive_rows((3, 5)),
        _ref_norm_norm,
        args=dict(p=1.5),
        name="p1.5",
        errors=[([(3, 5)], dict(p=0.5), "p")],
    ),
    Case(
        "SpectralNorm",
        lambda rng: [rng.randn(4, 3, 2).astype(np.float32), rng.randn(4).astype(np.float32)],
        _ref_spectral,
        args=dict(itr=2),
        backward=False,
        errors=[([(4, 3, 2), (3,)], {}, "u")],
    ),
    Case(
        "SpectralNorm",
        lambda rng: [rng.randn(4, 3, 2).astype(np.float32), rng.randn(2).astype(np.float32)],
        _ref_spectral,
        args=dict(dim=2, test=True, output_u=True),
        backward=False,
        name="last_dim",
    ),
    # -- mean subtraction, gradient clipping -------------------------------------------------------------------------
    Case(
        "MeanSubtraction",
        lambda rng: [rng.randn(4, 3).astype(np.float32), rng.randn(3).astype(np.float32), np.array([2], np.int32)],
        _ref_mean_sub,
        backward=False,
        errors=[([(4, 3), (4,), np.array([1], np.int32)], {}, "rmean")],
    ),
    Case(
        "MeanSubtraction",
        lambda rng: [
            rng.randn(4, 3, 2).astype(np.float32),
            rng.randn(3, 2).astype(np.float32),
            np.array([0], np.int32),
        ],
        _ref_mean_sub,
        args=dict(update_running_mean=False),
        grad_inputs=[0],
        name="test_mode",
    ),
    Case("ClipGradByValue", [(2, 3), (2, 3), (2, 3)], lambda x, a, b: x, backward=False),
    Case(
        "ClipGradByNorm",
        [(2, 3)],
        lambda x, **k: x,
        args=dict(clip_norm=0.5),
        backward=False,
        errors=[([(2, 3)], dict(axes=(2,)), "axes")],
    ),
]
