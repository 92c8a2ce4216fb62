"""Random and stochastic functions: distributions (moments within tolerance), shapes, ranges, seeds,
recomputation, and the gradients of the random transformations (checked against their forward)."""

from __future__ import annotations

import numpy as np
import pytest

import nnl
import nnl.functions as F


def V(a, need_grad=False):
    return nnl.Variable.from_numpy_array(np.asarray(a, np.float32), need_grad=need_grad)


def draw(fn, **kw):
    y = fn(**kw)
    y.forward()
    return y.d.copy()


# -- generators ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn, kw, mean, std",
    [
        (F.rand, dict(low=-2.0, high=4.0), 1.0, 6 / np.sqrt(12)),
        (F.randn, dict(mu=3.0, sigma=0.5), 3.0, 0.5),
        (F.rand_binomial, dict(n=5, p=0.3), 1.5, np.sqrt(5 * 0.3 * 0.7)),
        (F.rand_beta, dict(alpha=2.0, beta=5.0), 2 / 7, np.sqrt(10 / (49 * 8))),
        (F.rand_gamma, dict(k=3.0, theta=2.0), 6.0, np.sqrt(12.0)),
        (F.randint, dict(low=-3, high=7), 1.5, np.sqrt((10**2 - 1) / 12)),
    ],
)
def test_generator_moments(fn, kw, mean, std):
    d = draw(fn, shape=[200, 200], **kw)
    assert d.shape == (200, 200)
    assert abs(d.mean() - mean) < 0.03 * max(std, 1)
    assert abs(d.std() - std) < 0.03 * max(std, 1)


def test_generator_ranges_dtypes_and_scalar_shape():
    r = draw(F.rand, low=0.1, high=0.11, shape=[1000])
    assert r.dtype == np.float32 and r.min() >= 0.1 and r.max() <= 0.11
    i = draw(F.randint, low=101, high=103, shape=[1000])
    assert i.dtype == np.int32 and set(np.unique(i)) == {101, 102}
    assert draw(F.randn, shape=[]).shape == ()
    b = draw(F.rand_binomial, n=3, p=0.5, shape=[1000])
    assert set(np.unique(b)) <= {0.0, 1.0, 2.0, 3.0}
    assert 0 <= draw(F.rand_beta, shape=[100]).min() and draw(F.rand_beta, shape=[100]).max() <= 1
    assert draw(F.rand_gamma, shape=[100]).min() > 0


def test_seed_argument_reproduces_and_advances():
    a = F.rand(shape=[5], seed=42)
    b = F.rand(shape=[5], seed=42)
    a.forward()
    b.forward()
    np.testing.assert_array_equal(a.d, b.d)
    first = a.d.copy()
    a.forward()  # like nnabla: the function's generator advances, the next draw differs
    assert not np.array_equal(first, a.d)


def test_nn_seed_reproduces_global_draws():
    nnl.seed(123)
    a = draw(F.randn, shape=[6])
    d1 = F.dropout(V(np.ones(20)), 0.5)
    d1.forward()
    nnl.seed(123)
    b = draw(F.randn, shape=[6])
    d2 = F.dropout(V(np.ones(20)), 0.5)
    d2.forward()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d1.d, d2.d)


@pytest.mark.parametrize("seed", [-1, 7])
def test_recompute_replays_the_draw(seed):
    for y in (
        F.rand(shape=[4, 3], seed=seed),
        F.dropout(V(np.ones((4, 3))), 0.5, seed),
        F.random_flip(V(np.arange(12).reshape(3, 4)), seed=seed),
        F.image_augmentation(V(np.random.rand(2, 1, 5, 5)), angle=0.5, noise=0.1, seed=seed),
    ):
        f = y.parent
        f.setup_recompute(f.inputs, [y])
        f.forward(f.inputs, [y])
        first = y.d.copy()
        y.data.clear()
        f.recompute(f.inputs, [y])
        np.testing.assert_array_equal(y.d, first)


# -- dropout --------------------------------------------------------------------------------------------------------
def test_dropout_statistics_scale_and_mask_in_backward():
    x = V(np.random.RandomState(0).rand(100, 100) + 0.5, True)
    y = F.dropout(x, p=0.3, seed=5)
    y.forward()
    kept = y.d != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.d[kept], x.d[kept] / 0.7, rtol=1e-6)
    dy = np.random.RandomState(1).randn(100, 100).astype(np.float32)
    x.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, dy * kept / 0.7, rtol=1e-6)


def test_dropout_gradient_matches_finite_differences_for_a_fixed_mask():
    rng = np.random.RandomState(2)
    x = V(rng.randn(3, 4), True)
    y = F.dropout(x, p=0.4, seed=1)
    y.forward()
    f = y.parent
    mask = f._mask
    dy = rng.randn(3, 4)
    x.grad.zero()
    y.backward(dy.astype(np.float32))
    # with the mask fixed, y = x * mask is linear: d<y, dy>/dx = dy * mask
    num = np.zeros((3, 4))
    for idx in np.ndindex(3, 4):
        e = np.zeros((3, 4))
        e[idx] = 1e-3
        num[idx] = (np.sum((x.d + e) * mask * dy) - np.sum((x.d - e) * mask * dy)) / 2e-3
    np.testing.assert_allclose(x.g, num, rtol=1e-3, atol=1e-4)


def test_dropout_p_out_of_range():
    with pytest.raises(ValueError, match="Dropout"):
        F.dropout(V(np.ones(3)), 1.0)


# -- linear random transformations: backward is the transpose of the last forward ------------------------------
def _adjoint_check(y, x, rng):
    dy = rng.randn(*y.shape)
    x.grad.zero()
    y.backward(dy.astype(np.float32))
    # <A x, dy> == <x, A^T dy>, up to float32 rounding of the gradient, which scales with the size of the terms and
    # not with the sum: a sum that cancels to near 0 must not turn that rounding into a large relative error
    scale = np.sum(np.abs(y.d * dy))
    assert abs(np.sum(y.d * dy) - np.sum(x.d * x.g)) <= 1e-6 * scale


def test_random_crop_windows_and_adjoint():
    rng = np.random.RandomState(3)
    x = V(rng.randn(5, 2, 6, 7), True)
    y = F.random_crop(x, (3, 4))
    y.forward()
    assert y.shape == (5, 2, 3, 4)
    starts = set()
    for s in range(5):
        found = [(i, j) for i in range(4) for j in range(4) if np.array_equal(x.d[s, :, i : i + 3, j : j + 4], y.d[s])]
        assert found, "each sample is a window of the input"
        starts.add(found[0])
    _adjoint_check(y, x, rng)
    assert np.count_nonzero(x.g) == y.size


def test_random_flip_per_sample_and_adjoint():
    rng = np.random.RandomState(4)
    x = V(rng.randn(64, 3, 4), True)
    y = F.random_flip(x, axes=[2])
    y.forward()
    flipped = np.array([np.array_equal(y.d[s], x.d[s, :, ::-1]) for s in range(64)])
    same = np.array([np.array_equal(y.d[s], x.d[s]) for s in range(64)])
    assert np.all(flipped | same)
    assert 15 < flipped.sum() < 49
    _adjoint_check(y, x, rng)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "constant"])
def test_random_shift_matches_scipy_and_adjoint(mode):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.RandomState(5)
    x = V(rng.randn(6, 5, 7), True)
    y = F.random_shift(x, (1, 2), border_mode=mode, constant_value=-3.0)
    y.forward()
    for s in range(6):
        ok = any(
            np.allclose(y.d[s], ndimage.shift(x.d[s], (a, b), mode=mode, cval=-3.0, order=0))
            for a in range(-1, 2)
            for b in range(-2, 3)
        )
        assert ok
    if mode != "constant":
        _adjoint_check(y, x, rng)
    else:  # the constant part does not depend on x
        dy = rng.randn(*y.shape)
        x.grad.zero()
        y.backward(dy.astype(np.float32))
        inside = y.d != -3.0
        scale = np.sum(np.abs(y.d * dy * inside))
        assert abs(np.sum(y.d * dy * inside) - np.sum(x.d * x.g)) <= 1e-6 * scale


def test_random_erase_values_fraction_and_gradient():
    rng = np.random.RandomState(6)
    x = V(np.full((50, 3, 16, 16), -1.0), True)
    y = F.random_erase(x, prob=0.5, replacements=(2.0, 3.0), seed=3)
    y.forward()
    erased = y.d != -1.0
    assert np.all((y.d[erased] >= 2.0) & (y.d[erased] <= 3.0))
    per_sample = erased.reshape(50, -1).any(1)
    assert 10 < per_sample.sum() < 40
    # share=True: the same patch in every channel
    np.testing.assert_array_equal(erased[:, 0], erased[:, 1])
    dy = rng.randn(*y.shape).astype(np.float32)
    x.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, np.where(erased, 0, dy))
    y2 = F.random_erase(x, prob=1.0, share=False, ste_fine_grained=False, seed=1)
    y2.forward()
    e2 = y2.d != -1.0
    assert not np.array_equal(e2[:, 0], e2[:, 1])
    x.grad.zero()
    y2.backward(dy)
    np.testing.assert_allclose(x.g, dy)


def test_random_choice_frequencies_without_replacement_and_gradient():
    x = V(np.array([[10.0, 20.0, 30.0, 40.0]]), True)
    w = V(np.array([[1.0, 0.0, 3.0, 6.0]]), True)
    y = F.random_choice(x, w, shape=[20000], seed=1)
    y.forward()
    freq = np.array([(y.d == v).mean() for v in (10, 20, 30, 40)])
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.02)
    dy = np.ones(y.shape, np.float32)
    x.grad.zero()
    w.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g[0], [(y.d == v).sum() for v in (10, 20, 30, 40)])
    np.testing.assert_allclose(w.g, x.g)
    z = F.random_choice(V(np.arange(12).reshape(2, 6)), V(np.ones((2, 6))), shape=[6], replace=False)
    z.forward()
    for row, src in zip(z.d, np.arange(12).reshape(2, 6)):
        assert sorted(row) == sorted(src)


# -- top-k --------------------------------------------------------------------------------------------------------
def test_top_k_data_no_reduce_passes_full_gradient_and_top_k_grad_selects():
    rng = np.random.RandomState(7)
    x = V(rng.permutation(12).reshape(2, 6) - 5.5, True)
    y = F.top_k_data(x, 2, reduce=False)
    y.forward()
    assert np.count_nonzero(y.d) == 4
    dy = rng.randn(2, 6).astype(np.float32)
    x.grad.zero()
    y.backward(dy)
    np.testing.assert_allclose(x.g, dy)  # nnabla passes the whole gradient when reduce=False

    y = F.top_k_grad(x, 2, abs=True)
    y.forward()
    np.testing.assert_array_equal(y.d, x.d)
    x.grad.zero()
    y.backward(dy)
    for r in range(2):
        keep = np.argsort(-np.abs(dy[r]))[:2]
        expected = np.zeros(6, np.float32)
        expected[keep] = dy[r, keep]
        np.testing.assert_allclose(x.g[r], expected)


def test_top_k_data_with_index():
    x = V(np.array([[3.0, -7.0, 5.0, 1.0]]))
    y, idx = F.top_k_data(x, 2, abs=True, with_index=True)
    F.sink(y, idx).forward()
    np.testing.assert_array_equal(y.d, [[-7.0, 5.0]])
    np.testing.assert_array_equal(idx.d, [[1, 2]])


# -- image augmentation ----------------------------------------------------------------------------------------------
def test_image_augmentation_identity_and_flip():
    rng = np.random.RandomState(8)
    x = V(rng.rand(4, 3, 6, 7))
    y = F.image_augmentation(x)
    y.forward()
    np.testing.assert_allclose(y.d, x.d, atol=1e-6)
    y = F.image_augmentation(x, flip_lr=True, seed=0)
    y.forward()
    for s in range(4):
        assert np.allclose(y.d[s], x.d[s], atol=1e-5) or np.allclose(y.d[s], x.d[s, :, :, ::-1], atol=1e-5)


def test_image_augmentation_photometric_ranges():
    x = V(np.full((200, 2, 4, 4), 0.5))
    y = F.image_augmentation(x, brightness=0.2, seed=1)
    y.forward()
    shift = y.d[:, 0, 0, 0] - 0.5
    assert shift.min() >= -0.2 - 1e-6 and shift.max() <= 0.2 + 1e-6 and shift.std() > 0.05
    np.testing.assert_allclose(y.d, y.d[:, :1, :1, :1] * np.ones_like(y.d), atol=1e-6)  # one shift per image
    y = F.image_augmentation(x, contrast=2.0, contrast_center=0.25, contrast_each=True, seed=2)
    y.forward()
    gain = (y.d[:, :, 0, 0] - 0.25) / 0.25
    assert gain.min() >= 0.5 - 1e-5 and gain.max() <= 2.0 + 1e-5
    assert not np.allclose(gain[:, 0], gain[:, 1])  # per channel
    y = F.image_augmentation(x, noise=0.1, seed=3)
    y.forward()
    assert 0.01 < (y.d - 0.5).std() < 0.1


def test_image_augmentation_geometry_shape_and_range():
    rng = np.random.RandomState(9)
    x = V(rng.rand(8, 3, 10, 10))
    y = F.image_augmentation(
        x,
        shape=(3, 6, 5),
        pad=(2, 2),
        min_scale=0.7,
        max_scale=1.3,
        angle=0.5,
        aspect_ratio=1.3,
        distortion=0.2,
        flip_ud=True,
        seed=4,
    )
    y.forward()
    assert y.shape == (8, 3, 6, 5)
    # bilinear resampling with clamped coordinates stays inside the input's range
    assert y.d.min() >= x.d.min() - 1e-6 and y.d.max() <= x.d.max() + 1e-6
