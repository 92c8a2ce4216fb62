"""Import converters of the shape and indexing ops: Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Split,
Slice, Gather, Pad, Expand, Tile, DepthToSpace and SpaceToDepth.

Shape arguments must be constants (initializers, or computed from shapes: they are folded); the converters write
the concrete shapes and the importer turns the batch-dependent entries into ``-1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nnl.onnx._import_base import Node, axis_of, converter


def _ints(value: object) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


@converter("Reshape")
def _reshape(n: Node) -> None:
    in_shape = n.shape(0)
    target = _ints(n.need_const(1, "shape"))
    if not n.attr("allowzero", 0):
        target = [in_shape[i] if d == 0 else d for i, d in enumerate(target)]
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(in_shape) // known if known else 0
    n.reshape(n.x(0), target, n.outputs[0])


@converter("Flatten")
def _flatten(n: Node) -> None:
    shape = n.shape(0)
    axis = n.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise n.fail(f"axis={axis} is out of range for a rank-{len(shape)} input", "axis")
    n.reshape(n.x(0), (math.prod(shape[:axis]), math.prod(shape[axis:])), n.outputs[0])


def _axes_argument(n: Node) -> list[int] | None:
    value = n.const_or_attr(1, "axes") if n.opset >= 13 else n.attr("axes")
    return None if value is None else _ints(value)


@converter("Squeeze")
def _squeeze(n: Node) -> None:
    shape = n.shape(0)
    axes = _axes_argument(n)
    if axes is None:
        drop = {a for a, d in enumerate(shape) if d == 1}
    else:
        drop = {axis_of(n, a, len(shape), "axes") for a in axes}
        if any(shape[a] != 1 for a in drop):
            raise n.fail(f"axes {sorted(drop)} of the input shape {shape} are not all of size 1", "axes")
    n.reshape(n.x(0), [d for a, d in enumerate(shape) if a not in drop], n.outputs[0])


@converter("Unsqueeze")
def _unsqueeze(n: Node) -> None:
    shape = list(n.shape(0))
    axes = _axes_argument(n)
    if axes is None:
        raise n.fail("the axes are missing", "axes")
    rank = len(shape) + len(axes)
    for a in sorted(axis_of(n, a, rank, "axes") for a in axes):
        shape.insert(a, 1)
    n.reshape(n.x(0), shape, n.outputs[0])


@converter("Transpose")
def _transpose(n: Node) -> None:
    rank = n.rank(0)
    perm = n.attr("perm") or list(reversed(range(rank)))
    n.emit("Transpose", [n.x(0)], n.outputs[0], axes=[axis_of(n, a, rank, "perm") for a in perm])


@converter("Concat")
def _concat(n: Node) -> None:
    rank = n.rank(0)
    axis = axis_of(n, n.attr("axis"), rank)
    parts = [n.x(i) for i in range(len(n.inputs)) if n.has(i) and math.prod(n.shape(i)) > 0]
    if len(parts) == 1:
        n.identity(parts[0], n.outputs[0])
    else:
        n.emit("Concatenate", parts, n.outputs[0], axis=axis)


def slice_axes(n: Node, x: str, axes: dict[int, tuple[int, int, int]], out: str | None = None) -> str:
    """nnl's Slice of ``x`` with ``(start, stop, step)`` per axis (already in nnl's Python-slice terms).

    The arguments cover the axes from the first sliced one to the last (nnl keeps the leading axes whole).
    """
    shape = n.run.shape(x)
    first = min(axes)
    start, stop, step = [], [], []
    for a in range(first, len(shape)):
        b, e, s = axes.get(a, (0, shape[a], 1))
        start.append(b)
        stop.append(e)
        step.append(s)
    return n.emit("Slice", [x], out, start=start, stop=stop, step=step)


def _onnx_slice(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX's clamping of one axis, in nnl's terms (a stop before index 0 is written ``-dim - 1``)."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim), step
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, (-dim - 1 if end == -1 else end), step


@converter("Slice")
def _slice(n: Node) -> None:
    shape = n.shape(0)
    if n.opset >= 10:
        starts, ends = _ints(n.need_const(1, "starts")), _ints(n.need_const(2, "ends"))
        axes = _ints(n.need_const(3, "axes")) if n.has(3) else list(range(len(starts)))
        steps = _ints(n.need_const(4, "steps")) if n.has(4) else [1] * len(starts)
    else:
        starts, ends = n.attr("starts"), n.attr("ends")
        axes = n.attr("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    if 0 in steps:
        raise n.fail("a step of 0")
    spec = {}
    for a, b, e, s in zip(axes, starts, ends, steps):
        a = axis_of(n, a, len(shape), "axes")
        spec[a] = _onnx_slice(shape[a], b, e, s)
    if not spec:
        n.identity(n.x(0), n.outputs[0])
        return
    slice_axes(n, n.x(0), spec, n.outputs[0])


@converter("Split")
def _split(n: Node) -> None:
    shape = n.shape(0)
    axis = axis_of(n, n.attr("axis", 0), len(shape))
    count = len(n.outputs)
    n.attr("num_outputs")
    if n.opset >= 13:
        sizes = _ints(n.need_const(1, "split")) if n.has(1) else None
    else:
        sizes = n.attr("split")
    if not sizes:
        chunk = -(-shape[axis] // count)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(count)]
    if sum(sizes) != shape[axis] or len(sizes) != count:
        raise n.fail(f"split sizes {list(sizes)} do not divide axis {axis} of size {shape[axis]} into {count}", "split")
    x, begin = n.x(0), 0
    for out, size in zip(n.outputs, sizes):
        if out:
            slice_axes(n, x, {axis: (begin, begin + size, 1)}, out)
        begin += size


@converter("Gather")
def _gather(n: Node) -> None:
    """A constant scalar index is a Slice; constant data looked up at axis 0 is an Embed; otherwise nnl's Gather."""
    shape = n.shape(0)
    axis = axis_of(n, n.attr("axis", 0), len(shape))
    indices = n.const(1)
    if indices is not None:
        indices = np.where(indices < 0, indices + shape[axis], indices).astype(np.int64)
        if indices.ndim == 0:
            i = int(indices)
            part = slice_axes(n, n.x(0), {axis: (i, i + 1, 1)})
            n.reshape(part, shape[:axis] + shape[axis + 1 :], n.outputs[0])
            return
        index = n.parameter(indices, "indices", need_grad=False)
        n.emit("Gather", [n.x(0), index], n.outputs[0], axis=axis, batch_dims=0)
    elif axis == 0 and n.const(0) is not None:
        n.emit("Embed", [n.x(1), n.x(0)], n.outputs[0])
    else:
        n.emit("Gather", [n.x(0), n.x(1)], n.outputs[0], axis=axis, batch_dims=0)


@converter("Pad")
def _pad(n: Node) -> None:
    mode = n.expect("mode", ("constant", "reflect", "edge"), "constant")
    shape = n.shape(0)
    rank = len(shape)
    if n.opset < 11:
        pads, value = n.attr("pads"), n.attr("value", 0.0)
    else:
        pads = _ints(n.need_const(1, "pads"))
        value = float(n.need_const(2, "constant_value").reshape(-1)[0]) if n.has(2) else 0.0
    axes = list(range(rank))
    if n.has(3):
        axes = [axis_of(n, a, rank, "axes") for a in _ints(n.need_const(3, "axes"))]
    widths = {a: (int(pads[k]), int(pads[k + len(axes)])) for k, a in enumerate(axes)}
    x = n.x(0)
    crop = {a: (-b if b < 0 else 0, shape[a] + e if e < 0 else shape[a], 1) for a, (b, e) in widths.items()
            if b < 0 or e < 0}
    grow = {a: (max(b, 0), max(e, 0)) for a, (b, e) in widths.items() if b > 0 or e > 0}
    if crop:
        x = slice_axes(n, x, crop, None if grow else n.outputs[0])
    if grow:
        first = min(grow)
        pad_width = [w for a in range(first, rank) for w in grow.get(a, (0, 0))]
        nnl_mode = {"edge": "repeat"}.get(mode, mode)
        n.emit("Pad", [x], n.outputs[0], pad_width=pad_width, mode=nnl_mode, constant_value=value)
    elif not crop:
        n.identity(x, n.outputs[0])


@converter("Expand")
def _expand(n: Node) -> None:
    target = tuple(np.broadcast_shapes(n.shape(0), tuple(_ints(n.need_const(1, "shape")))))
    n.broadcast(n.x(0), target, n.outputs[0])


@converter("Tile")
def _tile(n: Node) -> None:
    n.emit("Tile", [n.x(0)], n.outputs[0], reps=_ints(n.need_const(1, "repeats")))


def _rearrange(n: Node, shapes: Sequence[Sequence[int]], perm: Sequence[int]) -> None:
    x = n.reshape(n.x(0), shapes[0])
    n.reshape(n.emit("Transpose", [x], axes=list(perm)), shapes[1], n.outputs[0])


@converter("DepthToSpace")
def _depth_to_space(n: Node) -> None:
    b = int(n.attr("blocksize"))
    mode = n.expect("mode", ("DCR", "CRD"), "DCR")
    batch, c, h, w = n.shape(0)
    out = (batch, c // (b * b), h * b, w * b)
    if mode == "DCR":
        _rearrange(n, [(batch, b, b, c // (b * b), h, w), out], (0, 3, 4, 1, 5, 2))
    else:
        _rearrange(n, [(batch, c // (b * b), b, b, h, w), out], (0, 1, 4, 2, 5, 3))


@converter("SpaceToDepth")
def _space_to_depth(n: Node) -> None:
    b = int(n.attr("blocksize"))
    batch, c, h, w = n.shape(0)
    _rearrange(n, [(batch, c, h // b, b, w // b, b), (batch, c * b * b, h // b, w // b)], (0, 3, 5, 1, 2, 4))


@converter("GatherND")
def _gather_nd(n: Node) -> None:
    """nnl's GatherNd takes the index tuples along the first axis of ``indices`` (ONNX: the last)."""
    n.expect("batch_dims", (0,), 0)
    rank = n.rank(1)
    to_front = [rank - 1] + list(range(rank - 1))
    indices = n.const(1)
    if indices is not None:
        index = n.parameter(np.transpose(np.where(indices < 0, indices + np.asarray(n.shape(0)[: indices.shape[-1]]),
                                                  indices), to_front), "indices", need_grad=False)
    else:
        index = n.emit("Transpose", [n.x(1)], axes=to_front)
    n.emit("GatherNd", [n.x(0), index], n.outputs[0])


@converter("Trilu")
def _trilu(n: Node) -> None:
    k = int(n.need_const(1, "k").reshape(-1)[0]) if n.has(1) else 0
    n.emit("Trilu", [n.x(0)], n.outputs[0], k=k, upper=bool(n.attr("upper", 1)))


@converter("EyeLike")
def _eye_like(n: Node) -> None:
    n.attr("dtype")
    n.emit("EyeLike", [n.x(0)], n.outputs[0], k=n.attr("k", 0))
