"""NNC CSV datasets: the header grammar, cell types, normalization, errors naming file/line/column, and the cache
(layout, reuse, rebuild), plus the bundled MNIST subset end to end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnl.utils.create_cache import CreateCache
from nnl.utils.data_iterator import data_iterator_cache, data_iterator_csv_dataset
from nnl.utils.data_source import _DEFAULTS
from nnl.utils.data_source_implements import CacheDataSource, CsvDataSource


@pytest.fixture
def data_config(monkeypatch: pytest.MonkeyPatch):
    """Set a [DATA_ITERATOR] value for one test (in nnl.config when it exists, else in the defaults)."""
    try:
        from nnl.config import nnabla_config  # type: ignore[import-not-found]
    except ImportError:
        nnabla_config = None

    def set_value(name: str, value: str) -> None:
        if nnabla_config is not None and nnabla_config.has_section("DATA_ITERATOR"):
            old = nnabla_config.get("DATA_ITERATOR", name, fallback=None)
            nnabla_config.set("DATA_ITERATOR", name, value)
            restore.append((name, old))
        monkeypatch.setitem(_DEFAULTS, name, value)

    restore: list[tuple[str, str | None]] = []
    yield set_value
    for name, old in reversed(restore):
        if old is None:
            nnabla_config.remove_option("DATA_ITERATOR", name)
        else:
            nnabla_config.set("DATA_ITERATOR", name, old)


def _png(path: Path, value: int, shape: tuple[int, ...] = (3, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def _dataset(root: Path, n: int = 7, header: str = "x:image,y:label") -> str:
    rows = [header]
    for i in range(n):
        _png(root / "images" / f"{i}.png", 10 * i)
        rows.append(f"./images/{i}.png,{i}")
    (root / "d.csv").write_text("\n".join(rows) + "\n")
    return str(root / "d.csv")


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _error(csv_file: str, position: int = 0) -> str:
    with pytest.raises(ValueError) as info:
        CsvDataSource(csv_file)._get_data(position)
    return str(info.value)


# -- format ------------------------------------------------------------------------------------------------------


def test_images_and_labels(tmp_path: Path) -> None:
    csv_file = _dataset(tmp_path)
    source = CsvDataSource(csv_file, normalize=False)
    assert source.variables == ("x", "y") and source.size == 7
    x, y = source._get_data(2)
    assert x.shape == (1, 3, 4) and x.dtype == np.uint8 and (x == 20).all()
    assert y.shape == (1,) and y.dtype == np.float32 and y[0] == 2
    x, _ = CsvDataSource(csv_file, normalize=True)._get_data(2)
    assert x.dtype == np.float32 and np.allclose(x, 20 / 255)


def test_color_16_bit_and_other_cells(tmp_path: Path) -> None:
    _png(tmp_path / "c.png", 7, (3, 4, 3))
    Image.fromarray(np.full((2, 2), 40000, np.uint16)).save(tmp_path / "g16.png")
    np.savetxt(tmp_path / "m.csv", np.arange(6).reshape(2, 3), delimiter=",")
    np.save(tmp_path / "a.npy", np.arange(4, dtype=np.int16).reshape(2, 2))
    import scipy.io.wavfile

    scipy.io.wavfile.write(tmp_path / "s.wav", 8000, np.array([[1, -1], [2, -2], [3, -3]], np.int16))
    csv_file = _write(tmp_path / "d.csv", "c,g,m,a,s\nc.png,g16.png,m.csv,a.npy,s.wav\n")
    c, g, m, a, s = CsvDataSource(csv_file, normalize=False)._get_data(0)
    assert c.shape == (3, 3, 4) and (c == 7).all()
    assert g.dtype == np.uint16 and (g == 40000).all() and g.shape == (1, 2, 2)
    assert m.dtype == np.float32 and m.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert a.dtype == np.int16 and a.shape == (2, 2)
    assert s.dtype == np.float32 and s.tolist() == [[1, -1], [2, -2], [3, -3]]
    _, g, *_ = CsvDataSource(csv_file, normalize=True)._get_data(0)
    assert np.allclose(g, 40000 / 65535)


def test_header_grammar_vectors_and_comments(tmp_path: Path) -> None:
    csv_file = _write(tmp_path / "d.csv", "#id,x__1:b,x__0:a,#note,y:label\n7,2.5,1.5,hello,3\n8,4,3,,1\n")
    source = CsvDataSource(csv_file)
    assert source.variables == ("x", "y")
    x, y = source._get_data(1)
    assert x.tolist() == [3, 4] and x.dtype == np.float32 and y.tolist() == [1]
    assert source._variables_dict["x"] == [{"label": "a", "value": None}, {"label": "b", "value": None}]


def test_paths_relative_absolute_and_backslashes(tmp_path: Path) -> None:
    _png(tmp_path / "sub" / "a.png", 1)
    _png(tmp_path / "abs.png", 2)
    csv_file = _write(tmp_path / "d.csv", f"x\nsub\\a.png\n{tmp_path / 'abs.png'}\n\n")
    source = CsvDataSource(csv_file, normalize=False)
    assert source.size == 2  # the blank line is skipped
    assert source._get_data(0)[0].max() == 1 and source._get_data(1)[0].max() == 2


def test_bom_and_quoted_cells(tmp_path: Path) -> None:
    _png(tmp_path / "a, b.png", 5)
    csv_file = tmp_path / "d.csv"
    csv_file.write_bytes('\ufeffx:image,y\n"a, b.png",1\n'.encode())
    x, y = CsvDataSource(str(csv_file), normalize=False)._get_data(0)
    assert x.max() == 5 and y[0] == 1


# -- errors ------------------------------------------------------------------------------------------------------


def test_missing_file_names_csv_line_and_column(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 1)
    csv_file = _write(tmp_path / "d.csv", "y,x:image\n0,a.png\n1,nope.png\n")
    message = _error(csv_file, 1)
    assert "d.csv: line 3, column 2 ('x:image')" in message and "nope.png" in message and "does not exist" in message


def test_spaces_around_a_path_are_pointed_out(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 1)
    assert "leading or trailing spaces" in _error(_write(tmp_path / "d.csv", "y,x\n0, a.png\n"))


@pytest.mark.parametrize(("header", "expected"), [
    ("x,,y", "line 1, column 2 (''): malformed header"),
    ("x,:label", "line 1, column 2 (':label'): malformed header"),
    ("x__a,y", "line 1, column 1 ('x__a'): malformed header; the element index"),
    ("x,x", "line 1, column 2 ('x'): malformed header; variable 'x' already has column 1"),
    ("x__0,x", "line 1, column 2 ('x'): malformed header"),
    ("x__0,x__0", "line 1, column 2 ('x__0'): malformed header; element 0 of 'x' appears twice"),
    ("x__0,x__2", "element(s) [1] are missing"),
    ("#a,#b", "the header names no variables"),
])
def test_malformed_headers(tmp_path: Path, header: str, expected: str) -> None:
    csv_file = _write(tmp_path / "d.csv", header + "\n" + ",".join("1" * (header.count(",") + 1)) + "\n")
    with pytest.raises(ValueError, match="d.csv: ") as info:
        CsvDataSource(csv_file)
    assert expected in str(info.value)


def test_rows_with_the_wrong_number_of_cells(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"d.csv: line 3: 1 cells, but the header has 2 columns \(column 2 \('y'\)"):
        CsvDataSource(_write(tmp_path / "d.csv", "x,y\n1,2\n3\n"))
    with pytest.raises(ValueError, match=r"d.csv: line 2: 3 cells.*column 3 and after have no header"):
        CsvDataSource(_write(tmp_path / "d.csv", "x,y\n1,2,3\n"))
    with pytest.raises(ValueError, match="the file is empty"):
        CsvDataSource(_write(tmp_path / "d.csv", ""))


def test_image_of_another_size(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 1)
    _png(tmp_path / "b.png", 1, (5, 5))
    csv_file = _write(tmp_path / "d.csv", "y,x:image\n0,a.png\n1,b.png\n")
    source = CsvDataSource(csv_file)
    source._get_data(0)
    with pytest.raises(ValueError) as info:
        source._get_data(1)
    message = str(info.value)
    assert "d.csv: line 3, column 2 ('x:image')" in message and "(1, 5, 5)" in message and "line 2" in message


def test_unsupported_and_unreadable_cells(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert "line 2, column 1 ('x')" in _error(_write(tmp_path / "d.csv", "x\nlabel.txt\n"))
    assert "neither a number nor a file" in _error(_write(tmp_path / "d.csv", "x\nlabel.txt\n"))
    assert "cannot load" in _error(_write(tmp_path / "d.csv", "x\nbad.png\n"))
    assert "the cell is empty" in _error(_write(tmp_path / "d.csv", "x,y\n,1\n"))


def test_errors_reach_the_iterator(tmp_path: Path) -> None:
    csv_file = _write(tmp_path / "d.csv", "x\nmissing.png\n")
    with pytest.raises(ValueError, match="line 2, column 1"):
        data_iterator_csv_dataset(csv_file, 1, with_file_cache=True)
    di = data_iterator_csv_dataset(csv_file, 1, with_file_cache=False, with_memory_cache=False)
    with pytest.raises(ValueError, match="line 2, column 1"):
        di.next()
    di.close()


# -- iterators and caches ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_cache", [False, True])
def test_csv_iterator(tmp_path: Path, file_cache: bool) -> None:
    with data_iterator_csv_dataset(_dataset(tmp_path), 3, with_file_cache=file_cache) as di:
        x, y = di.next()
        assert di.variables == ("x", "y") and x.shape == (3, 1, 3, 4) and y.shape == (3, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert np.allclose(x[:, 0, 0, 0] * 255, y[:, 0] * 10)


def _sequence(csv_file: str, **kw: object) -> list[list[float]]:
    with data_iterator_csv_dataset(csv_file, 3, shuffle=True, rng=np.random.RandomState(5), use_thread=False,
                                   **kw) as di:
        return [di.next()[1][:, 0].tolist() for _ in range(10)]


def test_the_file_cache_does_not_change_the_sequence(tmp_path: Path) -> None:
    csv_file = _dataset(tmp_path)
    assert _sequence(csv_file, with_file_cache=True) == _sequence(csv_file, with_file_cache=False)


@pytest.mark.parametrize("file_format", [".npy", ".h5"])
def test_cache_layout_reuse_and_rebuild(tmp_path: Path, data_config, file_format: str) -> None:
    data_config("cache_file_format", file_format)
    data_config("data_source_file_cache_size", "3")
    csv_file = _dataset(tmp_path)
    cache = tmp_path / "cache"
    first = _sequence(csv_file, cache_dir=str(cache))
    names = sorted(os.listdir(cache))
    chunks = [f"cache_00000000_00000002{file_format}", f"cache_00000003_00000005{file_format}",
              f"cache_00000006_00000006{file_format}"]
    assert set(chunks + ["cache_index.csv", "order.csv", "original.csv"]) <= set(names)
    assert ("cache_info.csv" in names) == (file_format == ".npy")
    assert (cache / "cache_index.csv").read_text().splitlines() == [f"{c},{n}" for c, n in zip(chunks, [3, 3, 1])]
    assert (cache / "original.csv").read_text() == Path(csv_file).read_text()
    order = [row.split(",") for row in (cache / "order.csv").read_text().splitlines()]
    assert [int(a) for a, _ in order] == list(range(7)) and sorted(int(b) for _, b in order) == list(range(7))

    def stamps() -> list[int]:
        return [os.stat(cache / c).st_mtime_ns for c in chunks]

    before = stamps()
    time.sleep(0.01)
    assert _sequence(csv_file, cache_dir=str(cache)) == first
    assert stamps() == before  # reused
    image = tmp_path / "images" / "4.png"
    os.utime(image, ns=(time.time_ns(), time.time_ns() + 10**9))  # a file the CSV names is newer
    assert _sequence(csv_file, cache_dir=str(cache)) == first
    assert stamps() != before  # rebuilt
    rebuilt = stamps()
    Path(csv_file).write_text(Path(csv_file).read_text().replace("./images/6.png,6", "./images/6.png,60"))
    changed = _sequence(csv_file, cache_dir=str(cache))
    assert stamps() != rebuilt and 60 in sum(changed, []) and 6 not in sum(changed, [])


def test_cache_rebuilt_when_normalization_changes(tmp_path: Path) -> None:
    csv_file, cache = _dataset(tmp_path), str(tmp_path / "cache")
    with data_iterator_csv_dataset(csv_file, 2, cache_dir=cache, normalize=False) as di:
        assert di.next()[0].dtype == np.uint8
    with data_iterator_csv_dataset(csv_file, 2, cache_dir=cache, normalize=True) as di:
        assert di.next()[0].dtype == np.float32


def test_temporary_cache_is_removed_on_close(tmp_path: Path) -> None:
    di = data_iterator_csv_dataset(_dataset(tmp_path), 2)
    cache_dir = di._data_source._data_source._cache_dir
    assert os.path.isdir(cache_dir)
    di.close()
    assert not os.path.exists(cache_dir)


@pytest.mark.parametrize("shuffle", [False, True])
def test_create_cache_and_read_it_back(tmp_path: Path, data_config, shuffle: bool) -> None:
    data_config("data_source_file_cache_size", "2")
    csv_file, cache = _dataset(tmp_path), str(tmp_path / "cache")
    creator = CreateCache(csv_file, shuffle=shuffle, num_of_threads=2)
    assert not creator.is_cache_current(cache, normalize=False)
    creator.create(cache, normalize=False)
    assert creator.is_cache_current(cache, normalize=False) and not creator.is_cache_current(cache, normalize=True)
    order = [int(row.split(",")[1]) for row in Path(cache, "order.csv").read_text().splitlines()]
    assert (order != list(range(7))) == shuffle
    source = CacheDataSource(cache)
    assert source.size == 7 and list(source.variables) == ["x", "y"]
    for position in range(7):
        x, y = source.next()
        assert x.dtype == np.uint8 and x.max() == 10 * order[position] and y[0] == order[position]
    with data_iterator_cache(cache, 7, normalize=True) as di:
        x, y = di.next()
        assert x.dtype == np.float32 and np.allclose(x.max(axis=(1, 2, 3)) * 255, 10 * y[:, 0])
    os.utime(tmp_path / "images" / "0.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    assert not CreateCache(csv_file, shuffle=shuffle).is_cache_current(cache, normalize=False)


def test_mnist_subset_end_to_end(tmp_path: Path) -> None:
    from nnl.data import load_mnist5k
    from nnl.data.csv_datasets import write_image_classification_csv

    (images, labels), _ = load_mnist5k()
    csv_file = write_image_classification_csv(str(tmp_path), "mnist_training.csv", "training", images, labels)
    with data_iterator_csv_dataset(csv_file, 100, shuffle=True, rng=np.random.RandomState(0)) as di:
        assert di.size == 4000 and di.variables == ("x", "y")
        seen = []
        for _ in range(40):
            x, y = di.next()
            assert x.shape == (100, 1, 28, 28) and y.shape == (100, 1) and x.dtype == np.float32
            pixels = np.rint(x[:, 0] * 255).astype(np.uint8)
            rows = [int(np.flatnonzero((images == p).all(axis=(1, 2)))[0]) for p in pixels[:5]]
            assert [int(labels[r]) for r in rows] == y[:5, 0].astype(int).tolist()
            seen.append(y[:, 0])
        assert di.epoch == 1 and di.position == 0
    assert np.bincount(np.concatenate(seen).astype(int)).tolist() == np.bincount(labels).tolist()


@pytest.mark.parametrize("shuffle", [False, True])
def test_file_cache_of_a_cache_records_rows_of_the_original_csv(tmp_path: Path, data_config, shuffle: bool) -> None:
    """A cache made from a (shuffled) cache: its order.csv maps each example to its row of the same original.csv."""
    from nnl.cli.main import main as cli
    from nnl.utils.data_source import DataSourceWithFileCache

    data_config("data_source_file_cache_size", "3")
    csv_file, first = _dataset(tmp_path, n=8), tmp_path / "first.cache"
    CreateCache(csv_file, shuffle=True, rng=np.random.RandomState(2)).create(str(first), normalize=False)
    second = tmp_path / "second.cache"
    flags = ["-S"] if shuffle else []
    assert cli(["conv_dataset", str(first), str(second), *flags]) == 0
    third = tmp_path / "third"  # the API directly, with its own shuffled source
    with DataSourceWithFileCache(CacheDataSource(str(second), shuffle=True, rng=np.random.RandomState(7)),
                                 cache_dir=str(third)):
        pass
    orders = {}
    for cache in (first, second, third):
        assert (cache / "original.csv").read_text() == Path(csv_file).read_text()
        rows = [[int(v) for v in line.split(",")] for line in (cache / "order.csv").read_text().splitlines()]
        assert [a for a, _ in rows] == list(range(8)) and sorted(b for _, b in rows) == list(range(8))
        orders[cache] = [b for _, b in rows]
        with CacheDataSource(str(cache)) as source:
            for position in range(8):
                x, y = source.next()
                assert y[0] == orders[cache][position] and x.max() == 10 * orders[cache][position]
    assert orders[first] != list(range(8))
    assert (orders[second] == orders[first]) == (not shuffle)
    assert orders[third] != orders[second]
