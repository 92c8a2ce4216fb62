"""Parametric functions (PF): parameters (names, shapes, need_grad) as nnabla 1.39 creates them, weight sharing,
``fix_parameters``, ``name=`` nesting, output shapes and values; and the Python-only F helpers of
``nnl/functions/composite.py`` (dot, clip_by_value, clip_by_norm, multi_head_attention)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.initializer as I
import nnl.parametric_functions as PF


@pytest.fixture(autouse=True)
def _clean_parameters():
    nn.clear_parameters()
    yield
    nn.clear_parameters()


def _var(*shape: int, seed: int = 0, scale: float = 1.0, need_grad: bool = False) -> nn.Variable:
    data = (np.random.RandomState(seed).randn(*shape) * scale).astype(np.float32)
    return nn.Variable.from_numpy_array(data, need_grad=need_grad)


def _params() -> dict[str, tuple[tuple[int, ...], bool]]:
    return {k: (tuple(v.shape), v.need_grad) for k, v in nn.get_parameters(grad_only=False).items()}


def _outputs(y: Any) -> list[nn.Variable]:
    return list(y) if isinstance(y, (tuple, list)) else [y]


def _run(y: Any) -> list[nn.Variable]:
    outs = _outputs(y)
    (F.sink(*outs) if len(outs) > 1 else outs[0]).forward()
    return outs


# -- the inputs of the table (shapes of the table of nnabla-api.md §2.2: x4 = (2, 3, 8, 8), x2 = (2, 5)) -------
def X4(need_grad: bool = False) -> nn.Variable:
    return _var(2, 3, 8, 8, seed=1, need_grad=need_grad)


def X2(need_grad: bool = False) -> nn.Variable:
    return _var(2, 5, seed=2, need_grad=need_grad)


def SEQ(need_grad: bool = False) -> nn.Variable:  # (T, B, I)
    return _var(5, 2, 3, seed=3, need_grad=need_grad)


def H(layers: int = 1, dirs: int = 1) -> nn.Variable:  # (L, D, B, H)
    return _var(layers, dirs, 2, 4, seed=4)


def Q(need_grad: bool = False) -> nn.Variable:  # (L, B, E)
    return _var(3, 2, 8, seed=5, need_grad=need_grad)


def KV(need_grad: bool = False) -> nn.Variable:  # (S, B, E)
    return _var(4, 2, 8, seed=6, need_grad=need_grad)


def IDX() -> nn.Variable:
    return nn.Variable.from_numpy_array(np.array([[1, 2, 9], [0, 4, 4]], dtype=np.int64))


def W6() -> nn.Variable:
    return _var(6, 3, 3, 3, seed=7)


def _mha_params(prefix: str, e: int = 8, attn_bias: bool = False) -> dict[str, tuple[tuple[int, ...], bool]]:
    names = {"q_weight": (e, e), "k_weight": (e, e), "v_weight": (e, e), "out_weight": (e, e)}
    names.update({"q_bias": (e,), "k_bias": (e,), "v_bias": (e,), "out_bias": (e,)})
    if attn_bias:
        names.update({"attn_bias_k": (1, 1, e), "attn_bias_v": (1, 1, e)})
    return {f"{prefix}multi_head_attention/{k}": (s, True) for k, s in names.items()}


def _affine_params(prefix: str, i: int, o: int) -> dict[str, tuple[tuple[int, ...], bool]]:
    return {f"{prefix}affine/W": ((i, o), True), f"{prefix}affine/b": ((o,), True)}


def _ln_params(prefix: str, e: int = 8) -> dict[str, tuple[tuple[int, ...], bool]]:
    return {
        f"{prefix}layer_normalization/beta": ((1, 1, e), True),
        f"{prefix}layer_normalization/gamma": ((1, 1, e), True),
    }


def _encoder_params(prefix: str, ff: int = 16) -> dict[str, tuple[tuple[int, ...], bool]]:
    p = _mha_params(f"{prefix}src_self_attn/")
    p.update(_ln_params(f"{prefix}enc_layer_norm1/"))
    p.update(_affine_params(f"{prefix}enc_affine1/", 8, ff))
    p.update(_affine_params(f"{prefix}enc_affine2/", ff, 8))
    p.update(_ln_params(f"{prefix}enc_layer_norm2/"))
    return p


def _decoder_params(prefix: str, ff: int = 16) -> dict[str, tuple[tuple[int, ...], bool]]:
    p = _mha_params(f"{prefix}tgt_self_attn/")
    p.update(_ln_params(f"{prefix}dec_layer_norm1/"))
    p.update(_mha_params(f"{prefix}tgt_memory_attn/"))
    p.update(_ln_params(f"{prefix}dec_layer_norm2/"))
    p.update(_affine_params(f"{prefix}dec_affine1/", 8, ff))
    p.update(_affine_params(f"{prefix}dec_affine2/", ff, 8))
    p.update(_ln_params(f"{prefix}dec_layer_norm3/"))
    return p


def _quant_params(scope: str, w: tuple[int, ...], b: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], bool]]:
    return {f"{scope}/W": (w, True), f"{scope}/W_q": (w, False), f"{scope}/b": (b, True), f"{scope}/b_q": (b, False)}


def _min_max_params(scope: str, w: tuple[int, ...], b: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], bool]]:
    out: dict[str, tuple[tuple[int, ...], bool]] = {f"{scope}/W": (w, True), f"{scope}/W_q": (w, False)}
    for tag, shape in (("w", w), ("b", b)):
        if tag == "b":
            out.update({f"{scope}/b": (b, True), f"{scope}/b_q": (b, False)})
        ones = (1,) * len(shape)
        sub = f"{scope}/min_max_quantize_{tag}/min_max_quantize"
        out.update(
            {
                f"{sub}/ql_min": (ones, False),
                f"{sub}/ql_max": (ones, False),
                f"{sub}/qr_min": (ones, True),
                f"{sub}/qr_max": (ones, True),
            }
        )
    return out


BN4 = {
    "bn/beta": ((1, 3, 1, 1), True),
    "bn/gamma": ((1, 3, 1, 1), True),
    "bn/mean": ((1, 3, 1, 1), False),
    "bn/var": ((1, 3, 1, 1), False),
}

# name -> (call(**kw), expected parameters, expected output shapes, deterministic on a second call)
Spec = tuple[Callable[..., Any], dict[str, tuple[tuple[int, ...], bool]], list[tuple[int, ...]], bool]
SPECS: dict[str, Spec] = {
    "affine": (
        lambda **k: PF.affine(X2(), 4, **k),
        {"affine/W": ((5, 4), True), "affine/b": ((4,), True)},
        [(2, 4)],
        True,
    ),
    "affine_tuple_out": (
        lambda **k: PF.affine(X4(), (2, 3), **k),
        {"affine/W": ((192, 2, 3), True), "affine/b": ((2, 3), True)},
        [(2, 2, 3)],
        True,
    ),
    "convolution": (
        lambda **k: PF.convolution(X4(), 6, (3, 3), **k),
        {"conv/W": ((6, 3, 3, 3), True), "conv/b": ((6,), True)},
        [(2, 6, 6, 6)],
        True,
    ),
    "convolution_group_cl": (
        lambda **k: PF.convolution(_var(2, 5, 5, 4, seed=8), 6, (3, 3), group=2, channel_last=True, **k),
        {"conv/W": ((6, 3, 3, 2), True), "conv/b": ((6,), True)},
        [(2, 3, 3, 6)],
        True,
    ),
    "deconvolution": (
        lambda **k: PF.deconvolution(X4(), 6, (3, 3), **k),
        {"deconv/W": ((3, 6, 3, 3), True), "deconv/b": ((6,), True)},
        [(2, 6, 10, 10)],
        True,
    ),
    "depthwise_convolution": (
        lambda **k: PF.depthwise_convolution(X4(), (3, 3), multiplier=2, **k),
        {"depthwise_conv/W": ((6, 3, 3), True), "depthwise_conv/b": ((6,), True)},
        [(2, 6, 6, 6)],
        True,
    ),
    "depthwise_deconvolution": (
        lambda **k: PF.depthwise_deconvolution(X4(), (3, 3), **k),
        {"depthwise_deconv/W": ((3, 3, 3), True), "depthwise_deconv/b": ((3,), True)},
        [(2, 3, 10, 10)],
        True,
    ),
    "deformable_convolution": (
        lambda **k: PF.deformable_convolution(X4(), 4, (3, 3), _var(2, 18, 8, 8, seed=9, scale=0.5), pad=(1, 1), **k),
        {"deformable_conv/W": ((4, 3, 3, 3), True), "deformable_conv/b": ((4,), True)},
        [(2, 4, 8, 8)],
        True,
    ),
    "batch_normalization": (lambda **k: PF.batch_normalization(X4(), **k), BN4, [(2, 3, 8, 8)], True),
    "fused_batch_normalization": (lambda **k: PF.fused_batch_normalization(X4(), **k), BN4, [(2, 3, 8, 8)], True),
    "sync_batch_normalization": (lambda **k: PF.sync_batch_normalization(X4(), None, **k), BN4, [(2, 3, 8, 8)], True),
    "layer_normalization": (
        lambda **k: PF.layer_normalization(X4(), **k),
        {"layer_normalization/beta": ((1, 3, 8, 8), True), "layer_normalization/gamma": ((1, 3, 8, 8), True)},
        [(2, 3, 8, 8)],
        True,
    ),
    "instance_normalization": (
        lambda **k: PF.instance_normalization(X4(), **k),
        {"instance_normalization/beta": ((1, 3, 1, 1), True), "instance_normalization/gamma": ((1, 3, 1, 1), True)},
        [(2, 3, 8, 8)],
        True,
    ),
    "group_normalization": (
        lambda **k: PF.group_normalization(X4(), 3, **k),
        {"group_normalization/beta": ((1, 3, 1, 1), True), "group_normalization/gamma": ((1, 3, 1, 1), True)},
        [(2, 3, 8, 8)],
        True,
    ),
    "mean_subtraction": (
        lambda **k: PF.mean_subtraction(X4(), **k),
        {"mean_subtraction/mean": ((3, 8, 8), False), "mean_subtraction/t": ((1,), False)},
        [(2, 3, 8, 8)],
        False,
    ),
    "embed": (lambda **k: PF.embed(IDX(), 10, 4, **k), {"embed/W": ((10, 4), True)}, [(2, 3, 4)], True),
    "prelu": (lambda **k: PF.prelu(X4(), **k), {"prelu/slope": ((), True)}, [(2, 3, 8, 8)], True),
    "prelu_channel": (
        lambda **k: PF.prelu(X4(), shared=False, **k),
        {"prelu/slope": ((3,), True)},
        [(2, 3, 8, 8)],
        True,
    ),
    "lstm_cell": (
        lambda **k: PF.lstm_cell(_var(2, 3, seed=10), _var(2, 4, seed=11), _var(2, 4, seed=12), 4, **k),
        {"lstm/affine/W": ((7, 4, 4), True), "lstm/affine/b": ((4, 4), True)},
        [(2, 4), (2, 4)],
        True,
    ),
    "lstm": (
        lambda **k: PF.lstm(SEQ(), H(), H(), **k),
        {"lstm/weight_l0": ((1, 4, 4, 7), True), "lstm/bias": ((1, 1, 4, 4), True)},
        [(5, 2, 4), (1, 1, 2, 4), (1, 1, 2, 4)],
        True,
    ),
    "lstm_2layers_bidir": (
        lambda **k: PF.lstm(SEQ(), H(2, 2), H(2, 2), bidirectional=True, **k),
        {
            "lstm/weight_l0": ((2, 4, 4, 7), True),
            "lstm/weight": ((1, 2, 4, 4, 12), True),
            "lstm/bias": ((2, 2, 4, 4), True),
        },
        [(5, 2, 8), (2, 2, 2, 4), (2, 2, 2, 4)],
        True,
    ),
    "gru": (
        lambda **k: PF.gru(SEQ(), H(), **k),
        {"gru/weight_l0": ((1, 3, 4, 7), True), "gru/bias": ((1, 1, 4, 4), True)},
        [(5, 2, 4), (1, 1, 2, 4)],
        True,
    ),
    "gru_2layers": (
        lambda **k: PF.gru(SEQ(), H(2), **k),
        {
            "gru/weight_l0": ((1, 3, 4, 7), True),
            "gru/weight": ((1, 1, 3, 4, 8), True),
            "gru/bias": ((2, 1, 4, 4), True),
        },
        [(5, 2, 4), (2, 1, 2, 4)],
        True,
    ),
    "rnn": (
        lambda **k: PF.rnn(SEQ(), H(), **k),
        {"rnn/weight_l0": ((1, 4, 7), True), "rnn/bias": ((1, 1, 4), True)},
        [(5, 2, 4), (1, 1, 2, 4)],
        True,
    ),
    "rnn_2layers_bidir": (
        lambda **k: PF.rnn(SEQ(), H(2, 2), bidirectional=True, nonlinearity="relu", **k),
        {"rnn/weight_l0": ((2, 4, 7), True), "rnn/weight": ((1, 2, 4, 12), True), "rnn/bias": ((2, 2, 4), True)},
        [(5, 2, 8), (2, 2, 2, 4)],
        True,
    ),
    "binary_connect_affine": (
        lambda **k: PF.binary_connect_affine(X2(), 4, **k),
        {"bicon_affine/W": ((5, 4), True), "bicon_affine/Wb": ((5, 4), False), "bicon_affine/b": ((4,), True)},
        [(2, 4)],
        True,
    ),
    "binary_connect_convolution": (
        lambda **k: PF.binary_connect_convolution(X4(), 6, (3, 3), **k),
        {"bicon_conv/W": ((6, 3, 3, 3), True), "bicon_conv/Wb": ((6, 3, 3, 3), False), "bicon_conv/b": ((6,), True)},
        [(2, 6, 6, 6)],
        True,
    ),
    "binary_weight_affine": (
        lambda **k: PF.binary_weight_affine(X2(), 4, **k),
        {
            "bwn_affine/W": ((5, 4), True),
            "bwn_affine/Wb": ((5, 4), False),
            "bwn_affine/alpha": ((4,), False),
            "bwn_affine/b": ((4,), True),
        },
        [(2, 4)],
        True,
    ),
    "binary_weight_convolution": (
        lambda **k: PF.binary_weight_convolution(X4(), 6, (3, 3), **k),
        {
            "bwn_conv/W": ((6, 3, 3, 3), True),
            "bwn_conv/Wb": ((6, 3, 3, 3), False),
            "bwn_conv/alpha": ((6,), False),
            "bwn_conv/b": ((6,), True),
        },
        [(2, 6, 6, 6)],
        True,
    ),
    "inq_affine": (
        lambda **k: PF.inq_affine(X2(), 4, **k),
        {"inq_affine/W": ((5, 4), True), "inq_affine/I": ((5, 4), False), "inq_affine/b": ((4,), True)},
        [(2, 4)],
        True,
    ),
    "inq_convolution": (
        lambda **k: PF.inq_convolution(X4(), 6, (3, 3), **k),
        {"inq_conv/W": ((6, 3, 3, 3), True), "inq_conv/I": ((6, 3, 3, 3), False), "inq_conv/b": ((6,), True)},
        [(2, 6, 6, 6)],
        True,
    ),
    "fixed_point_quantized_affine": (
        lambda **k: PF.fixed_point_quantized_affine(X2(), 4, **k),
        _quant_params("fp_quantized_affine", (5, 4), (4,)),
        [(2, 4)],
        True,
    ),
    "fixed_point_quantized_convolution": (
        lambda **k: PF.fixed_point_quantized_convolution(X4(), 6, (3, 3), **k),
        _quant_params("fp_quantized_conv", (6, 3, 3, 3), (6,)),
        [(2, 6, 6, 6)],
        True,
    ),
    "pow2_quantized_affine": (
        lambda **k: PF.pow2_quantized_affine(X2(), 4, **k),
        _quant_params("pow2_quantized_affine", (5, 4), (4,)),
        [(2, 4)],
        True,
    ),
    "pow2_quantized_convolution": (
        lambda **k: PF.pow2_quantized_convolution(X4(), 6, (3, 3), **k),
        _quant_params("pow2_quantized_conv", (6, 3, 3, 3), (6,)),
        [(2, 6, 6, 6)],
        True,
    ),
    "pruned_affine": (
        lambda **k: PF.pruned_affine(X2(), 4, **k),
        _quant_params("pruned_affine", (5, 4), (4,)),
        [(2, 4)],
        True,
    ),
    "pruned_convolution": (
        lambda **k: PF.pruned_convolution(X4(), 6, (3, 3), **k),
        _quant_params("pruned_conv", (6, 3, 3, 3), (6,)),
        [(2, 6, 6, 6)],
        True,
    ),
    "min_max_quantize": (
        lambda **k: PF.min_max_quantize(X4(), **k),
        {
            "min_max_quantize/ql_min": ((1, 1, 1, 1), False),
            "min_max_quantize/ql_max": ((1, 1, 1, 1), False),
            "min_max_quantize/qr_min": ((1, 1, 1, 1), True),
            "min_max_quantize/qr_max": ((1, 1, 1, 1), True),
        },
        [(2, 3, 8, 8)],
        True,
    ),
    "min_max_quantized_affine": (
        lambda **k: PF.min_max_quantized_affine(X2(), 4, **k),
        _min_max_params("min_max_quantized_affine", (5, 4), (4,)),
        [(2, 4)],
        True,
    ),
    "min_max_quantized_convolution": (
        lambda **k: PF.min_max_quantized_convolution(X4(), 6, (3, 3), **k),
        _min_max_params("min_max_quantized_conv", (6, 3, 3, 3), (6,)),
        [(2, 6, 6, 6)],
        True,
    ),
    "weight_normalization": (
        lambda **k: PF.weight_normalization(W6(), **k),
        {"wn/g": ((6,), True)},
        [(6, 3, 3, 3)],
        True,
    ),
    "spectral_norm": (
        lambda **k: PF.spectral_norm(W6(), dim=1, **k),
        {"spectral-norm/u": ((3,), False)},
        [(6, 3, 3, 3)],
        False,
    ),
    "svd_affine": (
        lambda **k: PF.svd_affine(X2(), 4, 2, **k),
        {"svd_affine/U": ((5, 2), True), "svd_affine/V": ((2, 4), True), "svd_affine/b": ((4,), True)},
        [(2, 4)],
        True,
    ),
    "svd_convolution": (
        lambda **k: PF.svd_convolution(X4(), 6, (3, 3), 2, **k),
        {"svd_conv/U": ((6, 3, 3), True), "svd_conv/V": ((6, 6, 1, 1), True), "svd_conv/b": ((6,), True)},
        [(2, 6, 6, 6)],
        True,
    ),
    "cpd3_convolution": (
        lambda **k: PF.cpd3_convolution(X4(), 6, (3, 3), 2, max_iter=20, **k),
        {
            "cpd3_conv/I": ((2, 3, 1, 1), True),
            "cpd3_conv/O": ((6, 2, 1, 1), True),
            "cpd3_conv/K": ((2, 3, 3), True),
            "cpd3_conv/b": ((6,), True),
        },
        [(2, 6, 6, 6)],
        True,
    ),
    "multi_head_attention": (
        lambda **k: PF.multi_head_attention(Q(), KV(), KV(), num_heads=2, **k),
        _mha_params(""),
        [(3, 2, 8), (4, 3, 4)],
        True,
    ),
    "multi_head_attention_bias": (
        lambda **k: PF.multi_head_attention(Q(), KV(), KV(), num_heads=2, add_attn_bias=True, **k),
        _mha_params("", attn_bias=True),
        [(3, 2, 8), (4, 3, 5)],
        True,
    ),
    "transformer_encode": (
        lambda **k: PF.transformer_encode(Q(), 8, 2, dim_feedforward=16, dropout=0.0, **k),
        _encoder_params("transformer_encode/"),
        [(3, 2, 8)],
        True,
    ),
    "transformer_decode": (
        lambda **k: PF.transformer_decode(Q(), KV(), 8, 2, dim_feedforward=16, dropout=0.0, **k),
        _decoder_params("transformer_decode/"),
        [(3, 2, 8)],
        True,
    ),
    "transformer": (
        lambda **k: PF.transformer(
            KV(),
            Q(),
            embed_dim=8,
            num_heads=2,
            num_encoder_layers=1,
            num_decoder_layers=2,
            dim_feedforward=16,
            dropout=0.0,
            **k,
        ),
        {
            **_encoder_params("transformer/encoder00/transformer_encode/"),
            **_decoder_params("transformer/decoder00/transformer_decode/"),
            **_decoder_params("transformer/decoder01/transformer_decode/"),
        },
        [(3, 2, 8)],
        True,
    ),
}

# every public PF of nnabla 1.39 is covered by the table
ALL_PF = {
    "affine", "batch_normalization", "binary_connect_affine", "binary_connect_convolution", "binary_weight_affine",
    "binary_weight_convolution", "convolution", "cpd3_convolution", "deconvolution", "deformable_convolution",
    "depthwise_convolution", "depthwise_deconvolution", "embed", "fixed_point_quantized_affine",
    "fixed_point_quantized_convolution", "fused_batch_normalization", "group_normalization", "gru", "inq_affine",
    "inq_convolution", "instance_normalization", "layer_normalization", "lstm", "lstm_cell", "mean_subtraction",
    "min_max_quantize", "min_max_quantized_affine", "min_max_quantized_convolution", "multi_head_attention",
    "pow2_quantized_affine", "pow2_quantized_convolution", "prelu", "pruned_affine", "pruned_convolution", "rnn",
    "spectral_norm", "svd_affine", "svd_convolution", "sync_batch_normalization", "transformer", "transformer_decode",
    "transformer_encode", "weight_normalization",
}  # fmt: skip


def test_table_covers_every_pf():
    assert len(ALL_PF) == 43
    assert ALL_PF <= set(SPECS)
    for name in ALL_PF:
        assert hasattr(getattr(PF, name), "__scope_name__"), name


@pytest.mark.parametrize("case", list(SPECS))
def test_parameters_and_output_shapes(case):
    call, expected, shapes, _ = SPECS[case]
    outs = _run(call())
    assert _params() == expected
    assert list(_params()) == list(expected), "parameters are created in nnabla's order"
    assert [tuple(o.shape) for o in outs[: len(shapes)]] == shapes
    for o in outs[: len(shapes)]:
        assert o.d.shape == tuple(o.shape)
        assert np.all(np.isfinite(o.d))


@pytest.mark.parametrize("case", list(SPECS))
def test_second_call_shares_the_parameters(case):
    call, expected, _, deterministic = SPECS[case]
    first = [o.d.copy() for o in _run(call())]
    before = nn.get_parameters(grad_only=False)
    second = _run(call())
    after = nn.get_parameters(grad_only=False)
    assert list(after) == list(before)
    assert all(after[k] is before[k] for k in before)
    if deterministic:
        for a, b in zip(first, second):
            np.testing.assert_allclose(b.d, a, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", list(SPECS))
def test_fix_parameters(case):
    call, expected, _, _ = SPECS[case]
    fix_default = case == "spectral_norm"  # spectral_norm's default is fix_parameters=True
    outs = _outputs(call() if fix_default else call(fix_parameters=True))
    # the registered parameters keep their flags; the graph sees views without gradients
    assert _params() == expected
    assert not any(o.need_grad for o in outs), [o.need_grad for o in outs]
    nn.clear_parameters()
    if fix_default:
        return
    # created trainable, then used fixed: same buffers, no gradient
    call()
    params = nn.get_parameters(grad_only=False)
    outs = _outputs(call(fix_parameters=True))
    assert nn.get_parameters(grad_only=False).keys() == params.keys()
    assert not any(o.need_grad for o in outs)


@pytest.mark.parametrize("case", list(SPECS))
def test_name_nests_the_scope(case):
    call, expected, _, _ = SPECS[case]
    with nn.parameter_scope("net"):
        call(name="blk")
    assert _params() == {f"net/blk/{k}": v for k, v in expected.items()}


def test_name_given_positionally_and_signature():
    x = X2()
    PF.affine(x, 3, 1, None, None, False, None, True, None, None, "fc")
    assert list(_params()) == ["fc/affine/W", "fc/affine/b"]
    import inspect

    sig = inspect.signature(PF.affine)
    assert list(sig.parameters)[-1] == "name" and sig.parameters["name"].default is None
    assert PF.convolution.__scope_name__ == "conv" and "need_grad" in PF.convolution.__doc__
    with pytest.raises(TypeError):
        PF.affine(x, 3, 1, None, None, False, None, True, None, None, "fc", "extra")


def test_custom_parametric_function():
    @PF.parametric_function_api(param_desc=[("w", "a weight", "(n,)", True)])
    def scaled(x, n, fix_parameters=False):
        w = nn.parameter.get_parameter_or_create("w", (n,), I.ConstantInitializer(2.0), True, not fix_parameters)
        return x * w

    y = scaled(_var(2, 3), 3, name="s")
    y.forward()
    assert list(_params()) == ["s/scaled/w"]
    np.testing.assert_allclose(y.d, _var(2, 3).d * 2)
    with pytest.raises(TypeError):

        @PF.parametric_function_api("bad")
        def bad(x):
            return x


def test_weight_sharing_between_layers():
    x = X2()
    with nn.parameter_scope("shared"):
        a = PF.affine(x, 4)
        b = PF.affine(x, 4)
    F.sink(a, b).forward()
    np.testing.assert_array_equal(a.d, b.d)
    with nn.parameter_scope("shared"), pytest.raises(ValueError):
        PF.affine(x, 5)  # same names, other shape


# -- default initializers and rng -----------------------------------------------------------------------------
def test_default_initializers_follow_nnabla():
    PF.affine(X2(), 4, rng=np.random.RandomState(3))
    lim = I.calc_uniform_lim_glorot(5, 4)
    expected = I.UniformInitializer(lim, rng=np.random.RandomState(3))((5, 4))
    p = nn.get_parameters()
    np.testing.assert_array_equal(p["affine/W"].d, expected)
    np.testing.assert_array_equal(p["affine/b"].d, 0)
    nn.clear_parameters()
    PF.convolution(X4(), 6, (3, 3), rng=np.random.RandomState(3))
    expected = I.UniformInitializer(I.calc_uniform_lim_glorot(3, 6, (3, 3)), rng=np.random.RandomState(3))((6, 3, 3, 3))
    np.testing.assert_array_equal(nn.get_parameters()["conv/W"].d, expected)
    nn.clear_parameters()
    PF.batch_normalization(X4())
    d = {k: v.d for k, v in nn.get_parameters(grad_only=False).items()}
    assert (
        np.all(d["bn/beta"] == 0)
        and np.all(d["bn/gamma"] == 1)
        and np.all(d["bn/mean"] == 0)
        and np.all(d["bn/var"] == 1)
    )
    nn.clear_parameters()
    PF.prelu(X4(), shared=False)
    np.testing.assert_array_equal(nn.get_parameters()["prelu/slope"].d, 0.25)
    nn.clear_parameters()
    PF.embed(IDX(), 10, 4)
    w = nn.get_parameters()["embed/W"].d
    assert np.all(np.abs(w) <= np.sqrt(3.0)) and w.std() > 0.5
    nn.clear_parameters()
    # lstm: [W_ih | W_hh] drawn in that order from rng
    PF.lstm(SEQ(), H(), H(), rng=np.random.RandomState(5))
    r = np.random.RandomState(5)
    w_ih = I.UniformInitializer(I.calc_uniform_lim_glorot(3, 4), r)((1, 4, 4, 3))
    w_hh = I.UniformInitializer(I.calc_uniform_lim_glorot(4, 4), r)((1, 4, 4, 4))
    np.testing.assert_array_equal(nn.get_parameters()["lstm/weight_l0"].d, np.concatenate([w_ih, w_hh], axis=3))


def test_seed_reproduces_parameters():
    nn.seed(11)
    PF.convolution(X4(), 4, (3, 3), name="c")
    first = nn.get_parameters()["c/conv/W"].d.copy()
    nn.clear_parameters()
    nn.seed(11)
    PF.convolution(X4(), 4, (3, 3), name="c")
    np.testing.assert_array_equal(nn.get_parameters()["c/conv/W"].d, first)


def test_param_init_and_no_scale_no_bias():
    PF.batch_normalization(
        X4(), param_init={"gamma": I.ConstantInitializer(3.0), "mean": np.full((1, 3, 1, 1), 0.5, np.float32)}
    )
    d = nn.get_parameters(grad_only=False)
    np.testing.assert_array_equal(d["bn/gamma"].d, 3.0)
    np.testing.assert_array_equal(d["bn/mean"].d, 0.5)
    nn.clear_parameters()
    PF.layer_normalization(X4(), no_scale=True, no_bias=True)
    PF.batch_normalization(X4(), no_scale=True)
    assert list(_params()) == ["bn/beta", "bn/mean", "bn/var"]


def test_lstm_rejects_the_legacy_signature():
    with pytest.raises(ValueError):
        PF.lstm(SEQ(), H(), H(), 4)


# -- values: each layer equals the F call on its parameters ----------------------------------------------------
def _p(name: str) -> nn.Variable:
    return nn.get_parameters(grad_only=False)[name]


def _same(y: Any, ref: Any, atol: float = 1e-5) -> None:
    ys, refs = _outputs(y), _outputs(ref)
    F.sink(*ys, *refs).forward()
    for a, b in zip(ys, refs):
        np.testing.assert_allclose(a.d, b.d, rtol=1e-5, atol=atol)


def test_values_affine():
    x = X4()
    y = PF.affine(x, 3)
    _same(y, F.affine(x, _p("affine/W"), _p("affine/b")))
    y.forward()
    np.testing.assert_allclose(y.d, x.d.reshape(2, -1) @ _p("affine/W").d + _p("affine/b").d, rtol=1e-5, atol=1e-5)
    y2 = PF.affine(x, 3, with_bias=False, name="nb", apply_w=lambda w: w * 2)
    _same(y2, F.affine(x, _p("nb/affine/W") * 2))


def test_values_convolution_and_deconvolution():
    x = X4()
    y = PF.convolution(x, 4, (3, 3), pad=(1, 1), stride=(2, 2))
    _same(y, F.convolution(x, _p("conv/W"), _p("conv/b"), pad=(1, 1), stride=(2, 2)))
    y = PF.deconvolution(x, 4, (2, 2), stride=(2, 2), group=1)
    _same(y, F.deconvolution(x, _p("deconv/W"), _p("deconv/b"), stride=(2, 2)))
    xc = _var(2, 6, 6, 4, seed=3)
    y = PF.deconvolution(xc, 6, (3, 3), group=2, channel_last=True, name="cl")
    assert _p("cl/deconv/W").shape == (4, 3, 3, 3)
    _same(y, F.deconvolution(xc, _p("cl/deconv/W"), _p("cl/deconv/b"), group=2, channel_last=True))


def test_values_batch_normalization():
    x = X4()
    y = PF.batch_normalization(x, batch_stat=True)
    ref = (x.d - x.d.mean((0, 2, 3), keepdims=True)) / np.sqrt(x.d.var((0, 2, 3), keepdims=True) + 1e-5)
    y.forward()
    np.testing.assert_allclose(y.d, ref, rtol=1e-4, atol=1e-4)
    # the running statistics were updated by the forward pass
    np.testing.assert_allclose(_p("bn/mean").d.ravel(), 0.1 * x.d.mean((0, 2, 3)), rtol=1e-4, atol=1e-6)
    y = PF.batch_normalization(x, batch_stat=False)
    _same(y, F.batch_normalization(x, _p("bn/beta"), _p("bn/gamma"), _p("bn/mean"), _p("bn/var"), batch_stat=False))


def test_values_embed_prelu_layer_normalization():
    idx = IDX()
    y = PF.embed(idx, 10, 4)
    y.forward()
    np.testing.assert_array_equal(y.d, _p("embed/W").d[idx.d])
    x = X4()
    y = PF.prelu(x, shared=False, slope_init=I.ConstantInitializer(0.1))
    _same(y, F.prelu(x, _p("prelu/slope")))
    y.forward()
    np.testing.assert_allclose(y.d, np.where(x.d > 0, x.d, 0.1 * x.d), rtol=1e-6)
    y = PF.layer_normalization(x, param_init={"gamma": I.ConstantInitializer(2.0)})
    _same(y, F.layer_normalization(x, _p("layer_normalization/beta"), _p("layer_normalization/gamma")))
    y.forward()
    mean, var = x.d.mean((1, 2, 3), keepdims=True), x.d.var((1, 2, 3), keepdims=True)
    np.testing.assert_allclose(y.d, 2 * (x.d - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)


def test_values_lstm_gru_rnn():
    x, h, c = SEQ(), H(2), H(2)
    y = PF.lstm(x, h, c, dropout=0.0)
    _same(y, F.lstm(x, h, c, _p("lstm/weight_l0"), _p("lstm/weight"), _p("lstm/bias"), num_layers=2))
    y = PF.gru(x, h)
    _same(y, F.gru(x, h, _p("gru/weight_l0"), _p("gru/weight"), _p("gru/bias"), num_layers=2))
    y = PF.rnn(x, h, with_bias=False)
    _same(y, F.rnn(x, h, _p("rnn/weight_l0"), _p("rnn/weight"), None, num_layers=2))


def test_values_lstm_cell_and_LSTMCell():
    x, h, c = _var(2, 3, seed=1), _var(2, 4, seed=2), _var(2, 4, seed=3)
    h_t, c_t = PF.lstm_cell(x, h, c, 4, b_init=I.ConstantInitializer(0.1))
    F.sink(h_t, c_t).forward()
    w, b = _p("lstm/affine/W").d, _p("lstm/affine/b").d
    z = (np.concatenate([x.d, h.d], 1) @ w.reshape(7, 16)).reshape(2, 4, 4) + b
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c_ref = sig(z[:, 2]) * c.d + sig(z[:, 0]) * np.tanh(z[:, 3])
    np.testing.assert_allclose(c_t.d, c_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_t.d, sig(z[:, 1]) * np.tanh(c_ref), rtol=1e-5, atol=1e-5)
    nn.clear_parameters()
    cell = PF.LSTMCell(2, 4, name="cell")
    out = cell(x)
    out = cell(x)
    out.forward()
    assert out.shape == (2, 4) and list(_params()) == ["cell/lstm/affine/W", "cell/lstm/affine/b"]
    cell.reset_state()
    assert np.all(cell.h.d == 0) and np.all(cell.c.d == 0)


def test_quantized_copies_follow_the_weights():
    x = X2()
    y = PF.fixed_point_quantized_affine(x, 4, n_w=4, delta_w=0.25)
    y.forward()
    w, w_q = _p("fp_quantized_affine/W"), _p("fp_quantized_affine/W_q")
    ref = F.fixed_point_quantize(w, n=4, delta=0.25)
    ref.forward()
    np.testing.assert_array_equal(w_q.d, ref.d)
    _same(y, F.affine(x, ref, _p("fp_quantized_affine/b_q")))
    y = PF.pruned_affine(x, 4, rate_w=0.5, prune_b=False)
    y.forward()
    assert np.sum(_p("pruned_affine/W_q").d == 0) == 9  # nnabla: threshold at index int((size - 1) * rate)
    y = PF.pow2_quantized_convolution(X4(), 2, (3, 3), with_bias=False)
    y.forward()
    wq = _p("pow2_quantized_conv/W_q").d
    nz = wq[wq != 0]
    np.testing.assert_allclose(np.log2(np.abs(nz)), np.round(np.log2(np.abs(nz))))


def test_min_max_quantize_trained_range():
    x = X4(need_grad=True)
    y = PF.min_max_quantize(x, ql_min=0, ql_max=15)
    y.forward()
    y.backward()
    assert _p("min_max_quantize/qr_min").g.shape == (1, 1, 1, 1)
    nn.clear_parameters()
    PF.min_max_quantize(x, x_min_max=True, ema=True)
    assert _params()["min_max_quantize/qr_min"] == ((1, 1, 1, 1), False)


def test_mean_subtraction_counts_batches():
    x = X4()
    y = PF.mean_subtraction(x)
    y.forward()
    y.forward()
    assert _p("mean_subtraction/t").d[0] == 2
    np.testing.assert_allclose(_p("mean_subtraction/mean").d, x.d.mean(0), rtol=1e-5, atol=1e-6)


def test_weight_and_spectral_normalization_values():
    w = W6()
    y = PF.weight_normalization(w)
    y.forward()
    np.testing.assert_allclose(y.d, w.d, rtol=1e-5, atol=1e-6)  # g starts at ||w||
    y = PF.spectral_norm(w, itr=20)
    y.forward()
    sigma = np.linalg.svd(w.d.reshape(6, -1), compute_uv=False)[0]
    np.testing.assert_allclose(y.d, w.d / sigma, rtol=1e-3, atol=1e-4)


def test_svd_layers_reconstruct_full_rank():
    x = X2()
    uv = np.random.RandomState(0).randn(5, 4).astype(np.float32)
    y = PF.svd_affine(x, 4, 4, uv_init=uv, with_bias=False)
    np.testing.assert_allclose(_p("svd_affine/U").d @ _p("svd_affine/V").d, uv, rtol=1e-4, atol=1e-4)
    _same(y, F.affine(x, nn.Variable.from_numpy_array(uv)), atol=1e-4)
    x = X4()
    w = np.random.RandomState(1).randn(6, 3, 3, 3).astype(np.float32)
    y = PF.svd_convolution(x, 6, (3, 3), 6, uv_init=w, pad=(1, 1), with_bias=False)
    _same(y, F.convolution(x, nn.Variable.from_numpy_array(w), pad=(1, 1)), atol=1e-3)


def test_cpd3_convolution_recovers_a_low_rank_filter():
    r = np.random.RandomState(2)
    o, i, k = r.rand(6, 2), r.rand(3, 2), r.rand(9, 2)
    w = np.einsum("az,bz,cz->abc", o, i, k).reshape(6, 3, 3, 3).astype(np.float32)
    x = X4()
    y = PF.cpd3_convolution(x, 6, (3, 3), 2, oik_init=w, with_bias=False, max_iter=300, stopping_criterion=1e-10)
    _same(y, F.convolution(x, nn.Variable.from_numpy_array(w)), atol=2e-2)


def test_multi_head_attention_pf_equals_F():
    q, kv = Q(), KV()
    mask = nn.Variable.from_numpy_array(np.array([[0, 0, 0, 1], [0, 0, 0, 0]], np.float32))
    y = PF.multi_head_attention(q, kv, kv, num_heads=4, key_padding_mask=mask, k_embed_dim=8, out_dim=6)
    names = ["q_weight", "k_weight", "v_weight", "out_weight", "q_bias", "k_bias", "v_bias", "out_bias"]
    ps = [_p(f"multi_head_attention/{n}") for n in names]
    assert ps[3].shape == (8, 6)
    _same(y, F.multi_head_attention(q, kv, kv, 4, *ps, key_padding_mask=mask))


# -- composite F helpers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sa, sb",
    [
        ((4,), (4,)),
        ((2, 3), (3, 5)),
        ((), (2, 3)),
        ((2, 3), ()),
        ((2, 3, 4), (4,)),
        ((2, 3, 4), (5, 4, 2)),
        ((3,), (2, 3, 2)),
    ],
)
def test_dot(sa, sb):
    r = np.random.RandomState(0)
    a = np.asarray(r.randn(*sa), np.float32)
    b = np.asarray(r.randn(*sb), np.float32)
    ref = np.dot(a, b)
    va, vb = nn.Variable.from_numpy_array(a), nn.Variable.from_numpy_array(b)
    y = F.dot(va, vb)
    y.forward()
    np.testing.assert_allclose(y.d, ref, rtol=1e-5, atol=1e-5)
    na, nb = nn.NdArray.from_numpy_array(a), nn.NdArray.from_numpy_array(b)
    np.testing.assert_allclose(F.dot(na, nb).data, ref, rtol=1e-5, atol=1e-5)
    out = nn.NdArray(np.shape(ref))
    assert F.dot(na, nb, out) is None
    np.testing.assert_allclose(out.data, ref, rtol=1e-5, atol=1e-5)
    if sa and sb:
        np.testing.assert_allclose(F.dot(na, vb).data, ref, rtol=1e-5, atol=1e-5)
        out_v = nn.Variable(np.shape(ref))
        F.dot(va, vb, out_v)
        out_v.forward()
        np.testing.assert_allclose(out_v.d, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.dot(a, b), ref)


def test_dot_scalar_and_errors():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    v = nn.Variable.from_numpy_array(a)
    y = F.dot(2.5, v)
    y.forward()
    np.testing.assert_allclose(y.d, 2.5 * a)
    n = F.dot(nn.NdArray.from_numpy_array(a), 2.0)
    np.testing.assert_allclose(n.data, 2 * a)
    with pytest.raises(ValueError):
        F.dot(nn.NdArray.from_numpy_array(a), nn.NdArray.from_numpy_array(a.T), nn.NdArray((3, 3)))


def test_dot_gradient():
    r = np.random.RandomState(1)
    a = nn.Variable.from_numpy_array(r.randn(2, 3, 4).astype(np.float32), need_grad=True)
    b = nn.Variable.from_numpy_array(r.randn(5, 4, 2).astype(np.float32), need_grad=True)
    y = F.dot(a, b)
    y.forward()
    g = r.randn(*y.shape).astype(np.float32)
    y.backward(g)
    np.testing.assert_allclose(a.g, np.einsum("ijkl,kml->ijm", g, b.d), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.g, np.einsum("ijkl,ijm->kml", g, a.d), rtol=1e-4, atol=1e-4)


def test_clip_by_value_and_norm():
    r = np.random.RandomState(2)
    x = nn.Variable.from_numpy_array(r.randn(3, 4).astype(np.float32))
    y = F.clip_by_value(x, -0.5, 0.7)
    y.forward()
    np.testing.assert_allclose(y.d, np.clip(x.d, -0.5, 0.7))
    lo = nn.Variable.from_numpy_array(np.full((3, 4), -0.2, np.float32))
    hi = nn.Variable.from_numpy_array(np.full((3, 4), 0.3, np.float32))
    y = F.clip_by_value(x, lo, hi)
    y.forward()
    np.testing.assert_allclose(y.d, np.clip(x.d, -0.2, 0.3))
    with pytest.raises(TypeError):
        F.clip_by_value(x, [0], 1)
    y = F.clip_by_norm(x, 1.5, axis=1)
    y.forward()
    norm = np.sqrt((x.d**2).sum(1, keepdims=True))
    np.testing.assert_allclose(y.d, 1.5 * x.d / np.maximum(norm, 1.5), rtol=1e-5, atol=1e-6)
    y = F.clip_by_norm(x, 100.0)
    y.forward()
    np.testing.assert_allclose(y.d, x.d, rtol=1e-5)
    with pytest.raises(ValueError):
        F.clip_by_norm(x, -1.0)


def test_reduce_is_exported_and_deprecated():
    x = nn.Variable.from_numpy_array(np.arange(6, dtype=np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = F.reduce(x, op="mean")
    y.forward()
    assert float(y.d) == 2.5 and any(issubclass(w.category, DeprecationWarning) for w in caught)


def _mha_reference(q, k, v, heads, qw, kw, vw, ow, qb, kb, vb, ob, abk=None, abv=None, additive=None, padding=None):
    L, B, _ = q.shape
    qq, kk, vv = q @ qw + qb, k @ kw + kb, v @ vw + vb
    if abk is not None:
        kk = np.concatenate([kk, np.broadcast_to(abk.reshape(1, 1, -1), (1, B, kk.shape[2]))], 0)
        vv = np.concatenate([vv, np.broadcast_to(abv.reshape(1, 1, -1), (1, B, vv.shape[2]))], 0)
        if additive is not None:
            additive = np.pad(additive, ((0, 0), (0, 1)))
        if padding is not None:
            padding = np.pad(padding, ((0, 0), (0, 1)))
    S, E, Ev = kk.shape[0], qq.shape[2], vv.shape[2]
    d, dv = E // heads, Ev // heads
    out = np.zeros((L, B, Ev))
    weights = np.zeros((B, heads, L, S))
    for bi in range(B):
        for h in range(heads):
            logits = (qq[:, bi, h * d : (h + 1) * d] / np.sqrt(d)) @ kk[:, bi, h * d : (h + 1) * d].T
            if additive is not None:
                logits = logits + additive
            if padding is not None:
                logits = np.where(padding[bi][None, :] != 0, -np.inf, logits)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            weights[bi, h] = p
            out[:, bi, h * dv : (h + 1) * dv] = p @ vv[:, bi, h * dv : (h + 1) * dv]
    return out @ ow + ob, weights.reshape(B * heads, L, S)


@pytest.mark.parametrize("attn_bias", [False, True])
def test_F_multi_head_attention(attn_bias):
    r = np.random.RandomState(3)
    q, k, v = r.randn(3, 2, 4), r.randn(5, 2, 6), r.randn(5, 2, 2)
    ws = [r.randn(4, 4), r.randn(6, 4), r.randn(2, 4), r.randn(4, 3)]
    bs = [r.randn(4), r.randn(4), r.randn(4), r.randn(3)]
    ab = [r.randn(1, 1, 4), r.randn(1, 1, 4)] if attn_bias else [None, None]
    additive = np.triu(np.full((3, 5), -1.0), 1)
    padding = np.array([[0, 0, 0, 0, 1], [0, 1, 0, 0, 0]], np.float32)
    ref_out, ref_w = _mha_reference(q, k, v, 2, *ws, *bs, *ab, additive=additive, padding=padding)
    V = lambda a, g=False: None if a is None else nn.Variable.from_numpy_array(np.asarray(a, np.float32), need_grad=g)  # noqa: E731
    vq = V(q, True)
    out, w = F.multi_head_attention(
        vq, V(k), V(v), 2, *map(V, ws), *map(V, bs), *map(V, ab), additive_mask=V(additive), key_padding_mask=V(padding)
    )
    F.sink(out, w).forward()
    np.testing.assert_allclose(out.d, ref_out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.d, ref_w, rtol=1e-4, atol=1e-5)
    # gradient w.r.t. the query by central differences of the reference
    g = r.randn(*out.shape)
    out.backward(g.astype(np.float32))
    num = np.zeros_like(q)
    for idx in np.ndindex(*q.shape):
        qp, qm = q.copy(), q.copy()
        qp[idx] += 1e-5
        qm[idx] -= 1e-5
        num[idx] = (np.sum(_mha_reference(qp, k, v, 2, *ws, *bs, *ab, additive=additive, padding=padding)[0] * g)
                    - np.sum(_mha_reference(qm, k, v, 2, *ws, *bs, *ab, additive=additive, padding=padding)[0] * g)) / 2e-5  # fmt: skip
    np.testing.assert_allclose(vq.g, num, rtol=1e-3, atol=1e-3)


def test_F_multi_head_attention_errors():
    q = nn.Variable((3, 2, 4))
    w = nn.Variable((4, 4))
    with pytest.raises(ValueError, match="num_heads"):
        F.multi_head_attention(q, q, q, 3, w, w, w, w)
    with pytest.raises(ValueError, match="same length"):
        F.multi_head_attention(q, q, nn.Variable((5, 2, 4)), 2, w, w, w, w)
