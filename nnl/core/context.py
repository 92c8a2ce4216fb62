"""Contexts: which backends run a function, in order of preference.

A Context lists backend strings such as ``'cpu:float'`` or ``'torch:half'``; dispatch takes the first
backend that implements a function and falls back to the NumPy reference otherwise.
The default context is process-wide (``set_default_context``); ``context_scope`` overrides it per thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Context:
    """Where and in which precision functions run (nnabla's ``nn.Context``).

    >>> Context()
    Context(backend=['cpu:float'], array_class='', device_id='0')
    """

    __slots__ = ("backend", "array_class", "device_id")

    def __init__(self, backend: list[str] | None = None, array_class: str = "", device_id: str = "0") -> None:
        self.backend: list[str] = list(backend) if backend else ["cpu:float"]
        self.array_class = array_class
        self.device_id = str(device_id)

    @property
    def backends(self) -> list[str]:
        return self.backend

    def __repr__(self) -> str:
        return f"Context(backend={self.backend!r}, array_class={self.array_class!r}, device_id={self.device_id!r})"

    def __str__(self) -> str:
        return repr(self)


class _ContextState(threading.local):
    def __init__(self) -> None:
        self.scopes: list[Context] = []


_default_context = Context()
_state = _ContextState()


def get_current_context() -> Context:
    """The context of the innermost ``context_scope`` of this thread, else the default context."""
    return _state.scopes[-1] if _state.scopes else _default_context


def set_default_context(ctx: Context) -> None:
    """Set the process-wide default context (not allowed inside ``context_scope``)."""
    global _default_context
    if _state.scopes:
        raise RuntimeError("set_default_context: cannot change the default context inside context_scope().")
    if not isinstance(ctx, Context):
        raise TypeError(f"set_default_context: ctx must be an nnl.Context, got {type(ctx).__name__}.")
    _default_context = ctx


@contextlib.contextmanager
def context_scope(ctx: Context) -> Iterator[None]:
    """Run the enclosed code with ``ctx`` as the current context of this thread."""
    _state.scopes.append(ctx)
    try:
        yield
    finally:
        _state.scopes.pop()
