"""A project network as readable nnl Python code (the console's "Export > Python code").

``to_python(project, network_name)`` writes ``def network(<inputs>, <targets>=None, test=False)``: one argument per
Input layer (named after its dataset variable, in layer order), then one per loss target fed from the dataset. Called
without the targets it returns what the runtime network outputs (the inputs of the losses); with them, the losses.
``test=True`` gives the validation behaviour (``-test=`` values such as ``batch_stat=False``, layers with
``SkipAtTest`` bypassed). Layers with parameters use ``PF.*`` with ``name=`` equal to their parameter scope, so the
parameter names are those of the compiled nntxt and parameters trained by ``nnl train`` load with
``nn.load_parameters``. Unit networks become Python functions whose Argument layers are keyword arguments (property
values written in terms of them, ``Input[i]`` as ``x.shape[i + 1]``) and are called inside their unit's parameter
scope; Repeat blocks become ``for`` loops whose parameter scopes carry the index (``Conv[0]``, ``Conv[1]``...), as
nnabla names unrolled loop parameters. Initializers are not written (trained parameters are loaded).

>>> from nnl.console.project import sample_project  # doctest: +SKIP
>>> print(to_python(sample_project(), "Main"))  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

import nnl.functions as F
import nnl.parametric_functions as PF
from nnl.console._graph import LoweredLayer, NetworkError, lower
from nnl.console.layers import EXTRA_PARAMETERS, LayerSpec, layer_spec, parse_value
from nnl.functions import registry

__all__ = ["to_python"]

# Layers written as one PF call (the PF function creates the parameters under ``name/<NNC scope>``).
_PF = {"Affine": "affine", "Convolution": "convolution", "DepthwiseConvolution": "depthwise_convolution",
       "Deconvolution": "deconvolution", "DepthwiseDeconvolution": "depthwise_deconvolution", "Embed": "embed",
       "PReLU": "prelu", "BinaryConnectAffine": "binary_connect_affine",
       "BinaryConnectConvolution": "binary_connect_convolution", "BinaryWeightAffine": "binary_weight_affine",
       "BinaryWeightConvolution": "binary_weight_convolution", "BatchNormalization": "batch_normalization",
       "LayerNormalization": "layer_normalization", "InstanceNormalization": "instance_normalization",
       "GroupNormalization": "group_normalization"}
# NNC argument names that PF or F spell differently.
_PF_RENAMES = {"outshape": "n_outmaps"}
_F_RENAMES = {"axes": "axis", "keep_dims": "keepdims"}
# Arguments that only tune execution (a dynamic graph does not need them).
_DROPPED = {"inplace"}
# PF arguments whose None default means "all zeros" / "all ones".
_NEUTRAL = {"pad": 0, "stride": 1, "dilation": 1}
_LOOPS = ("RepeatStart", "RepeatEnd")
_RECURRENT = ("RecurrentInput", "RecurrentOutput", "Delay")
_SKIP = {"Comment", "Argument"}


class _Code(str):
    """Python source of a value that is known only when the generated function runs."""


def _format(value: Any) -> str:
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(v) for v in value) + (",)" if len(value) == 1 else ")")
    if isinstance(value, list):
        return _format(tuple(value))
    return repr(value)


def _is_default(value: Any, default: Any, argument: str, neutral: dict[str, int]) -> bool:
    """Whether an argument can be left out: its default, or all ``neutral`` where the default is None or ()."""
    if isinstance(default, list):
        default = tuple(default)
    if argument in neutral and isinstance(value, tuple) and default in (None, ()):
        return all(v == neutral[argument] for v in value)
    if isinstance(value, tuple) and isinstance(default, tuple):
        return value == default
    return bool(value == default) and type(value) is type(default)


def _identifier(text: str) -> str:
    """snake_case Python identifier of a layer, network or dataset name."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower() or "v"
    if text[0].isdigit():
        text = "v_" + text
    return text


class _Names:
    """Unique identifiers within one generated function (no keywords, builtins or module names)."""

    _RESERVED = {"nn", "F", "PF", "test", "i", "j", "k", "l", "m", "n"}

    def __init__(self, taken: set[str] | None = None) -> None:
        self.used: set[str] = set(taken or ())

    def new(self, text: str) -> str:
        base = _identifier(text)
        if keyword.iskeyword(base) or hasattr(builtins, base) or base in self._RESERVED:
            base += "_"
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name


def _parse_literal(text: str, type_name: str = "Text") -> Any:
    """An Argument value (or a unit property setting one) as a Python literal."""
    text = text.strip()
    if type_name not in ("Text", "File", "Option"):
        try:
            value = parse_value(text, type_name)
            if type_name.endswith("Arrays"):
                return text
            return value
        except ValueError:
            return text
    if text in ("True", "False"):
        return text == "True"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if "," in text:
        try:
            return tuple(_parse_literal(part) for part in text.split(",") if part.strip())
        except ValueError:
            return text
    return text


# ---------------------------------------------------------------------------------------------------------------
# the networks to write


@dataclass
class _Layer:
    raw: dict[str, Any]
    spec: LayerSpec
    low: LoweredLayer | None
    inputs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # pin -> [(source id, source pin)]
    var: str = ""
    repeat: tuple[str, ...] = ()

    @property
    def id(self) -> int:
        return int(self.raw["id"])

    @property
    def name(self) -> str:
        return str(self.raw["name"])

    @property
    def type(self) -> str:
        return str(self.raw["type"])


def _project_network(project: dict[str, Any], name: str) -> dict[str, Any]:
    for net in project.get("networks", []):
        if net["name"] == name:
            return net
    known = ", ".join(n["name"] for n in project.get("networks", []))
    raise ValueError(f"to_python: network {name!r} is not in the project (networks: {known}).")


def _first_instances(project: dict[str, Any], top: str) -> dict[str, str]:
    """Unit network name -> the lowered-name prefix of its first use (``'SqueezeNet/FireModule/'``)."""
    found: dict[str, str] = {}

    def walk(net_name: str, prefix: str, stack: tuple[str, ...]) -> None:
        if net_name in stack:
            raise ValueError(f"to_python: unit networks call each other in a cycle: {' -> '.join(stack)}.")
        for layer in _project_network(project, net_name)["layers"]:
            if layer["type"] == "Unit":
                inner = layer.get("properties", {}).get("Network", "")
                found.setdefault(inner, f"{prefix}{layer['name']}/")
                walk(inner, f"{prefix}{layer['name']}/", (*stack, net_name))

    walk(top, "", ())
    return found


def _topological(layers: list[_Layer]) -> list[_Layer]:
    """Kahn's order in layer order (as the compiler orders them); a Delay's main input does not order."""
    ids = {layer.id for layer in layers}
    deps = {layer.id: {src for pin, links in layer.inputs.items() for src, _ in links
                       if src in ids and not (layer.type == "Delay" and pin == 0)} for layer in layers}
    order: list[_Layer] = []
    placed: set[int] = set()
    pending = list(layers)
    while pending:
        ready = [layer for layer in pending if deps[layer.id] <= placed]
        if not ready:
            raise ValueError("to_python: the layers form a cycle: " + ", ".join(x.name for x in pending[:8]))
        placed.update(layer.id for layer in ready)
        order.extend(ready)
        pending = [layer for layer in pending if layer.id not in placed]
    return order


@dataclass
class _Loop:
    start: _Layer
    body: list[Any]  # _Layer | _Loop


def _blocks(order: list[_Layer], loop_of: dict[int, str]) -> list[Any]:
    """Layers with each Repeat block grouped into a ``_Loop`` (what its body needs from outside goes first)."""
    items: list[Any] = []
    remaining = list(order)
    while remaining:
        layer = remaining.pop(0)
        if layer.type != "RepeatStart":
            items.append(layer)
            continue
        loop_id = loop_of[layer.id]
        body = [x for x in remaining if loop_id in x.repeat]
        remaining = [x for x in remaining if loop_id not in x.repeat]
        needed: set[int] = set()
        frontier = [src for x in body for links in x.inputs.values() for src, _ in links]
        by_id = {x.id: x for x in remaining}
        while frontier:
            src = frontier.pop()
            if src in by_id and src not in needed:
                needed.add(src)
                frontier.extend(s for links in by_id[src].inputs.values() for s, _ in links)
        items.extend(x for x in remaining if x.id in needed)
        remaining = [x for x in remaining if x.id not in needed]
        items.append(_Loop(layer, _blocks(body, loop_of)))
    return items


# ---------------------------------------------------------------------------------------------------------------
# one function


class _Function:
    """The code of one project network as a Python function (the top network or a unit)."""

    def __init__(self, writer: _Writer, net: dict[str, Any], prefix: str, is_unit: bool) -> None:
        self.writer, self.net, self.prefix, self.is_unit = writer, net, prefix, is_unit
        self.names = _Names(set(writer.function_names.values()))
        self.arguments: dict[str, tuple[str, Any]] = {}  # unit Argument name -> (python name, default)
        self.data_args: dict[str, str] = {}  # dataset variable -> python argument (targets)
        self.lines: list[str] = []
        self.layers: dict[int, _Layer] = {}
        for raw in net["layers"]:
            if raw["type"] in _SKIP:
                continue
            spec = layer_spec(raw["type"])
            low = writer.lowered.get(prefix + raw["name"]) if raw["type"] != "Unit" else None
            self.layers[raw["id"]] = _Layer(raw, spec, low)
        for link in sorted(net.get("links", []), key=lambda x: x["id"]):
            dest = self.layers.get(link["dest"])
            if dest is not None and link["source"] in self.layers:
                dest.inputs.setdefault(link["dest_pin"], []).append((link["source"], link["source_pin"]))
        if is_unit:
            for raw in net["layers"]:
                if raw["type"] == "Argument":
                    props = raw.get("properties", {})
                    value = _parse_literal(props.get("Value", ""), props.get("Type", "Text"))
                    self.arguments[raw["name"]] = (self.names.new(raw["name"]), value)
        self.inputs = [x for x in self.layers.values() if x.type == "Input"]
        for layer in self.inputs:
            label = layer.name if is_unit else str(layer.raw.get("properties", {}).get("Dataset", "x") or "x")
            layer.var = self.names.new(label)
        self.input_datasets = {str(x.raw.get("properties", {}).get("Dataset", "x")) for x in self.inputs}
        for layer in self.layers.values():  # dataset-fed targets are arguments: named before the layers
            if layer.type != "Input" and layer.low is not None:
                for data in layer.low.data:
                    if data.generator == "None" and data.dataset not in self.data_args:
                        # a target read from an input's column (auto-encoders) is still its own argument
                        label = data.dataset if data.dataset not in self.input_datasets else f"{data.dataset}_target"
                        self.data_args[data.dataset] = self.names.new(label)

    # -- helpers
    def where(self, layer: _Layer) -> str:
        return f"to_python: network {self.net['name']!r}: layer {layer.name!r} ({layer.type})"

    def source(self, src: tuple[int, int]) -> str:
        layer = self.layers[src[0]]
        count = len(self.writer.unit_outputs(layer)) if layer.type == "Unit" else \
            len(layer.low.outputs) if layer.low is not None else 1
        return f"{layer.var}[{src[1]}]" if count > 1 else layer.var

    def main_inputs(self, layer: _Layer) -> list[str]:
        return [self.source(s) for s in layer.inputs.get(0, [])]

    # -- property values
    def raw(self, layer: _Layer, name: str) -> str:
        props = layer.raw.get("properties", {})
        if name in props:
            return str(props[name])
        spec = layer.spec.find_property(name)
        return spec.default if spec is not None else ""

    def concrete(self, layer: _Layer, name: str) -> Any:
        """The resolved value of a property in the first use of this network (from the compiler)."""
        assert layer.low is not None
        if name in layer.low.properties:
            return layer.low.properties[name]
        spec = layer.spec.find_property(name)
        text = spec.default if spec is not None else ""
        return parse_value(text, spec.type if spec else "Text") if not text.startswith("*") else None

    def symbolic(self, layer: _Layer, name: str, seen: tuple[str, ...] = ()) -> _Code | None:
        """Code for a property that depends on unit arguments or the input shape; None when it is a constant."""
        if not self.is_unit or name in seen:
            return None
        seen = (*seen, name)
        spec = layer.spec.find_property(name)
        type_name = spec.type if spec is not None else "Text"
        text = self.raw(layer, name).strip()
        inputs = self.main_inputs(layer)
        x = inputs[0] if inputs else None
        if text.startswith("*"):
            ref = text[1:]
            if ref in self.arguments:
                var, default = self.arguments[ref]
                array = type_name.endswith("Array")
                return _Code(f"({var},)" if array and not isinstance(default, tuple) else var)
            if ref in ("Input", "Shape") and x is not None:
                return _Code(f"{x}.shape[1:]")
            if ref == "Default" and spec is not None and spec.default.startswith("*"):
                return None
            if ref == "ConvolutionPaddingSize":
                return self._padding(layer, seen)
            if layer.spec.find_property(ref) is not None:
                return self.symbolic(layer, ref, seen)
            return None
        if type_name in ("Text", "File", "Option", "Dataset", "Boolean", "BooleanOrMacro"):
            return None
        parts = [p for p in text.split(",") if p.strip()] if type_name.endswith("Array") else [text]
        codes = [self._expression(layer, part, x, seen) for part in parts]
        if all(code is None for code in codes):
            return None
        concrete = self.concrete(layer, name)
        values = concrete if isinstance(concrete, tuple) else (concrete,)
        shown = [code if code is not None else _format(v) for code, v in zip(codes, values)]
        if type_name in ("PInt", "UInt", "Int") or type_name.endswith("IntArray"):
            shown = [f"int({s})" if code is not None and "/" in s else s for s, code in zip(shown, codes)]
        if type_name.endswith("Array"):
            return _Code("(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")")
        return _Code(shown[0])

    def _expression(self, layer: _Layer, text: str, x: str | None, seen: tuple[str, ...]) -> str | None:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            return None
        symbolic = False

        def walk(node: ast.AST) -> str:
            nonlocal symbolic
            if isinstance(node, ast.Expression):
                return walk(node.body)
            if isinstance(node, ast.Constant):
                return repr(node.value)
            if isinstance(node, ast.BinOp):
                return f"({walk(node.left)} {_OPS[type(node.op)]} {walk(node.right)})"
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
                return ("-" if isinstance(node.op, ast.USub) else "+") + walk(node.operand)
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                index = ast.literal_eval(node.slice)
                if node.value.id == "Input" and x is not None:
                    symbolic = True
                    return f"{x}.shape[{int(index) + 1}]"
                return f"{walk(node.value)}[{int(index)}]"
            if isinstance(node, ast.Name):
                if node.id in self.arguments:
                    symbolic = True
                    return self.arguments[node.id][0]
                if layer.spec.find_property(node.id) is not None:
                    code = self.symbolic(layer, node.id, seen)
                    if code is not None:
                        symbolic = True
                        return f"({code})"
                    return _format(self.concrete(layer, node.id))
            raise ValueError(f"{self.where(layer)}: cannot write {text!r} as Python")

        code = walk(tree)
        return code if symbolic else None

    def _padding(self, layer: _Layer, seen: tuple[str, ...]) -> _Code | None:
        kernel = self.symbolic(layer, "KernelShape", seen)
        has_dilation = layer.spec.find_property("Dilation") is not None
        dilation = self.symbolic(layer, "Dilation", seen) if has_dilation else None
        mode = self.concrete(layer, "BorderMode") if layer.spec.find_property("BorderMode") else "valid"
        if kernel is None and dilation is None:
            return None
        k = kernel or _format(self.concrete(layer, "KernelShape"))
        d = dilation or (_format(self.concrete(layer, "Dilation")) if has_dilation else None)
        if mode == "valid":
            return _Code(f"(0,) * len({k})")
        div = " // 2" if mode == "same" else ""
        if d is None:
            return _Code(f"tuple((k - 1){div} for k in {k})")
        return _Code(f"tuple((k - 1) * d{div} for k, d in zip({k}, {d}))")

    def value(self, layer: _Layer, name: str) -> Any:
        code = self.symbolic(layer, name)
        return code if code is not None else self.concrete(layer, name)

    # -- statements
    def emit(self, line: str, depth: int) -> None:
        self.lines.append("    " * (depth + 1) + line)

    def write(self, items: list[Any], depth: int, loops: dict[str, str]) -> None:
        for item in items:
            if isinstance(item, _Loop):
                self.write_loop(item, depth, loops)
            else:
                self.write_layer(item, depth, loops)

    def write_loop(self, loop: _Loop, depth: int, loops: dict[str, str]) -> None:
        start = loop.start
        loop_id = self.writer.loop_id(self, start)
        index = "ijklmn"[len(loops)] if len(loops) < 6 else f"i{len(loops)}"
        start.var = self.names.new(start.name)
        inputs = self.main_inputs(start)
        self.emit(f"{start.var} = {inputs[0]}  # {start.name}: repeated {self.value(start, 'Times')} times", depth)
        self.emit(f"for {index} in range({_format(self.value(start, 'Times'))}):", depth)
        inner = {**loops, loop_id: index}
        self.write(loop.body, depth + 1, inner)
        end = next((x for x in self.layers.values()
                    if x.type == "RepeatEnd" and self.writer.loop_id(self, x) == loop_id), None)
        if end is None or not end.inputs.get(0):
            raise ValueError(f"{self.where(start)}: no RepeatEnd closes this loop")
        self.emit(f"{start.var} = {self.source(end.inputs[0][0])}", depth + 1)
        if not loop.body:
            self.emit("pass", depth + 1)

    def write_layer(self, layer: _Layer, depth: int, loops: dict[str, str]) -> None:
        t = layer.type
        if t == "Input":
            return
        if t in _RECURRENT:
            raise ValueError(f"{self.where(layer)}: recurrent loops cannot be exported as Python code yet")
        if not layer.var:
            layer.var = self.names.new(layer.name)
        inputs = self.main_inputs(layer)
        if t == "RepeatEnd":
            self.emit(f"{layer.var} = {inputs[0]}", depth)
            return
        if t == "Unit":
            self.write_unit(layer, inputs, depth, loops)
            return
        if layer.low is None:
            raise ValueError(f"{self.where(layer)}: the compiler did not lower this layer")
        shape = self.shape_comment(layer)
        if t == "Parameter":
            size = self.value(layer, "Size")
            self.emit(f"{layer.var} = nn.parameter.get_parameter_or_create({layer.name!r}, "
                      f"{_format(size)}){shape}", depth)
            return
        call = self.pf_call(layer, inputs, loops) if self.uses_pf(layer) else self.f_call(layer, inputs, loops)
        if self.concrete(layer, "SkipAtTest") is True:
            call = f"{inputs[0]} if test else {call}"
        self.emit(f"{layer.var} = {call}{shape}", depth)

    def shape_comment(self, layer: _Layer) -> str:
        if self.is_unit or layer.low is None or not layer.low.output_shapes:
            return ""
        shapes = layer.low.output_shapes
        return "  # -> " + ", ".join(_format(tuple(s)) for s in shapes)

    def write_unit(self, layer: _Layer, inputs: list[str], depth: int, loops: dict[str, str]) -> None:
        props = layer.raw.get("properties", {})
        inner_name = props.get("Network", "")
        function = self.writer.unit_function(inner_name)
        if loops:
            raise ValueError(f"{self.where(layer)}: a unit inside a Repeat block cannot be exported as Python yet")
        keywords = []
        for arg, (py, default) in function.arguments.items():
            if arg not in props:
                continue
            text = str(props[arg]).strip()
            if text.startswith("*") and text[1:] in self.arguments:
                keywords.append(f"{py}={self.arguments[text[1:]][0]}")
                continue
            value = _parse_literal(text)
            if value != default:
                keywords.append(f"{py}={_format(value)}")
        call = f"{function.name}({', '.join([*inputs, *keywords, 'test=test'])})"
        scope = str(props.get("ParameterScope", "*Name")).strip()
        if scope == "*Name":
            scope_code = repr(layer.name)
        elif scope.startswith("*") and scope[1:] in self.arguments:
            scope_code = self.arguments[scope[1:]][0]
        else:
            scope_code = repr(scope)
        if scope:
            self.emit(f"with nn.parameter_scope({scope_code}):", depth)
            self.emit(f"{layer.var} = {call}", depth + 1)
        else:
            self.emit(f"{layer.var} = {call}", depth)

    def scope(self, layer: _Layer) -> str:
        """The parameter scope of a layer: ``ParameterScope``, the layer name by default."""
        if layer.spec.find_property("ParameterScope") is not None:
            return str(self.value(layer, "ParameterScope"))
        return layer.name

    def scope_code(self, layer: _Layer, loops: dict[str, str]) -> str:
        """The scope as code: inside Repeat blocks it carries the loop indices (``f'Conv[{i}]'``)."""
        scope = self.scope(layer)
        ids = [i for i in layer.repeat if i in loops]
        if not ids:
            return repr(scope)
        return "f" + repr(scope.replace("{", "{{").replace("}", "}}") + "".join(f"[{{{loops[i]}}}]" for i in ids))

    def uses_pf(self, layer: _Layer) -> bool:
        if layer.type not in _PF:
            return False
        pins = range(1, len(layer.spec.connectors) + 1)
        linked = any(layer.inputs.get(pin) for pin, c in zip(pins, layer.spec.connectors) if c.kind == "Parameter")
        return not linked

    def argument_value(self, layer: _Layer, prop: Any, x: str | None) -> Any:
        value = self.value(layer, prop.name)
        test_value = prop.test_value()
        if isinstance(value, _Code):
            code = str(value)
            if "a" in prop.flags:
                code = f"tuple(v + 1 for v in {code})" if prop.type.endswith("Array") else f"{code} + 1"
            if "b" in prop.flags:
                shown = ast.parse(code, mode="eval").body
                code = f"({x}.shape[0], {code[1:]}" if isinstance(shown, ast.Tuple) and code.startswith("(") \
                    else f"({x}.shape[0],) + tuple({code})"
            if "0" in prop.flags:
                code = f"(0,) + tuple({code})"
            return _Code(code)
        if "a" in prop.flags:
            value = tuple(v + 1 for v in value) if isinstance(value, tuple) else int(value) + 1
        if "b" in prop.flags:
            return _Code(f"({x}.shape[0], " + ", ".join(_format(v) for v in value) + ")")
        if "0" in prop.flags:
            value = (0, *value)
        if test_value is not None and isinstance(value, bool):
            fixed = parse_value(test_value, "Boolean")
            if fixed != value:
                return _Code("test" if fixed else "not test")
        return value

    def pf_call(self, layer: _Layer, inputs: list[str], loops: dict[str, str]) -> str:
        function = getattr(PF, _PF[layer.type])
        signature = inspect.signature(function).parameters
        x = inputs[0] if inputs else None
        keywords: list[str] = []
        if layer.type == "Embed":
            shape = self.value(layer, "Shape")
            features = shape[0] if isinstance(shape, tuple) and len(shape) == 1 else shape
            keywords += [f"n_inputs={_format(self.value(layer, 'NumClass'))}", f"n_features={_format(features)}"]
        for prop in layer.spec.properties:
            if prop.argument is None:
                continue
            arg = _PF_RENAMES.get(prop.argument, prop.argument)
            if arg not in signature or arg in _DROPPED:
                continue
            value = self.argument_value(layer, prop, x)
            if arg == "n_outmaps" and isinstance(value, tuple) and len(value) == 1:
                value = value[0]
            if not isinstance(value, _Code) and _is_default(value, signature[arg].default, arg, _NEUTRAL):
                continue
            keywords.append(f"{arg}={_format(value)}")
        keywords.append(f"name={self.scope_code(layer, loops)}")
        return f"PF.{_PF[layer.type]}({', '.join([*inputs, *keywords])})"

    def f_call(self, layer: _Layer, inputs: list[str], loops: dict[str, str]) -> str:
        low = layer.low
        assert low is not None and low.function is not None
        api = registry.api_name(low.function)
        signature = inspect.signature(getattr(F, api)).parameters
        cls = registry.function_class(low.function)
        x = inputs[0] if inputs else None
        operands = list(inputs) + self.connectors(layer, loops, x)
        by_argument = {p.argument: p for p in layer.spec.properties if p.argument}
        keywords: list[str] = []
        for arg, spec in cls.args_spec.items():
            if arg in _DROPPED:
                continue
            prop = by_argument.get(arg)
            value: Any
            if prop is not None and ("b" in prop.flags or self.symbolic(layer, prop.name) is not None):
                value = self.argument_value(layer, prop, x)  # batch-sized or written in unit arguments
            elif arg in low.arguments:
                value = low.arguments[arg]
            else:
                continue
            if not isinstance(value, _Code) and _is_default(value, spec.default, arg, {"pad": 0}):
                continue
            name = arg if arg in signature else _F_RENAMES.get(arg, arg)
            if name not in signature and "kw" not in signature:
                raise ValueError(f"{self.where(layer)}: F.{api} has no argument {name!r}")
            keywords.append(f"{name}={_format(value)}")
        return f"F.{api}({', '.join([*operands, *keywords])})"

    def connectors(self, layer: _Layer, loops: dict[str, str], x: str | None) -> list[str]:
        """Variables of a layer's extra inputs: linked layers, parameters, dataset targets or generators."""
        result: list[str] = []
        low = layer.low
        assert low is not None
        for pin, conn in enumerate(layer.spec.connectors, start=1):
            if conn.enable.startswith("*") and not bool(self.concrete(layer, conn.enable[1:])):
                continue
            links = layer.inputs.get(pin, [])
            if links:
                result.append(self.source(links[0]))
            elif conn.kind == "Parameter":
                result.append(self.parameter(layer, conn.name, loops))
            else:
                result.append(self.data(layer, conn.name, x))
            if layer.type in EXTRA_PARAMETERS and conn.name == "Wb":
                result.append(self.parameter(layer, EXTRA_PARAMETERS[layer.type][0], loops))
        return result

    def parameter(self, layer: _Layer, local: str, loops: dict[str, str]) -> str:
        assert layer.low is not None
        tail = f"/{layer.spec.scope}/{local}" if layer.spec.scope else f"/{local}"
        found = [p for p in layer.low.parameters if p.name.endswith(tail)]
        if not found:
            raise ValueError(f"{self.where(layer)}: parameter {local!r} is not in the compiled layer")
        scope = self.scope_code(layer, loops)
        name = f"{scope} + {tail!r}" if scope.startswith("f") else repr(self.scope(layer) + tail)
        return f"nn.parameter.get_parameter_or_create({name}, {_format(found[0].shape)})"

    def data(self, layer: _Layer, connector: str, x: str | None) -> str:
        generator = str(self.concrete(layer, f"{connector}.Generator") or "None")
        if generator != "None":
            multiplier = float(self.concrete(layer, f"{connector}.GeneratorMultiplier"))
            assert layer.low is not None
            shape = next(d.shape for d in layer.low.data if d.variable.endswith(f"_{connector}"))
            full = f"({x}.shape[0],) + {_format(tuple(shape))}"
            if generator == "Constant":
                return f"F.constant({multiplier!r}, {full})"
            if generator == "Normal":
                return f"F.randn(sigma={multiplier!r}, shape={full})"
            return f"F.rand({-multiplier!r}, {multiplier!r}, shape={full})"
        dataset = str(self.concrete(layer, f"{connector}.Dataset") or "y")
        if dataset not in self.data_args:
            self.data_args[dataset] = self.names.new(dataset)
        return self.data_args[dataset]

    # -- the function
    def build(self, name: str) -> None:
        self.name = name
        loop_of = {layer.id: self.writer.loop_id(self, layer) for layer in self.layers.values() if layer.type in _LOOPS}
        for layer in self.layers.values():
            layer.repeat = tuple(i for i in (layer.low.repeat if layer.low else ()) if i in loop_of.values())
        order = _topological(list(self.layers.values()))
        # Units inherit the loops of their inputs (a unit has no lowered layer of its own).
        for layer in order:
            if layer.type == "Unit":
                layer.repeat = tuple(dict.fromkeys(i for s, _ in layer.inputs.get(0, [])
                                                   for i in self.layers[s].repeat))
        losses = self.loss_section(order)
        main = [x for x in order if x.id not in losses]
        tail = [x for x in order if x.id in losses]
        self.write(_blocks(main, loop_of), 0, {})
        body_main = list(self.lines)
        self.lines = []
        self.write(_blocks(tail, loop_of), 0, {})
        body_tail = list(self.lines)
        outputs = self.outputs(order)
        runtime = self.runtime_outputs(order, losses)
        targets = list(self.data_args.values())
        split = bool(tail) and bool(targets) and not self.is_unit and self.targets_only_in(losses)
        lines: list[str] = []
        lines.append(f"def {name}({', '.join(self.signature(split))}):")
        lines.append(f'    """{self.docstring(split)}"""')
        lines += body_main
        if split:
            condition = " or ".join(f"{t} is None" for t in targets)
            lines.append(f"    if {condition}:")
            lines.append(f"        return {', '.join(runtime)}")
        lines += body_tail
        lines.append(f"    return {', '.join(outputs)}")
        self.lines = lines

    def targets_only_in(self, losses: set[int]) -> bool:
        return all(layer.id in losses for layer in self.layers.values() if layer.low is not None and layer.low.data
                   and layer.type != "Input")

    def signature(self, split: bool) -> list[str]:
        args = [x.var for x in self.inputs]
        args += [f"{t}=None" if split else t for t in self.data_args.values()]
        args += [f"{py}={_format(default)}" for py, default in self.arguments.values()]
        return [*args, "test=False"]

    def docstring(self, split: bool) -> str:
        kind = "Unit network" if self.is_unit else "Network"
        text = f"{kind} {self.net['name']!r}"
        if split:
            text += f"; without {', '.join(self.data_args.values())} it returns the runtime outputs"
        return text + "."

    def loss_section(self, order: list[_Layer]) -> set[int]:
        if self.is_unit:
            return set()
        section: set[int] = set()
        for layer in order:
            reads = {s for links in layer.inputs.values() for s, _ in links}
            if layer.spec.is_loss or reads & section:
                section.add(layer.id)
        return section

    def outputs(self, order: list[_Layer]) -> list[str]:
        sources = {link["source"] for link in self.net.get("links", [])}
        if self.is_unit:
            ends = [x for x in self.layers.values() if x.id not in sources and x.type != "Input"]
        else:
            ends = [x for x in order if x.id not in sources and x.type not in ("Input", "Parameter")]
        if not ends:
            raise ValueError(f"to_python: network {self.net['name']!r} has no output layer")
        return [x.var for x in ends]

    def runtime_outputs(self, order: list[_Layer], losses: set[int]) -> list[str]:
        found: list[str] = []
        for layer in order:
            if layer.spec.is_loss:
                for src in layer.inputs.get(0, [])[:1]:
                    var = self.source(src)
                    if src[0] not in losses and var not in found:
                        found.append(var)
        return found


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}


class _Writer:
    def __init__(self, project: dict[str, Any], network_name: str) -> None:
        self.project = project
        _project_network(project, network_name)
        try:
            lowered = lower(project, network_name, "train")
        except NetworkError as e:
            raise ValueError(f"to_python: {e}") from None
        if lowered.errors:
            raise ValueError("to_python: the network has errors:\n" + "\n".join(lowered.errors))
        self.lowered = {layer.name: layer for layer in lowered.layers}
        self.instances = _first_instances(project, network_name)
        self.units: dict[str, _Function] = {}
        self.unit_order: list[_Function] = []
        names = _Names({"network"})
        self.function_names = {"": "network", **{unit: names.new(unit) for unit in self.instances}}

    def loop_id(self, function: _Function, layer: _Layer) -> str:
        if layer.low is None:
            raise ValueError(f"{function.where(layer)}: the compiler did not lower this layer")
        return str(layer.low.arguments.get("repeat_id", layer.name))

    def unit_outputs(self, layer: _Layer) -> list[str]:
        inner = _project_network(self.project, layer.raw.get("properties", {}).get("Network", ""))
        sources = {link["source"] for link in inner.get("links", [])}
        return [x["name"] for x in inner["layers"] if x["id"] not in sources
                and x["type"] not in ("Input", "Argument", "Comment")]

    def unit_function(self, name: str) -> _Function:
        if name not in self.units:
            function = _Function(self, _project_network(self.project, name), self.instances[name], True)
            self.units[name] = function
            function.build(self.function_names[name])
            self.unit_order.append(function)
        return self.units[name]


def to_python(project: dict[str, Any], network_name: str) -> str:
    """nnl code defining ``network(...)`` for ``network_name`` of ``project`` (see the module docstring)."""
    writer = _Writer(project, network_name)
    top = _Function(writer, _project_network(project, network_name), "", False)
    top.build("network")
    header = [f'"""{project.get("name", "project")}: network {network_name!r}, exported by the nnl console."""',
              "", "import nnl as nn", "import nnl.functions as F", "import nnl.parametric_functions as PF", "", ""]
    chunks = ["\n".join(f.lines) for f in writer.unit_order] + ["\n".join(top.lines)]
    return "\n".join(header) + "\n" + "\n\n\n".join(chunks) + "\n"
