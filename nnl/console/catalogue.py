"""The console's layer palette: NNC's categories in NNC's order, with only the layers nnl can run.

>>> names = [c["name"] for c in palette()]
>>> names[:3]
['IO', 'Loss', 'Parameter']
>>> "LSTM" in unsupported()
True
"""

from __future__ import annotations

from typing import Any

from nnl.console.layers import CATEGORIES, LAYERS, LayerSpec, is_supported

__all__ = ["palette", "unsupported"]

_HIDDEN = frozenset({"Output", "Unsupported"})  # NNC's own hidden helper types


def _layer_entry(spec: LayerSpec) -> dict[str, Any]:
    properties = []
    for p in spec.properties:
        entry: dict[str, Any] = {"name": p.name, "type": p.type, "default": p.default, "editable": p.editable}
        if p.choices:
            entry["choices"] = list(p.choices)
        properties.append(entry)
    inputs = [] if spec.input == "None" else ["x*" if spec.input == "Multiple" else "x"]
    inputs += [c.name for c in spec.connectors]
    return {"type": spec.type, "category": spec.category, "properties": properties, "inputs": inputs,
            "outputs": [] if spec.output == "None" else ["y"], "description": spec.description,
            "references": list(spec.references)}


def palette() -> list[dict[str, Any]]:
    """Categories in NNC's order, each ``{"name", "layers": [...]}`` with the supported layers of that category."""
    categories = []
    for category in CATEGORIES:
        layers = [_layer_entry(s) for s in LAYERS.values() if s.category == category and is_supported(s.type)]
        if layers:
            categories.append({"name": category, "layers": layers})
    return categories


def unsupported() -> list[str]:
    """NNC catalogue layers nnl cannot run yet (NNC's hidden helper types excluded)."""
    return [t for t in LAYERS if t not in _HIDDEN and not is_supported(t)]
