"""``TransposeDataGrad``: the gradient of transpose with respect to its input (its adjoint; its own gradient is transpose)."""

from __future__ import annotations

from nnl.backward_function._compat import _DataGrad
from nnl.functions.registry import function_class


class TransposeDataGrad(_DataGrad):
    """``dx`` of transpose from ``dy`` (set ``xshape``)."""

    forward_class = function_class("Transpose")
