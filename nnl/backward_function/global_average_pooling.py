"""``GlobalAveragePoolingDataGrad``: the gradient of global average pooling with respect to its input (nnl's own helper)."""

from __future__ import annotations

from nnl.backward_function._compat import _Reusable, _XShape
from nnl.functions import pooling as _pooling


class GlobalAveragePoolingDataGrad(_Reusable, _XShape, _pooling.GlobalAveragePoolingDataGrad):
    """``dx`` of global average pooling from ``dy`` (set ``xshape``)."""
