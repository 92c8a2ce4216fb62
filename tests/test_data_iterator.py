"""DataIterator and the data sources: epochs, shuffling, slicing, prefetching, callbacks, errors (nnabla's
semantics; the batch sequences were checked against nnabla 1.39)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from nnl.utils.data_iterator import (
    DataIterator,
    data_iterator,
    data_iterator_concat_datasets,
    data_iterator_csv_dataset,
    data_iterator_simple,
)
from nnl.utils.data_source import DataSource, DataSourceWithMemoryCache, SlicedDataSource
from nnl.utils.data_source_implements import ConcatDataSource, SimpleDataSource


def _load(i: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((2, 3), i, np.float32), np.array([i])


def _indices(batch: tuple[np.ndarray, ...]) -> list[int]:
    return batch[1][:, 0].tolist()


def _run(di: DataIterator, n: int) -> list[list[int]]:
    return [_indices(di.next()) for _ in range(n)]


@pytest.mark.parametrize("use_thread", [False, True])
def test_epochs_wrap_around(use_thread: bool) -> None:
    with data_iterator_simple(_load, 10, 4, use_thread=use_thread) as di:
        assert di.variables == ["x0", "x1"] and di.size == 10 and di.batch_size == 4
        x, y = di.next()
        assert x.shape == (4, 2, 3) and y.shape == (4, 1)
        assert _indices((x, y)) == [0, 1, 2, 3] and (di.epoch, di.position) == (0, 4)
        assert _indices(di.next()) == [4, 5, 6, 7]
        assert _indices(di.next()) == [8, 9, 0, 1] and (di.epoch, di.position) == (1, 2)
        assert _indices(di.next()) == [2, 3, 4, 5]


def test_batch_larger_than_data_crosses_several_epochs() -> None:
    ends: list[int] = []
    with data_iterator_simple(_load, 3, 7, use_thread=False, epoch_end_callbacks=[ends.append]) as di:
        assert _indices(di.next()) == [0, 1, 2, 0, 1, 2, 0]
        assert di.epoch == 2 and ends == [0, 1]


@pytest.mark.parametrize("use_thread", [False, True])
def test_stop_exhausted_gives_one_epoch_of_full_batches(use_thread: bool) -> None:
    with data_iterator_simple(_load, 10, 4, use_thread=use_thread, stop_exhausted=True) as di:
        assert [_indices(b) for b in di] == [[0, 1, 2, 3], [4, 5, 6, 7]]
        with pytest.raises(StopIteration):
            di.next()


def test_callbacks_run_in_the_callers_thread_in_order() -> None:
    calls: list[tuple[str, int, int]] = []
    main = threading.get_ident()

    def begin(epoch: int) -> None:
        calls.append(("begin", epoch, threading.get_ident()))

    def end(epoch: int) -> None:
        calls.append(("end", epoch, threading.get_ident()))

    with data_iterator_simple(_load, 5, 2, epoch_begin_callbacks=[begin]) as di:
        di.register_epoch_end_callback(end)
        _run(di, 5)  # 10 examples: two epoch ends
    assert [(kind, epoch) for kind, epoch, _ in calls] == [("end", 0), ("begin", 1), ("end", 1), ("begin", 2)]
    assert {thread for _, _, thread in calls} == {main}


def test_shuffle_is_deterministic_for_a_given_rng() -> None:
    def sequence(seed: int) -> list[list[int]]:
        with data_iterator_simple(_load, 20, 5, shuffle=True, rng=np.random.RandomState(seed)) as di:
            return _run(di, 12)

    first = sequence(1)
    assert first == sequence(1) and first != sequence(2)
    assert sorted(sum(first[:4], [])) == list(range(20))  # the first epoch is a permutation
    assert sum(first[:4], []) != list(range(20))
    assert sum(first[:4], []) != sum(first[4:8], [])  # reshuffled every epoch


@pytest.mark.parametrize("shuffle", [False, True])
def test_prefetching_gives_the_same_batches(shuffle: bool) -> None:
    sequences = []
    for use_thread in (False, True):
        with data_iterator_simple(_load, 13, 4, shuffle=shuffle, rng=np.random.RandomState(0),
                                  use_thread=use_thread, with_memory_cache=True) as di:
            sequences.append(_run(di, 15))
    assert sequences[0] == sequences[1]


def test_prefetching_overlaps_loading_with_the_caller() -> None:
    loaded: list[int] = []

    def load(i: int) -> tuple[np.ndarray]:
        loaded.append(i)
        return (np.array([i]),)

    with data_iterator_simple(load, 8, 2, use_thread=True) as di:
        di.next()
        deadline = time.monotonic() + 5
        while len(loaded) < 5 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert loaded[1:] == [0, 1, 2, 3]  # the second batch was loaded before anybody asked for it


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("memory_cache", [False, True])
def test_two_slices_see_disjoint_halves_that_cover_the_data(shuffle: bool, memory_cache: bool) -> None:
    with data_iterator_simple(_load, 20, 5, shuffle=shuffle, with_memory_cache=memory_cache) as di:
        ranks = [di.slice(np.random.RandomState(r), num_of_slices=2, slice_pos=r) for r in range(2)]
        assert [r.size for r in ranks] == [10, 10]
        for _epoch in range(3):
            halves = [sum((_indices(r.next()) for _ in range(2)), []) for r in ranks]
            assert not set(halves[0]) & set(halves[1])
            assert sorted(halves[0] + halves[1]) == list(range(20))
        for r in ranks:
            r.close()


def test_slices_of_a_shuffled_csv_dataset_are_disjoint(tmp_path) -> None:
    from PIL import Image

    lines = ["x:image,y"]
    for i in range(12):
        Image.fromarray(np.full((2, 2), i, np.uint8)).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png,{i}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with data_iterator_csv_dataset(str(tmp_path / "d.csv"), 3, shuffle=True, with_file_cache=False) as di:
        ranks = [di.slice(None, 2, r) for r in range(2)]
        for _epoch in range(3):
            halves = [sum((_indices(r.next()) for _ in range(2)), []) for r in ranks]
            assert sorted(halves[0] + halves[1]) == list(range(12))


def test_slice_ranges_follow_nnabla() -> None:
    with data_iterator_simple(_load, 10, 2, use_thread=False) as di:
        def bounds(**kw: object) -> tuple[int, int]:
            source = di.slice(None, **kw)._data_source
            assert isinstance(source, SlicedDataSource)
            return source._slice_start, source._slice_end

        assert [bounds(num_of_slices=3, slice_pos=r) for r in range(3)] == [(0, 4), (4, 8), (6, 10)]
        assert [bounds(num_of_slices=3, slice_pos=r, drop_last=True) for r in range(3)] == [(0, 3), (3, 6), (6, 9)]
        assert bounds(slice_start=2, slice_end=5) == (2, 5)
        with pytest.raises(ValueError, match="num_of_slices and slice_pos"):
            di.slice(None, num_of_slices=2)
        with pytest.raises(ValueError, match="slice_pos"):
            di.slice(None, num_of_slices=2, slice_pos=2)


def test_memory_cache_reads_each_example_once() -> None:
    loads: list[int] = []

    def counted(i: int) -> tuple[np.ndarray]:
        loads.append(i)
        return (np.array([i]),)

    with data_iterator_simple(counted, 6, 4, shuffle=True, with_memory_cache=True, use_thread=False) as di:
        seen = _flat(di, 6)
    assert sorted(set(loads)) == list(range(6)) and len(loads) == 7  # 6 + the SimpleDataSource's probe of index 0
    assert sorted(seen[:6]) == list(range(6))


def _flat(di: DataIterator, n: int) -> list[int]:
    return sum((di.next()[0].ravel().tolist() for _ in range(n)), [])


def test_concat_datasets() -> None:
    a = SimpleDataSource(lambda i: (np.array([i]),), 3)
    b = SimpleDataSource(lambda i: (np.array([10 + i]),), 4)
    with data_iterator_concat_datasets([a, b], 7, use_thread=False) as di:
        assert di.next()[0].ravel().tolist() == [0, 1, 2, 10, 11, 12, 13]
    c = SimpleDataSource(lambda i: (np.array([i]), np.array([i])), 2)
    with pytest.raises(ValueError, match="same variables"):
        ConcatDataSource([a, c])


class _Squares(DataSource):
    """A user-defined source, the way nnabla-examples write theirs."""

    def __init__(self) -> None:
        super().__init__(shuffle=True, rng=np.random.RandomState(0))
        self._size, self._variables = 6, ("x", "y")
        self.reset()

    def _get_data(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        i = self._indices[position]
        return np.array([i], np.float32), np.array([i * i])

    def reset(self) -> None:
        self._indices = self._rng.permutation(self._size)
        super().reset()


def test_user_defined_data_source() -> None:
    with data_iterator(_Squares(), 3, with_memory_cache=False) as di:
        x, y = di.next()
        assert di.variables == ("x", "y") and (x[:, 0] ** 2 == y[:, 0]).all()
        epoch = sorted(x[:, 0].tolist() + di.next()[0][:, 0].tolist())
        assert epoch == list(range(6))


def test_errors_reach_the_caller_through_the_prefetch_thread() -> None:
    def broken(i: int) -> tuple[np.ndarray]:
        if i == 3:
            raise OSError("disk on fire")
        return (np.array([i]),)

    di = data_iterator_simple(broken, 6, 2)
    di.next()
    with pytest.raises(OSError, match="disk on fire"):
        di.next()
    di.close()
    with pytest.raises(RuntimeError, match="closed"):
        di.next()


def test_examples_of_different_shapes_are_named() -> None:
    with data_iterator_simple(lambda i: (np.zeros(i + 1),), 4, 2, use_thread=False) as di:
        with pytest.raises(ValueError, match=r"'x0' have different shapes \[\(1,\), \(2,\)\]"):
            di.next()


def test_memory_cache_passes_through_when_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    import nnl.utils.data_source as data_source

    monkeypatch.setattr(data_source, "config_value", lambda name: "1" if name == "data_source_buffer_max_size"
                        else data_source._DEFAULTS[name])
    cached = DataSourceWithMemoryCache(SimpleDataSource(_load, 4))
    assert not cached._on_memory
    with DataIterator(cached, 3, use_thread=False) as di:
        assert _run(di, 2) == [[0, 1, 2], [3, 0, 1]]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        data_iterator_simple(_load, 4, 0)
    with pytest.raises(ValueError, match="slice_start"):
        SlicedDataSource(SimpleDataSource(_load, 4), slice_start=3, slice_end=9)
