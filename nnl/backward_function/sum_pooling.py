"""``SumPoolingDataGrad``: the gradient of sum pooling with respect to its input (nnl's own helper)."""

from __future__ import annotations

from nnl.backward_function._compat import _Reusable, _XShape
from nnl.functions import pooling as _pooling


class SumPoolingDataGrad(_Reusable, _XShape, _pooling.SumPoolingDataGrad):
    """``dx`` of sum pooling from ``dy`` (set ``xshape``)."""
