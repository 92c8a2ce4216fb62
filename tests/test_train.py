"""nnl train / nnl forward: configuration-driven training, results, checkpoints, exact resume, evaluation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
import nnl.solvers as S
from nnl.cli.main import main as cli
from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv
from nnl.ext_utils import get_extension_context
from nnl.nnp.container import read_nnp
from nnl.utils.save import save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 16


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    """320 training and 96 validation digits as an NNC CSV dataset."""
    folder = tmp_path_factory.mktemp("mnist")
    (x, y), (xv, yv) = load_mnist5k()
    train = write_image_classification_csv(str(folder), "train.csv", "training", x[:320], y[:320])
    valid = write_image_classification_csv(str(folder), "valid.csv", "validation", xv[:96], yv[:96])
    return train, valid


def _mlp(x):
    return PF.affine(F.relu(PF.affine(x, 32, name="fc1")), 10, name="fc2")


def write_config(path, train_csv, valid_csv, max_epoch=3, solver=None, **training):
    nn.clear_parameters()
    nn.seed(0)

    def network(runtime):
        x = nn.Variable((BATCH, 1, 28, 28))
        logits = _mlp(x)
        if runtime:
            return {"outputs": {"y'": F.softmax(logits)}, "names": {"x": x}}
        y = nn.Variable((BATCH, 1))
        return {"outputs": {"loss": F.softmax_cross_entropy(logits, y)}, "names": {"x": x, "y": y}}

    networks = [dict(name=n, batch_size=BATCH, **network(n == "MainRuntime"))
                for n in ("Main", "MainValidation", "MainRuntime")]
    solver = solver or S.Adam(0.01)
    solver.set_parameters(nn.get_parameters())  # after the networks: the solver trains every parameter
    data = {"variables": ["x", "y"], "batch_size": BATCH, "no_image_normalization": False}
    contents = {
        "global_config": {"default_context": get_extension_context("cpu")},
        "training_config": dict({"max_epoch": max_epoch, "iter_per_epoch": 320 // BATCH, "save_best": True,
                                 "monitor_interval": 1}, **training),
        "networks": networks,
        "datasets": [dict(data, name="Training", uri=train_csv, shuffle=True),
                     dict(data, name="Validation", uri=valid_csv, shuffle=False)],
        "optimizers": [{"name": "Optimizer", "solver": solver, "network": "Main", "dataset": "Training",
                        "weight_decay": 0, "lr_decay": 1, "lr_decay_interval": 1, "update_interval": 1,
                        "data_variables": {"x": "x", "y": "y"}}],
        "monitors": [{"name": n, "network": "MainValidation", "dataset": d, "data_variables": {"x": "x", "y": "y"}}
                     for n, d in (("train_error", "Training"), ("valid_error", "Validation"))],
        "executors": [{"name": "Executor", "network": "MainRuntime", "data": ["x"], "output": ["y'"]}],
    }
    save(str(path), contents, include_params=True)
    return str(path)


def _parameters(nnp_path):
    return read_nnp(nnp_path).parameters


def test_train_and_forward(small_mnist, tmp_path):
    config = write_config(tmp_path / "config.nntxt", *small_mnist)
    out = tmp_path / "run"
    assert cli(["train", "-c", config, "-o", str(out), "-q"]) == 0
    files = set(os.listdir(out))
    assert {"results.nnp", "results_current_3.nnp", "monitoring_report.yml", "learning_curve.png",
            "cost.series.txt", "valid_error.series.txt"} <= files
    report = (out / "monitoring_report.yml").read_text().splitlines()
    assert report[0] == "0:" and report[1].startswith("  cost: ") and "  valid_error: " in report[3]
    costs = [float(line.split()[1]) for line in (out / "cost.series.txt").read_text().splitlines()]
    assert len(costs) == 3 and costs[-1] < costs[0]
    with zipfile.ZipFile(out / "results_current_3.nnp") as z:  # nnabla's members + nnl's training state
        assert {"nnp_version.txt", "network.nntxt", "parameter.h5", "Optimizer_Adam_optimizer.h5.optimizer",
                "training_state.json"} <= set(z.namelist())

    evaluation = tmp_path / "eval"
    assert cli(["forward", "-c", str(out / "results.nnp"), "-d", small_mnist[1], "-o", str(evaluation)]) == 0
    rows = (evaluation / "output_result.csv").read_text().splitlines()
    assert rows[0] == "x:image,y:label," + ",".join(f"y'__{i}" for i in range(10))
    assert len(rows) == 1 + 96
    matrix = json.loads((evaluation / "confusion_matrix.json").read_text())["y'"]
    probabilities = np.array([[float(v) for v in row.split(",")[2:]] for row in rows[1:]])
    labels = np.array([int(row.split(",")[1]) for row in rows[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    assert matrix["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))
    assert matrix["accuracy"] > 0.6 and np.sum(matrix["matrix"]) == 96


def test_resume_after_sigkill_matches_an_uninterrupted_run(small_mnist, tmp_path):
    config = write_config(tmp_path / "config.nntxt", *small_mnist, max_epoch=4)
    straight = tmp_path / "straight"
    assert cli(["train", "-c", config, "-o", str(straight), "-q"]) == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nnl.cli.main", "train", "-c", config, "-o", str(killed), "-q"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "results_current_2.nnp").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "results_current_4.nnp").exists(), "the run finished before it could be killed"
    assert cli(["train", "-c", config, "-o", str(killed), "-q", "--resume"]) == 0

    expected, resumed = _parameters(str(straight / "results_current_4.nnp")), _parameters(
        str(killed / "results_current_4.nnp"))
    assert list(expected) == list(resumed)
    for name in expected:
        np.testing.assert_array_equal(resumed[name], expected[name], err_msg=name)
    assert (killed / "monitoring_report.yml").read_text() == (straight / "monitoring_report.yml").read_text()


def test_update_interval_and_schedule(small_mnist, tmp_path):
    """update_interval=2 accumulates two batches per update: half as many Adam steps as iterations."""
    config = write_config(tmp_path / "config.nntxt", *small_mnist, max_epoch=1)
    from nnl.nnp.container import write_nnp

    nnp = read_nnp(config)
    nnp.proto.optimizer[0].update_interval = 2
    write_nnp(config, nnp)
    out = tmp_path / "run"
    from nnl.training import Trainer

    trainer = Trainer(config, str(out), progress=False)
    trainer.run()
    states = trainer.info.optimizers["Optimizer"].solver.get_states()
    assert {s.t for s in states.values()} == {320 // BATCH // 2}


def test_bad_configurations(small_mnist, tmp_path, capsys):
    config = write_config(tmp_path / "config.nntxt", *small_mnist)
    nnp = read_nnp(config)
    nnp.proto.dataset[0].uri = str(tmp_path / "missing.csv")
    from nnl.nnp.container import write_nnp

    write_nnp(tmp_path / "bad.nntxt", nnp)
    assert cli(["train", "-c", str(tmp_path / "bad.nntxt"), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "missing.csv" in capsys.readouterr().err
    nnp = read_nnp(config)
    nnp.proto.optimizer[0].data_variable[0].data_name = "image"
    write_nnp(tmp_path / "bad2.nntxt", nnp)
    assert cli(["train", "-c", str(tmp_path / "bad2.nntxt"), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "'image'" in capsys.readouterr().err


@pytest.mark.slow
def test_main_job_lenet_config(tmp_path):
    """The README's main job: LeNet from examples/mnist/lenet.nntxt reaches >= 96% on the 1,000 test digits."""
    subprocess.run([sys.executable, "-m", "nnl.cli.main", "dataset", "mnist", "-o", "data/mnist"], cwd=tmp_path,
                   check=True)
    config = os.path.join(ROOT, "examples", "mnist", "lenet.nntxt")
    subprocess.run([sys.executable, "-m", "nnl.cli.main", "train", "-c", config, "-o", "run", "-q"], cwd=tmp_path,
                   check=True)
    subprocess.run([sys.executable, "-m", "nnl.cli.main", "forward", "-c", "run/results.nnp", "-d",
                    "data/mnist/mnist_test.csv", "-o", "eval"], cwd=tmp_path, check=True)
    matrix = json.loads((tmp_path / "eval" / "confusion_matrix.json").read_text())["y'"]
    assert matrix["accuracy"] >= 0.96
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000


def test_data_parallel_two_processes(small_mnist, tmp_path):
    """`nnl train --nproc 2`: gloo processes, each on its half of the data, rank 0 writing the results."""
    pytest.importorskip("torch")
    config = write_config(tmp_path / "config.nntxt", *small_mnist, max_epoch=2)
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "nnl.cli.main", "train", "-c", config, "-o", str(out), "-q", "--nproc",
                    "2"], cwd=ROOT, check=True, timeout=300)
    costs = [float(line.split()[1]) for line in (out / "cost.series.txt").read_text().splitlines()]
    assert len(costs) == 2 and costs[1] < costs[0]
    assert set(_parameters(str(out / "results.nnp"))) == {"fc1/affine/W", "fc1/affine/b", "fc2/affine/W",
                                                          "fc2/affine/b"}


def test_alternating_optimizers_start_and_end_iter(small_mnist, tmp_path):
    """Two optimizers on one network, as NNC writes GAN configs: each trains its own parameters in its own range."""
    config = write_config(tmp_path / "config.nntxt", *small_mnist, max_epoch=2)
    from nnl.nnp.container import write_nnp
    from nnl.training import Trainer

    nnp = read_nnp(config)
    first = nnp.proto.optimizer[0]
    second = nnp.proto.optimizer.add()
    second.CopyFrom(first)
    second.name = "Second"
    first.end_iter, second.start_iter = 12, 13
    for optimizer, trained in ((first, "fc1"), (second, "fc2")):
        for p in optimizer.parameter_variable:
            p.learning_rate_multiplier = 1.0 if p.variable_name.startswith(trained) else 0.0
    write_nnp(config, nnp)
    trainer = Trainer(config, str(tmp_path / "run"), progress=False)
    fc2_before = trainer.info.networks["Main"].parameters["fc2/affine/W"].d.copy()
    trainer.run()
    total = 2 * (320 // BATCH)
    steps = {name: {s.t for s in o.solver.get_states().values()} for name, o in trainer.info.optimizers.items()}
    assert steps == {"Optimizer": {12}, "Second": {total - 12}}
    assert list(trainer.info.optimizers["Second"].solver.get_parameters()) == ["fc2/affine/W", "fc2/affine/b"]
    assert not np.array_equal(trainer.info.networks["Main"].parameters["fc2/affine/W"].d, fc2_before)
