"""A project network lowered to nnl functions, layer by layer, with shapes from the functions' own setup.

``lower(project, network_name, mode)`` expands Unit layers (inlined with their parameter scope and arguments),
orders the layers, resolves property values (``*Name``, ``*KernelShape``, ``*ConvolutionPaddingSize``, unit
arguments, ``Input[i]`` arithmetic), and for every layer creates the nnl function it runs on Variables of the input
shapes: the output shapes are what training will see. A layer that cannot be set up gets an ``error`` naming the
layer, the property or input and the shapes; layers downstream of it are skipped (``output_shape`` None).

``mode`` is ``"train"``, ``"validation"`` (NNC's test-mode copy: ``-test=`` argument values, layers with
``SkipAtTest`` removed) or ``"runtime"`` (validation, without losses and their targets).
Shapes in ``LoweredLayer`` exclude the batch axis, as NNC shows them.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnl.console.layers import EXTRA_PARAMETERS, LayerSpec, is_supported, layer_spec, parse_value
from nnl.core.variable import Variable
from nnl.functions import registry

__all__ = ["Parameter", "DataInput", "LoweredLayer", "LoweredNetwork", "lower", "NetworkError"]

_BATCH = 1  # batch used for shape inference; NNC shapes exclude it


class NetworkError(ValueError):
    """The network cannot be lowered as a whole (unknown network, cycle, unit recursion)."""


@dataclass
class Parameter:
    name: str
    shape: tuple[int, ...]
    initializer: str
    multiplier: float
    lr_multiplier: float
    repeat: tuple[str, ...] = ()


@dataclass
class DataInput:
    """A Buffer fed from the dataset (``dataset`` column) or a generator (Input layers, loss targets, Delay initials)."""

    variable: str
    shape: tuple[int, ...]
    dataset: str
    generator: str = "None"
    multiplier: float = 1.0


@dataclass
class LoweredLayer:
    name: str  # function / output variable name (unit layers: "<Unit>/<Layer>")
    type: str
    layer_id: int  # id of the layer in the requested network (the Unit layer for inlined ones)
    function: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] | None = None
    parameters: list[Parameter] = field(default_factory=list)
    data: list[DataInput] = field(default_factory=list)
    repeat: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)  # resolved property values
    spec: LayerSpec | None = None
    error: str | None = None
    instance: Any = None  # the nnl function object (for costs)


@dataclass
class LoweredNetwork:
    name: str
    layers: list[LoweredLayer]
    repeat_times: dict[str, int]
    aliases: dict[str, str]  # variables of removed layers -> the variable they pass through
    removed_outputs: list[tuple[str, str]]  # runtime: (variable feeding a removed loss, its target's dataset name)

    @property
    def errors(self) -> list[str]:
        return [layer.error for layer in self.layers if layer.error]


# ---------------------------------------------------------------------------------------------------------------
# flattening (units inlined)


@dataclass
class _Node:
    name: str
    local_name: str
    type: str
    spec: LayerSpec
    props: dict[str, str]
    layer_id: int
    scope: str  # parameter scope prefix of the enclosing units ('' at top level)
    arguments: dict[str, str]
    inputs: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # pin -> [(source node, source pin)]


def _network(project: dict[str, Any], name: str) -> dict[str, Any]:
    for net in project.get("networks", []):
        if net["name"] == name:
            return net
    known = ", ".join(n["name"] for n in project.get("networks", []))
    raise NetworkError(f"network {name!r} is not in the project (networks: {known}).")


def _links_by_dest(net: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    by_dest: dict[int, list[dict[str, Any]]] = {}
    for link in net.get("links", []):
        by_dest.setdefault(link["dest"], []).append(link)
    return by_dest


def _unit_ports(net: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A unit network's Input layers and its outputs (layers no link leaves), in layer order."""
    sources = {link["source"] for link in net.get("links", [])}
    inputs = [layer for layer in net["layers"] if layer["type"] == "Input"]
    outputs = [layer for layer in net["layers"]
               if layer["id"] not in sources and layer["type"] not in ("Input", "Argument", "Comment")]
    return inputs, outputs


def _flatten(project: dict[str, Any], net_name: str, prefix: str, scope: str, arguments: dict[str, str],
             top_id: int | None, stack: tuple[str, ...]) -> tuple[list[_Node], dict[int, str], dict[int, list[str]]]:
    """Nodes of ``net_name`` with units expanded; returns (nodes, layer id -> node name, unit id -> output names)."""
    if net_name in stack:
        raise NetworkError(f"unit networks call each other in a cycle: {' -> '.join((*stack, net_name))}.")
    net = _network(project, net_name)
    own_args = dict(arguments)
    for layer in net["layers"]:
        if layer["type"] == "Argument" and layer["name"] not in arguments:
            own_args[layer["name"]] = layer.get("properties", {}).get("Value", "")
    nodes: list[_Node] = []
    name_of: dict[int, str] = {}
    unit_outputs: dict[int, list[str]] = {}
    unit_inputs: dict[int, list[str]] = {}  # unit layer id -> its Input node names
    for layer in net["layers"]:
        if layer["type"] in ("Argument", "Comment"):
            continue
        layer_id = layer["id"] if top_id is None else top_id
        props = dict(layer.get("properties", {}))
        if layer["type"] == "Unit":
            unit_net = props.get("Network", "")
            try:
                inner = _network(project, unit_net)
            except NetworkError as e:
                raise NetworkError(f"Unit layer {prefix}{layer['name']!r}: property Network: {e}") from None
            inner_args = {a["name"]: props.get(a["name"], a.get("properties", {}).get("Value", ""))
                          for a in inner["layers"] if a["type"] == "Argument"}
            inner_args = {k: _substitute_arguments(v, own_args) for k, v in inner_args.items()}
            unit_scope = props.get("ParameterScope", "*Name")
            unit_scope = layer["name"] if unit_scope == "*Name" else _substitute_arguments(unit_scope, own_args)
            sub_scope = "/".join(s for s in (scope, unit_scope) if s)
            sub_nodes, sub_names, _ = _flatten(project, unit_net, f"{prefix}{layer['name']}/", sub_scope, inner_args,
                                               layer_id, (*stack, net_name))
            _apply_overrides(sub_nodes, props, f"{prefix}{layer['name']}/")
            nodes.extend(sub_nodes)
            ins, outs = _unit_ports(inner)
            unit_inputs[layer["id"]] = [sub_names[i["id"]] for i in ins]
            unit_outputs[layer["id"]] = [sub_names[o["id"]] for o in outs]
            continue
        spec = layer_spec(layer["type"])
        node = _Node(f"{prefix}{layer['name']}", layer["name"], layer["type"], spec, props, layer_id, scope, own_args)
        nodes.append(node)
        name_of[layer["id"]] = node.name

    by_name = {n.name: n for n in nodes}

    def source(link: dict[str, Any]) -> tuple[str, int]:
        if link["source"] in unit_outputs:
            outs = unit_outputs[link["source"]]
            if link["source_pin"] >= len(outs):
                raise NetworkError(f"network {net_name!r}: link {link['id']} leaves output {link['source_pin']} of a "
                                   f"unit that has {len(outs)} outputs.")
            return outs[link["source_pin"]], 0
        if link["source"] not in name_of:
            raise NetworkError(f"network {net_name!r}: link {link['id']} starts at layer id {link['source']}, "
                               "which is not in the network.")
        return name_of[link["source"]], link["source_pin"]

    for dest, links in _links_by_dest(net).items():
        ordered = sorted(links, key=lambda link: link["id"])
        if dest in unit_inputs:  # a unit's inputs feed its Input layers, in order
            targets = unit_inputs[dest]
            for k, link in enumerate(ordered):
                if k < len(targets):
                    by_name[targets[k]].inputs.setdefault(0, []).append(source(link))
            continue
        if dest not in name_of:
            if any(layer["id"] == dest for layer in net["layers"]):
                continue  # links into Comment/Argument layers carry nothing
            raise NetworkError(f"network {net_name!r}: a link ends at layer id {dest}, which is not in the network.")
        node = by_name[name_of[dest]]
        for link in ordered:
            node.inputs.setdefault(link["dest_pin"], []).append(source(link))
    # A unit's Input layers become pass-throughs of what the caller connects.
    return nodes, name_of, unit_outputs


def _apply_overrides(nodes: list[_Node], unit_props: dict[str, str], prefix: str) -> None:
    """Unit properties ``<Layer>.<param>.<field>`` (e.g. ``Affine.W.LRateMultiplier``) override inner layers."""
    by_local = {n.name[len(prefix):]: n for n in nodes}
    for key, value in unit_props.items():
        head, _, rest = key.partition(".")
        node = by_local.get(head)
        if node is not None and rest and value != "*Default":
            node.props[rest] = value


def _substitute_arguments(value: str, arguments: dict[str, str]) -> str:
    if value.startswith("*") and value[1:] in arguments:
        return arguments[value[1:]]
    return value


# ---------------------------------------------------------------------------------------------------------------
# property values


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


def _evaluate(expression: str, lookup: Callable[[str], Any], input_shape: tuple[int, ...] | None) -> Any:
    """NNC property arithmetic: numbers, names (unit arguments, properties), ``Input[i]``, ``Name[i]``,
    + - * / // % ** and parentheses."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id == "Input":
                if input_shape is None:
                    raise ValueError("Input[i] is used but the layer has no input")
                return input_shape[int(walk(node.slice))]
            return lookup(node.value.id)[int(walk(node.slice))]
        if isinstance(node, ast.Name):
            value = lookup(node.id)
            return _evaluate(value, lookup, input_shape) if isinstance(value, str) else value
        raise ValueError(f"{ast.unparse(node)!r} is not a number, an argument or Input[i]")

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"{expression!r} is not a number or an expression") from None
    return walk(tree)


def _as_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _Resolver:
    """Resolves one node's property strings into typed values (macros, references, unit arguments)."""

    def __init__(self, node: _Node, input_shape: tuple[int, ...] | None, consumers: int) -> None:
        self.node, self.input_shape, self.consumers = node, input_shape, consumers
        self.cache: dict[str, Any] = {}

    def raw(self, name: str) -> str:
        if name in self.node.props:
            return self.node.props[name]
        spec = self.node.spec.find_property(name)
        return spec.default if spec is not None else ""

    def type_of(self, name: str) -> str:
        spec = self.node.spec.find_property(name)
        return spec.type if spec is not None else "Text"

    def get(self, name: str) -> Any:
        if name not in self.cache:
            try:
                self.cache[name] = self._value(name, self.raw(name), self.type_of(name))
            except (ValueError, KeyError, IndexError, ZeroDivisionError, TypeError) as e:
                raise ValueError(f"property {name}={self.raw(name)!r}: {e}") from None
        return self.cache[name]

    def _value(self, name: str, text: str, type_name: str) -> Any:
        text = _substitute_arguments(text.strip(), self.node.arguments)
        if text.startswith("*"):
            macro = text[1:]
            if macro == "Name":
                return self.node.local_name
            if macro == "Default":
                spec = self.node.spec.find_property(name)
                return self._value(name, spec.default if spec else "", type_name)
            if macro in _MACROS:
                return _MACROS[macro](self)
            if self.node.spec.find_property(macro) is not None:
                return self.get(macro)
            raise ValueError(f"unknown reference *{macro}")
        if type_name in ("Text", "File", "Option", "Dataset"):
            return text
        if type_name in ("Boolean", "BooleanOrMacro"):
            return parse_value(text, type_name, f"{self.node.name}.{name}")
        if type_name.endswith("Array") or type_name.endswith("Arrays"):
            if not text:
                return ()
            return tuple(_as_number(_evaluate(part, self.lookup, self.input_shape))
                         for part in text.split(",") if part.strip())
        if type_name in ("PInt", "UInt", "Int", "Float"):
            value = _evaluate(text, self.lookup, self.input_shape)
            return float(value) if type_name == "Float" else int(value)
        return text

    def lookup(self, name: str) -> Any:
        """A name in an expression: a unit argument, else a property of the layer."""
        if name in self.node.arguments:
            return self.node.arguments[name]
        if self.node.spec.find_property(name) is not None:
            return self.get(name)
        raise ValueError(f"{name!r} is neither a unit argument nor a property")

    def ints(self, name: str) -> tuple[int, ...]:
        value = self.get(name)
        return tuple(int(v) for v in (value if isinstance(value, tuple) else (value,)))


def _padding(r: _Resolver) -> tuple[int, ...]:
    kernel = r.ints("KernelShape")
    dilation = r.ints("Dilation") if r.node.spec.find_property("Dilation") else (1,) * len(kernel)
    mode = r.get("BorderMode") if r.node.spec.find_property("BorderMode") else "valid"
    if mode == "same":
        return tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))
    if mode == "full":
        return tuple((k - 1) * d for k, d in zip(kernel, dilation))
    return (0,) * len(kernel)


def _input(r: _Resolver) -> tuple[int, ...]:
    if r.input_shape is None:
        raise ValueError("*Input is used but the layer has no input")
    return r.input_shape


_MACROS: dict[str, Callable[[_Resolver], Any]] = {
    "ConvolutionPaddingSize": _padding,
    "Input": _input,
    "AutoInPlaceOnce": lambda r: r.consumers == 1,
    "AutoInPlace": lambda r: r.consumers == 1,
    "Shape": _input,
}


# ---------------------------------------------------------------------------------------------------------------
# ordering and loops


def _order(nodes: list[_Node]) -> list[_Node]:
    """Topological order; a Delay's main input is the previous time step's value, so it does not order."""
    by_name = {n.name: n for n in nodes}
    deps = {n.name: {src for pin, links in n.inputs.items() for src, _ in links
                     if not (n.type == "Delay" and pin == 0)} for n in nodes}
    order: list[_Node] = []
    placed: set[str] = set()
    pending = [n.name for n in nodes]
    while pending:
        ready = [name for name in pending if deps[name] <= placed]
        if not ready:
            raise NetworkError("the layers form a cycle (only Delay layers may close a loop): "
                               + ", ".join(sorted(pending)[:8]))
        for name in ready:
            placed.add(name)
            order.append(by_name[name])
        pending = [name for name in pending if name not in placed]
    return order


def _repeat_ids(order: list[_Node], props: dict[str, _Resolver]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Loop ids of every node (inherited from its inputs; RepeatStart/RecurrentInput open a loop, RepeatEnd/
    RecurrentOutput close the innermost one unless their ID names another) and the loop id of each loop layer."""
    ids: dict[str, tuple[str, ...]] = {n.name: () for n in order}
    loop_of: dict[str, str] = {}
    for _ in range(3):  # Delays take their loop from the later layer they read: further passes settle them
        for n in order:
            inherited: tuple[str, ...] = ()
            for links in n.inputs.values():
                for src, _ in links:
                    for i in ids.get(src, ()):
                        if i not in inherited:
                            inherited += (i,)
            if n.type in ("RepeatStart", "RecurrentInput"):
                loop_of[n.name] = str(props[n.name].get("ID"))
                inherited += (loop_of[n.name],)
            elif n.type in ("RepeatEnd", "RecurrentOutput"):
                opener = "RepeatStart" if n.type == "RepeatEnd" else "RecurrentInput"
                explicit = n.props.get("ID")
                closing = str(explicit) if explicit else (inherited[-1] if inherited else opener)
                loop_of[n.name] = closing
                inherited = tuple(i for i in inherited if i != closing)
            ids[n.name] = inherited
    return ids, loop_of


# ---------------------------------------------------------------------------------------------------------------
# lowering


def lower(project: dict[str, Any], network_name: str, mode: str = "train") -> LoweredNetwork:
    """The network ``network_name`` as nnl functions with shapes (see the module docstring)."""
    if mode not in ("train", "validation", "runtime"):
        raise ValueError(f"lower: mode must be 'train', 'validation' or 'runtime', got {mode!r}.")
    nodes, _, _ = _flatten(project, network_name, "", "", {}, None, ())
    order = _order(nodes)
    consumers: dict[str, int] = {}
    for n in nodes:
        for links in n.inputs.values():
            for src, _ in links:
                consumers[src] = consumers.get(src, 0) + 1
    resolvers = {n.name: _Resolver(n, None, 0) for n in nodes}
    repeat, loop_of = _repeat_ids(order, resolvers)
    state = _State(network_name, mode, repeat, {n.name: n for n in nodes}, resolvers, loop_of)
    for n in nodes:  # *AutoInPlace: in place when nothing else reads the input
        main = n.inputs.get(0, [])
        resolvers[n.name].consumers = consumers.get(main[0][0], 0) if main else 0
    for node in order:
        state.lower_node(node)
    state.finish_loops()
    return LoweredNetwork(network_name, state.layers, state.repeat_times, state.aliases, state.removed_outputs)


_TEST_SKIPPED = "SkipAtTest"


class _State:
    def __init__(self, network: str, mode: str, repeat: dict[str, tuple[str, ...]], nodes: dict[str, _Node],
                 resolvers: dict[str, _Resolver], loop_of: dict[str, str]) -> None:
        self.network, self.mode, self.repeat, self.nodes, self.resolvers = network, mode, repeat, nodes, resolvers
        self.loop_of = loop_of
        self.test = mode != "train"
        self.shapes: dict[str, tuple[int, ...] | None] = {}  # variable -> shape (None: unknown after an error)
        self.variable_of: dict[tuple[str, int], str] = {}  # (node, output pin) -> variable name
        self.parameter_vars: dict[str, Parameter] = {}  # Parameter layers used as connectors
        self.layers: list[LoweredLayer] = []
        self.repeat_times: dict[str, int] = {}
        self.aliases: dict[str, str] = {}
        self.removed_outputs: list[tuple[str, str]] = []
        self.repeat_end_input: dict[str, str] = {}
        self.pending_delays: list[tuple[LoweredLayer, _Node]] = []

    # -- helpers
    def where(self, node: _Node) -> str:
        return f"network {self.network!r}: layer {node.name!r} ({node.type})"

    def source_var(self, src: tuple[str, int]) -> str:
        name = self.variable_of.get(src)
        if name is None:
            name = src[0] if src[1] == 0 else f"{src[0]}_{src[1]}"
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def param_name(self, node: _Node, r: _Resolver, local: str) -> str:
        scope = r.get("ParameterScope") if node.spec.find_property("ParameterScope") else node.local_name
        scope = str(scope) + "".join(f"{{{i}}}" for i in self.repeat[node.name] if i in self._repeat_loops())
        parts = [node.scope, scope, node.spec.scope or "", local]
        return "/".join(p for p in parts if p)

    def _repeat_loops(self) -> set[str]:
        return {self.loop_of[n.name] for n in self.nodes.values() if n.type == "RepeatStart"}

    # -- the pass
    def lower_node(self, node: _Node) -> None:
        spec = node.spec
        layer = LoweredLayer(node.name, node.type, node.layer_id, spec=spec, repeat=self.repeat[node.name])
        main = node.inputs.get(0, [])
        main_vars = [self.source_var(s) for s in main]
        if node.type == "Delay":
            main_vars = []  # read at the end (its source comes later)
        shapes = [self.shapes.get(v) for v in main_vars]
        if any(s is None for s in shapes):
            layer.output_shapes = None
            self._register_outputs(node, layer, None)
            self.layers.append(layer)
            return
        in_shape = shapes[0] if shapes else None
        r = self.resolvers[node.name]
        r.input_shape = in_shape
        try:
            if not is_supported(node.type):
                raise ValueError("this layer type is not supported by nnl yet")
            if spec.input in ("Single",) and node.type not in ("Delay",) and not main_vars:
                raise ValueError("its input is not connected")
            if spec.input == "Single" and len(main_vars) > 1:
                raise ValueError(f"it takes one input but {len(main_vars)} links arrive")
            self._lower(node, layer, r, main_vars, [s for s in shapes if s is not None])
        except ValueError as e:
            layer.error = f"{self.where(node)}: {e}"
            layer.output_shapes = None
        self._register_outputs(node, layer, layer.output_shapes)
        self.layers.append(layer)

    def _register_outputs(self, node: _Node, layer: LoweredLayer, shapes: list[tuple[int, ...]] | None) -> None:
        if layer.outputs and layer.outputs[0] in self.aliases:
            return
        names = layer.outputs or [node.name]
        layer.outputs = names
        for pin, name in enumerate(names):
            self.variable_of[(node.name, pin)] = name
            self.shapes[name] = shapes[pin] if shapes is not None and pin < len(shapes) else None

    def _lower(self, node: _Node, layer: LoweredLayer, r: _Resolver, main_vars: list[str],
               shapes: list[tuple[int, ...]]) -> None:
        t = node.type
        for p in node.spec.properties:  # resolve every property once, so errors name the property
            if p.editable and not p.name.endswith(".File"):  # computed ones are fetched where needed
                layer.properties[p.name] = r.get(p.name)
        if self.test and layer.properties.get(_TEST_SKIPPED) is True and main_vars:
            self.aliases[node.name] = main_vars[0]
            layer.outputs = [node.name]
            layer.output_shapes = [shapes[0]]
            layer.function = None
            return
        if self.mode == "runtime" and node.spec.is_loss:
            self.aliases[node.name] = main_vars[0]
            target = layer.properties.get("T.Dataset", "y")
            self.removed_outputs.append((main_vars[0], str(target)))
            layer.outputs = [node.name]
            layer.output_shapes = [shapes[0]]
            return
        if t == "Input" and main_vars:  # a unit's Input: what the caller connects passes through
            self.aliases[node.name] = main_vars[0]
            layer.outputs = [node.name]
            layer.output_shapes = [shapes[0]]
            return
        if t == "Input":
            size = r.ints("Size")
            layer.output_shapes = [size]
            layer.outputs = [node.name]
            layer.data.append(DataInput(node.name, size, str(layer.properties.get("Dataset", "x")),
                                        str(layer.properties.get("Generator", "None")),
                                        float(layer.properties.get("GeneratorMultiplier", 1.0))))
            return
        if t == "Parameter":
            size = r.ints("Size")
            param = Parameter(node.name, size, str(r.get("Initializer")), float(r.get("InitializerMultiplier")),
                              float(r.get("LRateMultiplier")), layer.repeat)
            layer.parameters.append(param)
            layer.outputs, layer.output_shapes = [node.name], [size]
            return
        if t in ("RepeatStart", "RepeatEnd", "RecurrentInput", "RecurrentOutput", "Delay"):
            self._loop_layer(node, layer, r, main_vars, shapes)
            return
        self._function_layer(node, layer, r, main_vars, shapes)

    def _loop_layer(self, node: _Node, layer: LoweredLayer, r: _Resolver, main_vars: list[str],
                    shapes: list[tuple[int, ...]]) -> None:
        t = node.type
        layer.function = t
        layer.outputs = [node.name]
        loop_id = self.loop_of.get(node.name, "")
        if t == "RepeatStart":
            self.repeat_times[loop_id] = int(r.get("Times"))
            layer.inputs = main_vars  # the loop-back input is added once the RepeatEnd is known
            layer.arguments = {"repeat_id": loop_id}
            layer.output_shapes = [shapes[0]]
        elif t == "RepeatEnd":
            if loop_id not in self.repeat_times:
                raise ValueError(f"property ID={loop_id!r} names no RepeatStart before it")
            self.repeat_end_input[loop_id] = main_vars[0]
            layer.inputs = main_vars
            layer.arguments = {"repeat_id": loop_id, "times": self.repeat_times[loop_id]}
            layer.output_shapes = [shapes[0]]
        elif t == "RecurrentInput":
            axis = int(r.get("Axis"))
            if not 0 <= axis < len(shapes[0]):
                raise ValueError(f"Axis={axis} is out of range for the input shape {shapes[0]}")
            self.repeat_times[loop_id] = shapes[0][axis]
            layer.inputs = main_vars
            layer.arguments = {"axis": axis + 1, "repeat_id": loop_id}
            layer.output_shapes = [shapes[0][:axis] + shapes[0][axis + 1:]]
        elif t == "RecurrentOutput":
            axis = int(r.get("Axis"))
            if loop_id not in self.repeat_times:
                raise ValueError(f"property ID={loop_id!r} names no RecurrentInput before it")
            length = self.repeat_times[loop_id]
            if not 0 <= axis <= len(shapes[0]):
                raise ValueError(f"Axis={axis} is out of range for the input shape {shapes[0]}")
            layer.inputs = main_vars
            layer.arguments = {"axis": axis + 1, "repeat_id": loop_id, "length": length}
            layer.output_shapes = [shapes[0][:axis] + (length,) + shapes[0][axis:]]
        else:  # Delay: its input is the previous step's value, bound after the whole network is lowered
            size = r.ints("Size")
            ids = [i for i in layer.repeat]
            layer.arguments = {"repeat_id": ids[-1] if ids else ""}
            layer.output_shapes = [size]
            initial = self._data_connector(node, layer, r, node.spec.connectors[0], 1, size)
            layer.inputs = ["", initial]
            self.pending_delays.append((layer, node))
        layer.input_shapes = list(shapes)

    def finish_loops(self) -> None:
        for layer in self.layers:
            if layer.type == "RepeatStart" and layer.error is None and layer.output_shapes is not None:
                loop_id = layer.arguments["repeat_id"]
                back = self.repeat_end_input.get(loop_id)
                if back is None:
                    layer.error = (f"network {self.network!r}: layer {layer.name!r} (RepeatStart): no RepeatEnd "
                                   f"with ID={loop_id!r} closes this loop")
                    continue
                layer.inputs = [*layer.inputs, back]
                if self.shapes.get(back) not in (None, layer.output_shapes[0]):
                    layer.error = (f"network {self.network!r}: layer {layer.name!r} (RepeatStart): the loop body "
                                   f"ends with shape {self.shapes[back]} but starts with {layer.output_shapes[0]}; "
                                   "a repeated block must keep its shape")
        for layer, node in self.pending_delays:
            links = node.inputs.get(0, [])
            if len(links) != 1:
                layer.error = f"{self.where(node)}: its input is not connected"
                continue
            var = self.source_var(links[0])
            layer.inputs[0] = var
            if self.shapes.get(var) not in (None, layer.output_shapes[0] if layer.output_shapes else None):
                layer.error = (f"{self.where(node)}: property Size={layer.output_shapes} but its input "
                               f"{var!r} has shape {self.shapes[var]}")

    def _data_connector(self, node: _Node, layer: LoweredLayer, r: _Resolver, conn: Any, pin: int,
                        shape: tuple[int, ...]) -> str:
        """The variable of a data connector: its link, else a Buffer fed by ``<conn>.Dataset`` / generator."""
        links = node.inputs.get(pin, [])
        if links:
            return self.source_var(links[0])
        dataset_prop = f"{conn.name}.Dataset"
        if node.spec.find_property(dataset_prop) is None:
            raise ValueError(f"input {conn.name} is not connected")
        name = f"{node.name}_{conn.name}"
        layer.data.append(DataInput(name, shape, str(r.get(dataset_prop)), str(r.get(f"{conn.name}.Generator")),
                                    float(r.get(f"{conn.name}.GeneratorMultiplier"))))
        self.shapes[name] = shape
        return name

    def _function_layer(self, node: _Node, layer: LoweredLayer, r: _Resolver, main_vars: list[str],
                        shapes: list[tuple[int, ...]]) -> None:
        spec = node.spec
        assert spec.function is not None
        cls = registry.function_class(spec.function)
        layer.function = spec.function
        inputs = list(main_vars)
        in_shapes = list(shapes)
        in_shape = shapes[0] if shapes else ()
        connectors = list(spec.connectors)
        for pin, conn in enumerate(connectors, start=1):
            enable = conn.enable
            if enable.startswith("*") and not bool(r.get(enable[1:])):
                continue
            if conn.kind == "Parameter":
                name, shape = self._parameter(node, layer, r, conn.name, conn.shape, in_shape, pin)
            else:
                shape = self._data_shape(conn.shape, r, in_shape)
                name = self._data_connector(node, layer, r, conn, pin, shape)
                shape = self.shapes.get(name) or shape
            inputs.append(name)
            in_shapes.append(shape)
            if node.type in EXTRA_PARAMETERS and conn.name == "Wb":
                extra, rule = EXTRA_PARAMETERS[node.type]
                name, shape = self._parameter(node, layer, r, extra, rule, in_shape, None)
                inputs.append(name)
                in_shapes.append(shape)
        arguments = self._arguments(node, cls, r)
        try:
            function = cls(**arguments)
        except (TypeError, ValueError) as e:
            raise ValueError(f"arguments {arguments}: {e}") from None
        variables = [Variable((_BATCH, *s)) if i < len(main_vars) or not self._is_param(inputs[i]) else Variable(s)
                     for i, s in enumerate(in_shapes)]
        try:
            outputs = function(*variables, auto_forward=False)
        except Exception as e:  # noqa: BLE001  (any setup failure is this layer's error)
            shown = ", ".join(f"{n}{s}" for n, s in zip(inputs, in_shapes))
            raise ValueError(f"{_message(e)} (inputs: {shown})") from None
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        layer.instance = function
        layer.arguments = arguments  # as given: setup may fill defaults from the inference batch
        layer.inputs = inputs
        layer.input_shapes = in_shapes
        layer.outputs = [node.name] if len(outputs) == 1 else [f"{node.name}_{i}" for i in range(len(outputs))]
        layer.output_shapes = [tuple(o.shape[1:]) for o in outputs]

    def _is_param(self, name: str) -> bool:
        return name in self.parameter_vars

    def _parameter(self, node: _Node, layer: LoweredLayer, r: _Resolver, local: str, rule: str,
                   in_shape: tuple[int, ...], pin: int | None) -> tuple[str, tuple[int, ...]]:
        shape = _parameter_shape(rule, r, in_shape)
        links = node.inputs.get(pin, []) if pin is not None else []
        if links:  # wired to a Parameter layer
            var = self.source_var(links[0])
            declared = self.shapes.get(var)
            if declared is not None and declared != shape:
                raise ValueError(f"input {local} is {var!r} with shape {declared}, but {shape} is needed")
            self.parameter_vars[var] = Parameter(var, shape, "", 0.0, 1.0)
            return var, shape

        def prop(suffix: str, default: str) -> str:
            key = f"{local}.{suffix}"
            return str(r.get(key)) if node.spec.find_property(key) is not None else default

        name = self.param_name(node, r, local)
        initializer = prop("Initializer", "Constant")
        multiplier = float(prop("InitializerMultiplier", "0"))
        lr = float(prop("LRateMultiplier", "1" if pin is not None else "0"))
        param = Parameter(name, shape, initializer, multiplier, lr, self._param_repeat(node))
        layer.parameters.append(param)
        self.parameter_vars[name] = param
        return name, shape

    def _param_repeat(self, node: _Node) -> tuple[str, ...]:
        loops = self._repeat_loops()
        return tuple(i for i in self.repeat[node.name] if i in loops)

    def _data_shape(self, rule: str, r: _Resolver, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if rule == "*SoftmaxLabelShape":
            axis = int(r.get("Axis")) if r.node.spec.find_property("Axis") else len(in_shape) - 1
            return in_shape[:axis] + (1,) + in_shape[axis + 1:]
        if rule == "*Input":
            return in_shape
        return _parameter_shape(rule, r, in_shape)

    def _arguments(self, node: _Node, cls: Any, r: _Resolver) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        for p in node.spec.properties:
            if p.argument is None or p.argument not in cls.args_spec:
                continue
            value = r.get(p.name)
            test_value = p.test_value()
            if self.test and test_value is not None:
                value = parse_value(test_value, "Boolean")
            arg = cls.args_spec[p.argument]
            if "a" in p.flags:
                value = tuple(v + 1 for v in value) if isinstance(value, tuple) else int(value) + 1
            if "b" in p.flags:
                value = (_BATCH, *value)
            if "0" in p.flags:
                value = (0, *value)
            arguments[p.argument] = _convert(value, arg.type, f"property {p.name}")
        return arguments


def _message(e: Exception) -> str:
    return str(e).strip().rstrip(".")


def _convert(value: Any, type_name: str, where: str) -> Any:
    if type_name in ("Shape", "repeated int64"):
        return tuple(int(v) for v in (value if isinstance(value, tuple) else (value,)))
    if type_name == "repeated float":
        return tuple(float(v) for v in (value if isinstance(value, tuple) else (value,)))
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(f"{where}: expected one value, got {value}")
        value = value[0]
    if type_name == "bool":
        return bool(value)
    if type_name == "int64":
        return int(value)
    if type_name in ("float", "double"):
        return float(value)
    return str(value)


def _prod(values: tuple[int, ...]) -> int:
    return int(math.prod(values))


def _parameter_shape(rule: str, r: _Resolver, x: tuple[int, ...]) -> tuple[int, ...]:
    """Shapes of parameters (and data connectors) by NNC's rule names, from the input shape (batch excluded)."""
    def has(name: str) -> bool:
        return r.node.spec.find_property(name) is not None

    base = int(r.get("BaseAxis")) if has("BaseAxis") else 0
    if rule == "*AffineWeightShape":
        return (_prod(x[base:]), *r.ints("OutShape"))
    if rule in ("*ConvolutionWeightShape", "*ConvolutionWeightShapeDeconvolution"):
        group = int(r.get("Group")) if has("Group") else 1
        channel_last = bool(r.get("ChannelLast")) if has("ChannelLast") else False
        channels = x[-1] if channel_last else x[base]
        kernel, outmaps = r.ints("KernelShape"), int(r.get("OutMaps"))
        if rule == "*ConvolutionWeightShape":
            lead = (outmaps, channels // group)
        else:
            lead = (channels, outmaps // group)
        return (lead[0], *kernel, lead[1]) if channel_last else (*lead, *kernel)
    if rule == "*BatchNormalizationShape":
        axes_prop = "Axes" if has("Axes") else "ChannelAxis" if has("ChannelAxis") else None
        axes = {a + 1 for a in r.ints(axes_prop)} if axes_prop else {1}
        full = (1, *x)
        return tuple(d if i in axes else 1 for i, d in enumerate(full))
    if rule == "*LayerNormalizationShape":
        batch_axes = {a + 1 for a in r.ints("BatchAxis")} if has("BatchAxis") else {0}
        full = (1, *x)
        return tuple(1 if i in batch_axes else d for i, d in enumerate(full))
    if rule == "*PReluParameterSize":
        return () if bool(r.get("Shared")) else (x[base],)
    if rule == "*EmbeddingWeightSize":
        return (int(r.get("NumClass")), *r.ints("Shape"))
    if rule == "*RunningMeanShape":
        return x[base:]
    if rule.startswith("*"):
        return r.ints(rule[1:])
    return tuple(int(_evaluate(part, r.lookup, x)) for part in rule.split(","))
