"""``DeconvolutionDataGrad`` / ``DeconvolutionFilterGrad``: the gradients of ``Deconvolution`` with respect to
``x`` and ``weight``."""

from __future__ import annotations

from nnl.backward_function._compat import _LinearDataGrad, _LinearFilterGrad
from nnl.functions.neural_network import Deconvolution


class DeconvolutionDataGrad(_LinearDataGrad):
    """``dx`` of ``deconvolution(x, w)`` from ``(dy, w)`` (set ``xshape``)."""

    forward_class = Deconvolution


class DeconvolutionFilterGrad(_LinearFilterGrad):
    """``dw`` of ``deconvolution(x, w)`` from ``(dy, x)`` (set ``wshape``)."""

    forward_class = Deconvolution


DeconvolutionDataGrad.filter_grad_class = DeconvolutionFilterGrad
DeconvolutionFilterGrad.data_grad_class = DeconvolutionDataGrad
