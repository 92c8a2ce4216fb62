"""CIFAR-10 (50,000 training + 10,000 test 32x32 RGB images, 10 classes) from the CIFAR "python version" tarball.

``cifar-10-python.tar.gz`` (170,498,071 bytes) is verified by the MD5 published on the CIFAR-10 page
(https://www.cs.toronto.edu/~kriz/cifar.html) and the SHA-256 Keras and TensorFlow Datasets pin. Its members
``cifar-10-batches-py/data_batch_1..5`` and ``test_batch`` are pickled dicts with ``data`` (uint8 ``(10000, 3072)``:
the red, green and blue 32x32 planes of each image, row-major) and ``labels`` (ints 0-9); ``batches.meta`` holds
``label_names``. They are unpickled with an unpickler that only builds dicts, lists, numbers, strings and NumPy
arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnl.data.downloads import RemoteFile, fetch

__all__ = ["CIFAR10_URLS", "CIFAR10_FILE", "CIFAR10_COUNTS", "CIFAR10_CLASSES", "read_cifar10_archive", "load_cifar10",
           "write_cifar10"]

CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
CIFAR10_FILE = RemoteFile("cifar-10-python.tar.gz", CIFAR10_URLS,
                          sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                          md5="c58f30108f718f92721af3b95e74349a", size=170_498_071)
CIFAR10_COUNTS = (50_000, 10_000)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_FOLDER = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _unpickle(data: bytes, where: str) -> dict[str, Any]:
    try:
        loaded = _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # any malformed pickle
        raise ValueError(f"{where}: not a CIFAR-10 batch ({e}).") from e
    if not isinstance(loaded, dict):
        raise ValueError(f"{where}: not a CIFAR-10 batch (a {type(loaded).__name__}, expected a dict).")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in loaded.items()}


def _batch(archive: tarfile.TarFile, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    member = f"{_FOLDER}/{name}"
    try:
        f = archive.extractfile(member)
    except KeyError:
        f = None
    if f is None:
        raise ValueError(f"{where}: no {member} in the archive (not the CIFAR-10 python version?).")
    batch = _unpickle(f.read(), f"{where}:{member}")
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{where}:{member}: keys {sorted(batch)}, expected 'data' and 'labels'.")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(f"{where}:{member}: data {data.shape} with {len(labels)} labels, expected (N, 3072) and N.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}:{member}: labels outside 0-9.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> (N, H, W, RGB)
    return np.ascontiguousarray(images), labels


def read_cifar10_archive(path: str | os.PathLike[str]
                         ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Parse ``cifar-10-python.tar.gz`` into ``((train_images, train_labels), (test_images, test_labels))``:
    uint8 ``(N, 32, 32, 3)`` RGB images and int ``(N,)`` labels (counts checked against :data:`CIFAR10_COUNTS`)."""
    where = str(path)
    try:
        archive = tarfile.open(path, "r:gz")
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{where}: not a readable .tar.gz ({e}).") from e
    with archive:
        parts = [_batch(archive, name, where) for name in _TRAIN_BATCHES]
        train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        test = _batch(archive, "test_batch", where)
    if (len(train[0]), len(test[0])) != tuple(CIFAR10_COUNTS):
        raise ValueError(f"{where}: {len(train[0])} training and {len(test[0])} test images, expected "
                         f"{CIFAR10_COUNTS[0]} and {CIFAR10_COUNTS[1]}.")
    return train, test


def load_cifar10(directory: str | os.PathLike[str] | None = None, remote: RemoteFile | None = None,
                 progress: bool = True) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 (``remote``, default :data:`CIFAR10_FILE`) downloaded into ``directory`` (default: the nnl data
    home) on first use; see :func:`read_cifar10_archive`."""
    return read_cifar10_archive(fetch(remote or CIFAR10_FILE, directory, progress=progress))


def write_cifar10(outdir: str, directory: str | os.PathLike[str] | None = None, remote: RemoteFile | None = None,
                  progress: bool = True, classes: Sequence[str] = CIFAR10_CLASSES) -> tuple[str, str]:
    """CIFAR-10 as 32x32 RGB PNG files + ``cifar10_training.csv`` / ``cifar10_test.csv`` (labels 0-9; their names
    in ``labels.txt``, one per line) in ``outdir``; returns the two CSV paths."""
    from nnl.data.csv_datasets import write_image_dataset
    from nnl.parameter_io import write_bytes

    (train_x, train_y), (test_x, test_y) = load_cifar10(directory, remote, progress)
    os.makedirs(outdir, exist_ok=True)
    training = write_image_dataset(outdir, "cifar10_training.csv", "training", train_x, train_y, progress)
    test = write_image_dataset(outdir, "cifar10_test.csv", "test", test_x, test_y, progress)
    write_bytes(os.path.join(outdir, "labels.txt"), "".join(f"{c}\n" for c in classes).encode("utf-8"))
    return training, test
