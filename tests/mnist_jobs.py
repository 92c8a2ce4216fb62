"""Small real MNIST datasets and classifier configurations for the tests that run `nnl train`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nnl as nn
import nnl.functions as F
import nnl.solvers as S
from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv
from nnl.ext_utils import get_extension_context
from nnl.utils.save import save


def mnist_csvs(folder: str, n_train: int, n_valid: int) -> tuple[str, str]:
    """The first ``n_train`` training and ``n_valid`` test digits of the bundled subset as NNC CSV datasets."""
    (x, y), (xv, yv) = load_mnist5k()
    train = write_image_classification_csv(str(folder), "train.csv", "training", x[:n_train], y[:n_train])
    valid = write_image_classification_csv(str(folder), "valid.csv", "validation", xv[:n_valid], yv[:n_valid])
    return train, valid


def classifier_config(path: Any, train_csv: str, valid_csv: str, network: Callable[[Any], Any], *, batch: int,
                      iter_per_epoch: int, max_epoch: int = 3, solver: Any = None, lr_decay: float = 1,
                      lr_decay_interval: int = 1, probe: bool = False, **training: Any) -> str:
    """Save a training configuration of ``network`` (image -> logits) as nnabla_cli runs it: networks Main,
    MainValidation, MainRuntime, monitors train_error and valid_error, an executor; ``probe`` adds monitor
    label_mean (the mean label seen)."""
    nn.clear_parameters()
    nn.seed(0)

    def build(runtime: bool) -> dict[str, Any]:
        x = nn.Variable((batch, 1, 28, 28))
        logits = network(x)
        if runtime:
            return {"outputs": {"y'": F.softmax(logits)}, "names": {"x": x}}
        y = nn.Variable((batch, 1))
        return {"outputs": {"loss": F.softmax_cross_entropy(logits, y)}, "names": {"x": x, "y": y}}

    networks = [dict(name=n, batch_size=batch, **build(n == "MainRuntime")) for n in ("Main", "MainValidation", "MainRuntime")]
    if probe:
        label = nn.Variable((batch, 1))
        networks.append(dict(name="Probe", batch_size=batch, outputs={"mean": F.mul_scalar(label, 1.0)},
                             names={"y": label}))
    solver = solver or S.Adam(0.01)
    solver.set_parameters(nn.get_parameters())  # after the networks: the solver trains every parameter
    data = {"variables": ["x", "y"], "batch_size": batch, "no_image_normalization": False}
    contents = {
        "global_config": {"default_context": get_extension_context("cpu")},
        "training_config": dict({"max_epoch": max_epoch, "iter_per_epoch": iter_per_epoch, "save_best": True,
                                 "monitor_interval": 1}, **training),
        "networks": networks,
        "datasets": [dict(data, name="Training", uri=train_csv, shuffle=True),
                     dict(data, name="Validation", uri=valid_csv, shuffle=False)],
        "optimizers": [{"name": "Optimizer", "solver": solver, "network": "Main", "dataset": "Training",
                        "weight_decay": 0, "lr_decay": lr_decay, "lr_decay_interval": lr_decay_interval,
                        "update_interval": 1, "data_variables": {"x": "x", "y": "y"}}],
        "monitors": [{"name": n, "network": "MainValidation", "dataset": d, "data_variables": {"x": "x", "y": "y"}}
                     for n, d in (("train_error", "Training"), ("valid_error", "Validation"))]
        + ([{"name": "label_mean", "network": "Probe", "dataset": "Validation", "data_variables": {"y": "y"}}]
           if probe else []),
        "executors": [{"name": "Executor", "network": "MainRuntime", "data": ["x"], "output": ["y'"]}],
    }
    save(str(path), contents, include_params=True)
    return str(path)
