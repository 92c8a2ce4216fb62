"""Python-only helpers of ``F`` built from registry functions: ``dot``, ``clip_by_value``, ``clip_by_norm`` and
``multi_head_attention``.

They are not registry functions (no class, nothing of their own in an NNP file): the graph they build is made of
the registry functions they call, exactly as in nnabla.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.ndarray import NdArray
from nnl.core.variable import Variable
from nnl.functions.registry import extra


def _F() -> Any:
    # the namespace is filled after every function module is imported
    import nnl.functions as F

    return F


def _host(x: Any) -> tuple[Any, bool]:
    """The NumPy view of an NdArray/Variable (and True), or ``x`` itself (and False)."""
    if isinstance(x, NdArray):
        return x.data, True
    if isinstance(x, Variable):
        return x.d, True
    return x, False


@extra
def dot(a: Any, b: Any, out: Any = None) -> Any:
    """NumPy's ``dot`` for Variables and NdArrays (NumPy arrays fall through to ``np.dot``).

    1-D x 1-D is the inner product, 2-D x 2-D the matrix product, a 0-D operand scales the other, N-D x 1-D
    contracts the last axis and N-D x M-D contracts the last axis of ``a`` with the second-to-last of ``b``.
    With ``out`` the result is written there (an NdArray is filled, a Variable is rewired onto the result's
    graph) and nothing is returned.
    """
    F = _F()
    a_host, a_nn = _host(a)
    b_host, b_nn = _host(b)
    if a_nn and b_nn:
        if (isinstance(a, NdArray) or isinstance(b, NdArray)) and a.ndim and b.ndim:
            # an NdArray with a Variable: computed at once on their data, the result is an NdArray
            a = a.data if isinstance(a, Variable) else a
            b = b.data if isinstance(b, Variable) else b
        if a.ndim == 1 and b.ndim == 1:
            result = F.sum(a * b)
        elif a.ndim == 2 and b.ndim == 2:
            result = F.affine(a, b)
        elif a.ndim == 0 or b.ndim == 0:
            scalar, other = (a_host, b) if a.ndim == 0 else (b_host, a)
            result = F.mul_scalar(other, float(scalar))
            # as nnabla: a 0-d NdArray scaling a Variable is computed at once and gives an NdArray
            if isinstance(result, Variable) and isinstance(a if a.ndim == 0 else b, NdArray):
                result.forward()
                result = result.data
        elif b.ndim == 1:
            h = F.affine(a, F.reshape(b, (-1, 1)), base_axis=a.ndim - 1)
            result = F.reshape(h, h.shape[:-1])
        else:
            order = list(range(b.ndim))
            order.insert(0, order.pop(b.ndim - 2))
            result = F.affine(a, F.transpose(b, order), base_axis=a.ndim - 1)
    elif a_nn != b_nn and np.ndim(b_host if a_nn else a_host) == 0:
        # a plain scalar with an NdArray/Variable: NumPy defers to the object's ``scalar * x``
        scalar, other = (b_host, a) if a_nn else (a_host, b)
        result = other * scalar
    else:
        result = np.dot(a_host, b_host)
    if out is None:
        return result
    out_host, _ = _host(out)
    result_host, _ = _host(result)
    if type(out) is not type(result) or out_host.shape != result_host.shape or out_host.dtype != result_host.dtype:
        raise ValueError(
            "dot: the output argument must have the same shape, type and dtype as the result F.dot(a, b) would return "
            f"(expected {type(result).__name__} of shape {tuple(np.shape(result_host))}, received {type(out).__name__} "
            f"of shape {tuple(np.shape(out_host))})."
        )
    if isinstance(out, NdArray):
        out.cast(result.data.dtype)[...] = result.data
    elif isinstance(out, Variable):
        out.rewire_on(result)
    elif isinstance(out, np.ndarray):
        out[...] = result
    return None


@extra
def clip_by_value(x: Any, min: Any, max: Any) -> Any:  # noqa: A002 - nnabla's argument names
    """Clip ``x`` elementwise to ``[min, max]``; the bounds are scalars or Variables/NdArrays (broadcast)."""
    F = _F()
    if np.isscalar(min):
        lower = F.maximum_scalar(x, min)
    elif isinstance(min, (Variable, NdArray)):
        lower = F.maximum2(x, min)
    else:
        raise TypeError(f"clip_by_value: min must be a Variable, an NdArray or a scalar, got {type(min).__name__}.")
    if np.isscalar(max):
        return F.minimum_scalar(lower, max)
    if isinstance(max, (Variable, NdArray)):
        return F.minimum2(lower, max)
    raise TypeError(f"clip_by_value: max must be a Variable, an NdArray or a scalar, got {type(max).__name__}.")


@extra
def clip_by_norm(x: Any, clip_norm: Any, axis: Any = None) -> Any:
    """Rescale ``x`` so that its L2 norm over ``axis`` (all axes by default) is at most ``clip_norm``:
    ``y = clip_norm * x / max(||x||, clip_norm)``."""
    F = _F()
    if axis is None:
        axis = list(range(x.ndim))
    elif not hasattr(axis, "__iter__"):
        axis = [axis]
    norm = F.pow_scalar(F.sum(x**2.0, list(axis), True), 0.5)
    if isinstance(clip_norm, (Variable, NdArray)):
        return x * clip_norm / F.maximum2(norm, clip_norm)
    if clip_norm <= 0:
        raise ValueError(f"clip_by_norm: clip_norm must be positive, got {clip_norm}.")
    return x * clip_norm / F.maximum_scalar(norm, clip_norm)


@extra
def multi_head_attention(
    query: Any,
    key: Any,
    value: Any,
    num_heads: int,
    q_weight: Any,
    k_weight: Any,
    v_weight: Any,
    out_weight: Any,
    q_bias: Any = None,
    k_bias: Any = None,
    v_bias: Any = None,
    out_bias: Any = None,
    attn_bias_k: Any = None,
    attn_bias_v: Any = None,
    dropout: float = 0.0,
    additive_mask: Any = None,
    key_padding_mask: Any = None,
) -> tuple[Any, Any]:
    """Multi-head attention (Vaswani et al.) on sequence-first inputs.

    ``query`` is (L, B, E_q), ``key`` (S, B, E_k), ``value`` (S, B, E_v); the weights are (E_in, E_out) matrices
    applied with ``affine(base_axis=2)``. ``attn_bias_k/v`` append one learnt key/value position, ``additive_mask``
    (L, S) is added to the attention logits and ``key_padding_mask`` (B, S) (non-zero = padded) masks keys out.
    Returns ``(output (L, B, out_dim), attention weights (B * num_heads, L, S))``.
    """
    F = _F()
    tgt_len, batch_size, _ = query.shape
    src_len = key.shape[0]
    q_embed_dim = q_weight.shape[1]
    k_embed_dim = k_weight.shape[1]
    v_embed_dim = v_weight.shape[1]
    if value.shape[0] != src_len:
        raise ValueError(
            f"multi_head_attention: key and value must have the same length, got {key.shape[0]} and {value.shape[0]}."
        )
    if q_embed_dim != k_embed_dim:
        raise ValueError(
            f"multi_head_attention: query and key embedding dimensions must be equal, got {q_embed_dim} and {k_embed_dim}."
        )
    if q_embed_dim % num_heads or v_embed_dim % num_heads:
        raise ValueError(
            f"multi_head_attention: embedding dimensions ({q_embed_dim}, {v_embed_dim}) must be divisible by num_heads={num_heads}."
        )
    head_dim = q_embed_dim // num_heads
    head_vdim = v_embed_dim // num_heads
    if key_padding_mask is not None and tuple(key_padding_mask.shape[:2]) != (batch_size, src_len):
        raise ValueError(
            f"multi_head_attention: key_padding_mask must be ({batch_size}, {src_len}), got {tuple(key_padding_mask.shape)}."
        )

    q = F.affine(query, q_weight, q_bias, base_axis=2)
    k = F.affine(key, k_weight, k_bias, base_axis=2)
    v = F.affine(value, v_weight, v_bias, base_axis=2)
    q = q * (float(head_dim) ** -0.5)

    if attn_bias_k is not None:
        bias_k = F.broadcast(F.reshape(attn_bias_k, (1, 1, k_embed_dim)), (1, batch_size, k_embed_dim))
        bias_v = F.broadcast(F.reshape(attn_bias_v, (1, 1, v_embed_dim)), (1, batch_size, v_embed_dim))
        src_len += 1
        k = F.concatenate(k, bias_k, axis=0)
        v = F.concatenate(v, bias_v, axis=0)
        if additive_mask is not None:
            additive_mask = F.pad(additive_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))

    heads = batch_size * num_heads
    q = F.transpose(F.reshape(q, (tgt_len, heads, head_dim)), (1, 0, 2))
    k = F.transpose(F.reshape(k, (-1, heads, head_dim)), (1, 0, 2))
    v = F.transpose(F.reshape(v, (-1, heads, head_vdim)), (1, 0, 2))
    weights = F.batch_matmul(q, k, transpose_b=True)  # (B*H, L, S)

    if additive_mask is not None:
        weights = weights + F.reshape(additive_mask, (1,) + tuple(additive_mask.shape))
    if key_padding_mask is not None:
        shape4 = (batch_size, num_heads, tgt_len, src_len)
        weights = F.reshape(weights, shape4)
        padded = F.broadcast(F.reshape(key_padding_mask, (batch_size, 1, 1, src_len)), shape4)
        weights = F.where(padded, F.constant(val=float("-inf"), shape=shape4), weights)
        weights = F.reshape(weights, (heads, tgt_len, src_len))
    weights = F.softmax(weights, axis=len(weights.shape) - 1)
    if dropout > 0:
        weights = F.dropout(weights, p=dropout)

    out = F.batch_matmul(weights, v)  # (B*H, L, head_vdim)
    out = F.reshape(F.transpose(out, (1, 0, 2)), (tgt_len, batch_size, v_embed_dim))
    out = F.affine(out, out_weight, out_bias, base_axis=2)
    return out, weights
