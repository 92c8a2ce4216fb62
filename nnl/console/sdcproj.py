"""Neural Network Console project files (``.sdcproj``) <-> nnl project documents, losslessly.

A ``.sdcproj`` is an INI file (``[Section]`` lines and ``key=value`` lines, LF or CRLF). ``read_sdcproj`` maps the
sections nnl understands onto the project document (see ``nnl.console.project``): networks (``[Global]`` +
``[<net>_Network_Global]`` / ``[<net>_Layer_i]`` / ``[<net>_Link_i]``, or the single-network legacy form without
``[Global]``), ``[Dataset]``, ``[Description]``, ``[Config]``, ``[Optimizer_i]``, ``[Monitor_i]``, ``[Executor_i]``.
Everything else goes verbatim into ``project["sdcproj_extra"]``:

- ``sections``: sections nnl does not model (``[Engine]``, ``[Script]``, ``[StructureSearch]``, unknown ones), each
  with its key/value pairs and the name of the section it followed;
- ``records``: for each modelled section whose text differs from what ``write_sdcproj`` would generate from the
  document (keys in another order, keys nnl does not model, absent optional keys, numbers spelled differently), its
  original key/value pairs. The writer reuses them verbatim while the section's content is unchanged, and merges
  them with the generated keys once it is edited (unknown keys kept, in place);
- ``line_ending``, ``final_newline``, ``single_network_form``, ``layer_order`` (per network, when comments and layers
  interleave), ``section_order`` (when modelled sections come in an unusual order), ``omit`` (modelled sections the
  file did not have).

So ``write_sdcproj(read_sdcproj(text)) == text`` for every file whose lines are sections or ``key=value`` pairs
(blank lines are dropped), and a document built from scratch (no ``sdcproj_extra``) is written the way NNC writes a
new project. Example:

>>> text = write_sdcproj({"name": "empty", "networks": [{"name": "Main", "layers": [], "links": []}]})
>>> text.splitlines()[:6]
['[Engine]', 'SDeepEngineType=NNabla', 'RNNTrainingMode=0', '[Global]', 'NumNetwork=1', 'Network_0=Main']
>>> write_sdcproj(read_sdcproj(text)) == text
True
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SdcprojError", "read_sdcproj", "write_sdcproj", "DEFAULT_CONFIG"]

Pairs = list[tuple[str, str]]

DEFAULT_CONFIG: dict[str, Any] = {"max_epoch": 100, "save_best": True, "batch_size": 64, "type_config": "float",
                                  "monitor_interval": 10}
# What NNC writes for a new project in the sections nnl does not model (sony/nnc-desktop samples).
_DEFAULT_SECTIONS: list[dict[str, Any]] = [
    {"name": "Engine", "after": None, "items": [["SDeepEngineType", "NNabla"], ["RNNTrainingMode", "0"]]},
    {"name": "Script", "after": "", "items": [["Enabled", "0"], ["NumScript", "0"]]},
    {"name": "StructureSearch", "after": "Script",
     "items": [["Enabled", "0"], ["Method", "Random"], ["Objective", "ErrorAndCalculation"], ["Validation_Min", "-1"],
               ["Validation_Max", "-1"], ["CostMultiplyAdd_Min", "-1"], ["CostMultiplyAdd_Max", "-1"],
               ["EarlyStopping", "0"], ["TimeLimit", "0"]]},
]


class SdcprojError(ValueError):
    """A malformed ``.sdcproj`` (the message names the file, line, section and key) or an unwritable document."""


# ----------------------------------------------------------------------------------------------------------- values
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_UNITS = ("epoch", "iteration")
_REPEAT_TYPES = ("mean", "last")


def _parse_int(raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise ValueError("an integer")
    return int(raw)


def _parse_num(raw: str) -> int | float:
    if _INT.fullmatch(raw):
        return int(raw)
    if not _FLOAT.fullmatch(raw):
        raise ValueError("a number")
    return float(raw)


def _fmt_num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return str(value) if isinstance(value, int) else repr(value)


def _parse_bool(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError("0 or 1")
    return raw == "1"


def _fmt_bool(value: Any) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return "1" if value else "0"


def _enum(names: tuple[str, ...]) -> tuple[Callable[[str], str], Callable[[Any], str]]:
    def parse(raw: str) -> str:
        if not _INT.fullmatch(raw) or not 0 <= int(raw) < len(names):
            raise ValueError(" or ".join(f"{i} ({n})" for i, n in enumerate(names)))
        return names[int(raw)]

    def fmt(value: Any) -> str:
        if value not in names:
            raise TypeError(f"expected one of {', '.join(names)}, got {value!r}")
        return str(names.index(value))

    return parse, fmt


def _parse_type_config(raw: str) -> str:
    if raw not in ("Float", "Half"):
        raise ValueError("Float or Half")
    return raw.lower()


def _fmt_type_config(value: Any) -> str:
    if value not in ("float", "half"):
        raise TypeError(f"expected 'float' or 'half', got {value!r}")
    return str(value).capitalize()


def _parse_steps(raw: str) -> list[int]:
    return [_parse_int(s.strip()) for s in raw.split(",")] if raw.strip() else []


def _fmt_steps(value: Any) -> str:
    return ",".join(_fmt_num(v) for v in value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    if "\n" in value or "\r" in value:
        raise TypeError(f"a line break cannot be stored in a .sdcproj value: {value!r}")
    return value


def _escape(text: Any) -> str:
    """Free text (description, comments): NNC stores a line break as the two characters ``\\n``."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {text!r}")
    return text.replace("\r\n", "\n").replace("\n", "\\n")


def _unescape(raw: str) -> str:
    return raw.replace("\\n", "\n")


_STR = (str, _text)
_INTC = (_parse_int, _fmt_num)
_NUMC = (_parse_num, _fmt_num)
_BOOLC = (_parse_bool, _fmt_bool)
_UNITC = _enum(_UNITS)


@dataclass(frozen=True)
class _Field:
    """One ``key=value`` line of a modelled section: where its value lives in the record and how it is spelled."""

    key: str
    path: tuple[str, ...]
    codec: tuple[Callable[[str], Any], Callable[[Any], str]]
    default: Any = ...  # value when the key is absent; ... = required


_CONFIG_FIELDS = [
    _Field("MaxEpoch", ("max_epoch",), _INTC), _Field("SaveBest", ("save_best",), _BOOLC, True),
    _Field("BatchSize", ("batch_size",), _INTC), _Field("TypeConfig", ("type_config",),
                                                        (_parse_type_config, _fmt_type_config), "float"),
    _Field("MonitorInterval", ("monitor_interval",), _INTC, 10),
]
_DATASET_FIELDS = [
    _Field("Name", ("name",), _STR), _Field("URI", ("uri",), _STR, ""), _Field("Shuffle", ("shuffle",), _BOOLC, True),
    _Field("EnableCache", ("enable_cache",), _BOOLC, False),
    _Field("ImageNormalization", ("image_normalization",), _BOOLC, True),
    _Field("NumData", ("num_data",), _INTC, 0),
]
_OPTIMIZER_HEAD = [
    _Field("RangeFrom", ("range_from",), _INTC, -1), _Field("RangeTo", ("range_to",), _INTC, -1),
    _Field("RangeUnit", ("range_unit",), _UNITC, "epoch"),
    _Field("Optimizer_Name", ("name",), _STR), _Field("Optimizer_NetworkName", ("network",), _STR),
    _Field("Optimizer_DatasetName", ("dataset",), _STR), _Field("UpdateInterval", ("update_interval",), _INTC, 1),
    _Field("SolverName", ("solver",), _STR),
]
# Absent scheduler keys take the values NNC's own importer gives them (ProjectConverter.js in sony/nnc-desktop).
_OPTIMIZER_TAIL = [
    _Field("WeightDecay", ("weight_decay",), _NUMC, 0),
    _Field("LearningRateScheduler", ("lr_scheduler", "type"), _STR, "Exponential"),
    _Field("LearningRateMultiplier", ("lr_scheduler", "multiplier"), _NUMC, 1),
    _Field("LearningRateUpdateInterval", ("lr_scheduler", "update_interval"), _INTC, 1),
    _Field("LearningRateUpdateIntervalUnit", ("lr_scheduler", "update_interval_unit"), _UNITC, "iteration"),
    _Field("LearningRatePower", ("lr_scheduler", "power"), _NUMC, 1),
    _Field("LearningRateSteps", ("lr_scheduler", "steps"), (_parse_steps, _fmt_steps), []),
    _Field("LearningRateWarmupScheduler", ("warmup", "type"), _STR, "None"),
    _Field("LearningRateWarmupLength", ("warmup", "length"), _INTC, 0),
    _Field("LearningRateWarmupLengthUnit", ("warmup", "unit"), _UNITC, "epoch"),
]
_MONITOR_FIELDS = [_Field("Monitor_Name", ("name",), _STR), _Field("Monitor_NetworkName", ("network",), _STR),
                   _Field("Monitor_DatasetName", ("dataset",), _STR)]
_EXECUTOR_FIELDS = [
    _Field("Executor_Name", ("name",), _STR), _Field("Executor_NetworkName", ("network",), _STR),
    _Field("Executor_DatasetName", ("dataset",), _STR), _Field("NumEvaluations", ("num_evaluations",), _INTC, 1),
    _Field("RepeatEvaluationType", ("repeat_evaluation_type",), _enum(_REPEAT_TYPES), "mean"),
    _Field("NeedBackPropagation", ("need_back_propagation",), _BOOLC, False),
]


# ---------------------------------------------------------------------------------------------------------- records
class _Record:
    """The key/value lines of one section, with their line numbers for error messages."""

    def __init__(self, name: str, line: int | None, items: list[tuple[str, str, int | None]], source: str):
        self.name, self.line, self.items, self.source = name, line, items, source
        self.values: dict[str, tuple[str, int | None]] = {}
        for key, value, lineno in items:
            if key in self.values:
                raise self.error(key, "appears twice in the section", lineno)
            self.values[key] = (value, lineno)

    @classmethod
    def from_pairs(cls, name: str, pairs: Pairs | list[list[str]], source: str) -> _Record:
        return cls(name, None, [(str(k), str(v), None) for k, v in pairs], source)

    def pairs(self) -> Pairs:
        return [(k, v) for k, v, _ in self.items]

    def error(self, key: str | None, message: str, line: int | None = None) -> SdcprojError:
        where = f"line {line}: " if line else (f"line {self.line}: " if self.line else "")
        return SdcprojError(f"{self.source}: {where}[{self.name}]{' ' + key if key else ''}: {message}")

    def has(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, parse: Callable[[str], Any] = str, default: Any = ...) -> Any:
        if key not in self.values:
            if default is ...:
                raise self.error(key, "missing (required key)")
            return copy.deepcopy(default)
        raw, line = self.values[key]
        try:
            return parse(raw)
        except ValueError as e:
            raise self.error(key, f"expected {e}, got {raw!r}", line) from None


def _read_fields(record: _Record, fields: list[_Field], into: dict[str, Any]) -> None:
    for f in fields:
        target = into
        for part in f.path[:-1]:
            target = target.setdefault(part, {})
        target[f.path[-1]] = record.get(f.key, f.codec[0], f.default)


def _write_fields(value: dict[str, Any], fields: list[_Field], where: str) -> Pairs:
    out = []
    for f in fields:
        v: Any = value
        for part in f.path:
            if not isinstance(v, dict) or part not in v:
                if f.default is ...:
                    raise SdcprojError(f"write_sdcproj: {where}: missing {'.'.join(f.path)!r}")
                v = f.default
                break
            v = v[part]
        try:
            out.append((f.key, f.codec[1](v)))
        except TypeError as e:
            raise SdcprojError(f"write_sdcproj: {where}: {'.'.join(f.path)}: {e}") from None
    return out


def _owned(keys: list[str], patterns: str = "") -> Callable[[str], bool]:
    fixed = set(keys)
    pattern = re.compile(patterns) if patterns else None
    return lambda k: k in fixed or bool(pattern and pattern.fullmatch(k))


@dataclass(frozen=True)
class _Kind:
    """How one kind of modelled section is decoded to a value and encoded back, and which keys it generates."""

    decode: Callable[[_Record], Any]
    encode: Callable[[Any, str], Pairs]
    owned: Callable[[str], bool]
    absent: dict[str, str] | None = None  # key -> the spelling of the value an absent key stands for


def _absent(fields: list[_Field]) -> dict[str, str]:
    return {f.key: f.codec[1](f.default) for f in fields if f.default is not ...}


def _decode_config(r: _Record) -> Any:
    config: dict[str, Any] = {}
    _read_fields(r, _CONFIG_FIELDS, config)
    return config, tuple(r.get(k, _parse_int, 0) for k in ("NumOptimizer", "NumMonitor", "NumExecutor"))


def _encode_config(value: Any, where: str) -> Pairs:
    config, counts = value
    return _write_fields(config, _CONFIG_FIELDS, where) + [
        (k, str(n)) for k, n in zip(("NumOptimizer", "NumMonitor", "NumExecutor"), counts)]


def _decode_optimizer(r: _Record) -> Any:
    opt: dict[str, Any] = {}
    _read_fields(r, _OPTIMIZER_HEAD, opt)
    opt["solver_parameters"] = {r.get(f"SolverParameterName_{i}"): r.get(f"SolverParameter_{i}")
                                for i in range(r.get("SolverParameterNum", _parse_int, 0))}
    _read_fields(r, _OPTIMIZER_TAIL, opt)
    return opt


def _encode_optimizer(opt: Any, where: str) -> Pairs:
    params = opt.get("solver_parameters", {})
    out = _write_fields(opt, _OPTIMIZER_HEAD, where) + [("SolverParameterNum", str(len(params)))]
    for i, (name, value) in enumerate(params.items()):
        out += [(f"SolverParameterName_{i}", _text(name)), (f"SolverParameter_{i}", _fmt_solver_value(value))]
    return out + _write_fields(opt, _OPTIMIZER_TAIL, where)


def _fmt_solver_value(value: Any) -> str:
    return _text(value) if isinstance(value, str) else _fmt_num(value)


def _field_kind(fields: list[_Field]) -> _Kind:
    def decode(r: _Record) -> Any:
        value: dict[str, Any] = {}
        _read_fields(r, fields, value)
        return value

    return _Kind(decode, lambda v, where: _write_fields(v, fields, where), _owned([f.key for f in fields]),
                 _absent(fields))


_LAYER_KEYS = r"ID|Type|Position_\d+|Property_\d+_(Name|Value)|NumProperty"


def _decode_layer(r: _Record) -> Any:
    """A ``[Layer_i]`` section: ("layer", layer dict) or ("comment", comment dict) for a plain Comment layer."""
    properties: dict[str, str] = {}
    for i in range(r.get("NumProperty", _parse_int)):
        name = r.get(f"Property_{i}_Name")
        if name in properties:
            raise r.error(f"Property_{i}_Name", f"property {name!r} is given twice")
        properties[name] = r.get(f"Property_{i}_Value")
    if "Name" not in properties:
        raise r.error(None, "the layer has no Name property")
    layer: dict[str, Any] = {"id": r.get("ID", _parse_int), "type": r.get("Type"), "name": properties.pop("Name")}
    for i, key in enumerate(("x", "y", "width", "height")):
        layer[key] = r.get(f"Position_{i}", _parse_int, (0, 0, 240, 48)[i])
    if layer["type"] == "Comment" and list(properties) == ["Comment"]:
        del layer["type"]
        return "comment", {**layer, "text": _unescape(properties["Comment"])}
    return "layer", {**layer, "properties": properties}


def _encode_layer(value: Any, where: str) -> Pairs:
    kind, layer = value
    where = f"{where} (layer {layer.get('name', layer.get('id'))!r})"
    try:
        out: Pairs = [("ID", _fmt_num(layer["id"])), ("Type", "Comment" if kind == "comment" else _text(layer["type"]))]
        out += [(f"Position_{i}", _fmt_num(layer[k])) for i, k in enumerate(("x", "y", "width", "height"))]
        properties = {"Comment": _escape(layer["text"])} if kind == "comment" else layer.get("properties", {})
        props = [("Name", _text(layer["name"]))] + [(_text(k), _text(v)) for k, v in properties.items()]
    except KeyError as e:
        raise SdcprojError(f"write_sdcproj: {where}: missing {e}") from None
    except TypeError as e:
        raise SdcprojError(f"write_sdcproj: {where}: {e}") from None
    for i, (name, val) in enumerate(props):
        out += [(f"Property_{i}_Name", name), (f"Property_{i}_Value", val)]
    return out + [("NumProperty", str(len(props)))]


_LINK_FIELDS = [_Field("ID", ("id",), _INTC), _Field("SourceLayerID", ("source",), _INTC),
                _Field("SourcePinIndex", ("source_pin",), _INTC, 0), _Field("DestLayerID", ("dest",), _INTC),
                _Field("DestPinIndex", ("dest_pin",), _INTC, 0)]

_KINDS: dict[str, _Kind] = {
    "Global": _Kind(lambda r: [r.get(f"Network_{i}") for i in range(r.get("NumNetwork", _parse_int))],
                    lambda names, w: [("NumNetwork", str(len(names)))] + [
                        (f"Network_{i}", _text(n)) for i, n in enumerate(names)],
                    _owned(["NumNetwork"], r"Network_\d+")),
    "Network_Global": _Kind(lambda r: (r.get("NumLayer", _parse_int), r.get("NumLink", _parse_int)),
                            lambda v, w: [("NumLayer", str(v[0])), ("NumLink", str(v[1]))],
                            _owned(["NumLayer", "NumLink"])),
    "Layer": _Kind(_decode_layer, _encode_layer, _owned([], _LAYER_KEYS)),
    "Link": _field_kind(_LINK_FIELDS),
    "DatasetHeader": _Kind(lambda r: (r.get("Num", _parse_int), r.get("MainIndex", _parse_int, 0)),
                           lambda v, w: [("Num", str(v[0])), ("MainIndex", str(v[1]))], _owned(["Num", "MainIndex"])),
    "Dataset": _field_kind(_DATASET_FIELDS),
    "Description": _Kind(lambda r: _unescape(r.get("Text", str, "")), lambda v, w: [("Text", _escape(v))],
                         _owned(["Text"])),
    "Config": _Kind(_decode_config, _encode_config,
                    _owned([f.key for f in _CONFIG_FIELDS] + ["NumOptimizer", "NumMonitor", "NumExecutor"]),
                    _absent(_CONFIG_FIELDS)),
    "Optimizer": _Kind(_decode_optimizer, _encode_optimizer,
                       _owned([f.key for f in _OPTIMIZER_HEAD + _OPTIMIZER_TAIL] + ["SolverParameterNum"],
                              r"SolverParameter(Name)?_\d+"), _absent(_OPTIMIZER_HEAD + _OPTIMIZER_TAIL)),
    "Monitor": _field_kind(_MONITOR_FIELDS),
    "Executor": _field_kind(_EXECUTOR_FIELDS),
}


def _merge(generated: Pairs, layout: Pairs, kind: _Kind) -> Pairs:
    """Generated keys in the original order, keys nnl does not model kept where they were, new keys after their
    generated predecessor; a key the original left out stays out while its value is the one its absence means."""
    values = dict(generated)
    out = [(k, values[k]) if k in values else (k, v) for k, v in layout if k in values or not kind.owned(k)]
    present = {k for k, _ in out}
    absent = kind.absent or {}
    generated = [(k, v) for k, v in generated if k in present or absent.get(k) != v]
    for i, (key, value) in enumerate(generated):
        if key not in present:
            at = next(j for j, (k, _) in enumerate(out) if k == generated[i - 1][0]) + 1 if i else 0
            out.insert(at, (key, value))
            present.add(key)
    return out


# ----------------------------------------------------------------------------------------------------------- reading
def _parse_ini(text: str, source: str) -> tuple[list[_Record], str, bool]:
    if not isinstance(text, str):
        raise SdcprojError(f"{source}: expected the file's text (str), got {type(text).__name__}")
    line_ending = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
    lines = text.replace("\r\n", "\n").split("\n")
    final_newline = lines[-1] == ""
    if final_newline:
        lines.pop()
    sections: list[_Record] = []
    current: tuple[str, int, list[tuple[str, str, int | None]]] | None = None
    seen: set[str] = set()

    def close() -> None:
        if current is not None:
            sections.append(_Record(current[0], current[1], current[2], source))

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]") and len(line) > 2:
            close()
            name = line[1:-1]
            if name in seen:
                raise SdcprojError(f"{source}: line {number}: section [{name}] appears twice")
            seen.add(name)
            current = (name, number, [])
        elif "=" in line and not line.startswith("=") and current is not None:
            key, value = line.split("=", 1)
            current[2].append((key, value, number))
        else:
            expected = "a [Section] line" if current is None else "a [Section] line or a key=value line"
            raise SdcprojError(f"{source}: line {number}: expected {expected}, got {line[:80]!r}")
    close()
    if not sections:
        raise SdcprojError(f"{source}: no sections: this is not a .sdcproj file")
    return sections, line_ending, final_newline


class _Reader:
    def __init__(self, sections: list[_Record], source: str):
        self.source = source
        self.by_name = {s.name: s for s in sections}
        self.order = [s.name for s in sections]
        self.used: list[str] = []
        self.records: dict[str, Pairs] = {}

    def take(self, name: str, kind: str, key: str | Callable[[Any], str], required: bool = True) -> Any:
        """Decode section ``name``; remember its text under ``key`` (or ``key(value)``) when the writer would not
        reproduce it."""
        record = self.by_name.get(name)
        if record is None:
            if required:
                raise SdcprojError(f"{self.source}: section [{name}] is missing")
            return None
        value = _KINDS[kind].decode(record)
        if _KINDS[kind].encode(value, f"[{name}]") != record.pairs():
            self.records[key(value) if callable(key) else key] = record.pairs()
        self.used.append(name)
        return value


def _id_key(prefix: str, index: int | None) -> Callable[[Any], str]:
    """Layer and link records are remembered by ID (stable under edits), not by their position in the file."""
    return lambda value: f"{prefix}{(value if index is None else value[index])['id']}"


def read_sdcproj(text: str, name: str = "project", source: str = "<sdcproj>") -> dict[str, Any]:
    """Parse the text of a ``.sdcproj`` into a project document; ``source`` names the file in error messages.

    Raises SdcprojError (a ValueError) naming the line, section and key of malformed input."""
    sections, line_ending, final_newline = _parse_ini(text, source)
    reader = _Reader(sections, source)
    extra: dict[str, Any] = {}
    if line_ending != "\n":
        extra["line_ending"] = line_ending
    if not final_newline:
        extra["final_newline"] = False

    if "Global" in reader.by_name:
        names = reader.take("Global", "Global", "Global")
        prefixes = [f"{n}_" for n in names]
    else:
        names, prefixes = ["Main"], [""]
        extra["single_network_form"] = True
    networks = []
    for net_name, prefix in zip(names, prefixes):
        num_layers, num_links = reader.take(f"{prefix}Network_Global", "Network_Global", f"{net_name}/Network_Global")
        network: dict[str, Any] = {"name": net_name, "layers": [], "links": [], "comments": []}
        order = []
        for i in range(num_layers):
            kind, item = reader.take(f"{prefix}Layer_{i}", "Layer", _id_key(f"{net_name}/layer/", 1))
            network["layers" if kind == "layer" else "comments"].append(item)
            order.append(item["id"])
        for i in range(num_links):
            network["links"].append(reader.take(f"{prefix}Link_{i}", "Link", _id_key(f"{net_name}/link/", None)))
        ids = [x["id"] for x in network["layers"] + network["comments"]]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise SdcprojError(f"{source}: network {net_name!r}: layer ID(s) {dup} are used by more than one layer")
        if order != ids:
            extra.setdefault("layer_order", {})[net_name] = order
        networks.append(network)

    project: dict[str, Any] = {"format": "nnl-project", "version": 1, "name": name, "description": "",
                               "networks": networks, "datasets": [], "config": dict(DEFAULT_CONFIG),
                               "optimizers": [], "monitors": [], "executors": []}
    omit = []
    header = reader.take("Dataset", "DatasetHeader", "Dataset", required=False)
    if header is None:
        omit.append("Dataset")
    else:
        project["datasets"] = [reader.take(f"Dataset_{i}", "Dataset", f"Dataset_{i}") for i in range(header[0])]
    description = reader.take("Description", "Description", "Description", required=False)
    if description is None:
        omit.append("Description")
    else:
        project["description"] = description
    config = reader.take("Config", "Config", "Config", required=False)
    if config is None:
        omit.append("Config")
    else:
        project["config"], (n_opt, n_mon, n_exe) = config
        for kind, count, key in (("Optimizer", n_opt, "optimizers"), ("Monitor", n_mon, "monitors"),
                                 ("Executor", n_exe, "executors")):
            project[key] = [reader.take(f"{kind}_{i}", kind, f"{kind}_{i}") for i in range(count)]
    if omit:
        extra["omit"] = omit
    if reader.records:
        extra["records"] = {k: [list(p) for p in v] for k, v in reader.records.items()}

    used = set(reader.used)
    if [n for n in reader.order if n in used] != reader.used:
        extra["section_order"] = [n for n in reader.order if n in used]
    others, previous = [], None
    for section_name in reader.order:
        if section_name not in used:
            section = reader.by_name[section_name]
            others.append({"name": section_name, "after": previous, "items": [list(p) for p in section.pairs()]})
        previous = section_name
    extra["sections"] = others
    project["sdcproj_extra"] = extra
    return project


# ----------------------------------------------------------------------------------------------------------- writing
def write_sdcproj(project: dict[str, Any]) -> str:
    """The ``.sdcproj`` text of a project document (NNC's layout; the original text for an unedited import)."""
    if not isinstance(project, dict):
        raise SdcprojError(f"write_sdcproj: expected a project dict, got {type(project).__name__}")
    extra = project.get("sdcproj_extra") or {}
    records = {k: [tuple(p) for p in v] for k, v in (extra.get("records") or {}).items()}
    generated: list[tuple[str, Pairs]] = []

    def emit(name: str, kind: str, key: str, value: Any) -> None:
        spec = _KINDS[kind]
        layout = records.get(key)
        if layout is not None and spec.decode(_Record.from_pairs(name, layout, "sdcproj_extra")) == value:
            generated.append((name, list(layout)))
            return
        pairs = spec.encode(value, f"[{name}]")
        generated.append((name, pairs if layout is None else _merge(pairs, layout, spec)))

    networks = project.get("networks") or []
    if not isinstance(networks, list) or not networks:
        raise SdcprojError("write_sdcproj: the project has no networks (expected a non-empty list 'networks')")
    single = bool(extra.get("single_network_form")) and len(networks) == 1
    if not single:
        emit("Global", "Global", "Global", [n.get("name") for n in networks])
    for network in networks:
        net_name = network.get("name")
        if not isinstance(net_name, str) or not net_name:
            raise SdcprojError(f"write_sdcproj: a network has no name: {str(network)[:80]}")
        prefix = "" if single else f"{net_name}_"
        items = [("layer", x) for x in network.get("layers") or []] + [
            ("comment", x) for x in network.get("comments") or []]
        rank = {i: n for n, i in enumerate((extra.get("layer_order") or {}).get(net_name, []))}
        items.sort(key=lambda kx: rank.get(kx[1].get("id"), len(rank)))
        links = network.get("links") or []
        emit(f"{prefix}Network_Global", "Network_Global", f"{net_name}/Network_Global", (len(items), len(links)))
        for i, (kind, item) in enumerate(items):
            emit(f"{prefix}Layer_{i}", "Layer", f"{net_name}/layer/{item.get('id')}", (kind, item))
        for i, link in enumerate(links):
            emit(f"{prefix}Link_{i}", "Link", f"{net_name}/link/{link.get('id')}", link)

    omit = set(extra.get("omit") or [])
    datasets = project.get("datasets") or []
    if datasets or "Dataset" not in omit:
        main = (records.get("Dataset") and dict(records["Dataset"]).get("MainIndex")) or "0"
        emit("Dataset", "DatasetHeader", "Dataset", (len(datasets), int(main) if _INT.fullmatch(main) else 0))
        for i, dataset in enumerate(datasets):
            emit(f"Dataset_{i}", "Dataset", f"Dataset_{i}", dataset)
    description = project.get("description") or ""
    if description or "Description" not in omit:
        emit("Description", "Description", "Description", description)
    config = project.get("config") or dict(DEFAULT_CONFIG)
    groups = [("Optimizer", project.get("optimizers") or []), ("Monitor", project.get("monitors") or []),
              ("Executor", project.get("executors") or [])]
    if "Config" not in omit or config != DEFAULT_CONFIG or any(items for _, items in groups):
        emit("Config", "Config", "Config", (config, tuple(len(items) for _, items in groups)))
        for kind, items in groups:
            for i, item in enumerate(items):
                emit(f"{kind}_{i}", kind, f"{kind}_{i}", item)

    sections = _order_sections(generated, extra)
    line_ending = extra.get("line_ending", "\n")
    lines = []
    for name, pairs in sections:
        lines.append(f"[{name}]")
        lines.extend(f"{k}={v}" for k, v in pairs)
    return line_ending.join(lines) + (line_ending if extra.get("final_newline", True) else "")


def _order_sections(generated: list[tuple[str, Pairs]], extra: dict[str, Any]) -> list[tuple[str, Pairs]]:
    """Generated sections (in the recorded order if any) with the unmodelled ones after the section they followed."""
    order = extra.get("section_order")
    if order:
        by_name = dict(generated)
        names = [n for n in order if n in by_name]
        for i, (name, _) in enumerate(generated):
            if name not in names:
                names.insert(names.index(generated[i - 1][0]) + 1 if i else 0, name)
        generated = [(n, by_name[n]) for n in names]
    others = extra["sections"] if "sections" in extra else _DEFAULT_SECTIONS
    following: dict[Any, list[dict[str, Any]]] = {}
    for section in others:
        following.setdefault(section.get("after"), []).append(section)
    out: list[tuple[str, Pairs]] = []
    done: set[int] = set()

    def put(name: str, pairs: Pairs) -> None:
        out.append((name, pairs))
        for section in following.get(name, []):
            if id(section) not in done:
                done.add(id(section))
                put(section["name"], [(str(k), str(v)) for k, v in section["items"]])

    for section in following.get(None, []):
        if id(section) not in done:
            done.add(id(section))
            put(section["name"], [(str(k), str(v)) for k, v in section["items"]])
    for name, pairs in generated:
        put(name, pairs)
    for section in others:  # the section they followed is gone: keep them, at the end
        if id(section) not in done:
            done.add(id(section))
            put(section["name"], [(str(k), str(v)) for k, v in section["items"]])
    return out
