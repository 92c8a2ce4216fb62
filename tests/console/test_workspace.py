"""The workspace: layout, projects on disk, NNC's name rule, paths confined to the folder (.., absolute, symlinks)."""

from __future__ import annotations

import os

import pytest

from nnl.console.project import sample_project
from nnl.console.workspace import SAMPLE_TRAINING_CSV, Workspace, WorkspaceError


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


def test_layout(ws, tmp_path):
    assert ws.root == (tmp_path / "ws").resolve()
    assert sorted(p.name for p in ws.root.iterdir()) == ["datasets", "jobs", "projects"]


@pytest.mark.parametrize("path", ["..", "../x", "datasets/../../x", "/etc/passwd", "..\\..\\x", "a/../../b",
                                  "datasets/..\\..\\y", "x\x00y"])
def test_paths_out_of_the_workspace_are_refused(ws, path):
    with pytest.raises(WorkspaceError):
        ws.resolve(path)


def test_paths_inside_are_resolved(ws):
    assert ws.resolve("datasets/a.csv") == ws.root / "datasets" / "a.csv"
    assert ws.resolve("datasets\\mnist\\a.csv") == ws.root / "datasets" / "mnist" / "a.csv"  # NNC's separators
    assert ws.resolve("x/../datasets") == ws.datasets_dir
    assert ws.resolve(str(ws.root / "jobs")) == ws.jobs_dir  # an absolute path inside is fine
    assert ws.resolve("a.csv", ws.datasets_dir) == ws.datasets_dir / "a.csv"


def test_symlinks_out_of_the_workspace_are_refused(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("x:image,y:label\n")
    os.symlink(outside, ws.datasets_dir / "link")
    os.symlink(outside / "secret.csv", ws.datasets_dir / "file.csv")
    for path in ("datasets/link/secret.csv", "datasets/file.csv", "datasets/link"):
        with pytest.raises(WorkspaceError, match="outside the workspace"):
            ws.resolve(path)
    assert ws.list_datasets() == []  # the links are not offered either
    os.symlink(ws.datasets_dir, ws.root / "inner")  # a link that stays inside is fine
    assert ws.resolve("inner/x.csv") == ws.datasets_dir / "x.csv"


def test_projects_crud(ws):
    assert ws.list_projects() == []
    project = sample_project()
    assert ws.save_project(project) == "MNIST_LeNet"
    assert ws.load_project("MNIST_LeNet") == project
    assert ws.copy_project("MNIST_LeNet", "copy") == "copy"
    assert ws.load_project("copy")["name"] == "copy"
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.copy_project("MNIST_LeNet", "copy")
    ws.rename_project("copy", "renamed")
    assert sorted(p["name"] for p in ws.list_projects()) == ["MNIST_LeNet", "renamed"]
    ws.delete_project("renamed")
    with pytest.raises(WorkspaceError, match="no project named 'renamed'"):
        ws.load_project("renamed")
    with pytest.raises(WorkspaceError, match="no project named"):
        ws.delete_project("renamed")
    assert ws.free_name("MNIST_LeNet") == "MNIST_LeNet_2" and ws.free_name("new") == "new"


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "x;y", "..", "c:\\x"])
def test_project_names_follow_nncs_rule(ws, name):
    with pytest.raises(WorkspaceError):
        ws.project_path(name)


def test_unreadable_project_files_are_listed_with_their_error(ws):
    (ws.projects_dir / "broken.nnlproj").write_text("{")
    (entry,) = ws.list_projects()
    assert entry["name"] == "broken" and "not a JSON project file" in entry["error"]


def test_sample_project_once(ws):
    assert ws.ensure_sample_project() == "MNIST_LeNet"
    ws.delete_project("MNIST_LeNet")
    assert ws.ensure_sample_project() is None  # deleted by the user: not brought back
    assert ws.list_projects() == []


def test_list_datasets_finds_nnc_csvs_only(ws):
    (ws.datasets_dir / "d").mkdir()
    (ws.datasets_dir / "d" / "train.csv").write_text("x:image,y:label\n./a.png,1\n")
    (ws.datasets_dir / "d" / "matrix.csv").write_text("0.5,1.0\n2,3\n")  # a data cell, not a dataset
    assert [d["path"] for d in ws.list_datasets()] == ["datasets/d/train.csv"]


@pytest.mark.slow
def test_sample_dataset_is_written_on_first_use(ws):
    path = ws.dataset_path(SAMPLE_TRAINING_CSV)
    assert path.is_file() and len(path.read_text().splitlines()) == 4001
