"""``InterpolateDataGrad``: the gradient of interpolate with respect to its input (its adjoint; its own gradient is interpolate)."""

from __future__ import annotations

from nnl.backward_function._compat import _DataGrad
from nnl.functions.registry import function_class


class InterpolateDataGrad(_DataGrad):
    """``dx`` of interpolate from ``dy`` (set ``xshape``)."""

    forward_class = function_class("Interpolate")
