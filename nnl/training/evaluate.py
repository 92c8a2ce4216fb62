"""``nnl forward``: run a model's executor over a CSV dataset, as Neural Network Console's evaluation does.

Writes ``output_result.csv`` (every dataset column, then the executor's outputs: ``y'`` for one value,
``y'__0``, ``y'__1``... for vectors, a file path for matrices (``.csv``) and images (``.png``, saved beside it)) and,
for each output ``<name>'`` whose label column ``<name>`` holds class indices, ``confusion_matrix.json`` with the
matrix, accuracy and per-class precision / recall / F-measure with their averages.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Any

import numpy as np

from nnl.core.graph import forward_all
from nnl.inference import Model
from nnl.parameter_io import write_bytes

__all__ = ["forward_dataset", "confusion_matrix"]


def _read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"forward: {path!r} is empty (expected a header row).")
    return rows[0], rows[1:]


def _column_name(header: str) -> str:
    return header.split(":", 1)[0]


def _cells(name: str, value: np.ndarray, row: int, outdir: str) -> tuple[list[str], list[str]]:
    """Column headers and cell texts of one output value."""
    if value.size == 1:
        return [name], [f"{float(value.ravel()[0]):g}"]
    if value.ndim == 1:
        return [f"{name}__{i}" for i in range(value.size)], [f"{v:g}" for v in value]
    safe = name.replace("'", "_")
    os.makedirs(os.path.join(outdir, safe), exist_ok=True)
    if value.ndim == 3 and value.shape[0] in (1, 3):
        from PIL import Image

        image = np.clip(value.transpose(1, 2, 0), 0, 1) * 255
        image = image[..., 0] if image.shape[-1] == 1 else image
        relative = f"{safe}/{row}.png"
        buffer = io.BytesIO()
        Image.fromarray(np.round(image).astype(np.uint8)).save(buffer, format="PNG")
        write_bytes(os.path.join(outdir, relative), buffer.getvalue())
    else:
        relative = f"{safe}/{row}.csv"
        text = "\n".join(",".join(f"{v:g}" for v in line) for line in value.reshape(value.shape[0], -1))
        write_bytes(os.path.join(outdir, relative), (text + "\n").encode("utf-8"))
    return [name], [relative]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, Any]:
    """Matrix (rows: true class, columns: predicted), accuracy, per-class precision/recall/F and their averages."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    correct = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.nan_to_num(correct / matrix.sum(axis=1))
        precision = np.nan_to_num(correct / matrix.sum(axis=0))
        f_measure = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {
        "samples": int(matrix.sum()),
        "accuracy": float(correct.sum() / max(matrix.sum(), 1)),
        "matrix": matrix.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f_measure": f_measure.tolist(),
        "avg_precision": float(precision.mean()),
        "avg_recall": float(recall.mean()),
        "avg_f_measure": float(f_measure.mean()),
    }


def _batches(dataset: str, batch_size: int, normalize: bool) -> tuple[Any, int]:
    from nnl.utils.data_iterator import data_iterator_csv_dataset

    iterator = data_iterator_csv_dataset(dataset, batch_size, shuffle=False, normalize=normalize, with_file_cache=False)
    return iterator, iterator.size


def forward_dataset(model_path: str, dataset: str, outdir: str, batch_size: int | None = None,
                    executor: str | None = None) -> dict[str, Any]:
    """Evaluate ``model_path`` on the CSV ``dataset``; returns the confusion matrices by output name."""
    model = Model(model_path, executor=executor)
    chosen = model._executor(executor)
    if chosen is None:
        raise ValueError(f"forward: {model_path!r} has no executor (the network to run and its data mapping).")
    data_names = {v.variable_name: v.data_name for v in chosen.data_variable}
    output_names = {v.variable_name: v.data_name for v in chosen.output_variable}
    network = model.nnp.network(model.network_name)
    batch = batch_size or int(network.batch_size) or 1
    header, rows = _read_csv(dataset)
    os.makedirs(outdir, exist_ok=True)
    iterator, size = _batches(dataset, batch, normalize=not chosen.no_image_normalization)
    graph = model._graph(batch)
    results: list[list[np.ndarray]] = []
    try:
        for _ in range(math.ceil(size / batch)):
            data = dict(zip(iterator.variables, iterator.next()))
            for var_name, data_name in data_names.items():
                if data_name not in data:
                    raise ValueError(f"forward: the model reads column {data_name!r}; {dataset!r} has "
                                     f"{sorted(data)}.")
                graph.variables[var_name].d = data[data_name]
            outputs = [graph.variables[name] for name in output_names]
            forward_all(outputs, clear_buffer=True)
            results.append([o.d.copy() for o in outputs])
    finally:
        iterator.close()
    per_output = [np.concatenate([r[i] for r in results])[:size] for i in range(len(output_names))]

    table_header = list(header)
    table = [list(row) for row in rows[:size]]
    for data_name, values in zip(output_names.values(), per_output):
        for row_index, value in enumerate(values):
            names, cells = _cells(data_name, np.asarray(value), row_index, outdir)
            if row_index == 0:
                table_header.extend(names)
            table[row_index].extend(cells)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table_header)
    writer.writerows(table)
    write_bytes(os.path.join(outdir, "output_result.csv"), text.getvalue().encode("utf-8"))

    matrices = {}
    columns = [_column_name(h) for h in header]
    for data_name, values in zip(output_names.values(), per_output):
        label_column = data_name.rstrip("'")
        if label_column == data_name or label_column not in columns:
            continue
        labels = np.array([float(row[columns.index(label_column)]) for row in rows[:size]]).astype(np.int64)
        flat = values.reshape(len(values), -1)
        predicted = flat.argmax(axis=1) if flat.shape[1] > 1 else np.round(flat[:, 0]).astype(np.int64)
        classes = max(int(flat.shape[1]) if flat.shape[1] > 1 else 2, int(labels.max()) + 1)
        matrices[data_name] = dict(confusion_matrix(labels, predicted, classes), label=label_column)
    if matrices:
        write_bytes(os.path.join(outdir, "confusion_matrix.json"), json.dumps(matrices, indent=1).encode("utf-8"))
    return matrices
