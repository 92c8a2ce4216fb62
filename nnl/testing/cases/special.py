"""Cases for nnl/functions/special.py (Sink's case is in core_examples.py).

References are naive loops written from the definitions (greedy NMS box by box, patch sums pixel by pixel, an
einsum that enumerates every label assignment, ...).
"""

from __future__ import annotations

import builtins
import itertools
import math

import numpy as np

from nnl.testing.function_tester import Case


# -- VATNoise / Unlink / EyeLike -----------------------------------------------------------------------------------
def _vat_noise_ref(x, w, base_axis=1, eps=1.0):
    base_axis = base_axis + x.ndim if base_axis < 0 else base_axis
    rows = x.reshape(int(np.prod(x.shape[:base_axis])), -1).astype(np.float64)
    out = np.empty_like(rows)
    for r in range(rows.shape[0]):
        out[r] = eps * rows[r] / math.sqrt(1e-8 + sum(v * v for v in rows[r]))
    return out.reshape(x.shape)


def _eye_like_ref(x, k=0):
    out = np.zeros(x.shape)
    for i, j in np.ndindex(*x.shape):
        out[i, j] = 1.0 if j - i == k else 0.0
    return out


# -- NMS -----------------------------------------------------------------------------------------------------------
def _iou_cxcywh(a, b):
    w = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    h = min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def _iou_corners(a, b):
    ay1, ay2, ax1, ax2 = min(a[0], a[2]), max(a[0], a[2]), min(a[1], a[3]), max(a[1], a[3])
    by1, by2, bx1, bx2 = min(b[0], b[2]), max(b[0], b[2]), min(b[1], b[3]), max(b[1], b[3])
    w = min(ax2, bx2) - max(ax1, bx1)
    h = min(ay2, by2) - max(ay1, by1)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - w * h)


def _nms_detection2d_ref(x, thresh=0.5, nms=0.45, nms_per_class=True):
    y = x.astype(np.float64).copy()
    batch, n, c = x.shape
    for b, i in itertools.product(range(batch), range(n)):
        obj = y[b, i, 4] if y[b, i, 4] >= thresh else 0.0
        y[b, i, 4] = obj
        for k in range(5, c):
            p = obj * x[b, i, k]
            y[b, i, k] = p if p >= thresh else 0.0
    for b in range(batch):
        boxes = [y[b, i, :4].copy() for i in range(n)]
        if nms_per_class:
            for k in range(5, c):
                order = sorted(range(n), key=lambda i: -y[b, i, k])
                for r, i in enumerate(order):
                    if y[b, i, k] == 0:
                        continue
                    for j in order[r + 1 :]:
                        if y[b, j, k] != 0 and _iou_cxcywh(boxes[i], boxes[j]) > nms:
                            y[b, j, k] = 0.0
        else:
            order = sorted(range(n), key=lambda i: -y[b, i, 4])
            drop = [
                i
                for r, i in enumerate(order)
                if y[b, i, 4] != 0 and any(_iou_cxcywh(boxes[i], boxes[j]) > nms for j in order[:r])
            ]
            for i in drop:
                y[b, i, 4:] = 0.0
    return y


def _detections(rng):
    x = np.empty((2, 6, 7), np.float32)
    x[..., :2] = rng.uniform(0.3, 0.7, (2, 6, 2))
    x[..., 2:4] = rng.uniform(0.2, 0.5, (2, 6, 2))
    x[..., 4:] = rng.uniform(0.3, 1.0, (2, 6, 3))
    return [x]


def _onnx_nms_ref(
    boxes, scores, center_point_box=0, max_output_boxes_per_class=0, iou_threshold=0.0, score_threshold=0.0
):
    iou = _iou_corners if center_point_box == 0 else _iou_cxcywh
    rows = []
    batch, classes, n = scores.shape
    for b, k in itertools.product(range(batch), range(classes)):
        order = sorted(range(n), key=lambda i: -scores[b, k, i])
        alive = {i: scores[b, k, i] >= np.float32(score_threshold) for i in range(n)}
        for r, i in enumerate(order):
            if alive[i]:
                for j in order[r + 1 :]:
                    if alive[j] and iou(boxes[b, i], boxes[b, j]) > np.float32(iou_threshold):
                        alive[j] = False
        kept = [i for i in order if alive[i]][:max_output_boxes_per_class]
        rows += [[b, k, i] for i in kept]
    return np.array(rows, np.int64).reshape(-1, 3)


def _onnx_nms_inputs(center):
    def make(rng):
        if center:
            boxes = np.concatenate([rng.uniform(0.3, 0.7, (2, 5, 2)), rng.uniform(0.2, 0.6, (2, 5, 2))], axis=2)
        else:  # corners [y1, x1, y2, x2], some given with the diagonal reversed
            p, q = rng.uniform(0, 0.6, (2, 5, 2)), rng.uniform(0.4, 1.0, (2, 5, 2))
            boxes = np.concatenate([p, q], axis=2)
            boxes[:, ::2] = boxes[:, ::2][..., [2, 3, 0, 1]]
        return [boxes.astype(np.float32), rng.uniform(0, 1, (2, 3, 5)).astype(np.float32)]

    return make


# -- PatchCorrelation ----------------------------------------------------------------------------------------------
def _patch_correlation_ref(
    x1, x2, patch=(1, 1), shift=(0, 0), patch_step=(1, 1), shift_step=(1, 1), padding=(0, 0, 0, 0), channel_last=False
):
    if not channel_last:
        x1, x2 = np.moveaxis(x1, 1, -1), np.moveaxis(x2, 1, -1)
    n, h, w, c = x1.shape
    top, bottom, left, right = padding
    out = []
    for b in range(n):
        rows = []
        for y in range(-top, h - patch[0] + bottom + 1, patch_step[0]):
            cols = []
            for x in range(-left, w - patch[1] + right + 1, patch_step[1]):
                grid = []
                for sy in range(-shift[0], shift[0] + 1, shift_step[0]):
                    line = []
                    for sx in range(-shift[1], shift[1] + 1, shift_step[1]):
                        total = 0.0
                        for ky, kx in itertools.product(range(patch[0]), range(patch[1])):
                            p, q, r, s = y + ky, x + kx, y + ky + sy, x + kx + sx
                            if 0 <= p < h and 0 <= q < w and 0 <= r < h and 0 <= s < w:
                                total += float(np.dot(x1[b, p, q].astype(np.float64), x2[b, r, s]))
                        line.append(total)
                    grid.append(line)
                cols.append(grid)
            rows.append(cols)
        out.append(rows)
    out = np.array(out)
    return out if channel_last else np.transpose(out, (0, 3, 4, 1, 2))


# -- Unique --------------------------------------------------------------------------------------------------------
def _unique_ref(x, flatten=True, axis=None, sorted=True, with_index=False, with_inverse=False, with_counts=False):
    if flatten:
        items = [float(v) for v in x.reshape(-1)]
        keys = items
    else:
        moved = np.moveaxis(x, axis, 0)
        items = [moved[i] for i in range(moved.shape[0])]
        keys = [tuple(float(v) for v in item.reshape(-1)) for item in items]
    first: dict = {}
    counts: dict = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
        counts[key] = counts.get(key, 0) + 1
    sorted_keys = builtins.sorted(first) if sorted else list(first)
    position = {key: r for r, key in enumerate(sorted_keys)}
    chosen = [items[first[key]] for key in sorted_keys]
    y = np.array(chosen) if flatten else np.moveaxis(np.stack(chosen), 0, axis)
    outputs = [y]
    if with_index:
        outputs.append(np.array([first[key] for key in sorted_keys]))
    if with_inverse:
        outputs.append(np.array([position[key] for key in keys]))
    if with_counts:
        outputs.append(np.array([counts[key] for key in sorted_keys]))
    return outputs


def _slices_with_repeats(rng):
    columns = rng.randint(-2, 3, (2, 3, 2)).astype(np.float32)
    return [columns[:, [2, 0, 2, 1, 0], :]]


# -- Mod2 / BitShift -------------------------------------------------------------------------------------------------
def _mod2_ref(x0, x1, fmod=False):
    a, b = np.broadcast_arrays(x0, x1.astype(x0.dtype))
    out = np.empty(a.shape, np.float64 if x0.dtype.kind == "f" else np.int64)
    for i in np.ndindex(*a.shape):
        if x0.dtype.kind == "f" or fmod:
            out[i] = (
                math.fmod(float(a[i]), float(b[i])) if x0.dtype.kind == "f" else int(math.fmod(int(a[i]), int(b[i])))
            )
        else:
            out[i] = int(a[i]) % int(b[i])
    return out


def _mod2_float(rng):
    x1 = rng.uniform(0.3, 2.0, (3,)) * np.sign(rng.randn(3))
    return [(rng.randn(2, 3) * 3).astype(np.float32), x1.astype(np.float32)]


def _mod2_int(rng):
    x1 = rng.randint(1, 7, (2, 1)) * np.where(rng.rand(2, 1) < 0.5, -1, 1)
    return [rng.randint(-20, 20, (2, 4)).astype(np.int32), x1.astype(np.int32)]


def _bit_shift_ref(x, shift, direction="LEFT"):
    a, s = np.broadcast_arrays(x, shift)
    bits = x.dtype.itemsize * 8
    out = np.empty(a.shape, np.int64)
    for i in np.ndindex(*a.shape):
        v, k = int(a[i]), int(s[i])
        out[i] = ((v << k) & ((1 << bits) - 1)) if direction == "LEFT" else (v >> k)
    return out


def _bit_shift_inputs(rng):
    return [rng.randint(0, 256, (2, 3)).astype(np.uint8), rng.randint(0, 8, (3,)).astype(np.uint8)]


# -- Einsum ----------------------------------------------------------------------------------------------------------
def _naive_einsum(equation, *ops):
    """Sum over every assignment of the labels (letters only, explicit output)."""
    left, out = equation.split("->")
    terms = left.split(",")
    sizes = {}
    for term, op in zip(terms, ops):
        for label, size in zip(term, op.shape):
            sizes[label] = size
    labels = builtins.sorted(sizes)
    result = np.zeros([sizes[c] for c in out])
    for values in itertools.product(*[range(sizes[c]) for c in labels]):
        index = dict(zip(labels, values))
        product = 1.0
        for term, op in zip(terms, ops):
            product *= float(op[tuple(index[c] for c in term)])
        result[tuple(index[c] for c in out)] += product
    return result


def _einsum_case(equation, shapes, name, reference=None, **kw):
    def ref(*ops, equation):
        return reference(*ops) if reference is not None else _naive_einsum(equation, *ops)

    return Case("Einsum", [tuple(s) for s in shapes], ref, args={"equation": equation}, name=name, **kw)


CASES = [
    Case(
        "VATNoise",
        [(2, 3, 4), (2, 3, 4)],
        _vat_noise_ref,
        args={"base_axis": 1, "eps": 2.0},
        backward=False,
        errors=[([(2, 3), (3, 2)], {}, "w")],
    ),
    Case(
        "VATNoise",
        [(2, 3, 2), (2, 3, 2)],
        _vat_noise_ref,
        args={"base_axis": -1, "eps": 0.5},
        backward=False,
        name="base_axis_neg",
    ),
    Case("Unlink", [(2, 3)], lambda x: x, backward=False),
    Case("EyeLike", [(3, 5)], _eye_like_ref, args={"k": 1}, backward=False, errors=[([(2, 3, 4)], {}, "2-D")]),
    Case("EyeLike", [(4, 3)], _eye_like_ref, args={"k": -2}, backward=False, name="lower"),
    Case(
        "NmsDetection2d",
        _detections,
        _nms_detection2d_ref,
        args={"thresh": 0.3, "nms": 0.3},
        backward=False,
        errors=[([(2, 6, 5)], {}, "x.shape[2] > 5")],
    ),
    Case(
        "NmsDetection2d",
        _detections,
        _nms_detection2d_ref,
        args={"thresh": 0.3, "nms": 0.3, "nms_per_class": False},
        backward=False,
        name="objectness",
    ),
    Case(
        "ONNXNonMaxSuppression",
        _onnx_nms_inputs(False),
        _onnx_nms_ref,
        args={"center_point_box": 0, "max_output_boxes_per_class": 3, "iou_threshold": 0.2, "score_threshold": 0.2},
        backward=False,
        errors=[([(2, 5, 4), (2, 3, 4)], {}, "scores")],
    ),
    Case(
        "ONNXNonMaxSuppression",
        _onnx_nms_inputs(True),
        _onnx_nms_ref,
        args={"center_point_box": 1, "max_output_boxes_per_class": 10, "iou_threshold": 0.1, "score_threshold": 0.0},
        backward=False,
        name="center",
    ),
    Case(
        "PatchCorrelation",
        [(1, 4, 4, 2), (1, 4, 4, 2)],
        _patch_correlation_ref,
        args={"patch": (2, 2), "shift": (1, 1), "padding": (1, 0, 0, 1), "channel_last": True},
        errors=[([(1, 4, 4, 2), (1, 4, 3, 2)], {"channel_last": True}, "same shape")],
    ),
    Case(
        "PatchCorrelation",
        [(1, 5, 4, 1), (1, 5, 4, 1)],
        _patch_correlation_ref,
        args={"patch": (1, 2), "shift": (2, 1), "patch_step": (2, 1), "shift_step": (2, 1), "channel_last": True},
        name="steps",
    ),
    Case(
        "PatchCorrelation",
        [(1, 2, 3, 4), (1, 2, 3, 4)],
        _patch_correlation_ref,
        args={"shift": (1, 1), "padding": (1, 1, 1, 1)},
        backward=False,
        name="channel_first",
    ),
    Case(
        "Unique",
        lambda rng: [rng.randint(-2, 3, (3, 4)).astype(np.float32)],
        _unique_ref,
        args={"with_index": True, "with_inverse": True, "with_counts": True},
        backward=False,
    ),
    Case(
        "Unique",
        _slices_with_repeats,
        _unique_ref,
        args={"flatten": False, "axis": 1, "sorted": False, "with_index": True, "with_counts": True},
        backward=False,
        name="axis_unsorted",
        errors=[([(2, 3)], {"flatten": False, "axis": 2}, "axis")],
    ),
    Case("Mod2", _mod2_float, _mod2_ref, backward=False),
    Case("Mod2", _mod2_int, _mod2_ref, backward=False, name="int"),
    Case("Mod2", _mod2_int, _mod2_ref, args={"fmod": True}, backward=False, name="int_fmod"),
    Case(
        "BitShift",
        _bit_shift_inputs,
        _bit_shift_ref,
        backward=False,
        errors=[([(2, 3), (2, 3)], {"direction": "UP"}, "direction")],
    ),
    Case("BitShift", _bit_shift_inputs, _bit_shift_ref, args={"direction": "RIGHT"}, backward=False, name="right"),
    _einsum_case(
        "ij,jk->ik",
        [(3, 4), (4, 2)],
        "matmul",
        errors=[
            ([(3, 4), (5, 2)], {"equation": "ij,jk->ik"}, "label 'j'"),
            ([(3, 4)], {"equation": "ij,jk->ik"}, "input terms"),
        ],
    ),
    _einsum_case("ii->i", [(4, 4)], "diagonal"),
    _einsum_case("iij,j->i", [(3, 3, 2), (2,)], "diagonal_product"),
    _einsum_case("bij->bji", [(2, 3, 4)], "transpose"),
    _einsum_case("abc,cd,db->a", [(2, 3, 2), (2, 3), (3, 3)], "three"),
    _einsum_case("ijk,j->i", [(2, 3, 4), (3,)], "summed_in_one"),
    Case(
        "Einsum",
        [(2, 3), (2, 3)],
        lambda a, b, equation: _naive_einsum("ij,ij->", a, b),
        args={"equation": "ij,ij"},
        name="implicit",
    ),
    Case(
        "Einsum",
        [(2, 3, 4)],
        lambda a, equation: _naive_einsum("bji->bij", a),
        args={"equation": "bji"},
        name="implicit_order",
    ),
    _einsum_case(
        "...ij,...jk->...ik",
        [(2, 1, 2, 3), (1, 3, 3, 2)],
        "ellipsis_broadcast",
        reference=lambda a, b: np.einsum("...ij,...jk->...ik", a.astype(np.float64), b.astype(np.float64)),
    ),
    _einsum_case(
        "i...j->j...",
        [(2, 3, 4)],
        "ellipsis_middle",
        reference=lambda a: np.einsum("i...j->j...", a.astype(np.float64)),
    ),
    _einsum_case("...ij->ij", [(2, 3, 4)], "ellipsis_summed", reference=lambda a: a.astype(np.float64).sum(axis=0)),
]
