"""The console's layer table: every Neural Network Console layer type, its properties and how it maps onto nnl.

``LAYERS[type]`` is a ``LayerSpec``: category (NNC's palette order), properties (name, type, default value string,
editable, choices, and the function argument each one sets), connectors (extra inputs: data ``T``/``R``, parameters
``W``/``b``... with their shape rule), the default parameter scope, the cost rules and the nnl registry function it
runs. The facts come from NNC's layer definitions, condensed once by ``_make_layer_data`` into ``_layer_data``.

Property values are strings as ``.sdcproj`` stores them; ``parse_value`` turns one into Python values by its type.
NNC counts axes without the batch axis: an argument flagged ``a`` is shifted by one when compiled (``Axis=0`` ->
``axis: 1``), ``b`` prepends the batch (-1) to a shape, ``0`` prepends axis 0, ``test=V`` gives its value in
validation/runtime networks.

>>> LAYERS["Affine"].category, LAYERS["Affine"].function, LAYERS["Affine"].scope
('Basic', 'Affine', 'affine')
>>> [c.name for c in LAYERS["Affine"].connectors]
['W', 'b']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnl.console._layer_data import LAYER_DATA
from nnl.functions import registry

__all__ = ["PropertySpec", "ConnectorSpec", "LayerSpec", "LAYERS", "CATEGORIES", "STRUCTURAL", "layer_spec",
           "is_supported", "parse_value", "LOSS_CATEGORIES"]

# Layers the compiler handles itself (no registry function of the same name).
STRUCTURAL = frozenset({"Input", "Parameter", "Unit", "Argument", "RepeatStart", "RepeatEnd", "RecurrentInput",
                        "RecurrentOutput", "Delay", "Comment"})
# Layers whose outputs are removed from runtime networks (with their targets).
LOSS_CATEGORIES = frozenset({"Loss", "Validation"})
# NNC layers whose nnabla function has inputs NNC does not draw (added by the compiler as parameters).
EXTRA_PARAMETERS = {"BinaryWeightAffine": ("alpha", "*OutShape"), "BinaryWeightConvolution": ("alpha", "*OutMaps")}


@dataclass(frozen=True)
class PropertySpec:
    """One property of a layer: ``type`` is NNC's (PIntArray, UInt, Float, Boolean, Option, Text, File, ...)."""

    name: str
    type: str
    default: str
    editable: bool = True
    choices: tuple[str, ...] | None = None
    argument: str | None = None  # the function argument (or parametric-function keyword) it sets
    flags: tuple[str, ...] = ()

    def test_value(self) -> str | None:
        """The value this property takes in validation/runtime networks, when NNC fixes one (``-test=``)."""
        for flag in self.flags:
            if flag.startswith("test="):
                return flag[len("test="):]
        return None


@dataclass(frozen=True)
class ConnectorSpec:
    """An extra input pin: ``kind`` 'Data' (a variable: target T, operand R...) or 'Parameter' (W, b...)."""

    name: str
    kind: str
    shape: str  # shape rule: a macro (``*AffineWeightShape``), a property (``*OutMaps``) or an expression
    enable: str  # 'True' or a boolean property reference (``*WithBias``)


@dataclass(frozen=True)
class LayerSpec:
    type: str
    category: str
    input: str  # Single | Multiple | None | SingleOrNone
    output: str
    properties: tuple[PropertySpec, ...]
    connectors: tuple[ConnectorSpec, ...]
    costs: dict[str, Any]
    scope: str | None = None
    function: str | None = None  # the nnl registry type it runs (None for structural layers)
    python_name: str | None = None
    references: tuple[str, ...] = ()

    def find_property(self, name: str) -> PropertySpec | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    @property
    def defaults(self) -> dict[str, str]:
        return {p.name: p.default for p in self.properties}

    @property
    def is_loss(self) -> bool:
        return self.category in LOSS_CATEGORIES

    @property
    def description(self) -> str:
        """One line: the nnl function's summary, else the layer's role."""
        if self.function is not None:
            doc = (registry.function_class(self.function).__doc__ or "").strip()
            if doc:
                return doc.splitlines()[0]
        return _STRUCTURAL_DESCRIPTIONS.get(self.type, f"{self.type} layer.")


_STRUCTURAL_DESCRIPTIONS = {
    "Input": "Network input: a dataset variable (or a generator) of the given size.",
    "Parameter": "A trainable parameter used as a layer input.",
    "Unit": "Inserts another network of the project as a sub-network (its Arguments become properties).",
    "Argument": "Declares an argument of a unit network; layers refer to it by name (*Name).",
    "RepeatStart": "Starts a block repeated Times times (parameters per repetition).",
    "RepeatEnd": "Ends the block started by the RepeatStart named in ID.",
    "RecurrentInput": "Splits the input along Axis into time steps of a recurrent loop.",
    "RecurrentOutput": "Stacks the per-step results of a recurrent loop along Axis.",
    "Delay": "The previous time step's value of its input (Initial at the first step).",
    "Comment": "Free text on the canvas.",
}


def _spec(type_name: str, data: dict[str, Any]) -> LayerSpec:
    properties = tuple(
        PropertySpec(p["name"], p["type"], p["default"], p.get("editable", True),
                     tuple(p["choices"]) if "choices" in p else None, p.get("argument"), tuple(p.get("flags", ())))
        for p in data["properties"]
    )
    connectors = tuple(ConnectorSpec(c["name"], c["kind"], c["shape"], c["enable"]) for c in data["connectors"])
    function = None
    if type_name not in STRUCTURAL and registry.is_built(type_name):
        function = type_name
    return LayerSpec(type_name, data["category"], data["input"], data["output"], properties, connectors,
                     dict(data["costs"]), data.get("scope"), function, data.get("python_name"),
                     tuple(data.get("reference", ())))


def _load() -> dict[str, LayerSpec]:
    import nnl.functions  # noqa: F401  (registers the functions)

    return {name: _spec(name, data) for name, data in LAYER_DATA.items()}


LAYERS: dict[str, LayerSpec] = _load()
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(spec.category for spec in LAYERS.values()))

# NNC layers the console cannot compile yet (no nnl function, or a compilation rule nnl lacks).
_UNSUPPORTED = frozenset({"WorkingMemory", "Constant", "LSTM", "Output", "Unsupported", "Import", "TestNetwork",
                          "StructureSearch"})


def is_supported(type_name: str) -> bool:
    spec = LAYERS.get(type_name)
    if spec is None or type_name in _UNSUPPORTED:
        return False
    return type_name in STRUCTURAL or spec.function is not None


def layer_spec(type_name: str) -> LayerSpec:
    try:
        return LAYERS[type_name]
    except KeyError:
        raise KeyError(f"layer type {type_name!r} is not a Neural Network Console layer nnl knows.") from None


_TRUE = {"true": True, "1": True, "false": False, "0": False}


def parse_value(text: str, type_name: str, where: str = "") -> Any:
    """A property string as Python: arrays -> tuple of ints/floats, Boolean -> bool, numbers -> int/float."""
    text = text.strip()
    try:
        if type_name in ("PIntArray", "UIntArray", "IntArray"):
            return tuple(int(float(v)) for v in text.split(",")) if text else ()
        if type_name == "FloatArray":
            return tuple(float(v) for v in text.split(",")) if text else ()
        if type_name in ("PInt", "UInt", "Int"):
            return int(float(text))
        if type_name == "Float":
            return float(text)
        if type_name in ("Boolean", "BooleanOrMacro"):
            return _TRUE[text.lower()]
    except (ValueError, KeyError):
        raise ValueError(f"{where}: {text!r} is not a valid {type_name} value.") from None
    return text
