"""The report's pictures as PNG bytes, drawn with matplotlib's object API (no pyplot state, safe in a server).

``architecture`` draws a network's functions as boxes top to bottom (type and per-sample output shape, coloured
by kind), wrapping into columns for long networks; links between neighbouring boxes are straight arrows, other
links (skip connections, several inputs) arcs beside the boxes.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from nnl.report.network import NetworkStatistics

__all__ = ["architecture", "learning_curve", "confusion_matrix", "example_grid"]

_DPI = 110
_KINDS = (  # (colour, function types): the first match gives a box its colour
    ("#cfe2f3", ("Affine", "Convolution", "Deconvolution", "DepthwiseConvolution", "DepthwiseDeconvolution",
                 "BinaryConnectAffine", "BinaryConnectConvolution", "BinaryWeightAffine",
                 "BinaryWeightConvolution", "Embed", "BatchMatmul", "LSTM", "GRU", "RNN")),
    ("#d9ead3", ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "CReLU", "ELU", "CELU", "SELU", "GELU", "Swish", "Mish",
                 "Sigmoid", "Tanh", "SoftPlus", "Softmax", "LogSoftmax", "BinaryTanh", "BinarySigmoid")),
    ("#fce5cd", ("MaxPooling", "AveragePooling", "SumPooling", "GlobalAveragePooling", "Unpooling")),
    ("#e6dcf2", ("BatchNormalization", "FusedBatchNormalization", "SyncBatchNormalization", "LayerNormalization",
                 "InstanceNormalization", "GroupNormalization", "Dropout")),
    ("#f4cccc", ("SoftmaxCrossEntropy", "SigmoidCrossEntropy", "CategoricalCrossEntropy", "SquaredError",
                 "AbsoluteError", "HuberLoss", "BinaryCrossEntropy")),
)
_INPUT_COLOUR, _OTHER_COLOUR = "#fff2cc", "#eeeeee"


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI)


def _colour(type_name: str) -> str:
    return next((colour for colour, types in _KINDS if type_name in types), _OTHER_COLOUR)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")" if shape else "scalar"


def architecture(stats: NetworkStatistics) -> bytes:
    """The network as a diagram of boxes (inputs first, then the functions in execution order)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    nodes = [(f"Input {name}", _shape_text(shape), _INPUT_COLOUR) for name, shape in stats.inputs.items()]
    nodes += [(layer.type, _shape_text(layer.output_shape), _colour(layer.type)) for layer in stats.layers]
    producer = {name: i for i, name in enumerate(stats.inputs)}
    edges = []
    for offset, layer in enumerate(stats.layers, start=len(stats.inputs)):
        edges += [(producer[i], offset) for i in layer.inputs if i in producer]
        producer.update({o: offset for o in layer.outputs})

    columns = max(1, math.ceil(len(nodes) / 20))
    per_column = math.ceil(len(nodes) / columns)
    box_w, box_h, step_x, step_y = 3.0, 0.62, 4.4, 1.0

    def centre(i: int) -> tuple[float, float]:
        return (i // per_column) * step_x + box_w / 2, -(i % per_column) * step_y

    figure = _figure(max(4.2, 1.3 + columns * step_x * 0.62), max(2.0, 0.5 + per_column * step_y * 0.62))
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(-0.6, (columns - 1) * step_x + box_w + 1.2)
    axis.set_ylim(-(per_column - 1) * step_y - 0.8, 0.8)
    axis.axis("off")
    for i, (title, shape, colour) in enumerate(nodes):
        x, y = centre(i)
        axis.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.02",
                                      facecolor=colour, edgecolor="#555555", linewidth=0.8))
        axis.text(x, y + 0.1, title, ha="center", va="center", fontsize=9, fontweight="bold")
        axis.text(x, y - 0.16, shape, ha="center", va="center", fontsize=8, color="#333333")
    for source, target in edges:
        (x0, y0), (x1, y1) = centre(source), centre(target)
        same_column = source // per_column == target // per_column
        if same_column and target - source == 1:
            arrow = FancyArrowPatch((x0, y0 - box_h / 2), (x1, y1 + box_h / 2), arrowstyle="-|>", mutation_scale=9,
                                    color="#444444", linewidth=0.8)
        elif same_column:  # a skip connection: an arc on the right of the column, bulging at most ~0.6 box widths
            rad = -min(0.35, 1.2 / max(y0 - y1, 1e-6))
            arrow = FancyArrowPatch((x0 + box_w / 2, y0), (x1 + box_w / 2, y1), arrowstyle="-|>", mutation_scale=9,
                                    connectionstyle=f"arc3,rad={rad:.3f}", color="#1f77b4", linewidth=0.8)
        else:
            arrow = FancyArrowPatch((x0 + box_w / 2, y0), (x1 - box_w / 2, y1), arrowstyle="-|>", mutation_scale=9,
                                    color="#888888", linewidth=0.6, alpha=0.7)
        axis.add_patch(arrow)
    return _png(figure)


def learning_curve(curves: dict[str, list[tuple[int, float]]]) -> bytes:
    """Cost on the left axis, the monitors' errors on the right one, per epoch."""
    figure = _figure(7.5, 4.2)
    axis = figure.add_subplot(1, 1, 1)
    errors = axis.twinx() if any(name != "cost" for name in curves) and "cost" in curves else axis
    lines = []
    colours = iter(["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"])
    for name, points in curves.items():
        target = axis if name == "cost" else errors
        epochs, values = [p[0] for p in points], [p[1] for p in points]
        lines += target.plot(epochs, values, marker="o", markersize=3, label=name, color=next(colours, None))
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("cost" if "cost" in curves else "error")
    if errors is not axis:
        errors.set_ylabel("error")
    axis.grid(alpha=0.3)
    if lines:
        axis.legend(lines, [line.get_label() for line in lines], loc="upper right")
    figure.tight_layout()
    return _png(figure)


def confusion_matrix(matrix: list[list[int]], title: str) -> bytes:
    """Counts per (true class, predicted class), darker for more."""
    counts = np.asarray(matrix, dtype=np.int64)
    classes = counts.shape[0]
    size = min(8.0, 2.5 + 0.45 * classes)
    figure = _figure(size + 1.0, size)
    axis = figure.add_subplot(1, 1, 1)
    image = axis.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    axis.set_xticks(range(classes))
    axis.set_yticks(range(classes))
    if classes <= 20:
        threshold = counts.max() / 2 if counts.size else 0
        for (row, column), value in np.ndenumerate(counts):
            axis.text(column, row, str(value), ha="center", va="center", fontsize=8,
                      color="white" if value > threshold else "black")
    figure.tight_layout()
    return _png(figure)


def example_grid(examples: list[tuple[np.ndarray, str]], label_name: str) -> bytes:
    """Images (``(C, H, W)`` uint8) in a grid of up to 10 columns, each titled with its label."""
    columns = min(10, len(examples))
    rows = math.ceil(len(examples) / columns)
    figure = _figure(1.1 * columns, 1.3 * rows)
    for index, (image, label) in enumerate(examples):
        axis = figure.add_subplot(rows, columns, index + 1)
        picture = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        axis.imshow(picture, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=255)
        axis.set_xticks([])
        axis.set_yticks([])
        if label:
            axis.set_title(f"{label_name}={label}", fontsize=8)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.25 / rows, wspace=0.08, hspace=0.3)
    return _png(figure)
