"""Write datasets in Neural Network Console's CSV format: image files plus a CSV naming them.

Layout (what NNC's samples use): ``<outdir>/<split>/<label>/<index>.png`` and ``<outdir>/<name>_<split>.csv``
with the header ``x:image,y:label`` and rows ``./<split>/<label>/<index>.png,<label>`` (paths relative to the CSV).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np

from nnl.parameter_io import write_bytes

__all__ = ["write_image_classification_csv", "write_image_dataset", "write_mnist"]


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image_classification_csv(
    outdir: str, csv_name: str, split: str, images: Sequence[np.ndarray], labels: Sequence[int]
) -> str:
    """Save ``images`` (uint8 ``(H, W)`` or ``(H, W, C)``) as PNG files and a CSV listing them; returns the CSV path."""
    if len(images) != len(labels):
        raise ValueError(f"write_image_classification_csv: {len(images)} images but {len(labels)} labels.")
    rows = []
    for index, (image, label) in enumerate(zip(images, labels)):
        relative = f"{split}/{int(label)}/{index:05d}.png"
        path = os.path.join(outdir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes(path, _png(np.asarray(image, dtype=np.uint8)))
        rows.append((f"./{relative}", int(label)))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["x:image", "y:label"])
    writer.writerows(rows)
    csv_path = os.path.join(outdir, csv_name)
    write_bytes(csv_path, text.getvalue().encode("utf-8"))
    return csv_path


def write_mnist(outdir: str) -> tuple[str, str]:
    """The bundled MNIST subset as ``mnist_training.csv`` (4,000 images) and ``mnist_test.csv`` (1,000)."""
    from nnl.data import load_mnist5k

    (train_x, train_y), (test_x, test_y) = load_mnist5k()
    os.makedirs(outdir, exist_ok=True)
    training = write_image_classification_csv(outdir, "mnist_training.csv", "training", train_x, train_y)
    test = write_image_classification_csv(outdir, "mnist_test.csv", "test", test_x, test_y)
    return training, test


def write_image_dataset(outdir: str, csv_name: str, split: str, images: Sequence[np.ndarray], labels: Sequence[int],
                        progress: bool = True) -> str:
    """:func:`write_image_classification_csv`'s layout for large datasets: a progress bar, and the PNG files written
    directly (the CSV is written last and atomically, so a CSV on disk means all of its images are there)."""
    from tqdm import tqdm

    if len(images) != len(labels):
        raise ValueError(f"write_image_dataset: {len(images)} images but {len(labels)} labels.")
    rows = []
    made: set[str] = set()
    bar = tqdm(zip(images, labels), total=len(labels), desc=csv_name, unit="img", disable=None if progress else True)
    for index, (image, label) in enumerate(bar):
        relative = f"{split}/{int(label)}/{index:05d}.png"
        folder = os.path.join(outdir, split, str(int(label)))
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(os.path.join(outdir, relative), "wb") as f:
            f.write(_png(np.asarray(image, dtype=np.uint8)))
        rows.append((f"./{relative}", int(label)))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["x:image", "y:label"])
    writer.writerows(rows)
    csv_path = os.path.join(outdir, csv_name)
    write_bytes(csv_path, text.getvalue().encode("utf-8"))
    return csv_path
