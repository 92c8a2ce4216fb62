"""Parametric functions (``PF``): layers that create or reuse their parameters in the current scope.

Each one runs inside ``parameter_scope(<scope name>)`` (``affine``, ``conv``, ``bn``...), wrapped in an outer
``parameter_scope(name)`` when ``name=`` is given, so ``PF.convolution(x, 16, (3, 3), name='conv1')`` owns
``conv1/conv/W`` and ``conv1/conv/b`` exactly as nnabla names them. Existing parameters are reused (weight
sharing); ``fix_parameters=True`` gives views that need no gradient.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

import nnl.functions as F
from nnl.initializer import (
    ConstantInitializer,
    UniformInitializer,
    calc_uniform_lim_glorot,
)
from nnl.parameter import get_parameter_or_create, parameter_scope

Layer = TypeVar("Layer", bound=Callable[..., Any])


def parametric_function_api(scope_name: str, param_desc: list[tuple[str, str, str, bool]] | None = None) -> Callable[[Layer], Layer]:
    """Run the decorated layer inside ``parameter_scope(scope_name)`` and add the ``name=None`` keyword."""

    def decorate(layer: Layer) -> Layer:
        @functools.wraps(layer)
        def wrapper(*args: Any, name: str | None = None, **kwargs: Any) -> Any:
            if name is None:
                with parameter_scope(scope_name):
                    return layer(*args, **kwargs)
            with parameter_scope(name), parameter_scope(scope_name):
                return layer(*args, **kwargs)

        signature = inspect.signature(layer)
        parameters = list(signature.parameters.values())
        parameters.append(inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__scope_name__ = scope_name  # type: ignore[attr-defined]
        wrapper.__param_desc__ = param_desc or []  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _as_list(n: Any) -> list[int]:
    return [int(v) for v in n] if hasattr(n, "__iter__") else [int(n)]


def _bias(with_bias: bool, shape: Any, b_init: Any, fix_parameters: bool, apply_b: Any = None) -> Any:
    if not with_bias:
        return None
    b = get_parameter_or_create("b", shape, b_init if b_init is not None else ConstantInitializer(), True, not fix_parameters)
    return apply_b(b) if apply_b is not None else b


@parametric_function_api("affine", [("W", "Weight matrix", "(inmaps, outmaps)", True), ("b", "Bias vector", "(outmaps,)", True)])
def affine(
    inp: Any,
    n_outmaps: Any,
    base_axis: int = 1,
    w_init: Any = None,
    b_init: Any = None,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """Fully connected layer with parameters ``W`` (inmaps, *n_outmaps) and ``b`` (*n_outmaps)."""
    outs = _as_list(n_outmaps)
    inmaps = int(np.prod(inp.shape[base_axis:]))
    if w_init is None:
        w_init = UniformInitializer(calc_uniform_lim_glorot(inmaps, int(np.prod(outs))), rng=rng)
    w = get_parameter_or_create("W", [inmaps] + outs, w_init, True, not fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, outs, b_init, fix_parameters, apply_b)
    return F.affine(inp, w, b, base_axis)


@parametric_function_api("conv", [("W", "Filter weights", "(outmaps, inmaps // group, *kernel)", True), ("b", "Bias vector", "(outmaps,)", True)])
def convolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """N-d convolution with parameters ``W`` (outmaps, inmaps // group, *kernel) and ``b`` (outmaps,)."""
    kernel = tuple(kernel)
    channels = inp.shape[-1] if channel_last else inp.shape[base_axis]
    filter_shape = kernel + (channels // group,) if channel_last else (channels // group,) + kernel
    if w_init is None:
        w_init = UniformInitializer(calc_uniform_lim_glorot(channels, outmaps, kernel), rng=rng)
    w = get_parameter_or_create("W", (outmaps,) + filter_shape, w_init, True, not fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters, apply_b)
    return F.convolution(inp, w, b, base_axis, pad, stride, dilation, group, channel_last)


@parametric_function_api("deconv", [("W", "Filter weights", "(inmaps, outmaps // group, *kernel)", True), ("b", "Bias vector", "(outmaps,)", True)])
def deconvolution(
    inp: Any,
    outmaps: int,
    kernel: Any,
    pad: Any = None,
    stride: Any = None,
    dilation: Any = None,
    group: int = 1,
    channel_last: bool = False,
    output_padding: Any = None,
    w_init: Any = None,
    b_init: Any = None,
    base_axis: int = 1,
    fix_parameters: bool = False,
    rng: Any = None,
    with_bias: bool = True,
    apply_w: Any = None,
    apply_b: Any = None,
) -> Any:
    """N-d transposed convolution with parameters ``W`` (inmaps, outmaps // group, *kernel) and ``b``."""
    kernel = tuple(kernel)
    channels = inp.shape[-1] if channel_last else inp.shape[base_axis]
    filter_shape = kernel + (outmaps // group,) if channel_last else (outmaps // group,) + kernel
    if w_init is None:
        w_init = UniformInitializer(calc_uniform_lim_glorot(outmaps, channels, kernel), rng=rng)
    w = get_parameter_or_create("W", (channels,) + filter_shape, w_init, True, not fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    b = _bias(with_bias, (outmaps,), b_init, fix_parameters, apply_b)
    return F.deconvolution(inp, w, b, base_axis, pad, stride, dilation, group, channel_last, output_padding)


def _stat_shape(inp: Any, axes: Any) -> list[int]:
    shape = [1] * len(inp.shape)
    for a in axes:
        shape[a] = inp.shape[a]
    return shape


def _beta_gamma(shape: list[int], fix_parameters: bool, param_init: dict[str, Any], no_bias: bool, no_scale: bool) -> tuple[Any, Any]:
    beta = None if no_bias else get_parameter_or_create("beta", shape, param_init.get("beta", ConstantInitializer(0)), True, not fix_parameters)
    gamma = None if no_scale else get_parameter_or_create("gamma", shape, param_init.get("gamma", ConstantInitializer(1)), True, not fix_parameters)
    return beta, gamma


@parametric_function_api(
    "bn",
    [
        ("beta", "Trainable bias", "<stat shape>", True),
        ("gamma", "Trainable scale", "<stat shape>", True),
        ("mean", "Moving average of batch mean", "<stat shape>", False),
        ("var", "Moving average of batch variance", "<stat shape>", False),
    ],
)
def batch_normalization(
    inp: Any,
    axes: Any = (1,),
    decay_rate: float = 0.9,
    eps: float = 1e-5,
    batch_stat: bool = True,
    output_stat: bool = False,
    fix_parameters: bool = False,
    param_init: dict[str, Any] | None = None,
    no_scale: bool = False,
    no_bias: bool = False,
) -> Any:
    """Batch normalization with ``beta``, ``gamma`` and running ``mean``/``var`` of the size of ``axes``."""
    axes = list(axes)
    param_init = param_init or {}
    shape = _stat_shape(inp, axes)
    beta, gamma = _beta_gamma(shape, fix_parameters, param_init, no_bias, no_scale)
    mean = get_parameter_or_create("mean", shape, param_init.get("mean", ConstantInitializer(0)), False)
    var = get_parameter_or_create("var", shape, param_init.get("var", ConstantInitializer(1)), False)
    return F.batch_normalization(inp, beta, gamma, mean, var, axes, decay_rate, eps, batch_stat, output_stat)


@parametric_function_api("embed", [("W", "Embedding matrix", "(n_inputs, n_features)", True)])
def embed(inp: Any, n_inputs: int, n_features: int, initializer: Any = None, fix_parameters: bool = False, apply_w: Any = None) -> Any:
    """Embedding lookup with ``W`` (n_inputs, n_features), initialised uniformly in [-sqrt(3), sqrt(3)]."""
    if initializer is None:
        initializer = UniformInitializer((-np.sqrt(3.0), np.sqrt(3.0)))
    w = get_parameter_or_create("W", [n_inputs, n_features], initializer, True, not fix_parameters)
    if apply_w is not None:
        w = apply_w(w)
    return F.embed(inp, w)
