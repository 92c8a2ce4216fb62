"""Public signatures match nnabla 1.39 exactly (names, order, defaults) for every name nnl provides.

The reference list (tests/data/nnabla-1.39-signatures.txt) was printed with ``inspect.signature`` from the
nnabla 1.39.0 wheel.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

SIGNATURES = Path(__file__).resolve().parent / "data" / "nnabla-1.39-signatures.txt"
MODULES = {"F": "nnl.functions", "PF": "nnl.parametric_functions", "S": "nnl.solvers", "I": "nnl.initializer", "nn": "nnl"}
# names that are nnabla internals or module re-exports, not part of the API
SKIP = {"S.OrderedDict", "S.iteritems", "S.map", "S.solver_api", "I.random_float_type", "F.BatchNormalizationInOutAdapter"}


def _reference() -> list[tuple[str, str, str]]:
    rows = []
    for line in SIGNATURES.read_text().splitlines():
        match = re.match(r"^(F|PF|S|I|nn)\.(\w+)\((.*)\)$", line.strip())
        if match and "?" not in match.group(3) and f"{match.group(1)}.{match.group(2)}" not in SKIP:
            rows.append(match.groups())
    return rows


def _parameters(text: str) -> list[tuple[str, str, object]]:
    """(kind, name, default) of a signature text such as 'x, axis=None, *x, **kw'; a class default
    ``<class 'numpy.int8'>`` becomes the string ``'numpy.int8'``."""
    text = re.sub(r"<class '([\w.]+)'>", r"'\1'", text)
    tree = ast.parse(f"def f({text}): pass").body[0].args  # type: ignore[attr-defined]
    out: list[tuple[str, str, object]] = []
    positional = tree.posonlyargs + tree.args
    defaults = [None] * (len(positional) - len(tree.defaults)) + list(tree.defaults)
    for arg, default in zip(positional, defaults):
        out.append(("arg", arg.arg, None if default is None else ast.literal_eval(default)))
    if tree.vararg:
        out.append(("*", tree.vararg.arg, None))
    for arg, default in zip(tree.kwonlyargs, tree.kw_defaults):
        out.append(("kwonly", arg.arg, None if default is None else ast.literal_eval(default)))
    if tree.kwarg:
        out.append(("**", tree.kwarg.arg, None))
    return out


def _ours(obj: object) -> list[tuple[str, str, object]]:
    out: list[tuple[str, str, object]] = []
    for p in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        kind = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**", p.KEYWORD_ONLY: "kwonly"}.get(p.kind, "arg")
        default = None if p.default is inspect.Parameter.empty else p.default
        if isinstance(default, type):
            default = f"{default.__module__}.{default.__name__}"
        out.append((kind, p.name, default))
    return out


def _normalise(params: list[tuple[str, str, object]]) -> list[tuple[str, str, object]]:
    """Lists and tuples compare equal, and nnabla's trailing ``name=None`` of PF may be keyword-only."""
    return [("arg" if n == "name" else k, n, list(d) if isinstance(d, tuple) else d) for k, n, d in params]


def test_signatures_match_nnabla():
    mismatches, checked = [], 0
    for module_key, name, text in _reference():
        module = importlib.import_module(MODULES[module_key])
        obj = getattr(module, name, None)
        if obj is None or getattr(obj, "__name__", "") == name and "not implemented in nnl" in (obj.__doc__ or ""):
            continue
        try:
            ours = _normalise(_ours(obj))
        except (TypeError, ValueError):
            continue
        checked += 1
        if ours != _normalise(_parameters(text)):
            mismatches.append(f"{module_key}.{name}: nnabla ({text}) vs nnl {inspect.signature(obj)}")
    assert checked > 0
    assert not mismatches, "\n".join(mismatches)
