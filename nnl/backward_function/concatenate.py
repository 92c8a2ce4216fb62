"""``ConcatenateDataGrad``: the gradients of concatenate with respect to each input (the pieces of ``dy``)."""

from __future__ import annotations

from nnl.backward_function._compat import _DataGrad
from nnl.functions.registry import function_class


class ConcatenateDataGrad(_DataGrad):
    """``dx_i`` of concatenate from ``dy`` (set ``xshapes``, one shape per input)."""

    forward_class = function_class("Concatenate")
