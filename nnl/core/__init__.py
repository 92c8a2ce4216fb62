"""The engine: Variable/NdArray, the Function contract, graphs, contexts and dispatch. No math lives here."""

from nnl.core import operators
from nnl.core.ndarray import NdArray

for _name, _op in {
    "__add__": operators.add,
    "__radd__": operators.radd,
    "__sub__": operators.sub,
    "__rsub__": operators.rsub,
    "__mul__": operators.mul,
    "__rmul__": operators.rmul,
    "__truediv__": operators.truediv,
    "__rtruediv__": operators.rtruediv,
    "__pow__": operators.pow_,
    "__rpow__": operators.rpow,
    "__matmul__": operators.matmul,
    "__neg__": operators.neg,
    "__abs__": operators.abs_,
}.items():
    setattr(NdArray, _name, _op)
