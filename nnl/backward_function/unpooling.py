"""``UnpoolingDataGrad``: the gradient of unpooling with respect to its input (nnl's own helper)."""

from __future__ import annotations

from nnl.backward_function._compat import _Reusable, _XShape
from nnl.functions import pooling as _pooling


class UnpoolingDataGrad(_Reusable, _XShape, _pooling.UnpoolingDataGrad):
    """``dx`` of unpooling from ``dy`` (set ``xshape``)."""
