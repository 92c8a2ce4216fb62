"""Unsupported, Special Use: graph utilities (Sink, Unlink, VATNoise), detection post-processing (NMS), patch
correlation, Unique, EyeLike, Mod2, BitShift and Einsum.

Unique and ONNXNonMaxSuppression have data-dependent output shapes: like nnabla they compute their result when the
graph is built if the input data is there (always the case under ``nn.auto_forward()``), and each forward computes
it again, resizing the outputs when the size changed.
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

from nnl.core.function import Bool, Float, Function, Int64, Shape, String
from nnl.functions._helpers import broadcast_shapes
from nnl.functions.registry import api


class Sink(Function):
    """Joins several outputs into one dummy variable so that one ``forward``/``backward`` runs them all.

    Backward sets the gradient of every input to one (``one_input_grad=True``) or leaves them untouched.
    """

    input_names = ("*x",)
    one_input_grad: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if not inputs:
            raise self.fail("x", "at least one input variable", "none")
        return [()]

    def prohibit_clear_input_buffers(self) -> bool:
        """nnabla keeps the inputs of a Sink (the outputs the user asked for) through clear_buffer/clear_no_need_grad."""
        return True

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [xp.zeros((), dtype="float32")]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        if not self.one_input_grad:
            # The gradients already in the inputs (set by the user) are back-propagated as they are: handing the
            # engine their own buffers marks them as written without changing them. Leaves are left alone.
            if len(self.inputs) != len(x):
                return [None] * len(x)
            return [
                v._grad.data if n and v.parent is not None and not v._grad.clear_called else None
                for v, n in zip(self.inputs, need)
            ]
        return [xp.ones(v.shape, dtype="float32") if n else None for v, n in zip(x, need)]


@api(Sink)
def sink(*x: Any, **kw: Any) -> Any:
    one_input_grad = kw.pop("one_input_grad", True)
    return Sink(one_input_grad)(*x, **kw)


# -- helpers -------------------------------------------------------------------------------------------------------
def _has_data(v: Any) -> bool:
    """Whether a Variable holds data (so that a data-dependent shape can be computed at setup)."""
    return not v.data.clear_called


def _resize_outputs(function: Function, results: list[Any]) -> None:
    """Data-dependent output shapes: make the output buffers follow the computed results."""
    for i, array in enumerate(results):
        if i < len(function._out_data):
            shape = tuple(np.shape(array))
            if function._out_data[i].shape != shape:
                function._out_data[i].reshape(shape, force=True)
                function._out_grad[i].reshape(shape, force=True)


def _no_gradient(function: Function, need: list[bool]) -> list[Any]:
    if any(need):
        raise NotImplementedError(f"{function.name}: backward is not implemented (nnabla has none either).")
    return [None] * len(need)


# -- graph utilities -------------------------------------------------------------------------------------------
class VATNoise(Function):
    """Virtual adversarial training noise: ``y = eps * x / sqrt(1e-8 + sum(x^2))`` per sample (over the axes from
    ``base_axis`` on). Backward does not propagate to ``x``: it writes ``eps * dy`` into the data of ``w``."""

    input_names = ("x", "w")
    base_axis: Int64 = 1
    eps: Float = 1.0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        ndim = len(shape)
        axis = self.base_axis + ndim if self.base_axis < 0 else self.base_axis
        if not 0 <= axis < max(ndim, 1):
            raise self.fail("base_axis", f"an axis in [{-ndim}, {ndim})", self.base_axis)
        if tuple(inputs[1].shape) != shape:
            raise self.fail("w", f"w.shape == x.shape = {shape}", f"w.shape={tuple(inputs[1].shape)}")
        self._rows = int(np.prod(shape[:axis], dtype=np.int64))
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        t = v.dtype.type
        rows = v.reshape(self._rows, -1)
        total = (rows * rows).sum(axis=1, keepdims=True) + t(1e-8)
        scale = t(np.float32(self.eps)) / xp.sqrt(total)
        return [(rows * scale).reshape(v.shape)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        x[1][...] = dy[0] * dy[0].dtype.type(np.float32(self.eps))
        return [None, None]


@api(VATNoise)
def vat_noise(x: Any, w: Any, base_axis: int = 1, eps: float = 1.0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return VATNoise(base_axis, eps)(x, w, n_outputs=n_outputs, outputs=outputs)


class Unlink(Function):
    """The same data as ``x`` (shared, not copied); backward gives ``x`` a zero gradient, cutting the graph."""

    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [inputs[0].shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        return [x[0]]  # sharing the input's memory is this function's meaning

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [xp.zeros(dy[0].shape, dy[0].dtype)]


@api(Unlink)
def unlink(x: Any, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Unlink()(x, n_outputs=n_outputs, outputs=outputs)


# -- detection -------------------------------------------------------------------------------------------------
def _iou_center(boxes: Any) -> Any:
    """Pairwise IoU of boxes ``(..., N, 4)`` given as (center x, center y, width, height): ``(..., N, N)``."""
    cx, cy, w, h = (boxes[..., k] for k in range(4))
    half_w, half_h = w / 2, h / 2
    overlap_w = np.minimum((cx + half_w)[..., :, None], (cx + half_w)[..., None, :]) - np.maximum(
        (cx - half_w)[..., :, None], (cx - half_w)[..., None, :]
    )
    overlap_h = np.minimum((cy + half_h)[..., :, None], (cy + half_h)[..., None, :]) - np.maximum(
        (cy - half_h)[..., :, None], (cy - half_h)[..., None, :]
    )
    return _iou_from(overlap_w, overlap_h, w * h)


def _iou_from(overlap_w: Any, overlap_h: Any, area: Any) -> Any:
    inter = overlap_w * overlap_h
    union = area[..., :, None] + area[..., None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((overlap_w <= 0) | (overlap_h <= 0), 0, iou).astype(area.dtype, copy=False)


def _greedy_suppress(iou: Any, order: Any, alive: Any, threshold: Any, skip_dead_neighbours: bool = True) -> Any:
    """Greedy NMS over many independent problems at once.

    ``iou`` is ``(B, N, N)``; ``order`` ``(B, K, N)`` ranks the boxes of problem (b, k) by decreasing score;
    ``alive`` ``(B, K, N)`` (in rank order) marks the candidates. The box of rank i, while alive, removes every later
    alive box whose IoU with it exceeds ``threshold``. Returns the survivors in rank order.
    """
    batch, classes, n = order.shape
    alive = alive.copy()
    rank = np.arange(n)
    b_index = np.arange(batch)[:, None]
    for i in range(n - 1):
        current = alive[:, :, i]
        if not current.any():
            continue
        rows = iou[b_index, order[:, :, i]]  # (B, K, N) in box order
        rows = np.take_along_axis(rows, order, axis=2)  # in rank order
        kill = current[:, :, None] & (rows > threshold) & (rank > i)
        alive &= ~kill
    return alive


class NmsDetection2d(Function):
    """Non-maximum suppression of YOLO-style detections ``(B, N, 5 + classes)``: (x, y, w, h, objectness, class
    probabilities). Scores under ``thresh`` are zeroed, class scores become ``objectness * probability``; then boxes
    overlapping a better one by more than ``nms`` (IoU) lose their scores, per class or by objectness."""

    thresh: Float = 0.5
    nms: Float = 0.45
    nms_per_class: Bool = True
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) != 3:
            raise self.fail("x", "a 3-D input (batch, boxes, 5 + classes)", f"x.shape={shape}")
        if shape[2] <= 5:
            raise self.fail("x", "x.shape[2] > 5 (x, y, w, h, objectness and at least one class)", f"x.shape={shape}")
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        v = x[0]
        t = v.dtype.type
        thresh = t(np.float32(self.thresh))
        nms = t(np.float32(self.nms))
        y = v.copy()
        objectness = np.where(v[..., 4] < thresh, t(0), v[..., 4])
        y[..., 4] = objectness
        probs = objectness[..., None] * v[..., 5:]
        y[..., 5:] = np.where(probs < thresh, t(0), probs)
        batch, n, _ = y.shape
        if n == 0:
            return [y]
        iou = _iou_center(y[..., :4])
        if self.nms_per_class:
            scores = np.moveaxis(y[..., 5:], 1, 2)  # (B, K, N)
            order = np.argsort(-scores, axis=2, kind="stable")
            alive = np.take_along_axis(scores, order, axis=2) != 0
            alive = _greedy_suppress(iou, order, alive, nms)
            keep = np.zeros_like(alive)
            np.put_along_axis(keep, order, alive, axis=2)
            y[..., 5:] = np.where(np.moveaxis(keep, 1, 2), y[..., 5:], t(0))
        else:
            order = np.argsort(-objectness, axis=1, kind="stable")  # (B, N)
            ranked = np.take_along_axis(np.take_along_axis(iou, order[:, :, None], axis=1), order[:, None, :], axis=2)
            # a box is dropped when any better-ranked box overlaps it (whatever that box's own fate)
            overlapped = np.tril(ranked > nms, k=-1).any(axis=2)
            drop_ranked = overlapped & (np.take_along_axis(objectness, order, axis=1) != 0)
            drop = np.zeros_like(drop_ranked)
            np.put_along_axis(drop, order, drop_ranked, axis=1)
            y[..., 4:] = np.where(drop[..., None], t(0), y[..., 4:])
        return [y]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None]


@api(NmsDetection2d)
def nms_detection2d(
    x: Any, thresh: Any = None, nms: Any = None, nms_per_class: Any = None, n_outputs: int = -1, outputs: Any = None
) -> Any:
    function = NmsDetection2d(
        0.5 if thresh is None else thresh,
        0.45 if nms is None else nms,
        True if nms_per_class is None else nms_per_class,
    )
    return function(x, n_outputs=n_outputs, outputs=outputs)


class ONNXNonMaxSuppression(Function):
    """ONNX NonMaxSuppression: ``boxes (B, N, 4)``, ``scores (B, K, N)`` -> selected ``[batch, class, box]`` rows
    (uint64, ``(num_selected, 3)``), at most ``max_output_boxes_per_class`` per batch and class, by decreasing score.

    ``center_point_box=0``: boxes are corners ``[y1, x1, y2, x2]`` (any diagonal); 1: ``[x_center, y_center, w, h]``.
    """

    data_dependent_shape = True

    input_names = ("boxes", "scores")
    center_point_box: Int64 = 0
    max_output_boxes_per_class: Int64 = 0
    iou_threshold: Float = 0.0
    score_threshold: Float = 0.0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        boxes, scores = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(boxes) != 3 or boxes[2] != 4:
            raise self.fail("boxes", "a 3-D array (batch, boxes, 4)", f"boxes.shape={boxes}")
        if len(scores) != 3:
            raise self.fail("scores", "a 3-D array (batch, classes, boxes)", f"scores.shape={scores}")
        if scores[0] != boxes[0] or scores[2] != boxes[1]:
            raise self.fail(
                "scores",
                f"scores.shape == ({boxes[0]}, classes, {boxes[1]}) to match boxes.shape={boxes}",
                f"scores.shape={scores}",
            )
        if self.center_point_box not in (0, 1):
            raise self.fail("center_point_box", "0 (corners) or 1 (center, size)", self.center_point_box)
        if self.max_output_boxes_per_class < 0:
            raise self.fail("max_output_boxes_per_class", "a non-negative count", self.max_output_boxes_per_class)
        if all(_has_data(v) for v in inputs):
            return [self._select(inputs[0].d, inputs[1].d).shape]
        return [(0, 3)]

    def _iou(self, boxes: Any) -> Any:
        if self.center_point_box == 0:
            y1, y2 = np.minimum(boxes[..., 0], boxes[..., 2]), np.maximum(boxes[..., 0], boxes[..., 2])
            x1, x2 = np.minimum(boxes[..., 1], boxes[..., 3]), np.maximum(boxes[..., 1], boxes[..., 3])
            overlap_w = np.minimum(x2[..., :, None], x2[..., None, :]) - np.maximum(x1[..., :, None], x1[..., None, :])
            overlap_h = np.minimum(y2[..., :, None], y2[..., None, :]) - np.maximum(y1[..., :, None], y1[..., None, :])
            return _iou_from(overlap_w, overlap_h, (x2 - x1) * (y2 - y1))
        return _iou_center(boxes)

    def _select(self, boxes: Any, scores: Any) -> Any:
        batch, classes, n = scores.shape
        limit = int(self.max_output_boxes_per_class)
        if limit == 0 or n == 0 or classes == 0 or batch == 0:
            return np.zeros((0, 3), np.uint64)
        t = scores.dtype.type
        order = np.argsort(-scores, axis=2, kind="stable")
        alive = np.take_along_axis(scores, order, axis=2) >= t(np.float32(self.score_threshold))
        iou = self._iou(boxes.astype(scores.dtype, copy=False))
        alive = _greedy_suppress(iou, order, alive, t(np.float32(self.iou_threshold)))
        alive &= np.cumsum(alive, axis=2) <= limit
        b, k, r = np.nonzero(alive)
        return np.stack([b, k, order[b, k, r]], axis=1).astype(np.uint64)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        result = self._select(x[0], x[1])
        _resize_outputs(self, [result])
        return [result]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None, None]


@api(ONNXNonMaxSuppression)
def onnx_non_max_suppression(
    boxes: Any,
    scores: Any,
    center_point_box: Any = None,
    max_output_boxes_per_class: Any = None,
    iou_threshold: Any = None,
    score_threshold: Any = None,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    function = ONNXNonMaxSuppression(
        0 if center_point_box is None else center_point_box,
        0 if max_output_boxes_per_class is None else max_output_boxes_per_class,
        0.0 if iou_threshold is None else iou_threshold,
        0.0 if score_threshold is None else score_threshold,
    )
    return function(boxes, scores, n_outputs=n_outputs, outputs=outputs)


# -- patch correlation -----------------------------------------------------------------------------------------
class PatchCorrelation(Function):
    """Correlation of patches of ``x1`` with displaced patches of ``x2`` (FlowNet), channel-last ``(N, H, W, C)``
    inputs; output ``(N, H_o, W_o, C_y, C_x)`` holds, for each patch position and displacement, the sum over the
    patch and the channels of ``x1 * x2``. ``padding`` is (top, bottom, left, right) of zeros."""

    input_names = ("x1", "x2")
    patch: Shape = (1, 1)
    shift: Shape = (0, 0)
    patch_step: Shape = (1, 1)
    shift_step: Shape = (1, 1)
    padding: Shape = (0, 0, 0, 0)

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        s1, s2 = tuple(inputs[0].shape), tuple(inputs[1].shape)
        if len(s1) != 4:
            raise self.fail("x1", "a 4-D array (N, H, W, C)", f"x1.shape={s1}")
        if s2 != s1:
            raise self.fail("x2", f"x2.shape == x1.shape = {s1}", f"x2.shape={s2}")
        values = {}
        for name, size, low in (
            ("patch", 2, 1),
            ("shift", 2, 0),
            ("patch_step", 2, 1),
            ("shift_step", 2, 1),
            ("padding", 4, 0),
        ):
            value = tuple(int(v) for v in getattr(self, name))
            if len(value) != size or any(v < low for v in value):
                bound = "positive" if low else "non-negative"
                raise self.fail(name, f"{size} {bound} integers", value)
            values[name] = value
            setattr(self, name, value)
        (ph, pw), (sh, sw) = values["patch"], values["shift"]
        (dh, dw), (eh, ew) = values["patch_step"], values["shift_step"]
        top, bottom, left, right = values["padding"]
        n, h, w, _ = s1
        out_h = (h + top + bottom - ph + dh) // dh
        out_w = (w + left + right - pw + dw) // dw
        if out_h <= 0 or out_w <= 0:
            raise self.fail(
                "patch", f"a patch that fits the padded input ({h + top + bottom}, {w + left + right})", (ph, pw)
            )
        return [(n, out_h, out_w, (2 * sh + eh) // eh, (2 * sw + ew) // ew)]

    def _geometry(self, shape: tuple[int, ...]) -> dict[str, Any]:
        n, h, w, c = shape
        top, bottom, left, right = self.padding
        (ph, pw), (sh, sw) = self.patch, self.shift
        (dh, dw), (eh, ew) = self.patch_step, self.shift_step
        out_h = (h + top + bottom - ph + dh) // dh
        out_w = (w + left + right - pw + dw) // dw
        # the rows/columns of the padded x1 that some patch reads
        rows, cols = (out_h - 1) * dh + ph, (out_w - 1) * dw + pw
        shifts_y = list(range(-sh, sh + 1, eh))
        shifts_x = list(range(-sw, sw + 1, ew))
        return dict(
            n=n,
            h=h,
            w=w,
            c=c,
            top=top,
            left=left,
            ph=ph,
            pw=pw,
            dh=dh,
            dw=dw,
            sh=sh,
            sw=sw,
            out_h=out_h,
            out_w=out_w,
            rows=rows,
            cols=cols,
            shifts_y=shifts_y,
            shifts_x=shifts_x,
        )

    @staticmethod
    def _embed(v: Any, top: int, left: int, rows: int, cols: int) -> Any:
        """``v`` placed at (top, left) in a zero canvas of ``rows`` x ``cols`` (cropping what falls outside)."""
        n, h, w, c = v.shape
        canvas = np.zeros((n, rows, cols, c), v.dtype)
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + h, rows), min(left + w, cols)
        if y1 > y0 and x1 > x0:
            canvas[:, y0:y1, x0:x1] = v[:, y0 - top : y1 - top, x0 - left : x1 - left]
        return canvas

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        g = self._geometry(x[0].shape)
        rows, cols, sh, sw = g["rows"], g["cols"], g["sh"], g["sw"]
        a = self._embed(x[0], g["top"], g["left"], rows, cols)
        b = self._embed(x[1], g["top"] + sh, g["left"] + sw, rows + 2 * sh, cols + 2 * sw)
        shifts_y, shifts_x = g["shifts_y"], g["shifts_x"]
        # per-pixel channel products for every displacement: (N, rows, cols, C_y, C_x)
        products = np.empty((g["n"], rows, cols, len(shifts_y), len(shifts_x)), np.result_type(a, b))
        for i, dy in enumerate(shifts_y):
            for j, dx in enumerate(shifts_x):
                window = b[:, sh + dy : sh + dy + rows, sw + dx : sw + dx + cols]
                products[..., i, j] = np.einsum("nhwc,nhwc->nhw", a, window)
        out = np.zeros((g["n"], g["out_h"], g["out_w"], len(shifts_y), len(shifts_x)), products.dtype)
        for ky in range(g["ph"]):
            for kx in range(g["pw"]):
                out += products[
                    :,
                    ky : ky + (g["out_h"] - 1) * g["dh"] + 1 : g["dh"],
                    kx : kx + (g["out_w"] - 1) * g["dw"] + 1 : g["dw"],
                ]
        return [out]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        g = self._geometry(x[0].shape)
        rows, cols, sh, sw = g["rows"], g["cols"], g["sh"], g["sw"]
        top, left = g["top"], g["left"]
        # spread each output gradient over the pixels of its patch: (N, rows, cols, C_y, C_x)
        spread = np.zeros((g["n"], rows, cols) + dy[0].shape[3:], dy[0].dtype)
        for ky in range(g["ph"]):
            for kx in range(g["pw"]):
                spread[
                    :,
                    ky : ky + (g["out_h"] - 1) * g["dh"] + 1 : g["dh"],
                    kx : kx + (g["out_w"] - 1) * g["dw"] + 1 : g["dw"],
                ] += dy[0]
        a = self._embed(x[0], top, left, rows, cols)
        b = self._embed(x[1], top + sh, left + sw, rows + 2 * sh, cols + 2 * sw)
        ga = np.zeros_like(a) if need[0] else None
        gb = np.zeros_like(b) if need[1] else None
        for i, oy in enumerate(g["shifts_y"]):
            for j, ox in enumerate(g["shifts_x"]):
                weight = spread[..., i, j][..., None]
                ys, xs = slice(sh + oy, sh + oy + rows), slice(sw + ox, sw + ox + cols)
                if need[0]:
                    ga += weight * b[:, ys, xs]
                if need[1]:
                    gb[:, ys, xs] += weight * a
        h, w = g["h"], g["w"]
        grads: list[Any] = [None, None]
        if need[0]:
            grads[0] = self._crop(ga, top, left, h, w)
        if need[1]:
            grads[1] = self._crop(gb, top + sh, left + sw, h, w)
        return grads

    @staticmethod
    def _crop(canvas: Any, top: int, left: int, h: int, w: int) -> Any:
        """The inverse of ``_embed`` for gradients: the part of ``canvas`` over the original image, zeros elsewhere."""
        n, rows, cols, c = canvas.shape
        out = np.zeros((n, h, w, c), canvas.dtype)
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + h, rows), min(left + w, cols)
        if y1 > y0 and x1 > x0:
            out[:, y0 - top : y1 - top, x0 - left : x1 - left] = canvas[:, y0:y1, x0:x1]
        return out


@api(PatchCorrelation)
def patch_correlation(
    x1: Any,
    x2: Any,
    patch: Any = (1, 1),
    shift: Any = (0, 0),
    patch_step: Any = (1, 1),
    shift_step: Any = (1, 1),
    padding: Any = (0, 0, 0, 0),
    channel_last: bool = False,
) -> Any:
    from nnl import functions as F

    if not len(x1.shape) == len(x2.shape) == 4:
        raise ValueError(
            f"PatchCorrelation: x1 and x2 must have 4 dimensions, got x1.shape={tuple(x1.shape)}, x2.shape={tuple(x2.shape)}."
        )
    if tuple(x1.shape) != tuple(x2.shape):
        raise ValueError(
            f"PatchCorrelation: x1 and x2 must have the same shape, got x1.shape={tuple(x1.shape)}, x2.shape={tuple(x2.shape)}."
        )

    def pair(v: Any) -> tuple[int, ...]:
        return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(i) for i in v)

    patch, shift, patch_step, shift_step = pair(patch), pair(shift), pair(patch_step), pair(shift_step)
    if isinstance(padding, (int, np.integer)):
        padding = (int(padding),) * 4
    elif len(padding) == 2:
        padding = (int(padding[0]),) * 2 + (int(padding[1]),) * 2
    padding = tuple(int(p) for p in padding)
    if not channel_last:
        if x1.shape[1] == 1:
            x1 = F.reshape(x1, (x1.shape[0], x1.shape[2], x1.shape[3], 1))
            x2 = F.reshape(x2, (x2.shape[0], x2.shape[2], x2.shape[3], 1))
        else:
            x1 = F.transpose(x1, (0, 2, 3, 1))
            x2 = F.transpose(x2, (0, 2, 3, 1))
    y = PatchCorrelation(patch, shift, patch_step, shift_step, padding)(x1, x2)
    if not channel_last:
        y = F.transpose(y, (0, 3, 4, 1, 2))
    return y


# -- Unique ------------------------------------------------------------------------------------------------------
class Unique(Function):
    """The unique elements of ``x`` (``flatten``) or unique slices along ``axis``, sorted or in order of first
    occurrence, with optionally the first-occurrence ``indices``, the ``inverse_indices`` and the ``counts``
    (int32 outputs, in that order, each only when asked)."""

    data_dependent_shape = True

    output_names = ("y", "indices?", "inverse_indices?", "counts?")
    flatten: Bool = True
    axis: Int64 = None
    sorted: Bool = True
    with_index: Bool = False
    with_inverse: Bool = False
    with_counts: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if not self.flatten:
            if self.axis is None:
                raise self.fail("axis", "an axis of x when flatten=False", None)
            ndim = len(shape)
            if not -ndim <= self.axis < ndim:
                raise self.fail("axis", f"an axis in [{-ndim}, {ndim})", self.axis)
            self._axis = self.axis % ndim
        if _has_data(inputs[0]):
            return [np.shape(r) for r in self._unique(inputs[0].d)]
        n_extra = int(self.with_index) + int(self.with_inverse) + int(self.with_counts)
        y_shape = (0,) if self.flatten else tuple(0 if i == self._axis else s for i, s in enumerate(shape))
        return [y_shape] + [(0,)] * n_extra

    def _unique(self, v: Any) -> list[Any]:
        axis = None if self.flatten else self._axis
        values = v.reshape(-1) if self.flatten else v
        if values.size == 0 and self.flatten:
            y, index, inverse, counts = (
                values.copy(),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
            )
        else:
            y, index, inverse, counts = np.unique(
                values, return_index=True, return_inverse=True, return_counts=True, axis=axis
            )
        inverse = inverse.reshape(-1)
        if not self.sorted:  # order of first occurrence
            order = np.argsort(index, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            index, counts, inverse = index[order], counts[order], rank[inverse]
            y = np.take(values, index, axis=0 if axis is None else axis)
        results = [np.ascontiguousarray(y)]
        for flag, array in ((self.with_index, index), (self.with_inverse, inverse), (self.with_counts, counts)):
            if flag:
                results.append(array.astype(np.int32))
        return results

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        results = self._unique(x[0])
        _resize_outputs(self, results)
        return results

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return _no_gradient(self, need)


@api(Unique)
def unique(
    x: Any,
    flatten: bool = True,
    axis: Any = None,
    sorted: bool = True,
    with_index: bool = False,
    with_inverse: bool = False,
    with_counts: bool = False,
    n_outputs: int = -1,
    outputs: Any = None,
) -> Any:
    return Unique(flatten, axis, sorted, with_index, with_inverse, with_counts)(x, n_outputs=n_outputs, outputs=outputs)


# -- small element-wise utilities ------------------------------------------------------------------------------
class EyeLike(Function):
    """A 2-D array of the shape and dtype of ``x`` with ones on the ``k``-th diagonal and zeros elsewhere."""

    k: Int64 = 0
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shape = tuple(inputs[0].shape)
        if len(shape) != 2:
            raise self.fail("x", "a 2-D array", f"x.shape={shape}")
        return [shape]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        rows, cols = x[0].shape
        return [xp.eye(rows, cols, k=int(self.k), dtype=x[0].dtype)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return [None]


@api(EyeLike)
def eye_like(x: Any, k: int = 0, n_outputs: int = -1, outputs: Any = None) -> Any:
    return EyeLike(k)(x, n_outputs=n_outputs, outputs=outputs)


class Mod2(Function):
    """Element-wise remainder with broadcasting: C's ``fmod`` (sign of ``x0``) for floats or when ``fmod``, Python's
    ``%`` (sign of ``x1``) for integers otherwise. ``x1`` is cast to the dtype of ``x0``. No gradient."""

    input_names = ("x0", "x1")
    fmod: Bool = False
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        return [broadcast_shapes(self, tuple(inputs[0].shape), tuple(inputs[1].shape))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        b = x[1].astype(a.dtype, copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            if a.dtype.kind == "f" or self.fmod:
                return [xp.fmod(a, b)]
            return [xp.mod(a, b)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return _no_gradient(self, need)


@api(Mod2)
def mod2(x0: Any, x1: Any, fmod: bool = False, n_outputs: int = -1, outputs: Any = None) -> Any:
    return Mod2(fmod)(x0, x1, n_outputs=n_outputs, outputs=outputs)


class BitShift(Function):
    """Element-wise bit shift of an unsigned integer ``x`` by ``shift`` (cast to the dtype of ``x``), with
    broadcasting; ``direction`` is ``'LEFT'`` or ``'RIGHT'``. No gradient."""

    input_names = ("x", "shift")
    direction: String = "LEFT"
    grad_depends_input = False

    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        if self.direction not in ("LEFT", "RIGHT"):
            raise self.fail("direction", "'LEFT' or 'RIGHT'", repr(self.direction))
        return [broadcast_shapes(self, tuple(inputs[0].shape), tuple(inputs[1].shape))]

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        a = x[0]
        if a.dtype.kind != "u":
            raise self.fail("x", "an unsigned integer array (uint8, uint16, uint32, uint64)", f"dtype {a.dtype}")
        s = x[1].astype(a.dtype, copy=False)
        return [xp.left_shift(a, s) if self.direction == "LEFT" else xp.right_shift(a, s)]

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        return _no_gradient(self, need)


@api(BitShift)
def bit_shift(x: Any, shift: Any, direction: str = "LEFT", n_outputs: int = -1, outputs: Any = None) -> Any:
    return BitShift(direction)(x, shift, n_outputs=n_outputs, outputs=outputs)


# -- Einsum ------------------------------------------------------------------------------------------------------
_EQUATION = re.compile(r"^([a-zA-Z, ]|\.{3}|->)*$")


class Einsum(Function):
    """Einstein summation over any number of inputs (``equation`` like ``'bij,bjk->bik'``).

    Supports the implicit output (labels seen once, in alphabetical order), repeated labels (diagonals and traces),
    labels summed inside one input, and ``...`` with broadcasting of size-1 dimensions (the output may also drop
    ``...``, summing over it). The gradient of each input is an einsum of the output gradient with the other inputs.

    >>> import nnl, nnl.functions as F, numpy as np
    >>> a = nnl.Variable.from_numpy_array(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    >>> with nnl.auto_forward():
    ...     F.einsum(a, a, equation="ij,ij->i").d.tolist()
    [5.0, 50.0]
    """

    input_names = ("*x",)
    equation: String = ""

    # -- parsing -------------------------------------------------------------------------------------------------
    def setup_impl(self, inputs: list[Any]) -> list[tuple[int, ...]]:
        shapes = [tuple(v.shape) for v in inputs]
        equation = self.equation
        if not isinstance(equation, str) or not _EQUATION.match(equation):
            raise self.fail("equation", "letters, commas, '...' and '->' only", repr(equation))
        eq = equation.replace(" ", "").replace("...", ".")
        if "->" in eq:
            left, output = eq.split("->", 1)
            if "->" in output:
                raise self.fail("equation", "at most one '->'", repr(equation))
        else:
            left = eq
            letters = [c for c in left if c.isalpha()]
            output = ("." if "." in left else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        terms = left.split(",")
        if len(terms) != len(shapes):
            raise self.fail("equation", f"{len(shapes)} input terms (one per input)", f"{len(terms)} in {equation!r}")
        if any(not term and shape != () for term, shape in zip(terms, shapes)):  # (an empty term fits a scalar)
            raise self.fail("equation", "a non-empty term for every input", repr(equation))
        # ellipsis dimensions: right-aligned over the inputs, broadcast where they are 1
        ellipsis_ndims = []
        for i, (term, shape) in enumerate(zip(terms, shapes)):
            if term.count(".") > 1 or output.count(".") > 1:
                raise self.fail("equation", "at most one '...' per term", repr(equation))
            n_labels = len(term) - term.count(".")
            if ("." in term and len(shape) < n_labels) or ("." not in term and len(shape) != n_labels):
                raise self.fail(
                    "equation",
                    f"term {term.replace('.', '...')!r} to match input {i} of {len(shape)} dimensions",
                    f"shape={shape}",
                )
            ellipsis_ndims.append(len(shape) - n_labels if "." in term else 0)
        n_ellipsis = max(ellipsis_ndims, default=0)
        used = set(eq)
        fresh = [c for c in string.ascii_letters if c not in used][:n_ellipsis]
        if len(fresh) < n_ellipsis:
            raise self.fail("equation", "fewer labels (all letters are in use)", repr(equation))
        expanded = [term.replace(".", "".join(fresh[n_ellipsis - e :])) for term, e in zip(terms, ellipsis_ndims)]
        if "." in output and "." not in left:
            raise self.fail("equation", "'...' in the output only when an input has it", repr(equation))
        out_term = output.replace(".", "".join(fresh))
        sizes: dict[str, int] = {}
        for term, shape in zip(expanded, shapes):
            for label, size in zip(term, shape):
                known = sizes.get(label)
                if label in fresh:  # ellipsis dimensions broadcast
                    sizes[label] = size if known is None or known == 1 else known
                    if known not in (None, 1, size) and size != 1:
                        raise self.fail("x", "'...' dimensions that are equal or 1 (broadcast)", f"shapes {shapes}")
                elif known is None:
                    sizes[label] = size
                elif known != size:
                    raise self.fail(
                        "x", f"the same size for label {label!r} in every input", f"shapes {shapes} for {equation!r}"
                    )
        for label in out_term:
            if label not in sizes:
                raise self.fail("equation", f"output label {label!r} to appear in an input", repr(equation))
            if out_term.count(label) > 1:
                raise self.fail("equation", f"output label {label!r} once", repr(equation))
        self._terms = expanded
        self._output = out_term
        self._sizes = sizes
        self._fresh = set(fresh)
        self._paths: dict[Any, Any] = {}
        return [tuple(sizes[label] for label in out_term)]

    # -- kernels -------------------------------------------------------------------------------------------------
    def _operand(self, i: int, v: Any) -> Any:
        """Input ``i`` with its size-1 ellipsis dimensions broadcast (a view)."""
        full = tuple(self._sizes[label] if label in self._fresh else s for label, s in zip(self._terms[i], v.shape))
        return v if full == v.shape else np.broadcast_to(v, full)

    def _einsum(self, key: Any, spec: str, operands: list[Any]) -> Any:
        if len(operands) == 1:
            return np.einsum(spec, operands[0])
        path = self._paths.get(key)  # the contraction order (BLAS where possible), found once per shape
        if path is None:
            path = np.einsum_path(spec, *operands, optimize="greedy")[0]
            self._paths[key] = path
        return np.einsum(spec, *operands, optimize=path)

    def forward_impl(self, xp: Any, x: list[Any]) -> list[Any]:
        operands = [self._operand(i, v) for i, v in enumerate(x)]
        spec = ",".join(self._terms) + "->" + self._output
        y = self._einsum("forward", spec, operands)
        return [np.asarray(y).astype(np.result_type(*x), copy=False)]

    def _grad_spec(self, i: int) -> tuple[str, str]:
        """(equation of the gradient of input i over its distinct labels that the others know, those labels)."""
        term = self._terms[i]
        distinct = "".join(dict.fromkeys(term))
        known = set(self._output).union(*(set(t) for j, t in enumerate(self._terms) if j != i))
        labels = "".join(c for c in distinct if c in known)
        others = [t for j, t in enumerate(self._terms) if j != i]
        return ",".join([self._output] + others) + "->" + labels, labels

    def backward_impl(self, xp: Any, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        operands = [self._operand(i, v) for i, v in enumerate(x)]
        grads: list[Any] = []
        for i, v in enumerate(x):
            if not need[i]:
                grads.append(None)
                continue
            spec, labels = self._grad_spec(i)
            others = [op for j, op in enumerate(operands) if j != i]
            g = np.asarray(self._einsum(("backward", i), spec, [dy[0]] + others))
            term = self._terms[i]
            distinct = "".join(dict.fromkeys(term))
            g = g.reshape([self._sizes[c] if c in labels else 1 for c in distinct])
            full_shape = operands[i].shape
            if len(distinct) == len(term):  # no diagonal: broadcast over the labels only this input has
                full = np.broadcast_to(g, [self._sizes[c] for c in distinct]) if labels != distinct else g
                full = full.transpose([distinct.index(c) for c in term]) if distinct != term else full
            else:  # repeated labels: the gradient lives on the diagonal
                full = np.zeros(full_shape, g.dtype)
                np.einsum(f"{term}->{distinct}", full)[...] = g
            axes = tuple(k for k, (a, b) in enumerate(zip(v.shape, full_shape)) if a != b)
            if axes:
                full = full.sum(axis=axes, keepdims=True)
            grads.append(np.array(full, dtype=dy[0].dtype))
        return grads

    def grad_graph(self, x: list[Any], y: list[Any], dy: list[Any], need: list[bool]) -> list[Any]:
        from nnl import functions as F
        from nnl.core.grad import BackwardOf

        simple = all(len(set(t)) == len(t) for t in self._terms) and all(
            tuple(v.shape) == tuple(self._sizes[c] for c in t) for v, t in zip(x, self._terms)
        )
        if not simple:  # diagonals or broadcast '...': the array backward as a node (first order)
            node = BackwardOf(self, need)(*x, *y, *dy)
            it = iter(node if isinstance(node, tuple) else (node,))
            return [next(it) if n else None for n in need]
        grads: list[Any] = []
        for i, v in enumerate(x):
            if not need[i]:
                grads.append(None)
                continue
            spec, labels = self._grad_spec(i)
            term = self._terms[i]
            others = [o for j, o in enumerate(x) if j != i]
            if labels == term:
                grads.append(F.einsum(dy[0], *others, equation=spec))
                continue
            # labels summed inside this input only: compute over the others, then broadcast
            ordered = "".join(c for c in term if c in labels)
            g = F.einsum(dy[0], *others, equation=spec.split("->")[0] + "->" + ordered)
            g = F.reshape(g, tuple(self._sizes[c] if c in labels else 1 for c in term))
            grads.append(F.broadcast(g, tuple(v.shape)))
        return grads


@api(Einsum)
def einsum(*x: Any, **kw: Any) -> Any:
    equation = kw.pop("equation", "")
    return Einsum(equation)(*x, **kw)
