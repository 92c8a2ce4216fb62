"""Start N local worker processes of one script with the torchrun environment, wait, and propagate failures.

This is the single-node launcher ``nnl.communicators.launch`` (and ``nnl train --nproc N``) use; it needs no
torch. For several nodes use torchrun, whose rendezvous sets the same variables::

    torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d --rdzv_endpoint HOST:29400 train.py

Each worker gets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``, ``MASTER_ADDR``,
``MASTER_PORT`` (a free port unless given) and, like torchrun, ``OMP_NUM_THREADS=1`` unless set. When a worker
fails the others are stopped (they would otherwise wait in their next collective until the timeout), and
:class:`LaunchError` names the worker, its exit code and, with ``capture_output``, the end of its stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class WorkerResult:
    """How one worker ended: ``returncode`` is negative when it was stopped by a signal."""

    rank: int
    local_rank: int
    returncode: int | None
    stdout: str | None = None
    stderr: str | None = None


class LaunchError(RuntimeError):
    """A worker failed (or the job timed out); ``results`` holds every worker's :class:`WorkerResult`."""

    def __init__(self, message: str, results: list[WorkerResult], failed: WorkerResult | None = None) -> None:
        super().__init__(message)
        self.results = results
        self.failed = failed  # the worker that failed first (None on a timeout)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _tail(text: str | None, lines: int = 40) -> str:
    if not text:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def launch(
    nproc: int,
    target_script: str,
    args: Sequence[str] = (),
    *,
    module: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
    nnodes: int = 1,
    node_rank: int = 0,
    capture_output: bool = False,
    python: str | None = None,
    cwd: str | None = None,
) -> list[WorkerResult]:
    """Run ``python target_script *args`` in ``nproc`` processes on this machine; return when all succeed.

    ``module=True`` runs ``python -m target_script``. ``env`` adds variables to the inherited environment.
    ``capture_output`` keeps each worker's stdout/stderr (in the returned results and in the error) instead of
    letting them print. With ``nnodes > 1`` (one call per node, same ``master_addr``/``master_port``) ranks are
    ``node_rank * nproc + local_rank``. Raises :class:`LaunchError` when a worker exits non-zero or ``timeout``
    seconds pass; the other workers are stopped first.

    >>> import sys, tempfile, os
    >>> script = os.path.join(tempfile.mkdtemp(), "w.py")
    >>> _ = open(script, "w").write("import os; print(os.environ['RANK'], os.environ['WORLD_SIZE'])")
    >>> sorted(r.stdout.strip() for r in launch(2, script, capture_output=True))
    ['0 2', '1 2']
    """
    nproc = int(nproc)
    if nproc < 1:
        raise ValueError(f"launch: nproc must be at least 1, got {nproc}.")
    if nnodes < 1 or not 0 <= node_rank < nnodes:
        raise ValueError(f"launch: node_rank={node_rank} must be in [0, nnodes={nnodes}).")
    if nnodes > 1 and master_port is None:
        raise ValueError("launch: with nnodes > 1 every node must be given the same master_addr and master_port.")
    if not module and not os.path.exists(target_script):
        raise FileNotFoundError(f"launch: target_script {target_script!r} does not exist.")
    port = int(master_port) if master_port is not None else free_port(master_addr)
    world = nnodes * nproc
    command = [python or sys.executable, *(["-m"] if module else []), target_script, *map(str, args)]
    base = dict(os.environ)
    base.update(env or {})
    base.setdefault("OMP_NUM_THREADS", "1")
    # the workers find nnl where this process found it, even when it is not installed (a source checkout)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, base.get("PYTHONPATH", "")) if p)

    logs: list[tuple[object, object]] = []
    procs: list[subprocess.Popen[bytes]] = []
    error_dir = tempfile.TemporaryDirectory(prefix="nnl-launch-")
    try:
        for local_rank in range(nproc):
            rank = node_rank * nproc + local_rank
            worker_env = dict(base)
            worker_env.update(
                RANK=str(rank),
                LOCAL_RANK=str(local_rank),
                WORLD_SIZE=str(world),
                LOCAL_WORLD_SIZE=str(nproc),
                GROUP_RANK=str(node_rank),
                MASTER_ADDR=master_addr,
                MASTER_PORT=str(port),
                NNL_ERROR_FILE=os.path.join(error_dir.name, f"rank{rank}.json"),
            )
            out = tempfile.TemporaryFile() if capture_output else None
            err = tempfile.TemporaryFile() if capture_output else None
            logs.append((out, err))
            procs.append(
                subprocess.Popen(command, env=worker_env, stdout=out, stderr=err, cwd=cwd, start_new_session=True)
            )
        failure = _wait(procs, timeout)
        errors = _read_errors(error_dir.name)
        if failure is not None and failure[0] == "failed":
            # workers that reported an error are on their way out: let them finish (their exit code is the truth)
            deadline = time.monotonic() + 3.0
            for i, p in enumerate(procs):
                if node_rank * nproc + i in errors:
                    try:
                        p.wait(timeout=max(0.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
            errors = _read_errors(error_dir.name)
        _stop(procs)
    except BaseException:
        _stop(procs)
        _close(logs)
        raise
    finally:
        error_dir.cleanup()
    results = [WorkerResult(node_rank * nproc + i, i, p.returncode, *_read(logs[i])) for i, p in enumerate(procs)]
    _close(logs)
    if failure is None:
        return results
    kind, index = failure
    # the workers' own reports say who failed first: the others fail because their peer disappeared
    reported = [r for r in results if r.returncode not in (0, None) and r.rank in errors]
    if kind == "failed" and reported:
        index = results.index(min(reported, key=lambda r: errors[r.rank]["time"]))
    who = results[index]
    shown = " ".join(command)
    if kind == "timeout":
        message = f"launch: `{shown}` did not finish within {timeout} s; all {nproc} workers were stopped."
    else:
        message = (
            f"launch: worker rank {who.rank} (local rank {who.local_rank}) of {world} exited with code "
            f"{who.returncode} running `{shown}`; the other workers were stopped."
        )
    if who.rank in errors and kind == "failed":
        message += f" Its error: {errors[who.rank]['error']}"
    others = [f"rank {r.rank}: {r.returncode}" for r in results if r is not who and r.returncode != 0]
    if kind != "timeout" and others:
        message += f" Exit codes of the others (negative: stopped by a signal): {', '.join(others)}."
    if capture_output and who.stderr:
        message += f"\n--- stderr of rank {who.rank} (end) ---\n{_tail(who.stderr)}"
    raise LaunchError(message, results, None if kind == "timeout" else who)


def _wait(procs: list[subprocess.Popen[bytes]], timeout: float | None) -> tuple[str, int] | None:
    """Wait until all exit 0 (None), one fails (('failed', index)) or time runs out (('timeout', 0)).

    One thread per worker records when it exited: when a worker dies, its peers fail soon after (their
    connections close), and the worker that failed *first* is the one to report.
    """
    exited: dict[int, float] = {}
    changed = threading.Condition()

    def watch(i: int, p: subprocess.Popen[bytes]) -> None:
        p.wait()
        with changed:
            exited[i] = time.monotonic()
            changed.notify_all()

    for i, p in enumerate(procs):
        threading.Thread(target=watch, args=(i, p), daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    with changed:
        while True:
            failed = [i for i in exited if procs[i].returncode != 0]
            if failed:
                first = min(failed, key=lambda i: exited[i])
                break
            if len(exited) == len(procs):
                return None
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                first = -1
                break
            changed.wait(remaining)
    return ("timeout", 0) if first < 0 else ("failed", first)


def _stop(procs: list[subprocess.Popen[bytes]], grace: float = 5.0) -> None:
    """SIGTERM the process group of every running worker, then SIGKILL what is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            return
        for p in alive:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.poll() is None for p in alive):
            time.sleep(0.02)
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def _read_errors(directory: str) -> dict[int, dict[str, Any]]:
    """The error reports the workers wrote (see :func:`install_error_report`), by rank."""
    errors: dict[int, dict[str, Any]] = {}
    for name in os.listdir(directory):
        if name.startswith("rank") and name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    report = json.load(f)
                errors[int(report["rank"])] = report
            except (OSError, ValueError, KeyError):
                continue
    return errors


def write_error_report(rank: int, error: str) -> None:
    """Record, for the launcher, when and why this worker failed (no-op outside :func:`launch`)."""
    path = os.environ.get("NNL_ERROR_FILE")
    if not path:
        return
    try:
        with open(path + ".tmp", "w") as f:
            json.dump({"rank": rank, "time": time.time(), "error": error}, f)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def install_error_report(rank: int) -> None:
    """In a worker started by :func:`launch`: report an uncaught exception (with its time) before the usual
    traceback, so the launcher can tell the worker that failed first from those that lost their peer."""
    if not os.environ.get("NNL_ERROR_FILE") or getattr(sys.excepthook, "_nnl_error_report", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        write_error_report(rank, f"{kind.__name__}: {value}".strip()[:2000])
        previous(kind, value, tb)

    hook._nnl_error_report = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _read(pair: tuple[object, object]) -> tuple[str | None, str | None]:
    texts: list[str | None] = []
    for f in pair:
        if f is None:
            texts.append(None)
            continue
        f.seek(0)  # type: ignore[attr-defined]
        texts.append(f.read().decode(errors="replace"))  # type: ignore[attr-defined]
    return texts[0], texts[1]


def _close(logs: list[tuple[object, object]]) -> None:
    for pair in logs:
        for f in pair:
            if f is not None:
                f.close()  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnl._distributed.launch --nproc N script.py [args...]``."""
    parser = argparse.ArgumentParser(prog="python -m nnl._distributed.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--nproc", "--nproc_per_node", type=int, required=True, help="processes on this node")
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--node_rank", type=int, default=0)
    parser.add_argument("--master_addr", default="127.0.0.1")
    parser.add_argument("--master_port", type=int, default=None)
    parser.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    parser.add_argument("target")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    try:
        launch(
            ns.nproc,
            ns.target,
            ns.args,
            module=ns.module,
            nnodes=ns.nnodes,
            node_rank=ns.node_rank,
            master_addr=ns.master_addr,
            master_port=ns.master_port,
        )
    except LaunchError as error:
        print(error, file=sys.stderr)
        code = error.failed.returncode if error.failed is not None else None
        return code if code is not None and code > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
