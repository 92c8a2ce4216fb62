"""``nnl.functions`` (``F``): every function of nnabla's registry, plus its Python-only helpers.

Functions are defined once, in the category modules below; this namespace is filled from the registry.
Registry functions nnl does not provide yet raise ``NotImplementedError`` naming themselves.
"""

from __future__ import annotations

import importlib as _importlib
import pkgutil as _pkgutil
from typing import Any

from nnl.functions.catalogue import CATALOGUE
from nnl.functions.registry import apis as _apis
from nnl.functions.registry import not_built_stub as _not_built_stub

# Importing a function module registers its functions; modules starting with '_' hold shared helpers.
for _module in _pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name not in ("catalogue", "registry", "graph_helpers"):
        _importlib.import_module(f"{__name__}.{_module.name}")

globals().update(_apis())
for _category, _type_name, _api_name, _tier1 in CATALOGUE:
    if _api_name not in globals():
        globals()[_api_name] = _not_built_stub(_type_name, _api_name)


def __getattr__(name: str) -> Any:
    raise AttributeError(f"module 'nnl.functions' has no function {name!r}")
