"""``AveragePoolingDataGrad``: the gradient of average pooling with respect to its input (nnl's own helper)."""

from __future__ import annotations

from nnl.backward_function._compat import _Reusable, _XShape
from nnl.functions import pooling as _pooling


class AveragePoolingDataGrad(_Reusable, _XShape, _pooling.AveragePoolingDataGrad):
    """``dx`` of average pooling from ``dy`` (set ``xshape``)."""
