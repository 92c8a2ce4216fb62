"""The console's project document and its native file, ``<name>.nnlproj``.

A project is a plain JSON-able dict that mirrors NNC's ``.sdcproj`` (so import/export through
``nnl.console.sdcproj`` is lossless) with name-based keys::

    {"format": "nnl-project", "version": 1, "name": "lenet", "description": "free text",
     "networks": [{"name": "Main",
                   "layers": [{"id": 0, "type": "Input", "name": "Input", "x": 24, "y": 24, "width": 240,
                               "height": 48, "properties": {"Size": "1,28,28", "Dataset": "x", ...}}, ...],
                   "links": [{"id": 0, "source": 0, "source_pin": 0, "dest": 1, "dest_pin": 0}, ...],
                   "comments": [{"id": 5, "name": "Comment", "x": 0, "y": 0, "width": 240, "height": 48,
                                 "text": "..."}]}],
     "datasets": [{"name": "Training", "uri": "datasets/mnist/mnist_training.csv", "shuffle": true,
                   "enable_cache": false, "image_normalization": true, "num_data": 0}],
     "config": {"max_epoch": 10, "save_best": true, "batch_size": 64, "type_config": "float",
                "monitor_interval": 10},
     "optimizers": [{"name": "Optimizer", "network": "Main", "dataset": "Training", "solver": "Adam",
                     "solver_parameters": {"Alpha": "0.001", ...}, "update_interval": 1, "weight_decay": 0,
                     "lr_scheduler": {"type": "Exponential", "multiplier": 1, "update_interval": 1,
                                      "update_interval_unit": "iteration", "power": 1, "steps": []},
                     "warmup": {"type": "None", "length": 0, "unit": "epoch"},
                     "range_from": -1, "range_to": -1, "range_unit": "epoch"}],
     "monitors": [{"name": "train_error", "network": "MainValidation", "dataset": "Training"}, ...],
     "executors": [{"name": "Executor", "network": "MainRuntime", "dataset": "Validation", "num_evaluations": 1,
                    "repeat_evaluation_type": "mean", "need_back_propagation": false}],
     "sdcproj_extra": {...}}

Layer property values are strings exactly as NNC stores them (the derived Input/Output/Cost* are not stored). A
relative dataset ``uri`` is relative to the workspace folder. The ``.nnlproj`` file is this dict as JSON with a stable
key order, two-space indentation and one line per link, so that project files diff well.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from nnl.console.sdcproj import DEFAULT_CONFIG
from nnl.parameter_io import write_bytes

__all__ = ["ProjectError", "new_project", "load_project", "save_project", "validate_project", "sample_project",
           "dump_project", "parse_project", "check_name", "FORMAT", "VERSION", "SUFFIX"]

FORMAT, VERSION, SUFFIX = "nnl-project", 1, ".nnlproj"
# NNC's rule for project names (and nnl's for network, layer and dataset names): 1-255 characters, none of these.
_FORBIDDEN = set('\\/:*?"<>|;')

_ORDER = {
    "project": ["format", "version", "name", "description", "networks", "datasets", "config", "optimizers",
                "monitors", "executors", "sdcproj_extra"],
    "network": ["name", "layers", "links", "comments"],
    "layer": ["id", "type", "name", "x", "y", "width", "height", "properties"],
    "comment": ["id", "name", "x", "y", "width", "height", "text"],
    "link": ["id", "source", "source_pin", "dest", "dest_pin"],
    "dataset": ["name", "uri", "shuffle", "enable_cache", "image_normalization", "num_data"],
    "config": ["max_epoch", "save_best", "batch_size", "type_config", "monitor_interval"],
    "optimizer": ["name", "network", "dataset", "solver", "solver_parameters", "update_interval", "weight_decay",
                  "lr_scheduler", "warmup", "range_from", "range_to", "range_unit"],
    "lr_scheduler": ["type", "multiplier", "update_interval", "update_interval_unit", "power", "steps"],
    "warmup": ["type", "length", "unit"],
    "monitor": ["name", "network", "dataset"],
    "executor": ["name", "network", "dataset", "num_evaluations", "repeat_evaluation_type", "need_back_propagation"],
}


class ProjectError(ValueError):
    """An invalid project document or file; the message lists every problem found, each with where it is."""


# ---------------------------------------------------------------------------------------------------- construction
def _optimizer(network: str = "Main", dataset: str = "Training") -> dict[str, Any]:
    return {"name": "Optimizer", "network": network, "dataset": dataset, "solver": "Adam",
            "solver_parameters": {"Alpha": "0.001", "Beta1": "0.9", "Beta2": "0.999", "Epsilon": "1e-08"},
            "update_interval": 1, "weight_decay": 0,
            "lr_scheduler": {"type": "Exponential", "multiplier": 1, "update_interval": 1,
                             "update_interval_unit": "iteration", "power": 1, "steps": []},
            "warmup": {"type": "None", "length": 0, "unit": "epoch"},
            "range_from": -1, "range_to": -1, "range_unit": "epoch"}


def new_project(name: str) -> dict[str, Any]:
    """An empty project as NNC starts one: network Main, datasets Training/Validation, Adam, the two monitors
    (on MainValidation, which NNC derives when compiling) and an executor on MainRuntime.

    >>> p = new_project("demo"); p["networks"][0]["name"], [m["name"] for m in p["monitors"]]
    ('Main', ['train_error', 'valid_error'])
    """
    check_name(name, "new_project: name")
    dataset = {"uri": "", "enable_cache": False, "image_normalization": True, "num_data": 0}
    return {"format": FORMAT, "version": VERSION, "name": name, "description": "",
            "networks": [{"name": "Main", "layers": [], "links": [], "comments": []}],
            "datasets": [{"name": "Training", **dataset, "shuffle": True},
                         {"name": "Validation", **dataset, "shuffle": False}],
            "config": dict(DEFAULT_CONFIG), "optimizers": [_optimizer()],
            "monitors": [{"name": "train_error", "network": "MainValidation", "dataset": "Training"},
                         {"name": "valid_error", "network": "MainValidation", "dataset": "Validation"}],
            "executors": [{"name": "Executor", "network": "MainRuntime", "dataset": "Validation",
                           "num_evaluations": 1, "repeat_evaluation_type": "mean", "need_back_propagation": False}]}


def _parameters(w_initializer: str) -> dict[str, str]:
    return {"ParameterScope": "*Name", "W.File": "", "W.Initializer": w_initializer, "W.InitializerMultiplier": "1",
            "W.LRateMultiplier": "1.0", "b.File": "", "b.Initializer": "Constant", "b.InitializerMultiplier": "0.0",
            "b.LRateMultiplier": "1.0"}


def _convolution(maps: int, kernel: str) -> dict[str, str]:
    return {"OutMaps": str(maps), "KernelShape": kernel, "WithBias": "True", "BorderMode": "valid",
            "Padding": "0,0", "Strides": "1,1", "Dilation": "1,1", **_parameters("NormalConvolutionGlorot")}


def _affine(units: int) -> dict[str, str]:
    return {"OutShape": str(units), "WithBias": "True", **_parameters("NormalAffineGlorot")}


def sample_project(training_csv: str = "datasets/mnist/mnist_training.csv",
                   validation_csv: str = "datasets/mnist/mnist_test.csv") -> dict[str, Any]:
    """NNC's MNIST LeNet sample (``image_recognition/MNIST/LeNet``): the same layers, properties, ids, positions and
    training configuration, with its datasets pointing at the bundled MNIST subset (paths relative to the workspace,
    which writes them on first use: ``nnl.console.workspace.Workspace.ensure_sample_dataset``)."""
    pool = {"KernelShape": "2,2", "Strides": "*KernelShape", "IgnoreBorder": "True", "Padding": "0,0"}
    relu = {"InPlace": "*AutoInPlaceOnce"}
    layers = [  # (id, type, name, y, properties) in the sample's order
        (0, "Input", "Input", 24, {"Size": "1,28,28", "Dataset": "x", "Generator": "None",
                                   "GeneratorMultiplier": "1.0"}),
        (1, "Convolution", "Convolution", 72, _convolution(16, "7,7")),
        (2, "MaxPooling", "MaxPooling", 168, dict(pool)),
        (4, "Convolution", "Convolution_2", 216, _convolution(30, "3,3")),
        (5, "MaxPooling", "MaxPooling_2", 264, dict(pool)),
        (6, "Tanh", "Tanh_2", 312, {}),
        (7, "Affine", "Affine", 360, _affine(150)),
        (9, "Affine", "Affine_2", 456, _affine(10)),
        (12, "Softmax", "Softmax", 504, {"Axis": "0"}),
        (14, "ReLU", "ReLU", 120, dict(relu)),
        (15, "ReLU", "ReLU_2", 408, dict(relu)),
        (16, "CategoricalCrossEntropy", "CategoricalCrossEntropy", 552,
         {"Axis": "0", "T.Dataset": "y", "T.Generator": "None", "T.GeneratorMultiplier": "1.0"}),
    ]
    links = [(0, 0, 1), (4, 4, 5), (5, 5, 6), (11, 9, 12), (14, 2, 4), (15, 1, 14), (16, 14, 2), (17, 7, 15),
             (18, 15, 9), (19, 12, 16), (20, 6, 7)]
    project = new_project("MNIST_LeNet")
    project["description"] = ("LeNet on MNIST (NNC's image_recognition/MNIST/LeNet sample) with the bundled subset of "
                              "MNIST: 4,000 training and 1,000 test digits.")
    project["networks"][0]["layers"] = [
        {"id": i, "type": t, "name": n, "x": 24, "y": y, "width": 240, "height": 48, "properties": p}
        for i, t, n, y, p in layers]
    project["networks"][0]["links"] = [{"id": i, "source": s, "source_pin": 0, "dest": d, "dest_pin": 0}
                                       for i, s, d in links]
    project["datasets"][0]["uri"], project["datasets"][1]["uri"] = training_csv, validation_csv
    project["config"].update(max_epoch=10, batch_size=64)
    return project


# -------------------------------------------------------------------------------------------------------- validation
def check_name(name: Any, what: str) -> str:
    """``name`` if it follows NNC's naming rule (1-255 characters, none of ``\\ / : * ? " < > | ;``, no control
    characters, not only spaces or dots), else ProjectError naming ``what``."""
    if not isinstance(name, str):
        raise ProjectError(f"{what}: expected a name (string), got {type(name).__name__}")
    problem = _name_problem(name)
    if problem:
        raise ProjectError(f"{what}: {name!r} {problem}")
    return name


def _name_problem(name: str) -> str | None:
    if not 1 <= len(name) <= 255:
        return f"must have 1 to 255 characters (has {len(name)})"
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        return f"must not contain {' '.join(bad)}"
    if any(ord(c) < 32 for c in name):
        return "must not contain control characters (line breaks, tabs)"
    if not name.strip(" ."):
        return "must not be only spaces or dots"
    return None


_Expected = type | tuple[type, ...]


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def is_a(self, value: Any, expected: _Expected, where: str) -> bool:
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, (int, float)))
        if not ok:
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            self.problems.append(f"{where}: expected {names}, got {json.dumps(value)[:60]}")
        return ok

    def fields(self, record: Any, spec: dict[str, _Expected], where: str) -> bool:
        if not self.is_a(record, dict, where):
            return False
        for key, expected in spec.items():
            if key not in record:
                self.problems.append(f"{where}: missing {key!r}")
            else:
                self.is_a(record[key], expected, f"{where}.{key}")
        return True

    def name(self, value: Any, where: str) -> None:
        if isinstance(value, str) and _name_problem(value):
            self.problems.append(f"{where}: {value!r} {_name_problem(value)}")


_NUMBER = (int, float)
_SPECS: dict[str, dict[str, _Expected]] = {
    "layer": {"id": int, "type": str, "name": str, "x": _NUMBER, "y": _NUMBER, "width": _NUMBER,
              "height": _NUMBER, "properties": dict},
    "comment": {"id": int, "x": _NUMBER, "y": _NUMBER, "width": _NUMBER, "height": _NUMBER, "text": str},
    "link": {"id": int, "source": int, "source_pin": int, "dest": int, "dest_pin": int},
    "dataset": {"name": str, "uri": str, "shuffle": bool, "enable_cache": bool, "image_normalization": bool},
    "config": {"max_epoch": int, "save_best": bool, "batch_size": int, "type_config": str, "monitor_interval": int},
    "optimizer": {"name": str, "network": str, "dataset": str, "solver": str, "solver_parameters": dict,
                  "update_interval": int, "weight_decay": _NUMBER},
    "monitor": {"name": str, "network": str, "dataset": str},
    "executor": {"name": str, "network": str, "dataset": str, "num_evaluations": int,
                 "repeat_evaluation_type": str, "need_back_propagation": bool},
}


def _check_network(c: _Checker, network: Any, where: str) -> None:
    if not c.fields(network, {"name": str, "layers": list, "links": list}, where):
        return
    c.name(network["name"], f"{where}.name")
    ids: dict[int, str] = {}
    names: set[str] = set()
    for kind, items in (("layer", network["layers"]), ("comment", network.get("comments", []))):
        if not c.is_a(items, list, f"{where}.{kind}s"):
            continue
        for i, item in enumerate(items):
            at = f"{where}.{kind}s[{i}]"
            if not c.fields(item, _SPECS[kind], at) or not isinstance(item.get("id"), int):
                continue
            if item["id"] in ids:
                c.problems.append(f"{at}: id {item['id']} is also used by {ids[item['id']]}")
            ids[item["id"]] = f"{kind} {item.get('name', item['id'])!r}"
            if kind == "layer" and isinstance(item.get("name"), str):
                c.name(item["name"], f"{at}.name")
                if item["name"] in names:
                    c.problems.append(f"{at}: layer name {item['name']!r} is used twice in network "
                                      f"{network['name']!r}")
                names.add(item["name"])
                for key, value in (item["properties"] if isinstance(item["properties"], dict) else {}).items():
                    c.is_a(value, str, f"{at}.properties[{key!r}]")
    layer_ids = {x["id"] for x in network["layers"] if isinstance(x, dict) and isinstance(x.get("id"), int)}
    link_ids: set[int] = set()
    for i, link in enumerate(network["links"]):
        at = f"{where}.links[{i}]"
        if not c.fields(link, _SPECS["link"], at):
            continue
        if link.get("id") in link_ids:
            c.problems.append(f"{at}: link id {link['id']} is used twice")
        link_ids.add(link.get("id"))
        for end in ("source", "dest"):
            if isinstance(link.get(end), int) and link[end] not in layer_ids:
                c.problems.append(f"{at}: {end} {link[end]} is not a layer of network {network['name']!r}")


def validate_project(project: Any) -> dict[str, Any]:
    """Check a project document's schema: types, names, duplicate ids and names, links to missing layers,
    optimizers/monitors/executors naming missing datasets. Returns the project; raises ProjectError listing every
    problem (``where: what``, where like ``networks[0].links[3]``)."""
    c = _Checker()
    if not c.is_a(project, dict, "project"):
        raise ProjectError("; ".join(c.problems))
    if project.get("format", FORMAT) != FORMAT:
        c.problems.append(f"format: expected {FORMAT!r}, got {project.get('format')!r}")
    if not isinstance(project.get("version", VERSION), int) or project.get("version", VERSION) > VERSION:
        c.problems.append(f"version: this nnl reads versions up to {VERSION}, got {project.get('version')!r}")
    if c.is_a(project.get("name"), str, "name"):
        c.name(project["name"], "name")
    if "description" in project:
        c.is_a(project["description"], str, "description")
    networks = project.get("networks")
    network_names: set[str] = set()
    if c.is_a(networks, list, "networks"):
        if not networks:
            c.problems.append("networks: a project needs at least one network")
        for i, network in enumerate(networks):
            _check_network(c, network, f"networks[{i}]")
            if isinstance(network, dict) and isinstance(network.get("name"), str):
                if network["name"] in network_names:
                    c.problems.append(f"networks[{i}]: network name {network['name']!r} is used twice")
                network_names.add(network["name"])
    dataset_names: set[str] = set()
    for i, dataset in enumerate(project.get("datasets", [])):
        if c.fields(dataset, _SPECS["dataset"], f"datasets[{i}]") and isinstance(dataset.get("name"), str):
            c.name(dataset["name"], f"datasets[{i}].name")
            if dataset["name"] in dataset_names:
                c.problems.append(f"datasets[{i}]: dataset name {dataset['name']!r} is used twice")
            dataset_names.add(dataset["name"])
    if "config" in project and c.fields(project["config"], _SPECS["config"], "config"):
        config = project["config"]
        if config.get("type_config") not in ("float", "half"):
            c.problems.append(f"config.type_config: expected 'float' or 'half', got {config.get('type_config')!r}")
        for key in ("max_epoch", "batch_size"):
            if isinstance(config.get(key), int) and config[key] < 1:
                c.problems.append(f"config.{key}: must be at least 1, got {config[key]}")
    for kind in ("optimizer", "monitor", "executor"):
        for i, record in enumerate(project.get(kind + "s", [])):
            at = f"{kind}s[{i}]"
            if c.fields(record, _SPECS[kind], at) and isinstance(record.get("dataset"), str) and dataset_names \
                    and record["dataset"] not in dataset_names:
                c.problems.append(f"{at}.dataset: {record['dataset']!r} is not one of the project's datasets "
                                  f"({', '.join(sorted(dataset_names))})")
    if "sdcproj_extra" in project:
        c.is_a(project["sdcproj_extra"], dict, "sdcproj_extra")
    if c.problems:
        more = f" (and {len(c.problems) - 20} more)" if len(c.problems) > 20 else ""
        raise ProjectError("invalid project: " + "; ".join(c.problems[:20]) + more)
    return project


# ------------------------------------------------------------------------------------------------------------ files
def _ordered(value: Any, kind: str | None) -> Any:
    """``value`` with its keys in the canonical order (known keys first, others after, as they were)."""
    if isinstance(value, list):
        return [_ordered(v, kind) for v in value]
    if not isinstance(value, dict) or kind is None:
        return copy.deepcopy(value)
    order = _ORDER.get(kind, [])
    keys = [k for k in order if k in value] + [k for k in value if k not in order]
    child = {"networks": "network", "layers": "layer", "links": "link", "comments": "comment", "datasets": "dataset",
             "config": "config", "optimizers": "optimizer", "lr_scheduler": "lr_scheduler", "warmup": "warmup",
             "monitors": "monitor", "executors": "executor"}
    return {k: _ordered(value[k], child.get(k) if kind != "layer" else None) for k in keys}


def _flat(value: Any) -> bool:
    """Written on one line: lists of scalars, and records of numbers only (links)."""
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values())


def _dump(value: Any, indent: int) -> str:
    if not isinstance(value, dict | list) or _flat(value) or not value:
        return json.dumps(value, ensure_ascii=False)
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _dump(v, indent + 2) for v in value) + "\n" + pad + "]"
    return "{\n" + ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, indent + 2)}"
                              for k, v in value.items()) + "\n" + pad + "}"


def dump_project(project: dict[str, Any]) -> str:
    """The ``.nnlproj`` text of a (valid) project: JSON, keys in a stable order, one link per line."""
    return _dump(_ordered(validate_project(project), "project"), 0) + "\n"


def parse_project(text: str | bytes, source: str = "<nnlproj>") -> dict[str, Any]:
    """A project from ``.nnlproj`` text; ProjectError (naming ``source``) when it is not JSON or not a valid project."""
    try:
        project = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProjectError(f"{source}: not a JSON project file: {e}") from None
    try:
        return validate_project(project)
    except ProjectError as e:
        raise ProjectError(f"{source}: {e}") from None


def load_project(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a ``.nnlproj`` file."""
    return parse_project(Path(path).read_bytes(), source=os.fspath(path))


def save_project(project: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Validate ``project`` and write it to ``path`` atomically (a crash leaves the old file whole)."""
    write_bytes(os.fspath(path), dump_project(project).encode("utf-8"))

