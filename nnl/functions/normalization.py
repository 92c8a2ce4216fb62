"""Normalization: batch / layer / instance / group / tensor / weight normalization, spectral norm, gradient clips.

Conventions shared with nnabla:

- statistics are the mean and the *biased* variance over the reduced axes, ``y = (x - mean) / sqrt(var + eps)``,
  then scaled by ``gamma`` and shifted by ``beta`` (``no_scale`` / ``no_bias`` drop them; the Python wrappers
  decide those flags from ``gamma is None`` / ``beta is None``);
- ``output_stat=True`` adds the batch mean and variance as two more (differentiable) outputs;
- functions with running statistics (batch normalization in training mode, mean subtraction, spectral norm's
  ``u``) update those input buffers **in place** during forward; ``recompute`` never updates them.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from nnl.core.function import Bool, CommunicatorArg, Float, Function, Int64, Ints, String
from nnl.functions._helpers import normalize_axes, normalize_axis
from nnl.functions._norm_kernels import (
    affine_from_stats,
    centered_moments,
    count_of,
    moments,
    normalize,
    normalize_backward,
    reduce_sum,
)
from nnl.functions.registry import api


# ---------------------------------------------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------------------------------------------
class _MultiOutput(Function):
    """A function whose number of outputs is chosen when it is called (``n_outputs``, nnabla's output_stat)."""

    output_names = ("y", "*stats")

    def __call__(self, *inputs: Any, n_outputs: int = -1, outputs: Any = None, auto_forward: bool | None = None) -> Any:
        if n_outputs is not None and n_outputs > 0:
            self._n_out = int(n_outputs)
        elif isinstance(outputs, (list, tuple)):
            self._n_out = len(outputs)
        return super().__call__(
            *inputs, n_outputs=-1 if n_outputs is None else n_outputs, outputs=outputs, auto_forward=auto_forward
        )

    @property
    def n_out(self) -> int:
        return self.__dict__.get("_n_out", 1)

    def _check_n_out(self, allowed: tuple[int, ...]) -> None:
        if self.n_out not in allowed:
            raise self.fail("n_outputs", f"one of {allowed}", self.n_out)

    def recompute(self, inputs: list[Any], outputs: list[Any]) -> None:
        """Forward again without touching running statistics (nnabla's recompute_impl)."""
        self._recomputing = True
        try:
            self.forward(inputs, outputs)
        finally:
            self._recomputing = False

    @property
    def _updating(self) -> bool:
        return not self.__dict__.get("_recomputing", False)

    # cached statistics of the last training-mode forward (reused by backward when x is the same buffer)
    def _store(self, data: np.ndarray, *stats: Any) -> None:
        try:
            ref = weakref.ref(data)
        except TypeError:  # pragma: no cover - plain ndarrays are weak-referenceable
            ref = None
        self._cache = (ref, data.shape, data.dtype, stats)

    def _cached(self, data: np.ndarray) -> Any:
        cache = self.__dict__.get("_cache")
        if cache is None:
            return None
        ref, shape, dtype, stats = cache
        if ref is not None and ref() is data and data.shape == shape and data.dtype == dtype:
            return stats
        return None


def _writeable(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.flags.writeable


def _param_shape(shape: tuple[int, ...], kept: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s if i in kept else 1 for i, s in enumerate(shape))


def _force_list(axes: Any) -> list[int]:
    """nnabla's ``normalization_functions._force_list``: an axis or axes as a list."""
    if axes is None:
        return []
    if hasattr(axes, "__iter__"):
        return list(axes)
    return [axes]


def _check_axis(ndim: int, axis: int) -> None:
    """nnabla's ``normalization_functions._check_axis``."""
    if axis < 0 or axis >= ndim:
        raise ValueError(f"axis must be in the range of [0, ndim). axis : {axis}, ndim: {ndim}.")


def _check_batch_axis_and_force_list(ndim: int, batch_axis: Any) -> list[int]:
    batch_axis = _force_list(batch_axis)
    for axis in batch_axis:
        _check_axis(ndim, axis)
    return batch_axis


def _get_axes_excluding(ndim: int, axes: Any) -> list[int]:
    """nnabla's ``normalization_functions._get_axes_excluding``: the axes of ``range(ndim)`` not in ``axes``."""
    axes = [a + ndim * (a < 0) for a in _force_list(axes)]
    return [i for i in range(ndim) if i not in axes]


# ---------------------------------------------------------------------------------------------------------------
# batch normalization family
# ---------------------------------------------------------------------------------------------------------------
class _BatchNormBase(_MultiOutput):
    """Batch normalization over all axes but ``axes``; running statistics updated in place in training mode."""

    def _layout(self, n_inputs: int) -> dict[str, int | None]:
        raise NotImplementedError

    # -- setup ---------------------------------------------------------------------------------------------
    def _setup_bn(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x_shape = tuple(inputs[0].shape)
        ndim = len(x_shape)
        axes = normalize_axes(self, self.axes, ndim)
        if not axes or len(set(axes)) != len(axes):
            raise self.fail("axes", f"distinct axes of x (x.shape={x_shape})", tuple(self.axes))
        self.axes = tuple(axes)
        self._raxes = tuple(i for i in range(ndim) if i not in axes)
        layout = self._layout(len(inputs))
        self._idx = layout
        stat_shape = _param_shape(x_shape, self.axes)
        self._stat_shape = stat_shape
        for name in ("beta", "gamma", "mean", "variance"):
            i = layout.get(name)
            if i is not None and tuple(inputs[i].shape) != stat_shape:
                raise self.fail(
                    name,
                    f"{name}.shape == {stat_shape} (x.shape with 1 outside axes={self.axes})",
                    f"{name}.shape={tuple(inputs[i].shape)}",
                )
        z = layout.get("z")
        if z is not None and tuple(inputs[z].shape) != x_shape:
            raise self.fail("z", f"z.shape == x.shape == {x_shape}", f"z.shape={tuple(inputs[z].shape)}")
        if not self.batch_stat and (layout.get("mean") is None or layout.get("variance") is None):
            raise self.fail("mean", "running mean and variance inputs when batch_stat=False", "none")
        self._check_n_out((1, 3))
        if self.n_out == 3 and not self.batch_stat:
            raise self.fail("n_outputs", "1 when batch_stat=False (batch statistics exist only in training)", 3)
        shapes = [x_shape]
        if self.n_out == 3:
            shapes += [stat_shape, stat_shape]
        return shapes

    def _split(self, x: list[Any]) -> tuple[Any, Any, Any, Any, Any]:
        idx = self._idx
        get = lambda name: None if idx.get(name) is None else x[idx[name]]  # noqa: E731
        return get("beta"), get("gamma"), get("mean"), get("variance"), get("z")

    # -- statistics (SyncBatchNormalization all-reduces them) -------------------------------------------------
    def _n_procs(self) -> int:
        return 1

    def _batch_moments(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, Any]:
        """Batch mean, biased variance, element count per statistic, and ``data - mean`` (or None)."""
        mean, var, centered = centered_moments(data, self._raxes)
        return mean, var, count_of(data.shape, self._raxes), centered

    def _allreduce(self) -> Any:
        return None

    # -- kernels ------------------------------------------------------------------------------------------------
    def _bn_forward(self, x: list[Any]) -> list[Any]:
        data = x[0]
        beta, gamma, rmean, rvar, _ = self._split(x)
        if not self.batch_stat:
            return [affine_from_stats(data, rmean, rvar, self.eps, gamma, beta)]
        mean, var, n, centered = self._batch_moments(data)
        y, inv_std = normalize(data, mean, var, self.eps, gamma, beta, centered)
        if self._updating:
            decay = self.decay_rate
            if _writeable(rmean):
                rmean[...] = decay * rmean + (1.0 - decay) * mean
            if _writeable(rvar):
                unbiased = n / (n - 1.0) if n > 1 else 1.0
                rvar[...] = decay * rvar + ((1.0 - decay) * unbiased) * var
        self._store(data, mean, var, inv_std)
        if self.n_out == 3:
            return [y, mean.copy(), var.copy()]
        return [y]

    def _bn_backward(self, x: list[Any], dy0: np.ndarray, dy: list[Any], need: list[bool]) -> list[Any]:
        data = x[0]
        beta, gamma, rmean, rvar, _ = self._split(x)
        idx = self._idx
        ib, ig = idx.get("beta"), idx.get("gamma")
        need_b = ib is not None and need[ib]
        need_g = ig is not None and need[ig]
        grads: list[Any] = [None] * len(x)
        if not (need[0] or need_b or need_g):
            return grads
        if self.batch_stat:
            stats = self._cached(data)
            if stats is None:
                mean, var, _, _ = self._batch_moments(data)
                inv_std = 1.0 / np.sqrt(var + self.eps)
            else:
                mean, var, inv_std = stats
            dmean = dvar = None
            if self.n_out == 3:
                dmean, dvar = dy[1], dy[2]
            allreduce = self._allreduce()
            count = count_of(data.shape, self._raxes) * self._n_procs()
            dx, dg, db = normalize_backward(
                data,
                dy0,
                self._raxes,
                mean,
                inv_std,
                gamma,
                need[0],
                need_g,
                need_b,
                self._stat_shape,
                self._stat_shape,
                dmean,
                dvar,
                allreduce,
                count,
            )
        else:
            inv_std = 1.0 / np.sqrt(rvar + self.eps)
            scale = inv_std if gamma is None else inv_std * gamma
            dx = dy0 * scale if need[0] else None
            dg = db = None
            if need_g or need_b:
                s_dy = reduce_sum(dy0, self._raxes)
                db = s_dy if need_b else None
                if need_g:
                    dg = (reduce_sum(dy0, self._raxes, data) - rmean * s_dy) * inv_std
        grads[0] = dx
        if need_b:
            grads[ib] = db
        if need_g:
            grads[ig] = dg
        return grads


class BatchNormalization(_BatchNormBase):
    """Batch normalization over all axes except ``axes``.

    Training (``batch_stat=True``): normalises with the batch mean and biased variance and updates the running
    statistics in place, ``mean <- decay_rate * mean + (1 - decay_rate) * batch_mean`` and
    ``variance <- decay_rate * variance + (1 - decay_rate) * batch_var * n / (n - 1)``; the gradient flows through
    the batch statistics. Test (``batch_stat=False``): the running statistics are used and the function is an
    affine map. ``axes`` may hold several axes (nnabla's C++ kernel takes one; its Python wrapper transposes).

    >>> import numpy as np, nnl, nnl.functions as F
    >>> x = nnl.Variable.from_numpy_array(np.arange(8, dtype=np.float32).reshape(4, 2))
    >>> beta = nnl.Variable.from_numpy_array(np.zeros((1, 2), np.float32))
    >>> gamma = nnl.Variable.from_numpy_array(np.ones((1, 2), np.float32))
    >>> mean = nnl.Variable.from_numpy_array(np.zeros((1, 2), np.float32))
    >>> var = nnl.Variable.from_numpy_array(np.ones((1, 2), np.float32))
    >>> with nnl.auto_forward():
    ...     y = F.batch_normalization(x, beta, gamma, mean, var)
    >>> [round(float(v), 3) for v in y.d[:, 0]], [round(float(v), 2) for v in mean.d.ravel()]
    ([-1.342, -0.447, 0.447, 1.342], [0.3, 0.4])
    """

    input_names = ("x", "beta?", "gamma?", "mean?", "variance?")
    axes: Ints = (1,)
    decay_rate: Float = 0.9
    eps: Float = 1e-05
    batch_stat: Bool = True
    no_scale: Bool = False
    no_bias: Bool = False
    grad_depends_input = True

    def _layout(self, n_inputs: int) -> dict[str, int | None]:
        i = 1
        layout: dict[str, int | None] = {"beta": None, "gamma": None, "mean": None, "variance": None}
        if not self.no_bias:
            layout["beta"] = i
            i += 1
        if not self.no_scale:
            layout["gamma"] = i
            i += 1
        if n_inputs == i + 2:
            layout["mean"], layout["variance"] = i, i + 1
        elif n_inputs != i:
            raise self.fail(
                "inputs",
                f"{i} or {i + 2} inputs (x{', beta' if not self.no_bias else ''}{', gamma' if not self.no_scale else ''}"
                f"[, mean, variance]) for no_bias={self.no_bias}, no_scale={self.no_scale}",
                f"{n_inputs} inputs",
            )
        return layout

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return self._setup_bn(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return self._bn_forward(x)

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return self._bn_backward(x, dy[0], dy, need)


def _bn_inputs(
    x: Any, axes: list[int], beta: Any, gamma: Any, mean: Any, variance: Any, batch_stat: bool, name: str
) -> tuple[Any, Any]:
    """nnabla's ``_create_bn_dummy_vars``: check beta/gamma shapes and create missing running statistics."""
    import nnl

    shape = tuple(x.shape)
    stat_shape = _param_shape(shape, tuple(axes))
    for label, v in (("beta", beta), ("gamma", gamma)):
        if v is not None and tuple(v.shape) != stat_shape:
            raise ValueError(
                f"{name}: argument {label}: expected {label}.shape == {stat_shape}, got {label}.shape={tuple(v.shape)}. "
                "To use another shape, use arithmetic operators like "
                "`tensor_normalization(x, axes, beta=None, gamma=None) * gamma + beta`."
            )
    if mean is None:
        mean = nnl.Variable(stat_shape, need_grad=False)
    if variance is None:
        variance = nnl.Variable(stat_shape, need_grad=False)
    if batch_stat and (mean.parent is not None or variance.parent is not None):
        raise ValueError(f"{name}: if batch_stat is True, mean and variance must not have a parent function.")
    return mean, variance


def _normalize_bn_axes(x: Any, axes: Any, name: str) -> list[int]:
    axes = _force_list(axes)
    ndim = len(x.shape)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: argument axes: expected axes in [{-ndim}, {ndim}), got {tuple(axes)}.")
        out.append(a + ndim * (a < 0))
    return out


@api(BatchNormalization)
def batch_normalization(
    x: Any,
    beta: Any,
    gamma: Any,
    mean: Any,
    variance: Any,
    axes: Any = [1],  # noqa: B006 (nnabla's signature)
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    output_stat: bool = False,
    n_outputs: Any = None,
) -> Any:
    """Batch normalization (see :class:`BatchNormalization`); returns ``(y, batch_mean, batch_var)`` when ``output_stat``.

    ``mean`` / ``variance`` may be None in training mode (a dummy running statistic is created); with
    ``batch_stat=False`` they are required.
    """
    axes = _normalize_bn_axes(x, axes, "BatchNormalization")
    if output_stat and not batch_stat:
        raise ValueError("BatchNormalization: argument output_stat: expected False when batch_stat=False, got True.")
    if not batch_stat and (mean is None or variance is None):
        raise ValueError("BatchNormalization: if batch_stat is False, mean and variance must not be None.")
    mean, variance = _bn_inputs(x, axes, beta, gamma, mean, variance, batch_stat, "BatchNormalization")
    inputs = [x] + [v for v in (beta, gamma) if v is not None] + [mean, variance]
    fn = BatchNormalization(axes, decay_rate, eps, batch_stat, gamma is None, beta is None)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class FusedBatchNormalization(_BatchNormBase):
    """Batch normalization, plus ``z`` (optional), then the nonlinearity: ``y = relu(BN(x) + z)``."""

    input_names = ("x", "beta", "gamma", "mean", "variance", "z?")
    axes: Ints = (1,)
    decay_rate: Float = 0.9
    eps: Float = 1e-05
    batch_stat: Bool = True
    nonlinearity: String = "relu"
    grad_depends_input = True
    grad_depends_output = True

    def _layout(self, n_inputs: int) -> dict[str, int | None]:
        if n_inputs not in (5, 6):
            raise self.fail("inputs", "5 or 6 inputs (x, beta, gamma, mean, variance[, z])", f"{n_inputs} inputs")
        return {"beta": 1, "gamma": 2, "mean": 3, "variance": 4, "z": 5 if n_inputs == 6 else None}

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.nonlinearity != "relu":
            raise self.fail("nonlinearity", "'relu' (the only supported nonlinearity)", repr(self.nonlinearity))
        return self._setup_bn(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        outs = self._bn_forward(x)
        y = outs[0]
        z = self._split(x)[4]
        if z is not None:
            y = y + z if np.result_type(y, z) != y.dtype else _iadd(y, z)
        np.maximum(y, 0, out=y)
        outs[0] = y
        return outs

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0] * (y[0] > 0)
        grads = self._bn_backward(x, g, dy, need)
        iz = self._idx.get("z")
        if iz is not None and need[iz]:
            grads[iz] = g
        return grads


def _iadd(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    y += z
    return y


@api(FusedBatchNormalization)
def fused_batch_normalization(
    x: Any,
    beta: Any,
    gamma: Any,
    mean: Any,
    variance: Any,
    z: Any = None,
    axes: Any = [1],  # noqa: B006
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    nonlinearity: str = "relu",
    output_stat: bool = False,
    n_outputs: Any = None,
) -> Any:
    """``relu(batch_normalization(x, ...) + z)``; missing beta/gamma become constants 0/1."""
    import nnl

    axes = _normalize_bn_axes(x, axes, "FusedBatchNormalization")
    if not batch_stat and (mean is None or variance is None):
        raise ValueError("FusedBatchNormalization: if batch_stat is False, mean and variance must not be None.")
    mean, variance = _bn_inputs(x, axes, beta, gamma, mean, variance, batch_stat, "FusedBatchNormalization")
    stat_shape = _param_shape(tuple(x.shape), tuple(axes))
    if beta is None:
        beta = nnl.Variable.from_numpy_array(np.zeros(stat_shape, np.float32))
    if gamma is None:
        gamma = nnl.Variable.from_numpy_array(np.ones(stat_shape, np.float32))
    inputs = [x, beta, gamma, mean, variance] + ([z] if z is not None else [])
    fn = FusedBatchNormalization(axes, decay_rate, eps, batch_stat, nonlinearity)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class SyncBatchNormalization(_BatchNormBase):
    """Batch normalization whose batch statistics are shared by all processes of ``comm`` (group ``group``).

    With one process (``comm`` is None or ``comm.size == 1``) it is exactly :class:`BatchNormalization`.
    With ``P > 1`` processes each computes the per-channel sums ``mean(x)`` and ``mean(x**2)`` of its local
    batch, ``comm.all_reduce([...], division=False, inplace=False, group=group)`` sums them, and the global
    statistics are ``mean = sum_mean / P``, ``var = sum_sqmean / P - mean**2`` (equal local batch sizes assumed,
    like nnabla); the running variance uses ``n = P * local_count``. In backward the per-channel sums of ``dy``
    and ``dy * xhat`` are all-reduced the same way, so ``dx`` is the gradient of the global batch statistics;
    ``dbeta``/``dgamma`` stay local (they are all-reduced with the other parameter gradients by the trainer).
    """

    input_names = ("x", "beta", "gamma", "mean", "variance")
    comm: CommunicatorArg = None
    group: String = "world"
    axes: Ints = (1,)
    decay_rate: Float = 0.9
    eps: Float = 1e-05
    batch_stat: Bool = True
    grad_depends_input = True

    def _layout(self, n_inputs: int) -> dict[str, int | None]:
        if n_inputs != 5:
            raise self.fail("inputs", "5 inputs (x, beta, gamma, mean, variance)", f"{n_inputs} inputs")
        return {"beta": 1, "gamma": 2, "mean": 3, "variance": 4}

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return self._setup_bn(inputs)

    def _n_procs(self) -> int:
        comm = self.comm
        if comm is None:
            return 1
        if self.group not in (None, "", "world"):
            find = getattr(comm, "find_group", None)
            if find is not None:
                try:
                    return max(1, len(find(self.group)))
                except Exception:  # noqa: BLE001 - fall back on the world size
                    pass
        return max(1, int(getattr(comm, "size", 1)))

    def _reduce(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        from nnl.core.ndarray import NdArray

        nds = [NdArray.from_numpy_array(np.ascontiguousarray(a)) for a in arrays]
        self.comm.all_reduce(nds, division=False, inplace=False, group=self.group)
        return [np.asarray(nd.data, dtype=a.dtype).reshape(a.shape) for nd, a in zip(nds, arrays)]

    def _batch_moments(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, Any]:
        procs = self._n_procs()
        n = count_of(data.shape, self._raxes)
        if procs == 1:
            mean, var, centered = centered_moments(data, self._raxes)
            return mean, var, n, centered
        mean = data.mean(axis=self._raxes, keepdims=True)
        sqmean = np.square(data).mean(axis=self._raxes, keepdims=True)
        mean, sqmean = self._reduce([mean, sqmean])
        mean = mean * (1.0 / procs)
        var = np.maximum(sqmean * (1.0 / procs) - np.square(mean), 0)
        return mean, var, n * procs, None

    def _allreduce(self) -> Any:
        return self._reduce if self._n_procs() > 1 else None

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return self._bn_forward(x)

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return self._bn_backward(x, dy[0], dy, need)


@api(SyncBatchNormalization)
def sync_batch_normalization(
    x: Any,
    beta: Any,
    gamma: Any,
    mean: Any,
    variance: Any,
    comm: Any,
    group: str = "world",
    axes: Any = [1],  # noqa: B006
    decay_rate: float = 0.9,
    eps: float = 1e-05,
    batch_stat: bool = True,
    output_stat: bool = False,
    n_outputs: Any = None,
) -> Any:
    """Synchronized batch normalization (see :class:`SyncBatchNormalization`)."""
    import nnl

    axes = _normalize_bn_axes(x, axes, "SyncBatchNormalization")
    if not batch_stat and (mean is None or variance is None):
        raise ValueError("SyncBatchNormalization: if batch_stat is False, mean and variance must not be None.")
    mean, variance = _bn_inputs(x, axes, beta, gamma, mean, variance, False, "SyncBatchNormalization")
    stat_shape = _param_shape(tuple(x.shape), tuple(axes))
    if beta is None:
        beta = nnl.Variable.from_numpy_array(np.zeros(stat_shape, np.float32))
    if gamma is None:
        gamma = nnl.Variable.from_numpy_array(np.ones(stat_shape, np.float32))
    fn = SyncBatchNormalization(comm, group, axes, decay_rate, eps, batch_stat)
    return fn(x, beta, gamma, mean, variance, n_outputs=3 if output_stat else 1)


# ---------------------------------------------------------------------------------------------------------------
# standardisation without running statistics: tensor / layer / instance / group / weight standardization
# ---------------------------------------------------------------------------------------------------------------
class _Standardize(_MultiOutput):
    """Normalise ``x`` over ``self._raxes`` of a working view of shape ``self._work`` (group norm splits C)."""

    grad_depends_input = True
    _has_affine = True

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(working shape, reduced axes in the working shape)."""
        raise NotImplementedError

    def _check_param(self, name: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Validate a beta/gamma shape; return its shape in the working view."""
        raise NotImplementedError

    def _param_indices(self, n_inputs: int) -> tuple[int | None, int | None]:
        if not self._has_affine:
            if n_inputs != 1:
                raise self.fail("inputs", "1 input", f"{n_inputs} inputs")
            return None, None
        i = 1
        ib = ig = None
        if not self.no_bias:
            ib = i
            i += 1
        if not self.no_scale:
            ig = i
            i += 1
        if n_inputs != i:
            raise self.fail(
                "inputs",
                f"{i} inputs for no_bias={self.no_bias}, no_scale={self.no_scale}",
                f"{n_inputs} inputs",
            )
        return ib, ig

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        x_shape = tuple(inputs[0].shape)
        self._ib, self._ig = self._param_indices(len(inputs))
        self._work, self._raxes = self._plan(x_shape)
        self._work_param: dict[int, tuple[int, ...]] = {}
        for name, i in (("beta", self._ib), ("gamma", self._ig)):
            if i is not None:
                self._work_param[i] = self._check_param(name, tuple(inputs[i].shape), x_shape)
        self._check_n_out((1, 3))
        stat_shape = tuple(1 if i in self._raxes else s for i, s in enumerate(self._work))
        self._stat_shape = stat_shape
        return [x_shape] + ([stat_shape, stat_shape] if self.n_out == 3 else [])

    def _param(self, x: list[Any], i: int | None) -> Any:
        return None if i is None else x[i].reshape(self._work_param[i])

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data = x[0].reshape(self._work)
        mean, var, centered = centered_moments(data, self._raxes)
        y, inv_std = normalize(data, mean, var, self.eps, self._param(x, self._ig), self._param(x, self._ib), centered)
        self._store(x[0], mean, inv_std)
        y = y.reshape(x[0].shape)
        if self.n_out == 3:
            return [y, mean.copy(), var]
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data = x[0].reshape(self._work)
        stats = self._cached(x[0])
        if stats is None:
            mean, var = moments(data, self._raxes)
            inv_std = 1.0 / np.sqrt(var + self.eps)
        else:
            mean, inv_std = stats
        ib, ig = self._ib, self._ig
        need_b = ib is not None and need[ib]
        need_g = ig is not None and need[ig]
        dmean = dvar = None
        if self.n_out == 3:
            dmean, dvar = dy[1].reshape(self._stat_shape), dy[2].reshape(self._stat_shape)
        dx, dg, db = normalize_backward(
            data,
            dy[0].reshape(self._work),
            self._raxes,
            mean,
            inv_std,
            self._param(x, ig),
            need[0],
            need_g,
            need_b,
            self._work_param.get(ig),
            self._work_param.get(ib),
            dmean,
            dvar,
        )
        grads: list[Any] = [None] * len(x)
        if need[0]:
            grads[0] = dx.reshape(x[0].shape)
        if need_b:
            grads[ib] = db.reshape(x[ib].shape)
        if need_g:
            grads[ig] = dg.reshape(x[ig].shape)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        """The backward as a graph (for second-order gradients): with x^ = (x - mean) s, s = (var + eps)^-1/2 and
        g = dy gamma, dx = s (g - mean(g) - x^ mean(g x^)) (+ the terms of the mean and var outputs)."""
        from nnl import functions as F

        axes = list(self._raxes)
        count = float(np.prod([self._work[a] for a in axes])) if axes else 1.0
        data = F.reshape(x[0], self._work)
        mean = F.mean(data, axis=axes, keepdims=True) if axes else data * 1.0
        centered = data - mean
        variance = F.mean(centered * centered, axis=axes, keepdims=True) if axes else centered * 0.0
        inv_std = F.pow_scalar(variance + self.eps, -0.5)
        normalized = centered * inv_std
        d_out = F.reshape(dy[0], self._work)
        grads: list[Any] = [None] * len(x)
        ib, ig = self._ib, self._ig
        if need[0]:
            g = d_out * F.reshape(x[ig], self._work_param[ig]) if ig is not None else d_out
            dx = g - F.mean(g, axis=axes, keepdims=True) - normalized * F.mean(g * normalized, axis=axes, keepdims=True) if axes else g * 0.0
            dx = dx * inv_std
            if self.n_out == 3:
                dx = dx + F.reshape(dy[1], self._stat_shape) / count + F.reshape(dy[2], self._stat_shape) * centered * (2.0 / count)
            grads[0] = F.reshape(dx, x[0].shape)
        for i, term in ((ib, d_out), (ig, d_out * normalized)):
            if i is not None and need[i]:
                reduce = [a for a, (w, k) in enumerate(zip(self._work, self._work_param[i])) if k == 1 and w != 1]
                summed = F.sum(term, axis=reduce, keepdims=True) if reduce else term
                grads[i] = F.reshape(summed, x[i].shape)
        return grads

def _exact_param(
    fn: Function, name: str, shape: tuple[int, ...], expected: tuple[int, ...], what: str
) -> tuple[int, ...]:
    if shape != expected:
        raise fn.fail(name, f"{name}.shape == {expected} ({what})", f"{name}.shape={shape}")
    return shape


class TensorNormalization(_Standardize):
    """Normalise over all axes except ``axes`` (statistics have x's size along ``axes``, 1 elsewhere)."""

    input_names = ("x", "beta?", "gamma?")
    axes: Ints = (1,)
    eps: Float = 1e-05
    no_scale: Bool = False
    no_bias: Bool = False

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        axes = normalize_axes(self, self.axes, len(x_shape))
        self.axes = tuple(axes)
        return x_shape, tuple(i for i in range(len(x_shape)) if i not in axes)

    def _check_param(self, name: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> tuple[int, ...]:
        return _exact_param(
            self, name, shape, _param_shape(x_shape, self.axes), f"x.shape with 1 outside axes={self.axes}"
        )


@api(TensorNormalization)
def tensor_normalization(
    x: Any, axes: Any, beta: Any = None, gamma: Any = None, eps: float = 1e-05, output_stat: bool = False
) -> Any:
    """Normalise ``x`` with its own mean and variance computed over all axes but ``axes``.

    Returns ``y`` or ``(y, mean, var)`` when ``output_stat``.
    """
    axes = _force_list(axes)
    inputs = [x] + [v for v in (beta, gamma) if v is not None]
    fn = TensorNormalization(axes, eps, gamma is None, beta is None)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class LayerNormalization(_Standardize):
    """Normalise each sample over all axes except ``batch_axis``; beta/gamma have x's shape with 1 at batch axes."""

    input_names = ("x", "beta?", "gamma?")
    batch_axis: Ints = (0,)
    eps: Float = 1e-05
    no_scale: Bool = False
    no_bias: Bool = False

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        axes = normalize_axes(self, _force_list(self.batch_axis), len(x_shape), "batch_axis")
        self.batch_axis = tuple(axes)
        return x_shape, tuple(i for i in range(len(x_shape)) if i not in axes)

    def _check_param(self, name: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> tuple[int, ...]:
        expected = tuple(1 if i in self.batch_axis else s for i, s in enumerate(x_shape))
        return _exact_param(self, name, shape, expected, f"x.shape with 1 at batch_axis={self.batch_axis}")


@api(LayerNormalization)
def layer_normalization(
    x: Any, beta: Any, gamma: Any, batch_axis: Any = 0, eps: float = 1e-05, output_stat: bool = False
) -> Any:
    """Layer normalization; returns ``(y, mean, var)`` when ``output_stat``."""
    inputs = [x] + [v for v in (beta, gamma) if v is not None]
    fn = LayerNormalization(_force_list(batch_axis), eps, gamma is None, beta is None)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class InstanceNormalization(_Standardize):
    """Normalise each (sample, channel) over the remaining axes.

    beta/gamma have 1 everywhere except ``C`` at ``channel_axis`` and, optionally, the batch size at batch axes.
    """

    input_names = ("x", "beta?", "gamma?")
    channel_axis: Int64 = 1
    batch_axis: Ints = (0,)
    eps: Float = 1e-05
    no_scale: Bool = False
    no_bias: Bool = False

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        ndim = len(x_shape)
        self.channel_axis = normalize_axis(self, int(self.channel_axis), ndim, "channel_axis")
        batch = normalize_axes(self, _force_list(self.batch_axis), ndim, "batch_axis")
        if self.channel_axis in batch:
            raise self.fail("batch_axis", f"axes other than channel_axis={self.channel_axis}", tuple(batch))
        self.batch_axis = tuple(batch)
        kept = set(batch) | {self.channel_axis}
        return x_shape, tuple(i for i in range(ndim) if i not in kept)

    def _check_param(self, name: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> tuple[int, ...]:
        c = self.channel_axis
        adapt = tuple(s if (i == c or i in self.batch_axis) else 1 for i, s in enumerate(x_shape))
        ok = len(shape) == len(x_shape) and shape[c] == x_shape[c] and all(a in (1, b) for a, b in zip(shape, adapt))
        if not ok:
            raise self.fail(
                name,
                f"a shape broadcastable to {adapt} with {name}.shape[{c}] == {x_shape[c]}",
                f"{name}.shape={shape}",
            )
        return shape


@api(InstanceNormalization)
def instance_normalization(
    x: Any,
    beta: Any,
    gamma: Any,
    channel_axis: int = 1,
    batch_axis: Any = 0,
    eps: float = 1e-05,
    output_stat: bool = False,
) -> Any:
    """Instance normalization; returns ``(y, mean, var)`` when ``output_stat``."""
    inputs = [x] + [v for v in (beta, gamma) if v is not None]
    fn = InstanceNormalization(channel_axis, _force_list(batch_axis), eps, gamma is None, beta is None)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class GroupNormalization(_Standardize):
    """Split the channels into ``num_groups`` groups and normalise each (sample, group) over the rest.

    The statistics live on x's shape with the channel axis split into ``(num_groups, C // num_groups)``: for
    ``(B, C, H, W)`` they have shape ``(B, num_groups, 1, 1, 1)``. beta/gamma have shape ``(1, C, 1, 1)``.
    """

    input_names = ("x", "beta?", "gamma?")
    num_groups: Int64 = 1
    channel_axis: Int64 = 1
    batch_axis: Ints = (0,)
    eps: Float = 1e-05
    no_scale: Bool = False
    no_bias: Bool = False

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        ndim = len(x_shape)
        c = self.channel_axis = normalize_axis(self, int(self.channel_axis), ndim, "channel_axis")
        batch = normalize_axes(self, _force_list(self.batch_axis), ndim, "batch_axis")
        if c in batch:
            raise self.fail("batch_axis", f"axes other than channel_axis={c}", tuple(batch))
        self.batch_axis = tuple(batch)
        groups = int(self.num_groups)
        if groups < 1 or x_shape[c] % groups:
            raise self.fail(
                "num_groups", f"a positive divisor of the channel size {x_shape[c]} (x.shape={x_shape})", groups
            )
        work = x_shape[:c] + (groups, x_shape[c] // groups) + x_shape[c + 1 :]
        kept = {b if b < c else b + 1 for b in batch} | {c}
        return work, tuple(i for i in range(len(work)) if i not in kept)

    def _check_param(self, name: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> tuple[int, ...]:
        c = self.channel_axis
        expected = tuple(s if i == c else 1 for i, s in enumerate(x_shape))
        _exact_param(self, name, shape, expected, f"1 except C at channel_axis={c}")
        groups = int(self.num_groups)
        return shape[:c] + (groups, shape[c] // groups) + shape[c + 1 :]


@api(GroupNormalization)
def group_normalization(
    x: Any,
    beta: Any,
    gamma: Any,
    num_groups: int,
    channel_axis: int = 1,
    batch_axis: Any = 0,
    eps: float = 1e-05,
    output_stat: bool = False,
) -> Any:
    """Group normalization; returns ``(y, mean, var)`` when ``output_stat``."""
    inputs = [x] + [v for v in (beta, gamma) if v is not None]
    fn = GroupNormalization(num_groups, channel_axis, _force_list(batch_axis), eps, gamma is None, beta is None)
    return fn(*inputs, n_outputs=3 if output_stat else 1)


class WeightStandardization(_Standardize):
    """Standardise a weight per output channel: mean 0 and variance 1 over all axes but ``channel_axis``."""

    input_names = ("w",)
    channel_axis: Int64 = 0
    eps: Float = 1e-05
    _has_affine = False

    def _plan(self, x_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        c = self.channel_axis = normalize_axis(self, int(self.channel_axis), len(x_shape), "channel_axis")
        return x_shape, tuple(i for i in range(len(x_shape)) if i != c)


@api(WeightStandardization)
def weight_standardization(w: Any, channel_axis: int = 0, eps: float = 1e-05, output_stat: bool = False) -> Any:
    """Weight standardization; returns ``(w_std, mean, var)`` when ``output_stat``."""
    return WeightStandardization(channel_axis, eps)(w, n_outputs=3 if output_stat else 1)


# ---------------------------------------------------------------------------------------------------------------
# weight normalization, norm normalization, spectral norm
# ---------------------------------------------------------------------------------------------------------------
class WeightNormalization(Function):
    """``w_wn = g * w / sqrt(sum(w**2 over all axes but dim) + eps)`` with ``g`` of shape ``(w.shape[dim],)``."""

    input_names = ("w", "g")
    output_names = ("w_wn",)
    dim: Int64 = 0
    eps: Float = 1e-12
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        w_shape, g_shape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        self.dim = normalize_axis(self, int(self.dim), len(w_shape), "dim")
        if len(g_shape) != 1 or g_shape[0] != w_shape[self.dim]:
            raise self.fail(
                "g", f"g.shape == ({w_shape[self.dim]},) (w.shape[dim] with dim={self.dim})", f"g.shape={g_shape}"
            )
        if not self.eps > 0:
            raise self.fail("eps", "a positive value", self.eps)
        self._raxes = tuple(i for i in range(len(w_shape)) if i != self.dim)
        self._gshape = tuple(s if i == self.dim else 1 for i, s in enumerate(w_shape))
        return [w_shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w, g = x[0], x[1].reshape(self._gshape)
        r = 1.0 / np.sqrt(np.sum(np.square(w), axis=self._raxes, keepdims=True) + self.eps)
        return [w * (r * g)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        w, g = x[0], x[1].reshape(self._gshape)
        r = 1.0 / np.sqrt(np.sum(np.square(w), axis=self._raxes, keepdims=True) + self.eps)
        s = np.sum(dy[0] * w, axis=self._raxes, keepdims=True)
        dw = dg = None
        if need[0]:
            dw = (dy[0] - w * (s * r * r)) * (g * r)
        if need[1]:
            dg = (s * r).reshape(x[1].shape)
        return [dw, dg]


@api(WeightNormalization)
def weight_normalization(
    w: Any, g: Any, dim: int = 0, eps: float = 1e-12, n_outputs: int = -1, outputs: Any = None
) -> Any:
    return WeightNormalization(dim, eps)(w, g, n_outputs=n_outputs, outputs=outputs)


class NormNormalization(Function):
    """``y = x / (sum(|x|**p over axes) + eps) ** (1/p)``."""

    p: Float = 2.0
    axes: Ints = None
    eps: Float = 1e-12
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.p is None:
            self.p = 2.0
        if not self.p >= 1:
            raise self.fail("p", "p >= 1", self.p)
        self.axes = tuple(normalize_axes(self, self.axes, len(shape)))
        return [shape]

    def _norm(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        a = np.abs(x)
        ap = np.square(a) if p == 2 else a**p
        s = np.sum(ap, axis=self.axes, keepdims=True) + self.eps
        return s ** (1.0 / p), a

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        n, _ = self._norm(x[0])
        return [x[0] / n]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        data, p = x[0], self.p
        n, a = self._norm(data)
        s = np.sum(dy[0] * data, axis=self.axes, keepdims=True)
        # d n / d x = n**(1-p) * |x|**(p-1) * sign(x)
        dn = np.sign(data) * (a ** (p - 1.0)) * n ** (1.0 - p)
        return [dy[0] / n - dn * (s / np.square(n))]


@api(NormNormalization)
def norm_normalization(x: Any, p: Any = None, axes: Any = None, eps: float = 1e-12) -> Any:
    """Divide ``x`` by its ``p``-norm over ``axes`` (default: every axis; ``p`` default 2)."""
    if p is None:
        p = 2.0
    if axes is None:
        axes = range(len(x.shape))
    elif not hasattr(axes, "__iter__"):
        axes = [axes]
    return NormNormalization(float(p), tuple(int(a) for a in axes), eps)(x)


class SpectralNorm(_MultiOutput):
    """Spectral normalization ``w_sn = w / sigma`` with sigma estimated by ``itr`` power iterations from ``u``.

    ``w`` is viewed as the matrix ``W`` of shape ``(w.shape[dim], -1)`` (``dim`` moved first); ``u`` has shape
    ``(w.shape[dim],)``. Each iteration: ``v = normalize(W^T u)``, ``u = normalize(W v)`` (``normalize(a) =
    a / sqrt(sum(a**2) + eps)``), then ``sigma = u^T W v``. Unless ``test``, the input ``u`` is overwritten with
    the new ``u`` during forward. ``output_u`` adds a second output: ``u`` as it was before the update. In
    backward ``u`` and ``v`` are constants (like nnabla): ``dW = dY / sigma - <dY, W> / sigma**2 * u v^T``.
    """

    input_names = ("w", "u")
    output_names = ("w_sn", "*u")
    dim: Int64 = 0
    itr: Int64 = 1
    eps: Float = 1e-12
    test: Bool = False
    output_u: Bool = False
    grad_depends_input = True

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        w_shape, u_shape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if not 0 <= int(self.dim) < len(w_shape):
            raise self.fail("dim", f"0 <= dim < {len(w_shape)} (w.shape={w_shape})", self.dim)
        if int(self.itr) < 1:
            raise self.fail("itr", "itr > 0", self.itr)
        if not self.eps > 0:
            raise self.fail("eps", "eps > 0", self.eps)
        d0 = w_shape[self.dim]
        if int(np.prod(u_shape, dtype=np.int64)) != d0:
            raise self.fail("u", f"u of size {d0} (w.shape[dim])", f"u.shape={u_shape}")
        if self.output_u:
            self._n_out = 2
        return [w_shape] + ([u_shape] if self.n_out == 2 else [])

    def _matrix(self, w: np.ndarray) -> np.ndarray:
        return np.moveaxis(w, int(self.dim), 0).reshape(w.shape[int(self.dim)], -1)

    def _power(self, W: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        eps = self.eps
        v = None
        for _ in range(int(self.itr)):
            v = W.T @ u
            v = v / np.sqrt(np.sum(np.square(v)) + eps)
            u = W @ v
            u = u / np.sqrt(np.sum(np.square(u)) + eps)
        sigma = u @ (W @ v)
        return u, v, sigma

    def need_setup_recompute(self, o: int) -> bool:
        return not self.test

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        w, u_in = x[0], x[1]
        saved = self.__dict__.get("_u_orig")
        if not self._updating and saved is not None and saved.size == u_in.size:
            u0 = saved.copy()  # recompute: start again from the u of the original forward
        else:
            u0 = u_in.reshape(-1).copy()
            if not self.test:
                self._u_orig = u0.copy()
        W = self._matrix(w)
        u, v, sigma = self._power(W, u0.astype(W.dtype, copy=False))
        self._store_uv(w, u, v, sigma)
        if not self.test and self._updating and _writeable(u_in):
            u_in[...] = u.reshape(u_in.shape)
        y = w / sigma
        if self.n_out == 2:
            return [y, u0.reshape(u_in.shape)]
        return [y]

    def _store_uv(self, w: np.ndarray, u: np.ndarray, v: np.ndarray, sigma: Any) -> None:
        self._store(w, u, v, sigma)

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        w = x[0]
        W = self._matrix(w)
        stats = self._cached(w)
        if stats is None:
            u_prev = x[1].reshape(-1)
            u, v, sigma = self._power(W, u_prev.astype(W.dtype, copy=False))
        else:
            u, v, sigma = stats
        G = self._matrix(dy[0])
        s = np.sum(G * W)
        dW = G / sigma - np.outer(u, v) * (s / (sigma * sigma))
        moved = np.moveaxis(w, int(self.dim), 0).shape
        dw = np.moveaxis(dW.reshape(moved), 0, int(self.dim))
        return [np.ascontiguousarray(dw), None]


@api(SpectralNorm)
def spectral_norm(
    w: Any, u: Any, dim: int = 0, itr: int = 1, eps: float = 1e-12, test: bool = False, output_u: bool = False
) -> Any:
    """Spectral normalization; returns ``(w_sn, u)`` when ``output_u``."""
    return SpectralNorm(dim, itr, eps, test, output_u)(w, u, n_outputs=2 if output_u else 1)


# ---------------------------------------------------------------------------------------------------------------
# mean subtraction, gradient clipping
# ---------------------------------------------------------------------------------------------------------------
class MeanSubtraction(_MultiOutput):
    """``y = x - running_mean`` with the running mean of the samples (axes before ``base_axis``).

    With ``update_running_mean``: the batch mean ``m`` updates ``rmean <- rmean + (m - rmean) / (t + 1)`` and the
    count ``t <- t + 1`` in place before subtracting; backward is ``dx = dy * (1 - 1 / (t * batch))`` (nnabla's
    formula, the cross terms through the running mean are ignored). Otherwise ``dx = dy``.
    """

    input_names = ("x", "rmean", "t?")
    output_names = ("y",)
    base_axis: Int64 = 1
    update_running_mean: Bool = True
    grad_depends_input = (2,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if not (len(inputs) == 3 or (len(inputs) == 2 and not self.update_running_mean)):
            raise self.fail(
                "inputs",
                "3 inputs (x, rmean, t), or 2 (x, rmean) when update_running_mean=False",
                f"{len(inputs)} inputs",
            )
        self.base_axis = normalize_axis(self, int(self.base_axis), len(shape), "base_axis")
        expected = shape[self.base_axis :]
        if tuple(inputs[1].shape) != expected:
            raise self.fail(
                "rmean", f"rmean.shape == {expected} (x.shape[base_axis:])", f"rmean.shape={tuple(inputs[1].shape)}"
            )
        if len(inputs) == 3 and int(np.prod(inputs[2].shape, dtype=np.int64)) != 1:
            raise self.fail("t", "a single-element count t", f"t.shape={tuple(inputs[2].shape)}")
        self._batch_axes = tuple(range(self.base_axis))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        data, rmean = x[0], x[1]
        if self.update_running_mean and self._updating:
            t = x[2]
            count = int(np.asarray(t).reshape(-1)[0])
            m = data.mean(axis=self._batch_axes) if self._batch_axes else data
            new = rmean + (m - rmean) * (1.0 / (count + 1))
            if _writeable(rmean):
                rmean[...] = new
            if _writeable(t):
                t.reshape(-1)[0] = min(count + 1, np.iinfo(np.int32).max)
            return [data - new.astype(data.dtype, copy=False)]
        return [data - rmean]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        grads: list[Any] = [None] * len(x)
        if not need[0]:
            return grads
        if self.update_running_mean:
            count = int(np.asarray(x[2]).reshape(-1)[0])
            batch = count_of(x[0].shape, self._batch_axes)
            grads[0] = dy[0] * (1.0 - 1.0 / (count * batch))
        else:
            grads[0] = dy[0].copy()
        return grads


@api(MeanSubtraction)
def mean_subtraction(x: Any, mean: Any, t: Any, base_axis: int = 1, update_running_mean: bool = True) -> Any:
    """Subtract a running mean updated with each batch (see :class:`MeanSubtraction`)."""
    inputs = (x, mean, t) if t is not None else (x, mean)
    return MeanSubtraction(base_axis, update_running_mean)(*inputs)


class ClipGradByValue(Function):
    """Identity in forward; in backward the gradient is clipped to ``[min, max]`` (element-wise, broadcast)."""

    input_names = ("x", "min", "max")
    grad_depends_input = (1, 2)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        for name, v in (("min", inputs[1]), ("max", inputs[2])):
            try:
                ok = np.broadcast_shapes(tuple(v.shape), shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise self.fail(name, f"a shape that broadcasts to x.shape={shape}", f"{name}.shape={tuple(v.shape)}")
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        dx = None
        if need[0]:  # nnabla's order matters when min > max: above max -> max, else below min -> min
            dx = np.where(g > x[2], x[2], np.where(g < x[1], x[1], g)).astype(g.dtype, copy=False)
        dmin = np.zeros(x[1].shape, np.float32) if need[1] else None
        dmax = np.zeros(x[2].shape, np.float32) if need[2] else None
        return [dx, dmin, dmax]


@api(ClipGradByValue)
def clip_grad_by_value(x: Any, min: Any, max: Any, n_outputs: int = -1, outputs: Any = None) -> Any:  # noqa: A002
    return ClipGradByValue()(x, min, max, n_outputs=n_outputs, outputs=outputs)


class ClipGradByNorm(Function):
    """Identity in forward; backward rescales the gradient to norm ``clip_norm`` over ``axes``.

    ``dx = clip_norm * dy / sqrt(sum(dy**2 over axes))`` (nnabla always rescales, it does not only shrink).
    """

    clip_norm: Float = 1.0
    axes: Ints = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.clip_norm is None:
            self.clip_norm = 1.0
        self.axes = tuple(normalize_axes(self, self.axes, len(shape)))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        norm = np.sqrt(np.sum(np.square(g), axis=self.axes, keepdims=True))
        return [g * (self.clip_norm / norm)]


@api(ClipGradByNorm)
def clip_grad_by_norm(x: Any, clip_norm: Any = None, axes: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    if clip_norm is None:
        clip_norm = 1.0
    if axes is None:
        axes = range(len(x.shape))
    elif not hasattr(axes, "__iter__"):
        axes = [axes]
    return ClipGradByNorm(float(clip_norm), tuple(int(a) for a in axes))(x, n_outputs=n_outputs, outputs=outputs)
