"""Stochasticity: dropout, top-k selection, random number generators and random data augmentation.

Random functions draw from ``self.rng()``: a generator seeded by the function's ``seed`` argument (created once
per function object, like nnabla's setup), or the global generator re-seeded by ``nn.seed`` when ``seed == -1``.
Every random draw is vectorised over the batch (one call per parameter, no per-sample Python loop).
``setup_recompute`` + ``recompute`` replay the last draw exactly (nnabla's recomputation protocol).

Randomised per-sample transformations (crop, flip, shift, erase) are linear in ``x`` for a given draw;
their backward applies the transpose of the last forward's transformation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.core.function import Bool, Double, Float, Floats, Function, Int64, Ints, Shape, String
from nnl.functions._helpers import normalize_axes, normalize_axis
from nnl.functions.registry import api


class _Random(Function):
    """Base of the random functions: a replayable generator."""

    grad_depends_input = False

    def _gen(self) -> np.random.RandomState:
        replay = self.__dict__.get("_replay")
        if replay is not None:
            return replay
        rng = self.rng()
        if self.__dict__.get("_save_rng"):
            self._saved_state = rng.get_state()
        return rng

    def need_setup_recompute(self, o: int) -> bool:
        return True

    def setup_recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        self._save_rng = True

    def recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        state = self.__dict__.get("_saved_state")
        if state is None:
            self.forward(inputs, outputs)
            return
        replay = np.random.RandomState()
        replay.set_state(state)
        self._replay = replay
        try:
            self.forward(inputs, outputs)
        finally:
            self._replay = None


def _fast(rng: np.random.RandomState) -> np.random.Generator:
    """A fast generator (PCG64) seeded from ``rng``: bulk float32 draws stay reproducible by ``rng``'s state."""
    return np.random.default_rng(rng.randint(0, 2**31 - 1, size=4))


def _unit(rng: np.random.RandomState, size: Any) -> np.ndarray:
    """nnabla's augmentation draws ``(rgen() % 1001) * 0.001``: uniform on the grid {0, 0.001, ..., 1}."""
    return rng.randint(0, 1001, size=size) * 0.001


def _batch_param_shape(shape: tuple[int, ...], base_axis: int) -> tuple[int, ...]:
    """Per-sample parameters broadcast against x: the batch dims, then 1s."""
    return tuple(shape[:base_axis]) + (1,) * (len(shape) - base_axis)


def _axis_index(n: int, axis: int, ndim: int) -> np.ndarray:
    """``arange(n)`` laid along ``axis`` of an ``ndim``-dimensional broadcast index."""
    shape = [1] * ndim
    shape[axis] = n
    return np.arange(n).reshape(shape)


def _scatter_add(size: int, lin: np.ndarray, weights: np.ndarray, dtype: Any) -> np.ndarray:
    """``out[lin[i]] += weights[i]`` over a flat buffer of ``size`` (np.bincount, fast)."""
    lin, weights = np.broadcast_arrays(lin, weights)
    return np.bincount(lin.ravel(), weights=weights.ravel(), minlength=size).astype(dtype, copy=False)


def _linear_index(indices: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    strides = np.cumprod((1,) + tuple(shape[::-1]))[:-1][::-1]
    lin = 0
    for idx, st in zip(indices, strides):
        lin = lin + idx * int(st)
    return np.asarray(lin)


# ---------------------------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------------------------
class Dropout(_Random):
    """Zero each element with probability ``p`` and scale the kept ones by ``1 / (1 - p)``.

    The mask of the last forward is reused by backward (``dx = dy * mask / (1 - p)``). With ``seed >= 0`` the
    function owns a generator seeded once (successive forwards draw different masks, reproducibly).
    """

    p: Double = 0.5
    seed: Int64 = -1
    grad_depends_output = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not 0.0 <= self.p < 1.0:
            raise self.fail("p", "0 <= p < 1", self.p)
        return [tuple(inputs[0].shape)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        p = float(self.p)
        if p == 0.0:
            mask = np.ones(data.shape, data.dtype)
        else:
            keep = _fast(self._gen()).random(data.shape, dtype=np.float32) < (1.0 - p)
            mask = keep.astype(data.dtype)
            mask *= 1.0 / (1.0 - p)
        self._mask = mask
        return [data * mask]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        mask = self.__dict__.get("_mask")
        if mask is None or mask.shape != dy[0].shape:
            raise RuntimeError("Dropout: backward needs the mask of a forward with the same shape; call forward first.")
        return [dy[0] * mask]


@api(Dropout)
def dropout(x: Any, p: float = 0.5, seed: int = -1, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Dropout(p, seed)(x, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# Top-k
# ---------------------------------------------------------------------------------------------------------------
def _top_k_indices(rows: np.ndarray, k: int, use_abs: bool, largest: bool) -> np.ndarray:
    """Indices of the k largest (or smallest) entries of each row, ordered from the most extreme."""
    key = np.abs(rows) if use_abs else rows
    if largest:
        key = -key
    n = rows.shape[1]
    if k < n:
        part = np.argpartition(key, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), rows.shape).copy()
    order = np.argsort(np.take_along_axis(key, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class TopKData(Function):
    """Select the ``k`` largest (``largest``) or smallest values per sample (axes from ``base_axis`` flattened).

    ``reduce=True``: output shape ``x.shape[:base_axis] + (k,)`` with the values sorted from the most extreme;
    ``with_index`` adds their flat indices within the sample as a second (int64) output. ``reduce=False``: the
    output has x's shape with every non-selected element zero; its backward passes ``dy`` unchanged (nnabla).
    """

    output_names = ("y", "*indices")
    k: Int64 = None
    abs: Bool = False  # noqa: A003 (nnabla's argument name)
    reduce: Bool = True
    base_axis: Int64 = 1
    largest: Bool = True
    with_index: Bool = False
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), len(shape), "base_axis") if shape else 0
        sample = int(np.prod(shape[self.base_axis :], dtype=np.int64))
        if self.k is None or not 1 <= int(self.k) <= sample:
            raise self.fail(
                "k", f"1 <= k <= {sample} (the sample size of x.shape={shape} from base_axis={self.base_axis})", self.k
            )
        if self.with_index and not self.reduce:
            raise self.fail("reduce", "True when with_index=True", self.reduce)
        y_shape = shape[: self.base_axis] + (int(self.k),) if self.reduce else shape
        return [y_shape, y_shape] if self.with_index else [y_shape]

    def _indices(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = data.reshape(int(np.prod(data.shape[: self.base_axis], dtype=np.int64)), -1)
        return rows, _top_k_indices(rows, int(self.k), bool(self.abs), bool(self.largest))

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        rows, idx = self._indices(data)
        if self.reduce:
            y = np.take_along_axis(rows, idx, axis=1).reshape(data.shape[: self.base_axis] + (int(self.k),))
        else:
            out = np.zeros_like(rows)
            np.put_along_axis(out, idx, np.take_along_axis(rows, idx, axis=1), axis=1)
            y = out.reshape(data.shape)
        if self.with_index:
            return [y, idx.astype(np.int64).reshape(y.shape)]
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None]
        if not self.reduce:
            return [dy[0].copy()]
        rows, idx = self._indices(x[0])
        dx = np.zeros(rows.shape, dy[0].dtype)
        np.put_along_axis(dx, idx, dy[0].reshape(idx.shape), axis=1)
        return [dx.reshape(x[0].shape)]


@api(TopKData)
def top_k_data(
    x: Any,
    k: int,
    abs: bool = False,
    reduce: bool = True,
    base_axis: int = 1,
    largest: bool = True,  # noqa: A002
    with_index: bool = False,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return TopKData(k, abs, reduce, base_axis, largest, with_index)(x, n_outputs=n_outputs, outputs=outputs)


class TopKGrad(Function):
    """Identity in forward; backward keeps only the ``k`` largest gradient values (``abs``: magnitudes) per sample."""

    k: Int64 = None
    abs: Bool = False  # noqa: A003
    base_axis: Int64 = 1
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), len(shape), "base_axis") if shape else 0
        sample = int(np.prod(shape[self.base_axis :], dtype=np.int64))
        if self.k is None or not 1 <= int(self.k) <= sample:
            raise self.fail(
                "k", f"1 <= k <= {sample} (the sample size of x.shape={shape} from base_axis={self.base_axis})", self.k
            )
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        rows = g.reshape(int(np.prod(g.shape[: self.base_axis], dtype=np.int64)), -1)
        idx = _top_k_indices(rows, int(self.k), bool(self.abs), True)
        dx = np.zeros_like(rows)
        np.put_along_axis(dx, idx, np.take_along_axis(rows, idx, axis=1), axis=1)
        return [dx.reshape(g.shape)]


@api(TopKGrad)
def top_k_grad(x: Any, k: int, abs: bool = False, base_axis: int = 1, n_outputs: int = -1, outputs: Any = None) -> Any:  # noqa: A002
    return TopKGrad(k, abs, base_axis)(x, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# random number generators (no inputs)
# ---------------------------------------------------------------------------------------------------------------
class _Generator(_Random):
    input_names = ()

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(int(s) for s in (self.shape or ()))
        if any(s < 0 for s in shape):
            raise self.fail("shape", "non-negative sizes", shape)
        self.shape = shape
        self._check()
        return [shape]

    def _check(self) -> None:
        pass

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [np.asarray(self._draw(self._gen(), self.shape), dtype=self._dtype).reshape(self.shape)]

    _dtype = np.float32

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return []


class Rand(_Generator):
    """Uniform samples in ``[low, high)``."""

    low: Float = 0.0
    high: Float = 1.0
    shape: Shape = ()
    seed: Int64 = -1

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        u = _fast(rng).random(size, dtype=np.float32)
        return np.minimum(u * np.float32(self.high - self.low) + np.float32(self.low), np.float32(self.high))


@api(Rand)
def rand(
    low: float = 0,
    high: float = 1,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return Rand(low, high, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


class Randint(_Generator):
    """Uniform integers in ``[low, high)`` (int32 output)."""

    low: Int64 = 0
    high: Int64 = 1
    shape: Shape = ()
    seed: Int64 = -1
    _dtype = np.int32

    def _check(self) -> None:
        if not int(self.high) > int(self.low):
            raise self.fail("high", f"high > low (low={self.low})", self.high)

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        return rng.randint(int(self.low), int(self.high), size=size, dtype=np.int32)


@api(Randint)
def randint(
    low: int = 0,
    high: int = 1,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return Randint(low, high, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


class Randn(_Generator):
    """Normal samples with mean ``mu`` and standard deviation ``sigma``."""

    mu: Float = 0.0
    sigma: Float = 1.0
    shape: Shape = ()
    seed: Int64 = -1

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        z = _fast(rng).standard_normal(size, dtype=np.float32)
        return z * np.float32(self.sigma) + np.float32(self.mu)


@api(Randn)
def randn(
    mu: float = 0,
    sigma: float = 1,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return Randn(mu, sigma, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


class RandBinomial(_Generator):
    """Binomial samples: number of successes in ``n`` trials of probability ``p`` (float32 output)."""

    n: Int64 = 1
    p: Float = 0.5
    shape: Shape = ()
    seed: Int64 = -1

    def _check(self) -> None:
        if int(self.n) < 0:
            raise self.fail("n", "n >= 0", self.n)
        if not 0.0 <= self.p <= 1.0:
            raise self.fail("p", "0 <= p <= 1", self.p)

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        return rng.binomial(int(self.n), self.p, size)


@api(RandBinomial)
def rand_binomial(
    n: int = 1,
    p: float = 0.5,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return RandBinomial(n, p, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


class RandBeta(_Generator):
    """Beta(alpha, beta) samples."""

    alpha: Float = 0.5
    beta: Float = 0.5
    shape: Shape = ()
    seed: Int64 = -1

    def _check(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise self.fail("alpha", "alpha > 0 and beta > 0", (self.alpha, self.beta))

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        return rng.beta(self.alpha, self.beta, size)


@api(RandBeta)
def rand_beta(
    alpha: float = 0.5,
    beta: float = 0.5,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return RandBeta(alpha, beta, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


class RandGamma(_Generator):
    """Gamma samples with shape ``k`` and scale ``theta`` (mean ``k * theta``)."""

    k: Float = 0.5
    theta: Float = 1.0
    shape: Shape = ()
    seed: Int64 = -1

    def _check(self) -> None:
        if not (self.k > 0 and self.theta > 0):
            raise self.fail("k", "k > 0 and theta > 0", (self.k, self.theta))

    def _draw(self, rng: np.random.RandomState, size: tuple[int, ...]) -> Any:
        return rng.gamma(self.k, self.theta, size)


@api(RandGamma)
def rand_gamma(
    k: float = 0.5,
    theta: float = 1,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return RandGamma(k, theta, tuple(shape), seed)(n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# RandomChoice
# ---------------------------------------------------------------------------------------------------------------
class RandomChoice(_Random):
    """Draw from the last axis of ``x`` with (unnormalised, non-negative) weights ``w`` of the same shape.

    Output shape ``x.shape[:-1] + shape`` (``+ (1,)`` when ``shape`` is empty). Without ``replace`` the draws of
    one row are distinct (weighted sampling without replacement). Backward adds ``dy`` to the chosen entries of
    both ``x`` and ``w`` (nnabla's convention).
    """

    input_names = ("x", "w")
    shape: Shape = ()
    replace: Bool = True
    seed: Int64 = -1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs, ws = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if xs != ws:
            raise self.fail("w", f"w.shape == x.shape == {xs}", f"w.shape={ws}")
        if not xs:
            raise self.fail("x", "at least one dimension (the population axis)", f"x.shape={xs}")
        shape = tuple(int(s) for s in (self.shape or ()))
        self.shape = shape
        self._inner = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not self.replace and self._inner > xs[-1]:
            raise self.fail(
                "shape", f"at most {xs[-1]} draws per row without replacement (x.shape[-1])", f"shape={shape}"
            )
        return [xs[:-1] + (shape if shape else (1,))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, w = x[0], x[1]
        k = data.shape[-1]
        rows_x = data.reshape(-1, k)
        rows_w = w.reshape(-1, k).astype(np.float64)
        outer, inner = rows_w.shape[0], self._inner
        if np.any(rows_w < 0):
            raise ValueError("RandomChoice: argument w: expected non-negative weights, got a negative weight.")
        rng = self._gen()
        if self.replace:
            total = rows_w.sum(axis=1)
            if np.any(total <= 0):
                raise ValueError(
                    "RandomChoice: argument w: expected at least one positive weight per row, got a zero row."
                )
            cum = np.cumsum(rows_w, axis=1) / total[:, None] + np.arange(outer)[:, None]
            u = rng.random_sample((outer, inner)) + np.arange(outer)[:, None]
            idx = (
                np.searchsorted(cum.ravel(), u.ravel(), side="right").reshape(outer, inner)
                - np.arange(outer)[:, None] * k
            )
            idx = np.clip(idx, 0, k - 1)
        else:
            if np.any((rows_w > 0).sum(axis=1) < inner):
                raise ValueError(
                    "RandomChoice: argument w: expected enough positive weights for sampling without replacement."
                )
            u = rng.random_sample((outer, k))
            with np.errstate(divide="ignore"):
                key = np.where(rows_w > 0, np.log(u) / np.where(rows_w > 0, rows_w, 1.0), -np.inf)
            idx = np.argsort(-key, axis=1, kind="stable")[:, :inner]
        self._idx = idx
        y = np.take_along_axis(rows_x, idx, axis=1)
        return [y.reshape(data.shape[:-1] + (self.shape if self.shape else (1,)))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        idx = self._idx
        k = x[0].shape[-1]
        outer = idx.shape[0]
        lin = idx + np.arange(outer)[:, None] * k
        g = _scatter_add(outer * k, lin, dy[0].reshape(idx.shape), dy[0].dtype).reshape(x[0].shape)
        return [g if need[0] else None, g.copy() if need[1] else None]


@api(RandomChoice)
def random_choice(
    x: Any,
    w: Any,
    shape: Any = [],  # noqa: B006 (nnabla signature)
    replace: bool = True,
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return RandomChoice(tuple(shape), replace, seed)(x, w, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# per-sample random transformations
# ---------------------------------------------------------------------------------------------------------------
class RandomCrop(_Random):
    """Crop a random window of size ``shape`` (the trailing dims) from each sample (dims before ``base_axis``)."""

    shape: Shape = None
    base_axis: Int64 = 1
    seed: Int64 = -1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = tuple(inputs[0].shape)
        ndim = len(in_shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), ndim, "base_axis")
        shape = in_shape if self.shape is None else tuple(int(s) for s in self.shape)
        if len(shape) > ndim:
            raise self.fail("shape", f"at most {ndim} dims (x.shape={in_shape})", shape)
        self.shape = shape
        offset = ndim - len(shape)
        out = list(in_shape)
        for i, s in enumerate(shape):
            if not 0 < s <= in_shape[i + offset]:
                raise self.fail("shape", f"sizes in (0, x.shape] for the trailing dims (x.shape={in_shape})", shape)
            out[i + offset] = s
        return [tuple(out)]

    def draw_index(self, in_shape: tuple[int, ...]) -> list[np.ndarray]:
        """Draw the crop offsets: one broadcast index array per axis (kept for backward; device kernels use it)."""
        ndim = len(in_shape)
        offset = ndim - len(self.shape)
        rng = self._gen()
        out_shape = tuple(in_shape[:offset]) + tuple(self.shape)
        pshape = _batch_param_shape(out_shape, self.base_axis)  # per output sample
        index = []
        for d in range(ndim):
            n_in = in_shape[d]
            n_out = self.shape[d - offset] if d >= offset else n_in
            pos = _axis_index(n_out, d, ndim)
            if n_out < n_in:
                size = pshape if d >= self.base_axis else ()
                start = rng.randint(0, n_in - n_out + 1, size=size)
                pos = pos + start
            index.append(pos)
        self._index = index
        return index

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        return [data[tuple(self.draw_index(data.shape))]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        dx = np.zeros(x[0].shape, dy[0].dtype)
        dx[tuple(self._index)] = dy[0]
        return [dx]


@api(RandomCrop)
def random_crop(
    x: Any, shape: Any = None, base_axis: int = 1, seed: int = -1, n_outputs: int = -1, outputs: Any = None
) -> Any:
    if shape is None:
        shape = x.shape
    return RandomCrop(tuple(shape), base_axis, seed)(x, n_outputs=n_outputs, outputs=outputs)


class RandomFlip(_Random):
    """Flip each sample along each of ``axes`` with probability 1/2 (independently per sample and axis)."""

    axes: Ints = None
    base_axis: Int64 = 1
    seed: Int64 = -1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), ndim, "base_axis")
        axes = [ndim - 1] if self.axes is None else list(self.axes)
        self.axes = tuple(normalize_axes(self, axes, ndim))
        return [shape]

    def _apply(self, a: np.ndarray) -> np.ndarray:
        fresh = False
        for d, flag in zip(self.axes, self._flags):
            if flag.ndim == 0:
                if flag:
                    a, fresh = np.flip(a, d), False
            elif flag.all():
                a, fresh = np.flip(a, d), False
            elif flag.any():
                a, fresh = np.where(flag, np.flip(a, d), a), True
        return a if fresh else np.array(a, copy=True)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        rng = self._gen()
        pshape = _batch_param_shape(data.shape, self.base_axis)
        self._flags = [rng.randint(0, 2, size=pshape if d >= self.base_axis else ()).astype(bool) for d in self.axes]
        return [self._apply(data)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        # flips along distinct axes commute and each is its own inverse
        return [self._apply(dy[0])]


@api(RandomFlip)
def random_flip(
    x: Any, axes: Any = None, base_axis: int = 1, seed: int = -1, n_outputs: int = -1, outputs: Any = None
) -> Any:
    if axes is None:
        axes = [len(x.shape) - 1]
    return RandomFlip(tuple(axes), base_axis, seed)(x, n_outputs=n_outputs, outputs=outputs)


class RandomShift(_Random):
    """Shift each sample by a random integer in ``[-shifts[i], shifts[i]]`` along each trailing dim.

    ``y[..., i, ...] = x[..., i - s, ...]``; positions read from outside use ``border_mode``: ``'nearest'``
    (edge value), ``'reflect'`` (mirror, edge repeated) or ``'constant'`` (``constant_value``).
    """

    shifts: Ints = None
    border_mode: String = "nearest"
    constant_value: Float = 0.0
    base_axis: Int64 = 1
    seed: Int64 = -1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), ndim, "base_axis")
        shifts = (0,) * ndim if self.shifts is None else tuple(int(s) for s in self.shifts)
        if len(shifts) > ndim or any(s < 0 for s in shifts):
            raise self.fail("shifts", f"at most {ndim} non-negative shifts (x.shape={shape})", shifts)
        self.shifts = shifts
        if self.border_mode not in ("nearest", "reflect", "constant"):
            raise self.fail("border_mode", "'nearest', 'reflect' or 'constant'", repr(self.border_mode))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        ndim = data.ndim
        offset = ndim - len(self.shifts)
        rng = self._gen()
        pshape = _batch_param_shape(data.shape, self.base_axis)
        index, valid = [], None
        for d in range(ndim):
            n = data.shape[d]
            pos = _axis_index(n, d, ndim)
            s_max = self.shifts[d - offset] if d >= offset else 0
            if s_max > 0:
                shift = rng.randint(-s_max, s_max + 1, size=pshape if d >= self.base_axis else ())
                src = pos - shift
                if self.border_mode == "nearest":
                    src = np.clip(src, 0, n - 1)
                elif self.border_mode == "reflect":
                    a = np.abs(src + 2 * n) % (2 * n) if n > 1 else np.zeros_like(src)
                    src = np.where(a >= n, 2 * n - 1 - a, a)
                else:
                    ok = (src >= 0) & (src < n)
                    valid = ok if valid is None else (valid & ok)
                    src = np.clip(src, 0, n - 1)
                pos = src
            index.append(pos)
        self._index, self._valid = index, valid
        y = data[tuple(index)]
        if valid is not None:
            y = np.where(valid, y, np.asarray(self.constant_value, dtype=y.dtype))
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0] if self._valid is None else np.where(self._valid, dy[0], 0)
        lin = _linear_index(self._index, x[0].shape)
        return [_scatter_add(x[0].size, lin, g, dy[0].dtype).reshape(x[0].shape)]


@api(RandomShift)
def random_shift(
    x: Any,
    shifts: Any = None,
    border_mode: str = "nearest",
    constant_value: float = 0,
    base_axis: int = 1,
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    if shifts is None:
        shifts = (0,) * len(x.shape)
    return RandomShift(tuple(shifts), border_mode, constant_value, base_axis, seed)(
        x, n_outputs=n_outputs, outputs=outputs
    )


class RandomErase(_Random):
    """Randomly erase rectangular patches and fill them with uniform values in ``replacements``.

    For each of the ``n`` rounds, each sample (and each channel when ``share`` is False) draws an area ratio, an
    aspect ratio, a position and a probability; with probability ``prob`` the patch (end rows/columns included,
    like nnabla) is replaced. Backward passes ``dy`` outside erased pixels (``ste_fine_grained``) or everywhere.
    Input layout ``(..., C, H, W)`` after ``base_axis`` (``(..., H, W, C)`` with ``channel_last``).
    """

    prob: Float = 0.5
    area_ratios: Floats = (0.02, 0.4)
    aspect_ratios: Floats = (0.3, 3.3333)
    replacements: Floats = (0.0, 255.0)
    n: Int64 = 1
    share: Bool = True
    inplace: Bool = False
    base_axis: Int64 = 1
    seed: Int64 = -1
    channel_last: Bool = False
    ste_fine_grained: Bool = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        self.base_axis = normalize_axis(self, int(self.base_axis), ndim, "base_axis")
        if not 0.0 <= self.prob <= 1.0:
            raise self.fail("prob", "a probability in [0, 1]", self.prob)
        for name in ("area_ratios", "aspect_ratios", "replacements"):
            if len(getattr(self, name)) != 2:
                raise self.fail(name, "2 values (low, high)", tuple(getattr(self, name)))
        if self.n is None:
            self.n = 1
        if int(self.n) < 1:
            raise self.fail("n", "n > 0", self.n)
        if ndim - self.base_axis != 3:
            raise self.fail("x", f"3 dims (C, H, W) after base_axis={self.base_axis}", f"x.shape={shape}")
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        ba = self.base_axis
        if self.channel_last:
            h_ax, w_ax, c_ax = ba, ba + 1, ba + 2
        else:
            c_ax, h_ax, w_ax = ba, ba + 1, ba + 2
        H, W, C = data.shape[h_ax], data.shape[w_ax], data.shape[c_ax]
        ndim = data.ndim
        pshape = list(_batch_param_shape(data.shape, ba))
        if not self.share:
            pshape[c_ax] = C
        rng = self._gen()
        hh = _axis_index(H, h_ax, ndim)
        ww = _axis_index(W, w_ax, ndim)
        mask = np.zeros(np.broadcast_shapes(tuple(pshape), hh.shape, ww.shape), bool)
        for _ in range(int(self.n)):
            area = rng.uniform(self.area_ratios[0], self.area_ratios[1], pshape) * (H * W)
            ratio = rng.uniform(self.aspect_ratios[0], self.aspect_ratios[1], pshape)
            he = np.minimum(np.sqrt(area * ratio).astype(np.int64), H)
            we = np.minimum(np.sqrt(area / ratio).astype(np.int64), W)
            eprob = rng.uniform(0.0, 1.0, pshape)
            ys = np.floor(rng.random_sample(pshape) * (H - he + 1)).astype(np.int64)
            xs = np.floor(rng.random_sample(pshape) * (W - we + 1)).astype(np.int64)
            mask |= (eprob <= self.prob) & (hh >= ys) & (hh <= ys + he) & (ww >= xs) & (ww <= xs + we)
        mask = np.broadcast_to(mask, data.shape)
        y = data.copy()
        count = int(mask.sum())
        if count:
            y[mask] = rng.uniform(self.replacements[0], self.replacements[1], count).astype(y.dtype)
        self._erased = mask
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.ste_fine_grained:
            return [dy[0].copy()]
        return [np.where(self._erased, 0, dy[0]).astype(dy[0].dtype, copy=False)]


@api(RandomErase)
def random_erase(
    x: Any,
    prob: float = 0.5,
    area_ratios: Any = (0.02, 0.4),
    aspect_ratios: Any = (0.3, 3.3333),
    replacements: Any = (0.0, 255.0),
    n: Any = None,
    share: bool = True,
    inplace: bool = False,
    base_axis: int = 1,
    seed: int = -1,
    channel_last: bool = False,
    ste_fine_grained: bool = True,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    if n is None:
        n = 1
    fn = RandomErase(
        prob,
        tuple(area_ratios),
        tuple(aspect_ratios),
        tuple(replacements),
        n,
        share,
        inplace,
        base_axis,
        seed,
        channel_last,
        ste_fine_grained,
    )
    return fn(x, n_outputs=n_outputs, outputs=outputs)


# ---------------------------------------------------------------------------------------------------------------
# ImageAugmentation
# ---------------------------------------------------------------------------------------------------------------
class ImageAugmentation(_Random):
    """Random affine resampling and photometric changes of images ``(..., [C,] H, W)``, vectorised over images.

    Per image: a zoom in ``[min_scale, max_scale]`` (log-uniform) with an aspect factor within ``aspect_ratio``,
    a rotation in ``[-angle, angle]`` (radians), a random crop position inside the zoomed image padded by
    ``pad``, optional left-right / up-down flips, a radial ``distortion``; the output of size ``shape`` is
    sampled bilinearly (coordinates clamped to the border). Then per image (or per channel with ``*_each``):
    ``y = (v + brightness_shift - contrast_center) * contrast + contrast_center`` with the shift uniform in
    ``[-brightness, brightness]`` and the contrast log-uniform in ``[1/contrast, contrast]``, and Gaussian noise
    of a random standard deviation in ``[0, noise]``. No gradient (like nnabla).
    """

    shape: Shape = None
    pad: Shape = (0, 0)
    min_scale: Float = 1.0
    max_scale: Float = 1.0
    angle: Float = 0.0
    aspect_ratio: Float = 1.0
    distortion: Float = 0.0
    flip_lr: Bool = False
    flip_ud: Bool = False
    brightness: Float = 0.0
    brightness_each: Bool = False
    contrast: Float = 1.0
    contrast_center: Float = 0.0
    contrast_each: Bool = False
    noise: Float = 0.0
    seed: Int64 = -1

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = tuple(inputs[0].shape)
        if len(in_shape) < 2:
            raise self.fail("x", "at least 2 dims (height, width)", f"x.shape={in_shape}")
        shape = in_shape if self.shape is None else tuple(int(s) for s in self.shape)
        if len(shape) < 2 or len(shape) > len(in_shape) or any(s <= 0 for s in shape):
            raise self.fail("shape", f"2 to {len(in_shape)} positive sizes ending with (height, width)", shape)
        if len(shape) >= 3 and len(in_shape) >= 3 and shape[-3] != in_shape[-3]:
            raise self.fail("shape", f"the channel size {in_shape[-3]} of x (shape[-3])", shape)
        self.shape = shape
        pad = tuple(int(p) for p in self.pad)
        if len(pad) != 2:
            raise self.fail("pad", "2 values (height, width)", pad)
        self.pad = pad
        if not (self.min_scale > 0 and self.max_scale > 0 and self.aspect_ratio > 0 and self.contrast > 0):
            raise self.fail(
                "min_scale",
                "positive min_scale, max_scale, aspect_ratio and contrast",
                (self.min_scale, self.max_scale, self.aspect_ratio, self.contrast),
            )
        out = list(in_shape)
        out[len(in_shape) - len(shape) :] = shape
        return [tuple(out)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0]
        h_in, w_in = data.shape[-2], data.shape[-1]
        channels = data.shape[-3] if data.ndim >= 3 else 1
        images = data.size // (h_in * w_in * channels)
        h_out, w_out = self.shape[-2], self.shape[-1]
        rng = self._gen()
        N = images
        f32 = np.float32

        scale = self.min_scale * np.exp(_unit(rng, N) * np.log(self.max_scale / self.min_scale))
        log_ar = np.log(self.aspect_ratio)
        scale_x = np.exp(-log_ar * 0.5 + _unit(rng, N) * log_ar)
        scale_y = 1.0 / scale_x
        i_sx = 1.0 / (scale * scale_x)
        i_sy = 1.0 / (scale * scale_y)
        ang = -self.angle + _unit(rng, N) * self.angle * 2
        w_scaled = (w_in + 2 * self.pad[1]) * scale * scale_x
        h_scaled = (h_in + 2 * self.pad[0]) * scale * scale_y
        cx, cy = (w_out - 1) * 0.5, (h_out - 1) * 0.5
        cx_s = _unit(rng, N) * (w_scaled - w_out) + cx
        cy_s = _unit(rng, N) * (h_scaled - h_out) + cy
        flip_lr = rng.randint(0, 2, N).astype(bool) & bool(self.flip_lr)
        flip_ud = rng.randint(0, 2, N).astype(bool) & bool(self.flip_ud)

        def brightness_draw(size: Any) -> np.ndarray:
            return _unit(rng, size) * self.brightness * 2.0 - self.brightness

        def contrast_draw(size: Any) -> np.ndarray:
            return np.exp(_unit(rng, size) * np.log(self.contrast) * 2.0) / self.contrast

        bright = (
            brightness_draw((N, channels)) if self.brightness_each else np.repeat(brightness_draw((N, 1)), channels, 1)
        )
        contr = contrast_draw((N, channels)) if self.contrast_each else np.repeat(contrast_draw((N, 1)), channels, 1)
        dist = np.exp(_unit(rng, N) * 2.0 * self.distortion - self.distortion) - 1.0
        noise = _unit(rng, N) * self.noise

        cos, sin = np.cos(ang), np.sin(ang)
        x_ax = np.where(flip_lr, -cos, cos) * i_sx
        y_ax = np.where(flip_lr, sin, -sin) * i_sy
        x_ay = np.where(flip_ud, -sin, sin) * i_sx
        y_ay = np.where(flip_ud, -cos, cos) * i_sy
        x0 = cx_s * i_sx - (x_ax * cx + y_ax * cy) - self.pad[1]
        y0 = cy_s * i_sy - (x_ay * cx + y_ay * cy) - self.pad[0]

        # output pixel grid, radially distorted per image (distortion 0 gives the plain grid)
        col = np.arange(w_out, dtype=np.float64)[None, None, :]
        row = np.arange(h_out, dtype=np.float64)[None, :, None]
        wh, hh = w_out * 0.5, h_out * 0.5
        dx = (col - wh) / wh
        dy = (row - hh) / hh
        d = dist[:, None, None]
        r2 = dx * dx + dy * dy
        k = (1.0 + d * r2) / (1.0 + d)
        px = dx * k * wh + wh
        py = dy * k * hh + hh
        px = np.where(d == 0, col, px)
        py = np.where(d == 0, row, py)
        xin = x0[:, None, None] + px * x_ax[:, None, None] + py * y_ax[:, None, None]
        yin = y0[:, None, None] + px * x_ay[:, None, None] + py * y_ay[:, None, None]
        xin = np.clip(xin, 0.0, w_in - 1).astype(f32)
        yin = np.clip(yin, 0.0, h_in - 1).astype(f32)

        ix = xin.astype(np.int64)
        iy = yin.astype(np.int64)
        fx = (xin - ix).reshape(N, 1, -1)
        fy = (yin - iy).reshape(N, 1, -1)
        ix1 = np.minimum(ix + 1, w_in - 1)
        iy1 = np.minimum(iy + 1, h_in - 1)
        src = data.reshape(N, channels, h_in * w_in)

        def take(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
            return np.take_along_axis(src, (yy * w_in + xx).reshape(N, 1, -1), axis=2)

        out = take(iy, ix) * ((1 - fx) * (1 - fy))
        out += take(iy, ix1) * (fx * (1 - fy))
        out += take(iy1, ix) * ((1 - fx) * fy)
        out += take(iy1, ix1) * (fx * fy)
        center = self.contrast_center
        out = (out + (bright - center).astype(f32)[:, :, None]) * contr.astype(f32)[:, :, None] + f32(center)
        if self.noise > 0:
            out += _fast(rng).standard_normal(out.shape, dtype=f32) * noise[:, None, None].astype(f32)
        out_shape = data.shape[: data.ndim - len(self.shape)] + tuple(self.shape)
        return [out.astype(data.dtype, copy=False).reshape(out_shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None]  # nnabla defines no gradient for image augmentation


@api(ImageAugmentation)
def image_augmentation(
    x: Any,
    shape: Any = None,
    pad: Any = (0, 0),
    min_scale: float = 1.0,
    max_scale: float = 1.0,
    angle: float = 0.0,
    aspect_ratio: float = 1.0,
    distortion: float = 0.0,
    flip_lr: bool = False,
    flip_ud: bool = False,
    brightness: float = 0.0,
    brightness_each: bool = False,
    contrast: float = 1.0,
    contrast_center: float = 0.0,
    contrast_each: bool = False,
    noise: float = 0.0,
    seed: int = -1,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    if shape is None:
        shape = x.shape
    fn = ImageAugmentation(
        tuple(shape),
        tuple(pad),
        min_scale,
        max_scale,
        angle,
        aspect_ratio,
        distortion,
        flip_lr,
        flip_ud,
        brightness,
        brightness_each,
        contrast,
        contrast_center,
        contrast_each,
        noise,
        seed,
    )
    return fn(x, n_outputs=n_outputs, outputs=outputs)
