"""Shared fixtures of the console tests: the NNC sample projects of ../shared/data (skipped when absent, failing
under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nnc-samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*.sdcproj")) if SAMPLES_DIR.is_dir() else []


def require_samples() -> list[Path]:
    """The 19 sample .sdcproj files, or skip (fail under CI=true) when the shared data is absent."""
    if not SAMPLES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the NNC sample projects are missing: {SAMPLES_DIR}")
        pytest.skip(f"the NNC sample projects are not here: {SAMPLES_DIR}")
    return SAMPLES


def read_text(path: Path) -> str:
    """A file's text with its line endings untouched."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """``make(max_epoch, iter_per_epoch=4) -> nntxt text``: an MLP on 64 training / 32 validation MNIST digits (batch
    16) with monitors train_error and valid_error and an executor, the datasets at absolute paths."""
    import nnl as nn
    import nnl.functions as F
    import nnl.parametric_functions as PF
    import nnl.solvers as S
    from nnl.data import load_mnist5k
    from nnl.data.csv_datasets import write_image_classification_csv
    from nnl.ext_utils import get_extension_context
    from nnl.utils.save import save

    folder = tmp_path_factory.mktemp("tiny")
    (x, y), (xv, yv) = load_mnist5k()
    train = write_image_classification_csv(str(folder), "train.csv", "training", x[:64], y[:64])
    valid = write_image_classification_csv(str(folder), "valid.csv", "validation", xv[:32], yv[:32])
    batch = 16

    def make(max_epoch: int, iter_per_epoch: int = 4) -> str:
        nn.clear_parameters()

        def network(runtime: bool) -> dict:
            image = nn.Variable((batch, 1, 28, 28))
            logits = PF.affine(F.relu(PF.affine(image, 16, name="fc1")), 10, name="fc2")
            if runtime:
                return {"outputs": {"y'": F.softmax(logits)}, "names": {"x": image}}
            label = nn.Variable((batch, 1))
            return {"outputs": {"loss": F.softmax_cross_entropy(logits, label)}, "names": {"x": image, "y": label}}

        networks = [dict(name=n, batch_size=batch, **network(n == "MainRuntime"))
                    for n in ("Main", "MainValidation", "MainRuntime")]
        solver = S.Adam(0.01)
        solver.set_parameters(nn.get_parameters())
        data = {"variables": ["x", "y"], "batch_size": batch, "no_image_normalization": False}
        mapping = {"x": "x", "y": "y"}
        contents = {
            "global_config": {"default_context": get_extension_context("cpu")},
            "training_config": {"max_epoch": max_epoch, "iter_per_epoch": iter_per_epoch, "save_best": True,
                                "monitor_interval": 1},
            "networks": networks,
            "datasets": [dict(data, name="Training", uri=train, shuffle=True),
                         dict(data, name="Validation", uri=valid, shuffle=False)],
            "optimizers": [{"name": "Optimizer", "solver": solver, "network": "Main", "dataset": "Training",
                            "weight_decay": 0, "lr_decay": 1, "lr_decay_interval": 1, "update_interval": 1,
                            "data_variables": mapping}],
            "monitors": [{"name": n, "network": "MainValidation", "dataset": d, "data_variables": mapping}
                         for n, d in (("train_error", "Training"), ("valid_error", "Validation"))],
            "executors": [{"name": "Executor", "network": "MainRuntime", "data": ["x"], "output": ["y'"]}],
        }
        path = folder / f"tiny_{max_epoch}_{iter_per_epoch}.nntxt"
        save(str(path), contents)
        return path.read_text()

    make.train_csv, make.valid_csv = train, valid  # type: ignore[attr-defined]
    return make
