"""``EmbedFilterGrad``: the gradient of ``Embed`` with respect to its weight (nnl's own helper)."""

from __future__ import annotations

from nnl.backward_function._compat import _Reusable
from nnl.functions import neural_network as _nn


class EmbedFilterGrad(_Reusable, _nn.EmbedFilterGrad):
    """``dw`` of ``embed(x0, w)`` from ``(dy, x0)`` (set ``wshape``)."""
