"""``SliceDataGrad``: the gradient of slice with respect to its input (its adjoint; its own gradient is slice)."""

from __future__ import annotations

from nnl.backward_function._compat import _DataGrad
from nnl.functions.registry import function_class


class SliceDataGrad(_DataGrad):
    """``dx`` of slice from ``dy`` (set ``xshape``)."""

    forward_class = function_class("Slice")
