"""nnabla's ``nnabla.normalization_functions`` module name: the normalization wrappers and their axis helpers.

The definitions live in ``nnl.functions.normalization``; this module keeps nnabla's import path working.
"""

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
