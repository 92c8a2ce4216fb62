"""The graph engine: building (static or ``auto_forward``), forward and backward with nnabla's semantics.

Static graphs are sorted once per output variable (cached until the graph's structure changes) and replayed
as a plain loop over prepared functions. Backward walks the same order in reverse: leaf gradients accumulate,
intermediate gradients are overwritten on their first write of a pass, functions whose inputs need no gradient
are skipped, and ``clear_buffer`` frees buffers as soon as nothing later reads them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nnl.core.function import Function, store_grad
from nnl.core.ndarray import NdArray

Hook = Callable[[Function], Any]
Variable: Any = None  # set by nnl.core.variable (which imports this module)


class _GraphState(threading.local):
    def __init__(self) -> None:
        self.auto_forward = False
        self.no_grad = False
        self.backward_follows = True  # False inside forward(clear_buffer=True): no backward can follow it


_state = _GraphState()
_version = 0
_pre_hooks: dict[str, Hook] = {}
_post_hooks: dict[str, Hook] = {}


def graph_changed() -> None:
    """Invalidate cached orders (called when links are rewired by hand)."""
    global _version
    _version += 1


_flags_version = 0


def flags_changed() -> None:
    """Invalidate cached plans (a variable's need_grad or persistent flag, or a buffer object, changed)."""
    global _flags_version
    _flags_version += 1


def _plan(roots: Sequence[Any], kind: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, cached on a single root until the graph or a variable's flags change."""
    if len(roots) != 1:
        return compute()
    root = roots[0]
    key = (_version, _flags_version)
    plans = root._plans
    if plans is None or plans[0] != key:
        plans = root._plans = (key, {})
    value = plans[1].get(kind)
    if value is None:
        value = plans[1][kind] = compute()
    return value


# -- modes ---------------------------------------------------------------------------------------------------
def get_auto_forward() -> bool:
    return _state.auto_forward


def set_auto_forward(auto: bool) -> None:
    """Turn dynamic (define-by-run) mode on or off for this thread."""
    _state.auto_forward = bool(auto)


@contextlib.contextmanager
def auto_forward(auto: bool = True) -> Iterator[None]:
    """Run functions as soon as they are called (nnabla's ``nn.auto_forward()``)."""
    previous = _state.auto_forward
    _state.auto_forward = bool(auto)
    try:
        yield
    finally:
        _state.auto_forward = previous


def in_no_grad() -> bool:
    return _state.no_grad


def backward_may_follow() -> bool:
    """False while functions run in ``no_grad`` or in a ``forward(clear_buffer=True)`` (which frees the buffers a
    backward would read): device kernels then skip recording what a backward needs."""
    return not _state.no_grad and _state.backward_follows


@contextlib.contextmanager
def no_grad_scope(no_grad: bool = True) -> Iterator[None]:
    previous = _state.no_grad
    _state.no_grad = bool(no_grad)
    try:
        yield
    finally:
        _state.no_grad = previous


def set_function_pre_hook(key: str, function_pre_hook: Hook) -> None:
    """Call ``function_pre_hook(function)`` before every function of every forward and backward."""
    _pre_hooks[key] = function_pre_hook


def set_function_post_hook(key: str, function_post_hook: Hook) -> None:
    """Call ``function_post_hook(function)`` after every function of every forward and backward."""
    _post_hooks[key] = function_post_hook


def unset_function_pre_hook(key: str) -> None:
    _pre_hooks.pop(key, None)


def unset_function_post_hook(key: str) -> None:
    _post_hooks.pop(key, None)


# -- building -------------------------------------------------------------------------------------------------
def apply(function: Function, inputs: Sequence[Any], n_outputs: int, outputs: Any, auto: bool | None) -> Any:
    """Connect ``function`` to ``inputs``, create its outputs and, in dynamic mode, run it."""
    for i, v in enumerate(inputs):
        if type(v) is not Variable:
            if isinstance(v, NdArray):
                return _apply_imperative(function, inputs, outputs)
            if not isinstance(v, Variable):
                name = _input_name(function, i)
                raise TypeError(f"{function.name}: input {name} must be an nnl.Variable, got {type(v).__name__}.")
    if function.inputs:
        raise RuntimeError(f"{function.name}: this function object is already part of a graph; create a new one.")
    function.inputs = list(inputs)
    function._bind_kernels()
    shapes = function.setup_impl(function.inputs)
    function._in_shapes = [v._data._shape for v in inputs]
    need_grad = False
    if not _state.no_grad:
        for v in inputs:
            if v.need_grad:
                need_grad = True
                break
    if outputs is None:
        output_vars = [Variable._output_of(function, tuple(shape), need_grad) for shape in shapes]
        for v in output_vars:
            function._adopt_output(v)
    else:
        output_vars = [_as_output_variable(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        for v, shape in zip(output_vars, shapes):
            v.reset_shape(tuple(shape), force=True)
            v._need_grad, v._derived_need_grad = None, need_grad
            function._adopt_output(v)
        graph_changed()
    if _state.auto_forward if auto is None else auto:
        _run_forward(function, None, None)
        if _state.no_grad:
            for v in output_vars:
                v._parent = None
    return output_vars[0] if len(output_vars) == 1 else tuple(output_vars)


def _as_output_variable(output: Any) -> Any:
    """``outputs=`` may hold NdArrays: the function then writes into them through a Variable sharing each."""
    if isinstance(output, NdArray):
        v = Variable(output.shape)
        v._data = output
        return v
    return output


def _apply_imperative(function: Function, inputs: Sequence[Any], outputs: Any) -> Any:
    """F called on NdArrays: compute now and return NdArrays (nothing is recorded)."""
    wrapped = []
    for v in inputs:
        w = Variable(v.shape if isinstance(v, NdArray) else ())
        if isinstance(v, NdArray):
            w._data = v
        elif isinstance(v, Variable):
            w._data = v._data
        else:
            raise TypeError(f"{function.name}: inputs must be NdArrays when any input is an NdArray.")
        wrapped.append(w)
    function._bind_kernels()
    function.setup_impl(wrapped)
    function.inputs = wrapped
    fetch = function._fetch
    results = function._forward(function.xp, [v._data.data if fetch is None else fetch(v._data) for v in wrapped])
    given = [] if outputs is None else (list(outputs) if isinstance(outputs, (list, tuple)) else [outputs])
    arrays = []
    for i, array in enumerate(results):
        if fetch is None:
            array = np.asarray(array)
        nd = given[i] if i < len(given) else NdArray(tuple(array.shape), np.float32)
        nd._shape = tuple(array.shape)
        nd._adopt(array)
        arrays.append(nd)
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def _input_name(function: Function, i: int) -> str:
    names = function.input_names
    if names and names[0].startswith("*"):
        return f"{names[0][1:]}[{i}]"
    return names[i].rstrip("?") if i < len(names) else f"#{i}"


# -- forward --------------------------------------------------------------------------------------------------
def topological_order(roots: Sequence[Any]) -> list[Function]:
    """Functions the roots depend on, each after all functions it depends on (cached per single root)."""
    if len(roots) == 1:
        cache = roots[0]._order_cache
        if cache is not None and cache[0] == _version:
            return cache[1]
    order: list[Function] = []
    visited: set[int] = set()
    stack: list[tuple[Function, bool]] = [(r._parent, False) for r in reversed(roots) if r._parent is not None]
    while stack:
        function, expanded = stack.pop()
        if expanded:
            order.append(function)
            continue
        if id(function) in visited:
            continue
        visited.add(id(function))
        stack.append((function, True))
        for v in reversed(function.inputs):
            parent = v._parent
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    if len(roots) == 1:
        roots[0]._order_cache = (_version, order)
    return order


def forward(
    roots: Sequence[Any],
    clear_buffer: bool = False,
    clear_no_need_grad: bool = False,
    pre_hook: Hook | None = None,
    post_hook: Hook | None = None,
) -> None:
    order = topological_order(roots)
    frees = None
    if clear_buffer or clear_no_need_grad:
        only_no_need_grad = clear_no_need_grad and not clear_buffer
        frees = _plan(roots, ("frees", only_no_need_grad), lambda: _forward_frees(order, roots, only_no_need_grad))
    if pre_hook is None and post_hook is None and not _pre_hooks and not _post_hooks and frees is None:
        for function in order:  # the hot loop: no per-call work beyond the kernel call
            _run_forward(function, None, None)
        return
    previous = _state.backward_follows
    _state.backward_follows = previous and not clear_buffer
    try:
        for step, function in enumerate(order):
            _run_forward(function, pre_hook, post_hook)
            if frees is not None:
                for nd in frees[step]:
                    nd.clear()
    finally:
        _state.backward_follows = previous


def forward_all(
    variables: Sequence[Any],
    clear_buffer: bool = False,
    clear_no_need_grad: bool = False,
    function_pre_hook: Hook | None = None,
    function_post_hook: Hook | None = None,
) -> None:
    """Forward several outputs in one pass over their shared graph."""
    forward(list(variables), clear_buffer, clear_no_need_grad, function_pre_hook, function_post_hook)


def _run_forward(function: Function, pre_hook: Hook | None, post_hook: Hook | None) -> None:
    inputs = function.inputs
    if [v._data._shape for v in inputs] != function._in_shapes:
        _resetup(function)
    if pre_hook is not None:
        pre_hook(function)
    for hook in _pre_hooks.values():
        hook(function)
    fetch = function._fetch
    if fetch is None:
        results = function._forward(function.xp, [v._data.data for v in inputs])
        for nd, array in zip(function._out_data, results):
            if type(array) is not np.ndarray:  # NumPy reductions of 0-d arrays give scalars
                array = np.asarray(array)
            nd._array = array
            nd._zeroing = False
    else:
        results = function._forward(function.xp, [fetch(v._data) for v in inputs])
        for nd, array in zip(function._out_data, results):
            nd._array = array
            nd._zeroing = False
            nd._copy = None
    if post_hook is not None:
        post_hook(function)
    for hook in _post_hooks.values():
        hook(function)


def _resetup(function: Function) -> None:
    """An input changed shape (``reset_shape``): infer the output shapes again."""
    shapes = function.setup_impl(function.inputs)
    for data, grad, shape in zip(function._out_data, function._out_grad, shapes):
        shape = tuple(shape)
        if data._shape != shape:
            data.reshape(shape, force=True)
            grad.reshape(shape, force=True)
    function._in_shapes = [v._data._shape for v in function.inputs]


def _forward_frees(order: list[Function], roots: Sequence[Any], only_no_need_grad: bool) -> list[list[NdArray]]:
    """For each step, the intermediate data buffers nothing later reads (and, if asked, no backward reads)."""
    keep = {id(r._data) for r in roots} | _protected_inputs(order)
    last_use: dict[int, tuple[int, NdArray]] = {}
    needed_by_backward: set[int] = set()
    if only_no_need_grad:
        _refresh_need_grad(order, roots)
    for step, function in enumerate(order):
        for j, v in enumerate(function.inputs):
            if v._parent is not None and not v.persistent:
                last_use[id(v._data)] = (step, v._data)
            if only_no_need_grad and function._need_backward and function.grad_depends_input_data(0, j):
                needed_by_backward.add(id(v._data))
        if only_no_need_grad and function._need_backward and function.grad_depends_output:
            needed_by_backward.update(id(nd) for nd in function._out_data)
        for ref in function._outputs:
            v = ref()
            if v is not None and v.persistent:
                keep.add(id(v._data))
    frees: list[list[NdArray]] = [[] for _ in order]
    for key, (step, nd) in last_use.items():
        if key not in keep and key not in needed_by_backward:
            frees[step].append(nd)
    return frees


def _protected_inputs(order: list[Function]) -> set[int]:
    """Data buffers that functions such as Sink ask never to free (the outputs the user wants)."""
    return {id(v._data) for f in order if f.prohibit_clear_input_buffers() for v in f.inputs}


# -- backward -------------------------------------------------------------------------------------------------
def _refresh_need_grad(order: list[Function], roots: Sequence[Any]) -> None:
    """Derive, in forward order, which functions must back-propagate (once per change of the flags)."""
    _plan(roots, "need_grad", lambda: _derive_need_grad(order))


def _derive_need_grad(order: list[Function]) -> bool:
    for function in order:
        need = False
        for v in function.inputs:
            if v.need_grad:
                need = True
                break
        function._need_backward = need
        for ref in function._outputs:
            v = ref()
            if v is not None:
                v._derived_need_grad = need
    return True


def backward(
    root: Any,
    grad: Any = 1,
    clear_buffer: bool = False,
    communicator_callbacks: Any = None,
    pre_hook: Hook | None = None,
    post_hook: Hook | None = None,
) -> None:
    roots = [root]
    order = topological_order(roots)
    _refresh_need_grad(order, roots)
    if grad is not None:
        if isinstance(grad, NdArray):
            grad = grad.data
        fetch = root._parent._fetch if root._parent is not None else None
        if fetch is not None and (type(grad) in (int, float) or np.size(grad) == 1):  # made where the root's kernel
            scale = float(np.asarray(grad, np.float32).reshape(()))  # runs; float32 like the buffer: 2**130 is inf
            root._grad._adopt(fetch(NdArray(root.shape)).fill_(scale))
        else:
            root._grad._adopt(np.array(np.broadcast_to(np.asarray(grad, np.float32), root.shape), np.float32))
    written = {id(root._grad)}
    callbacks = _as_list(communicator_callbacks)
    hooks = [h for h in (pre_hook, *_pre_hooks.values()) if h is not None]
    post_hooks = [h for h in (post_hook, *_post_hooks.values()) if h is not None]
    protected = _plan(roots, "protected", lambda: _protected_inputs(order)) if clear_buffer else set()
    for function in reversed(order):
        if not function._need_backward:
            continue
        inputs = function.inputs
        need = [v.need_grad for v in inputs]
        fetch = function._fetch
        for hook in hooks:
            hook(function)
        if fetch is None:
            dy = [nd.data if id(nd) in written else np.zeros(nd._shape, np.float32) for nd in function._out_grad]
            grads = function._backward(
                function.xp, [v._data.data for v in inputs], [nd.data for nd in function._out_data], dy, need
            )
        else:  # device kernels get the NdArrays of x and y (they fetch only what they use) and dy as arrays
            dy = [fetch(nd if id(nd) in written else NdArray(nd._shape)) for nd in function._out_grad]
            grads = function._backward(function.xp, [v._data for v in inputs], function._out_data, dy, need)
        adopted = {id(d) for d in dy}  # arrays that may not become a second buffer's memory
        for v, g, n in zip(inputs, grads, need):
            if not n or g is None:
                continue
            nd = v._grad
            leaf = v._parent is None
            accumulate = leaf or id(nd) in written
            if id(g) in adopted and not (accumulate and nd._array is not None and not nd._zeroing):
                g = g.copy() if type(g) is np.ndarray else g.clone()
            store_grad(nd, g, accumulate, leaf)
            adopted.add(id(nd._array))
            written.add(id(nd))
        for hook in post_hooks:
            hook(function)
        for callback in callbacks:
            callback.on_function_backward(function)
        if clear_buffer:
            function._saved = None
            _free_outputs(function, root, protected)
    for callback in callbacks:
        callback.on_finish_backward()


def _free_outputs(function: Function, root: Any, protected: set[int]) -> None:
    for ref, data, grad in zip(function._outputs, function._out_data, function._out_grad):
        v = ref()
        if data is root._data or id(data) in protected or (v is not None and v.persistent):
            continue
        data.clear()
        grad.clear()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
