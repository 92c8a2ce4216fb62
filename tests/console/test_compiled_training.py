"""End to end: NNC's MNIST LeNet sample compiled by the console trains with ``nnl train`` on a tiny MNIST CSV (made
with nnl's dataset code) and its result runs with ``nnl forward``."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nnc-samples" / \
    "image_recognition_MNIST_LeNet.sdcproj"


def _series(path: Path) -> list[float]:
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def _train(tmp_path: Path, rows: int, batch: int, epochs: int) -> tuple[Path, str]:
    from nnl.cli.main import main
    from nnl.console import compile as C
    from nnl.console.sdcproj import read_sdcproj
    from nnl.data import load_mnist5k
    from nnl.data.csv_datasets import write_image_classification_csv

    if not SAMPLE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data {SAMPLE} is missing")
        pytest.skip(f"test data {SAMPLE} is missing")
    (x, y), (xv, yv) = load_mnist5k()
    train = write_image_classification_csv(str(tmp_path), "train.csv", "training", x[:rows], y[:rows])
    valid = write_image_classification_csv(str(tmp_path), "valid.csv", "validation", xv[:64], yv[:64])
    project = read_sdcproj(SAMPLE.read_text(encoding="utf-8"))
    project["datasets"][0]["uri"], project["datasets"][1]["uri"] = train, valid
    project["config"].update(max_epoch=epochs, batch_size=batch, monitor_interval=1)
    config = tmp_path / "lenet.nntxt"
    config.write_text(C.to_nntxt(project, base_dir=str(tmp_path)))
    out = tmp_path / "train"
    assert main(["train", "-c", str(config), "-o", str(out), "-q"]) == 0
    return out, valid


def _forward(tmp_path: Path, out: Path, valid: str) -> list[list[str]]:
    from nnl.cli.main import main

    assert (out / "results.nnp").exists()
    assert main(["forward", "-c", str(out / "results.nnp"), "-d", valid, "-o", str(tmp_path / "forward")]) == 0
    with open(tmp_path / "forward" / "output_result.csv", newline="") as f:
        return list(csv.reader(f))


def test_compiled_lenet_trains_ten_iterations(tmp_path):
    out, valid = _train(tmp_path, rows=160, batch=32, epochs=2)  # 5 iterations per epoch
    cost = _series(out / "cost.series.txt")
    assert len(cost) == 2 and cost[1] < cost[0]
    assert len(_series(out / "valid_error.series.txt")) == 2
    rows = _forward(tmp_path, out, valid)
    assert len(rows) == 65  # header + one row per validation image
    assert rows[0][:2] == ["x:image", "y:label"] and rows[0][-1].startswith("y'")


def test_compiled_lenet_learns(tmp_path):
    out, valid = _train(tmp_path, rows=1280, batch=64, epochs=4)  # 20 iterations per epoch
    cost = _series(out / "cost.series.txt")
    assert cost[-1] < 0.6 * cost[0]
    errors = _series(out / "valid_error.series.txt")
    assert errors[-1] < errors[0]
    rows = _forward(tmp_path, out, valid)
    header, body = rows[0], rows[1:]
    scores = [[float(v) for v in row[2:]] for row in body]
    correct = sum(max(range(10), key=s.__getitem__) == int(row[1]) for s, row in zip(scores, body))
    assert correct / len(body) > 0.6, header
