"""Training and evaluation jobs of the console: separate processes, a queue, live progress, history on disk.

A training job runs ``python -m nnl train -c net.nntxt -o <job dir>`` (the nntxt compiled from the project
by ``nnl.console.compile.to_nntxt``, with the dataset URIs made absolute); an evaluation job runs
``python -m nnl forward -c <training job>/results.nnp -d <csv> -o <job dir>``. At most ``max_running`` run
at once; the others wait in state ``queued``. Each job folder ``<workspace>/jobs/<id>/`` keeps ``status.json``, the
project snapshot ``project.nnlproj``, ``net.nntxt``, the process log ``log.txt`` and what the command writes:
``nnl train`` rewrites ``monitoring_report.yml``, ``<monitor>.series.txt`` (``<epoch> <value>`` lines: ``cost``,
``train_error``, ``valid_error``...), ``results.nnp`` and ``results_current_<epoch>.nnp`` after every epoch, and
prints a progress bar (``i/total [elapsed<remaining``) to the log; ``nnl forward`` writes ``output_result.csv`` and
``confusion_matrix.json``.

States: queued, running, finished, failed (with the log's tail), stopped (by the user), suspended (stopped, to be
resumed: ``nnl train --resume`` continues from the last checkpoint). A job that was running when the console died is
found ``failed`` (and resumable) when it starts again. Child processes are terminated on ``shutdown``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nnl.console.project import dump_project, validate_project
from nnl.console.workspace import Workspace, WorkspaceError
from nnl.parameter_io import write_bytes

__all__ = ["log_tail", "read_series", "JobManager", "JobError", "JobNotFoundError", "JobStateError", "ACTIVE", "TERMINAL"]

ACTIVE = ("queued", "running")
TERMINAL = ("finished", "failed", "stopped", "suspended")
_STOP_GRACE_S = 5.0
_BAR = re.compile(r"(\d+)/(\d+) \[([\d:]+)<([\d:?]+)")
_NNL = [sys.executable, "-m", "nnl"]


class JobError(ValueError):
    """A job request that cannot be done (the message says why)."""


class JobNotFoundError(JobError):
    """No such job."""


class JobStateError(JobError):
    """The action is not allowed in the job's state."""


def _seconds(clock: str) -> float | None:
    if "?" in clock:
        return None
    value = 0.0
    for part in clock.split(":"):
        value = value * 60 + int(part)
    return value


def log_tail(path: Path, chars: int = 3000) -> str:
    """The end of a log, progress-bar redraws (``\\r``) collapsed to their last state."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4 * chars))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines)[-chars:].strip()


def read_series(job_dir: Path) -> dict[str, list[list[float]]]:
    """Every ``<name>.series.txt`` of a job folder as ``{name: [[epoch, value], ...]}``."""
    series: dict[str, list[list[float]]] = {}
    for path in sorted(job_dir.glob("*.series.txt")):
        points = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    points.append([float(parts[0]), float(parts[1])])
                except ValueError:
                    continue
        series[path.name[: -len(".series.txt")]] = points
    return series


class JobManager:
    """The jobs of one workspace. Call ``start()`` to run the scheduler thread and ``shutdown()`` to stop it."""

    def __init__(self, workspace: Workspace, max_running: int = 1, poll_s: float = 0.2) -> None:
        if max_running < 1:
            raise ValueError(f"JobManager: max_running must be at least 1, got {max_running}")
        self.workspace, self.max_running, self.poll_s = workspace, max_running, poll_s
        self._lock = threading.RLock()
        self._status: dict[str, dict[str, Any]] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._requested: dict[str, str] = {}  # job id -> state asked for (stopped / suspended)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recover()

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="nnl-console-jobs", daemon=True)
            self._thread.start()

    def shutdown(self) -> None:
        """Stop the scheduler and terminate every running child (their jobs become ``suspended``: resumable)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for job_id in list(self._processes):
                self._requested[job_id] = "suspended"
                self._terminate(job_id)
            self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception as e:  # the scheduler must outlive any one job's trouble
                print(f"nnl console: job scheduler: {type(e).__name__}: {e}", file=sys.stderr)

    def _recover(self) -> None:
        """Read every job folder; a job recorded as running belonged to a console that is gone."""
        for path in sorted(self.workspace.jobs_dir.glob("*/status.json")):
            try:
                status = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if not isinstance(status, dict) or status.get("id") != path.parent.name:
                continue
            if status.get("state") == "running":
                self._kill_orphan(status)
                status.update(state="failed", finished=time.time(), resumable=status.get("kind") == "train",
                              error="the console stopped while this job was running"
                                    + ("; resume continues from its last checkpoint" if status.get("kind") == "train"
                                       else ""))
                self._write_status(status)
            self._status[status["id"]] = status

    @staticmethod
    def _kill_orphan(status: dict[str, Any]) -> None:
        """A child that outlived its console (it runs in its own session) is ended, if it is still that job."""
        pid = status.get("pid")
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, TypeError):
            return
        if isinstance(pid, int) and status.get("dir", "\0") in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    # -- status -----------------------------------------------------------------------------------------------------
    def _dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,80}", job_id or ""):
            raise JobError(f"{job_id!r} is not a job id")
        return self.workspace.resolve(job_id, self.workspace.jobs_dir)

    def _write_status(self, status: dict[str, Any]) -> None:
        write_bytes(os.fspath(self._dir(status["id"]) / "status.json"),
                    (json.dumps(status, indent=1) + "\n").encode("utf-8"))

    def _update(self, job_id: str, **changes: Any) -> None:
        status = self._status[job_id]
        status.update(changes)
        self._write_status(status)

    def list(self) -> list[dict[str, Any]]:
        """Every job, newest first, with its progress."""
        with self._lock:
            ids = list(self._status)
        return sorted((self.get(i) for i in ids), key=lambda s: s["created"], reverse=True)

    def get(self, job_id: str) -> dict[str, Any]:
        """A job's status with its progress and, when it failed, the tail of its log."""
        self._dir(job_id)  # refuses what is not a job id
        with self._lock:
            if job_id not in self._status:
                raise JobNotFoundError(f"no job {job_id!r}")
            status = copy.deepcopy(self._status[job_id])
        status["progress"] = self.progress(job_id)
        return status

    def job_dir(self, job_id: str) -> Path:
        self.get(job_id)
        return self._dir(job_id)

    def progress(self, job_id: str) -> dict[str, Any]:
        """Epoch (completed), iteration, elapsed and remaining seconds (from the progress bar's rate)."""
        with self._lock:
            status = dict(self._status[job_id])
        job_dir = self._dir(job_id)
        now = time.time()
        elapsed = status.get("elapsed_before", 0.0)
        if status.get("state") == "running" and status.get("started"):
            elapsed += now - status["started"]
        out: dict[str, Any] = {"epoch": None, "max_epoch": status.get("max_epoch"), "iteration": None,
                               "max_iteration": None, "elapsed": elapsed, "remaining": None}
        if status.get("kind") != "train":
            return out
        cost = job_dir / "cost.series.txt"
        if cost.exists():
            out["epoch"] = sum(1 for line in cost.read_text(errors="replace").splitlines() if line.strip())
        bars = _BAR.findall(log_tail(job_dir / "log.txt", 400)) if status.get("state") == "running" else []
        if bars:
            done, total, _, remaining = bars[-1]
            out.update(iteration=int(done), max_iteration=int(total), remaining=_seconds(remaining))
        elif status.get("state") == "finished":
            out["remaining"] = 0.0
        return out

    def metrics(self, job_id: str) -> dict[str, Any]:
        """State, progress and every monitor series of a job."""
        status = self.get(job_id)
        return {"state": status["state"], "progress": status["progress"], "series": read_series(self._dir(job_id))}

    # -- submitting -------------------------------------------------------------------------------------------------
    def _new_job(self, kind: str, project_name: str, **fields: Any) -> tuple[str, Path]:
        job_id = f"{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
        job_dir = self._dir(job_id)
        job_dir.mkdir(parents=True)
        status = {"id": job_id, "kind": kind, "project": project_name, "state": "queued", "created": time.time(),
                  "started": None, "finished": None, "pid": None, "returncode": None, "error": None,
                  "elapsed_before": 0.0, "dir": os.fspath(job_dir), **fields}
        with self._lock:
            self._status[job_id] = status
            self._write_status(status)
        return job_id, job_dir

    def _absolute_datasets(self, project: dict[str, Any]) -> dict[str, Any]:
        """The project with each dataset URI made an absolute path inside the workspace (the nntxt lives in the job
        folder; the sample MNIST CSVs are written on first use)."""
        compiled = copy.deepcopy(project)
        for dataset in compiled.get("datasets", []):
            if dataset.get("uri"):
                path = self.workspace.dataset_path(dataset["uri"])
                if not path.is_file():
                    raise JobError(f"dataset {dataset['name']!r}: {dataset['uri']!r} is not a file of the workspace")
                dataset["uri"] = os.fspath(path)
        return compiled

    def submit_training(self, project: dict[str, Any], nntxt: str | None = None, device: str | None = None) -> str:
        """Queue a training job for ``project`` (validated; compiled with ``nnl.console.compile`` unless ``nntxt``,
        a ready configuration, is given) on ``device`` (an extension for ``nnl train -C``; default: the
        configuration's); returns the job id."""
        validate_project(project)
        if nntxt is None:
            from nnl.console import compile as compiler

            errors = compiler.check(project)
            if errors:
                raise JobError("the network cannot be trained: " + "; ".join(errors))
            try:
                nntxt = compiler.to_nntxt(self._absolute_datasets(project))
            except WorkspaceError as e:
                raise JobError(f"a dataset of the project is not usable: {e}") from None
        config = project.get("config", {})
        job_id, job_dir = self._new_job("train", project["name"], max_epoch=config.get("max_epoch"),
                                        resumable=False)
        write_bytes(os.fspath(job_dir / "project.nnlproj"), dump_project(project).encode("utf-8"))
        write_bytes(os.fspath(job_dir / "net.nntxt"), nntxt.encode("utf-8"))
        self._update(job_id, device=device or "cpu", command=[
            *_NNL, "train", "-c", os.fspath(job_dir / "net.nntxt"), "-o", os.fspath(job_dir),
            *(["-C", device] if device else [])])
        self.poll()
        return job_id

    def submit_evaluation(self, train_job: str, dataset: str | None = None) -> str:
        """Queue ``nnl forward`` of a training job's best model on ``dataset`` (a dataset name of its project;
        default: its first executor's dataset); returns the evaluation job id."""
        status = self.get(train_job)
        if status["kind"] != "train":
            raise JobError(f"job {train_job!r} is an evaluation, not a training job")
        train_dir = self._dir(train_job)
        model = train_dir / "results.nnp"
        if not model.is_file():
            raise JobStateError(f"job {train_job!r} has no trained model yet (results.nnp): it is {status['state']}")
        project = json.loads((train_dir / "project.nnlproj").read_text(encoding="utf-8"))
        executors = project.get("executors") or []
        name = dataset or (executors[0]["dataset"] if executors else "Validation")
        uri = next((d["uri"] for d in project.get("datasets", []) if d["name"] == name), None)
        if not uri:
            raise JobError(f"the project of job {train_job!r} has no dataset {name!r} with a file")
        try:
            csv_path = self.workspace.dataset_path(uri)
        except WorkspaceError as e:
            raise JobError(f"dataset {name!r}: {e}") from None
        job_id, job_dir = self._new_job("evaluate", status["project"], parent=train_job, dataset=name,
                                        dataset_path=os.fspath(csv_path))
        self._update(job_id, command=[*_NNL, "forward", "-c", os.fspath(model), "-d", os.fspath(csv_path), "-o",
                                      os.fspath(job_dir)])
        self.poll()
        return job_id

    # -- scheduling -------------------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Collect finished children, then start queued jobs while there is room."""
        with self._lock:
            for job_id, process in list(self._processes.items()):
                if process.poll() is not None:
                    self._finish(job_id, process.returncode)
            queued = sorted((s for s in self._status.values() if s["state"] == "queued"), key=lambda s: s["created"])
            for status in queued[: max(0, self.max_running - len(self._processes))]:
                self._launch(status["id"])

    def _launch(self, job_id: str) -> None:
        status = self._status[job_id]
        job_dir = self._dir(job_id)
        command = list(status["command"]) + (["--resume"] if status.get("resume_next") else [])
        # the child imports this very nnl, wherever it is installed (the job folder is its working directory)
        package_root = os.fspath(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
        try:
            with open(job_dir / "log.txt", "ab") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           cwd=job_dir, env=env, start_new_session=True)
        except OSError as e:
            self._update(job_id, state="failed", error=f"could not start {command[0]}: {e}", finished=time.time())
            return
        self._processes[job_id] = process
        self._update(job_id, state="running", started=time.time(), finished=None, pid=process.pid,
                     returncode=None, error=None, resume_next=False)

    def _finish(self, job_id: str, returncode: int) -> None:
        del self._processes[job_id]
        status = self._status[job_id]
        now = time.time()
        elapsed = status.get("elapsed_before", 0.0) + now - (status.get("started") or now)
        requested = self._requested.pop(job_id, None)
        if requested:
            state, error = requested, None
        elif returncode == 0:
            state, error = "finished", None
        else:
            state = "failed"
            error = f"exit status {returncode}\n{log_tail(self._dir(job_id) / 'log.txt')}"
        resumable = status["kind"] == "train" and state in ("failed", "stopped", "suspended")
        self._update(job_id, state=state, returncode=returncode, error=error, finished=now, elapsed_before=elapsed,
                     resumable=resumable)

    def _terminate(self, job_id: str) -> None:
        """SIGTERM to the job's process group, SIGKILL after a grace period."""
        process = self._processes[job_id]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except OSError:
                break
            try:
                process.wait(timeout=_STOP_GRACE_S)
                break
            except subprocess.TimeoutExpired:
                continue

    # -- actions ----------------------------------------------------------------------------------------------------
    def _halt(self, job_id: str, state: str) -> dict[str, Any]:
        with self._lock:
            status = self.get(job_id)
            if status["state"] == "queued":
                self._update(job_id, state=state, finished=time.time(), resumable=status["kind"] == "train")
            elif status["state"] == "running":
                self._requested[job_id] = state
                self._terminate(job_id)
                self.poll()
            else:
                raise JobStateError(f"job {job_id!r} is {status['state']}: only queued or running jobs can be {state}")
        return self.get(job_id)

    def stop(self, job_id: str) -> dict[str, Any]:
        return self._halt(job_id, "stopped")

    def suspend(self, job_id: str) -> dict[str, Any]:
        """Stop a job keeping its checkpoints, to ``resume`` it later."""
        return self._halt(job_id, "suspended")

    def resume(self, job_id: str) -> dict[str, Any]:
        """Queue a suspended, stopped or failed training job again; it continues from its last checkpoint."""
        with self._lock:
            status = self.get(job_id)
            if status["kind"] != "train" or status["state"] not in ("suspended", "stopped", "failed"):
                raise JobStateError(f"job {job_id!r} ({status['kind']}, {status['state']}) cannot be resumed: only "
                               "suspended, stopped or failed training jobs can")
            self._update(job_id, state="queued", resume_next=True, error=None)
            self.poll()
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Remove a job that is not running (its folder too)."""
        with self._lock:
            status = self.get(job_id)
            if status["state"] == "running":
                raise JobStateError(f"job {job_id!r} is running: stop it before deleting it")
            del self._status[job_id]
            shutil.rmtree(self._dir(job_id), ignore_errors=True)

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Poll until the job is no longer queued or running (tests and scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            status = self.get(job_id)
            if status["state"] not in ACTIVE or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    # -- evaluation results -----------------------------------------------------------------------------------------
    def evaluation(self, job_id: str, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """An evaluation job's results: a page of ``output_result.csv``, the confusion matrices and, per output, a
        likelihood histogram (confidence of the predicted class, correct vs wrong predictions, 10 bins)."""
        status = self.get(job_id)
        if status["kind"] != "evaluate":
            raise JobError(f"job {job_id!r} is not an evaluation job")
        job_dir = self._dir(job_id)
        table = job_dir / "output_result.csv"
        if not table.is_file():
            raise JobStateError(f"evaluation {job_id!r} has no results (it is {status['state']})")
        with open(table, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        matrices_path = job_dir / "confusion_matrix.json"
        matrices = json.loads(matrices_path.read_text()) if matrices_path.is_file() else {}
        return {"header": header, "rows": body[offset: offset + limit], "offset": offset, "total": len(body),
                "image_columns": [i for i, h in enumerate(header) if h.endswith(":image")],
                "confusion_matrices": matrices, "likelihood": _likelihood(header, body, matrices)}


def _likelihood(header: list[str], rows: list[list[str]], matrices: dict[str, Any]) -> dict[str, Any]:
    """Per output with a label column: histograms (10 bins over [0, 1]) of the predicted class's score."""
    out = {}
    for output, matrix in matrices.items():
        label = [i for i, h in enumerate(header) if h.split(":")[0] == matrix.get("label")]
        columns = [i for i, h in enumerate(header) if re.fullmatch(re.escape(output) + r"(__\d+)?", h.split(":")[0])]
        if not label or not columns:
            continue
        correct, wrong = [0] * 10, [0] * 10
        for row in rows:
            try:
                scores = [float(row[i]) for i in columns]
                truth = int(float(row[label[0]]))
            except (ValueError, IndexError):
                continue
            if len(scores) == 1:  # one probability: the class is its rounding
                predicted, confidence = int(round(scores[0])), max(scores[0], 1 - scores[0])
            else:
                predicted = max(range(len(scores)), key=scores.__getitem__)
                confidence = scores[predicted]
            if not math.isfinite(confidence):
                continue
            bin_index = min(9, max(0, int(confidence * 10)))
            (correct if predicted == truth else wrong)[bin_index] += 1
        out[output] = {"bins": [i / 10 for i in range(11)], "correct": correct, "wrong": wrong}
    return out
