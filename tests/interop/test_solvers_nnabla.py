"""The 18 solvers against the real nnabla 1.39: same updates, and each side reads the other's state files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "solver_driver.py"

CONFIGS = [
    ("Sgd", {"lr": 0.1}),
    ("SgdW", {"lr": 0.05, "momentum": 0.8, "wd": 0.01}),
    ("Momentum", {"lr": 0.05, "momentum": 0.8}),
    ("Lars", {"lr": 0.1, "momentum": 0.8, "coefficient": 0.01, "eps": 1e-6}),
    ("Nesterov", {"lr": 0.05, "momentum": 0.8}),
    ("Adadelta", {"lr": 1.0, "decay": 0.9, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.05, "eps": 1e-8}),
    ("AdaBelief", {"alpha": 0.01}),
    ("AdaBelief", {"alpha": 0.01, "wd": 1e-3, "amsgrad": True, "weight_decouple": True}),
    ("AdaBelief", {"alpha": 0.01, "wd": 1e-3, "weight_decouple": True, "fixed_decay": True, "rectify": True}),
    ("AdaBelief", {"alpha": 0.01, "beta2": 0.5, "rectify": True}),
    ("RMSprop", {"lr": 0.01, "decay": 0.8, "eps": 1e-8}),
    ("RMSpropGraves", {"lr": 0.01, "decay": 0.8, "momentum": 0.7, "eps": 1e-4}),
    ("Adam", {"alpha": 0.01}),
    ("Adam", {"alpha": 0.01, "beta1": 0.5, "beta2": 0.6, "eps": 1e-3}),
    ("AdamW", {"alpha": 0.01, "wd": 0.01}),
    ("AdaBound", {"alpha": 0.01, "final_lr": 0.05, "gamma": 0.1}),
    ("Adamax", {"alpha": 0.01}),
    ("AMSGRAD", {"alpha": 0.01}),
    ("AMSGRAD", {"alpha": 0.01, "bias_correction": True}),
    ("AMSBound", {"alpha": 0.01, "final_lr": 0.05, "gamma": 0.1}),
    ("AMSBound", {"alpha": 0.01, "final_lr": 0.05, "gamma": 0.1, "bias_correction": True}),
    ("Lamb", {"eta": 0.01}),
    ("Lamb", {"eta": 0.01, "gamma_l": 0.5, "gamma_u": 2.0, "bias_correction": True}),
    ("Lion", {"lr": 0.01}),
]
# "big" has more than 65536 elements: its norms (clip_grad_by_norm, Lars, Lamb) use BLAS instead of nnabla's
# sequential float sum, so it matches to rounding; everything else must be bit-identical.
SHAPES = {"zZzZ": (2, 3, 4), "bbb": (3, 4, 1, 2), "asdfadfdasd": (), "big": (260, 260)}
STEPS = 6


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, run_nnabla, run_nnl):
    work = tmp_path_factory.mktemp("solvers")
    rng = np.random.RandomState(313)
    arrays = {"names": np.array(list(SHAPES)), "steps": np.asarray(STEPS)}
    for name, shape in SHAPES.items():
        arrays["init/" + name] = np.asarray(rng.randn(*shape), dtype=np.float32)
        for i in range(STEPS):
            arrays[f"grad/{i}/{name}"] = np.asarray(rng.randn(*shape), dtype=np.float32)
    arrays["wd"] = np.array([1e-3 * (i % 2) for i in range(STEPS)], np.float32)
    arrays["clip"] = np.array([0.0, 5.0, 1.0, 0.0, 2.0, 0.5][:STEPS], np.float32)
    np.savez(work / "data.npz", **arrays)
    configs = [{"key": f"{i:02d}_{name}", "solver": name, "kwargs": kwargs} for i, (name, kwargs) in enumerate(CONFIGS)]
    (work / "configs.json").write_text(json.dumps(configs))
    run_nnabla(DRIVER, "nnabla", "run", str(work))
    run_nnl(DRIVER, "nnl", "run", str(work))
    run_nnabla(DRIVER, "nnabla", "load", str(work))
    run_nnl(DRIVER, "nnl", "load", str(work))
    return work, configs


def _load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _keys(configs):
    return [c["key"] for c in configs]


def test_updates_match(scenario):
    work, configs = scenario
    ref = _load(work / "nnabla_out.npz")
    ours = _load(work / "nnl_out.npz")
    assert sorted(ref) == sorted(ours)
    assert {k.split("/")[0] for k in ref} == set(_keys(configs))
    for k in ref:
        if "/big" in k:
            np.testing.assert_allclose(ours[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
        else:
            np.testing.assert_array_equal(ours[k], ref[k], err_msg=k)


def test_info_name_and_learning_rate_match(scenario):
    work, _ = scenario
    ref = json.loads((work / "nnabla_info.json").read_text())
    ours = json.loads((work / "nnl_info.json").read_text())
    assert ours == ref


@pytest.mark.parametrize("fmt", ["h5", "protobuf"])
def test_states_cross_load(scenario, fmt):
    work, configs = scenario
    saved = {"nnabla": _load(work / "nnabla_out.npz"), "nnl": _load(work / "nnl_out.npz")}
    for reader, writer in [("nnl", "nnabla"), ("nnabla", "nnl")]:
        loaded = _load(work / f"{reader}_loaded_{fmt}.npz")
        expected = {k: v for k, v in saved[writer].items() if "/state/" in k}
        assert sorted(loaded) == sorted(expected), (reader, writer)
        for k in expected:
            np.testing.assert_array_equal(loaded[k], expected[k], err_msg=f"{writer} -> {reader}: {k}")
