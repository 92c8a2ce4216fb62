"""Cases for nnl/functions/stochastic.py.

Random draws cannot have a NumPy reference; cases check shapes (reference None) or use settings where the
function is deterministic (p=0 dropout, zero shifts, full-size crops, prob=0 erasing, identity augmentation).
Statistics, seeds and gradients of the random settings are tested in tests/test_random_functions.py.
"""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _distinct(shape, scale=1.0):
    """Values with distinct magnitudes (no ties for top-k, even with abs)."""

    def make(rng):
        n = int(np.prod(shape))
        v = (rng.permutation(n) + 1.0) * 0.37 * scale
        sign = np.where(rng.rand(n) < 0.5, -1.0, 1.0)
        return [(v * sign).reshape(shape).astype(np.float32)]

    return make


def _ref_top_k(x, k, abs=False, reduce=True, base_axis=1, largest=True, with_index=False, **kw):  # noqa: A002
    lead = x.shape[:base_axis]
    rows = x.reshape(int(np.prod(lead)), -1)
    ys, ids = [], []
    for r in rows:
        key = np.abs(r) if abs else r
        order = sorted(range(len(r)), key=lambda i: key[i], reverse=largest)[:k]
        if reduce:
            ys.append(r[order])
        else:
            z = np.zeros_like(r)
            z[order] = r[order]
            ys.append(z)
        ids.append(order)
    y = np.array(ys).reshape(lead + (k,) if reduce else x.shape)
    return (y, np.array(ids).reshape(y.shape)) if with_index else y


def _identity(x, **kw):
    return x


def _ref_dropout_p0(x, **kw):
    return x


CASES = [
    Case("Dropout", [(2, 3, 4)], _ref_dropout_p0, args=dict(p=0.0)),
    Case(
        "Dropout",
        [(3, 4)],
        None,
        args=dict(p=0.3, seed=7),
        backward=False,
        name="p0.3",
        errors=[([(3, 4)], dict(p=1.0), "p")],
    ),
    Case("TopKData", _distinct((2, 6)), _ref_top_k, args=dict(k=3)),
    Case(
        "TopKData",
        _distinct((2, 3, 2)),
        _ref_top_k,
        args=dict(k=2, abs=True, largest=False, with_index=True),
        grad_inputs=[0],
        name="abs_smallest_index",
    ),
    Case(
        "TopKData",
        _distinct((2, 5)),
        _ref_top_k,
        args=dict(k=2, reduce=False),
        backward=False,
        name="no_reduce",
        errors=[([(2, 5)], dict(k=6), "k")],
    ),
    Case("TopKGrad", _distinct((2, 5)), _identity, args=dict(k=2), backward=False, errors=[([(2, 5)], dict(k=0), "k")]),
    Case("Rand", [], None, args=dict(low=-1.0, high=2.0, shape=(3, 4), seed=1), backward=False),
    Case(
        "Randint",
        [],
        None,
        args=dict(low=2, high=9, shape=(5,)),
        backward=False,
        errors=[([], dict(low=3, high=3), "high")],
    ),
    Case("Randn", [], None, args=dict(mu=1.0, sigma=2.0, shape=(2, 3)), backward=False),
    Case("RandBinomial", [], None, args=dict(n=4, p=0.3, shape=(6,)), backward=False),
    Case("RandBeta", [], None, args=dict(alpha=2.0, beta=3.0, shape=(6,)), backward=False),
    Case("RandGamma", [], None, args=dict(k=2.0, theta=0.5, shape=(6,)), backward=False),
    Case(
        "RandomChoice",
        lambda rng: [rng.randn(2, 5).astype(np.float32), rng.rand(2, 5).astype(np.float32)],
        None,
        args=dict(shape=(3,)),
        backward=False,
        errors=[([(2, 5), (2, 4)], {}, "w")],
    ),
    Case("RandomCrop", [(2, 3, 4)], _identity, name="full"),
    Case(
        "RandomCrop",
        [(2, 3, 4)],
        None,
        args=dict(shape=(2, 3)),
        backward=False,
        name="crop",
        errors=[([(2, 3, 4)], dict(shape=(4, 4)), "shape")],
    ),
    Case("RandomFlip", [(2, 3, 4)], None, args=dict(axes=(1, 2)), backward=False),
    Case(
        "RandomShift",
        [(2, 3, 4)],
        _identity,
        args=dict(shifts=(0, 0)),
        errors=[([(2, 3, 4)], dict(border_mode="wrap"), "border_mode")],
    ),
    Case(
        "RandomShift",
        [(2, 3, 4)],
        None,
        args=dict(shifts=(1, 2), border_mode="constant", constant_value=-1.0),
        backward=False,
        name="constant",
    ),
    Case("RandomErase", [(2, 2, 3, 4)], _identity, args=dict(prob=0.0), errors=[([(2, 3, 4)], {}, "x")]),
    Case("RandomErase", [(2, 2, 3, 4)], None, args=dict(prob=1.0, share=False, n=2), backward=False, name="erase"),
    Case(
        "ImageAugmentation",
        [(2, 3, 4, 5)],
        _identity,
        backward=False,
        errors=[([(2, 3, 4, 5)], dict(pad=(1, 1, 1)), "pad")],
    ),
    Case(
        "ImageAugmentation",
        [(2, 3, 6, 6)],
        None,
        args=dict(
            shape=(4, 5),
            pad=(1, 1),
            min_scale=0.8,
            max_scale=1.2,
            angle=0.3,
            aspect_ratio=1.2,
            distortion=0.2,
            flip_lr=True,
            flip_ud=True,
            brightness=0.1,
            brightness_each=True,
            contrast=1.2,
            contrast_center=0.5,
            contrast_each=True,
            noise=0.05,
            seed=3,
        ),
        backward=False,
        name="all_args",
    ),
]
