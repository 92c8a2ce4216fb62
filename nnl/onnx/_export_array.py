"""Export converters of the array functions: reshaping, joining, slicing, padding, indexing and scattering.

Index tables that nnl computes in setup (Shift's source positions, bouncing reflect pads) become Gather indices,
so the exported model reproduces nnl's edge rules exactly.
"""

from __future__ import annotations

import math

import numpy as np

from nnl.functions._array_helpers import reflect_index
from nnl.onnx._export_base import INT64, Step, converter, take

_FAR = -(2**63)  # a Slice end before the first element (negative steps)


@converter("Reshape")
def _reshape(s: Step) -> None:
    s.reshape(s.x[0], s.pair(s.y[0]), out=s.y[0])


@converter("Transpose")
def _transpose(s: Step) -> None:
    s.node("Transpose", [s.x[0]], s.y[0], perm=[int(a) for a in s.fn._axes])


@converter("Concatenate")
def _concatenate(s: Step) -> None:
    s.node("Concat", s.x, s.y[0], axis=int(s.fn._axis))


@converter("Stack")
def _stack(s: Step) -> None:
    axis = s.ints([int(s.fn._axis)])
    s.node("Concat", [s.node("Unsqueeze", [x, axis]) for x in s.x], s.y[0], axis=int(s.fn._axis))


@converter("Split")
def _split(s: Step) -> None:
    axis = int(s.fn._axis)
    parts = s.node("Split", [s.x[0], s.ints([1] * len(s.y))], n_out=len(s.y), axis=axis) if len(s.y) > 1 else [s.x[0]]
    for part, out in zip(parts, s.y):
        s.node("Squeeze", [part, s.ints([axis])], out)


@converter("Slice")
def _slice(s: Step) -> None:
    """nnabla's resolved (start, step, count) per axis; axes taken whole are left out (the batch axis stays free)."""
    starts, ends, steps, axes = [], [], [], []
    for axis, ((start, step, count), size) in enumerate(zip(s.fn._axes, s.in_shape())):
        if step == 1 and start == 0 and count == size:
            continue
        end = start + step * count
        starts.append(start)
        ends.append(end if end >= 0 or step > 0 else _FAR)
        steps.append(step)
        axes.append(axis)
    if not axes:
        s.node("Identity", [s.x[0]], s.y[0])
        return
    s.node("Slice", [s.x[0], s.ints(starts), s.ints(ends), s.ints(axes), s.ints(steps)], s.y[0])


@converter("Flip")
def _flip(s: Step) -> None:
    axes = list(s.fn._axes)
    n = len(axes)
    s.node("Slice", [s.x[0], s.ints([-1] * n), s.ints([_FAR] * n), s.ints(axes), s.ints([-1] * n)], s.y[0])


@converter("Pad")
def _pad(s: Step) -> None:
    """``constant`` and ``repeat`` (edge) pads are ONNX Pad, as is ``reflect`` unless it bounces (pads >= size)."""
    fn, shape = s.fn, s.in_shape()
    widths = list(fn._widths)
    if fn.mode == "reflect" and any(max(b, a) >= n for (b, a), n in zip(widths, shape) if b or a):
        maps = {axis: reflect_index(n + b + a, b, n) for axis, ((b, a), n) in enumerate(zip(widths, shape)) if b or a}
        take(s, s.x[0], maps, s.y[0])
        return
    pads = s.ints([b for b, _ in widths] + [a for _, a in widths])
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}[fn.mode]
    value = [s.const(float(fn.constant_value))] if mode == "constant" else []
    s.node("Pad", [s.x[0], pads, *value], s.y[0], mode=mode)


@converter("Shift")
def _shift(s: Step) -> None:
    take(s, s.x[0], dict(s.fn._maps), s.y[0])


@converter("Broadcast")
def _broadcast(s: Step) -> None:
    """Expand keeps the input's dimensions where the target says 1 (so the batch needs no literal)."""
    i0, i1 = s.pair(s.x[0])
    o0, o1 = s.pair(s.y[0])
    target = tuple(
        tuple(1 if (a0, a1) == (b0, b1) else o[k] for k, (a0, a1, b0, b1) in enumerate(zip(i0, i1, o0, o1)))
        for o in (o0, o1)
    )
    s.node("Expand", [s.x[0], s.dims(target)], s.y[0])  # type: ignore[arg-type]


@converter("BroadcastTo")
def _broadcast_to(s: Step) -> None:
    """``y`` placed on ``x``'s axes from ``axis`` on, expanded to ``x``'s shape."""
    x_shape, y_shape = s.in_shape(0), s.in_shape(1)
    axis = int(s.fn.axis)
    if axis < 0:
        axis = len(x_shape) - len(y_shape)
    placed = (1,) * axis + y_shape + (1,) * (len(x_shape) - axis - len(y_shape))
    s.node("Expand", [s.reshape(s.x[1], placed), s.node("Shape", [s.x[0]])], s.y[0])


@converter("Tile")
def _tile(s: Step) -> None:
    x = s.reshape(s.x[0], tuple(s.fn._shape)) if len(s.fn._shape) != len(s.in_shape()) else s.x[0]
    s.node("Tile", [x, s.ints(s.fn._reps)], s.y[0])


@converter("OneHot")
def _one_hot(s: Step) -> None:
    """The flat index of each index tuple, one-hot over ``prod(shape)``; out-of-range tuples give zeros."""
    shape = [int(d) for d in s.fn.shape]
    total = math.prod(shape)
    sizes = s.const(shape, np.int64)
    index = s.as_int(s.x[0])
    index = s.node("Where", [s.node("Less", [index, s.const(0, np.int64)]), s.node("Add", [index, sizes]), index])
    inside = s.node("And", [s.node("GreaterOrEqual", [index, s.const(0, np.int64)]), s.node("Less", [index, sizes])])
    valid = s.reduce("ReduceMin", s.node("Cast", [inside], to=INT64), [-1], keepdims=False)
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    flat = s.reduce("ReduceSum", s.node("Mul", [index, s.const(strides, np.int64)]), [-1], keepdims=False)
    flat = s.node("Where", [s.node("Equal", [valid, s.const(1, np.int64)]), flat, s.const(total, np.int64)])
    hot = s.node("OneHot", [flat, s.const([total], np.int64), s.const([0.0, 1.0])], axis=-1)
    s.reshape(hot, s.pair(s.y[0]), out=s.y[0])


@converter("Sort")
def _sort(s: Step) -> None:
    fn = s.fn
    axis = int(fn._axis)
    k = s.ints([s.in_shape()[axis]])
    names = [s.fresh("sorted"), s.fresh("index")]
    if fn.only_index:
        names[1] = s.y[0]
    else:
        names[0] = s.y[0]
        if fn.with_index:
            names[1] = s.y[1]
    s.node("TopK", [s.x[0], k], names, axis=axis, largest=int(bool(fn.reverse)), sorted=1)


@converter("Shape")
def _shape(s: Step) -> None:
    start, end = s.fn._range
    if end <= start:
        s.node("Identity", [s.const(np.zeros(0))], s.y[0])
        return
    s.node("Cast", [s.node("Shape", [s.x[0]], start=start, end=end)], s.y[0], to=1)


@converter("MatrixDiag")
def _matrix_diag(s: Step) -> None:
    n = s.in_shape()[-1]
    s.node("Mul", [s.node("Unsqueeze", [s.x[0], s.ints([-1])]), s.const(np.eye(n))], s.y[0])


@converter("MatrixDiagPart")
def _matrix_diag_part(s: Step) -> None:
    n = s.in_shape()[-1]
    s.reduce("ReduceSum", s.node("Mul", [s.x[0], s.const(np.eye(n))]), [-1], keepdims=False, out=s.y[0])


@converter("Trilu")
def _trilu(s: Step) -> None:
    s.node("Trilu", [s.x[0], s.const(int(s.fn.k), np.int64)], s.y[0], upper=int(bool(s.fn.upper)))


@converter("Meshgrid")
def _meshgrid(s: Step) -> None:
    out_shape = s.out_shape(0)
    ndim = len(out_shape)
    for i, (x, out) in enumerate(zip(s.x, s.y)):
        axis = i if s.fn.ij_indexing or ndim < 2 or i > 1 else 1 - i
        placed = tuple(out_shape[a] if a == axis else 1 for a in range(ndim))
        s.node("Expand", [s.reshape(x, placed), s.ints(out_shape)], out)


@converter("EyeLike")
def _eye_like(s: Step) -> None:
    s.node("EyeLike", [s.x[0]], s.y[0], k=int(s.fn.k), dtype=1)


@converter("Assign")
def _assign(s: Step) -> None:
    """The output is ``src`` (the copy into ``dst`` is a side effect of training graphs)."""
    s.node("Identity", [s.x[1]], s.y[0])


# -- indexing -------------------------------------------------------------------------------------------------------
@converter("Gather")
def _gather(s: Step) -> None:
    fn = s.fn
    b, axis = int(fn.batch_dims), int(fn._axis)
    index = s.as_int(s.x[1])
    if b == 0:
        s.node("Gather", [s.x[0], index], s.y[0], axis=axis)
    elif axis == b:
        s.node("GatherND", [s.x[0], s.node("Unsqueeze", [index, s.ints([-1])])], s.y[0], batch_dims=b)
    else:
        raise s.fail("batch_dims", "ONNX export supports batch_dims > 0 only with axis == batch_dims")


def _index_last(s: Step, i: int) -> str:
    """nnabla's (M, ...) index tuples as ONNX's (..., M)."""
    ndim = len(s.in_shape(i))
    return s.transpose(s.as_int(s.x[i]), list(range(1, ndim)) + [0])


@converter("GatherNd")
def _gather_nd(s: Step) -> None:
    s.node("GatherND", [s.x[0], _index_last(s, 1)], s.y[0])


@converter("ScatterNd")
def _scatter_nd(s: Step) -> None:
    fn = s.fn
    base = s.x[2] if len(s.x) > 2 else s.const(np.zeros(fn.shape))
    attrs = {"reduction": "add"} if fn.add else {}
    s.node("ScatterND", [base, _index_last(s, 1), s.x[0]], s.y[0], **attrs)


@converter("ScatterAdd")
def _scatter_add(s: Step) -> None:
    index_shape = s.in_shape(1)
    updates = s.x[2]
    if s.in_shape(2) != index_shape:
        n = len(index_shape)
        updates = s.node("Slice", [updates, s.ints([0] * n), s.ints(index_shape), s.ints(range(n))])
    s.node("ScatterElements", [s.x[0], s.as_int(s.x[1]), updates], s.y[0], axis=int(s.fn.axis), reduction="add")


def _mask_positions(s: Step, mask: str) -> str:
    """The (nnz, mask.ndim) positions where ``mask`` is non-zero."""
    return s.node("Transpose", [s.node("NonZero", [s.as_bool(mask)])], perm=[1, 0])


@converter("BoolGather")
def _bool_gather(s: Step) -> None:
    s.node("GatherND", [s.x[0], _mask_positions(s, s.x[1])], s.y[0])


@converter("BoolScatter")
def _bool_scatter(s: Step) -> None:
    base = s.x[2] if len(s.x) > 2 else s.const(np.zeros(s.out_shape()))
    s.node("ScatterND", [base, _mask_positions(s, s.x[1]), s.x[0]], s.y[0])


@converter("BoolFill")
def _bool_fill(s: Step) -> None:
    s.node("Where", [s.as_bool(s.x[1]), s.const(float(s.fn.value)), s.x[0]], s.y[0])


@converter("NonZero")
def _nonzero(s: Step) -> None:
    s.node("NonZero", [s.x[0]], s.y[0])


# -- selection and scans ------------------------------------------------------------------------------------------
@converter("TopKData")
def _top_k_data(s: Step) -> None:
    """TopK over each flattened sample; ``reduce=False`` scatters the selected values into zeros."""
    fn = s.fn
    rows = s.node("Flatten", [s.x[0]], axis=int(fn.base_axis))
    key = s.node("Abs", [rows]) if fn.abs else rows
    _, index = s.node("TopK", [key, s.ints([int(fn.k)])], n_out=2, axis=1, largest=int(bool(fn.largest)), sorted=1)
    values = s.node("GatherElements", [rows, index], axis=1)
    if fn.reduce:
        s.reshape(values, s.pair(s.y[0]), out=s.y[0])
        if fn.with_index:
            s.reshape(index, s.pair(s.y[1]), out=s.y[1])
        return
    zeros = s.node("Expand", [s.const(0.0), s.node("Shape", [rows])])
    s.reshape(s.node("ScatterElements", [zeros, index, values], axis=1), s.pair(s.y[0]), out=s.y[0])


@converter("CumProd")
def _cumprod(s: Step) -> None:
    """Products over a masked ``(..., n, n)`` copy along ``axis`` (ONNX has no cumulative product)."""
    fn = s.fn
    ndim = len(s.in_shape())
    axis = int(fn.axis) % ndim
    n = s.in_shape()[axis]
    perm = [a for a in range(ndim) if a != axis] + [axis]
    moved = s.transpose(s.x[0], perm)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    keep = (j >= i if fn.reverse else j <= i) & (i != j if fn.exclusive else True)
    masked = s.node("Where", [s.const(keep, np.bool_), s.node("Unsqueeze", [moved, s.ints([-2])]), s.const(1.0)])
    product = s.reduce("ReduceProd", masked, [-1], keepdims=False)
    s.node("Transpose", [product], s.y[0], perm=[int(a) for a in np.argsort(perm)])


@converter("BatchDet", "BatchLogdet")
def _batch_det(s: Step) -> None:
    if s.fn.name == "BatchDet":
        s.node("Det", [s.x[0]], s.y[0])
    else:
        s.node("Log", [s.node("Abs", [s.node("Det", [s.x[0]])])], s.y[0])


@converter("ONNXNonMaxSuppression")
def _non_max_suppression(s: Step) -> None:
    fn = s.fn
    s.node(
        "NonMaxSuppression",
        [
            s.x[0],
            s.x[1],
            s.const([int(fn.max_output_boxes_per_class)], np.int64),
            s.const([float(fn.iou_threshold)]),
            s.const([float(fn.score_threshold)]),
        ],
        s.y[0],
        center_point_box=int(fn.center_point_box),
    )


@converter("Unique")
def _unique(s: Step) -> None:
    """ONNX Unique (numpy's rules, ``sorted`` or first occurrence); nnl gives the index outputs as int32."""
    fn = s.fn
    attrs = {"sorted": int(bool(fn.sorted))}
    if not fn.flatten:
        attrs["axis"] = int(fn._axis)
    y, index, inverse, counts = s.node(
        "Unique", [s.x[0]], [s.y[0], s.fresh("index"), s.fresh("inverse"), s.fresh("counts")], **attrs
    )
    wanted = [v for flag, v in ((fn.with_index, index), (fn.with_inverse, inverse), (fn.with_counts, counts)) if flag]
    for value, out in zip(wanted, s.y[1:]):
        s.node("Cast", [value], out, to=6)
