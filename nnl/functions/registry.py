"""The function registry: every built function class and its public API wrapper, keyed by name.

It is the single source for the ``F`` namespace, NNP load/save, ``nnl function_info``, the console's palette
and the generic tests. Registering is one decorator on the public wrapper::

    @api(ReLU)
    def relu(x, inplace=False, n_outputs=-1, outputs=None):
        return ReLU(inplace)(x, n_outputs=n_outputs, outputs=outputs)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nnl.core.errors import NotBuiltError
from nnl.core.function import Function
from nnl.functions.catalogue import CATALOGUE, TYPE_NAMES

_classes: dict[str, type[Function]] = {}
_apis: dict[str, Callable[..., Any]] = {}
_api_of_class: dict[str, str] = {}
_CATEGORY_OF = {row[1]: row[0] for row in CATALOGUE}

Wrapper = TypeVar("Wrapper", bound=Callable[..., Any])


def api(function_class: type[Function]) -> Callable[[Wrapper], Wrapper]:
    """Register ``function_class`` and the decorated wrapper as its public API."""

    def register(wrapper: Wrapper) -> Wrapper:
        name = function_class.name
        if name in _classes and _classes[name] is not function_class:
            raise RuntimeError(f"registry: function {name} is registered twice.")
        if not function_class.category:
            function_class.category = _CATEGORY_OF.get(name, "nnl")
        _classes[name] = function_class
        _apis[wrapper.__name__] = wrapper
        _api_of_class[name] = wrapper.__name__
        if not wrapper.__doc__:
            wrapper.__doc__ = function_class.__doc__
        wrapper.function_class = function_class  # type: ignore[attr-defined]
        return wrapper

    return register


def extra(helper: Wrapper) -> Wrapper:
    """Export a Python-only helper of ``F`` that is not a registry function (``F.dot``, ``F.reduce``...)."""
    _apis[helper.__name__] = helper
    return helper


def function_class(name: str) -> type[Function]:
    """The class of a function by type name (``'Affine'``) or API name (``'affine'``)."""
    type_name = TYPE_NAMES.get(name, name)
    if type_name in _classes:
        return _classes[type_name]
    if type_name in _CATEGORY_OF:
        raise NotBuiltError(type_name)
    raise KeyError(f"registry: unknown function {name!r}.")


def api_name(type_name: str) -> str:
    return _api_of_class.get(type_name) or next(row[2] for row in CATALOGUE if row[1] == type_name)


def built() -> dict[str, type[Function]]:
    """Built function classes by type name (registry functions and nnl's own)."""
    return dict(_classes)


def apis() -> dict[str, Callable[..., Any]]:
    return dict(_apis)


def is_built(type_name: str) -> bool:
    return type_name in _classes


def not_built_stub(type_name: str, api_name: str) -> Callable[..., Any]:
    """A placeholder for a registry function nnl does not provide yet: it raises, naming the function."""

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotBuiltError(type_name)

    stub.__name__ = api_name
    stub.__doc__ = f"{type_name} (nnabla registry) is not implemented in nnl yet; calling it raises NotImplementedError."
    return stub
