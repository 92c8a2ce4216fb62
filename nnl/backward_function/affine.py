"""``AffineDataGrad`` / ``AffineFilterGrad``: the gradients of ``Affine`` with respect to ``x`` and ``weight``."""

from __future__ import annotations

from nnl.backward_function._compat import _LinearDataGrad, _LinearFilterGrad
from nnl.functions.neural_network import Affine


class AffineDataGrad(_LinearDataGrad):
    """``dx`` of ``affine(x, w)`` from ``(dy, w)`` (set ``xshape``)."""

    forward_class = Affine


class AffineFilterGrad(_LinearFilterGrad):
    """``dw`` of ``affine(x, w)`` from ``(dy, x)`` (set ``wshape``)."""

    forward_class = Affine


AffineDataGrad.filter_grad_class = AffineFilterGrad
AffineFilterGrad.data_grad_class = AffineDataGrad
