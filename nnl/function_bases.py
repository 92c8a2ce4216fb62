"""nnabla's generated function API: one plain function per registry function, with the registry's own arguments.

``nnl.functions`` (``F``) holds the public wrappers, some of which differ from the registry (``F.sum(x, axis,
keepdims)``); this module gives the registry form (``sum(x, axes=None, keep_dims=False, n_outputs=-1,
outputs=None)``): inputs (optional ones ``=None`` and dropped when None, a variadic one as ``*x``), then the
arguments in registry order with their defaults (``None`` where the default is computed from the inputs), then
``n_outputs`` and ``outputs``. Each is built from its function class (``input_names``, ``args_spec``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nnl import functions as _functions  # noqa: F401  (imports every function module: fills the registry)
from nnl.core.errors import NotBuiltError
from nnl.core.function import REQUIRED, Function
from nnl.functions.catalogue import CATALOGUE
from nnl.functions.registry import built as _built

_P = inspect.Parameter


def _as_argument(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _parameters(cls: type[Function]) -> tuple[list[inspect.Parameter], list[str], str | None, list[str]]:
    """The signature's parameters, the input names, the variadic input's name and the optional inputs."""
    params: list[inspect.Parameter] = []
    inputs: list[str] = []
    optional: list[str] = []
    variadic = None
    for raw in cls.input_names:
        if raw.startswith("*"):
            variadic = raw[1:]
            params.append(_P(variadic, _P.VAR_POSITIONAL))
            inputs.append(variadic)
            continue
        name = raw.rstrip("?")
        inputs.append(name)
        if raw.endswith("?"):
            optional.append(name)
            params.append(_P(name, _P.POSITIONAL_OR_KEYWORD, default=None))
        else:
            params.append(_P(name, _P.POSITIONAL_OR_KEYWORD))
    kind = _P.KEYWORD_ONLY if variadic else _P.POSITIONAL_OR_KEYWORD
    seen_default = bool(optional)
    for spec in cls.args_spec.values():
        if spec.default is REQUIRED and not (seen_default and kind is _P.POSITIONAL_OR_KEYWORD):
            params.append(_P(spec.name, kind))
        else:
            # a required argument after a default one cannot stay positional-required: default None
            params.append(_P(spec.name, kind, default=None if spec.default is REQUIRED else spec.default))
            seen_default = True
    params.append(_P("n_outputs", kind, default=-1))
    params.append(_P("outputs", kind, default=None))
    return params, inputs, variadic, optional


def _make(type_name: str, api_name: str, cls: type[Function]) -> Callable[..., Any]:
    params, input_names, variadic, optional = _parameters(cls)
    signature = inspect.Signature(params)
    arg_names = tuple(cls.args_spec)
    required = {n for n, s in cls.args_spec.items() if s.default is REQUIRED}

    def function(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        inputs: list[Any] = []
        for name in input_names:
            if name == variadic:
                inputs.extend(values[name])
            elif name in optional:
                if values[name] is not None:
                    inputs.append(values[name])
            else:
                inputs.append(values[name])
        arguments = {n: _as_argument(values[n]) for n in arg_names}
        for name in required:
            if arguments[name] is None:
                raise TypeError(f"{api_name}: missing required argument {name!r}.")
        return cls(**arguments)(*inputs, n_outputs=values["n_outputs"], outputs=values["outputs"])

    function.__name__ = function.__qualname__ = api_name
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__doc__ = cls.__doc__
    function.__module__ = __name__
    function.function_class = cls  # type: ignore[attr-defined]
    return function


def _not_built(type_name: str, api_name: str) -> Callable[..., Any]:
    def function(*args: Any, **kwargs: Any) -> Any:
        raise NotBuiltError(type_name)

    function.__name__ = function.__qualname__ = api_name
    function.__module__ = __name__
    return function


def _build() -> dict[str, Callable[..., Any]]:
    classes = _built()
    api: dict[str, Callable[..., Any]] = {}
    for _category, type_name, api_name, _tier1 in CATALOGUE:
        cls = classes.get(type_name)
        api[api_name] = _make(type_name, api_name, cls) if cls is not None else _not_built(type_name, api_name)
    return api


_API = _build()
globals().update(_API)
__all__ = sorted(_API)


def function_api(func: Callable[..., Any]) -> Callable[..., Any]:
    """nnabla's decorator that passes the current context first; nnl's functions read the context themselves."""
    from nnl.core.context import get_current_context

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return func(get_current_context(), *args, **kwargs)

    wrapped.__name__ = func.__name__
    wrapped.__doc__ = func.__doc__
    wrapped.__function_api_base__ = func  # type: ignore[attr-defined]
    return wrapped
