"""Helpers shared by the loss and validation functions that take class labels along an axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnl.functions._helpers import normalize_axis


def setup_label_axis(function: Any, inputs: list[Any]) -> tuple[int, ...]:
    """Resolve ``function.axis`` (None: the last axis) and check that the target has x's shape with 1 on it.

    Returns the target's shape (the output shape of the per-sample functions).
    """
    x_shape, t_shape = tuple(inputs[0].shape), tuple(inputs[1].shape)
    ndim = len(x_shape)
    if ndim == 0:
        raise function.fail("x", "an array of at least 1 dimension (the class axis)", "x.shape=()")
    if function.axis is None:
        function.axis = ndim - 1
    function.axis = normalize_axis(function, int(function.axis), ndim)
    axis = function.axis
    expected = tuple(1 if i == axis else s for i, s in enumerate(x_shape))
    if t_shape != expected:
        raise function.fail(
            "target",
            f"target.shape == {expected} (x.shape with size 1 on axis {axis})",
            f"target.shape={t_shape}",
            f"x.shape={x_shape}; the target holds one integer class index per sample.",
        )
    return t_shape


def labels(t: Any) -> Any:
    """Class indices as integers (float labels are truncated, like nnabla's cast to int)."""
    return t if t.dtype.kind in "iu" else t.astype(np.int64)


def truncated(t: Any, dtype: Any) -> Any:
    """Integer-typed targets of float functions: truncated toward zero (nnabla reads them as int)."""
    if t.dtype.kind in "iu":
        return t.astype(dtype)
    return np.trunc(t).astype(dtype, copy=False)
