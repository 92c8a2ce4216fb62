"""Interoperability tests against a real nnabla 1.39 (run in a subprocess).

They are marked ``nnabla`` and skipped unless the environment variable ``NNABLA_PYTHON`` names a Python
interpreter that can ``import nnabla`` (e.g. a venv made with
``python3.10 -m venv /work/nnabla_venv && /work/nnabla_venv/bin/pip install nnabla==1.39.0``)::

    NNABLA_PYTHON=/work/nnabla_venv/bin/python python -m pytest -q -m nnabla tests/interop
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line("markers", "nnabla: interoperability tests against a real nnabla 1.39 (need NNABLA_PYTHON)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.nnabla)


def _run(python: str, script: Path, *args: str, env: dict | None = None, timeout: int = 300) -> str:
    proc = subprocess.run(
        [python, str(script), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=str(script.parent)
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{python} {script.name} {' '.join(args)} failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


@pytest.fixture(scope="session")
def nnabla_python() -> str:
    python = os.environ.get("NNABLA_PYTHON")
    if not python:
        pytest.skip("NNABLA_PYTHON is not set (path of a python with nnabla 1.39 installed)")
    if not Path(python).exists():
        pytest.skip(f"NNABLA_PYTHON={python} does not exist")
    return python


@pytest.fixture(scope="session")
def run_nnabla(nnabla_python):
    """run_nnabla(script_path, *args) -> stdout, executed by the real nnabla's python."""

    def run(script: Path, *args: str) -> str:
        return _run(nnabla_python, script, *args)

    return run


@pytest.fixture(scope="session")
def run_nnl():
    """run_nnl(script_path, *args) -> stdout, executed by this python with the repository on sys.path."""

    def run(script: Path, *args: str) -> str:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        return _run(sys.executable, script, *args, env=env)

    return run
