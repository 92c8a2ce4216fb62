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
from mnist_jobs import classifier_config

import nnl as nn
import nnl.functions as F
import nnl.parametric_functions as PF
from nnl.cli.main import main as cli
from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv
from nnl.nnp.container import read_nnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 16


def _mlp(x):
    return PF.affine(F.relu(PF.affine(x, 32, name="fc1")), 10, name="fc2")


def write_config(path, train_csv, valid_csv, max_epoch=3, solver=None, probe=False, **training):
    """An MLP config on ``small_mnist`` (monitors train_error, valid_error; ``probe``: label_mean)."""
    return classifier_config(path, train_csv, valid_csv, _mlp, batch=BATCH, iter_per_epoch=320 // BATCH,
                             max_epoch=max_epoch, solver=solver, probe=probe, **training)


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


# ----------------------------------------------------------------------------------------------------------------
# data that does not fit the network stops the run before any training step


def _wide_label_csv(valid_csv, path):
    """The rows of ``valid_csv`` with the label spread over three columns y__0..y__2 (next to it: same images)."""
    rows = open(valid_csv).read().splitlines()[1:]
    lines = ["x:image,y__0,y__1,y__2"] + [f"{r},0,0" for r in rows]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def test_data_that_does_not_fit_the_network_stops_before_training(small_mnist, tmp_path, capsys):
    rng = np.random.RandomState(11)
    colour = write_image_classification_csv(str(tmp_path / "colour"), "train.csv", "training",
                                            rng.randint(0, 256, (20, 32, 32, 3)), rng.randint(0, 10, 20))
    wide = _wide_label_csv(small_mnist[1], os.path.join(os.path.dirname(small_mnist[1]), "wide_labels.csv"))
    cases = [
        # 3x32x32 colour images where the network reads 1x28x28 (the optimizer's dataset)
        ((colour, small_mnist[1]), ["optimizer 'Optimizer'", "dataset 'Training'", colour, "column 'x'",
                                    "network 'Main' variable 'x'", "examples of shape (3, 32, 32)",
                                    f"shape ({BATCH}, 1, 28, 28)"]),
        # a label three values wide where the loss takes one (a monitor's dataset)
        ((small_mnist[0], wide), ["monitor 'valid_error'", "dataset 'Validation'", wide, "column 'y'",
                                  "network 'MainValidation' variable 'y'", "examples of shape (3,)",
                                  f"shape ({BATCH}, 1)"]),
    ]
    for index, ((train_csv, valid_csv), expected) in enumerate(cases):
        config = write_config(tmp_path / f"config{index}.nntxt", train_csv, valid_csv)
        out = tmp_path / f"run{index}"
        assert cli(["train", "-c", config, "-o", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        for text in expected:
            assert text in err, (text, err)
        assert not os.listdir(out), "nothing is trained or written"


# ----------------------------------------------------------------------------------------------------------------
# a full disk never corrupts the results already written


@pytest.fixture(scope="module")
def two_epochs(small_mnist, tmp_path_factory):
    """A finished 2-epoch run (save_best off: results.nnp is rewritten every epoch) and the 4-epoch config."""
    folder = tmp_path_factory.mktemp("two_epochs")
    config2 = write_config(folder / "config2.nntxt", *small_mnist, max_epoch=2, save_best=False)
    config4 = write_config(folder / "config4.nntxt", *small_mnist, max_epoch=4, save_best=False)
    assert cli(["train", "-c", config2, "-o", str(folder / "run"), "-q"]) == 0
    straight = folder / "straight"
    assert cli(["train", "-c", config4, "-o", str(straight), "-q"]) == 0
    return folder / "run", config4, _parameters(str(straight / "results_current_4.nnp"))


def _snapshot(out):
    return {name: (out / name).read_bytes() for name in ("results.nnp", "results_current_2.nnp")}


def _assert_intact(out, before, config):
    """The files are byte for byte as they were, no temporary file is left, and training resumes from them to the
    parameters of an uninterrupted run."""
    assert _snapshot(out) == before
    assert sorted(os.listdir(out)) == sorted(["results.nnp", "results_current_2.nnp", "monitoring_report.yml",
                                              "learning_curve.png", "cost.series.txt", "train_error.series.txt",
                                              "valid_error.series.txt"])
    from nnl.parameter_io import load_parameters

    nn.clear_parameters()
    load_parameters(str(out / "results_current_2.nnp"))
    assert set(nn.get_parameters(grad_only=False)) == set(_parameters(str(out / "results.nnp")))


def _resume_to_the_end(out, config, expected):
    assert cli(["train", "-c", config, "-o", str(out), "-q", "--resume"]) == 0
    resumed = _parameters(str(out / "results_current_4.nnp"))
    for name in expected:
        np.testing.assert_array_equal(resumed[name], expected[name], err_msg=name)


def test_full_disk_mid_checkpoint_keeps_the_previous_files(two_epochs, tmp_path, capsys, monkeypatch):
    """The writer fails with ENOSPC after half of a result file: the run stops with a clear error."""
    import builtins
    import errno
    import shutil

    import nnl.parameter_io

    run, config4, expected = two_epochs
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = _snapshot(out)
    failures = []

    class FullDisk:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            self._f.write(data[: len(data) // 2])
            self._f.flush()
            failures.append(os.path.getsize(self._f.name))
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)
        return FullDisk(f) if "w" in mode and os.path.basename(path).startswith(".results") else f

    monkeypatch.setattr(nnl.parameter_io, "open", open_on_a_full_disk, raising=False)
    assert cli(["train", "-c", config4, "-o", str(out), "-q", "--resume"]) == 1
    err = capsys.readouterr().err
    assert failures and failures[0] > 1000, "the failure came in the middle of a result file"
    assert "nnl train: error:" in err and "No space left on device" in err and "epoch 3" in err
    assert "results.nnp" in err and "the checkpoint of epoch 2" in err and "--resume" in err
    assert "Traceback" not in err
    _assert_intact(out, before, config4)
    monkeypatch.undo()
    _resume_to_the_end(out, config4, expected)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_file_size_limit_mid_checkpoint_keeps_the_previous_files(two_epochs, tmp_path):
    """The kernel refuses writes past 40 kB (RLIMIT_FSIZE) in a real `nnl train` process: the same guarantees."""
    import resource
    import shutil

    run, config4, expected = two_epochs
    out = tmp_path / "run"
    shutil.copytree(run, out)
    before = _snapshot(out)
    assert all(len(data) > 40_000 for data in before.values())

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run([sys.executable, "-m", "nnl.cli.main", "train", "-c", config4, "-o", str(out), "-q",
                           "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 1, proc.stderr
    assert f"File too large (writing {str(out / 'results.nnp')!r}" in proc.stderr and "epoch 3" in proc.stderr and "Traceback" not in proc.stderr
    _assert_intact(out, before, config4)
    _resume_to_the_end(out, config4, expected)


# ----------------------------------------------------------------------------------------------------------------
# monitors continue one data iterator from evaluation to evaluation (nnabla_cli)


def test_monitors_continue_their_iterator_across_evaluations(small_mnist, tmp_path):
    """40 validation rows, batch 16: each evaluation takes the next 40 // 16 = 2 batches (rows 0-31, then 32-39 and
    0-23, ...), after a resume too; valid_error and label_mean share that iterator, in that order."""
    (_, _), (xv, yv) = load_mnist5k()
    valid = write_image_classification_csv(str(tmp_path / "valid40"), "valid.csv", "validation", xv[:40], yv[:40])
    labels = np.array([float(line.split(",")[1]) for line in open(valid).read().splitlines()[1:]])
    seen = 0
    expected = []
    for _ in range(4):
        seen += 32  # valid_error's two batches come first
        expected.append(labels[(seen + np.arange(32)) % 40].mean())
        seen += 32
    assert len(set(np.round(expected, 6))) > 1, "the test needs evaluations that see different rows"

    out = tmp_path / "run"
    config2 = write_config(tmp_path / "config2.nntxt", small_mnist[0], valid, max_epoch=2, probe=True)
    assert cli(["train", "-c", config2, "-o", str(out), "-q"]) == 0
    config4 = write_config(tmp_path / "config4.nntxt", small_mnist[0], valid, max_epoch=4, probe=True)
    assert cli(["train", "-c", config4, "-o", str(out), "-q", "--resume"]) == 0
    series = [float(line.split()[1]) for line in (out / "label_mean.series.txt").read_text().splitlines()]
    np.testing.assert_allclose(series, expected, rtol=1e-5)  # the series files hold 6 digits
