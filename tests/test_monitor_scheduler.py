"""nnl.monitor (nnabla's log files) and nnl.utils.learning_rate_scheduler (nnabla's formulas)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from nnl.monitor import Monitor, MonitorImage, MonitorImageTile, MonitorSeries, MonitorTimeElapsed, tile_images
from nnl.utils import learning_rate_scheduler as L


def test_series_and_timer_files(tmp_path):
    m = Monitor(str(tmp_path / "logs"))
    series = MonitorSeries("Training loss", m, interval=3, verbose=False)
    timer = MonitorTimeElapsed("Epoch time", m, interval=2, verbose=False)
    values = np.random.RandomState(0).rand(7)
    for i, v in enumerate(values):
        series.add(i, v)
        timer.add(i)
    lines = (tmp_path / "logs" / "Training-loss.series.txt").read_text().splitlines()
    assert lines == [f"2 {np.mean(values[0:3]):g}", f"5 {np.mean(values[3:6]):g}"]
    rows = [line.split() for line in (tmp_path / "logs" / "Epoch-time.timer.txt").read_text().splitlines()]
    assert [int(r[0]) for r in rows] == [1, 3, 5] and [int(r[2]) for r in rows] == [2, 2, 2]
    assert all(float(r[3]) >= float(r[1]) >= 0 for r in rows)


def test_images(tmp_path):
    from PIL import Image

    m = Monitor(str(tmp_path))
    x = np.random.RandomState(1).randn(5, 3, 6, 7)
    MonitorImage("gen images", m, interval=10, num_images=2, verbose=False).add(9, x)
    files = sorted(os.listdir(tmp_path / "gen-images"))
    assert files == ["000009-000.png", "000009-001.png"]
    assert Image.open(tmp_path / "gen-images" / files[0]).size == (7, 6)
    MonitorImageTile("tiles", m, interval=10, num_images=4, verbose=False).add(0, x)
    tile = Image.open(tmp_path / "tiles" / "000000.png")
    assert tile.size == (2 * 7 + 1, 2 * 6 + 1)
    with pytest.raises(ValueError, match="MonitorImage"):
        MonitorImage("bad", m, verbose=False).add(0, np.zeros((4, 4)))


def test_tile_images_layout():
    data = np.arange(3 * 1 * 2 * 2, dtype=float).reshape(3, 1, 2, 2) + 1
    grid = tile_images(data, padsize=1, padval=0)
    assert grid.shape == (1, 5, 5)
    np.testing.assert_array_equal(grid[0, 3:5, 0:2], data[2, 0])
    assert grid[0, 2].sum() == 0 and grid[0, 3:5, 3:5].sum() == 0


@pytest.mark.parametrize("it", [0, 1, 7, 30, 99])
def test_schedulers(it):
    assert L.PolynomialScheduler(0.1, 100, 2).get_learning_rate(it) == pytest.approx(0.1 * (1 - it / 100) ** 2)
    assert L.CosineScheduler(0.1, 100).get_learning_rate(it) == pytest.approx(0.05 * (math.cos(math.pi * it / 100) + 1))
    assert L.ExponentialScheduler(0.1, 0.9, 5).get_learning_rate(it) == pytest.approx(0.1 * 0.9 ** (it // 5))
    assert L.StepScheduler(0.1, 0.5, [5, 30]).get_learning_rate(it) == pytest.approx(0.1 * 0.5 ** ((it >= 5) + (it >= 30)))
    warm = L.LinearWarmupScheduler(L.CosineScheduler(0.1, 100), 10).get_learning_rate(it)
    base = L.CosineScheduler(0.1, 100).get_learning_rate(it)
    assert warm == pytest.approx(base * min(1.0, (it + 1) / 10))
