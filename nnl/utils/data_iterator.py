"""Mini-batches from a data source (nnabla's ``nnabla.utils.data_iterator``).

:class:`DataIterator` stacks ``batch_size`` examples of a :class:`~nnl.utils.data_source.DataSource` into one array
per variable. Epochs run into each other: a batch that reaches the end of the data is completed from the start of
the next epoch (10 examples, batch 4: ``[0..3] [4..7] [8 9 0 1] [2..5]``), unless ``stop_exhausted=True``, which
drops the incomplete batch and raises StopIteration (one epoch, usable in a ``for`` loop). With ``use_thread`` a
background thread prepares the next batch while the caller works on the current one.

>>> import numpy as np
>>> di = data_iterator_simple(lambda i: (np.full((2,), i), np.array([i % 3])), 10, batch_size=4, use_thread=False)
>>> [di.next()[0][:, 0].tolist() for _ in range(3)], di.epoch, di.position
([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]], 1, 2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from nnl.utils.data_source import (
    DataSource,
    DataSourceWithFileCache,
    DataSourceWithMemoryCache,
    SlicedDataSource,
)
from nnl.utils.data_source_implements import CacheDataSource, ConcatDataSource, CsvDataSource, SimpleDataSource

__all__ = ["DataIterator", "data_iterator", "data_iterator_simple", "data_iterator_csv_dataset",
           "data_iterator_cache", "data_iterator_concat_datasets"]

Callback = Callable[[int], Any]
_Batch = tuple[tuple[np.ndarray, ...], int, int]  # arrays, epochs ended within the batch, position after it


class DataIterator:
    """Yields tuples of batch arrays (one per name in ``variables``, examples stacked on axis 0) from
    ``data_source``.

    ``epoch_begin_callbacks``/``epoch_end_callbacks`` are called with the epoch index (in the caller's thread)
    when a returned batch crosses an epoch end. Use it as a context manager, or call ``close()``.
    """

    def __init__(self, data_source: DataSource, batch_size: int, rng: np.random.RandomState | None = None,
                 use_thread: bool = True, epoch_begin_callbacks: Sequence[Callback] = (),
                 epoch_end_callbacks: Sequence[Callback] = (), stop_exhausted: bool = False) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"DataIterator: batch_size must be at least 1, got {batch_size}.")
        if data_source.size < 1:
            raise ValueError(f"DataIterator: the data source {type(data_source).__name__} has no examples.")
        self._rng = rng if rng is not None else np.random.RandomState(313)
        self._data_source = data_source
        self._shuffle = data_source.shuffle
        self._variables = data_source.variables
        self._batch_size = int(batch_size)
        self._size = data_source.size
        self._stop_exhausted = stop_exhausted
        self._epoch_begin_callbacks = list(epoch_begin_callbacks)
        self._epoch_end_callbacks = list(epoch_end_callbacks)
        self._current_epoch = 0
        self._closed = False
        self._exhausted = False
        self._data_source.reset()
        self._position = self._data_source.position
        self._use_thread = use_thread
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[_Batch | None] | None = None
        if use_thread:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="nnl-data-iterator")
            self._pending = self._executor.submit(self._make_batch)

    # -- producing batches (in the background thread when use_thread) -------------------------------------------
    def _make_batch(self) -> _Batch | None:
        source = self._data_source
        if self._stop_exhausted and source.position + self._batch_size > self._size:
            return None
        columns: list[list[Any]] = [[] for _ in self._variables]
        epochs_ended = 0
        for _ in range(self._batch_size):
            example = source.next()
            if example is None or len(example) != len(columns):
                got = "None" if example is None else f"{len(example)} values"
                raise ValueError(f"DataIterator: {type(source).__name__} gave {got} at position {source.position - 1}"
                                 f", expected one per variable {tuple(self._variables)}.")
            if source.position >= self._size and not self._stop_exhausted:
                epochs_ended += 1
                source.reset()
            for column, value in zip(columns, example):
                column.append(value)
        if epochs_ended:
            source.apply_order()
        return tuple(self._stack(name, column) for name, column in zip(self._variables, columns)), epochs_ended, \
            source.position

    @staticmethod
    def _stack(name: str, values: list[Any]) -> np.ndarray:
        try:
            return np.array(values)
        except ValueError:
            shapes = sorted({np.shape(v) for v in values})
            raise ValueError(f"DataIterator: the examples of variable {name!r} have different shapes {shapes}; all "
                             "examples of a variable need the same shape.") from None

    # -- the iterator ---------------------------------------------------------------------------------------------
    def next(self) -> tuple[np.ndarray, ...]:
        """The next batch: a tuple of arrays ordered like ``variables``."""
        if self._closed:
            raise RuntimeError("DataIterator.next(): the iterator is closed.")
        if self._exhausted:
            raise StopIteration
        if self._pending is not None:
            result = self._pending.result()
        else:
            result = self._make_batch()
        if result is None:
            self._exhausted = True
            raise StopIteration
        if self._executor is not None:
            self._pending = self._executor.submit(self._make_batch)
        data, epochs_ended, self._position = result
        for _ in range(epochs_ended):
            self._callback_epoch_end()
            self._current_epoch += 1
            self._callback_epoch_begin()
        return data

    def __next__(self) -> tuple[np.ndarray, ...]:
        return self.next()

    def __iter__(self) -> DataIterator:
        return self

    def __enter__(self) -> DataIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self) -> None:
        """Let the background thread finish the batch it is preparing (its result stays pending)."""
        if self._pending is not None:
            self._pending.exception()  # blocks until done; a failure is raised by the next next()

    def close(self) -> None:
        """Stop the background thread and close the data source (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._pending = None
        self._data_source.close()

    def __del__(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)

    # -- properties -----------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Number of epoch ends the returned batches have crossed."""
        return self._current_epoch

    @property
    def position(self) -> int:
        """Position in the current epoch after the last returned batch."""
        return self._position

    @property
    def size(self) -> int:
        """Number of examples in an epoch (the data source's size)."""
        return self._size

    @property
    def variables(self) -> Any:
        """Names of the arrays of a batch, in order."""
        return self._variables

    @property
    def batch_size(self) -> int:
        """Number of examples per batch."""
        return self._batch_size

    # -- callbacks ------------------------------------------------------------------------------------------------
    def _callback_epoch_end(self) -> None:
        for callback in self._epoch_end_callbacks:
            callback(self.epoch)

    def _callback_epoch_begin(self) -> None:
        for callback in self._epoch_begin_callbacks:
            callback(self.epoch)

    def register_epoch_end_callback(self, callback: Callback) -> None:
        """Call ``callback(epoch)`` at each epoch end."""
        self._epoch_end_callbacks.append(callback)

    def register_epoch_begin_callback(self, callback: Callback) -> None:
        """Call ``callback(epoch)`` at each epoch beginning (from the second epoch on)."""
        self._epoch_begin_callbacks.append(callback)

    # -- slicing for data-parallel ranks ----------------------------------------------------------------------------
    def slice(self, rng: np.random.RandomState | None, num_of_slices: int | None = None, slice_pos: int | None = None,
              slice_start: int | None = None, slice_end: int | None = None, cache_dir: str | None = None,
              use_cache: bool = False, drop_last: bool = False) -> DataIterator:
        """An iterator over a part of this iterator's data: the ``slice_pos``-th of ``num_of_slices`` equal parts,
        or positions ``[slice_start, slice_end)``.

        Equal parts have ``ceil(size / num_of_slices)`` examples (the last part is moved back to end at ``size``, so
        parts may overlap a little), or ``floor(size / num_of_slices)`` with ``drop_last`` (the remainder is never
        read). Slices of one iterator read the same order in each epoch, so their parts are disjoint. ``use_cache``
        keeps the slice in memory (or in cache files under ``cache_dir`` or this iterator's cache directory).
        """
        if num_of_slices is not None and slice_pos is not None and slice_start is None and slice_end is None:
            if not 0 <= slice_pos < num_of_slices:
                raise ValueError(f"DataIterator.slice: slice_pos must be in [0, {num_of_slices}), got {slice_pos}.")
            slice_start, slice_end = _slice_range(self._size, num_of_slices, slice_pos, drop_last)
        elif not (num_of_slices is None and slice_pos is None and slice_start is not None and slice_end is not None):
            raise ValueError("DataIterator.slice: give either num_of_slices and slice_pos, or slice_start and "
                             "slice_end.")
        self._wait()
        if cache_dir is None:
            source: Any = self._data_source
            while hasattr(source, "_data_source"):
                if getattr(source, "_cache_dir", None) is not None and not getattr(source, "_tempdir_created", 1):
                    cache_dir = source._cache_dir
                source = source._data_source
        sliced: DataSource = SlicedDataSource(self._data_source, self._data_source.shuffle, slice_start=slice_start,
                                              slice_end=slice_end)
        if use_cache:
            if cache_dir is not None:
                # in a folder of its own, so that it cannot overwrite the index files of the full cache
                prefix = f"cache_sliced_{slice_start:08d}_{slice_end:08d}"
                sliced = DataSourceWithFileCache(sliced, cache_dir=os.path.join(cache_dir, prefix), shuffle=self._shuffle,
                                                 rng=rng, cache_file_name_prefix=prefix)
            sliced = DataSourceWithMemoryCache(sliced, shuffle=self._shuffle, rng=rng)
        return DataIterator(sliced, self._batch_size, use_thread=self._use_thread)


def _slice_range(size: int, n_slices: int, rank: int, drop_last: bool) -> tuple[int, int]:
    if drop_last:
        length = size // n_slices
        if length == 0:
            raise ValueError(f"DataIterator.slice: {size} examples cannot make {n_slices} slices with drop_last.")
        return length * rank, length * (rank + 1)
    length = -(-size // n_slices)
    start = (length * rank) % size
    end = start + length
    if end > size:
        start, end = start - (end - size), size
    return start, end


def data_iterator(data_source: DataSource, batch_size: int, rng: np.random.RandomState | None = None,
                  use_thread: bool = True, with_memory_cache: bool = True, with_file_cache: bool = False,
                  cache_dir: str | None = None, epoch_begin_callbacks: Sequence[Callback] = (),
                  epoch_end_callbacks: Sequence[Callback] = (), stop_exhausted: bool = False) -> DataIterator:
    """A :class:`DataIterator` over ``data_source``, optionally behind a file cache (``with_file_cache``, in
    ``cache_dir`` or a temporary directory) and a memory cache (``with_memory_cache``)."""
    source = data_source
    if with_file_cache:
        source = DataSourceWithFileCache(data_source=source, cache_dir=cache_dir, shuffle=source.shuffle, rng=rng)
    if with_memory_cache:
        source = DataSourceWithMemoryCache(source, shuffle=source.shuffle, rng=rng)
    return DataIterator(source, batch_size, use_thread=use_thread, epoch_begin_callbacks=epoch_begin_callbacks,
                        epoch_end_callbacks=epoch_end_callbacks, stop_exhausted=stop_exhausted)


def data_iterator_simple(load_func: Callable[[int], Any], num_examples: int, batch_size: int, shuffle: bool = False,
                         rng: np.random.RandomState | None = None, use_thread: bool = True,
                         with_memory_cache: bool = False, with_file_cache: bool = False, cache_dir: str | None = None,
                         epoch_begin_callbacks: Sequence[Callback] = (), epoch_end_callbacks: Sequence[Callback] = (),
                         stop_exhausted: bool = False) -> DataIterator:
    """Batches of ``load_func(i)`` (a tuple of arrays; variables ``x0, x1, ...``) for ``i`` in
    ``range(num_examples)``, reshuffled each epoch with ``shuffle``."""
    return data_iterator(SimpleDataSource(load_func, num_examples, shuffle=shuffle, rng=rng), batch_size,
                         use_thread=use_thread, with_memory_cache=with_memory_cache, with_file_cache=with_file_cache,
                         cache_dir=cache_dir, epoch_begin_callbacks=epoch_begin_callbacks,
                         epoch_end_callbacks=epoch_end_callbacks, stop_exhausted=stop_exhausted)


def data_iterator_csv_dataset(uri: str, batch_size: int, shuffle: bool = False,
                              rng: np.random.RandomState | None = None, use_thread: bool = True,
                              normalize: bool = True, with_memory_cache: bool = True, with_file_cache: bool = True,
                              cache_dir: str | None = None, epoch_begin_callbacks: Sequence[Callback] = (),
                              epoch_end_callbacks: Sequence[Callback] = (),
                              stop_exhausted: bool = False) -> DataIterator:
    """Batches from an NNC CSV dataset (see :mod:`nnl.utils.data_source_implements`); ``normalize`` divides image
    values by 255. With ``with_file_cache`` the dataset is converted to cache files first (in ``cache_dir``, where
    an up-to-date cache from an earlier run is reused, or in a temporary directory)."""
    source = CsvDataSource(uri, shuffle=shuffle, rng=rng, normalize=normalize)
    return data_iterator(source, batch_size, use_thread=use_thread, with_memory_cache=with_memory_cache,
                         with_file_cache=with_file_cache, cache_dir=cache_dir,
                         epoch_begin_callbacks=epoch_begin_callbacks, epoch_end_callbacks=epoch_end_callbacks,
                         stop_exhausted=stop_exhausted)


def data_iterator_cache(uri: str, batch_size: int, shuffle: bool = False, rng: np.random.RandomState | None = None,
                        use_thread: bool = True, normalize: bool = True, with_memory_cache: bool = True,
                        epoch_begin_callbacks: Sequence[Callback] = (), epoch_end_callbacks: Sequence[Callback] = (),
                        stop_exhausted: bool = False) -> DataIterator:
    """Batches from a cache directory (``cache_index.csv`` + cache files); ``normalize`` divides uint8 by 255."""
    source = CacheDataSource(uri, shuffle=shuffle, rng=rng, normalize=normalize)
    return data_iterator(source, batch_size, use_thread=use_thread, with_memory_cache=with_memory_cache,
                         epoch_begin_callbacks=epoch_begin_callbacks, epoch_end_callbacks=epoch_end_callbacks,
                         stop_exhausted=stop_exhausted)


def data_iterator_concat_datasets(data_source_list: Sequence[DataSource], batch_size: int, shuffle: bool = False,
                                  rng: np.random.RandomState | None = None, use_thread: bool = True,
                                  with_memory_cache: bool = True, with_file_cache: bool = False,
                                  cache_dir: str | None = None, epoch_begin_callbacks: Sequence[Callback] = (),
                                  epoch_end_callbacks: Sequence[Callback] = (),
                                  stop_exhausted: bool = False) -> DataIterator:
    """Batches from several data sources (same variables) one after another, mixed with ``shuffle``."""
    source = ConcatDataSource(data_source_list, shuffle=shuffle, rng=rng)
    return data_iterator(source, batch_size, use_thread=use_thread, with_memory_cache=with_memory_cache,
                         with_file_cache=with_file_cache, cache_dir=cache_dir,
                         epoch_begin_callbacks=epoch_begin_callbacks, epoch_end_callbacks=epoch_end_callbacks,
                         stop_exhausted=stop_exhausted)
