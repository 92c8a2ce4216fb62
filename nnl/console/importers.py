"""Network files (``.nntxt``, ``.nnp``, ``.onnx``) as console projects, and the auto-arrangement of layers.

``import_network_file(path)`` turns every network of the file into a drawn network: each function becomes the NNC
layer that compiles to it (the inverse of ``nnl.console.layers``: function arguments become properties, flags undone;
``OutShape``/``OutMaps``/``KernelShape``... come from the parameter shapes; ``WithBias`` from the inputs present),
variables become links, dataset-fed buffers become Input layers or a loss's ``T`` connector, parameters give the
layer's ``ParameterScope`` (from their names), initializers and learning-rate multipliers. NNC loop functions become
Repeat/Recurrent/Delay layers. Datasets, the training config, optimizers, monitors and executors come from the file
when present. ONNX models are converted by ``nnl.onnx`` first. A function with no NNC layer is an error naming it.

``arrange(project, network_name)`` places the layers top to bottom on NNC's grid: the row is the longest path from
an input, the column the order within the row.
"""

from __future__ import annotations

import os
import re
from typing import Any

from nnl.console.compile import SOLVERS
from nnl.console.layers import EXTRA_PARAMETERS, LAYERS, LayerSpec, is_supported
from nnl.nnp.arguments import arguments_from_proto
from nnl.nnp.container import NnpFile, read_nnp

__all__ = ["import_network_file", "arrange"]

_GRID = 24
_WIDTH, _HEIGHT = 240, 48
_LOOPS = {"RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay"}


def _layer_for(function_type: str) -> LayerSpec | None:
    """The NNC layer that compiles to ``function_type`` (the layer of the same name first)."""
    if function_type in LAYERS and (is_supported(function_type) or function_type in _LOOPS):
        return LAYERS[function_type]
    for spec in LAYERS.values():
        if spec.function == function_type and is_supported(spec.type):
            return spec
    return None


def _text(value: Any) -> str:
    """A property value as ``.sdcproj`` writes it."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (tuple, list)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else f"{value:.1f}"
    return str(value)


def _undo_flags(value: Any, flags: tuple[str, ...]) -> Any:
    if value is None:
        return None
    if ("b" in flags or "0" in flags) and isinstance(value, tuple):
        value = value[1:]
    if "a" in flags:
        value = tuple(v - 1 for v in value) if isinstance(value, tuple) else int(value) - 1
    return value


class _NetworkImport:
    """One NNP ``Network`` message as a project network."""

    def __init__(self, network: Any, bindings: dict[str, str], generators: dict[str, tuple[str, float]],
                 lr_multipliers: dict[str, float]) -> None:
        self.network = network
        self.bindings, self.generators, self.lr = bindings, generators, lr_multipliers
        self.variables = {v.name: v for v in network.variable}
        self.producer: dict[str, tuple[int, int]] = {}
        self.layers: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.inputs: dict[str, int] = {}  # network input variable -> its Input layer id
        self.repeat_times = {r.id: int(r.times) for r in network.repeat_info}

    def shape(self, name: str) -> tuple[int, ...]:
        v = self.variables.get(name)
        return tuple(int(d) for d in v.shape.dim) if v is not None else ()

    def is_parameter(self, name: str) -> bool:
        v = self.variables.get(name)
        return v is not None and v.type == "Parameter"

    def add_layer(self, type_name: str, name: str, properties: dict[str, str]) -> int:
        layer_id = len(self.layers)
        self.layers.append({"id": layer_id, "type": type_name, "name": name, "x": _GRID, "y": _GRID,
                            "width": _WIDTH, "height": _HEIGHT, "properties": properties})
        return layer_id

    def link(self, variable: str, dest: int, pin: int, where: str) -> None:
        source = self.producer.get(variable)
        if source is None:
            source = (self.input_layer(variable, where), 0)
        self.links.append({"id": len(self.links), "source": source[0], "source_pin": source[1], "dest": dest,
                           "dest_pin": pin})

    def input_layer(self, variable: str, where: str) -> int:
        if variable in self.inputs:
            return self.inputs[variable]
        if self.is_parameter(variable):
            v = self.variables[variable]
            props = {"Size": _text(self.shape(variable))}
            if v.initializer.type:
                props["Initializer"] = v.initializer.type
                props["InitializerMultiplier"] = _text(float(v.initializer.multiplier))
            layer_id = self.add_layer("Parameter", variable, props)
        elif variable in self.variables:
            props = {"Size": _text(self.shape(variable)[1:]), "Dataset": self.bindings.get(variable, variable)}
            if variable in self.generators:
                kind, multiplier = self.generators[variable]
                props["Generator"], props["GeneratorMultiplier"] = kind, _text(float(multiplier))
            layer_id = self.add_layer("Input", variable, props)
        else:
            raise ValueError(f"{where}: input {variable!r} is neither produced by a function nor declared.")
        self.inputs[variable] = layer_id
        return layer_id

    def run(self) -> dict[str, Any]:
        produced = {o for f in self.network.function for o in f.output}
        # Layers first (ids in function order), then links: a Delay reads a layer that comes later.
        pending: list[tuple[Any, int, LayerSpec]] = []
        for f in self.network.function:
            where = f"network {self.network.name!r}: function {f.name!r} ({f.type})"
            spec = _layer_for(f.type)
            if spec is None:
                raise ValueError(f"{where}: no Neural Network Console layer computes {f.type}, so the network "
                                 "cannot be drawn.")
            layer_id = self.add_layer(spec.type, f.name, {})
            for k, out in enumerate(f.output):
                self.producer[out] = (layer_id, k)
            pending.append((f, layer_id, spec))
        for f, layer_id, spec in pending:
            where = f"network {self.network.name!r}: function {f.name!r} ({f.type})"
            props = self.layers[layer_id]["properties"]
            if spec.type in _LOOPS:
                self.loop_layer(f, spec, layer_id, props, where)
            else:
                self.function_layer(f, spec, layer_id, props, produced, where)
        return {"name": self.network.name, "layers": self.layers, "links": self.links, "comments": []}

    def loop_layer(self, f: Any, spec: LayerSpec, layer_id: int, props: dict[str, str], where: str) -> None:
        if f.type in ("RepeatStart", "RepeatEnd"):
            loop_id = f.repeat_param.repeat_id
            if f.type == "RepeatStart":
                props["Times"] = str(self.repeat_times.get(loop_id, f.repeat_param.times))
                if loop_id != f.name:
                    props["ID"] = loop_id
            else:
                props["ID"] = loop_id
            self.link(f.input[0], layer_id, 0, where)  # RepeatStart's second input is the loop-back
            return
        param = f.recurrent_param
        if f.type == "RecurrentInput":
            props["Axis"] = str(param.axis - 1)
            if param.repeat_id != f.name:
                props["ID"] = param.repeat_id
        elif f.type == "RecurrentOutput":
            props["Axis"] = str(param.axis - 1)
            props["ID"] = param.repeat_id
        else:  # Delay: input 0 is the previous step's value, input 1 the initial one
            props["Size"] = _text(self.shape(f.output[0])[1:])
            self.data_connector(f.input[1], "Initial", layer_id, 1, props, where)
        self.link(f.input[0], layer_id, 0, where)

    def data_connector(self, variable: str, connector: str, layer_id: int, pin: int, props: dict[str, str],
                       where: str) -> None:
        if variable in self.producer or variable in self.inputs or self.is_parameter(variable):
            self.link(variable, layer_id, pin, where)
        elif variable in self.generators:
            kind, multiplier = self.generators[variable]
            props[f"{connector}.Generator"] = kind
            props[f"{connector}.GeneratorMultiplier"] = _text(float(multiplier))
        else:
            props[f"{connector}.Dataset"] = self.bindings.get(variable, "y")
            props[f"{connector}.Generator"] = "None"

    def function_layer(self, f: Any, spec: LayerSpec, layer_id: int, props: dict[str, str], produced: set[str],
                       where: str) -> None:
        args = arguments_from_proto(f, where) if spec.function else {}
        connectors = list(spec.connectors)
        optional = [c for c in connectors if c.enable != "True"]
        extras = 1 if spec.type in EXTRA_PARAMETERS and any(i.endswith("/alpha") for i in f.input) else 0
        required = len(connectors) - len(optional) + extras
        if spec.input == "Multiple":  # trailing parameters are the connectors, the rest are main inputs
            trailing = 0
            while trailing < min(len(connectors) + extras, len(f.input)) and \
                    self.is_parameter(f.input[len(f.input) - 1 - trailing]):
                trailing += 1
            main_count = len(f.input) - trailing
        else:
            main_count = min(1, len(f.input))
        enabled_optional = len(f.input) - main_count - required
        enabled = {c.name for c in optional[:max(enabled_optional, 0)]}
        for c in optional:
            if c.enable.startswith("*"):
                props[c.enable[1:]] = _text(c.name in enabled)
        for var in f.input[:main_count]:
            self.link(var, layer_id, 0, where)
        rest = list(f.input[main_count:])
        shapes: dict[str, tuple[int, ...]] = {}
        for pin, conn in enumerate(connectors, start=1):
            if conn.enable != "True" and conn.name not in enabled:
                continue
            if not rest:
                raise ValueError(f"{where}: input {conn.name} is missing ({len(f.input)} inputs).")
            var = rest.pop(0)
            if conn.kind == "Parameter" and self.is_parameter(var) and var not in produced:
                self.parameter(var, conn.name, spec, f.name, props)
                shapes[conn.name] = self.shape(var)
            elif conn.kind == "Parameter":
                self.link(var, layer_id, pin, where)
                shapes[conn.name] = self.shape(var)
            else:
                self.data_connector(var, conn.name, layer_id, pin, props, where)
            if spec.type in EXTRA_PARAMETERS and conn.name == "Wb" and rest and rest[0].endswith("/alpha"):
                rest.pop(0)  # alpha: the compiler creates it from the layer's own properties (older files lack it)
        for prop in spec.properties:
            if prop.argument in args and args[prop.argument] is not None:
                props[prop.name] = _text(_undo_flags(args[prop.argument], prop.flags))
        self._from_parameter_shapes(spec, shapes, args, props)
        # Only what differs from the layer's defaults is stored, as NNC does for unedited properties.
        for prop in spec.properties:
            if prop.name in props and props[prop.name] == prop.default and not prop.default.startswith("*"):
                del props[prop.name]

    def parameter(self, var: str, local: str, spec: LayerSpec, layer_name: str, props: dict[str, str]) -> None:
        tail = "/" + "/".join(p for p in (spec.scope, local) if p)
        scope = var[: -len(tail)] if var.endswith(tail) else var.rsplit("/", 1)[0]
        scope = re.sub(r"\{[^}]*\}", "", scope)
        if scope != layer_name:
            props["ParameterScope"] = scope
        v = self.variables[var]
        if v.initializer.type:
            props[f"{local}.Initializer"] = v.initializer.type
            props[f"{local}.InitializerMultiplier"] = _text(float(v.initializer.multiplier))
        if var in self.lr:
            props[f"{local}.LRateMultiplier"] = _text(float(self.lr[var]))

    @staticmethod
    def _from_parameter_shapes(spec: LayerSpec, shapes: dict[str, tuple[int, ...]], args: dict[str, Any],
                               props: dict[str, str]) -> None:
        """Properties NNC derives parameter shapes from (not function arguments): the inverse of the shape rules."""
        for conn in spec.connectors:
            shape = shapes.get(conn.name)
            if shape is None or conn.kind != "Parameter":
                continue
            rule = conn.shape
            channel_last = bool(args.get("channel_last", False))
            if rule == "*AffineWeightShape" and spec.find_property("OutShape"):
                props["OutShape"] = _text(shape[1:])
            elif rule == "*ConvolutionWeightShape":
                props["OutMaps"] = str(shape[0])
                props["KernelShape"] = _text(shape[1:-1] if channel_last else shape[2:])
            elif rule == "*ConvolutionWeightShapeDeconvolution":
                group = int(args.get("group", 1) or 1)
                props["OutMaps"] = str((shape[-1] if channel_last else shape[1]) * group)
                props["KernelShape"] = _text(shape[1:-1] if channel_last else shape[2:])
            elif rule == "*EmbeddingWeightSize":
                props["NumClass"], props["Shape"] = str(shape[0]), _text(shape[1:])
            elif rule == "*PReluParameterSize":
                props["Shared"] = _text(shape == ())
            elif rule.startswith("*") and spec.find_property(rule[1:]) and rule[1:] not in props:
                props[rule[1:]] = _text(shape)


def _bindings(proto: Any, network: str) -> tuple[dict[str, str], dict[str, tuple[str, float]], dict[str, float]]:
    data: dict[str, str] = {}
    generators: dict[str, tuple[str, float]] = {}
    lr: dict[str, float] = {}
    for section in (*proto.optimizer, *proto.monitor, *proto.executor):
        if section.network_name != network:
            continue
        data.update({d.variable_name: d.data_name for d in section.data_variable})
        generators.update({g.variable_name: (g.type, float(g.multiplier)) for g in section.generator_variable})
    for o in proto.optimizer:
        if o.network_name == network:
            lr.update({p.variable_name: float(p.learning_rate_multiplier) for p in o.parameter_variable})
    return data, generators, lr


def _config(proto: Any, project: dict[str, Any]) -> None:
    """Datasets, training config, optimizers, monitors and executors of the file (when it has them)."""
    batch = next((int(d.batch_size) for d in proto.dataset if d.batch_size), 0) or \
        next((int(n.batch_size) for n in proto.network if n.batch_size), 64)
    tc = proto.training_config
    project["config"] = {"max_epoch": int(tc.max_epoch) or 10, "save_best": bool(tc.save_best),
                         "batch_size": batch, "type_config": "float",
                         "monitor_interval": int(tc.monitor_interval) or 10}
    project["datasets"] = [{"name": d.name, "uri": d.uri, "shuffle": bool(d.shuffle),
                            "enable_cache": bool(d.cache_dir), "image_normalization": not d.no_image_normalization}
                           for d in proto.dataset]
    optimizers = []
    for o in proto.optimizer:
        solver = o.solver
        parameters: dict[str, str] = {}
        if solver.type in SOLVERS:
            field, names = SOLVERS[solver.type]
            message = getattr(solver, field)
            for nnc_name, proto_name in names:
                value = getattr(message, proto_name)
                parameters[nnc_name] = _text(bool(value)) if isinstance(value, bool) else repr(float(value))
        optimizers.append({"name": o.name, "network": o.network_name,
                           "dataset": o.dataset_name[0] if o.dataset_name else "",
                           "solver": solver.type, "solver_parameters": parameters,
                           "update_interval": int(o.update_interval) or 1, "weight_decay": float(solver.weight_decay)})
    project["optimizers"] = optimizers
    project["monitors"] = [{"name": m.name, "network": m.network_name,
                            "dataset": m.dataset_name[0] if m.dataset_name else ""} for m in proto.monitor]
    project["executors"] = [{"name": e.name, "network": e.network_name,
                             "dataset": next(iter(proto.dataset)).name if proto.dataset else "",
                             "num_evaluations": int(e.num_evaluations) or 1,
                             "repeat_evaluation_type": e.repeat_evaluation_type or "mean",
                             "need_back_propagation": bool(e.need_back_propagation)} for e in proto.executor]


def _read(path: str) -> NnpFile:
    extension = os.path.splitext(path)[1].lower()
    if extension == ".onnx":
        from nnl.onnx import import_model

        return import_model(path)
    if extension in (".nntxt", ".prototxt", ".nnp"):
        return read_nnp(path)
    raise ValueError(f"import_network_file: {path!r} is not an .nntxt, .nnp or .onnx file.")


def import_network_file(path: str) -> dict[str, Any]:
    """The project document of a network file (``.nntxt``, ``.nnp`` or ``.onnx``), its layers arranged."""
    nnp = _read(str(path))
    proto = nnp.proto
    if not proto.network:
        raise ValueError(f"import_network_file: {path!r} holds no network.")
    name = os.path.splitext(os.path.basename(str(path)))[0]
    project: dict[str, Any] = {"format": "nnl-project", "version": 1, "name": name,
                               "description": f"imported from {os.path.basename(str(path))}", "networks": []}
    for network in proto.network:
        data, generators, lr = _bindings(proto, network.name)
        project["networks"].append(_NetworkImport(network, data, generators, lr).run())
    _config(proto, project)
    for network in project["networks"]:
        arrange(project, network["name"])
    return project


def arrange(project: dict[str, Any], network_name: str) -> None:
    """Place the layers of ``network_name`` top to bottom on NNC's grid (in place): row = longest path from an
    input (a Delay's loop-back input does not count), column = order within the row; comments go to the right."""
    net = next((n for n in project.get("networks", []) if n["name"] == network_name), None)
    if net is None:
        known = ", ".join(n["name"] for n in project.get("networks", []))
        raise ValueError(f"arrange: network {network_name!r} is not in the project (networks: {known}).")
    types = {layer["id"]: layer["type"] for layer in net["layers"]}
    preds: dict[int, list[int]] = {layer["id"]: [] for layer in net["layers"]}
    for link in net.get("links", []):
        if link["dest"] in preds and link["source"] in preds and \
                not (types[link["dest"]] == "Delay" and link["dest_pin"] == 0):
            preds[link["dest"]].append(link["source"])
    rank: dict[int, int] = {}
    pending = [layer["id"] for layer in net["layers"]]
    while pending:  # longest path by rounds; what a cycle leaves goes to the next row
        ready = [i for i in pending if all(s in rank for s in preds[i])] or pending[:1]
        for i in ready:
            rank[i] = 1 + max((rank[s] for s in preds[i] if s in rank), default=-1)
        pending = [i for i in pending if i not in rank]

    columns: dict[int, int] = {}
    widest = 0
    for layer in net["layers"]:
        if layer["type"] == "Comment":
            continue
        row = rank[layer["id"]]
        column = columns.get(row, 0)
        columns[row] = column + 1
        widest = max(widest, column + 1)
        layer["x"], layer["y"] = _GRID + column * (_WIDTH + _GRID), _GRID + row * (_HEIGHT + _GRID)
        layer["width"], layer["height"] = _WIDTH, _HEIGHT
    for k, comment in enumerate(net.get("comments", [])):
        comment["x"], comment["y"] = _GRID + widest * (_WIDTH + _GRID), _GRID + k * (_HEIGHT + _GRID)
