"""nnabla's ``nnabla.backward_function`` package: the helper functions of double backward.

Each module holds the helper classes nnabla's tests import (``from nnabla.backward_function.affine import
AffineDataGrad``): the gradient of a function with respect to one input, as a function that can be
differentiated again. The per-function backward callables themselves are in :mod:`nnl.backward_functions`
(``registry``), built from each function's ``grad_graph``.
"""
