"""Read what a training job left in its folder: the facts a report shows, checked, with clear errors.

A job folder is what ``nnl train -c CONFIG -o JOBDIR`` writes: ``results.nnp`` (the configuration and the trained
parameters), ``monitoring_report.yml``, ``<curve>.series.txt`` and the latest checkpoint ``results_current_<N>.nnp``
(whose ``training_state.json`` holds the iteration reached). The evaluation, if any, is what ``nnl forward`` writes:
``output_result.csv`` and ``confusion_matrix.json``, by default in ``JOBDIR/evaluation``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnl.nnp.container import NnpFile, read_nnp

__all__ = ["Column", "DatasetSummary", "Evaluation", "Job", "read_job", "example_images"]

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
_VECTOR_COLUMN = re.compile(r"^(.*)__(\d+)$")


@dataclass
class Column:
    """A variable of a CSV dataset: its name, kind (image, scalar, vector, matrix, text) and shape."""

    name: str
    kind: str
    shape: tuple[int, ...]


@dataclass
class DatasetSummary:
    """A dataset of the configuration and what its CSV holds (``path`` is None when the file is not found)."""

    name: str
    uri: str
    path: str | None
    batch_size: int
    shuffle: bool
    image_normalization: bool
    rows: int = 0
    header: list[str] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)


@dataclass
class Evaluation:
    """``nnl forward``'s results: the confusion matrices by output name and the number of rows evaluated."""

    directory: str
    matrices: dict[str, dict[str, Any]]
    rows: int


@dataclass
class Job:
    """A training job folder, read."""

    directory: str
    nnp: NnpFile
    curves: dict[str, list[tuple[int, float]]]
    state: dict[str, Any]
    finished: float
    datasets: list[DatasetSummary]
    evaluation: Evaluation | None
    evaluation_note: str

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.directory))


def _read_curve(path: str) -> list[tuple[int, float]]:
    points = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                points.append((int(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                raise ValueError(f"report: {path!r} line {number}: expected '<epoch> <value>', got {line.strip()!r}."
                                 ) from None
    return points


def _curves(directory: str) -> dict[str, list[tuple[int, float]]]:
    """Every ``<name>.series.txt``, ``cost`` first, then in the order ``monitoring_report.yml`` names them."""
    suffix = ".series.txt"
    names = sorted(f[: -len(suffix)] for f in os.listdir(directory) if f.endswith(suffix))
    order: list[str] = []
    report = os.path.join(directory, "monitoring_report.yml")
    if os.path.exists(report):
        with open(report, encoding="utf-8") as f:
            order = [line.split(":", 1)[0].strip() for line in f if line.startswith("  ")]
    rank = {name: i for i, name in enumerate(dict.fromkeys(["cost", *order]))}
    names.sort(key=lambda n: (rank.get(n, len(rank)), n))
    return {name: _read_curve(os.path.join(directory, name + suffix)) for name in names}


def _training_state(directory: str) -> dict[str, Any]:
    """``training_state.json`` of the latest checkpoint (empty when the job has none)."""
    from nnl.training.checkpoint import STATE_MEMBER, latest_checkpoint

    found = latest_checkpoint(directory)
    if found is None:
        return {}
    try:
        with zipfile.ZipFile(found[1]) as archive:
            if STATE_MEMBER not in archive.namelist():
                return {}
            return dict(json.loads(archive.read(STATE_MEMBER)))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"report: checkpoint {found[1]!r} is not readable ({type(e).__name__}: {e}).") from e


def _find_dataset(uri: str, job_dir: str) -> str | None:
    """The dataset file as ``nnl train`` found it: as given, else beside the job folder or inside it."""
    if not uri:
        return None
    candidates = [uri] if os.path.isabs(uri) else [uri, os.path.join(job_dir, uri),
                                                  os.path.join(os.path.dirname(os.path.abspath(job_dir)), uri)]
    return next((c for c in candidates if os.path.isfile(c)), None)


def _read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise ValueError(f"report: dataset {path!r} is empty (expected a header row).")
    return rows[0], rows[1:]


def _cell_column(name: str, value: str, base: str) -> Column:
    lowered = value.lower()
    if lowered.endswith(_IMAGE_EXTENSIONS):
        image = _load_image(os.path.join(base, value))
        return Column(name, "image", image.shape if image is not None else ())
    if lowered.endswith(".csv"):
        path = os.path.join(base, value)
        if not os.path.isfile(path):
            return Column(name, "matrix", ())
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = [row for row in csv.reader(f) if row]
        return Column(name, "matrix", (len(lines), len(lines[0]) if lines else 0))
    try:
        float(value)
    except ValueError:
        return Column(name, "text", ())
    return Column(name, "scalar", ())


def _columns(header: list[str], first: list[str], base: str) -> list[Column]:
    """Columns by variable (``x__0``, ``x__1``... make one vector ``x``), kinds and shapes from the first row."""
    columns: list[Column] = []
    for index, title in enumerate(header):
        name = title.split(":", 1)[0]
        vector = _VECTOR_COLUMN.match(name)
        if vector:
            if columns and columns[-1].name == vector.group(1) and columns[-1].kind == "vector":
                columns[-1].shape = (columns[-1].shape[0] + 1,)
            else:
                columns.append(Column(vector.group(1), "vector", (1,)))
            continue
        columns.append(_cell_column(name, first[index], base) if index < len(first) else Column(name, "text", ()))
    return columns


def _dataset(proto: Any, job_dir: str) -> DatasetSummary:
    summary = DatasetSummary(proto.name, proto.uri, _find_dataset(proto.uri, job_dir), int(proto.batch_size),
                             bool(proto.shuffle), not proto.no_image_normalization)
    if summary.path is not None:
        header, rows = _read_csv(summary.path)
        summary.header, summary.rows = header, len(rows)
        summary.columns = _columns(header, rows[0] if rows else [], os.path.dirname(summary.path))
    return summary


def _load_image(path: str) -> np.ndarray | None:
    """``(C, H, W)`` uint8, or None when the file cannot be read (the report says so rather than failing)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if image.mode in ("L", "1", "I", "I;16", "F") else "RGB"))
    except OSError:
        return None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def example_images(dataset: DatasetSummary, count: int = 20, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """Up to ``count`` random images of the dataset's first image column, each with its row's first scalar value."""
    if dataset.path is None:
        return []
    names = [title.split(":", 1)[0] for title in dataset.header]
    image_columns = [c.name for c in dataset.columns if c.kind == "image"]
    label_columns = [c.name for c in dataset.columns if c.kind == "scalar"]
    if not image_columns:
        return []
    _, rows = _read_csv(dataset.path)
    image_index = names.index(image_columns[0])
    label_index = names.index(label_columns[0]) if label_columns else None
    chosen = np.random.RandomState(seed).permutation(len(rows))[:count]
    base = os.path.dirname(dataset.path)
    examples = []
    for row_index in sorted(int(i) for i in chosen):
        row = rows[row_index]
        image = _load_image(os.path.join(base, row[image_index]))
        if image is not None:
            label = row[label_index] if label_index is not None and label_index < len(row) else ""
            examples.append((image, label))
    return examples


def _evaluation(job_dir: str, evaluation_dir: str | None) -> tuple[Evaluation | None, str]:
    directory = evaluation_dir if evaluation_dir is not None else os.path.join(job_dir, "evaluation")
    if evaluation_dir is not None and not os.path.isdir(evaluation_dir):
        raise FileNotFoundError(f"report: evaluation folder {evaluation_dir!r} does not exist.")
    results = os.path.join(directory, "output_result.csv")
    if not os.path.isfile(results):
        return None, (f"No evaluation found: {directory!r} has no output_result.csv. Run `nnl forward -c "
                      f"{os.path.join(job_dir, 'results.nnp')} -d TEST.csv -o {directory}` and make the report again.")
    _, rows = _read_csv(results)
    matrices: dict[str, dict[str, Any]] = {}
    path = os.path.join(directory, "confusion_matrix.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            try:
                matrices = dict(json.load(f))
            except ValueError as e:
                raise ValueError(f"report: {path!r} is not valid JSON ({e}).") from e
        for name, m in matrices.items():
            missing = {"accuracy", "matrix", "precision", "recall", "f_measure"} - set(m)
            if missing:
                raise ValueError(f"report: {path!r} output {name!r} lacks {sorted(missing)}.")
    note = "" if matrices else (f"{directory!r} holds no confusion_matrix.json (no output with class labels): "
                                "only the number of evaluated rows is reported.")
    return Evaluation(directory, matrices, len(rows)), note


def read_job(job_dir: str, evaluation_dir: str | None = None) -> Job:
    """Read the job folder ``job_dir`` (and its evaluation); raises if it is not a folder ``nnl train`` wrote."""
    if not os.path.isdir(job_dir):
        raise FileNotFoundError(f"report: job folder {job_dir!r} does not exist or is not a folder.")
    results = os.path.join(job_dir, "results.nnp")
    if not os.path.isfile(results):
        present = sorted(os.listdir(job_dir))[:8]
        raise ValueError(f"report: {job_dir!r} is not a training job folder: it has no results.nnp (expected what "
                         f"`nnl train -c CONFIG -o {job_dir}` writes; the folder holds {present}).")
    nnp = read_nnp(results)
    if not nnp.proto.network:
        raise ValueError(f"report: {results!r} holds no network.")
    checkpoint_time = [os.path.getmtime(os.path.join(job_dir, f)) for f in os.listdir(job_dir)
                       if f.startswith("results_current_") and f.endswith(".nnp")]
    evaluation, note = _evaluation(job_dir, evaluation_dir)
    return Job(
        directory=job_dir,
        nnp=nnp,
        curves=_curves(job_dir),
        state=_training_state(job_dir),
        finished=max(checkpoint_time + [os.path.getmtime(results)]),
        datasets=[_dataset(d, job_dir) for d in nnp.proto.dataset],
        evaluation=evaluation,
        evaluation_note=note,
    )
