"""Extension lookup (nnabla's ``nnabla.ext_utils``)."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from nnl.core.context import Context

_ALIASES = {"cuda.cudnn": "cudnn"}


def import_extension_module(ext_name: str) -> ModuleType:
    """The module of extension ``ext_name`` (``nnl.ext.<name>`` or an ``nnl.extensions`` entry point)."""
    ext_name = _ALIASES.get(ext_name, ext_name)
    try:
        return importlib.import_module(f"nnl.ext.{ext_name}")
    except ModuleNotFoundError as error:
        if error.name != f"nnl.ext.{ext_name}":
            raise
    for entry in entry_points(group="nnl.extensions"):
        if entry.name == ext_name:
            return entry.load()
    raise ValueError(f"get_extension_context: extension {ext_name!r} does not exist; available: {list_extensions()}.")


def list_extensions() -> list[str]:
    """The extensions usable here (``cuda``/``cudnn`` only with a CUDA device, ``torch`` only with PyTorch)."""
    import nnl.ext

    names = [m.name for m in pkgutil.iter_modules(nnl.ext.__path__) if not m.name.startswith("_")]
    names += [e.name for e in entry_points(group="nnl.extensions")]
    return sorted(name for name in set(names) if _available(name))


def _available(name: str) -> bool:
    try:
        module = import_extension_module(name)
    except (ImportError, ValueError):
        return False
    available = getattr(module, "available", None)
    return bool(available()) if callable(available) else True


def get_extension_context(ext_name: str, **kw: Any) -> Context:
    """A Context for extension ``ext_name``: ``get_extension_context('cpu', type_config='half')``."""
    return import_extension_module(ext_name).context(**kw)
