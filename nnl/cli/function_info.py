"""Print the function catalogue: every function of nnabla's registry, its arguments and whether nnl builds it.

With ``-o FILE.yaml`` (or ``.json``) the catalogue is written as data grouped by category.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="write the catalogue to a .json or .yaml file instead of printing")
    parser.add_argument("-q", "--query", help="show only functions whose name contains this text")
    parser.add_argument("--missing", action="store_true", help="list only functions nnl does not build yet")


def catalogue_rows() -> list[dict[str, Any]]:
    """One row per registry function (in registry order) plus nnl's own functions."""
    import nnl.functions  # noqa: F401  (registers every function)
    from nnl.functions import registry
    from nnl.functions.catalogue import CATALOGUE

    rows = []
    for category, type_name, api_name, tier1 in CATALOGUE:
        cls = registry.built().get(type_name)
        rows.append(
            {
                "category": category,
                "name": type_name,
                "api": api_name,
                "tier1": tier1,
                "built": cls is not None,
                "inputs": list(cls.input_names) if cls else [],
                "arguments": {a.name: {"type": a.type, "default": _plain(a.default)} for a in cls.args_spec.values()} if cls else {},
            }
        )
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value if value is None or isinstance(value, (int, float, str, bool, list)) else repr(value)


def run(args: argparse.Namespace) -> int:
    rows = catalogue_rows()
    if args.query:
        rows = [r for r in rows if args.query.lower() in r["name"].lower() or args.query.lower() in r["api"]]
    if args.missing:
        rows = [r for r in rows if not r["built"]]
    if args.output:
        grouped: dict[str, dict[str, Any]] = {}
        for r in rows:
            grouped.setdefault(r["category"], {})[r["name"]] = {k: r[k] for k in ("api", "built", "inputs", "arguments")}
        with open(args.output, "w") as f:
            if args.output.endswith((".yaml", ".yml")):
                f.write(_to_yaml(grouped))
            else:
                json.dump(grouped, f, indent=1)
        return 0
    category = None
    for r in rows:
        if r["category"] != category:
            category = r["category"]
            print(f"\n{category}")
        status = "yes" if r["built"] else "no "
        arguments = ", ".join(f"{k}={v['default']!r}" for k, v in r["arguments"].items())
        print(f"  [{status}] {r['name']:<32} F.{r['api']}({', '.join(r['inputs'])}{'; ' if arguments else ''}{arguments})")
    total, done = len(rows), sum(r["built"] for r in rows)
    print(f"\n{done} of {total} functions built")
    return 0


def _to_yaml(tree: dict[str, Any], indent: int = 0) -> str:
    lines = []
    for key, value in tree.items():
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            lines.append(_to_yaml(value, indent + 2) if value else " " * (indent + 2) + "{}")
        else:
            lines.append(" " * indent + f"{key}: {json.dumps(value)}")
    return "\n".join(line for line in lines if line)
