"""Variable / NdArray indexing (``x[key]``) against NumPy, its gradients, and behaviours of the array functions
that the generic case tester cannot express (side effects, data-dependent shapes, second-order gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F


class _Keys:
    def __getitem__(self, key):
        return key


K = _Keys()


X_SHAPE = (4, 5, 6)

BASIC_KEYS = [
    pytest.param("1", id="int"),
    pytest.param("-1", id="negative_int"),
    pytest.param("1:3", id="slice"),
    pytest.param("::2", id="step"),
    pytest.param("3:0:-2", id="negative_step"),
    pytest.param("-1:-4:-1, 1:5:3", id="negative_bounds"),
    pytest.param("..., 2", id="ellipsis_int"),
    pytest.param("None", id="newaxis"),
    pytest.param(":, None, 2", id="slice_newaxis_int"),
    pytest.param("..., None", id="ellipsis_newaxis"),
    pytest.param("1, :, 4", id="two_ints"),
    pytest.param("10:20", id="empty"),
    pytest.param("-10:2", id="clipped_start"),
    pytest.param(":, 1:-1, 1:-1", id="crop"),
    pytest.param("::-1", id="reverse"),
    pytest.param(":, ::-1, ::-2", id="reverse_two_axes"),
    pytest.param("1, ..., ::-2", id="int_ellipsis_reverse"),
    pytest.param(":, -1:-7:-1, 5:-7:-2", id="negative_past_start"),
]

ADVANCED_KEYS = [
    pytest.param("[0, 2, 3]", id="list"),
    pytest.param("[3, 0, 3]", id="repeated"),
    pytest.param("np.array([3, 1])", id="array"),
    pytest.param("[0, 2], [1, 4]", id="two_lists"),
    pytest.param("1, [0, 2]", id="int_list"),
    pytest.param("[[0, 1], [3, 2]]", id="2d_index"),
    pytest.param("x_np > 0.5", id="full_mask"),
    pytest.param("(x_np > 0.5).sum(2) > 2", id="leading_mask"),
    pytest.param("[True, False, True, True]", id="bool_list"),
    pytest.param(":, [1, 3]", id="slice_list"),
    pytest.param("[1, 2], :, [0, 5]", id="list_slice_list"),
    pytest.param("None, [1, 2]", id="newaxis_list"),
    pytest.param("[1, 2], None", id="list_newaxis"),
    pytest.param("..., [0, 5]", id="ellipsis_list"),
    pytest.param("x_np > 0.5, None", id="mask_newaxis"),
    pytest.param("np.array(2)", id="zero_d_array"),
]


def _key(text, x_np):
    return eval(f"K[{text}]", {"K": K, "np": np, "x_np": x_np})


def _reference_grad(x_np, key, g):
    """Scatter-add ``g`` back through ``x[key]`` using flat element numbers picked by NumPy."""
    flat = np.arange(x_np.size).reshape(x_np.shape)[key]
    out = np.zeros(x_np.size)
    np.add.at(out, flat.ravel(), g.ravel())
    return out.reshape(x_np.shape)


@pytest.mark.parametrize("text", BASIC_KEYS + ADVANCED_KEYS)
def test_getitem_forward_dynamic(text):
    rng = np.random.RandomState(0)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    with nnl.auto_forward():
        y = nnl.Variable.from_numpy_array(x_np)[key]
    expected = x_np[key]
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.d, expected)


@pytest.mark.parametrize("text", BASIC_KEYS + ADVANCED_KEYS)
def test_getitem_forward_static_and_new_data(text):
    rng = np.random.RandomState(1)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    x = nnl.Variable.from_numpy_array(x_np)
    y = x[key]
    y.forward()
    np.testing.assert_array_equal(y.d, x_np[key])
    if "x_np" not in text:  # a mask is data: the same key on new data of a static graph
        x.d = x_np * 2
        y.forward()
        np.testing.assert_allclose(y.d, (x_np * 2)[key])


@pytest.mark.parametrize("text", BASIC_KEYS + ADVANCED_KEYS)
def test_getitem_ndarray(text):
    rng = np.random.RandomState(2)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    y = nnl.NdArray.from_numpy_array(x_np)[key]
    assert isinstance(y, nnl.NdArray)
    np.testing.assert_array_equal(y.data, x_np[key])


@pytest.mark.parametrize("text", BASIC_KEYS + ADVANCED_KEYS)
def test_getitem_gradient(text):
    rng = np.random.RandomState(3)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    x = nnl.Variable.from_numpy_array(x_np, need_grad=True)
    y = x[key]
    g = rng.randn(*y.shape).astype(np.float32)
    y.forward()
    x.grad.zero()
    y.backward(g)
    np.testing.assert_allclose(x.g, _reference_grad(x_np, key, g), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("text", ["1:3, ::2", "..., 1", "None, 2:", "[0, 2, 2]", "x_np > 0.5", "::-1, 1"])
def test_getitem_nn_grad_matches_backward(text):
    rng = np.random.RandomState(4)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    with nnl.auto_forward():
        x = nnl.Variable.from_numpy_array(x_np, need_grad=True)
        y = x[key]
        g = rng.randn(*y.shape).astype(np.float32)
        (gx,) = nnl.grad([y], [x], grad_outputs=[nnl.Variable.from_numpy_array(g)])
    np.testing.assert_allclose(gx.d, _reference_grad(x_np, key, g), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("text", ["0", "1:3", "::2, 1:4", "..., 3", "[1, 3]", "x_np > 0.5"])
def test_setitem_like_numpy(text):
    rng = np.random.RandomState(5)
    x_np = rng.rand(*X_SHAPE).astype(np.float32)
    key = _key(text, x_np)
    x = nnl.Variable.from_numpy_array(x_np)
    value = rng.rand(*x_np[key].shape).astype(np.float32)
    x[key] = value
    x_np[key] = value
    np.testing.assert_array_equal(x.d, x_np)


def test_index_variable_stays_a_graph_input():
    rng = np.random.RandomState(9)
    x_np = rng.rand(20).astype(np.float32)
    i_np = rng.randint(0, 20, size=10)
    index = nnl.Variable.from_numpy_array(i_np)
    y = nnl.Variable.from_numpy_array(x_np)[index]
    y.forward()
    np.testing.assert_array_equal(y.d, x_np[i_np])
    i_np = rng.randint(0, 20, size=10)
    index.d = i_np
    y.forward()
    np.testing.assert_array_equal(y.d, x_np[i_np])


@pytest.mark.parametrize(
    "key", [(slice(2, 5), slice(3, 5)), ([[2, 2], [3, 3], [4, 4]], [[3, 4], [3, 4], [3, 4]])], ids=["slices", "arrays"]
)
def test_setitem_on_intermediate_variable_joins_the_graph(key):
    """nnabla: ``y[key] = u`` makes y the output of ScatterNd(u, key, out=<old y>); later functions see it."""
    x = nnl.Variable.from_numpy_array(np.arange(56, dtype=np.float32).reshape(8, 7), need_grad=True)
    u = nnl.Variable.from_numpy_array(-np.arange(1, 7, dtype=np.float32).reshape(3, 2), need_grad=True)
    y = F.mul_scalar(x, 1.0)
    y[key] = u
    z = F.add_scalar(y, 0.0)
    z.forward()
    expected = np.arange(56, dtype=np.float32).reshape(8, 7)
    expected[2:5, 3:5] = u.d
    np.testing.assert_array_equal(z.d, expected)
    x.grad.zero()
    u.grad.zero()
    g = np.arange(1, 57, dtype=np.float32).reshape(8, 7)
    z.backward(g)
    gx = g.copy()
    gx[2:5, 3:5] = 0
    np.testing.assert_array_equal(x.g, gx)
    np.testing.assert_array_equal(u.g, g[2:5, 3:5])


def test_getitem_errors():
    x = nnl.Variable((3, 4))
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[0, 0, 0]


# -- second-order gradients through the linear array functions -------------------------------------------------
LINEAR_OPS = [
    ("slice", lambda v: F.slice(v, (0, 1, 0), (3, 5, 6), (1, 2, 1))),
    ("slice_negative_step", lambda v: F.slice(v, (3, 4, 5), (None, 0, None), (-2, -1, -3))),
    ("pad", lambda v: F.pad(v, (1, 2, 0, 1), "constant", 0.5)),
    ("transpose", lambda v: F.transpose(v, (2, 0, 1))),
    ("concatenate", lambda v: F.concatenate(v, F.mul_scalar(v, 2.0), axis=1)),
    ("split", lambda v: F.concatenate(*F.split(v, axis=2)[::2], axis=1)),
    ("stack", lambda v: F.stack(v, F.mul_scalar(v, -1.0), axis=1)),
    ("tile", lambda v: F.tile(v, (1, 2, 1))),
    ("flip", lambda v: F.flip(v, (0, 2))),
    ("broadcast", lambda v: F.broadcast(F.reshape(v, (1, 4, 5, 6)), (2, 4, 5, 6))),
    ("reshape", lambda v: F.reshape(v, (20, 6))),
    ("gather", lambda v: F.gather(v, nnl.Variable.from_numpy_array(np.array([[1, 1], [0, 4]])), axis=1)),
    ("gather_nd", lambda v: F.gather_nd(v, [[0, 3, 3], [1, 1, 2]])),
    ("matrix_diag_part", lambda v: F.matrix_diag_part(F.slice(v, (0, 0, 0), (4, 5, 5), (1, 1, 1)))),
    ("trilu", lambda v: F.trilu(v, 1, False)),
]


@pytest.mark.parametrize("name, op", LINEAR_OPS, ids=[n for n, _ in LINEAR_OPS])
def test_double_backward_linear(name, op):
    """For a linear A, z = sum(c * (A x)^2) has grad g(x) = 2 A^T (c * A x), and d/dx sum(w * g(x)) = g(w)."""
    rng = np.random.RandomState(6)
    x_np, w_np = rng.randn(*X_SHAPE).astype(np.float32), rng.randn(*X_SHAPE).astype(np.float32)
    with nnl.auto_forward():
        x = nnl.Variable.from_numpy_array(x_np, need_grad=True)
        ax = op(x)
        c = nnl.Variable.from_numpy_array(rng.rand(*ax.shape).astype(np.float32))
        z = F.sum(c * ax * ax)
        (g,) = nnl.grad([z], [x])
        w = nnl.Variable.from_numpy_array(w_np)
        (h,) = nnl.grad([F.sum(g * w)], [x])
        xw = nnl.Variable.from_numpy_array(w_np, need_grad=True)
        aw = op(xw)
        (g_at_w,) = nnl.grad([F.sum(c * aw * aw)], [xw])
    np.testing.assert_allclose(h.d, g_at_w.d, rtol=1e-4, atol=1e-4)


# -- behaviours outside the generic tester ----------------------------------------------------------------------
def test_assign_writes_dst_and_passes_gradient_to_dst():
    dst = nnl.Variable.from_numpy_array(np.zeros((2, 3), np.float32), need_grad=True)
    src = nnl.Variable.from_numpy_array(np.arange(6, dtype=np.float32).reshape(2, 3), need_grad=True)
    y = F.assign(dst, src)
    y.forward()
    np.testing.assert_array_equal(dst.d, src.d)
    np.testing.assert_array_equal(y.d, src.d)
    dst.grad.zero()
    src.grad.zero()
    y.backward(np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(dst.g, 2.0)
    np.testing.assert_array_equal(src.g, 0.0)


def test_split_returns_tuple_and_single_variable():
    x = nnl.Variable((2, 3, 1))
    parts = F.split(x, axis=1)
    assert isinstance(parts, tuple) and len(parts) == 3 and parts[0].shape == (2, 1)
    single = F.split(x, axis=2)
    assert isinstance(single, nnl.Variable) and single.shape == (2, 3)


def test_validation_errors_are_runtime_errors_like_nnabla():
    with pytest.raises(RuntimeError):
        F.concatenate(nnl.Variable(()), nnl.Variable(()), axis=0)
    with pytest.raises(RuntimeError):
        F.split(nnl.Variable((1, 6, 0)), axis=1)
    with pytest.raises(ValueError):
        F.one_hot(nnl.Variable((4, 2)), (3,))


def test_data_dependent_shapes_follow_new_data():
    x = nnl.Variable.from_numpy_array(np.arange(12, dtype=np.float32).reshape(4, 3))
    mask = nnl.Variable.from_numpy_array(np.array([1, 0, 1, 0]))
    y = F.bool_gather(x, mask)
    n = F.nonzero(mask)
    y.forward()
    n.forward()
    assert y.shape == (2, 3) and n.shape == (1, 2)
    mask.d = [1, 1, 1, 0]
    y.forward()
    n.forward()
    assert y.shape == (3, 3) and y.d.shape == (3, 3)
    np.testing.assert_array_equal(y.d, x.d[:3])
    np.testing.assert_array_equal(n.d, [[0, 1, 2]])


def test_sort_ties_are_stable_like_nnabla():
    with nnl.auto_forward():
        x = nnl.Variable.from_numpy_array(np.array([2, 3, 3, 4, 2], np.float32))
        y, i = F.sort(x, with_index=True)
        assert list(y.d) == [2, 2, 3, 3, 4] and list(i.d) == [0, 4, 1, 2, 3]
        y, i = F.sort(x, reverse=True, with_index=True)
        assert list(y.d) == [4, 3, 3, 2, 2] and list(i.d) == [3, 1, 2, 0, 4]


def test_scatter_nd_out_is_updated_in_place():
    out = nnl.Variable.from_numpy_array(np.ones((2, 3), np.float32))
    with nnl.auto_forward():
        y = F.scatter_nd(nnl.Variable.from_numpy_array(np.array([5.0, 7.0], np.float32)), [[0, 1], [2, 0]], out=out)
    expected = np.ones((2, 3))
    expected[0, 2], expected[1, 0] = 5, 7
    np.testing.assert_array_equal(y.d, expected)
    np.testing.assert_array_equal(out.d, expected)


def test_stft_istft_round_trip_and_nola():
    rng = np.random.RandomState(7)
    x = nnl.Variable.from_numpy_array(rng.randn(2, 64).astype(np.float32))
    with nnl.auto_forward():
        yr, yi = F.stft(x, 16, 4, 16)
        z = F.istft(yr, yi, 16, 4, 16, pad_mode="constant")
    np.testing.assert_allclose(z.d, x.d, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"NOLA\(Nonzero Overlap Add\) condition is not met."):
        F.istft(yr, yi, 8, 16, 16, center=False, pad_mode="constant")


def test_fft_ifft_round_trip():
    rng = np.random.RandomState(8)
    x = nnl.Variable.from_numpy_array(rng.randn(2, 4, 3, 2).astype(np.float32))
    with nnl.auto_forward():
        z = F.ifft(F.fft(x, 2, normalized=True), 2, normalized=True)
    np.testing.assert_allclose(z.d, x.d, atol=1e-5)


def test_interpolate_wrapper_defaults():
    x = nnl.Variable((1, 2, 3, 4))
    y = F.interpolate(x, scale=(2, 1.5))
    assert y.shape == (1, 2, 6, 6)
    assert y.parent.info.args["align_corners"] is False and y.parent.info.args["mode"] == "linear"
    with pytest.raises(ValueError):
        F.interpolate(x)
