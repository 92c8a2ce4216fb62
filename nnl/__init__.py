"""nnl: nnabla's Python API, re-created (``import nnl as nn``)."""

from __future__ import annotations

from nnl import (
    core,  # noqa: F401  (installs NdArray operators)
    logger,  # noqa: F401  (as in nnabla: nn.logger is the module, nn.logger.logger the Logger)
)
from nnl.core.context import Context, context_scope, get_current_context, set_default_context
from nnl.core.grad import grad
from nnl.core.graph import (
    auto_forward,
    forward_all,
    get_auto_forward,
    set_auto_forward,
    set_function_post_hook,
    set_function_pre_hook,
    unset_function_post_hook,
    unset_function_pre_hook,
)
from nnl.core.ndarray import NdArray
from nnl.core.random import seed
from nnl.core.variable import Variable
from nnl.parameter import (
    clear_parameters,
    get_current_parameter_scope,
    get_parameters,
    no_grad,
    parameter_scope,
)
from nnl.parameter_io import load_parameters, save_parameters

__version__ = "0.1.0"



_SOLVER_HOOKS = ("set_solver_pre_hook", "set_solver_post_hook", "unset_solver_pre_hook", "unset_solver_post_hook")
_LAZY_MODULES = ("function_bases", "backward_functions", "backward_function", "functions", "parametric_functions", "solvers")


def __getattr__(name: str) -> object:
    """nnabla exposes its submodules as attributes (``nn.function_bases``); load them on first use."""
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"nnl.{name}")
    if name in _SOLVER_HOOKS:  # lazily, so that inference-only programs never import the solvers
        return getattr(importlib.import_module("nnl.solver"), name)
    raise AttributeError(f"module 'nnl' has no attribute {name!r}")


def prefer_cached_array(prefer: bool) -> None:
    """Accepted for nnabla compatibility; NumPy manages host memory itself."""


def reset_array_preference() -> None:
    """Accepted for nnabla compatibility."""


def array_classes() -> list[str]:
    return ["CpuCachedArray", "CpuArray"]


def set_global_recompute(recompute: bool) -> None:
    """Accepted for nnabla compatibility (activation recomputation is not used by the NumPy backend)."""


__all__ = [
    "unset_solver_pre_hook",
    "unset_solver_post_hook",
    "set_solver_pre_hook",
    "set_solver_post_hook",
    "Context",
    "NdArray",
    "Variable",
    "array_classes",
    "auto_forward",
    "clear_parameters",
    "context_scope",
    "forward_all",
    "get_auto_forward",
    "get_current_context",
    "get_current_parameter_scope",
    "get_parameters",
    "grad",
    "load_parameters",
    "logger",
    "no_grad",
    "parameter_scope",
    "prefer_cached_array",
    "reset_array_preference",
    "save_parameters",
    "seed",
    "set_auto_forward",
    "set_default_context",
    "set_function_post_hook",
    "set_function_pre_hook",
    "set_global_recompute",
    "unset_function_post_hook",
    "unset_function_pre_hook",
]
