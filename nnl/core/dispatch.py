"""Dispatch: pick, for one function and one context, the first backend that implements it.

Backends register overrides keyed by (function name, backend string), e.g. ``('Convolution', 'torch:float')``.
The NumPy reference (each function's own ``forward_impl``/``backward_impl``) serves every ``cpu:*`` entry and is
the fallback when no listed backend has the function; ``function.implementation`` records which one was bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnl.core.context import Context


@dataclass(frozen=True)
class Kernel:
    """A backend's implementation of one function: ``forward(fn, xp, x)`` / ``backward(fn, xp, x, y, dy, need)``."""

    backend: str
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    xp: Any


_overrides: dict[tuple[str, str], Kernel] = {}


def register(function_name: str, backend: str, forward: Callable[..., Any], backward: Callable[..., Any] | None = None, xp: Any = np) -> None:
    """Register a backend kernel for ``function_name`` under ``backend`` (``'<extension>:<type_config>'``)."""
    _overrides[(function_name, backend)] = Kernel(backend, forward, backward, xp)


def registered(backend_prefix: str) -> list[str]:
    """Names of the functions a backend (e.g. ``'torch'``) overrides."""
    return sorted({name for name, backend in _overrides if backend.split(":")[0] == backend_prefix})


def bind(function: Any, ctx: Context) -> None:
    """Attach the kernels ``ctx`` selects to ``function`` (and record which ran)."""
    for backend in ctx.backend:
        kernel = _overrides.get((function.name, backend))
        if kernel is not None:
            function.implementation = backend
            function.xp = kernel.xp
            function._forward = lambda xp, x, _k=kernel, _f=function: _k.forward(_f, xp, x)
            if kernel.backward is not None:
                function._backward = lambda xp, x, y, dy, need, _k=kernel, _f=function: _k.backward(_f, xp, x, y, dy, need)
            else:
                function._backward = function.backward_impl
            return
        if backend.startswith("cpu:"):
            break
    function.implementation = "cpu:float"
    function.xp = np
    function._forward = function.forward_impl
    function._backward = function.backward_impl
