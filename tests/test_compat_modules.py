"""nnabla-compatibility modules: nnl.function_bases, nnl.backward_functions, nnl.backward_function.*, nnl.utils.rnn."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F


def _var(rng, *shape, need_grad=True):
    return nn.Variable.from_numpy_array(rng.randn(*shape).astype(np.float32), need_grad=need_grad)


# -- function_bases ------------------------------------------------------------------------------------------------
def test_function_bases_signatures_follow_the_registry():
    import nnl.function_bases as B

    assert str(inspect.signature(B.sum)) == "(x, axes=None, keep_dims=False, n_outputs=-1, outputs=None)"
    assert str(inspect.signature(B.affine)) == "(x, weight, bias=None, base_axis=1, n_outputs=-1, outputs=None)"
    assert str(inspect.signature(B.concatenate)).startswith("(*x, axis=None")
    assert B.patch_correlation.__name__ == "patch_correlation"


def test_function_bases_call():
    import nnl.function_bases as B

    rng = np.random.RandomState(0)
    x = rng.randn(2, 3).astype(np.float32)
    w = rng.randn(3, 4).astype(np.float32)
    vx, vw = nn.Variable.from_numpy_array(x), nn.Variable.from_numpy_array(w)
    with nn.auto_forward():
        np.testing.assert_allclose(B.sum(vx, axes=[1], keep_dims=True).d, x.sum(1, keepdims=True), rtol=1e-6)
        np.testing.assert_allclose(B.sum(vx).d, x.sum(), rtol=1e-6)
        np.testing.assert_allclose(B.affine(vx, vw).d, x @ w, rtol=1e-5)
        y = B.concatenate(vx, vx, axis=0)
        assert y.shape == (4, 3) and y.parent.name == "Concatenate"
        parts = B.split(vx, axis=1)
        assert len(parts) == 3 and parts[0].shape == (2,)
    with pytest.raises(TypeError):
        B.sum(vx, bogus=1)


# -- backward_functions ---------------------------------------------------------------------------------------------
def test_registry_gives_differentiable_gradients():
    from nnl.backward_functions import registry

    rng = np.random.RandomState(1)
    x, w = _var(rng, 2, 3), _var(rng, 3, 4)
    y = F.affine(x, w)
    dy = _var(rng, 2, 4)
    backward = registry["Affine"]
    assert backward.__name__ == "affine_backward"
    dx, dw = backward([dy], [x, w], [x.shape, w.shape], [y], [y.shape], base_axis=1)
    F.sink(dx, dw).forward()
    np.testing.assert_allclose(dx.d, dy.d @ w.d.T, rtol=1e-5)
    np.testing.assert_allclose(dw.d, x.d.T @ dy.d, rtol=1e-5)
    # differentiate sum(dx) with respect to w: d/dw sum_ij (dy w^T)_ij = column sums of dy, per row of w
    (gw,) = nn.grad([dx], [w])
    gw.forward()
    np.testing.assert_allclose(gw.d, np.tile(dy.d.sum(0), (3, 1)), rtol=1e-5)


def test_registry_builds_a_new_function_when_outputs_are_foreign():
    from nnl.backward_functions import registry

    rng = np.random.RandomState(2)
    x = _var(rng, 3, 4)
    dy = _var(rng, 3, 4)
    (dx,) = registry["Tanh"]([dy], [x], [x.shape], [None], [(3, 4)])
    dx.forward()
    np.testing.assert_allclose(dx.d, dy.d * (1 - np.tanh(x.d) ** 2), rtol=1e-5, atol=1e-6)


def test_register_and_missing_gradients():
    from nnl import backward_functions as bf

    bf.register("MyFunction", len)
    assert bf.registry["MyFunction"] is len
    del bf.registry["MyFunction"]
    rng = np.random.RandomState(3)
    x, w = _var(rng, 2, 3), _var(rng, 3, 4, need_grad=False)
    y = F.affine(x, w)
    dx, dw = bf.registry["Affine"]([_var(rng, 2, 4)], [x, w], [x.shape, w.shape], [y], [y.shape], base_axis=1)
    assert dx is not None and dw is None  # only inputs with need_grad get a gradient


# -- backward_function helpers ------------------------------------------------------------------------------------------
def _numeric_grad(f, arrays, i, eps=1e-3):
    base = [a.astype(np.float64) for a in arrays]
    g = np.zeros_like(base[i])
    for idx in np.ndindex(*base[i].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[i][idx] += eps
        minus[i][idx] -= eps
        g[idx] = (f(*plus) - f(*minus)) / (2 * eps)
    return g


def test_affine_data_and_filter_grad():
    from nnl.backward_function.affine import AffineDataGrad, AffineFilterGrad

    rng = np.random.RandomState(4)
    x, w, dy = rng.randn(2, 3), rng.randn(3, 4), rng.randn(2, 4)
    df = AffineDataGrad(nn.Context(), 1)
    df.xshape = x.shape
    vdy, vw = nn.Variable.from_numpy_array(dy, need_grad=True), nn.Variable.from_numpy_array(w, need_grad=True)
    dx = df(vdy, vw)
    dx.forward()
    np.testing.assert_allclose(dx.d, dy @ w.T, rtol=1e-5)
    assert dx.parent.info.type_name == "AffineDataGrad" and dx.parent.info.args == {"base_axis": 1}
    # first order through the array backward, against numbers
    g = rng.randn(2, 3)
    dx.backward(g)
    np.testing.assert_allclose(vdy.g, _numeric_grad(lambda a, b: np.sum((a @ b.T) * g), [dy, w], 0), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(vw.g, _numeric_grad(lambda a, b: np.sum((a @ b.T) * g), [dy, w], 1), rtol=1e-3, atol=1e-4)
    # a second call of the same helper object makes a second node
    dx2 = df(vdy, vw)
    assert dx2.parent is not dx.parent
    # filter grad, and its gradient graph
    ff = AffineFilterGrad(nn.Context(), 1)
    ff.wshape = w.shape
    vx = nn.Variable.from_numpy_array(x, need_grad=True)
    dw = ff(vdy, vx)
    dw.forward()
    np.testing.assert_allclose(dw.d, x.T @ dy, rtol=1e-5)
    gdy, gx = nn.grad([dw], [vdy, vx])
    F.sink(gdy, gx).forward()
    np.testing.assert_allclose(gdy.d, x @ np.ones((3, 4)), rtol=1e-5)
    np.testing.assert_allclose(gx.d, dy @ np.ones((3, 4)).T, rtol=1e-5)


def test_data_grad_helpers_are_adjoints():
    from nnl.backward_function.concatenate import ConcatenateDataGrad
    from nnl.backward_function.pad import PadDataGrad
    from nnl.backward_function.sum_pooling import SumPoolingDataGrad
    from nnl.backward_function.transpose import TransposeDataGrad

    rng = np.random.RandomState(5)
    cases = [
        (TransposeDataGrad(nn.Context(), (1, 0, 2)), [(2, 3, 4)], lambda v: F.transpose(v, (1, 0, 2))),
        (PadDataGrad(nn.Context(), (1, 2), "constant", 0.0), [(2, 3)], lambda v: F.pad(v, (1, 2))),
        (SumPoolingDataGrad(nn.Context(), (2, 2)), [(1, 1, 4, 4)], lambda v: F.sum_pooling(v, (2, 2))),
        (ConcatenateDataGrad(nn.Context(), 1), [(2, 1), (2, 3)], lambda *v: F.concatenate(*v, axis=1)),
    ]
    for helper, shapes, forward in cases:
        if len(shapes) == 1:
            helper.xshape = shapes[0]
        else:
            helper.xshapes = shapes
        xs = [nn.Variable.from_numpy_array(rng.randn(*s)) for s in shapes]
        y = forward(*xs)
        y.forward()
        dy = rng.randn(*y.shape)
        dxs = helper(nn.Variable.from_numpy_array(dy))
        dxs = list(dxs) if isinstance(dxs, tuple) else [dxs]
        F.sink(*dxs).forward()
        # <f(x), dy> == <x, f^T(dy)>
        left = np.sum(y.d * dy)
        right = sum(np.sum(x.d * d.d) for x, d in zip(xs, dxs))
        np.testing.assert_allclose(left, right, rtol=1e-4)


def test_backward_function_of_a_helper():
    from nnl.backward_function.sum_pooling import SumPoolingDataGrad
    from nnl.backward_functions import registry

    rng = np.random.RandomState(6)
    helper = SumPoolingDataGrad(nn.Context(), (2, 2))
    helper.xshape = (1, 1, 4, 4)
    dy = _var(rng, 1, 1, 2, 2)
    dx = helper(dy)
    g = _var(rng, 1, 1, 4, 4)
    (gdy,) = registry["SumPoolingDataGrad"]([g], [dy], [dy.shape], [dx], [dx.shape], **dx.parent.info.args)
    gdy.forward()
    np.testing.assert_allclose(gdy.d, g.d.reshape(1, 1, 2, 2, 2, 2).sum(axis=(3, 5)), rtol=1e-5)


# -- utils.rnn -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fixed_length_recurrent_graphs_match_the_fused_layers(kind, bidirectional):
    from nnl.utils import rnn

    rng = np.random.RandomState(7)
    T, B, I, H, L = 3, 2, 2, 3, 2  # noqa: E741 (sizes named as in the RNN literature)
    D = 2 if bidirectional else 1
    G = {"rnn": (), "lstm": (4,), "gru": (3,)}[kind]
    GB = {"rnn": (), "lstm": (4,), "gru": (4,)}[kind]
    x, h = _var(rng, T, B, I), _var(rng, L, D, B, H)
    w0, w = _var(rng, D, *G, H, I + H), _var(rng, L - 1, D, *G, H, D * H + H)
    b = _var(rng, L, D, *GB, H)
    if kind == "lstm":
        c = _var(rng, L, D, B, H)
        ref = F.lstm(x, h, c, w0, w, b, num_layers=L, bidirectional=bidirectional)
        got = rnn._create_fixed_length_lstm(x, h, c, w0, w, b, L, D, True)
    elif kind == "gru":
        ref = F.gru(x, h, w0, w, b, num_layers=L, bidirectional=bidirectional)
        got = rnn._create_fixed_length_gru(x, h, w0, w, b, L, D, True)
    else:
        ref = F.rnn(x, h, w0, w, b, num_layers=L, bidirectional=bidirectional)
        got = rnn._create_fixed_length_rnn(x, h, w0, w, b, L, "tanh", D, True)
    F.sink(*ref, *got).forward()
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        np.testing.assert_allclose(g.d, r.d, rtol=1e-5, atol=1e-6)


def test_pad_and_pack_sequences():
    from nnl.utils import rnn

    rng = np.random.RandomState(8)
    arrays = [rng.randn(n, 2).astype(np.float32) for n in (2, 4, 3)]
    seqs = [nn.Variable.from_numpy_array(a) for a in arrays]
    with nn.auto_forward():
        padded = rnn.pad_sequence(seqs, batch_first=True, padding_value=-1.0)
        assert padded.shape == (3, 4, 2)
        np.testing.assert_array_equal(padded.d[0, 2:], -1.0)
        np.testing.assert_array_equal(padded.d[1], arrays[1])
        packed = rnn.pack_sequence(seqs, enforce_sorted=False)
        np.testing.assert_array_equal(packed.batch_sizes.d, [3, 3, 2, 1])
        unpacked, lengths = rnn.pad_packed_sequence(packed)
        np.testing.assert_array_equal(lengths.d, [2, 4, 3])
        np.testing.assert_array_equal(unpacked.d[:, 1], arrays[1])
        np.testing.assert_array_equal(unpacked.d[:2, 0], arrays[0])
