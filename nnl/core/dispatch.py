"""Dispatch: pick, for one function and one context, the first backend that implements it.

Backends register overrides keyed by (function name, backend string), e.g. ``('Convolution', 'torch:float')``.
The NumPy reference (each function's own ``forward_impl``/``backward_impl``) serves every ``cpu:*`` entry and is
the fallback when no listed backend has the function: it then reads its inputs on the host and its outputs are
taken back by the next device kernel (the transfers and casts happen at that boundary). ``function.implementation``
records which backend was bound, and each fallback is announced once with a ``FallbackWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnl.core.context import Context


class FallbackWarning(UserWarning):
    """A function ran on the NumPy reference because the context's extension lacks it."""


@dataclass(frozen=True)
class Kernel:
    """A backend's implementation of one function.

    ``forward(fn, xp, x)`` / ``backward(fn, xp, x, y, dy, need)`` take and give the backend's arrays;
    ``fetcher(ctx, backend)``, when given, returns the function that reads an NdArray's buffer as such an array
    (moving and casting it); such a kernel's backward receives x and y as NdArrays (it fetches only what it
    reads) and dy as arrays. Without a fetcher, kernels get host NumPy arrays throughout.
    """

    backend: str
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    xp: Any
    fetcher: Callable[[Context, str], Callable[[Any], Any]] | None = None


_overrides: dict[tuple[str, str], Kernel] = {}
_warned: set[tuple[str, str]] = set()


def register(
    function_name: str,
    backend: str,
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None = None,
    xp: Any = np,
    fetcher: Callable[[Context, str], Callable[[Any], Any]] | None = None,
) -> None:
    """Register a backend kernel for ``function_name`` under ``backend`` (``'<extension>:<type_config>'``)."""
    _overrides[(function_name, backend)] = Kernel(backend, forward, backward, xp, fetcher)


def registered(backend_prefix: str) -> list[str]:
    """Names of the functions a backend (e.g. ``'torch'``) overrides."""
    return sorted({name for name, backend in _overrides if backend.split(":")[0] == backend_prefix})


def forget_warnings() -> None:
    """Announce every fallback again (each is otherwise announced once per process)."""
    _warned.clear()


def announce_fallback(function_name: str, why: str, stacklevel: int = 2) -> None:
    """Warn, once per (function, reason), that a function runs on the NumPy reference."""
    if (function_name, why) in _warned:
        return
    _warned.add((function_name, why))
    warnings.warn(f"{function_name}: {why}; running the NumPy (cpu:float) implementation.", FallbackWarning,
                  stacklevel=stacklevel + 1)


def bind_reference(function: Any) -> None:
    """Attach the NumPy reference kernels (host arrays in and out) to ``function``."""
    function.implementation = "cpu:float"
    function.xp = np
    function._fetch = None
    function._forward = function.forward_impl
    function._backward = function.backward_impl


def kernel_for(function_name: str, ctx: Context) -> Kernel | None:
    """The kernel ``ctx`` selects for ``function_name`` (None: the NumPy reference)."""
    for backend in ctx.backend:
        kernel = _overrides.get((function_name, backend))
        if kernel is not None:
            return kernel
        if backend.startswith("cpu:"):
            break
    return None


def bind(function: Any, ctx: Context) -> None:
    """Attach the kernels ``ctx`` selects to ``function`` (and record which ran)."""
    kernel = kernel_for(function.name, ctx)
    if kernel is not None:
        function.implementation = kernel.backend
        function.xp = kernel.xp
        function._fetch = kernel.fetcher(ctx, kernel.backend) if kernel.fetcher is not None else None
        function._forward = lambda xp, x, _k=kernel, _f=function: _k.forward(_f, xp, x)
        if kernel.backward is not None:
            function._backward = lambda xp, x, y, dy, need, _k=kernel, _f=function: _k.backward(_f, xp, x, y, dy, need)
        else:
            function._backward = function.backward_impl
        return
    bind_reference(function)
    preferred = ctx.backend[0]
    if not preferred.startswith("cpu:"):
        announce_fallback(function.name, f"no {preferred} kernel", stacklevel=4)
