"""Array Manipulation: reshaping, slicing, joining, broadcasting, gathering and scattering.

Semantics follow nnabla 1.39 (``src/nbla/function/generic/*.cpp``). Index inputs (one-hot labels, gather and
scatter indices, masks, sequence lengths) may be integer or float arrays; they are read as integers and get no
gradient. Outputs that hold indices (``sort(with_index=True)``, ``nonzero``, ``pack_padded_sequence``'s
``batch_sizes``) are int64 arrays.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from nnl.core.function import Bool, Float, Function, Int64, Ints, ShapeArg, String
from nnl.functions._array_helpers import (
    fail,
    finish_data_dependent,
    pad_backward,
    pad_forward,
    pad_widths,
    prod,
    scatter_add_rows,
    take_adjoint,
)
from nnl.functions.registry import api


def _axis(function: Function, axis: int, ndim: int, argument: str = "axis", extra: int = 0) -> int:
    """``axis`` in ``[0, ndim + extra)`` (negative counts from the end)."""
    n = ndim + extra
    if not -n <= int(axis) < n:
        raise fail(function, argument, f"an axis in [{-n}, {n}) for an input of {ndim} dimensions", axis)
    return int(axis) % n


def _constant(array: np.ndarray) -> Any:
    from nnl.core.variable import Variable

    return Variable.from_numpy_array(np.asarray(array))


def _as_index(array: Any) -> np.ndarray:
    return np.asarray(array).astype(np.int64, copy=False)


# ======================================================================================================
# Reshape, Broadcast
# ======================================================================================================
class Reshape(Function):
    """View ``x`` with a new ``shape`` (one entry may be -1); shares memory with the input."""

    shape: ShapeArg = None
    inplace: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = inputs[0].shape
        size = int(np.prod(in_shape, dtype=np.int64))
        shape = [int(s) for s in self.shape]
        if shape.count(-1) > 1:
            raise fail(self, "shape", "at most one -1 entry", tuple(shape))
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
            if known == 0 or size % known:
                raise fail(self, "shape", f"a shape whose size divides {size} (x.shape={in_shape})", tuple(shape))
            shape[shape.index(-1)] = size // known
        if int(np.prod(shape, dtype=np.int64)) != size:
            raise fail(self, "shape", f"a shape of size {size} like x.shape={in_shape}", tuple(shape))
        self.shape = tuple(shape)
        return [self.shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0].reshape(self.shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].reshape(x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.reshape(dy[0], x[0].shape)]


@api(Reshape)
def reshape(x: Any, shape: Any, inplace: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Reshape(tuple(shape), inplace)(x, n_outputs=n_outputs, outputs=outputs)


class Broadcast(Function):
    """Broadcast ``x`` to ``shape`` (dimensions of size 1 are repeated; ranks must match)."""

    shape: ShapeArg = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        in_shape = tuple(inputs[0].shape)
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != len(in_shape) or any(a != b and a != 1 for a, b in zip(in_shape, shape)):
            raise fail(self, "shape", f"a shape that x.shape={in_shape} broadcasts to (same rank, 1s expand)", shape)
        self.shape = shape
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.array(xp.broadcast_to(x[0], self.shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions._helpers import sum_to_shape

        return [sum_to_shape(dy[0], x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl.functions.graph_helpers import reduce_to

        return [reduce_to(dy[0], x[0])]


@api(Broadcast)
def broadcast(x: Any, shape: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Broadcast(tuple(shape))(x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# Concatenate, Split, Stack
# ======================================================================================================
class Concatenate(Function):
    """Join the inputs along an existing ``axis`` (default: the last one)."""

    input_names = ("*x",)
    axis: Int64 = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not inputs:
            raise fail(self, "x", "at least one input", 0)
        shape0 = tuple(inputs[0].shape)
        if self.axis is None:
            self.axis = len(shape0) - 1
        axis = _axis(self, self.axis, len(shape0))
        total = 0
        for i, v in enumerate(inputs):
            s = tuple(v.shape)
            if len(s) != len(shape0) or s[:axis] + s[axis + 1 :] != shape0[:axis] + shape0[axis + 1 :]:
                raise fail(
                    self,
                    "x",
                    f"inputs whose shapes equal x[0].shape={shape0} except on axis {axis}",
                    f"x[{i}].shape={s}",
                )
            total += s[axis]
        self._axis = axis
        return [shape0[:axis] + (total,) + shape0[axis + 1 :]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.concatenate(x, axis=self._axis)]

    def _sections(self, x: list[Any]) -> list[tuple[int, int]]:
        sections, offset = [], 0
        for a in x:
            sections.append((offset, offset + a.shape[self._axis]))
            offset += a.shape[self._axis]
        return sections

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lead = (builtins.slice(None),) * self._axis
        return [dy[0][lead + (builtins.slice(b, e),)] if n else None for (b, e), n in zip(self._sections(x), need)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape = dy[0].shape
        grads = []
        for (b, e), n in zip(self._sections(x), need):
            if not n:
                grads.append(None)
                continue
            start = [0] * len(shape)
            stop = list(shape)
            start[self._axis], stop[self._axis] = b, e
            grads.append(F.slice(dy[0], start, stop, [1] * len(shape)))
        return grads


@api(Concatenate)
def concatenate(*x: Any, **kw: Any) -> Any:
    axis = kw.pop("axis", None)
    n_outputs = kw.pop("n_outputs", -1)
    outputs = kw.pop("outputs", None)
    if kw:
        raise TypeError(f"concatenate: unexpected keyword arguments {sorted(kw)}; it takes axis, n_outputs, outputs.")
    if axis is None and x:
        axis = len(x[0].shape) - 1
    return Concatenate(axis)(*x, n_outputs=n_outputs, outputs=outputs)


class Split(Function):
    """Split ``x`` along ``axis`` into ``x.shape[axis]`` outputs, each without that axis."""

    output_names = ("*y",)
    axis: Int64 = 0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        axis = _axis(self, self.axis, len(shape))
        if prod(shape) == 0:
            raise fail(self, "x", "a non-empty input", f"x.shape={shape}")
        self._axis = axis
        out = shape[:axis] + shape[axis + 1 :]
        return [out] * shape[axis]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        moved = xp.moveaxis(x[0], self._axis, 0)
        return [xp.array(moved[i]) for i in range(moved.shape[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.stack(dy, axis=self._axis)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if len(dy) == 1:
            return [F.reshape(dy[0], x[0].shape, inplace=False)]
        return [F.stack(*dy, axis=self._axis)]


@api(Split)
def split(x: Any, axis: int = 0) -> Any:
    n = x.shape[axis] if -len(x.shape) <= axis < len(x.shape) else -1
    return Split(axis)(x, n_outputs=n)


class Stack(Function):
    """Join inputs of equal shapes along a new ``axis``."""

    input_names = ("*x",)
    axis: Int64 = 0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not inputs:
            raise fail(self, "x", "at least one input", 0)
        shape0 = tuple(inputs[0].shape)
        axis = _axis(self, self.axis, len(shape0), extra=1)
        for i, v in enumerate(inputs):
            if tuple(v.shape) != shape0:
                raise fail(
                    self, "x", f"inputs of equal shapes like x[0].shape={shape0}", f"x[{i}].shape={tuple(v.shape)}"
                )
        self._axis = axis
        return [shape0[:axis] + (len(inputs),) + shape0[axis:]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.stack(x, axis=self._axis)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lead = (builtins.slice(None),) * self._axis
        return [dy[0][lead + (i,)] if n else None for i, n in enumerate(need)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if len(x) == 1:
            return [F.reshape(dy[0], x[0].shape, inplace=False)]
        parts = F.split(dy[0], axis=self._axis)
        return [p if n else None for p, n in zip(parts, need)]


@api(Stack)
def stack(*x: Any, **kw: Any) -> Any:
    axis = kw.pop("axis", 0)
    n_outputs = kw.pop("n_outputs", -1)
    outputs = kw.pop("outputs", None)
    if kw:
        raise TypeError(f"stack: unexpected keyword arguments {sorted(kw)}; it takes axis, n_outputs, outputs.")
    return Stack(axis)(*x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# Slice, Pad, Transpose
# ======================================================================================================
def _slice_axis(size: int, start: int, stop: int, step: int) -> tuple[int, int, int]:
    """nnabla's (start, step, count) for one axis; negative start/stop count from the end."""
    if start < 0:
        start += size
    if stop < 0:
        stop += size
    if step > 0:
        start = max(start, 0)
        count = (min(stop, size) - 1 - start) // step + 1 if start < stop else 0
    else:
        start = min(start, size - 1)
        stop = max(stop, -1)
        count = (start - 1 - stop) // -step + 1 if start > stop else 0
    return start, step, max(count, 0)


def _numpy_slice(start: int, step: int, count: int) -> slice:
    if count == 0:
        return builtins.slice(0, 0)
    end = start + step * count
    return builtins.slice(start, end if end >= 0 else None, step)


class Slice(Function):
    """``x[start:stop:step]`` on each axis (Python slice semantics, negative steps included)."""

    start: Ints = None
    stop: Ints = None
    step: Ints = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        start = [0] * ndim if self.start is None else [int(s) for s in self.start]
        stop = list(shape) if self.stop is None else [int(s) for s in self.stop]
        step = [1] * ndim if self.step is None else [int(s) for s in self.step]
        if not len(start) == len(stop) == len(step):
            raise fail(self, "start/stop/step", "sequences of equal lengths", (len(start), len(stop), len(step)))
        if len(start) > ndim:
            raise fail(self, "start", f"at most {ndim} entries for x.shape={shape}", tuple(start))
        lead = ndim - len(start)
        start, stop, step = [0] * lead + start, list(shape[:lead]) + stop, [1] * lead + step
        if 0 in step:
            raise fail(self, "step", "non-zero steps", tuple(step))
        self.start, self.stop, self.step = tuple(start), tuple(stop), tuple(step)
        self._axes = [_slice_axis(n, b, e, s) for n, b, e, s in zip(shape, start, stop, step)]
        self._key = tuple(_numpy_slice(*a) for a in self._axes)
        return [tuple(a[2] for a in self._axes)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0][self._key].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = xp.zeros(x[0].shape, dy[0].dtype)
        g[self._key] = dy[0]
        return [g]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [slice_adjoint_graph(dy[0], tuple(x[0].shape), self._axes)]


def slice_adjoint_graph(g: Any, x_shape: tuple[int, ...], axes: list[tuple[int, int, int]]) -> Any:
    """The adjoint of a slice written with F (flip, reshape, pad, slice), so that it can be differentiated."""
    from nnl import functions as F

    ndim = len(x_shape)
    if any(count == 0 for _, _, count in axes):
        return _constant(np.zeros(x_shape, np.float32))
    widths: list[int] = []
    for axis, (start, step, count) in enumerate(axes):
        if step < 0:
            g = F.flip(g, [axis])
            start, step = start + step * (count - 1), -step
        length = count
        if step > 1:
            shape = tuple(g.shape)
            g = F.reshape(g, shape[: axis + 1] + (1,) + shape[axis + 1 :], inplace=False)
            g = F.pad(g, [0, step - 1] + [0, 0] * (ndim - axis - 1))
            g = F.reshape(g, shape[:axis] + (count * step,) + shape[axis + 1 :], inplace=False)
            length = min(count * step, x_shape[axis] - start)
            if length != count * step:
                stop = list(g.shape)
                stop[axis] = length
                g = F.slice(g, [0] * ndim, stop, [1] * ndim)
        widths += [start, x_shape[axis] - start - length]
    return F.pad(g, widths) if any(widths) else g


@api(Slice)
def slice(
    x: Any, start: Any = None, stop: Any = None, step: Any = None, n_outputs: int = -1, outputs: Any = None
) -> Any:  # noqa: A001
    shape = tuple(x.shape)
    start = list(start) if start is not None else [0] * len(shape)
    stop = list(stop) if stop is not None else list(shape)
    step = list(step) if step is not None else [1] * len(shape)
    lead = len(shape) - len(start)
    for i, (b, e, s) in enumerate(zip(start, stop, step)):
        size = shape[lead + i] if 0 <= lead + i < len(shape) else 0
        if b is None:
            start[i] = -1 if s is not None and s < 0 else 0
        if e is None:
            stop[i] = -size - 1 if s is not None and s < 0 else size
        if s is None:
            step[i] = 1
    return Slice(start, stop, step)(x, n_outputs=n_outputs, outputs=outputs)


class Pad(Function):
    """Pad the last ``len(pad_width) // 2`` axes: ``constant`` (with ``constant_value``), ``reflect`` or ``repeat``."""

    pad_width: Ints = None
    mode: String = "constant"
    constant_value: Float = 0.0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.mode not in ("constant", "reflect", "repeat"):
            raise fail(self, "mode", "'constant', 'reflect' or 'repeat'", repr(self.mode))
        widths = [int(w) for w in self.pad_width]
        if len(widths) % 2:
            raise fail(self, "pad_width", "an even number of values (before, after pairs)", tuple(widths))
        if len(widths) > 2 * len(shape):
            raise fail(self, "pad_width", f"at most {2 * len(shape)} values for x.shape={shape}", tuple(widths))
        if any(w < 0 for w in widths):
            raise fail(self, "pad_width", "non-negative values", tuple(widths))
        self.pad_width = tuple(widths)
        self._widths = pad_widths(widths, len(shape))
        return [tuple(n + b + a for n, (b, a) in zip(shape, self._widths))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [pad_forward(x[0], self._widths, self.mode, self.constant_value)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [pad_backward(dy[0], x[0].shape, self._widths, self.mode)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if self.mode != "constant":
            from nnl.core.grad import BackwardOf

            return [BackwardOf(self, need)(*x, *y, *dy)]
        start = [b for b, _ in self._widths]
        stop = [b + n for (b, _), n in zip(self._widths, x[0].shape)]
        return [F.slice(dy[0], start, stop, [1] * len(start))]


@api(Pad)
def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_value: float = 0, n_outputs: int = -1, outputs: Any = None
) -> Any:
    return Pad(tuple(pad_width), mode, constant_value)(x, n_outputs=n_outputs, outputs=outputs)


class Transpose(Function):
    """Permute the axes of ``x``."""

    axes: Ints = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        axes = [int(a) for a in self.axes]
        if len(axes) != len(shape):
            raise fail(self, "axes", f"{len(shape)} axes (a permutation for x.shape={shape})", tuple(axes))
        axes = [_axis(self, a, len(shape), "axes") for a in axes]
        if sorted(axes) != list(range(len(shape))):
            raise fail(self, "axes", f"a permutation of {tuple(range(len(shape)))}", tuple(self.axes))
        self._axes = tuple(axes)
        self._inverse = tuple(int(i) for i in np.argsort(axes))
        return [tuple(shape[a] for a in axes)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.ascontiguousarray(x[0].transpose(self._axes)) if x[0].ndim > 1 else x[0].copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0].transpose(self._inverse)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.transpose(dy[0], self._inverse)]


@api(Transpose)
def transpose(x: Any, axes: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Transpose(tuple(axes))(x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# BroadcastTo, Tile, OneHot, Flip, Shift, Sort
# ======================================================================================================
class BroadcastTo(Function):
    """``y`` broadcast to ``x.shape``, placed on the axes from ``axis`` on (``axis < 0``: the trailing axes)."""

    input_names = ("x", "y")
    output_names = ("z",)
    axis: Int64 = -1
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs, ys = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ys) > len(xs):
            raise fail(self, "y", f"at most {len(xs)} dimensions (x.shape={xs})", f"y.shape={ys}")
        axis = len(xs) - len(ys) if self.axis < 0 else int(self.axis)
        if self.axis >= 0 and axis >= max(len(xs), 1):
            raise fail(self, "axis", f"an axis of x (x.shape={xs})", self.axis)
        if xs[axis : axis + len(ys)] != ys:
            raise fail(
                self,
                "y",
                f"a shape equal to x.shape[{axis}:{axis + len(ys)}]={xs[axis : axis + len(ys)]}",
                f"y.shape={ys}",
            )
        self._view = (1,) * axis + ys + (1,) * (len(xs) - axis - len(ys))
        self._sum_axes = tuple(i for i in range(len(xs)) if not axis <= i < axis + len(ys))
        return [xs]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.array(xp.broadcast_to(x[1].reshape(self._view), x[0].shape))]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        gy = dy[0].sum(axis=self._sum_axes).reshape(x[1].shape) if need[1] else None
        return [None, gy]


@api(BroadcastTo)
def broadcast_to(x: Any, y: Any, axis: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BroadcastTo(-1 if axis is None else axis)(x, y, n_outputs=n_outputs, outputs=outputs)


class Tile(Function):
    """``x`` repeated ``reps`` times along each axis (``np.tile`` semantics)."""

    reps: Ints = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        reps = tuple(int(r) for r in self.reps)
        if any(r < 1 for r in reps):
            raise fail(self, "reps", "repetitions of at least 1", reps)
        self.reps = reps
        d = max(len(reps), len(shape))
        self._shape = (1,) * (d - len(shape)) + shape
        self._reps = (1,) * (d - len(reps)) + reps
        return [tuple(s * r for s, r in zip(self._shape, self._reps))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.tile(x[0], self.reps)]

    def _interleaved(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        shape = tuple(v for r, s in zip(self._reps, self._shape) for v in (r, s))
        return shape, tuple(range(0, len(shape), 2))

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        shape, axes = self._interleaved()
        return [dy[0].reshape(shape).sum(axis=axes).reshape(x[0].shape)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        shape, axes = self._interleaved()
        return [F.reshape(F.sum(F.reshape(dy[0], shape, inplace=False), axis=list(axes)), x[0].shape, inplace=False)]


@api(Tile)
def tile(x: Any, reps: Any) -> Any:
    reps = [reps] if isinstance(reps, (int, np.integer)) else list(reps)
    return Tile(tuple(reps))(x)


class OneHot(Function):
    """One-hot vectors (float) from integer indices; the last axis of ``x`` indexes the dimensions of ``shape``.

    Indices in ``[-shape[i], -1]`` count from the end; indices outside ``[-shape[i], shape[i])`` give zeros.
    """

    input_names = ("x",)
    output_names = ("output",)
    shape: ShapeArg = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs = tuple(inputs[0].shape)
        shape = tuple(int(s) for s in self.shape)
        if not xs or xs[-1] != len(shape):
            raise fail(self, "shape", f"{xs[-1] if xs else 0} sizes (x.shape[-1] of x.shape={xs})", shape)
        self.shape = shape
        return [xs[:-1] + shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        shape = self.shape
        idx = _as_index(x[0]).reshape(-1, len(shape))
        sizes = np.asarray(shape, np.int64)
        idx = np.where(idx < 0, idx + sizes, idx)
        valid = np.all((idx >= 0) & (idx < sizes), axis=1)
        y = np.zeros((idx.shape[0], prod(shape)), np.float32)
        rows = np.nonzero(valid)[0]
        if rows.size:
            y[rows, np.ravel_multi_index(tuple(idx[rows].T), shape)] = 1
        return [y.reshape(x[0].shape[:-1] + shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.zeros(x[0].shape, np.float32) if need[0] else None]  # no gradient: a zero one


@api(OneHot)
def one_hot(x: Any, shape: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return OneHot(tuple(shape))(x, n_outputs=n_outputs, outputs=outputs)


class Flip(Function):
    """Reverse the order of elements along ``axes`` (default: the last axis)."""

    axes: Ints = None
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.axes is None:
            self.axes = (len(shape) - 1,)
        self._axes = tuple(sorted({_axis(self, a, len(shape), "axes") for a in self.axes}))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.flip(x[0], self._axes).copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.flip(dy[0], self._axes)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.flip(dy[0], list(self._axes))]


@api(Flip)
def flip(x: Any, axes: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Flip(None if axes is None else tuple(axes))(x, n_outputs=n_outputs, outputs=outputs)


class Shift(Function):
    """Shift elements by ``shifts`` (on the last ``len(shifts)`` axes); borders copy the ``nearest`` element or
    ``reflect`` the array."""

    shifts: Ints = None
    border_mode: String = "nearest"
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if self.shifts is None:
            self.shifts = (0,) * len(shape)
        if self.border_mode not in ("nearest", "reflect"):
            raise fail(self, "border_mode", "'nearest' or 'reflect'", repr(self.border_mode))
        shifts = [int(s) for s in self.shifts]
        if len(shifts) > len(shape):
            raise fail(self, "shifts", f"at most {len(shape)} values for x.shape={shape}", tuple(shifts))
        self._maps = {}
        for k, s in enumerate(shifts):
            axis = len(shape) - len(shifts) + k
            if s == 0:
                continue
            size = shape[axis]
            i = np.arange(size, dtype=np.int64) - s
            if self.border_mode == "reflect":
                a = np.abs(i + 2 * size) % (2 * size) if size > 1 else np.zeros(size, np.int64)
                index = np.where(a >= size, 2 * size - 1 - a, a)
            else:
                index = np.clip(i, 0, size - 1)
            self._maps[axis] = index
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = x[0]
        for axis, index in self._maps.items():
            y = xp.take(y, index, axis=axis)
        return [y if y is not x[0] else y.copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = dy[0]
        for axis, index in reversed(list(self._maps.items())):
            g = take_adjoint(g, index, axis, x[0].shape[axis])
        return [g]


@api(Shift)
def shift(x: Any, shifts: Any = None, border_mode: str = "nearest", n_outputs: int = -1, outputs: Any = None) -> Any:
    return Shift(None if shifts is None else tuple(shifts), border_mode)(x, n_outputs=n_outputs, outputs=outputs)


class Sort(Function):
    """Sort along ``axis`` (stable; ``reverse`` for descending); optionally the indices (int64) as well/only."""

    output_names = ("*y",)
    axis: Int64 = -1
    reverse: Bool = False
    with_index: Bool = False
    only_index: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        self._axis = _axis(self, self.axis, len(shape))
        return [shape] * (2 if self.with_index and not self.only_index else 1)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        key = -x[0] if self.reverse else x[0]
        index = xp.argsort(key, axis=self._axis, kind="stable")
        self._index = index
        if self.only_index:
            return [index.astype(np.int64)]
        y = xp.take_along_axis(x[0], index, axis=self._axis)
        return [y, index.astype(np.int64)] if self.with_index else [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if self.only_index:  # indices carry no gradient
            return [xp.zeros(x[0].shape, dy[0].dtype)]
        g = xp.zeros(x[0].shape, dy[0].dtype)
        xp.put_along_axis(g, self._index, dy[0], axis=self._axis)
        return [g]


@api(Sort)
def sort(x: Any, axis: int = -1, reverse: bool = False, with_index: bool = False, only_index: bool = False) -> Any:
    n_outputs = 2 if with_index and not only_index else 1
    return Sort(axis, reverse, with_index, only_index)(x, n_outputs=n_outputs)


# ======================================================================================================
# Shape, MatrixDiag, MatrixDiagPart, Trilu, Meshgrid
# ======================================================================================================
class Shape(Function):
    """The shape of ``x`` (float values, nnabla's output type), optionally only axes ``[start, end)``."""

    output_names = ("shape",)
    start: Int64 = 0
    end: Int64 = 0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        n = len(shape)
        if n == 0:
            raise fail(self, "x", "an input of at least one dimension", f"x.shape={shape}")
        s = self.start + n if self.start < 0 else min(self.start, n)
        e = n + self.end if self.end < 0 else (min(self.end, n) if self.end > 0 else n)
        self._range = (s, e)
        return [(max(e - s, 0),)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        s, e = self._range
        return [np.asarray(x[0].shape[s:e] if e > s else (), np.float32)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.zeros(x[0].shape, np.float32) if need[0] else None]  # no gradient: a zero one


@api(Shape)
def shape(x: Any, start: Any = None, end: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Shape(0 if start is None else start, 0 if end is None else end)(x, n_outputs=n_outputs, outputs=outputs)


class MatrixDiag(Function):
    """Diagonal matrices whose diagonals are the last axis of ``x``: (..., N) -> (..., N, N)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if not shape:
            raise fail(self, "x", "an input of at least one dimension", f"x.shape={shape}")
        return [shape + (shape[-1],)]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        n = x[0].shape[-1]
        return [x[0][..., None] * xp.eye(n, dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.diagonal(dy[0], axis1=-2, axis2=-1)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.matrix_diag_part(dy[0])]


@api(MatrixDiag)
def matrix_diag(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MatrixDiag()(x, n_outputs=n_outputs, outputs=outputs)


class MatrixDiagPart(Function):
    """The diagonals of the last two (square) axes: (..., N, N) -> (..., N)."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise fail(self, "x", "square matrices in the last two axes (..., N, N)", f"x.shape={shape}")
        return [shape[:-1]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.diagonal(x[0], axis1=-2, axis2=-1).copy()]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        n = x[0].shape[-1]
        return [dy[0][..., None] * xp.eye(n, dtype=dy[0].dtype)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.matrix_diag(dy[0])]


@api(MatrixDiagPart)
def matrix_diag_part(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return MatrixDiagPart()(x, n_outputs=n_outputs, outputs=outputs)


class Trilu(Function):
    """Keep the upper (``j - i >= k``) or lower (``j - i <= k``) triangle of the last two axes; zero the rest."""

    k: Int64 = 0
    upper: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) < 2:
            raise fail(self, "x", "an input of at least 2 dimensions", f"x.shape={shape}")
        return [shape]

    def _apply(self, xp: Any, a: Any) -> Any:
        return xp.triu(a, self.k) if self.upper else xp.tril(a, self.k)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [self._apply(xp, x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [self._apply(xp, dy[0])]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.trilu(dy[0], self.k, self.upper)]


@api(Trilu)
def trilu(x: Any, k: int = 0, upper: bool = True, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Trilu(k, upper)(x, n_outputs=n_outputs, outputs=outputs)


class Meshgrid(Function):
    """Coordinate arrays from 1-D inputs (``'xy'`` indexing, or ``'ij'`` with ``ij_indexing``)."""

    input_names = ("*x",)
    output_names = ("*y",)
    ij_indexing: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        sizes = []
        for i, v in enumerate(inputs):
            if len(v.shape) != 1:
                raise fail(self, "x", "1-D inputs", f"x[{i}].shape={tuple(v.shape)}")
            sizes.append(v.shape[0])
        if not self.ij_indexing and len(sizes) > 1:
            sizes[0], sizes[1] = sizes[1], sizes[0]
        self._axes = list(range(len(inputs)))
        if not self.ij_indexing and len(inputs) > 1:
            self._axes[0], self._axes[1] = 1, 0
        return [tuple(sizes)] * len(inputs)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        grids = xp.meshgrid(*x, indexing="ij" if self.ij_indexing else "xy")
        return [xp.array(g) for g in grids]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        n = len(x)
        return [dy[i].sum(axis=tuple(a for a in range(n) if a != self._axes[i])) if need[i] else None for i in range(n)]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        n = len(x)
        grads = []
        for i in range(n):
            axes = [a for a in range(n) if a != self._axes[i]]
            grads.append((F.sum(dy[i], axis=axes) if axes else F.identity(dy[i])) if need[i] else None)
        return grads


@api(Meshgrid)
def meshgrid(*x: Any, ij_indexing: bool = False) -> Any:
    return Meshgrid(ij_indexing)(*x, n_outputs=len(x))


# ======================================================================================================
# Batched linear algebra
# ======================================================================================================
class _BatchSquare(Function):
    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) != 3 or shape[1] != shape[2]:
            raise fail(self, "x", "a batch of square matrices of shape (B, N, N)", f"x.shape={shape}")
        return [self._out_shape(shape)]

    def _out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape


class BatchDet(_BatchSquare):
    """Determinant of each matrix: (B, N, N) -> (B,)."""

    grad_depends_output = True

    def _out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[:1]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(xp.linalg.det(x[0]), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        inv_t = xp.linalg.inv(x[0]).transpose(0, 2, 1)
        return [(dy[0] * y[0])[:, None, None] * inv_t]


@api(BatchDet)
def batch_det(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BatchDet()(x, n_outputs=n_outputs, outputs=outputs)


class BatchInv(_BatchSquare):
    """Inverse of each matrix of a (B, N, N) batch."""

    grad_depends_input = False
    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.linalg.inv(x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        yt = y[0].transpose(0, 2, 1)
        return [-(yt @ dy[0] @ yt)]


@api(BatchInv)
def batch_inv(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BatchInv()(x, n_outputs=n_outputs, outputs=outputs)


class BatchLogdet(_BatchSquare):
    """``log|det(X_b)|`` of each matrix: (B, N, N) -> (B,)."""

    def _out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[:1]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.asarray(xp.linalg.slogdet(x[0])[1], dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0][:, None, None] * xp.linalg.inv(x[0]).transpose(0, 2, 1)]


@api(BatchLogdet)
def batch_logdet(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BatchLogdet()(x, n_outputs=n_outputs, outputs=outputs)


class BatchCholesky(_BatchSquare):
    """Cholesky factor of each symmetric positive definite matrix (lower, or upper with ``upper``).

    The input is symmetrised first, so the gradient is the symmetric matrix nnabla documents.
    """

    upper: Bool = False
    grad_depends_input = False
    grad_depends_output = True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        lower = xp.linalg.cholesky((a + a.transpose(0, 2, 1)) * 0.5)
        return [xp.ascontiguousarray(lower.transpose(0, 2, 1)) if self.upper else lower]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        lower = y[0].transpose(0, 2, 1) if self.upper else y[0]
        g = dy[0].transpose(0, 2, 1) if self.upper else dy[0]
        p = xp.tril(lower.transpose(0, 2, 1) @ g)
        n = p.shape[-1]
        p[:, np.arange(n), np.arange(n)] *= 0.5
        inv = xp.linalg.inv(lower)
        s = inv.transpose(0, 2, 1) @ p @ inv
        return [(s + s.transpose(0, 2, 1)) * 0.5]


@api(BatchCholesky)
def batch_cholesky(x: Any, upper: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BatchCholesky(upper)(x, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# Assign, Gather, GatherNd, BoolGather, ScatterNd, ScatterAdd, BoolScatter, BoolFill
# ======================================================================================================
class Assign(Function):
    """Copy ``src`` into ``dst``'s data (a side effect of forward) and output it; the gradient flows to ``dst``."""

    input_names = ("dst", "src")
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        d, s = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if d != s:
            raise fail(self, "src", f"src.shape == dst.shape={d}", f"src.shape={s}")
        return [d]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x[0][...] = x[1]
        return [x[1].astype(x[0].dtype, copy=True)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [dy[0], None]


@api(Assign)
def assign(dst: Any, src: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Assign()(dst, src, n_outputs=n_outputs, outputs=outputs)


class Gather(Function):
    """``y = x[..., Indices[...], ...]`` along ``axis``, with ``batch_dims`` leading axes shared by x and Indices.

    Output shape: ``x.shape[:axis] + Indices.shape[batch_dims:] + x.shape[axis + 1:]``.
    """

    input_names = ("x", "Indices")
    axis: Int64 = 0
    batch_dims: Int64 = 0
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs, ishape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        axis = _axis(self, self.axis, len(xs))
        b = int(self.batch_dims)
        if b < 0 or b > len(xs) or b > len(ishape):
            raise fail(self, "batch_dims", f"at most min(x.ndim, Indices.ndim)={min(len(xs), len(ishape))}", b)
        if axis < b:
            raise fail(self, "axis", f"an axis >= batch_dims={b}", self.axis)
        if xs[:b] != ishape[:b]:
            raise fail(self, "Indices", f"Indices.shape[:{b}] == x.shape[:{b}]={xs[:b]}", f"Indices.shape={ishape}")
        self._axis = axis
        self._fold = (prod(xs[:axis]), xs[axis], prod(xs[axis + 1 :]), prod(ishape[:b]), prod(ishape[b:]))
        return [xs[:axis] + ishape[b:] + xs[axis + 1 :]]

    def _rows_and_index(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        x0, x1, _, i0, i1 = self._fold
        index = _as_index(indices).reshape(i0, i1)
        if index.size and (index.min() < 0 or index.max() >= x1):
            bad = index[(index < 0) | (index >= x1)][0]
            raise fail(self, "Indices", f"indices in [0, {x1}) (x.shape[{self._axis}])", int(bad))
        rows = np.arange(x0)
        return rows, index[rows // (x0 // i0) if i0 else rows]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        x0, x1, x2, _, i1 = self._fold
        rows, index = self._rows_and_index(x[1])
        y = x[0].reshape(x0, x1, x2)[rows[:, None], index]
        return [y.reshape(x[0].shape[: self._axis] + x[1].shape[self.batch_dims :] + x[0].shape[self._axis + 1 :])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        x0, x1, x2, _, i1 = self._fold
        rows, index = self._rows_and_index(x[1])
        g = scatter_add_rows(dy[0].reshape(x0 * i1, x2), (rows[:, None] * x1 + index).ravel(), x0 * x1)
        return [g.reshape(x[0].shape), None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        x0, x1, x2, i0, i1 = self._fold
        lead = x0 // i0 if i0 else 0
        g = F.reshape(dy[0], (i0, lead, i1, x2), inplace=False)
        index = F.broadcast(F.reshape(x[1], (i0, 1, i1, 1), inplace=False), (i0, lead, i1, x2))
        zeros = _constant(np.zeros((i0, lead, x1, x2), np.float32))
        return [F.reshape(F.scatter_add(zeros, index, g, axis=2), x[0].shape, inplace=False), None]


@api(Gather)
def gather(
    x: Any, Indices: Any, axis: Any = None, batch_dims: Any = None, n_outputs: int = -1, outputs: Any = None
) -> Any:  # noqa: N803
    return Gather(0 if axis is None else axis, 0 if batch_dims is None else batch_dims)(
        x, Indices, n_outputs=n_outputs, outputs=outputs
    )


def _as_index_variable(indices: Any) -> Any:
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    if isinstance(indices, (Variable, NdArray)):
        return indices
    return Variable.from_numpy_array(np.asarray(indices, dtype=np.int64))


def _nd_key(function: Function, indices: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    index = _as_index(indices)
    m = index.shape[0]
    sizes = np.asarray(shape[:m], np.int64).reshape((m,) + (1,) * (index.ndim - 1))
    bad = (index >= sizes) | (index < -sizes)
    if bad.any():
        axis = int(np.nonzero(bad)[0][0])
        raise fail(
            function, "indices", f"indices in [-{shape[axis]}, {shape[axis]}) for axis {axis}", int(index[bad][0])
        )
    return tuple(np.where(index < 0, index + sizes, index))


def _nd_scatter_add(values: Any, key: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> np.ndarray:
    """``out[key] += values`` (duplicates add) for ``key`` indexing the first ``len(key)`` axes of ``shape``."""
    m = len(key)
    flat = np.ravel_multi_index(key, shape[:m]).ravel() if m else np.zeros(1, np.int64)
    inner = tuple(shape[m:])
    out = scatter_add_rows(np.asarray(values).reshape((flat.size,) + inner), flat, prod(shape[:m]))
    return out.reshape(shape)


class GatherNd(Function):
    """Gather slices: ``y[j...] = x[indices[0, j...], ..., indices[M-1, j...], ...]`` (``indices`` is (M, ...))."""

    input_names = ("x", "indices")
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        xs, ishape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ishape) < 2:
            raise fail(self, "indices", "indices of at least 2 dimensions (M, ...)", f"indices.shape={ishape}")
        if ishape[0] > len(xs):
            raise fail(self, "indices", f"indices.shape[0] <= x.ndim={len(xs)}", f"indices.shape={ishape}")
        return [ishape[1:] + xs[ishape[0] :]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0][_nd_key(self, x[1], x[0].shape)]]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        return [_nd_scatter_add(dy[0], _nd_key(self, x[1], x[0].shape), x[0].shape), None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        if not need[0]:
            return [None, None]
        return [F.scatter_nd(dy[0], x[1], shape=tuple(x[0].shape), add=True), None]


@api(GatherNd)
def gather_nd(data: Any, indices: Any) -> Any:
    return GatherNd()(data, _as_index_variable(indices))


class BoolGather(Function):
    """The rows of ``input`` where ``mask`` (its leading axes) is non-zero: output (nnz, *input.shape[mask.ndim:])."""

    data_dependent_shape = True

    input_names = ("input", "mask")
    output_names = ("output",)
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        gs, ms = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ms) > len(gs) or gs[: len(ms)] != ms:
            raise fail(self, "mask", f"mask.shape == input.shape[:mask.ndim] (input.shape={gs})", f"mask.shape={ms}")
        nnz = int(np.count_nonzero(inputs[1].d))
        return [(nnz,) + gs[len(ms) :]]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return finish_data_dependent(self, [x[0][x[1] != 0]])

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        g = xp.zeros(x[0].shape, dy[0].dtype)
        g[x[1] != 0] = dy[0]
        return [g, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.bool_scatter(dy[0], x[1]) if need[0] else None, None]


@api(BoolGather)
def bool_gather(input: Any, mask: Any, n_outputs: int = -1, outputs: Any = None) -> Any:  # noqa: A002
    return BoolGather()(input, mask, n_outputs=n_outputs, outputs=outputs)


class ScatterNd(Function):
    """Scatter ``data`` into a new array of ``shape`` (or into ``out``, in place) at ``indices`` (M, ...);
    ``add`` sums values that land on the same element."""

    input_names = ("data", "indices", "out?")
    shape: Ints = None
    add: Bool = False
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ds, ishape = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if self.shape is None:
            if len(inputs) < 3:
                raise fail(self, "shape", "an output shape (or an out array)", None)
            self.shape = tuple(inputs[2].shape)
        shape = tuple(int(s) for s in self.shape)
        self.shape = shape
        if len(ishape) < 2:
            raise fail(self, "indices", "indices of at least 2 dimensions (M, ...)", f"indices.shape={ishape}")
        m, k = ishape[0], len(ishape) - 1
        if m > len(shape):
            raise fail(self, "indices", f"indices.shape[0] <= len(shape)={len(shape)}", f"indices.shape={ishape}")
        expected = ishape[1:] + shape[m:]
        if ds != expected:
            raise fail(self, "data", f"data.shape == indices.shape[1:] + shape[{m}:] = {expected}", f"data.shape={ds}")
        if len(inputs) > 2 and tuple(inputs[2].shape) != shape:
            raise fail(self, "out", f"out.shape == shape={shape}", f"out.shape={tuple(inputs[2].shape)}")
        del k
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = x[2] if len(x) > 2 else xp.zeros(self.shape, x[0].dtype)
        key = _nd_key(self, x[1], self.shape)
        if self.add:
            y += _nd_scatter_add(x[0], key, self.shape)
        else:
            y[key] = x[0]
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        key = _nd_key(self, x[1], self.shape)
        grads: list[Any] = [dy[0][key] if need[0] else None, None]
        if len(x) > 2:
            g = None
            if need[2]:
                g = dy[0].copy()
                if not self.add:
                    g[key] = 0
            grads.append(g)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        grads: list[Any] = [F.gather_nd(dy[0], x[1]) if need[0] else None, None]
        if len(x) > 2:
            g = None
            if need[2]:
                g = dy[0] if self.add else dy[0] - F.scatter_nd(F.gather_nd(dy[0], x[1]), x[1], shape=self.shape)
            grads.append(g)
        return grads


@api(ScatterNd)
def scatter_nd(data: Any, indices: Any, shape: Any = None, out: Any = None, add: bool = False) -> Any:
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    indices = _as_index_variable(indices)
    if shape is None and out is None:
        raise TypeError("scatter_nd: one of `shape` or `out` must be given.")
    if shape is not None and out is not None:
        raise TypeError("scatter_nd: only one of `shape` or `out` may be given.")
    if out is not None:
        if not isinstance(out, (Variable, NdArray)):
            raise TypeError("scatter_nd: `out` must be a Variable or an NdArray.")
        return ScatterNd(tuple(out.shape), add)(data, indices, out)
    return ScatterNd(tuple(int(s) for s in np.asarray(shape).ravel()), add)(data, indices)


class ScatterAdd(Function):
    """A copy of ``x0`` with ``x1`` added at ``indices`` along ``axis`` (indices, x0 and x1 have equal ranks)."""

    input_names = ("x0", "indices", "x1")
    axis: Int64 = 0
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        s0, si, s1 = (tuple(v.shape) for v in inputs)
        if not len(s0) == len(si) == len(s1):
            raise fail(
                self, "inputs", "x0, indices and x1 of equal ranks", f"x0.shape={s0}, indices.shape={si}, x1.shape={s1}"
            )
        axis = _axis(self, self.axis, len(s0))
        for i, n in enumerate(si):
            if (i != axis and n > s0[i]) or n > s1[i]:
                raise fail(
                    self,
                    "indices",
                    f"indices.shape <= x1.shape={s1} (and <= x0.shape={s0} off axis {axis})",
                    f"indices.shape={si}",
                )
        self._axis = axis
        return [s0]

    def _key(self, indices: Any, x0_shape: tuple[int, ...]) -> tuple[Any, ...]:
        index = _as_index(indices)
        n = x0_shape[self._axis]
        if index.size and (index.min() < 0 or index.max() >= n):
            raise fail(
                self,
                "indices",
                f"indices in [0, {n}) (x0.shape[{self._axis}])",
                int(index[(index < 0) | (index >= n)][0]),
            )
        grid = list(np.ogrid[tuple(builtins.slice(0, s) for s in index.shape)])
        grid[self._axis] = index
        return tuple(grid)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        y = x[0].copy()
        region = tuple(builtins.slice(0, s) for s in x[1].shape)
        key = np.broadcast_arrays(*self._key(x[1], x[0].shape))
        flat = np.ravel_multi_index(tuple(key), x[0].shape).ravel()
        y += scatter_add_rows(x[2][region].ravel(), flat, y.size).reshape(y.shape)
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g1 = None
        if need[2]:
            g1 = xp.zeros(x[2].shape, dy[0].dtype)
            g1[tuple(builtins.slice(0, s) for s in x[1].shape)] = dy[0][self._key(x[1], x[0].shape)]
        return [dy[0] if need[0] else None, None, g1]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        g1 = None
        if need[2]:
            si, s1, s0 = tuple(x[1].shape), tuple(x[2].shape), tuple(x[0].shape)
            a, n = self._axis, len(si)
            stop = [s0[i] if i == a else si[i] for i in range(n)]
            g = F.slice(dy[0], [0] * n, stop, [1] * n) if tuple(stop) != s0 else dy[0]
            perm = [i for i in range(n) if i != a] + [a]
            inverse = [int(i) for i in np.argsort(perm)]
            rows = prod(si[i] for i in range(n) if i != a)
            gt = F.reshape(F.transpose(g, perm), (rows, s0[a]), inplace=False)
            it = F.reshape(F.transpose(x[1], perm), (rows, si[a]), inplace=False)
            picked = F.gather(gt, it, axis=1, batch_dims=1)
            picked = F.transpose(F.reshape(picked, tuple(si[i] for i in perm), inplace=False), inverse)
            widths = [w for i in range(n) for w in (0, s1[i] - si[i])]
            g1 = F.pad(picked, widths) if any(widths) else picked
        return [dy[0] if need[0] else None, None, g1]


@api(ScatterAdd)
def scatter_add(x0: Any, indices: Any, x1: Any, axis: Any = None) -> Any:
    return ScatterAdd(0 if axis is None else axis)(x0, indices, x1)


class BoolScatter(Function):
    """Inverse of BoolGather: rows of ``input`` (nnz, ...) go where ``mask`` is non-zero; zeros elsewhere, or the
    data of ``output`` (updated in place) when given."""

    input_names = ("input", "mask", "output?")
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ss, ms = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if not ss:
            raise fail(self, "input", "an input of shape (nnz, ...)", f"input.shape={ss}")
        shape = ms + ss[1:]
        if len(inputs) > 2 and tuple(inputs[2].shape) != shape:
            raise fail(
                self,
                "output",
                f"output.shape == mask.shape + input.shape[1:] = {shape}",
                f"output.shape={tuple(inputs[2].shape)}",
            )
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        mask = x[1] != 0
        shape = x[1].shape + x[0].shape[1:]
        y = x[2] if len(x) > 2 else xp.zeros(shape, x[0].dtype)
        if int(mask.sum()) != x[0].shape[0]:
            raise fail(self, "mask", f"{x[0].shape[0]} non-zero elements (input.shape[0])", int(mask.sum()))
        y[mask] = x[0]
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        mask = x[1] != 0
        grads: list[Any] = [dy[0][mask] if need[0] else None, None]
        if len(x) > 2:
            g = None
            if need[2]:
                g = dy[0].copy()
                g[mask] = 0
            grads.append(g)
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        grads: list[Any] = [F.bool_gather(dy[0], x[1]) if need[0] else None, None]
        if len(x) > 2:
            g = None
            if need[2]:
                extra = len(dy[0].shape) - len(x[1].shape)
                mask = F.reshape(x[1], tuple(x[1].shape) + (1,) * extra, inplace=False) if extra else x[1]
                g = F.bool_fill(dy[0], mask, 0.0)
            grads.append(g)
        return grads


@api(BoolScatter)
def bool_scatter(input: Any, mask: Any, output: Any = None, n_outputs: int = -1, outputs: Any = None) -> Any:  # noqa: A002
    inputs = (input, mask) if output is None else (input, mask, output)
    return BoolScatter()(*inputs, n_outputs=n_outputs, outputs=outputs)


class BoolFill(Function):
    """``data`` with ``value`` where ``mask`` (broadcast to data's shape) is non-zero."""

    input_names = ("data", "mask")
    value: Float = 0.0
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ds, ms = tuple(inputs[0].shape), tuple(inputs[1].shape)
        try:
            ok = len(ms) <= len(ds) and np.broadcast_shapes(ms, ds) == ds
        except ValueError:
            ok = False
        if not ok:
            raise fail(self, "mask", f"a mask that broadcasts to data.shape={ds}", f"mask.shape={ms}")
        return [ds]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.where(x[1] != 0, xp.asarray(self.value, dtype=x[0].dtype), x[0])]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.where(x[1] != 0, xp.zeros((), dy[0].dtype), dy[0]) if need[0] else None, None]

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F

        return [F.bool_fill(dy[0], x[1], 0.0) if need[0] else None, None]


@api(BoolFill)
def bool_fill(data: Any, mask: Any, value: float = 0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return BoolFill(value)(data, mask, n_outputs=n_outputs, outputs=outputs)


# ======================================================================================================
# PackPaddedSequence, PadPackedSequence, NonZero
# ======================================================================================================
class PackPaddedSequence(Function):
    """Pack a padded (T, B, ...) batch (``batch_first``: (B, T, ...)) of sequences sorted by decreasing length."""

    data_dependent_shape = True

    input_names = ("padded_sequence", "lengths")
    output_names = ("pack_sequence", "batch_sizes")
    batch_first: Bool = False
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ps, ls = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ps) < 2:
            raise fail(
                self, "padded_sequence", "an input of at least 2 dimensions (T, B, ...)", f"padded_sequence.shape={ps}"
            )
        if len(ls) != 1:
            raise fail(self, "lengths", "a 1-D array of lengths", f"lengths.shape={ls}")
        n = int(_as_index(inputs[1].d).sum())
        t = ps[1] if self.batch_first else ps[0]
        return [(n,) + ps[2:], (t,)]

    def _mask(self, x: list[Any]) -> np.ndarray:
        t = x[0].shape[1] if self.batch_first else x[0].shape[0]
        return np.arange(t)[:, None] < _as_index(x[1])[None, :]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        mask = self._mask(x)
        padded = xp.swapaxes(x[0], 0, 1) if self.batch_first else x[0]
        return finish_data_dependent(self, [padded[mask], mask.sum(axis=1).astype(np.int64)])

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        mask = self._mask(x)
        g = xp.zeros(x[0].shape, dy[0].dtype)
        (xp.swapaxes(g, 0, 1) if self.batch_first else g)[mask] = dy[0]
        return [g, None]


@api(PackPaddedSequence)
def pack_padded_sequence(
    padded_sequence: Any, lengths: Any, batch_first: bool = False, n_outputs: int = -1, outputs: Any = None
) -> Any:
    return PackPaddedSequence(batch_first)(padded_sequence, lengths, n_outputs=n_outputs, outputs=outputs)


class PadPackedSequence(Function):
    """Unpack a packed (N, ...) sequence to (T, B, ...) (``batch_first``: (B, T, ...)) padded with ``padding_value``;
    also outputs the lengths. ``total_length`` pads the time axis further."""

    data_dependent_shape = True

    input_names = ("packed_sequence", "batch_sizes")
    output_names = ("padded_sequence", "lengths")
    batch_first: Bool = False
    padding_value: Float = 0.0
    total_length: Int64 = -1
    grad_depends_input = (1,)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        ps, bs = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(ps) < 1:
            raise fail(
                self, "packed_sequence", "an input of at least 1 dimension (N, ...)", f"packed_sequence.shape={ps}"
            )
        if len(bs) != 1:
            raise fail(self, "batch_sizes", "a 1-D array of batch sizes", f"batch_sizes.shape={bs}")
        sizes = _as_index(inputs[1].d)
        b = int(sizes.max()) if sizes.size else 0
        t = max(int(self.total_length), bs[0])
        return [((b, t) if self.batch_first else (t, b)) + ps[1:], (b,)]

    def _mask(self, x: list[Any]) -> np.ndarray:
        sizes = _as_index(x[1])
        b = int(sizes.max()) if sizes.size else 0
        return np.arange(b)[None, :] < sizes[:, None]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        mask = self._mask(x)
        t, b = mask.shape
        total = max(int(self.total_length), t)
        out = xp.full((total, b) + x[0].shape[1:], self.padding_value, dtype=x[0].dtype)
        out[:t][mask] = x[0]
        lengths = mask.sum(axis=0).astype(np.int64)
        if self.batch_first:
            out = xp.ascontiguousarray(xp.swapaxes(out, 0, 1))
        return finish_data_dependent(self, [out, lengths])

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not need[0]:
            return [None, None]
        mask = self._mask(x)
        g = xp.swapaxes(dy[0], 0, 1) if self.batch_first else dy[0]
        return [g[: mask.shape[0]][mask], None]


@api(PadPackedSequence)
def pad_packed_sequence(
    packed_sequence: Any,
    batch_sizes: Any,
    batch_first: bool = False,
    padding_value: Any = None,
    total_length: Any = None,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    function = PadPackedSequence(
        batch_first, 0.0 if padding_value is None else padding_value, -1 if total_length is None else total_length
    )
    return function(packed_sequence, batch_sizes, n_outputs=n_outputs, outputs=outputs)


class NonZero(Function):
    """Indices (int64) of the non-zero elements of ``x``, of shape (x.ndim, nnz)."""

    data_dependent_shape = True

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [(len(inputs[0].shape), int(np.count_nonzero(inputs[0].d)))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        index = np.nonzero(x[0])
        out = np.stack(index).astype(np.int64) if index else np.zeros((0, 0), np.int64)
        return finish_data_dependent(self, [out.reshape(x[0].ndim, -1) if x[0].ndim else out])

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.zeros(x[0].shape, np.float32) if need[0] else None]  # no gradient: a zero one


@api(NonZero)
def nonzero(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return NonZero()(x, n_outputs=n_outputs, outputs=outputs)
