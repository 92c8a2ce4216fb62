"""Torch kernels: batch normalization and the per-sample standardisations (layer, instance, group).

Under the half type configs, batch normalization takes and gives half/bfloat16 data with float32 parameters and
statistics (as cuDNN does); the standardisations compute in float32 (statistics need the range), as autocast does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as TF

from nnl.backends.torch import rules
from nnl.backends.torch.kernel import Unsupported, kernel
from nnl.functions import normalization, registry


@kernel("BatchNormalization", float_parameters=True, backward=rules.batch_normalization)
def batch_normalization(fn: Any, xs: list[torch.Tensor]) -> torch.Tensor:
    if fn.n_out != 1 or len(fn.axes) != 1:
        raise Unsupported("output_stat=True or several axes")
    x = xs[0]
    beta, gamma, running_mean, running_var, _ = fn._split(xs)
    axis = int(fn.axes[0])
    channels = x.shape[axis]
    moved = x.movedim(axis, 1) if axis != 1 else x
    if moved.ndim == 1:
        raise Unsupported("1-D input")

    def flat(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.reshape(channels)

    # running statistics get no gradient (as in nnabla), even when their variables have need_grad set
    running_mean = None if running_mean is None else running_mean.detach()
    running_var = None if running_var is None else running_var.detach()

    if fn.batch_stat:
        update = fn._updating and not getattr(fn, "_replaying", False) and running_mean is not None
        mean_buffer = flat(running_mean) if update else None
        var_buffer = flat(running_var) if update else None
        if not torch.is_grad_enabled():  # unrecorded forward: keep the batch statistics for the explicit backward
            y, mean, invstd = torch.ops.aten.native_batch_norm(
                moved, flat(gamma), flat(beta), mean_buffer, var_buffer, True, 1.0 - float(fn.decay_rate), float(fn.eps)
            )
            fn._bn_saved = (mean, invstd, moved.dtype)
        else:
            y = TF.batch_norm(
                moved, mean_buffer, var_buffer, flat(gamma), flat(beta), training=True,
                momentum=1.0 - float(fn.decay_rate), eps=float(fn.eps),
            )
        if update:
            _store_statistics(fn, running_mean, running_var)
    else:
        y = TF.batch_norm(moved, flat(running_mean), flat(running_var), flat(gamma), flat(beta), training=False, eps=float(fn.eps))
    return y.movedim(1, axis) if axis != 1 else y


def _store_statistics(fn: Any, running_mean: torch.Tensor | None, running_var: torch.Tensor | None) -> None:
    """Running statistics stored in another dtype (float64 arrays from NumPy) were updated in a cast copy: write
    them back to the variables' buffers."""
    _, _, mean_variable, var_variable, _ = fn._split(fn.inputs)
    for variable, updated in ((mean_variable, running_mean), (var_variable, running_var)):
        head = variable._data.device_array
        if updated is not None and isinstance(head, torch.Tensor) and updated.data_ptr() != head.data_ptr():
            head.copy_(updated.reshape(head.shape))
            variable._data._copy = None


def standardize(fn: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    x = xs[0]
    data = x.reshape(fn._work)
    axes = list(fn._raxes)
    if axes:
        mean = data.mean(dim=axes, keepdim=True)
        centered = data - mean
        var = (centered * centered).mean(dim=axes, keepdim=True)
    else:  # nothing to reduce (torch would read an empty dim list as every axis): each element is its own mean
        mean, centered, var = data.clone(), data * 0.0, data * 0.0
    y = centered * torch.rsqrt(var + float(fn.eps))
    if fn._ig is not None:
        y = y * xs[fn._ig].reshape(fn._work_param[fn._ig])
    if fn._ib is not None:
        y = y + xs[fn._ib].reshape(fn._work_param[fn._ib])
    y = y.reshape(x.shape)
    return [y, mean, var] if fn.n_out == 3 else [y]


kernel(*sorted(name for name, cls in registry.built().items() if issubclass(cls, normalization._Standardize)), half=False)(standardize)
