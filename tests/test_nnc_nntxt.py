"""The 31 configurations Neural Network Console wrote for its tutorials load in nnl and every network runs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import nnl as nn
from nnl.utils.load import load

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nnc-nntxt"
FILES = sorted(CORPUS.glob("*.nntxt")) if CORPUS.is_dir() else []


def test_corpus_present():
    if not FILES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the NNC nntxt corpus is missing: {CORPUS}")
        pytest.skip(f"the NNC nntxt corpus is not here: {CORPUS}")
    assert len(FILES) == 31


@pytest.mark.filterwarnings("ignore:load. the file asks for context")  # they ask for cudnn; nnl falls back to cpu
@pytest.mark.parametrize("path", FILES, ids=[p.name[:60] for p in FILES])
def test_nnc_configuration_loads_and_runs(path):
    nn.clear_parameters()
    info = load([str(path)], batch_size=2)
    assert {"Training", "Validation"} <= set(info.datasets) and info.optimizers and info.executors
    rng = np.random.RandomState(0)
    for name, net in info.networks.items():
        for v in net.inputs.values():
            v.d = rng.rand(*v.shape)
        nn.forward_all(list(net.outputs.values()))
        for out_name, v in net.outputs.items():
            assert v.shape[0] == 2 or v.size == 1, f"{name}/{out_name} has shape {v.shape}"
            assert np.all(np.isfinite(v.d)), f"{name}/{out_name} is not finite"
    optimizer = next(iter(info.optimizers.values()))
    assert optimizer.solver.get_parameters(), "the optimizer trains no parameter"
    executor = next(iter(info.executors.values()))
    assert set(executor.output_variables) <= set(executor.network.variables)
