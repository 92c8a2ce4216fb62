"""Dev-time tool: condense NNC's layer definition files into nnl's own compact table ``_layer_data.py``.

Run once by hand when the table needs refreshing (the package never reads NNC's files at run time)::

    python -m nnl.console._make_layer_data ../shared/data/nnc-layers/layer_component > nnl/console/_layer_data.py

Only facts are kept (category order, property names/types/defaults/choices, the argument each property sets,
connectors with their shape rule, the parameter scope and the cost rule in nnl's term notation); no prose.
"""

from __future__ import annotations

import pprint
import re
import sys
from pathlib import Path
from typing import Any

_COSTS = ("CostParameter", "CostAdd", "CostMultiply", "CostMultiplyAdd", "CostDivision", "CostExp", "CostIf")
_MACRO_COSTS = {
    "*SumParameterSize": "@parameters",
    "*ConvolutionParameterSizeDiv32": "@parameters_div32",
    "*AffineParameterSizeDiv32": "@parameters_div32",
    "*ConvolutionMultiplyAddSize": "@convolution_mac",
    "*FFTMultiplyAddSize": "@fft_mac",
    "*MatmulMultiplyAddSize": "@matmul_mac",
    "*AdaptiveSeparableConvolutionMultiplyAddSize": "@asc_mac",
    "Input[1]*(Input[1]-1)*(Input[1]-1)": "@inverse_add",
    "Input[1]*Input[1]*Input[1]": "@cube",
}


def _ini(path: Path) -> dict[str, list[str]]:
    """Sections of an INI file as lists of raw lines (NNC repeats [Global] in a few files: merged)."""
    sections: dict[str, list[str]] = {}
    current = sections.setdefault("", [])
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        m = re.fullmatch(r"\[(.+)\]", line)
        if m:
            current = sections.setdefault(m.group(1), [])
        else:
            current.append(line)
    return sections


def _kv(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _cost_terms(value: str) -> Any:
    """NNC's ``*Calc +A:*B`` left-to-right formula -> tuple of (op, term); macros -> '@name'."""
    value = value.strip()
    if value in _MACRO_COSTS:
        return _MACRO_COSTS[value]
    if value.lstrip("-").isdigit():
        return int(value)
    if not value.startswith("*Calc "):
        raise ValueError(f"unknown cost formula {value!r}")
    terms = []
    for part in value[len("*Calc "):].split(":"):
        op, term = part[0], part[1:]
        if term.startswith("*"):
            term = term[1:]  # property product
        elif term.isdigit():
            term = int(term)  # type: ignore[assignment]
        terms.append((op, {"Input": "I", "Output": "O"}.get(term, term) if isinstance(term, str) else term))
    return tuple(terms)


def _argument(value: str) -> tuple[str, tuple[str, ...]] | None:
    words = value.split()
    if not words:
        return None
    target, flags = words[0], tuple(w.lstrip("-") for w in words[1:])
    field = target.split(".", 1)[1] if "." in target else target
    return field, flags


def layer_entry(path: Path, category: str) -> dict[str, Any]:
    ini = _ini(path)
    glob = _kv(ini.get("Global", []))
    io = _kv(ini.get("IO", []))
    properties = []
    costs: dict[str, Any] = {}
    output = None
    function_name = None
    for name in ini.get("Property", []):
        spec = _kv(ini.get(f"Property_{name}", []))
        if name in _COSTS:
            costs[name] = _cost_terms(spec.get("Value", "0"))
            continue
        if name == "Output":
            output = spec.get("Value")
            continue
        if name in ("Input", "Inputs"):
            continue
        function_name = function_name or spec.get("FunctionName")
        choices = ini.get(f"Property_{name}_Option")
        entry: dict[str, Any] = {"name": name, "type": spec.get("Type", "Text"), "default": spec.get("Value", "")}
        if spec.get("Editable", "True") == "False":
            entry["editable"] = False
        if choices:
            entry["choices"] = choices
        arg = _argument(spec.get("ArgumentName", ""))
        if arg:
            entry["argument"], flags = arg
            if flags:
                entry["flags"] = flags
        properties.append(entry)
    for lines in ini.values():
        function_name = function_name or _kv(lines).get("FunctionName")
    connectors = []
    for name in ini.get("InputSideConnector", []):
        spec = _kv(ini.get(f"InputSideConnector_{name}", []))
        connectors.append({"name": name, "kind": spec.get("Kind", "Data"), "shape": spec.get("Shape", ""),
                           "enable": spec.get("Enable", "True")})
    entry = {"category": category, "input": io.get("Input", "Single"), "output": io.get("Output", "Single"),
             "properties": properties, "connectors": connectors, "output_shape": output, "costs": costs}
    if glob.get("ParameterScope"):
        entry["scope"] = glob["ParameterScope"]
    if glob.get("Reference"):
        entry["reference"] = glob["Reference"].split("\\n")
    if function_name:
        entry["python_name"] = function_name
    return entry


def main(root: Path) -> str:
    order = _ini(root / "layer_component.txt")
    table: dict[str, Any] = {}
    for category in order["Category"]:
        for layer in order.get(category, []):
            path = root / category / f"{layer}.txt"
            if path.exists():
                table[layer] = layer_entry(path, category)
    body = pprint.pformat(table, width=118, sort_dicts=False)
    return (
        '"""nnl\'s layer table (generated by ``_make_layer_data``; facts only: see ``nnl.console.layers``)."""\n\n'
        "from typing import Any\n\n"
        f"LAYER_DATA: dict[str, Any] = {body}\n"
    )


if __name__ == "__main__":
    sys.stdout.write(main(Path(sys.argv[1])))
