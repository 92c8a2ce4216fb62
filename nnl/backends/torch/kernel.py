"""Defining torch kernels: a forward written with torch ops; the backward comes from torch's autograd.

``@kernel('Convolution')`` registers ``impl(fn, xs) -> tensor | list[tensor]`` for every torch backend string
(``torch``/``cuda``/``cudnn`` x ``float``/``half``/``bfloat16``; ``half=False`` keeps the function in float32
under the half type configs, as autocast does for reductions and losses). Forward records the autograd graph of
the inputs that need a gradient; backward asks autograd for exactly the needed input gradients, so each kernel is
written once and its gradient is torch's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from nnl.backends.torch import arrays
from nnl.core import dispatch
from nnl.core.context import Context
from nnl.core.graph import backward_may_follow

Impl = Callable[[Any, list[Any]], Any]


class Unsupported(Exception):
    """Raised by a kernel for a setting it does not cover; the function then runs on the NumPy reference."""


def _run_reference(fn: Any, xs: list[Any], reason: str) -> list[Any]:
    """Bind ``fn`` to its NumPy kernels for good (recorded and announced once) and run them on ``xs``."""
    dispatch.bind_reference(fn)
    fn._saved = None
    dispatch.announce_fallback(fn.name, f"the torch kernel does not cover {reason}", stacklevel=5)
    return fn.forward_impl(np, [arrays.to_numpy(x) for x in xs])


EXTENSIONS = ("torch", "cuda", "cudnn")
TYPE_CONFIGS = ("float", "half", "bfloat16")


@functools.cache
def _cached_fetcher(device: str, type_config: str | None) -> Callable[[Any], torch.Tensor]:
    """The fetch function of a device and precision (``None``: every array in the dtype it is stored in)."""
    return arrays.fetcher(torch.device(device), None if type_config is None else arrays.COMPUTE_DTYPES[type_config])


def device_of(ctx: Context, backend: str) -> str:
    """The torch device of a backend string in a context: ``torch:*`` is the CPU, ``cuda``/``cudnn`` a GPU."""
    extension = backend.split(":")[0]
    return "cpu" if extension == "torch" else f"cuda:{int(ctx.device_id or 0)}"


def fetcher_for(ctx: Context, backend: str) -> Callable[[Any], torch.Tensor]:
    """The fetch function of a torch backend string in a context (cached per device and precision)."""
    return _cached_fetcher(device_of(ctx, backend), backend.split(":")[1])


def stored_fetcher_for(ctx: Context, backend: str) -> Callable[[Any], torch.Tensor]:
    """Like ``fetcher_for`` but leaving every array in its stored dtype (kernels with float32 parameters)."""
    return _cached_fetcher(device_of(ctx, backend), None)


def _as_list(result: Any) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _forward(impl: Impl, fn: Any, xp: Any, xs: list[Any]) -> list[Any]:
    try:
        return _record(impl, fn, xs)
    except Unsupported as error:
        return _run_reference(fn, xs, str(error))


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _call(impl: Impl, fn: Any, xs: list[Any]) -> list[torch.Tensor]:
    """``impl`` on ``xs``; where torch cannot run it in half/bfloat16 (several CPU kernels), in float32, cast back
    (a genuine error raises again from the float32 run)."""
    try:
        return _as_list(impl(fn, xs))
    except (NotImplementedError, RuntimeError):
        low = [x.dtype for x in xs if x.dtype in _LOW_PRECISION]
        if not low:
            raise
        ys = _as_list(impl(fn, [x.float() if x.dtype in _LOW_PRECISION else x for x in xs]))
        return [y.to(low[0]) if y.is_floating_point() else y for y in ys]


_grad_enabled = torch.is_grad_enabled
_set_grad_enabled = torch._C._set_grad_enabled  # what torch.no_grad toggles, without its ~1.5 us of wrapping


def _without_grad(run: Callable[..., Any], *args: Any) -> Any:
    """``run(*args)`` with autograd recording off."""
    enabled = _grad_enabled()
    _set_grad_enabled(False)
    try:
        return run(*args)
    finally:
        _set_grad_enabled(enabled)


def _record(impl: Impl, fn: Any, xs: list[Any]) -> list[torch.Tensor]:
    need = [False] * len(xs)
    if backward_may_follow():
        for i, v in enumerate(fn.inputs):
            if v.need_grad and xs[i].is_floating_point():
                need[i] = True
    if not any(need):
        fn._saved = None
        return _without_grad(_call, impl, fn, xs)
    recorded = [x.detach().requires_grad_() if n else x for x, n in zip(xs, need)]
    with torch.enable_grad():
        ys = _call(impl, fn, recorded)
    fn._saved = (recorded, ys, need)
    return [y.detach() for y in ys]


def _backward(impl: Impl, fn: Any, xp: Any, xs: list[Any], ys: list[Any], dys: list[Any], need: Sequence[bool]) -> list[Any]:
    """Input gradients from the recorded graph (``xs``/``ys`` are NdArrays, read only to record again).

    An ``impl`` may carry a ``before_backward(fn)`` check (raising for settings without a backward)."""
    check = getattr(impl, "before_backward", None)
    if check is not None:
        check(fn)
    saved = fn._saved
    if saved is None or any(n and not r for n, r in zip(need, saved[2])):  # forward did not record what we need
        xs = [fn._fetch(nd) for nd in xs]
        recorded = [x.detach().requires_grad_() if n and x.is_floating_point() else x for x, n in zip(xs, need)]
        fn._replaying = True
        try:
            with torch.enable_grad():
                outputs = _call(impl, fn, recorded)
        finally:
            fn._replaying = False
        saved = (recorded, outputs, [r.requires_grad for r in recorded])
        fn._saved = saved
    recorded, outputs, _ = saved
    wanted = [i for i, n in enumerate(need) if n and recorded[i].requires_grad]
    pairs = [(y, d) for y, d in zip(outputs, dys) if y.requires_grad]
    grads: list[Any] = [None] * len(xs)
    if not wanted:
        return grads
    if not pairs:  # the outputs do not depend on the inputs (e.g. a constant-like function)
        for i in wanted:
            grads[i] = torch.zeros_like(recorded[i])
        return grads
    results = _run_backward(
        tuple(y for y, _ in pairs),
        tuple(d.to(y.dtype) if d.dtype != y.dtype else d for y, d in pairs),
        tuple(recorded[i] for i in wanted),
    )
    pointers = {d.untyped_storage().data_ptr() for _, d in pairs}
    for i, g in zip(wanted, results):
        if g is None:
            g = torch.zeros_like(recorded[i])
        elif g.untyped_storage().data_ptr() in pointers:  # autograd may hand back dy itself: never alias it
            g = g.clone()
        grads[i] = g
    return grads


def _run_backward(outputs: tuple[torch.Tensor, ...], grads: tuple[torch.Tensor, ...], inputs: tuple[torch.Tensor, ...]) -> Any:
    """The gradients of ``inputs`` (None where unused), keeping the graph for a later backward.

    Calls autograd's engine directly: ``torch.autograd.grad`` adds ~20 us of argument checks per call, a third of
    the per-function cost on small arrays (the checks hold by construction here: shapes and dtypes match).
    """
    return torch.autograd.Variable._execution_engine.run_backward(  # type: ignore[attr-defined]
        outputs, grads, True, False, inputs, True, False
    )


Rule = Callable[[Any, list[Any], list[Any], list[Any], Sequence[bool]], list[Any]]


def _forward_unrecorded(impl: Impl, fn: Any, xp: Any, xs: list[Any]) -> list[Any]:
    """Forward of a kernel with an explicit backward rule: nothing to record."""
    try:
        return _without_grad(_call, impl, fn, xs)
    except Unsupported as error:
        return _run_reference(fn, xs, str(error))


def _explicit_backward(rule: Rule, impl: Impl, fn: Any, xp: Any, xs: list[Any], ys: list[Any], dys: list[Any], need: Sequence[bool]) -> list[Any]:
    grads = _without_grad(rule, fn, xs, ys, dys, need)
    if grads is NotImplemented:  # a setting the rule does not cover: autograd, recording the forward again
        return _backward(impl, fn, xp, xs, ys, dys, need)
    return grads


def register_everywhere(
    name: str, forward: Callable[..., Any], backward: Callable[..., Any], half: bool = True, fetcher: Callable[..., Any] = fetcher_for
) -> None:
    """Register ``forward``/``backward`` (dispatch's kernel signatures) for every torch backend string of ``name``
    (float only when ``half`` is False)."""
    for type_config in TYPE_CONFIGS if half else ("float",):
        _register(name, type_config, forward, backward, fetcher)


def _register(name: str, type_config: str, forward: Callable[..., Any], backward: Callable[..., Any], fetcher: Callable[..., Any]) -> None:
    for extension in EXTENSIONS:
        dispatch.register(name, f"{extension}:{type_config}", forward, backward, xp=torch, fetcher=fetcher)


def _first_input_in(dtype: torch.dtype, impl: Impl) -> Impl:
    """``impl`` with its first input cast to ``dtype`` and the other floating inputs in float32 (float32 ones as
    they are stored, so that in-place updates such as running statistics reach the buffer)."""

    def run(fn: Any, xs: list[Any]) -> Any:
        xs = [
            x if x is None or not x.is_floating_point() or x.dtype == want else x.to(want)
            for x, want in zip(xs, [dtype] + [torch.float32] * (len(xs) - 1))
        ]
        return impl(fn, xs)

    return run


def kernel(*function_names: str, half: bool = True, float_parameters: bool = False, backward: Rule | None = None) -> Callable[[Impl], Impl]:
    """Register the decorated ``impl(fn, xs)`` as the torch kernel of each named function.

    ``half=False`` computes in float32 under the half type configs (as autocast does for losses and reductions).
    ``float_parameters=True`` computes in half/bfloat16 on the first input and leaves the others (parameters, running
    statistics) in float32, as cuDNN's batch normalization does: the outputs stay in the low precision.
    ``backward(fn, x, y, dy, need)``, when given, is the gradient rule written directly with torch operations (``x``
    and ``y`` are NdArrays: fetch only the buffers the function's ``grad_depends_*`` flags declare; return
    ``NotImplemented`` for a setting it does not cover, and autograd does it); forward then records nothing for
    autograd, which saves ~25 us per function on small arrays. The generic tester checks such
    rules against numerical gradients like every other backward.
    """

    def functions(impl: Impl) -> tuple[Callable[..., Any], Callable[..., Any]]:
        if backward is None:
            return functools.partial(_forward, impl), functools.partial(_backward, impl)
        return functools.partial(_forward_unrecorded, impl), functools.partial(_explicit_backward, backward, impl)

    def register(impl: Impl) -> Impl:
        for name in function_names:
            register_everywhere(name, *functions(impl), half and not float_parameters)
            if float_parameters:
                for type_config in ("half", "bfloat16"):
                    mixed = _first_input_in(arrays.COMPUTE_DTYPES[type_config], impl)
                    _register(name, type_config, *functions(mixed), stored_fetcher_for)
        return impl

    return register
