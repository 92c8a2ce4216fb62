"""`nnl dataset` (full MNIST / CIFAR-10 downloads, image folders), `nnl create_image_classification_dataset`,
`nnl conv_dataset`. Downloads are served from tmp folders by a local http.server: no test touches the network."""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import tarfile
import threading
from functools import partial

import numpy as np
import pytest

from nnl.cli.main import main as cli
from nnl.data import cifar10, mnist_full
from nnl.data.downloads import ChecksumError, DownloadError, RemoteFile, data_home, fetch
from nnl.data.image_folder import fit_image
from nnl.utils.image_utils import imread, imsave

# ----------------------------------------------------------------------------------------------------------------
# a local mirror


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL) of a local HTTP server."""
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_url():
    """A base URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv_rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.reader(f))


# ----------------------------------------------------------------------------------------------------------------
# downloads


def test_fetch_streams_verifies_and_caches(server, tmp_path):
    root, base = server
    payload = os.urandom(3000)
    (root / "blob.bin").write_bytes(payload)
    remote = RemoteFile("blob.bin", (base + "blob.bin",), sha256=_sha256(payload), size=len(payload))
    cache = tmp_path / "cache"
    path = fetch(remote, cache, progress=False)
    assert path.read_bytes() == payload
    assert sorted(os.listdir(cache)) == ["blob.bin"]  # no temporary file left
    (root / "blob.bin").unlink()  # the cached copy is used: the mirror is not asked again
    assert fetch(remote, cache, progress=False).read_bytes() == payload
    path.write_bytes(b"damaged")  # a damaged copy is fetched again, and the mirror now fails
    with pytest.raises(DownloadError, match="404"):
        fetch(remote, cache, progress=False)


def test_fetch_falls_back_to_the_next_mirror(server, dead_url, tmp_path):
    root, base = server
    payload = b"\x00\x01" * 500
    (root / "f.gz").write_bytes(payload)
    remote = RemoteFile("f.gz", (), md5=hashlib.md5(payload).hexdigest()).with_mirrors([dead_url, base + "nope/", base])
    assert fetch(remote, tmp_path / "c", progress=False).read_bytes() == payload


def test_fetch_rejects_a_checksum_mismatch_and_names_every_url(server, dead_url, tmp_path):
    root, base = server
    (root / "f.bin").write_bytes(b"tampered")
    remote = RemoteFile("f.bin", (dead_url + "f.bin", base + "f.bin"), sha256=_sha256(b"original"))
    with pytest.raises(DownloadError) as info:
        fetch(remote, tmp_path / "c", progress=False)
    message = str(info.value)
    assert dead_url + "f.bin" in message and base + "f.bin" in message and "sha256" in message
    assert "offline" in message and str(tmp_path / "c" / "f.bin") in message
    assert os.listdir(tmp_path / "c") == []  # nothing half-written is left
    with pytest.raises(ChecksumError, match="size 8 bytes, expected 9"):
        from nnl.data.downloads import verify

        (tmp_path / "x").write_bytes(b"tampered")
        verify(tmp_path / "x", RemoteFile("x", (), size=9))


def test_data_home_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NNL_DATA_HOME", str(tmp_path / "home"))
    assert data_home() == tmp_path / "home" and (tmp_path / "home").is_dir()


# ----------------------------------------------------------------------------------------------------------------
# full MNIST from fake IDX files


def _idx(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _fake_mnist(root, counts=(6, 4)):
    """Write small gzip'd IDX files under root; returns (their table for MNIST_FILES, the arrays)."""
    rng = np.random.RandomState(0)
    table, arrays = {}, {}
    for split, n in zip(("train", "test"), counts):
        prefix = "train" if split == "train" else "t10k"
        images, labels = rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), rng.randint(0, 10, n).astype(np.uint8)
        arrays[split] = (images, labels)
        for kind, data in (("images", _idx(images, 0x803)), ("labels", _idx(labels, 0x801))):
            name = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
            packed = gzip.compress(data)
            (root / name).write_bytes(packed)
            table[f"{split}_{kind}"] = (name, len(packed), _sha256(packed), None)
    return table, arrays


def test_read_idx_checks_the_structure():
    labels = _idx(np.array([1, 2, 3], np.uint8), 0x801)
    np.testing.assert_array_equal(mnist_full.read_idx(labels, 0x801, 3, "l"), [1, 2, 3])
    with pytest.raises(ValueError, match="magic number 0x00000801, expected 0x00000803"):
        mnist_full.read_idx(labels, 0x803, None, "l")
    with pytest.raises(ValueError, match="3 items, expected 60000"):
        mnist_full.read_idx(labels, 0x801, 60000, "l")
    with pytest.raises(ValueError, match="2 bytes of data for shape"):
        mnist_full.read_idx(labels[:-1], 0x801, None, "l")
    with pytest.raises(ValueError, match="label 12 out of 0-9"):
        mnist_full.read_idx(_idx(np.array([12], np.uint8), 0x801), 0x801, 1, "l")
    with pytest.raises(ValueError, match="5x28 pixels"):
        mnist_full.read_idx(_idx(np.zeros((1, 5, 28), np.uint8), 0x803), 0x803, 1, "i")


def test_load_mnist_from_mirrors(server, dead_url, tmp_path, monkeypatch):
    root, base = server
    table, arrays = _fake_mnist(root)
    remote = mnist_full.mnist_remote_files([dead_url, base], table)
    with pytest.raises(ValueError, match="6 items, expected 60000"):  # the real counts are checked
        mnist_full.load_mnist(tmp_path / "cache", remote, progress=False)
    monkeypatch.setattr(mnist_full, "MNIST_COUNTS", {"train": 6, "test": 4})
    (train_x, train_y), (test_x, test_y) = mnist_full.load_mnist(tmp_path / "cache", remote, progress=False)
    np.testing.assert_array_equal(train_x, arrays["train"][0])
    np.testing.assert_array_equal(test_y, arrays["test"][1])


def test_nnl_dataset_mnist_full(server, dead_url, tmp_path, monkeypatch, capsys):
    root, base = server
    table, arrays = _fake_mnist(root)
    monkeypatch.setattr(mnist_full, "MNIST_FILES", table)
    monkeypatch.setattr(mnist_full, "MNIST_MIRRORS", (dead_url, base))
    monkeypatch.setattr(mnist_full, "MNIST_COUNTS", {"train": 6, "test": 4})
    monkeypatch.setenv("NNL_DATA_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    assert cli(["dataset", "mnist", "--full", "-o", str(out)]) == 0
    assert sorted(os.listdir(tmp_path / "home")) == sorted(name for name, *_ in table.values())
    for split, csv_name in (("train", "mnist_training.csv"), ("test", "mnist_test.csv")):
        rows = _csv_rows(out / csv_name)
        images, labels = arrays[split]
        assert rows[0] == ["x:image", "y:label"] and len(rows) == len(labels) + 1
        for (path, label), image, expected in zip(rows[1:], images, labels):
            assert int(label) == expected
            np.testing.assert_array_equal(imread(str(out / path)), image)


def test_nnl_dataset_mnist_full_offline(dead_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mnist_full, "MNIST_MIRRORS", (dead_url, dead_url + "other/"))
    monkeypatch.setenv("NNL_DATA_HOME", str(tmp_path / "home"))
    assert cli(["dataset", "mnist", "--full", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "could not download train-images-idx3-ubyte.gz" in err
    assert dead_url + "train-images-idx3-ubyte.gz" in err and dead_url + "other/train-images-idx3-ubyte.gz" in err


def test_mnist_checksums_are_the_published_ones():
    assert mnist_full.MNIST_FILES["train_images"][2] == \
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    assert len(mnist_full.MNIST_MIRRORS) >= 2 and cifar10.CIFAR10_FILE.md5 == "c58f30108f718f92721af3b95e74349a"


# ----------------------------------------------------------------------------------------------------------------
# CIFAR-10 from a fake python-version tarball


def _fake_cifar(path, per_batch=2, test=3):
    rng = np.random.RandomState(1)
    batches = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            n = test if name == "test_batch" else per_batch
            data = rng.randint(0, 256, (n, 3072)).astype(np.uint8)
            labels = [int(v) for v in rng.randint(0, 10, n)]
            batches[name] = (data, labels)
            # bytes keys, as the original Python 2 pickles load with encoding="bytes"
            blob = pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    path.write_bytes(buffer.getvalue())
    return batches


def test_nnl_dataset_cifar10(server, dead_url, tmp_path, monkeypatch):
    root, base = server
    batches = _fake_cifar(root / "cifar-10-python.tar.gz")
    packed = (root / "cifar-10-python.tar.gz").read_bytes()
    remote = RemoteFile("cifar-10-python.tar.gz", (dead_url + "c.tgz", base + "cifar-10-python.tar.gz"),
                        md5=hashlib.md5(packed).hexdigest())  # md5 only, as the CIFAR page publishes
    monkeypatch.setattr(cifar10, "CIFAR10_FILE", remote)
    monkeypatch.setattr(cifar10, "CIFAR10_COUNTS", (10, 3))
    monkeypatch.setenv("NNL_DATA_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    assert cli(["dataset", "cifar10", "-o", str(out)]) == 0
    rows = _csv_rows(out / "cifar10_training.csv")[1:]
    assert len(rows) == 10 and len(_csv_rows(out / "cifar10_test.csv")) == 4
    data, labels = batches["data_batch_2"]
    path, label = rows[2]  # first image of the second batch
    assert int(label) == labels[0]
    image = imread(str(out / path))
    assert image.shape == (32, 32, 3)
    np.testing.assert_array_equal(image[..., 0], data[0, :1024].reshape(32, 32))  # red plane
    np.testing.assert_array_equal(image[..., 2], data[0, 2048:].reshape(32, 32))  # blue plane
    assert (out / "labels.txt").read_text().splitlines()[0] == "airplane"


def test_cifar10_archive_refuses_code_in_pickles(tmp_path):
    blob = pickle.dumps(partial(print, "pwned"), protocol=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(blob)
        archive.addfile(info, io.BytesIO(blob))
    (tmp_path / "bad.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="refusing to load functools.partial"):
        cifar10.read_cifar10_archive(tmp_path / "bad.tar.gz")


# ----------------------------------------------------------------------------------------------------------------
# image folders


@pytest.fixture
def image_folder(tmp_path):
    """src/cat: 3 RGB images 20x10 (w x h), src/dog: 2 gray 12x12, src/empty: no images, src/notes.txt."""
    src = tmp_path / "src"
    rng = np.random.RandomState(2)
    (src / "cat").mkdir(parents=True)
    (src / "dog").mkdir()
    (src / "empty").mkdir()
    (src / "empty" / "readme.txt").write_text("no images")
    (src / "notes.txt").write_text("not a class")
    for i in range(3):
        imsave(str(src / "cat" / f"c{i}.png"), rng.randint(0, 256, (10, 20, 3)).astype(np.uint8))
    for i in range(2):
        imsave(str(src / "dog" / f"d{i}.bmp"), rng.randint(0, 256, (12, 12)).astype(np.uint8))
    return src


def test_fit_image_trimming_and_padding():
    image = np.arange(10 * 20, dtype=np.uint8).reshape(10, 20)  # wide
    np.testing.assert_array_equal(fit_image(image, 10, 10, "trimming"), image[:, 5:15])
    padded = fit_image(np.full((10, 20), 200, np.uint8), 20, 20, "padding")
    assert padded.shape == (20, 20) and (padded[:5] == 0).all() and (padded[5:15] == 200).all()
    tall = fit_image(np.full((20, 10, 3), 9, np.uint8), 10, 10, "padding")
    assert tall.shape == (10, 10, 3) and (tall[:, :2] == 0).all() and (tall[:, 3:7] == 9).all()


def test_nnl_dataset_image_folder(image_folder, tmp_path):
    out = tmp_path / "out"
    argv = ["dataset", "image-folder", str(image_folder), "-o", str(out), "-c", "1", "-w", "10", "-g", "10",
            "-m", "trimming", "-s", "true", "--seed", "3", "-f1", "train.csv", "-r1", "60", "-f2", "test.csv",
            "-r2", "40"]
    assert cli(argv) == 0
    train, test = _csv_rows(out / "train.csv"), _csv_rows(out / "test.csv")
    assert train[0] == test[0] == ["x:image", "y:label"]
    assert len(train) == 1 + 3 and len(test) == 1 + 2  # 5 * 60 // 100 = 3
    rows = train[1:] + test[1:]
    assert sorted(rows) == sorted([[f"./cat/c{i}.png", "0"] for i in range(3)] +
                                  [[f"./dog/d{i}.png", "1"] for i in range(2)])
    for path, _ in rows:
        assert imread(str(out / path)).shape == (10, 10)
    # trimming keeps the centre of the 20x10 image; gray = 0.299 R + 0.587 G + 0.114 B
    source = imread(str(image_folder / "cat" / "c0.png"))[:, 5:15]
    expected = np.dot(source.astype(np.float64), [0.299, 0.587, 0.114]).astype(np.uint8)
    np.testing.assert_array_equal(imread(str(out / "cat" / "c0.png")), expected)
    # the same seed gives the same order
    assert cli(argv[:4] + [str(tmp_path / "again")] + argv[5:]) == 0
    assert _csv_rows(tmp_path / "again" / "train.csv") == train


def test_create_image_classification_dataset_alias(image_folder, tmp_path):
    out = tmp_path / "out"
    (image_folder / "dog" / "broken.png").write_bytes(b"not a png")
    assert cli(["create_image_classification_dataset", "-i", str(image_folder), "-o", str(out), "-c", "3",
                "-w", "8", "-g", "6", "-m", "padding", "-s", "false", "-f1", "all.csv"]) == 0
    rows = _csv_rows(out / "all.csv")[1:]
    assert [r[0] for r in rows] == ["./cat/c0.png", "./cat/c1.png", "./cat/c2.png", "./dog/d0.png", "./dog/d1.png"]
    assert imread(str(out / "dog" / "d0.png")).shape == (6, 8, 3)  # gray -> RGB, 12x12 padded to 4:3


def test_image_folder_errors(image_folder, tmp_path, capsys):
    base = ["dataset", "image-folder"]
    assert cli(base + [str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    assert cli(base + [str(tmp_path / "flat"), "-o", str(tmp_path / "o")]) == 2
    assert "has no sub-folders" in capsys.readouterr().err
    (image_folder / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    assert cli(base + [str(image_folder), "-o", str(tmp_path / "o"), "-w", "4", "-g", "4"]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "--skip-unreadable" in err
    assert cli(base + [str(image_folder), "-o", str(image_folder), "-w", "4", "-g", "4"]) == 2
    assert "is the source folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# conv_dataset


def test_conv_dataset(tmp_path, capsys):
    from nnl.data.csv_datasets import write_image_classification_csv
    from nnl.utils.data_source_implements import CacheDataSource

    images = [np.full((4, 4), 10 * i, np.uint8) for i in range(5)]
    source = write_image_classification_csv(str(tmp_path), "d.csv", "train", images, [0, 1, 0, 1, 2])
    dest = tmp_path / "d.cache"
    assert cli(["conv_dataset", source, str(dest), "-N"]) == 0
    assert "Number of Data: 5" in capsys.readouterr().out
    with CacheDataSource(str(dest)) as cached:
        assert cached.variables == ("x", "y") or list(cached.variables) == ["x", "y"]
        x, y = cached.next()
        assert x.dtype == np.float32 and x.shape == (1, 4, 4) and float(y[0]) == 0.0
    assert cli(["conv_dataset", source, str(dest)]) == 2
    assert "use -F" in capsys.readouterr().err
    assert cli(["conv_dataset", source, str(dest), "-F"]) == 0
    assert cli(["conv_dataset", str(dest), str(tmp_path / "copy.cache")]) == 0  # cache -> cache
    with CacheDataSource(str(tmp_path / "copy.cache")) as copied:
        assert copied.size == 5
    assert cli(["conv_dataset", str(tmp_path / "nope.csv"), str(tmp_path / "x.cache")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_write_image_dataset_matches_the_subset_writer(tmp_path):
    from nnl.data.csv_datasets import write_image_classification_csv, write_image_dataset

    images = np.random.RandomState(4).randint(0, 256, (6, 5, 5, 3)).astype(np.uint8)
    labels = [3, 1, 3, 0, 9, 1]
    a = write_image_classification_csv(str(tmp_path / "a"), "d.csv", "training", images, labels)
    b = write_image_dataset(str(tmp_path / "b"), "d.csv", "training", images, labels, progress=False)
    assert _csv_rows(a) == _csv_rows(b)
    for path, _ in _csv_rows(a)[1:]:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
