"""Shapes and NNC's seven cost statistics of every layer of a project network.

``analyze(project, network_name)`` lowers the network (``nnl.console._graph``: shapes from each nnl function's own
setup, as training sees them) and evaluates each layer's cost rule from the layer table: a left-to-right product/sum
of terms (``I`` input elements, ``O`` output elements, a property's product, ``Input[1]``) or a named rule
(parameters, convolution multiply-adds...). Counts are per sample and per forward pass; layers inside loops count
once per repetition. Unit layers report nothing themselves: their inner layers are listed under the Unit's id.
"""

from __future__ import annotations

import math
from typing import Any

from nnl.console._graph import LoweredLayer, NetworkError, lower

__all__ = ["analyze", "STATISTICS"]

STATISTICS = ("CostParameter", "CostAdd", "CostMultiply", "CostMultiplyAdd", "CostDivision", "CostExp", "CostIf")


def _size(shape: Any) -> int:
    return int(math.prod(shape)) if shape is not None else 0


def _property_product(layer: LoweredLayer, name: str) -> int:
    value = layer.properties.get(name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, tuple):
        return _size(value)
    if isinstance(value, (int, float)):
        return int(value)
    raise ValueError(f"cost rule uses property {name!r}, which layer {layer.name!r} does not have")


def _convolution_mac(layer: LoweredLayer) -> int:
    """Each output element (deconvolution: each input element) meets one weight slice W[o] (channels x kernel)."""
    weight = _size(layer.input_shapes[1][1:])
    if layer.type in ("Deconvolution", "DepthwiseDeconvolution"):
        return _size(layer.input_shapes[0]) * weight
    return _size(layer.output_shapes[0] if layer.output_shapes else None) * weight


def _matmul_mac(layer: LoweredLayer) -> int:
    a, out = layer.input_shapes[0], layer.output_shapes[0] if layer.output_shapes else ()
    inner = a[-2] if layer.arguments.get("transpose_a") else a[-1]
    return _size(out) * inner


def _parameters(layer: LoweredLayer) -> int:
    return sum(_size(p.shape) for p in layer.parameters)


def _fft_mac(layer: LoweredLayer) -> int:
    n = _size(layer.input_shapes[0])
    signal = int(layer.arguments.get("signal_ndim", 1))
    points = _size(layer.input_shapes[0][-1 - signal:-1]) or 1
    return n * max(int(math.log2(points)), 1)


_RULES = {
    "@parameters": _parameters,
    "@parameters_div32": lambda layer: math.ceil(_parameters(layer) / 32),
    "@convolution_mac": _convolution_mac,
    "@matmul_mac": _matmul_mac,
    "@fft_mac": _fft_mac,
    "@inverse_add": lambda layer: (lambda n: n * (n - 1) * (n - 1))(layer.input_shapes[0][1]),
    "@cube": lambda layer: layer.input_shapes[0][1] ** 3,
}


def _cost(layer: LoweredLayer, rule: Any) -> int:
    if isinstance(rule, int):
        return rule
    if isinstance(rule, str):
        if rule not in _RULES:
            raise ValueError(f"cost rule {rule} is not implemented")
        return int(_RULES[rule](layer))
    total = 0
    for op, term in rule:
        if isinstance(term, int):
            value = term
        elif term == "I":
            value = _size(layer.input_shapes[0]) if layer.input_shapes else 0
        elif term == "O":
            value = _size(layer.output_shapes[0]) if layer.output_shapes else 0
        elif term == "Input[1]":
            value = layer.input_shapes[0][1]
        else:
            value = _property_product(layer, term)
        total = total + value if op == "+" else total * value
    return int(total)


def _statistics(layer: LoweredLayer, times: int) -> dict[str, int]:
    stats = dict.fromkeys(STATISTICS, 0)
    if layer.spec is None or layer.function is None or layer.output_shapes is None:
        if layer.type == "Parameter":
            stats["CostParameter"] = _parameters(layer)
        return stats
    for name, rule in layer.spec.costs.items():
        value = _cost(layer, rule)
        # parameters exist once; operations run once per repetition
        stats[name] = value if name == "CostParameter" else value * times
    return stats


def analyze(project: dict[str, Any], network_name: str) -> dict[str, Any]:
    """Per layer (keyed by the layer id as a string) output shape, statistics and error; totals; all errors."""
    try:
        net = lower(project, network_name, "train")
    except NetworkError as e:
        return {"layers": {}, "total": dict.fromkeys(STATISTICS, 0), "errors": [str(e)]}
    result: dict[str, Any] = {}
    total = dict.fromkeys(STATISTICS, 0)
    errors: list[str] = []
    for layer in net.layers:
        times = math.prod(net.repeat_times.get(i, 1) for i in layer.repeat)
        try:
            stats = _statistics(layer, times)
        except (ValueError, IndexError, TypeError) as e:
            stats = dict.fromkeys(STATISTICS, 0)
            layer.error = layer.error or f"network {network_name!r}: layer {layer.name!r} ({layer.type}): {e}"
        key = str(layer.layer_id)
        entry = result.get(key)
        shape = list(layer.output_shapes[0]) if layer.output_shapes else None
        if entry is None:
            entry = result[key] = {"output_shape": shape, "statistics": dict.fromkeys(STATISTICS, 0), "error": None}
        else:  # a Unit: its inner layers add up; the output shape is that of its last inner layer
            entry["output_shape"] = shape if entry["output_shape"] is not None or entry["error"] is None else None
        for k, v in stats.items():
            entry["statistics"][k] += v
            total[k] += v
        if layer.error:
            entry["error"] = entry["error"] or layer.error
            errors.append(layer.error)
    return {"layers": result, "total": total, "errors": errors}
