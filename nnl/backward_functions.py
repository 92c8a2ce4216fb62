"""nnabla's ``nnabla.backward_functions``: ``registry`` maps a function type name to its backward function.

A backward function is called as ``backward(grad_inputs, inputs, input_shapes, outputs, output_shapes,
**function_arguments)`` with Variables (``grad_inputs``: the gradients of the outputs) and returns, as
Variables, the gradient of each input (None where there is none). The result is an ordinary graph, so it can
be differentiated again.

nnl builds every entry the same way from the function's class: the gradient is the function's
``grad_graph`` rule (or, for a function without one, a node running its array backward: first order only).
When ``outputs`` were made by a function of that type on exactly ``inputs`` (the usual case), that function
object itself supplies the rule, so state of its forward pass (a dropout mask, a chosen index...) is reused;
otherwise a new function is built from the arguments on ``inputs``.

Gradients are built for the inputs with ``need_grad`` (for all inputs when none has it). ``nn.grad`` uses the
functions' rules directly: ``register`` changes this table, not ``nn.grad``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnl import functions as _functions  # noqa: F401  (imports every function module: fills the registry)
from nnl.core.function import Function
from nnl.functions.registry import api_name as _api_name
from nnl.functions.registry import built as _built


def _snake(type_name: str) -> str:
    try:
        return _api_name(type_name)
    except StopIteration:
        out = []
        for i, ch in enumerate(type_name):
            if ch.isupper() and i and not type_name[i - 1].isupper():
                out.append("_")
            out.append(ch.lower())
        return "".join(out)


def _as_argument(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _variable(value: Any, shape: Any) -> Any:
    """``value`` if it is a Variable, else a zero Variable of ``shape`` (an input the rule does not read)."""
    from nnl.core.variable import Variable

    if isinstance(value, Variable):
        return value
    if value is None:
        return Variable.from_numpy_array(np.zeros(tuple(shape), np.float32))
    return Variable.from_numpy_array(np.asarray(value, np.float32))


def _set_helper_shapes(function: Function, shapes: list[tuple[int, ...]]) -> None:
    """A helper (``AffineDataGrad``...) built anew learns its output shape(s) from ``output_shapes``."""
    cls = type(function)
    if isinstance(getattr(cls, "xshapes", None), property):
        function.xshapes = shapes  # type: ignore[attr-defined]
    elif isinstance(getattr(cls, "xshape", None), property):
        function.xshape = shapes[0]  # type: ignore[attr-defined]
    elif isinstance(getattr(cls, "wshape", None), property):
        function.wshape = shapes[0]  # type: ignore[attr-defined]
    elif "x_shape" in dir(cls):
        function.x_shape = shapes[0]  # type: ignore[attr-defined]


def _forward_function(cls: type[Function], inputs: list[Any], outputs: Sequence[Any] | None, args: dict[str, Any], output_shapes: Sequence[Any] | None = None) -> tuple[Function, list[Any]]:
    """The function that made ``outputs`` from ``inputs`` if there is one, else a new one applied to ``inputs``."""
    first = outputs[0] if outputs else None
    parent = getattr(first, "parent", None) if first is not None else None
    if (
        parent is not None
        and parent.name == cls.name
        and len(parent.inputs) == len(inputs)
        and all(a is b for a, b in zip(parent.inputs, inputs))
    ):
        return parent, parent.outputs
    function = cls(**{k: _as_argument(v) for k, v in args.items() if k in cls.args_spec})
    if output_shapes and all(s is not None for s in output_shapes):
        _set_helper_shapes(function, [tuple(s) for s in output_shapes])
    made = function(*inputs)
    return function, list(made) if isinstance(made, tuple) else [made]


def make_backward(cls: type[Function], name: str | None = None) -> Callable[..., list[Any]]:
    """The backward function of ``cls`` (see the module docstring)."""

    def backward(grad_inputs: Sequence[Any], inputs: Sequence[Any], input_shapes: Sequence[Any], outputs: Sequence[Any], output_shapes: Sequence[Any], *args: Any, **func_args: Any) -> list[Any]:
        from nnl.core.grad import BackwardOf

        if args:  # the function's arguments given by position, in registry order
            if len(args) > len(cls.args_spec):
                raise TypeError(f"{backward.__name__}: {cls.name} takes {len(cls.args_spec)} arguments, got {len(args)}.")
            func_args = {**dict(zip(cls.args_spec, args)), **func_args}

        grad_inputs = list(grad_inputs) if isinstance(grad_inputs, (list, tuple)) else [grad_inputs]
        in_shapes = list(input_shapes) if input_shapes else [None] * len(inputs)
        xs = [_variable(v, s) for v, s in zip(inputs, in_shapes)]
        function, ys = _forward_function(cls, xs, list(outputs) if outputs else None, func_args, output_shapes)
        given = list(output_shapes) if output_shapes else []
        shapes = [given[i] if i < len(given) and given[i] is not None else y.shape for i, y in enumerate(ys)]
        dys = [_variable(g, s) for g, s in zip(grad_inputs, shapes)]
        dys += [_variable(None, y.shape) for y in ys[len(dys) :]]
        flags = [bool(v.need_grad) for v in xs]
        need = flags if any(flags) else [True] * len(xs)
        rule = getattr(function, "grad_graph", None)
        if rule is not None:
            grads = list(rule(xs, ys, dys, need))
        else:
            made = BackwardOf(function, need)(*xs, *ys, *dys)
            made = iter(made if isinstance(made, tuple) else [made])
            grads = [next(made) if n else None for n in need]
        grads += [None] * (len(xs) - len(grads))
        return [g if n else None for g, n in zip(grads, need)]

    backward.__name__ = backward.__qualname__ = f"{name or _snake(cls.name)}_backward"
    backward.__doc__ = f"The backward function of {cls.name} (built from its gradient rule)."
    return backward


def _helper_classes() -> list[type[Function]]:
    """nnabla's helper functions of double backward (``AffineDataGrad``...), which have registry entries too."""
    from nnl.backward_function import (
        affine,
        average_pooling,
        concatenate,
        convolution,
        deconvolution,
        embed,
        global_average_pooling,
        interpolate,
        pad,
        slice,
        sum_pooling,
        transpose,
        unpooling,
    )
    from nnl.functions.pooling import MaxPoolingBackwardDataGrad

    return [
        affine.AffineDataGrad,
        affine.AffineFilterGrad,
        convolution.ConvolutionDataGrad,
        convolution.ConvolutionFilterGrad,
        deconvolution.DeconvolutionDataGrad,
        deconvolution.DeconvolutionFilterGrad,
        embed.EmbedFilterGrad,
        unpooling.UnpoolingDataGrad,
        average_pooling.AveragePoolingDataGrad,
        global_average_pooling.GlobalAveragePoolingDataGrad,
        MaxPoolingBackwardDataGrad,
        sum_pooling.SumPoolingDataGrad,
        concatenate.ConcatenateDataGrad,
        slice.SliceDataGrad,
        pad.PadDataGrad,
        transpose.TransposeDataGrad,
        interpolate.InterpolateDataGrad,
    ]


registry: OrderedDict[str, Callable[..., Any]] = OrderedDict()
for _type_name, _cls in _built().items():
    registry[_type_name] = make_backward(_cls)
for _cls in _helper_classes():
    registry[_cls.name] = make_backward(_cls)


def register(func_name: str, func: Callable[..., Any]) -> None:
    """Set the backward function of the function type ``func_name`` (e.g. ``'Affine'``) in ``registry``."""
    registry[func_name] = func


def show_registry() -> None:
    """Print every registered backward function."""
    for key, value in registry.items():
        print(key, value)
