"""Test cases of the catalogue, one module per function module; each defines ``CASES: list[Case]``."""

from __future__ import annotations

import importlib
import pkgutil

from nnl.testing.function_tester import Case


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        cases.extend(importlib.import_module(f"{__name__}.{module.name}").CASES)
    return cases
