"""``ConvolutionDataGrad`` / ``ConvolutionFilterGrad``: the gradients of ``Convolution`` with respect to ``x``
and ``weight`` (the filter gradient is nnl's own ``ConvolutionFilterGrad``)."""

from __future__ import annotations

from nnl.backward_function._compat import _LinearDataGrad, _Reusable
from nnl.functions import neural_network as _nn


class ConvolutionFilterGrad(_Reusable, _nn.ConvolutionFilterGrad):
    """``dw`` of ``convolution(x, w)`` from ``(dy, x)`` (set ``wshape``)."""


class ConvolutionDataGrad(_LinearDataGrad):
    """``dx`` of ``convolution(x, w)`` from ``(dy, w)`` (set ``xshape``)."""

    forward_class = _nn.Convolution
    filter_grad_class = ConvolutionFilterGrad
