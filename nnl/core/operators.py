"""Operator overloading for Variable and NdArray (``+ - * / ** @``, unary ``-``, indexing), mapped to functions.

Variable op Variable uses the broadcasting binary functions (Add2, Sub2, ...); Variable op scalar uses the scalar
ones (AddScalar, RSubScalar, ...). With NdArray operands the function runs at once and returns an NdArray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_F: Any = None


def _functions() -> Any:
    global _F
    if _F is None:
        from nnl import functions

        _F = functions
    return _F


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) or (isinstance(value, np.ndarray) and value.ndim == 0)


def _operand(value: Any) -> Any:
    """Turn a NumPy array operand into a constant leaf Variable."""
    if isinstance(value, np.ndarray):
        from nnl.core.variable import Variable

        return Variable.from_numpy_array(value.astype(np.float32, copy=False))
    return value


def add(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().add_scalar(a, float(b))
    return _functions().add2(a, _operand(b))


def radd(a: Any, b: Any) -> Any:
    return add(a, b)


def sub(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().add_scalar(a, -float(b))
    return _functions().sub2(a, _operand(b))


def rsub(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().r_sub_scalar(a, float(b))
    return _functions().sub2(_operand(b), a)


def mul(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().mul_scalar(a, float(b))
    return _functions().mul2(a, _operand(b))


def rmul(a: Any, b: Any) -> Any:
    return mul(a, b)


def truediv(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().mul_scalar(a, 1.0 / float(b))
    return _functions().div2(a, _operand(b))


def rtruediv(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().r_div_scalar(a, float(b))
    return _functions().div2(_operand(b), a)


def pow_(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().pow_scalar(a, float(b))
    return _functions().pow2(a, _operand(b))


def rpow(a: Any, b: Any) -> Any:
    if _is_scalar(b):
        return _functions().r_pow_scalar(a, float(b))
    return _functions().pow2(_operand(b), a)


def matmul(a: Any, b: Any) -> Any:
    b = _operand(b)
    F = _functions()
    if a.ndim == 2 and b.ndim == 2:
        return F.affine(a, b)
    return F.batch_matmul(a, b)


def neg(a: Any) -> Any:
    return _functions().mul_scalar(a, -1.0)


def pos(a: Any) -> Any:
    return a


def abs_(a: Any) -> Any:
    return _functions().abs(a)


def getitem(x: Any, key: Any) -> Any:
    """NumPy indexing: basic keys (ints, slices, None, ...) as Slice + Reshape; boolean masks as BoolGather;
    any other advanced key as GatherNd on the flattened input (indices computed by NumPy itself)."""
    F = _functions()
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(int(k) if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu" else k for k in key)
    if any(_is_advanced(k) for k in key):
        return _advanced_getitem(x, key)
    n_specified = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_specified > x.ndim:
        raise IndexError(f"indexing: too many indices ({n_specified}) for a variable of shape {x.shape}.")
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("indexing: an index can only have a single ellipsis ('...').")
    expanded: list[Any] = []
    for k in key:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_specified))
        else:
            expanded.append(k)
    expanded.extend([slice(None)] * (x.ndim - sum(1 for k in expanded if k is not None)))
    start, stop, step, out_shape, sliced_shape = [], [], [], [], []
    axis = 0
    for k in expanded:
        if k is None:
            out_shape.append(1)
            continue
        size = x.shape[axis]
        if isinstance(k, slice):
            n = len(range(*k.indices(size)))
            # nnabla's arguments: the slice's own values, None as F.slice takes it (a negative stop counts from
            # the end, so 'up to index 0 included' is -size - 1); Slice clamps out-of-range values itself
            s = 1 if k.step is None else int(k.step)
            b = (-1 if s < 0 else 0) if k.start is None else int(k.start)
            e = (-size - 1 if s < 0 else size) if k.stop is None else int(k.stop)
            start.append(b)
            stop.append(e)
            step.append(s)
            out_shape.append(n)
            sliced_shape.append(n)
        else:
            index = int(k)
            if not -size <= index < size:
                raise IndexError(f"indexing: index {index} is out of bounds for axis {axis} with size {size}.")
            index %= size
            start.append(index)
            stop.append(index + 1)
            step.append(1)
            sliced_shape.append(1)
        axis += 1
    y = x
    if (
        tuple(sliced_shape) != tuple(x.shape)
        or any(s != 1 for s in step)
        or any(isinstance(k, slice) and k != slice(None) for k in expanded)
    ):
        y = F.slice(x, start, stop, step)
    if tuple(out_shape) != tuple(sliced_shape):
        y = F.reshape(y, out_shape)
    return y if y is not x else F.identity(x)


def _is_advanced(k: Any) -> bool:
    if k is None or k is Ellipsis or isinstance(k, slice) or _is_scalar(k):
        return False
    return isinstance(k, (list, tuple, np.ndarray)) or hasattr(k, "shape")


def _advanced_getitem(x: Any, key: tuple[Any, ...]) -> Any:
    from nnl.core.variable import Variable

    F = _functions()
    variables = [k for k in key if isinstance(k, Variable)]
    if variables and len(variables) == len(key):  # index Variables stay graph inputs (new index data, same graph)
        if len(key) == 1 and key[0].d.dtype == bool:
            return F.bool_gather(x, key[0])
        if all(k.d.dtype != bool for k in key):
            if len(key) == 1:
                return F.gather(x, key[0], axis=0)
            return F.gather_nd(x, F.stack(*key, axis=0))
    plain = [np.asarray(k) if isinstance(k, (list, tuple, np.ndarray)) else k for k in _plain_key(key)]
    if (
        len(plain) == 1
        and plain[0].dtype == bool
        and plain[0].shape == tuple(x.shape)[: plain[0].ndim]
        and plain[0].ndim
    ):
        mask = Variable.from_numpy_array(plain[0].astype(np.float32)) if not isinstance(key[0], Variable) else key[0]
        return F.bool_gather(x, mask)
    # any other mix of arrays, masks, slices, None and ...: let NumPy pick the (flat) elements
    flat = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape)[tuple(plain)]
    source = F.reshape(x, (int(np.prod(x.shape)),)) if len(x.shape) != 1 else x
    return F.gather_nd(source, Variable.from_numpy_array(flat[None]))


def _plain_key(key: Any) -> Any:
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    if isinstance(key, Variable):
        return key.d
    if isinstance(key, NdArray):
        return key.data
    return key


def setitem(x: Any, key: Any, value: Any) -> None:
    """Assign into the data buffer (no graph is recorded); keys may hold Variables / NdArrays of indices."""
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    if isinstance(x, Variable) and (isinstance(value, Variable) or x._parent is not None):
        _graph_setitem(x, key, value)
        return
    if isinstance(value, Variable):
        value = value.d
    elif isinstance(value, NdArray):
        value = value.data
    data = x.d if isinstance(x, Variable) else x.data
    data[_plain_key(key)] = value


def _graph_setitem(x: Any, key: Any, value: Any) -> None:
    """nnabla's Variable.__setitem__: ``x`` becomes the output of ScatterNd(value, indices, out=<x before>),
    so later functions of ``x`` see the assignment and gradients flow to both ``value`` and the old ``x``."""
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    F = _functions()
    if isinstance(value, NdArray):
        value = value.data
    if not isinstance(value, Variable):
        value = Variable.from_numpy_array(np.asarray(value, dtype=np.float32))
    shape = tuple(x.shape)
    flat = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[_plain_key(key)]
    flat = flat.reshape(1) if flat.ndim == 0 else flat
    if tuple(value.shape) != flat.shape:
        lead = (1,) * (flat.ndim - len(value.shape))
        value = F.broadcast(F.reshape(value, lead + tuple(value.shape)), flat.shape)
    indices = Variable.from_numpy_array(np.stack(np.unravel_index(flat, shape)).astype(np.int64))
    before = x.get_unlinked_variable()
    if x._parent is not None:
        x._parent._replace_output(x, before)
    x.rewire_on(F.scatter_nd(value, indices, out=before))
