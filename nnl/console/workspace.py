"""The console's workspace: one folder holding ``projects/`` (``<name>.nnlproj``), ``jobs/`` (one folder per training
or evaluation job) and ``datasets/`` (CSV datasets; relative dataset URIs in projects are relative to the workspace).

Every path that comes from a request goes through ``Workspace.resolve``, which refuses anything that leaves the
workspace, through ``..``, an absolute path or a symbolic link.

>>> import tempfile; ws = Workspace(tempfile.mkdtemp())
>>> sorted(p.name for p in ws.root.iterdir())
['datasets', 'jobs', 'projects']
>>> ws.resolve("../etc/passwd")
Traceback (most recent call last):
...
nnl.console.workspace.WorkspaceError: path '../etc/passwd' is outside the workspace
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

from nnl.console.project import (
    SUFFIX,
    ProjectError,
    check_name,
    load_project,
    sample_project,
    save_project,
    validate_project,
)

__all__ = ["Workspace", "WorkspaceError", "NotFoundError", "ConflictError", "default_root", "SAMPLE_TRAINING_CSV", "SAMPLE_VALIDATION_CSV"]

SAMPLE_TRAINING_CSV = "datasets/mnist/mnist_training.csv"
SAMPLE_VALIDATION_CSV = "datasets/mnist/mnist_test.csv"


class WorkspaceError(ValueError):
    """A path outside the workspace, a missing or existing project, a bad name."""


class NotFoundError(WorkspaceError):
    """No such project or file."""


class ConflictError(WorkspaceError):
    """The name is taken."""


def default_root() -> Path:
    """``~/nnl-workspace``."""
    return Path.home() / "nnl-workspace"


class Workspace:
    """A workspace folder (created with its sub-folders if needed)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        root = Path(root) if root is not None else default_root()
        for sub in ("projects", "jobs", "datasets"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.projects_dir, self.jobs_dir, self.datasets_dir = (self.root / s for s in ("projects", "jobs", "datasets"))
        self._sample_lock = threading.Lock()

    # -- paths ------------------------------------------------------------------------------------------------------
    def resolve(self, path: str | os.PathLike[str], base: Path | None = None) -> Path:
        """``path`` (relative to ``base``, default the workspace root; NNC's ``\\`` separators accepted) as an
        absolute path, refused with WorkspaceError when it (or a symbolic link on the way) leads outside."""
        text = os.fspath(path)
        if not isinstance(text, str) or "\x00" in text:
            raise WorkspaceError(f"path {text!r} is not a valid path")
        if os.sep == "/":
            text = text.replace("\\", "/")
        target = ((base or self.root) / text).resolve()
        if target != self.root and self.root not in target.parents:
            raise WorkspaceError(f"path {os.fspath(path)!r} is outside the workspace")
        return target

    def relative(self, path: Path) -> str:
        """A path inside the workspace as a relative POSIX path (what projects and the API use)."""
        return path.resolve().relative_to(self.root).as_posix()

    def project_path(self, name: str) -> Path:
        try:
            check_name(name, "project name")
        except ProjectError as e:
            raise WorkspaceError(str(e)) from None
        return self.resolve(name + SUFFIX, self.projects_dir)

    # -- projects ---------------------------------------------------------------------------------------------------
    def list_projects(self) -> list[dict[str, Any]]:
        """Every ``.nnlproj`` of ``projects/``, newest first: name, modification time, description (or the error
        that makes it unreadable)."""
        out = []
        for path in self.projects_dir.glob("*" + SUFFIX):
            entry: dict[str, Any] = {"name": path.name[: -len(SUFFIX)], "modified": path.stat().st_mtime}
            try:
                entry["description"] = load_project(path).get("description", "")
            except (ProjectError, OSError) as e:
                entry["error"] = str(e)
            out.append(entry)
        return sorted(out, key=lambda e: -e["modified"])

    def has_project(self, name: str) -> bool:
        return self.project_path(name).is_file()

    def load_project(self, name: str) -> dict[str, Any]:
        path = self.project_path(name)
        if not path.is_file():
            raise NotFoundError(f"no project named {name!r} in {self.projects_dir}")
        return load_project(path)

    def save_project(self, project: dict[str, Any], name: str | None = None, overwrite: bool = True) -> str:
        """Save (validated, atomically) under ``name`` (default the project's own name, which is set to it)."""
        name = name if name is not None else validate_project(project)["name"]
        path = self.project_path(name)
        if not overwrite and path.exists():
            raise ConflictError(f"a project named {name!r} already exists")
        save_project({**project, "name": name}, path)
        return name

    def delete_project(self, name: str) -> None:
        path = self.project_path(name)
        if not path.is_file():
            raise NotFoundError(f"no project named {name!r} in {self.projects_dir}")
        path.unlink()

    def copy_project(self, source: str, target: str) -> str:
        return self.save_project(self.load_project(source), target, overwrite=False)

    def rename_project(self, source: str, target: str) -> str:
        self.copy_project(source, target)
        self.delete_project(source)
        return target

    def free_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted_2``, ``wanted_3``... whichever names no project yet."""
        name, n = wanted, 1
        while self.has_project(name):
            n += 1
            name = f"{wanted}_{n}"
        return name

    def ensure_sample_project(self) -> str | None:
        """On the first start (no project at all) add NNC's LeNet sample, ready to train; returns its name."""
        if any(self.projects_dir.glob("*" + SUFFIX)) or (self.root / ".sample-created").exists():
            return None
        name = self.save_project(sample_project(SAMPLE_TRAINING_CSV, SAMPLE_VALIDATION_CSV))
        (self.root / ".sample-created").write_text("the sample project was added once; delete it freely\n")
        return name

    # -- datasets ---------------------------------------------------------------------------------------------------
    def ensure_sample_dataset(self) -> tuple[Path, Path]:
        """The bundled MNIST subset as NNC CSVs under ``datasets/mnist`` (written once, by ``nnl dataset mnist``'s
        code), for the sample project."""
        training, validation = self.resolve(SAMPLE_TRAINING_CSV), self.resolve(SAMPLE_VALIDATION_CSV)
        with self._sample_lock:
            if not (training.is_file() and validation.is_file()):
                from nnl.data.csv_datasets import write_mnist

                write_mnist(os.fspath(training.parent))
        return training, validation

    def dataset_path(self, uri: str) -> Path:
        """A project's dataset URI as a file of the workspace (the sample MNIST CSVs are written on first use)."""
        path = self.resolve(uri)
        if not path.exists() and self.relative(path) in (SAMPLE_TRAINING_CSV, SAMPLE_VALIDATION_CSV):
            self.ensure_sample_dataset()
        return path

    def list_datasets(self) -> list[dict[str, Any]]:
        """Every ``.csv`` under ``datasets/`` that looks like an NNC dataset (a header row), with its size."""
        out = []
        for path in sorted(self.datasets_dir.rglob("*.csv")):
            try:
                path = self.resolve(path)
            except WorkspaceError:  # a link out of the workspace
                continue
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                header = f.readline().strip()
            if not _is_header(header):  # a data file (a matrix cell of another dataset), not a dataset
                continue
            out.append({"path": self.relative(path), "size": path.stat().st_size, "header": header[:500]})
        return out


def _is_header(line: str) -> bool:
    """An NNC dataset header (``x:image,y:label``, ``x__0,x__1,y``): cells that are names, not numbers."""
    cells = [c.strip() for c in line.split(",")]
    return bool(line) and all(re.match(r"[#A-Za-z_]", c) for c in cells if c)


_IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")


def _cell_kind(value: str, base: Path) -> tuple[str, list[int] | None]:
    """What one CSV cell holds: a number, or a file (image, matrix ``.csv``, ``.npy``) and its shape."""
    try:
        float(value)
        return "scalar", []
    except ValueError:
        pass
    path = (base / value.replace("\\", "/")).resolve()
    suffix = path.suffix.lower()
    try:
        if suffix in _IMAGE_SUFFIXES:
            from PIL import Image

            with Image.open(path) as image:
                channels = len(image.getbands()) if image.mode not in ("P", "1") else 1
                return "image", [channels, image.height, image.width]
        if suffix == ".csv":
            with open(path, encoding="utf-8-sig") as f:
                rows = [line for line in f.read().splitlines() if line.strip()]
            return "matrix", [len(rows), len(rows[0].split(",")) if rows else 0]
        if suffix == ".npy":
            import numpy as np

            return "array", list(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError, SyntaxError):
        return "missing file", None
    return "text", None


def preview_dataset(csv_path: Path, offset: int = 0, limit: int = 20) -> dict[str, Any]:
    """An NNC CSV dataset at a glance: its variables (name, columns, kind, shape, label), row count and a page of
    rows. Kinds: scalar, vector (``x__0, x__1``...), image, matrix, array, text, missing file."""
    import csv

    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise WorkspaceError(f"{csv_path.name}: the file is empty (expected a header row)")
    header, body = rows[0], rows[1:]
    variables: dict[str, dict[str, Any]] = {}
    for index, cell in enumerate(header):
        if cell.startswith("#"):
            continue
        name_part, _, label = cell.partition(":")
        name = re.sub(r"__\d+$", "", name_part)
        variable = variables.setdefault(name, {"name": name, "columns": [], "labels": []})
        variable["columns"].append(index)
        if label:
            variable["labels"].append(label)
    first = body[0] if body else []
    for variable in variables.values():
        columns = variable["columns"]
        if len(columns) > 1:
            variable["kind"], variable["shape"] = "vector", [len(columns)]
        elif first and columns[0] < len(first):
            variable["kind"], variable["shape"] = _cell_kind(first[columns[0]], csv_path.parent)
        else:
            variable["kind"], variable["shape"] = "unknown", None
    return {"header": header, "variables": list(variables.values()), "total": len(body), "offset": offset,
            "rows": body[offset: offset + limit]}


def thumbnail_png(path: Path, size: int = 128) -> bytes:
    """An image file as a PNG of at most ``size`` x ``size`` pixels."""
    import io

    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((size, size))
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return buffer.getvalue()
