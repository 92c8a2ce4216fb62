"""nnabla's monitors: training logs as text series, timers and images, in nnabla's file formats.

``MonitorSeries`` averages the values added over ``interval`` iterations and appends ``"<index> <mean>"`` to
``<save_path>/<name>.series.txt`` (spaces in names become ``-``); ``MonitorTimeElapsed`` appends
``"<index> <seconds since last> <iterations since last> <total seconds>"`` to ``<name>.timer.txt``;
``MonitorImage`` / ``MonitorImageTile`` write PNGs under ``<save_path>/<name>/``. ``plot_series`` and
``plot_time_elapsed`` draw these files with matplotlib.

>>> import tempfile, os
>>> m = Monitor(tempfile.mkdtemp())
>>> loss = MonitorSeries("Training loss", m, interval=2, verbose=False)
>>> for i, v in enumerate([4.0, 2.0, 1.0, 3.0]):
...     loss.add(i, v)
>>> open(os.path.join(m.save_path, "Training-loss.series.txt")).read()
'1 3\\n3 2\\n'
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from nnl.logger import logger

__all__ = [
    "Monitor",
    "MonitorSeries",
    "MonitorTimeElapsed",
    "MonitorImage",
    "MonitorImageTile",
    "tile_images",
    "plot_series",
    "plot_time_elapsed",
]


class Monitor:
    """The folder monitors write into (created if needed)."""

    def __init__(self, save_path: str) -> None:
        self._save_path = save_path
        os.makedirs(save_path, exist_ok=True)

    @property
    def save_path(self) -> str:
        return self._save_path


def _log_path(monitor: Monitor | None, name: str, suffix: str) -> str | None:
    if monitor is None:
        return None
    path = os.path.join(monitor.save_path, name.replace(" ", "-")) + suffix
    open(path, "w").close()  # a new run starts a new log, as in nnabla
    return path


def _append(path: str | None, line: str) -> None:
    if path is not None:
        with open(path, "a") as f:
            f.write(line + "\n")


class MonitorSeries:
    """A series of values, averaged over ``interval`` adds (see the module docstring)."""

    def __init__(self, name: str, monitor: Monitor | None = None, interval: int = 1, verbose: bool = True) -> None:
        self.name, self.interval, self.verbose = name, interval, verbose
        self.sp = _log_path(monitor, name, ".series.txt")
        self.flush_at = -1
        self.buf: list[Any] = []

    def add(self, index: int, value: Any) -> None:
        self.buf.append(value)
        if index - self.flush_at < self.interval:
            return
        mean = np.mean(self.buf)
        if self.verbose:
            logger.info(f"iter={index} {{{self.name}}}={mean}")
        _append(self.sp, f"{index} {mean:g}")
        self.flush_at = index
        self.buf = []


class MonitorTimeElapsed:
    """Wall-clock time per ``interval`` iterations (see the module docstring)."""

    def __init__(self, name: str, monitor: Monitor | None = None, interval: int = 100, verbose: bool = True) -> None:
        self.name, self.interval, self.verbose = name, interval, verbose
        self.sp = _log_path(monitor, name, ".timer.txt")
        self.flush_at = -1
        self.start = self.lap = time.time()

    def add(self, index: int) -> None:
        if index - self.flush_at < self.interval:
            return
        now = time.time()
        elapsed, total, iterations = now - self.lap, now - self.start, index - self.flush_at
        self.lap = now
        if self.verbose:
            logger.info(f"iter={index} {{{self.name}}}={elapsed}[sec/{iterations}iter] {total}[sec]")
        _append(self.sp, f"{index} {elapsed} {iterations} {total}")
        self.flush_at = index


def _min_max(x: np.ndarray) -> np.ndarray:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def _images(var: Any, num_images: int, normalize: Any) -> np.ndarray:
    """``(N, ..., C, H, W)`` data as at most ``num_images`` normalized images with 1 or 3 channels."""
    data = np.array(getattr(var, "d", getattr(var, "data", var)), dtype=np.float64, copy=True)
    if data.ndim < 3:
        raise ValueError(f"MonitorImage: expected images shaped (N, ..., C, H, W), got shape {data.shape}.")
    channels = data.shape[-3]
    data = data.reshape(-1, *data.shape[-3:])[:num_images]
    data = normalize(data)
    if channels > 3:
        data = data[:, :3]
    elif channels == 2:
        data = np.concatenate([data, np.ones((data.shape[0], 1) + data.shape[-2:])], axis=1)
    return data


def _save_png(path: str, chw: np.ndarray) -> None:
    from PIL import Image

    image = np.clip(chw.transpose(1, 2, 0), 0, 1)
    image = (image[..., 0] if image.shape[-1] == 1 else image) * 255
    Image.fromarray(np.round(image).astype(np.uint8)).save(path)


class MonitorImage:
    """Saves ``num_images`` images every ``interval`` iterations as ``<name>/<index:06d>-<j:03d>.png``."""

    def __init__(
        self,
        name: str,
        monitor: Monitor,
        interval: int = 1000,
        verbose: bool = True,
        num_images: int = 16,
        normalize_method: Any = None,
    ) -> None:
        self.name, self.interval, self.verbose, self.num_images = name, interval, verbose, num_images
        self.normalize_method = normalize_method or _min_max
        self.save_dir = os.path.join(monitor.save_path, name.replace(" ", "-"))
        os.makedirs(self.save_dir, exist_ok=True)

    def _due(self, index: int) -> bool:
        return index == 0 or (index + 1) % self.interval == 0

    def add(self, index: int, var: Any) -> None:
        if not self._due(index):
            return
        data = _images(var, self.num_images, self.normalize_method)
        for j, image in enumerate(data):
            _save_png(os.path.join(self.save_dir, f"{index:06d}-{j:03d}.png"), image)
        if self.verbose:
            logger.info(f"iter={index} {{{self.name}}} are written to {self.save_dir}.")


class MonitorImageTile(MonitorImage):
    """Like ``MonitorImage`` but tiles the images into one ``<name>/<index:06d>.png``."""

    def add(self, index: int, var: Any) -> None:
        if not self._due(index):
            return
        tile = tile_images(_images(var, self.num_images, self.normalize_method))
        _save_png(os.path.join(self.save_dir, f"{index:06d}.png"), tile)
        if self.verbose:
            logger.info(f"iter={index} {{{self.name}}} is written to {self.save_dir}.")


def tile_images(data: np.ndarray, padsize: int = 1, padval: float = 0) -> np.ndarray:
    """``(N, C, H, W)`` images as one ``(C, H', W')`` near-square grid separated by ``padsize`` pixels."""
    n, c, h, w = data.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.full((c, rows * (h + padsize) - padsize, cols * (w + padsize) - padsize), padval, dtype=data.dtype)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[:, r * (h + padsize) : r * (h + padsize) + h, q * (w + padsize) : q * (w + padsize) + w] = data[k]
    return grid


def _read_columns(filename: str) -> np.ndarray:
    return np.atleast_2d(np.loadtxt(filename, ndmin=2))


def plot_series(filename: str, plot_kwargs: dict[str, Any] | None = None) -> None:
    """Plot a ``.series.txt`` file into the current matplotlib axes."""
    import matplotlib.pyplot as plt

    data = _read_columns(filename)
    plt.plot(data[:, 0], data[:, 1], **(plot_kwargs or {}))


def plot_time_elapsed(filename: str, elapsed: bool = False, unit: str = "s", plot_kwargs: dict[str, Any] | None = None) -> None:
    """Plot a ``.timer.txt`` file: seconds per interval, or the total when ``elapsed`` (unit s, m or h)."""
    import matplotlib.pyplot as plt

    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}
    if unit not in scale:
        raise ValueError(f"plot_time_elapsed: unit must be 's', 'm' or 'h', got {unit!r}.")
    data = _read_columns(filename)
    plt.plot(data[:, 0], data[:, 3 if elapsed else 1] / scale[unit], **(plot_kwargs or {}))
