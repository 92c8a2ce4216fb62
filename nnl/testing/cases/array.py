"""Cases for nnl/functions/array.py: each reference is a naive loop or a different NumPy formulation."""

from __future__ import annotations

import numpy as np

from nnl.testing.function_tester import Case


def _ints(*arrays):
    return [np.asarray(a, dtype=np.int64) for a in arrays]


# -- references --------------------------------------------------------------------------------------------
def _concat_ref(*xs, axis=None):
    axis = xs[0].ndim - 1 if axis is None else axis % xs[0].ndim
    total = sum(x.shape[axis] for x in xs)
    shape = list(xs[0].shape)
    shape[axis] = total
    out = np.empty(shape)
    offset = 0
    for x in xs:
        for idx in np.ndindex(*x.shape):
            j = list(idx)
            j[axis] += offset
            out[tuple(j)] = x[idx]
        offset += x.shape[axis]
    return out


def _split_ref(x, axis=0):
    return [np.take(x, i, axis=axis) for i in range(x.shape[axis])]


def _stack_ref(*xs, axis=0):
    axis = axis % (xs[0].ndim + 1)
    out = np.empty(xs[0].shape[:axis] + (len(xs),) + xs[0].shape[axis:])
    for i, x in enumerate(xs):
        for idx in np.ndindex(*x.shape):
            out[idx[:axis] + (i,) + idx[axis:]] = x[idx]
    return out


def _slice_ref(x, start=None, stop=None, step=None):
    key = tuple(slice(b, e, s) for b, e, s in zip(start, stop, step))
    return x[(slice(None),) * (x.ndim - len(key)) + key]


def _mirror(i, n):
    """Reflect-pad source index by walking the mirror (naive)."""
    if n == 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def _pad_ref(x, pad_width, mode="constant", constant_value=0):
    pairs = [(0, 0)] * (x.ndim - len(pad_width) // 2) + [
        (pad_width[i], pad_width[i + 1]) for i in range(0, len(pad_width), 2)
    ]
    out = np.empty([n + b + a for n, (b, a) in zip(x.shape, pairs)])
    for idx in np.ndindex(*out.shape):
        src = [i - b for i, (b, _) in zip(idx, pairs)]
        if mode == "constant":
            out[idx] = x[tuple(src)] if all(0 <= s < n for s, n in zip(src, x.shape)) else constant_value
        elif mode == "reflect":
            out[idx] = x[tuple(_mirror(s, n) for s, n in zip(src, x.shape))]
        else:
            out[idx] = x[tuple(min(max(s, 0), n - 1) for s, n in zip(src, x.shape))]
    return out


def _transpose_ref(x, axes):
    letters = "abcdefgh"[: x.ndim]
    return np.einsum(f"{letters}->{''.join(letters[a] for a in axes)}", x)


def _tile_ref(x, reps):
    reps = [reps] if isinstance(reps, int) else list(reps)
    d = max(len(reps), x.ndim)
    xs = x.reshape((1,) * (d - x.ndim) + x.shape)
    reps = [1] * (d - len(reps)) + reps
    out = np.empty([s * r for s, r in zip(xs.shape, reps)])
    for idx in np.ndindex(*out.shape):
        out[idx] = xs[tuple(i % s for i, s in zip(idx, xs.shape))]
    return out


def _one_hot_ref(x, shape):
    out = np.zeros(x.shape[:-1] + tuple(shape))
    for idx in np.ndindex(*x.shape[:-1]):
        labels = [int(v) + (n if v < 0 else 0) for v, n in zip(x[idx], shape)]
        if all(0 <= v < n for v, n in zip(labels, shape)):
            out[idx + tuple(labels)] = 1
    return out


def _flip_ref(x, axes=None):
    axes = [x.ndim - 1] if axes is None else axes
    key = [slice(None)] * x.ndim
    for a in axes:
        key[a] = slice(None, None, -1)
    return x[tuple(key)]


def _shift_ref(x, shifts=None, border_mode="nearest"):
    out = np.empty(x.shape)
    lead = x.ndim - len(shifts)
    for idx in np.ndindex(*x.shape):
        src = list(idx)
        for k, s in enumerate(shifts):
            a, n = lead + k, x.shape[lead + k]
            i = idx[a] - s
            if border_mode == "nearest":
                i = min(max(i, 0), n - 1)
            else:
                while i < 0 or i >= n:  # mirror including the edge element
                    i = -i - 1 if i < 0 else 2 * n - 1 - i
            src[a] = i
        out[idx] = x[tuple(src)]
    return out


def _sort_ref(x, axis=-1, reverse=False, with_index=False, only_index=False):
    y = np.sort(x, axis=axis)
    if reverse:
        y = np.flip(y, axis)
    moved = np.moveaxis(x, axis, -1)
    index = np.empty(moved.shape, np.int64)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = list(moved[idx])
        index[idx] = sorted(range(len(row)), key=lambda i: -row[i] if reverse else row[i])
    index = np.moveaxis(index, -1, axis)
    if only_index:
        return index
    return (y, index) if with_index else y


def _matrix_diag_ref(x):
    out = np.zeros(x.shape + (x.shape[-1],))
    for idx in np.ndindex(*x.shape):
        out[idx + (idx[-1],)] = x[idx]
    return out


def _matrix_diag_part_ref(x):
    out = np.empty(x.shape[:-1])
    for idx in np.ndindex(*out.shape):
        out[idx] = x[idx + (idx[-1],)]
    return out


def _trilu_ref(x, k=0, upper=True):
    out = np.array(x, np.float64)
    for idx in np.ndindex(*x.shape):
        i, j = idx[-2], idx[-1]
        keep = (j - i >= k) if upper else (j - i <= k)
        if not keep:
            out[idx] = 0
    return out


def _meshgrid_ref(*xs, ij_indexing=False):
    sizes = [len(x) for x in xs]
    if not ij_indexing and len(xs) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    outs = []
    for n, x in enumerate(xs):
        out = np.empty(sizes)
        for idx in np.ndindex(*sizes):
            k = idx[n]
            if not ij_indexing and len(xs) > 1 and n < 2:
                k = idx[1 - n]
            out[idx] = x[k]
        outs.append(out)
    return outs


def _det3(m):
    return (
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )


def _cholesky_ref(x, upper=False):
    out = np.zeros(x.shape)
    for b in range(x.shape[0]):
        a = (x[b] + x[b].T) / 2
        n = a.shape[0]
        lower = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1):
                s = sum(lower[i, k] * lower[j, k] for k in range(j))
                lower[i, j] = np.sqrt(a[i, i] - s) if i == j else (a[i, j] - s) / lower[j, j]
        out[b] = lower.T if upper else lower
    return out


def _spd(rng):
    m = rng.randn(2, 3, 3)
    return [(m @ m.transpose(0, 2, 1) + 3 * np.eye(3)).astype(np.float32)]


def _gather_ref(x, indices, axis=0, batch_dims=0):
    axis = axis % x.ndim
    out_shape = x.shape[:axis] + indices.shape[batch_dims:] + x.shape[axis + 1 :]
    out = np.empty(out_shape)
    ni = indices.ndim - batch_dims
    for idx in np.ndindex(*out_shape):
        lead, mid, rest = idx[:axis], idx[axis : axis + ni], idx[axis + ni :]
        g = indices[lead[:batch_dims] + mid]
        out[idx] = x[lead + (g,) + rest]
    return out


def _gather_nd_ref(x, indices):
    m = indices.shape[0]
    out = np.empty(indices.shape[1:] + x.shape[m:])
    for idx in np.ndindex(*indices.shape[1:]):
        key = tuple(int(indices[(k,) + idx]) for k in range(m))
        out[idx] = x[key]
    return out


def _bool_gather_ref(x, mask):
    rows = [x[idx] for idx in np.ndindex(*mask.shape) if mask[idx] != 0]
    return np.array(rows).reshape((len(rows),) + x.shape[mask.ndim :])


def _scatter_nd_ref(data, indices, out=None, shape=None, add=False):
    shape = out.shape if out is not None else shape
    y = np.array(out, np.float64) if out is not None else np.zeros(shape)
    m = indices.shape[0]
    for idx in np.ndindex(*indices.shape[1:]):
        key = tuple(int(indices[(k,) + idx]) for k in range(m))
        y[key] = y[key] + data[idx] if add else data[idx]
    return y


def _scatter_add_ref(x0, indices, x1, axis=0):
    y = np.array(x0, np.float64)
    for idx in np.ndindex(*indices.shape):
        key = list(idx)
        key[axis] = indices[idx]
        y[tuple(key)] += x1[idx]
    return y


def _bool_scatter_ref(x, mask, output=None):
    y = np.zeros(mask.shape + x.shape[1:]) if output is None else np.array(output, np.float64)
    k = 0
    for idx in np.ndindex(*mask.shape):
        if mask[idx] != 0:
            y[idx] = x[k]
            k += 1
    return y


def _bool_fill_ref(data, mask, value=0):
    out = np.array(data, np.float64)
    m = np.broadcast_to(mask, data.shape)
    for idx in np.ndindex(*data.shape):
        if m[idx] != 0:
            out[idx] = value
    return out


def _pack_ref(padded, lengths, batch_first=False):
    p = np.swapaxes(padded, 0, 1) if batch_first else padded
    rows, sizes = [], []
    for t in range(p.shape[0]):
        n = 0
        for b in range(p.shape[1]):
            if t < lengths[b]:
                rows.append(p[t, b])
                n += 1
        sizes.append(n)
    return np.array(rows), np.array(sizes)


def _unpack_ref(packed, batch_sizes, batch_first=False, padding_value=0.0, total_length=-1):
    t_max = max(len(batch_sizes), total_length)
    b_max = int(max(batch_sizes))
    out = np.full((t_max, b_max) + packed.shape[1:], padding_value, np.float64)
    k = 0
    for t, n in enumerate(batch_sizes):
        for b in range(int(n)):
            out[t, b] = packed[k]
            k += 1
    lengths = [sum(1 for n in batch_sizes if n > b) for b in range(b_max)]
    return (np.swapaxes(out, 0, 1) if batch_first else out), np.array(lengths)


def _nonzero_ref(x):
    hits = [idx for idx in np.ndindex(*x.shape) if x[idx] != 0]
    return np.array(hits, np.int64).T.reshape(x.ndim, len(hits))


# -- inputs ------------------------------------------------------------------------------------------------
def _distinct(shape):
    """Values far from ties (sort) and kinks."""

    def make(rng):
        n = int(np.prod(shape))
        return [(rng.permutation(n).astype(np.float32) * 0.37 - 3.0).reshape(shape)]

    return make


def _mask_and(shape_x, shape_m, extra=()):
    def make(rng):
        x = rng.randn(*shape_x).astype(np.float32)
        m = rng.randint(0, 2, size=shape_m)
        m.flat[0] = 1
        return [x, m.astype(np.int64)] + [e(rng) for e in extra]

    return make


def _bool_scatter_inputs(with_output):
    def make(rng):
        mask = np.array([[1, 0, 1], [1, 1, 0]], np.int64)
        data = rng.randn(int(mask.sum()), 2).astype(np.float32)
        out = [rng.randn(2, 3, 2).astype(np.float32)] if with_output else []
        return [data, mask] + out

    return make


CASES = [
    # Reshape / Broadcast (beyond core_examples)
    Case("Reshape", [(2, 3, 4)], lambda x, shape: x.reshape(shape), args={"shape": (3, 8)}, name="plain"),
    Case(
        "Broadcast",
        [(1, 3, 1)],
        lambda x, shape: x + np.zeros(shape),
        args={"shape": (2, 3, 4)},
        name="two_axes",
        errors=[([(2, 3)], {"shape": (3, 3)}, "shape")],
    ),
    # Concatenate / Split / Stack
    Case(
        "Concatenate",
        [(2, 3), (2, 2), (2, 1)],
        _concat_ref,
        args={"axis": 1},
        errors=[([(2, 3), (3, 3)], {"axis": 1}, "x[1].shape"), ([(2, 3), (2, 3)], {"axis": 2}, "axis")],
    ),
    Case("Concatenate", [(2, 3, 2), (1, 3, 2)], _concat_ref, args={"axis": -3}, name="negative_axis"),
    Case("Concatenate", [(3, 2), (3, 4)], _concat_ref, name="default_axis"),
    Case("Split", [(2, 3, 4)], _split_ref, args={"axis": 1}),
    Case("Split", [(3, 2)], _split_ref, args={"axis": -1}, name="negative_axis"),
    Case(
        "Stack",
        [(2, 3), (2, 3), (2, 3)],
        _stack_ref,
        args={"axis": 1},
        errors=[([(2, 3), (3, 2)], {"axis": 0}, "x[1].shape")],
    ),
    Case("Stack", [(3, 2), (3, 2)], _stack_ref, args={"axis": -1}, name="last_axis"),
    # Slice
    Case(
        "Slice",
        [(4, 5, 6)],
        _slice_ref,
        args={"start": (1, 0, 1), "stop": (3, 5, 6), "step": (1, 2, 3)},
        errors=[([(3, 4)], {"start": (0, 0), "stop": (3, 4), "step": (1, 0)}, "step")],
    ),
    Case(
        "Slice",
        [(4, 5, 6)],
        _slice_ref,
        args={"start": (3, -1, 5), "stop": (None, None, 0), "step": (-1, -2, -2)},
        name="negative_steps",
    ),
    Case("Slice", [(3, 7)], _slice_ref, args={"start": (-6,), "stop": (-1,), "step": (2,)}, name="last_axis_only"),
    Case("Slice", [(3, 7)], _slice_ref, args={"start": (5,), "stop": (1,), "step": (1,)}, name="empty"),
    # Pad
    Case(
        "Pad",
        [(2, 3, 4)],
        _pad_ref,
        args={"pad_width": (1, 2, 0, 1), "mode": "constant", "constant_value": 0.5},
        errors=[
            ([(2, 3)], {"pad_width": (1, 2, 3)}, "even"),
            ([(2, 3)], {"pad_width": (1, 1), "mode": "wrap"}, "mode"),
        ],
    ),
    Case("Pad", [(2, 3)], _pad_ref, args={"pad_width": (2, 7), "mode": "reflect"}, name="reflect_bounce"),
    Case("Pad", [(3, 4)], _pad_ref, args={"pad_width": (1, 2, 3, 1), "mode": "reflect"}, name="reflect_2d"),
    Case("Pad", [(2, 3, 2)], _pad_ref, args={"pad_width": (2, 1, 1, 3), "mode": "repeat"}, name="repeat"),
    # Transpose
    Case(
        "Transpose",
        [(2, 3, 4)],
        _transpose_ref,
        args={"axes": (2, 0, 1)},
        errors=[([(2, 3)], {"axes": (0, 0)}, "permutation"), ([(2, 3)], {"axes": (1, 0, 2)}, "axes")],
    ),
    Case("Transpose", [(2, 3, 2, 2)], _transpose_ref, args={"axes": (0, 2, 3, 1)}, name="4d"),
    # BroadcastTo
    Case(
        "BroadcastTo",
        [(2, 3, 4), (3, 4)],
        lambda x, y, axis=None: np.broadcast_to(y, x.shape),
        grad_inputs=[1],
        errors=[([(2, 3, 4), (3, 3)], {}, "y.shape")],
    ),
    Case(
        "BroadcastTo",
        [(2, 3, 4), (2, 3)],
        lambda x, y, axis: np.broadcast_to(y[:, :, None], x.shape),
        args={"axis": 0},
        grad_inputs=[1],
        name="axis0",
    ),
    # Tile
    Case("Tile", [(2, 3)], _tile_ref, args={"reps": 2}),
    Case(
        "Tile", [(3,)], _tile_ref, args={"reps": [2, 1, 3]}, name="promote_x", errors=[([(2,)], {"reps": [0]}, "reps")]
    ),
    # OneHot
    Case(
        "OneHot",
        lambda rng: _ints(rng.randint(-12, 12, size=(6, 1))),
        _one_hot_ref,
        args={"shape": (10,)},
        backward=False,
        errors=[(_ints([[1, 2]]), {"shape": (3,)}, "shape")],
    ),
    Case(
        "OneHot",
        lambda rng: _ints(np.stack([rng.randint(-5, 5, 5), rng.randint(-4, 4, 5)], 1)),
        _one_hot_ref,
        args={"shape": (4, 3)},
        backward=False,
        name="2d",
    ),
    # Flip / Shift
    Case("Flip", [(2, 3, 4)], _flip_ref, args={"axes": (0, 2)}),
    Case("Flip", [(3, 4)], _flip_ref, name="default_axis"),
    Case(
        "Shift",
        [(3, 5)],
        _shift_ref,
        args={"shifts": (1, -2)},
        errors=[([(3,)], {"shifts": (1,), "border_mode": "x"}, "border_mode")],
    ),
    Case("Shift", [(2, 3, 4)], _shift_ref, args={"shifts": (-1, 5), "border_mode": "reflect"}, name="reflect"),
    # Sort
    Case("Sort", _distinct((3, 4)), _sort_ref),
    Case(
        "Sort",
        _distinct((3, 4, 2)),
        _sort_ref,
        args={"axis": 1, "reverse": True, "with_index": True},
        name="with_index",
    ),
    Case("Sort", _distinct((2, 5)), _sort_ref, args={"axis": 0, "only_index": True}, backward=False, name="only_index"),
    # Shape
    Case("Shape", [(2, 3, 4)], lambda x: np.array(x.shape), backward=False),
    Case(
        "Shape",
        [(2, 3, 4, 5)],
        lambda x, start, end: np.array(x.shape[start:end]),
        args={"start": 1, "end": -1},
        backward=False,
        name="range",
    ),
    # MatrixDiag / MatrixDiagPart / Trilu
    Case("MatrixDiag", [(2, 3)], _matrix_diag_ref),
    Case("MatrixDiagPart", [(2, 3, 3)], _matrix_diag_part_ref, errors=[([(2, 3, 4)], {}, "square")]),
    Case("Trilu", [(2, 3, 4)], _trilu_ref, errors=[([(3,)], {}, "2 dimensions")]),
    Case("Trilu", [(4, 3)], _trilu_ref, args={"k": -1, "upper": False}, name="lower"),
    Case("Trilu", [(3, 5)], _trilu_ref, args={"k": 2, "upper": True}, name="upper_k2"),
    # Meshgrid
    Case("Meshgrid", [(3,), (2,), (4,)], _meshgrid_ref, call=lambda F, *x: F.meshgrid(*x)),
    Case(
        "Meshgrid",
        [(3,), (2,)],
        lambda a, b: _meshgrid_ref(a, b, ij_indexing=True),
        call=lambda F, *x: F.meshgrid(*x, ij_indexing=True),
        name="ij",
    ),
    # Batched linear algebra
    Case(
        "BatchDet",
        _spd,
        lambda x: np.array([_det3(m) for m in x.astype(np.float64)]),
        rtol_f=1e-4,
        errors=[([(2, 3, 4)], {}, "square")],
    ),
    Case("BatchInv", _spd, lambda x: np.array([np.linalg.solve(m, np.eye(3)) for m in x.astype(np.float64)])),
    Case(
        "BatchLogdet",
        lambda rng: [rng.randn(2, 3, 3).astype(np.float32) + 2 * np.eye(3, dtype=np.float32)],
        lambda x: np.array([np.log(abs(_det3(m))) for m in x.astype(np.float64)]),
    ),
    Case("BatchCholesky", _spd, _cholesky_ref),
    Case("BatchCholesky", _spd, _cholesky_ref, args={"upper": True}, name="upper"),
    # Assign (gradient goes to dst by definition; its data side effect is checked in tests/test_indexing.py)
    Case("Assign", [(2, 3), (2, 3)], lambda dst, src: src, backward=False, errors=[([(2, 3), (3, 2)], {}, "src")]),
    # Gather / GatherNd / BoolGather
    Case(
        "Gather",
        lambda rng: [rng.randn(3, 4).astype(np.float32), np.array([3, 0, 3, 1, 2], np.int64)],
        _gather_ref,
        args={"axis": 1},
        errors=[([(2, 3), np.zeros((3, 1), np.int64)], {"axis": 1, "batch_dims": 1}, "Indices")],
    ),
    Case(
        "Gather",
        lambda rng: [rng.randn(2, 3, 4).astype(np.float32), rng.randint(0, 3, size=(2, 2, 2))],
        _gather_ref,
        args={"axis": 1, "batch_dims": 1},
        name="batch_dims",
    ),
    Case(
        "Gather",
        lambda rng: [rng.randn(4, 2).astype(np.float32), np.array([[0, 3], [2, 2]], np.int64)],
        _gather_ref,
        name="axis0_2d_indices",
    ),
    Case(
        "GatherNd",
        lambda rng: [rng.randn(3, 4).astype(np.float32), np.array([[0, 2, -1, 2], [1, 3, 0, 3]])],
        _gather_nd_ref,
        errors=[([(3, 4), np.zeros((3,), np.int64)], {}, "2 dimensions")],
    ),
    Case(
        "GatherNd",
        lambda rng: [rng.randn(3, 2, 2).astype(np.float32), np.array([[[2, 0], [0, 0]]])],
        _gather_nd_ref,
        name="slices",
    ),
    Case(
        "BoolGather",
        _mask_and((4, 3), (4,)),
        _bool_gather_ref,
        errors=[([(3, 2), np.ones((2,), np.int64)], {}, "mask")],
    ),
    Case("BoolGather", _mask_and((2, 3), (2, 3)), _bool_gather_ref, name="full_mask"),
    # ScatterNd / ScatterAdd / BoolScatter / BoolFill
    Case(
        "ScatterNd",
        lambda rng: [rng.randn(3).astype(np.float32), np.array([[1, 0, 3], [2, -1, 0]])],
        lambda d, i, shape, add=False: _scatter_nd_ref(d, i, shape=shape),
        args={"shape": (4, 5)},
        errors=[([(3,), np.array([[1, 0, 3]])], {"shape": (4, 5)}, "data.shape")],
    ),
    Case(
        "ScatterNd",
        lambda rng: [rng.randn(4, 2).astype(np.float32), np.array([[1, 0, 1, 2]])],
        lambda d, i, shape, add: _scatter_nd_ref(d, i, shape=shape, add=True),
        args={"shape": (3, 2), "add": True},
        name="add",
    ),
    Case(
        "ScatterNd",
        lambda rng: [rng.randn(2).astype(np.float32), np.array([[0, 2], [1, 1]]), rng.randn(3, 2).astype(np.float32)],
        lambda d, i, o: _scatter_nd_ref(d, i, out=o),
        call=lambda F, d, i, o: F.scatter_nd(d, i, out=o),
        name="out",
    ),
    Case(
        "ScatterAdd",
        lambda rng: [
            rng.randn(3, 4).astype(np.float32),
            rng.randint(0, 3, size=(2, 4)),
            rng.randn(2, 4).astype(np.float32),
        ],
        _scatter_add_ref,
        args={"axis": 0},
        errors=[([(3, 4), np.zeros((2, 4), np.int64), (2, 4, 1)], {"axis": 0}, "ranks")],
    ),
    Case(
        "ScatterAdd",
        lambda rng: [
            rng.randn(3, 4).astype(np.float32),
            rng.randint(0, 4, size=(2, 3)),
            rng.randn(3, 5).astype(np.float32),
        ],
        _scatter_add_ref,
        args={"axis": 1},
        name="smaller_indices",
    ),
    Case("BoolScatter", _bool_scatter_inputs(False), _bool_scatter_ref),
    Case("BoolScatter", _bool_scatter_inputs(True), _bool_scatter_ref, name="inplace_output"),
    Case(
        "BoolFill",
        _mask_and((2, 3, 2, 2), (1, 2, 1)),
        _bool_fill_ref,
        args={"value": -1.5},
        errors=[([(2, 3), np.ones((2,), np.int64)], {}, "mask")],
    ),
    Case("BoolFill", _mask_and((2, 3), (2, 3)), _bool_fill_ref, name="same_shape"),
    # PackPaddedSequence / PadPackedSequence / NonZero
    Case("PackPaddedSequence", lambda rng: [rng.randn(4, 3, 2).astype(np.float32), np.array([4, 2, 1])], _pack_ref),
    Case(
        "PackPaddedSequence",
        lambda rng: [rng.randn(3, 5).astype(np.float32), np.array([3, 3, 1])],
        _pack_ref,
        args={"batch_first": True},
        name="batch_first",
    ),
    Case(
        "PadPackedSequence",
        lambda rng: [rng.randn(7, 2).astype(np.float32), np.array([3, 2, 1, 1])],
        _unpack_ref,
        args={"padding_value": -1.0},
    ),
    Case(
        "PadPackedSequence",
        lambda rng: [rng.randn(6).astype(np.float32), np.array([3, 2, 1])],
        _unpack_ref,
        args={"batch_first": True, "total_length": 5},
        name="batch_first_total_length",
    ),
    Case("NonZero", lambda rng: [rng.randint(0, 2, size=(3, 4)).astype(np.float32)], _nonzero_ref, backward=False),
]
