"""Convert an NNC CSV dataset into a cache directory (nnabla's ``nnabla.utils.create_cache``, used by
``nnabla_cli create_cache`` / ``conv_dataset``).

The cache is what :class:`~nnl.utils.data_source_implements.CacheDataSource` and ``data_iterator_cache`` read:
``cache_NNNNNNNN_NNNNNNNN.npy`` (or ``.h5``, from ``[DATA_ITERATOR] cache_file_format``) files of
``data_source_file_cache_size`` examples each, ``cache_index.csv``, ``cache_info.csv``, ``order.csv`` and
``original.csv``; nnl adds ``nnl_cache_stamp.json`` so that :meth:`CreateCache.is_cache_current` can tell whether
the CSV or a file it names changed since.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nnl.logger import logger
from nnl.utils.data_source import (
    DataSource,
    cache_file_name,
    cache_is_current,
    cache_stamp,
    config_value,
    remove_cache,
    write_cache_file,
    write_cache_index,
    write_cache_stamp,
)
from nnl.utils.data_source_implements import CsvDataSource

__all__ = ["CreateCache"]


class CreateCache(CsvDataSource):
    """Reads the local CSV ``input_csv_filename`` (shuffled once with ``rng`` when ``shuffle``) and writes its cache
    with :meth:`create`, loading the files with ``num_of_threads`` threads (default
    ``[DATA_ITERATOR] data_source_file_cache_num_of_threads``)."""

    def __init__(self, input_csv_filename: str, rng: np.random.RandomState | None = None, shuffle: bool = False,
                 num_of_threads: int | None = None) -> None:
        DataSource.__init__(self, shuffle=shuffle, rng=rng)
        self._cache_size = max(1, int(config_value("data_source_file_cache_size")))
        self._normalize = True
        self._read_csv(input_csv_filename)
        self._generation = 0
        self._original_order = list(range(self._size))
        self._order = [int(i) for i in self._rng.permutation(self._size)] if shuffle else list(range(self._size))
        self._num_of_threads = num_of_threads or int(config_value("data_source_file_cache_num_of_threads"))

    def _stamp(self, normalize: bool, cache_file_name_prefix: str) -> dict:
        fingerprint = {**(self._cache_fingerprint() or {}), "normalize": bool(normalize)}
        return cache_stamp(fingerprint, config_value("cache_file_format").strip() or ".npy", self._cache_size,
                           cache_file_name_prefix)

    def is_cache_current(self, output_cache_dirname: str, normalize: bool = True,
                         cache_file_name_prefix: str = "cache") -> bool:
        """Whether ``output_cache_dirname`` holds this dataset's cache as :meth:`create` would write it now (same CSV,
        same files by size and modification time, same order, normalization and cache settings)."""
        return cache_is_current(output_cache_dirname, self._stamp(normalize, cache_file_name_prefix))

    def _save_chunk(self, chunk: tuple[int, list[int]], file_format: str, prefix: str) -> tuple[str, int]:
        end, rows = chunk
        start = end + 1 - len(rows)
        name = os.path.join(self._cache_dir, cache_file_name(prefix, start, end, file_format))
        write_cache_file(name, list(self._variables), [self._row_example(row) for row in rows])
        return name, len(rows)

    def create(self, output_cache_dirname: str, normalize: bool = True, cache_file_name_prefix: str = "cache") -> None:
        """Write the cache into ``output_cache_dirname`` (created if missing; an earlier cache there is replaced).
        ``normalize`` stores images as float32 in [0, 1] instead of their raw integers."""
        self._normalize = normalize
        self._cache_dir = output_cache_dirname
        file_format = config_value("cache_file_format").strip() or ".npy"
        os.makedirs(output_cache_dirname, exist_ok=True)
        remove_cache(output_cache_dirname, cache_file_name_prefix)
        chunks = [(min(start + self._cache_size, self._size) - 1, self._order[start:start + self._cache_size])
                  for start in range(0, self._size, self._cache_size)]
        logger.info(f"Creating the cache of {self._filename} ({self._size} examples) in {output_cache_dirname}")
        with ThreadPoolExecutor(max(1, self._num_of_threads)) as pool:
            entries = list(pool.map(lambda c: self._save_chunk(c, file_format, cache_file_name_prefix), chunks))
        write_cache_index(output_cache_dirname, entries, list(self._variables), file_format,
                          self._original_source_uri, self._original_order, self._order)
        if self._filereader._file_type == "file":
            write_cache_stamp(output_cache_dirname, self._stamp(normalize, cache_file_name_prefix))
