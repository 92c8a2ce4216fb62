"""The data sources nnabla ships (``nnabla.utils.data_source_implements``): a load function, an NNC CSV dataset,
a cache directory, several sources one after another.

NNC's CSV dataset format (what :class:`CsvDataSource` reads): a UTF-8 CSV (BOM allowed) whose first row names the
columns ``NAME[__INDEX][:LABEL]`` (``x:image``, ``y:label``; ``x__0, x__1, ...`` are the elements of one vector
variable ``x``; columns whose name starts with ``#`` are comments) and whose other rows are examples. A cell is a
number or a file path (relative to the CSV): images (.png .jpg .jpeg .bmp .gif .tif .tiff) give ``(C, H, W)``
arrays (``normalize`` divides 8-bit values by 255 and 16-bit ones by 65535, giving float32), ``.csv`` files a
float32 matrix, ``.npy`` files their array, ``.wav`` files ``(samples, channels)`` float32. A plain number gives a
``(1,)`` float32 array, so labels arrive in batches of shape ``(B, 1)``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnl.logger import logger
from nnl.utils.data_source import (
    CacheFiles,
    DataSource,
    _Generations,
    config_value,
    read_cache_file,
)
from nnl.utils.data_source_loader import FileReader, load

__all__ = ["SimpleDataSource", "CsvDataSource", "CacheDataSource", "ConcatDataSource"]


class SimpleDataSource(DataSource):
    """Examples from ``load_func(index)`` (a tuple of arrays) for ``index`` in ``range(num_examples)``; the
    variables are named ``x0, x1, ...``. With ``shuffle`` each epoch gets a new order (made after the batch that
    ends the epoch, as nnabla does)."""

    _generation_orders = True

    def __init__(self, load_func: Callable[[int], Any], num_examples: int, shuffle: bool = False,
                 rng: np.random.RandomState | None = None) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        self._load_func = load_func
        self._size = num_examples
        self._generation = 0
        self._variables = ["x" + str(i) for i in range(len(load_func(0)))]
        self._orders = _Generations(self._new_order)
        self.reset()
        self._generate_order(0)

    def _new_order(self, generation: int) -> np.ndarray:
        return self._rng.permutation(self._size) if self._shuffle else np.arange(self._size)

    def _get_data(self, position: int) -> Any:
        return self._get_data_of_generation(position, self._generation)

    def _get_data_of_generation(self, position: int, generation: int) -> Any:
        return self._load_func(int(self._orders.get(generation)[position]))

    def _generate_order(self, generation: int) -> None:
        self._orders.get(generation)

    def apply_order(self) -> None:
        self._generation += 1
        self._generate_order(self._generation)


# ---------------------------------------------------------------------------------------------------------------
# NNC CSV datasets


@dataclass(frozen=True)
class _Column:
    variable: str
    index: int | None
    label: str | None
    position: int  # 0-based column in the file (comment columns included)
    header: str

    def where(self, filename: str, line: int) -> str:
        return f"{filename}: line {line}, column {self.position + 1} ({self.header!r})"


def _parse_header(filename: str, header: Sequence[str]) -> OrderedDict[str, list[_Column]]:
    """Columns by variable (in first-appearance order; vector elements sorted by index); comments dropped."""
    variables: OrderedDict[str, list[_Column]] = OrderedDict()
    for position, text in enumerate(header):
        where = f"{filename}: line 1, column {position + 1} ({text!r})"
        if text.startswith("#"):
            continue
        name_index, colon, label = text.partition(":")
        name, separator, index_text = name_index.partition("__")
        if not text.strip() or not name:
            raise ValueError(f"{where}: malformed header; a column is named NAME[__INDEX][:LABEL] (e.g. 'x:image', "
                             f"'y:label', 'x__0'), or starts with '#' for a comment.")
        index = None
        if separator:
            if not index_text.isdigit():
                raise ValueError(f"{where}: malformed header; the element index after '__' must be a non-negative "
                                 f"integer, got {index_text!r}.")
            index = int(index_text)
        column = _Column(name, index, label if colon else None, position, text)
        columns = variables.setdefault(name, [])
        if columns and (index is None or columns[0].index is None):
            raise ValueError(f"{where}: malformed header; variable {name!r} already has column "
                             f"{columns[0].position + 1} ({columns[0].header!r}); a variable is either one column "
                             f"'{name}' or the columns '{name}__0', '{name}__1', ...")
        if any(c.index == index for c in columns):
            raise ValueError(f"{where}: malformed header; element {index} of {name!r} appears twice.")
        columns.append(column)
    if not variables:
        raise ValueError(f"{filename}: line 1: the header names no variables.")
    for name, columns in variables.items():
        if columns[0].index is not None:  # a vector: every column has an index (checked above)
            columns.sort(key=lambda c: c.index or 0)
            indices = [c.index or 0 for c in columns]
            if indices != list(range(len(columns))):
                missing = sorted(set(range(max(indices) + 1)) - set(indices))
                raise ValueError(f"{filename}: line 1: malformed header; the elements of {name!r} must be numbered "
                                 f"0..{len(columns) - 1}, element(s) {missing} are missing.")
    return variables


class CsvDataSource(DataSource):
    """Examples from an NNC CSV dataset ``filename`` (see the module docstring for the format).

    Errors (a malformed header, a row with the wrong number of cells, a missing or unreadable file, an example
    whose shape differs from the others) raise ValueError naming the CSV file, the line and the column.
    """

    _generation_orders = True

    def __init__(self, filename: str, shuffle: bool = False, rng: np.random.RandomState | None = None,
                 normalize: bool = False) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        self._normalize = normalize
        self._read_csv(filename)
        self._generation = -1
        self._original_order = list(range(self._size))
        self._order = list(range(self._size))
        self._generations = _Generations(self._order_of_generation)
        self.reset()

    def _read_csv(self, filename: str) -> None:
        self._filename = str(filename)
        self._original_source_uri = self._filename
        self._filereader = FileReader(self._filename)
        self._rows: list[list[str]] = []
        self._lines: list[int] = []
        with self._filereader.open(textmode=True, encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{self._filename}: the file is empty; line 1 must be the header (e.g. 'x:image,y').")
            self._columns_by_variable = _parse_header(self._filename, header)
            last_line = reader.line_num
            for row in reader:
                line, last_line = last_line + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    first = min(len(row), len(header))
                    detail = (f"column {first + 1} ({header[first]!r}) and after are missing" if len(row) < len(header)
                              else f"column {first + 1} and after have no header")
                    raise ValueError(f"{self._filename}: line {line}: {len(row)} cells, but the header has "
                                     f"{len(header)} columns ({detail}).")
                self._rows.append(row)
                self._lines.append(line)
        self._size = len(self._rows)
        self._variables = tuple(self._columns_by_variable)
        self._variables_dict = OrderedDict(
            (name, {"label": cols[0].label, "value": None} if cols[0].index is None
             else [{"label": c.label, "value": None} for c in cols])
            for name, cols in self._columns_by_variable.items())
        self._shapes: dict[str, tuple[tuple[int, ...], int]] = {}

    # -- cells ----------------------------------------------------------------------------------------------
    def _load_cell(self, text: str, line: int, column: _Column) -> float | np.ndarray:
        try:
            return float(text)
        except ValueError:
            pass
        where = column.where(self._filename, line)
        if not text.strip():
            raise ValueError(f"{where}: the cell is empty; expected a number or a file path.")
        ext = os.path.splitext(text)[1].lower()
        try:
            loader = load(ext)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is neither a number nor a file of a supported type (.png .jpg "
                             f".jpeg .bmp .gif .tif .tiff .csv .npy .wav).") from None
        path = self._filereader.resolve(text)
        try:
            with self._filereader.open(text) as f:
                return loader(f, normalize=self._normalize)
        except FileNotFoundError:
            hint = ""
            if text != text.strip() and os.path.exists(self._filereader.resolve(text.strip())):
                hint = " (the cell has leading or trailing spaces; without them the file exists)"
            raise ValueError(f"{where}: file {path!r} does not exist{hint}.") from None
        except Exception as error:
            raise ValueError(f"{where}: cannot load {path!r}: {error}") from error

    def _variable_value(self, name: str, columns: list[_Column], row: Sequence[str], line: int) -> np.ndarray:
        cells = [self._load_cell(row[c.position], line, c) for c in columns]
        if columns[0].index is None:
            cell = cells[0]
            value = np.array([cell], np.float32) if isinstance(cell, float) else cell
        elif all(isinstance(c, float) for c in cells):
            value = np.array(cells, np.float32)
        else:
            parts = [np.asarray(c, np.float32) if isinstance(c, float) else c for c in cells]
            for column, part in zip(columns, parts):
                if part.shape != parts[0].shape:
                    raise ValueError(f"{column.where(self._filename, line)}: shape {part.shape} differs from the "
                                     f"shape {parts[0].shape} of {columns[0].header!r}; the elements of {name!r} "
                                     "must have one shape.")
            value = np.stack(parts)
        reference, reference_line = self._shapes.setdefault(name, (value.shape, line))
        if value.shape != reference:
            raise ValueError(f"{columns[0].where(self._filename, line)}: {name!r} has shape {value.shape} here but "
                             f"{reference} on line {reference_line}; all examples of a variable need the same shape "
                             "(e.g. images of one size and channel count).")
        return value

    def _process_row(self, row: Sequence[str], line: int = 0) -> tuple[np.ndarray, ...]:
        """The example of one CSV row: an array per variable."""
        return tuple(self._variable_value(name, columns, row, line)
                     for name, columns in self._columns_by_variable.items())

    def _row_example(self, index: int) -> tuple[np.ndarray, ...]:
        return self._process_row(self._rows[index], self._lines[index])

    # -- DataSource ------------------------------------------------------------------------------------------
    def _get_data(self, position: int) -> tuple[np.ndarray, ...]:
        return self._row_example(int(self._order[position]))

    def _order_of_generation(self, generation: int) -> list[int]:
        if generation == 0:
            return list(self._order)
        return [int(i) for i in self._rng.permutation(self._size)] if self._shuffle else list(range(self._size))

    def _get_data_of_generation(self, position: int, generation: int) -> tuple[np.ndarray, ...]:
        return self._row_example(self._generations.get(generation)[position])

    def _generate_order(self, generation: int) -> None:
        self._generations.get(generation)

    def reset(self) -> None:
        if self._shuffle:
            self._order = [int(i) for i in self._rng.permutation(self._size)]
        self._generation += 1
        super().reset()

    def _cache_fingerprint(self) -> dict[str, Any] | None:
        """What a cache of this source depends on: the CSV's bytes, the size and time of each file it names, the
        order and the normalization (None for remote CSVs, whose files cannot be checked cheaply)."""
        if self._filereader._file_type != "file":
            return None
        files = hashlib.sha1()
        for row in self._rows:
            for columns in self._columns_by_variable.values():
                for column in columns:
                    text = row[column.position]
                    try:
                        float(text)
                        continue
                    except ValueError:
                        pass
                    path = self._filereader.resolve(text)
                    try:
                        stat = os.stat(path)
                        files.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
                    except OSError:
                        files.update(f"{path}\0missing\n".encode())
        with open(self._filename, "rb") as f:
            csv_digest = hashlib.sha1(f.read()).hexdigest()
        order = hashlib.sha1(np.asarray(self._order, np.int64).tobytes()).hexdigest()
        return {"csv": os.path.abspath(self._filename), "csv_sha1": csv_digest, "files_sha1": files.hexdigest(),
                "order_sha1": order, "normalize": bool(self._normalize), "variables": list(self._variables)}


# ---------------------------------------------------------------------------------------------------------------


class CacheDataSource(DataSource):
    """Examples from a cache directory (``cache_index.csv`` + cache files, as written by
    :class:`~nnl.utils.data_source.DataSourceWithFileCache` or :class:`~nnl.utils.create_cache.CreateCache`).

    ``shuffle`` permutes the files, then the examples in each file; ``normalize`` turns uint8 arrays into float32
    divided by 255 (uint16: 65535).

    ``order`` gives, for each position of the current epoch, the row of the original CSV the example came from
    (through the cache's ``order.csv``; the example's place in the cache when there is none), so that a cache made
    from this one (``DataSourceWithFileCache``, ``nnl conv_dataset``) still records rows of the same
    ``original.csv``.
    """

    _generation_orders = True

    def __init__(self, cachedir: str, shuffle: bool = False, rng: np.random.RandomState | None = None,
                 normalize: bool = False) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        self._cachedir = str(cachedir)
        self._normalize = normalize
        self._filereader = FileReader(self._cachedir)
        self._num_of_threads = int(config_value("cache_file_cache_num_of_threads"))
        self._variables: Any = None
        self._generation = -1
        self._cache_files: list[tuple[str, int]] = []
        self._max_length = 1
        self._read_info(os.path.join(self._cachedir, "cache_info.csv"))
        self._read_index(os.path.join(self._cachedir, "cache_index.csv"))
        if not self._cache_files:
            raise ValueError(f"CacheDataSource: {self._cachedir!r} holds no cache (no cache_index.csv and no .h5 "
                             "files).")
        self._files = CacheFiles(self._variables)
        self._lock = threading.Lock()
        # Examples are addressed by their place in the cache (files in index order): entry k is (file, index).
        self._entries = [(name, j) for name, length in self._cache_files for j in range(length)]
        self._file_starts = [int(s) for s in np.cumsum([0] + [length for _, length in self._cache_files[:-1]])]
        self._size = len(self._entries)
        self._original_order = list(range(self._size))
        local = self._filereader._file_type == "file"
        original = os.path.join(self._cachedir, "original.csv")
        self._original_source_uri = original if local and os.path.isfile(original) else None
        self._rows = self._read_original_rows() if local else list(range(self._size))
        self._positions: list[int] = []
        self._generations = _Generations(self._order_of_generation)
        self.reset()

    def _read_info(self, info_filename: str) -> None:
        try:
            with FileReader(info_filename).open(textmode=True) as f:
                self._variables = [row[0] for row in csv.reader(f) if row]
            self._cache_type = ".npy"
        except OSError:
            self._cache_type = ".h5"

    def _add_file(self, name: str, length: int) -> None:
        self._cache_files.append((name, length))
        self._max_length = max(self._max_length, length)

    def _read_index(self, index_filename: str) -> None:
        try:
            with FileReader(index_filename).open(textmode=True) as f:
                rows = [row for row in csv.reader(f) if row]
        except OSError:
            rows = None
        if rows is not None:
            for row in rows:
                self._add_file(os.path.join(self._cachedir, row[0]), int(row[1]))
            if self._variables is None:
                self._variables = list(read_cache_file(self._cache_files[0][0], None))
            return
        for name in self._filereader.listdir() or []:
            data = read_cache_file(os.path.join(self._cachedir, name), None)
            if self._variables is None:
                self._variables = list(data)
            lengths = {len(v) for v in data.values()}
            if len(lengths) != 1:
                raise ValueError(f"{name}: the variables of a cache file hold different numbers of examples {lengths}.")
            self._add_file(os.path.join(self._cachedir, name), lengths.pop())

    def _read_original_rows(self) -> list[int]:
        """Entry k's row in the original CSV (from a local ``order.csv``: cache position, CSV row); else k."""
        order_file = os.path.join(self._cachedir, "order.csv")
        if not os.path.isfile(order_file):
            return list(range(self._size))
        # order.csv only records where examples came from: a damaged one must not make the cache unreadable
        try:
            with open(order_file, newline="") as f:
                pairs = {int(row[0]): int(row[1]) for row in csv.reader(f) if row}
            problem = "" if sorted(pairs) == list(range(self._size)) else (
                f"it lists {len(pairs)} positions for {self._size} examples")
        except (ValueError, IndexError) as e:
            problem = f"expected rows 'cache position,original row' of integers ({e})"
        if problem:
            logger.warning(f"CacheDataSource: ignoring {order_file}: {problem}; the order of a cache made from this "
                           "one will count positions in this cache instead of rows of original.csv.")
            return list(range(self._size))
        return [pairs[k] for k in range(self._size)]

    def _new_order(self) -> list[int]:
        if not self._shuffle:
            return list(range(self._size))
        order = []
        for i in self._rng.permutation(len(self._cache_files)):
            start, length = self._file_starts[i], self._cache_files[i][1]
            order += [start + int(j) for j in self._rng.permutation(length)]
        return order

    def _order_of_generation(self, generation: int) -> list[int]:
        return list(self._positions) if generation == 0 else self._new_order()

    def _read(self, entry: int) -> list[Any]:
        name, index = self._entries[entry]
        data = self._files.get(name)
        values = [data[v][index] for v in self._variables]
        if self._normalize:
            values = [v.astype(np.float32) * np.float32(1 / 255) if v.dtype == np.uint8
                      else v.astype(np.float32) * np.float32(1 / 65535) if v.dtype == np.uint16 else v
                      for v in values]
        return values

    def _get_data(self, position: int) -> list[Any]:
        self._position = position
        return self._read(self._positions[position])

    def _get_data_of_generation(self, position: int, generation: int) -> list[Any]:
        return self._read(self._generations.get(generation)[position])

    def _generate_order(self, generation: int) -> None:
        self._generations.get(generation)

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self._positions = self._new_order()
            self._order = [self._rows[k] for k in self._positions]
            self._generation += 1


class ConcatDataSource(DataSource):
    """The examples of several sources (with the same variables) one after another; ``shuffle`` mixes them."""

    _generation_orders = True

    def __init__(self, data_source_list: Sequence[DataSource], shuffle: bool = True,
                 rng: np.random.RandomState | None = None) -> None:
        super().__init__(shuffle=shuffle, rng=rng)
        if not data_source_list:
            raise ValueError("ConcatDataSource: data_source_list is empty.")
        self._data_sources = list(data_source_list)
        self._variables = data_source_list[0].variables
        for i, source in enumerate(self._data_sources):
            if list(source.variables) != list(self._variables):
                raise ValueError(f"ConcatDataSource: source {i} has variables {tuple(source.variables)}, source 0 "
                                 f"has {tuple(self._variables)}; concatenated sources need the same variables.")
        self._sw_points = [int(n) for n in np.cumsum([s.size for s in self._data_sources])]
        self._size = self._sw_points[-1]
        self._generations = _Generations(self._order_of_generation)
        self.reset()

    def _read(self, index: int) -> Any:
        source = int(np.searchsorted(self._sw_points, index, side="right"))
        start = self._sw_points[source - 1] if source > 0 else 0
        return self._data_sources[source]._get_data(index - start)

    def _get_data(self, position: int) -> Any:
        return self._read(int(self._indexes[position]))

    def _order_of_generation(self, generation: int) -> np.ndarray:
        if generation == 0:
            return np.array(self._indexes)
        return self._rng.permutation(self._size) if self._shuffle else np.arange(self._size)

    def _get_data_of_generation(self, position: int, generation: int) -> Any:
        return self._read(int(self._generations.get(generation)[position]))

    def _generate_order(self, generation: int) -> None:
        self._generations.get(generation)

    def reset(self) -> None:
        self._indexes = self._rng.permutation(self._size) if self._shuffle else np.arange(self._size)
        super().reset()

    def close(self) -> None:
        if not self._closed:
            for source in self._data_sources:
                source.close()
            self._closed = True
