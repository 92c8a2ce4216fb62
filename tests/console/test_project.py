"""The project document: new/sample projects, .nnlproj files (stable, diff-friendly, atomic), validation errors."""

from __future__ import annotations

import copy
import difflib
import json
import os

import pytest

from nnl.console.project import (
    ProjectError,
    check_name,
    dump_project,
    load_project,
    new_project,
    parse_project,
    sample_project,
    save_project,
    validate_project,
)
from nnl.console.sdcproj import read_sdcproj, write_sdcproj

from .conftest import SAMPLES, read_text, require_samples


def test_new_project_is_valid_and_nnc_shaped():
    project = validate_project(new_project("my project"))
    assert project["name"] == "my project" and project["networks"][0] == {"name": "Main", "layers": [], "links": [],
                                                                          "comments": []}
    assert [d["name"] for d in project["datasets"]] == ["Training", "Validation"]
    assert project["optimizers"][0]["solver"] == "Adam" and project["optimizers"][0]["network"] == "Main"
    assert [(m["name"], m["network"]) for m in project["monitors"]] == [("train_error", "MainValidation"),
                                                                       ("valid_error", "MainValidation")]
    assert project["executors"][0]["network"] == "MainRuntime"
    text = write_sdcproj(project)  # and NNC's file form of it reads back to the same document
    back = read_sdcproj(text, name="my project")
    back.pop("sdcproj_extra")
    assert back == project


@pytest.mark.parametrize("name", ["", "a/b", "a\\b", "c:d", "x*", "why?", 'q"', "<", ">", "a|b", "semi;colon",
                                  "x" * 256, "line\nbreak", " . "])
def test_nnc_name_rule_refuses(name):
    with pytest.raises(ProjectError, match="new_project: name"):
        new_project(name)


@pytest.mark.parametrize("name", ["a", "LeNet (copy 2)", "x" * 255, "日本語", "with.dot-and_underscore"])
def test_nnc_name_rule_accepts(name):
    assert check_name(name, "name") == name


def test_sample_project_is_nncs_lenet_sample():
    path = next((p for p in require_samples() if "MNIST_LeNet" in p.name), None)
    assert path is not None
    nnc = read_sdcproj(read_text(path))
    sample = validate_project(sample_project())
    for key in ("networks", "config", "optimizers", "monitors", "executors"):
        assert sample[key] == nnc[key], key
    assert [(d["name"], d["shuffle"]) for d in sample["datasets"]] == [("Training", True), ("Validation", False)]
    assert sample["datasets"][0]["uri"] == "datasets/mnist/mnist_training.csv"
    assert sample_project("a.csv", "b.csv")["datasets"][1]["uri"] == "b.csv"


def test_save_and_load_round_trip(tmp_path):
    project = sample_project()
    path = tmp_path / "lenet.nnlproj"
    save_project(project, path)
    assert load_project(path) == project
    assert os.listdir(tmp_path) == ["lenet.nnlproj"]  # no temporary file left behind
    assert json.loads(path.read_text()) == project


def test_file_is_stable_and_diffs_line_by_line():
    project = sample_project()
    text = dump_project(project)
    shuffled = json.loads(json.dumps(project))
    shuffled = {k: shuffled[k] for k in reversed(list(shuffled))}  # key order of the input does not matter
    assert dump_project(shuffled) == text
    lines = text.splitlines()
    assert lines[1:4] == ['  "format": "nnl-project",', '  "version": 1,', '  "name": "MNIST_LeNet",']
    assert '        {"id": 0, "source": 0, "source_pin": 0, "dest": 1, "dest_pin": 0},' in lines  # one link a line
    edited = copy.deepcopy(project)
    edited["networks"][0]["layers"][1]["properties"]["OutMaps"] = "32"
    edited["networks"][0]["layers"][1]["x"] = 48
    changes = [d for d in difflib.ndiff(lines, dump_project(edited).splitlines()) if d[:1] in "+-"]
    assert changes == ['-           "x": 24,', '+           "x": 48,', '-             "OutMaps": "16",',
                       '+             "OutMaps": "32",']


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem[:50] for p in SAMPLES])
def test_every_nnc_sample_is_a_valid_project_and_survives_nnlproj(path):
    project = read_sdcproj(read_text(path), name=path.stem)
    again = parse_project(dump_project(project))
    assert again == project
    assert write_sdcproj(again) == read_text(path)


def _problems(project) -> str:
    with pytest.raises(ProjectError) as info:
        validate_project(project)
    return str(info.value)


def test_validation_reports_every_problem_with_its_place():
    project = sample_project()
    main = project["networks"][0]
    main["layers"][1]["id"] = 0                                 # duplicate id
    main["layers"][3]["name"] = "Convolution"                   # duplicate layer name
    main["layers"][2]["properties"]["KernelShape"] = [2, 2]     # not a string
    main["links"].append({"id": 99, "source": 0, "source_pin": 0, "dest": 123, "dest_pin": 0})
    main["links"].append({"id": 99, "source": 0, "source_pin": 0, "dest": 1, "dest_pin": 0})
    project["config"]["type_config"] = "double"
    project["config"]["batch_size"] = 0
    project["optimizers"][0]["dataset"] = "Nowhere"
    project["monitors"][0]["network"] = 5
    message = _problems(project)
    for expected in ["networks[0].layers[1]: id 0 is also used by layer 'Input'",
                     "networks[0].layers[3]: layer name 'Convolution' is used twice in network 'Main'",
                     "networks[0].layers[2].properties['KernelShape']: expected str, got [2, 2]",
                     "networks[0].links[11]: dest 123 is not a layer of network 'Main'",
                     "networks[0].links[12]: link id 99 is used twice",
                     "config.type_config: expected 'float' or 'half', got 'double'",
                     "config.batch_size: must be at least 1, got 0",
                     "optimizers[0].dataset: 'Nowhere' is not one of the project's datasets (Training, Validation)",
                     "monitors[0].network: expected str, got 5"]:
        assert expected in message


@pytest.mark.parametrize("mutate, expected", [
    (lambda p: p.pop("networks"), "networks: expected list"),
    (lambda p: p.update(networks=[]), "a project needs at least one network"),
    (lambda p: p.update(name="a/b"), "name: 'a/b' must not contain /"),
    (lambda p: p.update(format="other"), "format: expected 'nnl-project'"),
    (lambda p: p.update(version=99), "this nnl reads versions up to 1"),
    (lambda p: p["networks"].append(copy.deepcopy(p["networks"][0])), "network name 'Main' is used twice"),
    (lambda p: p["networks"][0]["layers"][0].pop("type"), "networks[0].layers[0]: missing 'type'"),
    (lambda p: p["networks"][0]["layers"][0].update(x="left"), "networks[0].layers[0].x: expected int or float"),
    (lambda p: p["networks"][0]["links"][0].update(id=True), "networks[0].links[0].id: expected int, got true"),
    (lambda p: p["datasets"][0].update(shuffle="yes"), "datasets[0].shuffle: expected bool"),
    (lambda p: p["datasets"].append(dict(p["datasets"][0])), "dataset name 'Training' is used twice"),
])
def test_validation_errors(mutate, expected):
    project = sample_project()
    mutate(project)
    assert expected in _problems(project)


def test_malformed_files_are_refused_and_saving_an_invalid_project_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.nnlproj"
    path.write_text("{not json")
    with pytest.raises(ProjectError, match=f"{path}: not a JSON project file"):
        load_project(path)
    path.write_text(json.dumps({"name": "x", "networks": "no"}))
    with pytest.raises(ProjectError, match=f"{path}: invalid project: networks: expected list"):
        load_project(path)
    save_project(sample_project(), path)
    before = path.read_bytes()
    broken = sample_project()
    broken["networks"][0]["links"][0]["dest"] = 1000
    with pytest.raises(ProjectError):
        save_project(broken, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["p.nnlproj"]
