"""Data sources: where a :class:`~nnl.utils.data_iterator.DataIterator` gets its examples (nnabla's
``nnabla.utils.data_source``).

A :class:`DataSource` yields one example (a tuple of arrays, one per name in ``variables``) per position, in the
order of the current epoch; ``reset()`` starts the next epoch (reshuffling when ``shuffle``). The wrappers keep the
examples of another source in memory (:class:`DataSourceWithMemoryCache`) or in cache files
(:class:`DataSourceWithFileCache`), or show a contiguous part of it (:class:`SlicedDataSource`, one per
data-parallel rank).

Sources that several slices share keep their orders by *generation* (one per epoch of the slices), so all slices
read the same order in the same epoch and see disjoint parts of it.
"""

from __future__ import annotations

import configparser
import csv
import glob
import json
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from nnl.logger import logger

__all__ = ["DataSource", "DataSourceWithFileCache", "DataSourceWithFileCacheError", "DataSourceWithMemoryCache",
           "SlicedDataSource"]

# nnabla.conf's [DATA_ITERATOR] defaults (nnl.config.nnabla_config overrides them when it exists)
_DEFAULTS = {
    "cache_file_format": ".npy",
    "data_source_file_cache_num_of_threads": "10",
    "cache_file_cache_num_of_threads": "4",
    "data_source_file_cache_size": "100",
    "data_source_file_cache_location": "",
    "data_source_buffer_max_size": "1073741824",
}
CACHE_STAMP = "nnl_cache_stamp.json"


def config_value(name: str) -> str:
    """The ``[DATA_ITERATOR]`` setting ``name`` from ``nnl.config.nnabla_config`` (nnabla.conf), else its default."""
    try:
        from nnl.config import nnabla_config  # type: ignore[import-not-found]
    except ImportError:
        nnabla_config = None
    if isinstance(nnabla_config, configparser.RawConfigParser) and nnabla_config.has_option("DATA_ITERATOR", name):
        return nnabla_config.get("DATA_ITERATOR", name)
    return _DEFAULTS[name]


class _Generations:
    """Orders by generation number, made on first request by ``make(generation)``; the newest ``keep`` are kept."""

    def __init__(self, make: Callable[[int], Any], keep: int = 15) -> None:
        self._make, self._keep = make, keep
        self._orders: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, generation: int) -> Any:
        with self._lock:
            if generation not in self._orders:
                if self._orders and generation < next(iter(self._orders)):
                    raise ValueError(f"a reader asked for the order of generation {generation}, but only generations "
                                     f"{list(self._orders)} are kept: the slices sharing this data source are more "
                                     f"than {self._keep} epochs apart.")
                self._orders[generation] = self._make(generation)
                while len(self._orders) > self._keep:
                    self._orders.popitem(last=False)
            return self._orders[generation]


class DataSource:
    """Base class: subclasses set ``_size`` and ``_variables`` and implement ``_get_data(position)`` (the example
    at ``position`` of the current epoch's order) and ``reset()`` (start an epoch; call ``super().reset()``).

    ``rng`` (a ``numpy.random.RandomState``, default ``RandomState(313)``) drives the shuffling.
    """

    # True where _get_data_of_generation/_generate_order keep per-generation orders (safe to share between slices)
    _generation_orders = False

    def __init__(self, shuffle: bool = False, rng: np.random.RandomState | None = None) -> None:
        self._rng = rng if rng is not None else np.random.RandomState(313)
        self._variables: Any = None
        self._generation = -1
        self._shuffle = shuffle
        self._position = 0
        self._size = 0
        self._closed = False
        self._order: Any = None
        self._original_order: Any = None
        self._original_source_uri: str | None = None

    def _get_data(self, position: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _get_data(position).")

    def _get_data_of_generation(self, position: int, generation: int) -> Any:
        """The example at ``position`` in the order of ``generation`` (sources without generations: current)."""
        return self._get_data(position)

    def _generate_order(self, generation: int) -> None:
        """Make the order of ``generation`` (keeping older ones) where the source keeps orders by generation."""

    def next(self) -> Any:
        """The example at the current position; the position advances by one."""
        data = self._get_data(self._position)
        self._position += 1
        return data

    def __next__(self) -> Any:
        return self.next()

    def __enter__(self) -> DataSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    @property
    def order(self) -> Any:
        """The current epoch's order (implementation-specific indices), or None."""
        return self._order

    @property
    def variables(self) -> Any:
        """The names of the example's arrays, in order."""
        return self._variables

    @property
    def position(self) -> int:
        """Position in the current epoch."""
        return self._position

    @property
    def size(self) -> int:
        """Number of examples in an epoch."""
        return self._size

    @property
    def shuffle(self) -> bool:
        """Whether each epoch is shuffled."""
        return self._shuffle

    @shuffle.setter
    def shuffle(self, value: bool) -> None:
        self._shuffle = value

    def reset(self) -> None:
        """Start an epoch at position 0."""
        self._position = 0

    def apply_order(self) -> None:
        """Called by the iterator after a batch that crossed an epoch end (sources that reshuffle late use it)."""


# ---------------------------------------------------------------------------------------------------------------
# cache files: cache_NNNNNNNN_NNNNNNNN.npy/.h5 + cache_index.csv, cache_info.csv, order.csv, original.csv


class DataSourceWithFileCacheError(Exception):
    """A file cache that cannot be made (nnabla's name)."""


def cache_file_name(prefix: str, start: int, end: int, file_format: str) -> str:
    """``cache_00000000_00000099.npy``: the first and last position of the examples the file holds."""
    return f"{prefix}_{start:08d}_{end:08d}{file_format}"


def stack_examples(variables: Sequence[str], examples: Sequence[Sequence[Any]], where: str = "") -> dict[str, Any]:
    """Per variable, the examples' values stacked on a new first axis (all must have the same shape)."""
    stacked: dict[str, Any] = {}
    for i, name in enumerate(variables):
        values = [v if isinstance(v, np.ndarray) else np.asarray(v, np.float32) for v in (e[i] for e in examples)]
        shapes = {v.shape for v in values}
        if len(shapes) > 1:
            raise DataSourceWithFileCacheError(f"{where}variable {name!r} has examples of different shapes "
                                               f"{sorted(shapes)}; all examples of a variable need the same shape.")
        stacked[name] = np.stack(values) if values else np.zeros((0,), np.float32)
    return stacked


def write_cache_file(path: str, variables: Sequence[str], examples: Sequence[Sequence[Any]]) -> None:
    """Write ``examples`` to one cache file: ``.h5`` (a dataset per variable) or ``.npy`` (the variables' arrays
    saved one after another, in ``variables`` order)."""
    data = stack_examples(variables, examples, f"{os.path.basename(path)}: ")
    partial = path + ".partial"
    if path.endswith(".h5"):
        import h5py

        with h5py.File(partial, "w") as h5:
            for name, array in data.items():
                h5.create_dataset(name, data=array)
    else:
        with open(partial, "wb") as f:
            for name in variables:
                np.save(f, data[name])
    os.replace(partial, path)


def read_cache_file(path: str, variables: Sequence[str] | None) -> dict[str, np.ndarray]:
    """A cache file's arrays by variable name (``.npy`` files need ``variables``, the names in file order)."""
    from nnl.utils.data_source_loader import FileReader

    if os.path.splitext(path)[1].lower() == ".h5":
        import h5py

        if os.path.exists(path):
            with h5py.File(path, "r") as h5:
                return {name: h5[name][()] for name in h5.keys()}
        with FileReader(os.path.dirname(path)).open_cache(os.path.basename(path)) as h5:
            return {name: h5[name][()] for name in h5.keys()}
    if variables is None:
        raise ValueError(f"{path}: an .npy cache file needs the variable names (cache_info.csv).")
    with FileReader(path).open() as f:
        return {name: np.load(f, allow_pickle=False) for name in variables}


def write_cache_index(cache_dir: str, entries: Sequence[tuple[str, int]], variables: Sequence[str],
                      file_format: str, original_uri: str | None, original_order: Sequence[Any] | None,
                      order: Sequence[Any] | None) -> None:
    """``cache_index.csv`` (file, count), ``cache_info.csv`` (variables, .npy only), ``original.csv`` (the source
    CSV), ``order.csv`` (rows ``original_order[i], order[i]``: the position in the cache and the row of
    ``original.csv`` the example there came from)."""
    with open(os.path.join(cache_dir, "cache_index.csv"), "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows((os.path.basename(name), count) for name, count in entries)
    if file_format == ".npy":
        with open(os.path.join(cache_dir, "cache_info.csv"), "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows((name,) for name in variables)
    if original_uri is not None:
        from nnl.utils.data_source_loader import FileReader

        with FileReader(original_uri).open() as src, open(os.path.join(cache_dir, "original.csv"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    if order is not None and original_order is not None:
        with open(os.path.join(cache_dir, "order.csv"), "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows((int(a), int(b)) for a, b in zip(original_order, order))


def read_cache_index(cache_dir: str) -> list[tuple[str, int]]:
    """``cache_index.csv`` as (full path, count) rows."""
    with open(os.path.join(cache_dir, "cache_index.csv"), newline="") as f:
        return [(os.path.join(cache_dir, row[0]), int(row[1])) for row in csv.reader(f) if row]


def remove_cache(cache_dir: str, prefix: str = "cache") -> None:
    """Delete a cache's files from ``cache_dir`` (cache files of ``prefix``, index, info, order, stamp)."""
    names = glob.glob(os.path.join(glob.escape(cache_dir), f"{glob.escape(prefix)}_[0-9]*_[0-9]*.*"))
    names += [os.path.join(cache_dir, n) for n in (CACHE_STAMP, "cache_index.csv", "cache_info.csv", "order.csv",
                                                   "original.csv")]
    for name in names:
        if os.path.isfile(name):
            os.remove(name)


def cache_stamp(fingerprint: dict[str, Any], file_format: str, cache_size: int | None, prefix: str) -> dict[str, Any]:
    """What a cache directory records about how it was made (compared before reusing it)."""
    return {"source": fingerprint, "format": file_format, "cache_size": cache_size, "prefix": prefix}


def read_cache_stamp(cache_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(cache_dir, CACHE_STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_cache_stamp(cache_dir: str, stamp: dict[str, Any]) -> None:
    with open(os.path.join(cache_dir, CACHE_STAMP), "w") as f:
        json.dump(stamp, f, indent=1)


def cache_is_current(cache_dir: str, stamp: dict[str, Any]) -> bool:
    """Whether ``cache_dir`` holds a complete cache made with ``stamp`` (same source contents and settings)."""
    if read_cache_stamp(cache_dir) != stamp:
        return False
    try:
        return all(os.path.isfile(name) for name, _ in read_cache_index(cache_dir))
    except (OSError, ValueError, IndexError):
        return False


class CacheFiles:
    """Loaded cache files, the two most recently used kept (sources read one file after another)."""

    def __init__(self, variables: Sequence[str] | None, keep: int = 2) -> None:
        self.variables, self._keep = variables, keep
        self._loaded: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> dict[str, np.ndarray]:
        with self._lock:
            if path in self._loaded:
                self._loaded.move_to_end(path)
                return self._loaded[path]
        data = read_cache_file(path, self.variables)
        with self._lock:
            self._loaded[path] = data
            while len(self._loaded) > self._keep:
                self._loaded.popitem(last=False)
        return data


class DataSourceWithFileCache(DataSource):
    """Converts ``data_source`` into cache files once (on construction) and reads the examples from them.

    ``cache_dir=None`` uses a temporary directory removed on ``close()``; a given ``cache_dir`` keeps the cache, and
    a later run over the same CSV source reuses it when nothing changed (the CSV, the files it names, the order,
    the normalization and the cache settings), else rebuilds it. Settings from ``[DATA_ITERATOR]``:
    ``data_source_file_cache_size`` (examples per file), ``cache_file_format`` (``.npy`` or ``.h5``),
    ``data_source_file_cache_num_of_threads``, ``data_source_file_cache_location``.
    """

    _generation_orders = True

    def __init__(self, data_source: DataSource, cache_dir: str | None = None, cache_file_name_prefix: str = "cache",
                 shuffle: bool = False, rng: np.random.RandomState | None = None) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        self._data_source = data_source
        self._size = data_source.size
        self._variables = data_source.variables
        self._cache_file_name_prefix = cache_file_name_prefix
        self._cache_size = max(1, int(config_value("data_source_file_cache_size")))
        self._num_of_threads = max(1, int(config_value("data_source_file_cache_num_of_threads")))
        self._cache_file_format = config_value("cache_file_format").strip() or ".npy"
        if self._cache_file_format not in (".npy", ".h5"):
            raise DataSourceWithFileCacheError(f"cache_file_format must be .npy or .h5, got "
                                               f"{self._cache_file_format!r} (nnabla.conf [DATA_ITERATOR]).")
        self._lock = threading.Lock()
        self._tempdir_created = cache_dir is None
        if cache_dir is None:
            location = config_value("data_source_file_cache_location").strip()
            cache_dir = tempfile.mkdtemp(prefix="nnl_cache_", dir=location or None)
            self._remove_tempdir = weakref.finalize(self, shutil.rmtree, cache_dir, True)
        else:
            os.makedirs(cache_dir, exist_ok=True)
        self._cache_dir = cache_dir
        self._original_order = list(range(self._size))
        self._order = list(range(self._size))

        fingerprint = getattr(data_source, "_cache_fingerprint", lambda: None)()
        stamp = None if fingerprint is None else cache_stamp(fingerprint, self._cache_file_format, self._cache_size,
                                                             cache_file_name_prefix)
        if not self._tempdir_created and stamp is not None and cache_is_current(cache_dir, stamp):
            logger.info(f"Reusing the cache in {cache_dir}")
            entries = read_cache_index(cache_dir)
        else:
            entries = self._create_cache()
            if stamp is not None and not self._tempdir_created:
                write_cache_stamp(cache_dir, stamp)
        self._cache_file_names = [name for name, _ in entries]
        self._cache_file_order = list(range(len(entries)))
        self._cache_file_data_orders = [list(range(count)) for _, count in entries]
        if sum(count for _, count in entries) != self._size:
            raise DataSourceWithFileCacheError(f"{cache_dir}: the cache holds {sum(c for _, c in entries)} examples "
                                               f"but the source has {self._size}.")
        self._files = CacheFiles(list(self._variables))
        self._table = self._position_table()
        self._generations = _Generations(self._table_of_generation)

    def _create_cache(self) -> list[tuple[str, int]]:
        if not self._tempdir_created:
            remove_cache(self._cache_dir, self._cache_file_name_prefix)
        logger.info(f"Creating the cache of {self._size} examples in {self._cache_dir}")
        entries = []
        source = self._data_source
        with ThreadPoolExecutor(self._num_of_threads) as pool:
            for start in range(0, self._size, self._cache_size):
                end = min(start + self._cache_size, self._size) - 1
                examples = list(pool.map(source._get_data, range(start, end + 1)))
                name = os.path.join(self._cache_dir, cache_file_name(self._cache_file_name_prefix, start, end,
                                                                     self._cache_file_format))
                write_cache_file(name, list(self._variables), examples)
                entries.append((name, end - start + 1))
        write_cache_index(self._cache_dir, entries, list(self._variables), self._cache_file_format,
                          source._original_source_uri, source._original_order, source._order)
        return entries

    def _position_table(self) -> list[tuple[int, int]]:
        """(file, index in file) for each position, from the current file order and in-file orders."""
        table = [(f, j) for f in self._cache_file_order for j in self._cache_file_data_orders[f]]
        self._order = [f * self._cache_size + j for f, j in table]
        return table

    def _table_of_generation(self, generation: int) -> list[tuple[int, int]]:
        if generation == 0:
            return list(self._table)
        counts = [len(d) for d in self._cache_file_data_orders]
        if not self._shuffle:
            return [(f, j) for f, count in enumerate(counts) for j in range(count)]
        files = self._rng.permutation(len(counts))
        inner = [self._rng.permutation(count) for count in counts]
        return [(int(f), int(j)) for f in files for j in inner[f]]

    def _read(self, file_index: int, index: int) -> list[Any]:
        data = self._files.get(self._cache_file_names[file_index])
        return [data[name][index] for name in self._variables]

    def _get_data(self, position: int) -> list[Any]:
        with self._lock:
            self._position = position
            file_index, index = self._table[position]
        return self._read(file_index, index)

    def _get_data_of_generation(self, position: int, generation: int) -> list[Any]:
        return self._read(*self._generations.get(generation)[position])

    def _generate_order(self, generation: int) -> None:
        self._generations.get(generation)

    def close(self) -> None:
        if not self._closed:
            if self._tempdir_created:
                self._remove_tempdir()
            self._data_source.close()
            self._closed = True

    def reset(self) -> None:
        with self._lock:
            if self._shuffle:
                self._cache_file_order = [int(i) for i in self._rng.permutation(self._cache_file_order)]
                self._cache_file_data_orders = [[int(j) for j in self._rng.permutation(d)]
                                                for d in self._cache_file_data_orders]
            self._table = self._position_table()
            self._data_source.reset()
            self._position = 0
            self._generation += 1


class DataSourceWithMemoryCache(DataSource):
    """Keeps the examples of ``data_source`` in memory after their first read, when they all fit in
    ``[DATA_ITERATOR] data_source_buffer_max_size`` bytes (else it passes reads through).

    With ``shuffle`` the kept examples are reshuffled from the third epoch on (the first two follow
    ``data_source``'s first order), as nnabla does.
    """

    _generation_orders = True

    def __init__(self, data_source: DataSource, shuffle: bool = False,
                 rng: np.random.RandomState | None = None) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        self._buffer_max_size = int(config_value("data_source_buffer_max_size"))
        self._size = data_source.size
        self._variables = data_source.variables
        self._data_source = data_source
        self._order = list(range(self._size))
        self._cache: dict[int, Any] = {}
        first = self._load(0)
        example_bytes = sum(np.asarray(value, np.float32 if isinstance(value, list) else None).nbytes
                            for value in first)
        self._on_memory = example_bytes * self._size < self._buffer_max_size
        if self._on_memory:
            self._cache[0] = first
        self._generation = -1
        self._generations = _Generations(self._order_of_generation)

    def _load(self, key: int) -> Any:
        # key k is the k-th example of the source's first order
        return self._data_source._get_data_of_generation(key, 0)

    def _cached(self, key: int) -> Any:
        data = self._cache.get(key)
        if data is None:
            data = self._cache.setdefault(key, self._load(key))
        return data

    def _order_of_generation(self, generation: int) -> list[int]:
        if generation == 0 or not self._shuffle:
            return list(range(self._size))
        return [int(i) for i in self._rng.permutation(self._size)]

    def _get_data(self, position: int) -> Any:
        data = self._cached(self._order[position]) if self._on_memory else self._data_source._get_data(position)
        self._position = position
        return data

    def _get_data_of_generation(self, position: int, generation: int) -> Any:
        if not self._on_memory:
            return self._data_source._get_data_of_generation(position, generation)
        return self._cached(self._generations.get(generation)[position])

    def _generate_order(self, generation: int) -> None:
        if self._on_memory:
            self._generations.get(generation)
        else:
            self._data_source._generate_order(generation)

    def close(self) -> None:
        if not self._closed:
            self._data_source.close()
            self._closed = True

    def reset(self) -> None:
        if self._on_memory:
            self._generation += 1
            if self._shuffle and self._generation > 0:
                self._order = [int(i) for i in self._rng.permutation(self._size)]
            else:
                self._order = list(range(self._size))
            if self._position == 0:
                self._generation = -1
            else:
                # the source is reset as nnabla does (it draws from a shared rng), though it is not read again
                self._data_source._position = self._position
                self._data_source.reset()
        else:
            self._data_source.reset()
            self._generation = self._data_source._generation
        super().reset()


class SlicedDataSource(DataSource):
    """Positions ``[slice_start, slice_end)`` of ``data_source`` (shared by the slices of one iterator)."""

    def __init__(self, data_source: DataSource, shuffle: bool = False, rng: np.random.RandomState | None = None,
                 slice_start: int | None = None, slice_end: int | None = None) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        if slice_start is None or slice_end is None or not 0 <= slice_start < slice_end <= data_source.size:
            raise ValueError(f"SlicedDataSource: need 0 <= slice_start < slice_end <= {data_source.size} (the "
                             f"source's size), got slice_start={slice_start}, slice_end={slice_end}.")
        self._data_source = data_source
        self._variables = data_source.variables[:]
        self._slice_start, self._slice_end = slice_start, slice_end
        self._size = slice_end - slice_start
        self._generation = 0

    def apply_order(self) -> None:
        self._generation += 1
        self._data_source._generate_order(self._generation)

    def reset(self) -> None:
        if not self._data_source._generation_orders:
            # a source without generation orders can only be read in its current order (nnabla's behaviour)
            self._data_source.reset()
            self._data_source._position = self._slice_start
        self._position = 0

    def _get_data(self, position: int) -> Any:
        self._position = position
        return self._data_source._get_data_of_generation(self._slice_start + position, self._generation)
