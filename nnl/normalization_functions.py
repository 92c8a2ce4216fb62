"""nnabla's ``nnabla.normalization_functions`` module name: the normalization wrappers and their axis helpers.

The definitions live in ``nnl.functions.normalization``; this module keeps nnabla's import path working.
"""

from typing import Any

from nnl.functions.normalization import (  # noqa: F401
    _check_axis,
    _check_batch_axis_and_force_list,
    _force_list,
    _get_axes_excluding,
    batch_normalization,
    fused_batch_normalization,
    group_normalization,
    instance_normalization,
    layer_normalization,
    sync_batch_normalization,
    tensor_normalization,
    weight_standardization,
)


def _apply_affine(x: Any, scale: Any = None, bias: Any = None) -> Any:
    """``x * scale + bias`` with either term optional (nnabla's helper of the normalization wrappers)."""
    if scale is not None:
        x = x * scale
    if bias is not None:
        x = x + bias
    return x
