"""Parameters: a tree of scopes holding named Variables (nnabla's ``parameter_scope`` and friends).

Names are '/'-joined scope paths (``conv1/conv/W``). The current scope is thread-local; the root store is global
unless a private ``scope`` dict is given.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from nnl.core import graph
from nnl.core.variable import Variable

_root: OrderedDict[str, Any] = OrderedDict()


class _ScopeState(threading.local):
    def __init__(self) -> None:
        self.stack: list[OrderedDict[str, Any]] = []


_state = _ScopeState()


def get_current_parameter_scope() -> OrderedDict[str, Any]:
    """The scope dictionary new parameters go into."""
    return _state.stack[-1] if _state.stack else _root


@contextlib.contextmanager
def parameter_scope(name: str, scope: OrderedDict[str, Any] | None = None) -> Iterator[OrderedDict[str, Any]]:
    """Enter the (nested) scope ``name``; ``name`` may contain '/'. ``scope`` uses a private root instead."""
    current = scope if scope is not None else get_current_parameter_scope()
    for part in [p for p in name.split("/") if p]:
        child = current.get(part)
        if child is None:
            child = OrderedDict()
            current[part] = child
        elif isinstance(child, Variable):
            raise ValueError(f"parameter_scope: {part!r} is a parameter, not a scope.")
        current = child
    _state.stack.append(current)
    try:
        yield current
    finally:
        _state.stack.pop()


def _split(name: str, create: bool = True) -> tuple[OrderedDict[str, Any] | None, str]:
    """The scope holding ``name`` and the leaf name; missing scopes are created unless ``create`` is False."""
    scope: OrderedDict[str, Any] | None = get_current_parameter_scope()
    *scopes, leaf = name.split("/")
    for part in scopes:
        assert scope is not None
        child = scope.get(part)
        if child is None:
            if not create:
                return None, leaf
            child = OrderedDict()
            scope[part] = child
        scope = child
    return scope, leaf


def get_parameter(key: str) -> Variable | None:
    scope, leaf = _split(key, create=False)
    value = None if scope is None else scope.get(leaf)
    return value if isinstance(value, Variable) else None


def set_parameter(key: str, param: Variable) -> None:
    scope, leaf = _split(key)
    assert scope is not None
    scope[leaf] = param


def pop_parameter(key: str) -> Variable | None:
    scope, leaf = _split(key, create=False)
    value = None if scope is None else scope.get(leaf)
    if scope is not None and isinstance(value, Variable):
        del scope[leaf]
        return value
    return None


def get_parameter_or_create(
    name: str,
    shape: Any = None,
    initializer: Any = None,
    need_grad: bool = True,
    as_need_grad: bool | None = None,
) -> Variable:
    """The parameter ``name`` in the current scope, created with ``initializer`` if absent.

    Returns a view (same buffers) whose need_grad is ``as_need_grad`` when given; inside ``nn.no_grad()`` the
    view never needs a gradient.
    """
    param = get_parameter(name)
    if param is None:
        if shape is None:
            raise ValueError(f"get_parameter_or_create: parameter {name!r} does not exist and no shape was given.")
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        param = Variable(shape, need_grad=need_grad)
        if initializer is None:
            param.d = 0
        elif callable(initializer):
            param.d = np.asarray(initializer(shape), dtype=np.float32)
        else:
            value = np.asarray(initializer, dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"get_parameter_or_create: initializer array for {name!r} has shape {value.shape}, expected {shape}.")
            param.d = value
        set_parameter(name, param)
    else:
        param.need_grad = need_grad  # as nnabla: the flag given at each call is the parameter's
    if shape is not None:
        requested = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        if requested != tuple(param.shape):
            raise ValueError(
                f"get_parameter_or_create: parameter {name!r} exists with shape {param.shape}, but shape {requested} was requested."
            )
    if graph.in_no_grad():
        return param.get_unlinked_variable(need_grad=False)
    if as_need_grad is not None and as_need_grad != param.need_grad:
        return param.get_unlinked_variable(need_grad=as_need_grad)
    return param


def get_parameters(params: OrderedDict[str, Any] | None = None, path: str = "", grad_only: bool = True) -> OrderedDict[str, Variable]:
    """All parameters under the current scope as ``{name: Variable}`` (only need_grad ones when ``grad_only``)."""
    scope = get_current_parameter_scope() if params is None else params
    result: OrderedDict[str, Variable] = OrderedDict()
    for key, value in scope.items():
        full = f"{path}/{key}" if path else key
        if isinstance(value, Variable):
            if not grad_only or value.need_grad:
                result[full] = value
        else:
            result.update(get_parameters(value, full, grad_only))
    return result


def clear_parameters() -> None:
    """Remove every parameter of the current scope."""
    get_current_parameter_scope().clear()


@contextlib.contextmanager
def no_grad(no_grad_: bool = True) -> Iterator[None]:
    """Build graphs that need no gradients: parameters come back with need_grad=False and, in dynamic mode,
    nothing is recorded, so intermediate buffers are freed at once."""
    with graph.no_grad_scope(no_grad_):
        yield
