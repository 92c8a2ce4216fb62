"""The full MNIST (60,000 training + 10,000 test digits) from its public mirrors.

The four gzip'd IDX files are verified by size and SHA-256 (the values published with the data by TensorFlow
Datasets, torchvision and others; also checked against torchvision's MD5s), then parsed with their structure checked:
IDX magic number (0x00000803 for uint8 3-D images, 0x00000801 for uint8 1-D labels), item counts, 28x28 rows and
columns, exact payload length, labels 0-9.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Mapping, Sequence

import numpy as np

from nnl.data.downloads import RemoteFile, fetch

__all__ = ["MNIST_MIRRORS", "MNIST_FILES", "MNIST_COUNTS", "mnist_remote_files", "read_idx", "load_mnist",
           "write_mnist_full"]

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# key: (file name, size in bytes, SHA-256, MD5)
MNIST_FILES: dict[str, tuple[str, int, str, str]] = {
    "train_images": ("train-images-idx3-ubyte.gz", 9_912_422,
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                     "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", 28_881,
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                     "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", 1_648_877,
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", 4_542,
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                    "ec29112dd5afa0611ce80d1b7f02629c"),
}

MNIST_COUNTS = {"train": 60_000, "test": 10_000}
_IMAGE_MAGIC, _LABEL_MAGIC = 0x803, 0x801


def mnist_remote_files(mirrors: Sequence[str] | None = None,
                       files: Mapping[str, tuple[str, int | None, str | None, str | None]] | None = None
                       ) -> dict[str, RemoteFile]:
    """The four MNIST files as :class:`RemoteFile` s fetched from ``mirrors`` (base URLs, tried in order; default
    :data:`MNIST_MIRRORS`); ``files`` replaces :data:`MNIST_FILES` (tests use it to serve small fakes)."""
    table = MNIST_FILES if files is None else files
    bases = MNIST_MIRRORS if mirrors is None else mirrors
    return {key: RemoteFile(name, (), sha256=sha256, md5=md5, size=size).with_mirrors(bases)
            for key, (name, size, sha256, md5) in table.items()}


def read_idx(data: bytes, magic: int, count: int | None, where: str) -> np.ndarray:
    """Parse an uncompressed uint8 IDX file (``magic`` 0x801: labels ``(N,)``, 0x803: images ``(N, 28, 28)``),
    checking the magic number, the item count (when ``count`` is given), the image size and the payload length."""
    ndim = magic & 0xFF
    found = struct.unpack(">I", data[:4])[0] if len(data) >= 4 else None
    if found != magic:
        shown = "missing" if found is None else f"0x{found:08x}"
        raise ValueError(f"{where}: IDX magic number {shown}, expected 0x{magic:08x} (not an MNIST "
                         f"{'image' if magic == _IMAGE_MAGIC else 'label'} file).")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{where}: {len(data)} bytes is too short for an IDX header.")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    if count is not None and shape[0] != count:
        raise ValueError(f"{where}: {shape[0]} items, expected {count}.")
    if ndim == 3 and shape[1:] != (28, 28):
        raise ValueError(f"{where}: images of {shape[1]}x{shape[2]} pixels, expected 28x28.")
    payload = data[4 + 4 * ndim:]
    if len(payload) != int(np.prod(shape)):
        raise ValueError(f"{where}: {len(payload)} bytes of data for shape {shape}, expected {int(np.prod(shape))}.")
    array = np.frombuffer(payload, np.uint8).reshape(shape)
    if ndim == 1 and array.size and array.max() > 9:
        raise ValueError(f"{where}: label {int(array.max())} out of 0-9.")
    return array


def _read_gz_idx(path: os.PathLike[str] | str, magic: int, count: int | None) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable gzip file ({e}).") from e
    return read_idx(data, magic, count, str(path))


def load_mnist(directory: str | os.PathLike[str] | None = None, remote_files: Mapping[str, RemoteFile] | None = None,
               progress: bool = True
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Full MNIST as ``((train_images, train_labels), (test_images, test_labels))``: uint8 ``(N, 28, 28)`` images
    and uint8 ``(N,)`` labels (counts checked against :data:`MNIST_COUNTS`), downloaded into ``directory``
    (default: the nnl data home) on first use."""
    remote = dict(remote_files) if remote_files is not None else mnist_remote_files()
    paths = {key: fetch(remote[key], directory, progress=progress) for key in MNIST_FILES}
    splits = []
    for split in ("train", "test"):
        count = MNIST_COUNTS[split]
        images = _read_gz_idx(paths[f"{split}_images"], _IMAGE_MAGIC, count)
        labels = _read_gz_idx(paths[f"{split}_labels"], _LABEL_MAGIC, count)
        if len(images) != len(labels):
            raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels.")
        splits.append((images, labels))
    return splits[0], splits[1]


def write_mnist_full(outdir: str, directory: str | os.PathLike[str] | None = None,
                     remote_files: Mapping[str, RemoteFile] | None = None, progress: bool = True
                     ) -> tuple[str, str]:
    """Full MNIST as PNG files + ``mnist_training.csv`` / ``mnist_test.csv`` in ``outdir`` (the bundled subset's
    layout); returns the two CSV paths."""
    from nnl.data.csv_datasets import write_image_dataset

    (train_x, train_y), (test_x, test_y) = load_mnist(directory, remote_files, progress)
    os.makedirs(outdir, exist_ok=True)
    training = write_image_dataset(outdir, "mnist_training.csv", "training", train_x, train_y, progress)
    test = write_image_dataset(outdir, "mnist_test.csv", "test", test_x, test_y, progress)
    return training, test
