"""``PadDataGrad``: the gradient of pad with respect to its input (its adjoint; its own gradient is pad)."""

from __future__ import annotations

from nnl.backward_function._compat import _DataGrad
from nnl.functions.registry import function_class


class PadDataGrad(_DataGrad):
    """``dx`` of pad from ``dy`` (set ``xshape``)."""

    forward_class = function_class("Pad")
