"""Console jobs: `nnl train` / `nnl forward` as processes, queue, stop/suspend/resume, crash reports, restart
recovery, shutdown, evaluation results (checked against the files the commands wrote)."""

from __future__ import annotations

import csv
import json
import os
import time

import numpy as np
import pytest

from nnl.console.jobs import JobError, JobManager, read_series
from nnl.console.project import sample_project
from nnl.console.workspace import Workspace
from nnl.data import load_mnist5k
from nnl.data.csv_datasets import write_image_classification_csv


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


@pytest.fixture
def manager(ws):
    jobs = JobManager(ws, max_running=1, poll_s=0.05)
    jobs.start()
    yield jobs
    jobs.shutdown()


def _until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _epochs(manager, job_id):
    return len(read_series(manager.job_dir(job_id)).get("cost", []))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not alive
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def test_training_job_runs_and_reports(manager, tiny_config):
    job_id = manager.submit_training(sample_project(), nntxt=tiny_config(2))
    status = manager.wait(job_id, 120)
    assert status["state"] == "finished", status.get("error")
    job_dir = manager.job_dir(job_id)
    assert {"status.json", "project.nnlproj", "net.nntxt", "log.txt", "results.nnp"} <= set(os.listdir(job_dir))
    assert json.loads((job_dir / "status.json").read_text())["state"] == "finished"
    metrics = manager.metrics(job_id)
    assert set(metrics["series"]) == {"cost", "train_error", "valid_error"}
    assert [p[0] for p in metrics["series"]["valid_error"]] == [1, 2]
    # the same numbers as nnl train's monitoring_report.yml (keyed epoch - 1)
    report = (job_dir / "monitoring_report.yml").read_text().splitlines()
    epoch2 = report[report.index("1:") + 1:]
    (reported,) = [float(line.split(": ")[1]) for line in epoch2 if line.startswith("  valid_error: ")]
    assert metrics["series"]["valid_error"][1][1] == pytest.approx(reported, rel=1e-5)
    progress = metrics["progress"]
    assert progress["epoch"] == 2 and progress["max_epoch"] == 10 and progress["remaining"] == 0
    assert progress["elapsed"] > 0
    assert manager.list()[0]["id"] == job_id


def test_jobs_beyond_the_limit_wait_in_the_queue(manager, tiny_config):
    first = manager.submit_training(sample_project(), nntxt=tiny_config(2))
    second = manager.submit_training(sample_project(), nntxt=tiny_config(1))
    assert manager.get(second)["state"] == "queued"
    a, b = manager.wait(first, 120), manager.wait(second, 120)
    assert a["state"] == b["state"] == "finished"
    assert b["started"] >= a["finished"]


def test_a_crashing_job_is_reported_failed_with_its_log(manager, tiny_config):
    missing = tiny_config(1).replace(tiny_config.train_csv, "/nonexistent/train.csv")
    job_id = manager.submit_training(sample_project(), nntxt=missing)
    status = manager.wait(job_id, 60)
    assert status["state"] == "failed" and status["returncode"] != 0
    assert "exit status" in status["error"] and "/nonexistent/train.csv" in status["error"]
    broken = manager.submit_training(sample_project(), nntxt="network { name: ")
    assert manager.wait(broken, 60)["state"] == "failed"
    ok = manager.submit_training(sample_project(), nntxt=tiny_config(1))  # and the next job still runs
    assert manager.wait(ok, 120)["state"] == "finished"


def test_stop_suspend_resume(manager, tiny_config):
    job_id = manager.submit_training(sample_project(), nntxt=tiny_config(300))
    _until(lambda: _epochs(manager, job_id) >= 2)
    status = manager.suspend(job_id)
    assert status["state"] == "suspended" and status["resumable"] and not _alive(status["pid"])
    done = _epochs(manager, job_id)
    with pytest.raises(JobError, match="only queued or running"):
        manager.stop(job_id)
    assert manager.resume(job_id)["state"] in ("queued", "running")
    _until(lambda: _epochs(manager, job_id) >= done + 2)
    epochs = [p[0] for p in read_series(manager.job_dir(job_id))["cost"]]
    assert epochs == list(range(1, len(epochs) + 1))  # continued from the checkpoint, not restarted
    progress = manager.get(job_id)["progress"]
    assert progress["max_iteration"] == 1200 and progress["iteration"] >= 4 * done
    assert manager.stop(job_id)["state"] == "stopped"
    with pytest.raises(JobError, match="cannot be resumed"):
        manager.resume(manager.submit_evaluation(job_id))


def test_restart_recovery_and_resume(ws, tiny_config):
    first = JobManager(ws, poll_s=0.05)
    job_id = first.submit_training(sample_project(), nntxt=tiny_config(300))
    process = first._processes[job_id]
    _until(lambda: _epochs(first, job_id) >= 2)
    # the console dies (its child lives on in its own session); a new console starts on the same workspace
    second = JobManager(ws, poll_s=0.05)
    process.wait(timeout=10)  # the new console ended the orphan
    status = second.get(job_id)
    assert status["state"] == "failed" and status["resumable"] and "resume" in status["error"]
    before = _epochs(second, job_id)
    second.resume(job_id)
    _until(lambda: _epochs(second, job_id) >= before + 1)
    second.stop(job_id)
    epochs = [p[0] for p in read_series(second.job_dir(job_id))["cost"]]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > before


def test_shutdown_terminates_children(ws, tiny_config):
    manager = JobManager(ws, poll_s=0.05)
    job_id = manager.submit_training(sample_project(), nntxt=tiny_config(300))
    pid = manager.get(job_id)["pid"]
    assert _alive(pid)
    manager.shutdown()
    assert not _alive(pid) and manager.get(job_id)["state"] == "suspended"


def test_evaluation_results(manager, ws, tiny_config):
    (x, y), _ = load_mnist5k()
    write_image_classification_csv(str(ws.datasets_dir / "tiny"), "eval.csv", "eval", x[:40], y[:40])
    project = sample_project("datasets/tiny/eval.csv", "datasets/tiny/eval.csv")
    train = manager.submit_training(project, nntxt=tiny_config(3))
    assert manager.wait(train, 120)["state"] == "finished"
    job_id = manager.submit_evaluation(train)
    status = manager.wait(job_id, 120)
    assert status["state"] == "finished", status.get("error")
    assert status["parent"] == train and status["dataset"] == "Validation"
    result = manager.evaluation(job_id, offset=30, limit=50)
    assert result["total"] == 40 and len(result["rows"]) == 10 and result["offset"] == 30
    header = result["header"]
    assert header[:2] == ["x:image", "y:label"] and header[2:] == [f"y'__{i}" for i in range(10)]
    assert result["image_columns"] == [0]
    with open(manager.job_dir(job_id) / "output_result.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    scores = np.array([[float(v) for v in row[2:]] for row in rows])
    labels = np.array([int(row[1]) for row in rows])
    matrix = result["confusion_matrices"]["y'"]
    assert matrix["accuracy"] == pytest.approx(float(np.mean(scores.argmax(1) == labels)))
    likelihood = result["likelihood"]["y'"]
    correct = scores.argmax(1) == labels
    confidence = scores.max(1)
    assert likelihood["correct"] == np.histogram(confidence[correct], bins=10, range=(0, 1))[0].tolist()
    assert likelihood["wrong"] == np.histogram(confidence[~correct], bins=10, range=(0, 1))[0].tolist()
    with pytest.raises(JobError, match="not an evaluation job"):
        manager.evaluation(train)


def test_delete_and_bad_requests(manager, tiny_config):
    with pytest.raises(JobError, match="no job"):
        manager.get("20200101_000000_abcdef")
    with pytest.raises(JobError, match="is not a job id"):
        manager.get("../../etc")
    job_id = manager.submit_training(sample_project(), nntxt=tiny_config(300))
    _until(lambda: manager.get(job_id)["state"] == "running")
    with pytest.raises(JobError, match="stop it before deleting"):
        manager.delete(job_id)
    with pytest.raises(JobError, match="has no trained model yet"):
        manager.submit_evaluation(job_id)
    manager.stop(job_id)
    job_dir = manager.job_dir(job_id)
    manager.delete(job_id)
    assert not job_dir.exists() and all(j["id"] != job_id for j in manager.list())


def test_max_running_must_be_positive(ws):
    with pytest.raises(ValueError, match="max_running must be at least 1"):
        JobManager(ws, max_running=0)
