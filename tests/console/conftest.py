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
