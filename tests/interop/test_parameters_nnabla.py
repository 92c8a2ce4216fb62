"""Parameter files against the real nnabla 1.39, both directions (.h5, .protobuf, .nntxt, .nnp)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "param_driver.py"

PARAMS = [  # name, shape, need_grad (order matters: files keep it)
    ("conv1/conv/W", (4, 3, 3, 3), True),
    ("conv1/conv/b", (4,), True),
    ("conv1/bn/mean", (1, 4, 1, 1), False),
    ("scalar", (), True),
    ("fc/W", (5, 2), True),
    ("a_last/b", (7,), False),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory, run_nnabla, run_nnl):
    work = tmp_path_factory.mktemp("params")
    rng = np.random.RandomState(7)
    np.savez(work / "params.npz", **{n: np.asarray(rng.randn(*s), dtype=np.float32) for n, s, _ in PARAMS})
    (work / "params.json").write_text(json.dumps([[n, g] for n, _, g in PARAMS]))
    run_nnabla(DRIVER, "nnabla", "save", str(work))
    run_nnl(DRIVER, "nnl", "save", str(work))
    run_nnabla(DRIVER, "nnabla", "load", str(work))
    run_nnl(DRIVER, "nnl", "load", str(work))
    return work


def _check(work, reader, ext, names=None):
    expected = np.load(work / "params.npz")
    meta = json.loads((work / f"{reader}_loaded_{ext}.json").read_text())
    loaded = np.load(work / f"{reader}_loaded_{ext}.npz")
    wanted = [(n, g) for n, _, g in PARAMS if names is None or n in names]
    assert [(n, g) for n, g, _ in meta] == wanted
    if reader == "nnl":  # (nnabla itself leaves float64 buffers after reading .protobuf / .nntxt)
        assert all(dtype == "float32" for _, _, dtype in meta)
    for name, _ in wanted:
        np.testing.assert_array_equal(loaded[name], expected[name], err_msg=f"{reader} reading {ext}: {name}")


@pytest.mark.parametrize("ext", ["h5", "protobuf", "nntxt"])
def test_nnabla_reads_nnl_files(files, ext):
    _check(files, "nnabla", ext)


@pytest.mark.parametrize("ext", ["h5", "protobuf", "nnp", "nntxt"])
def test_nnl_reads_nnabla_files(files, ext):
    _check(files, "nnl", ext)


def test_same_bytes_protobuf(files):
    """Our .protobuf writer produces exactly nnabla's bytes for the same parameters."""
    assert (files / "nnl.protobuf").read_bytes() == (files / "nnabla.protobuf").read_bytes()
