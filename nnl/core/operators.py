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
    """NumPy indexing. Basic keys (ints, slices, ``None``, ``...``) become Slice (+ Flip for negative steps) and
    Reshape; keys with index arrays or masks become one GatherNd over the flattened input."""
    from nnl.core.variable import Variable

    F = _functions()
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(int(k) if isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu" else k for k in key)
    if any(isinstance(k, (list, np.ndarray, Variable, _ndarray_type())) for k in key):
        return _advanced_getitem(x, key)
    n_specified = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_specified > x.ndim:
        raise IndexError(f"indexing: too many indices ({n_specified}) for a variable of shape {x.shape}.")
    expanded: list[Any] = []
    for k in key:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_specified))
        else:
            expanded.append(k)
    expanded.extend([slice(None)] * (x.ndim - sum(1 for k in expanded if k is not None)))
    start, stop, step, out_shape, flip_axes = [], [], [], [], []
    axis = 0
    for k in expanded:
        if k is None:
            out_shape.append(1)
            continue
        size = x.shape[axis]
        if isinstance(k, slice):
            indices = range(*k.indices(size))
            count = len(indices)
            if count and indices.step < 0:  # the same elements with a positive step, then reversed
                start.append(indices[-1])
                stop.append(indices[0] + 1)
                step.append(-indices.step)
                flip_axes.append(axis)
            else:
                first = indices.start if count else 0
                start.append(first)
                stop.append(first + (count - 1) * indices.step + 1 if count else 0)
                step.append(indices.step if count else 1)
            out_shape.append(count)
        else:
            index = int(k)
            if not -size <= index < size:
                raise IndexError(f"indexing: index {index} is out of bounds for axis {axis} with size {size}.")
            index %= size
            start.append(index)
            stop.append(index + 1)
            step.append(1)
        axis += 1
    sliced_shape = [len(range(b, e, s)) for b, e, s in zip(start, stop, step)]
    y = x
    if tuple(sliced_shape) != tuple(x.shape):
        y = F.slice(x, start, stop, step)
    if flip_axes:
        y = F.flip(y, flip_axes)
    if tuple(out_shape) != tuple(sliced_shape):
        y = F.reshape(y, out_shape)
    return y if y is not x else F.identity(x)


def _ndarray_type() -> type:
    from nnl.core.ndarray import NdArray

    return NdArray


def _index_array(k: Any) -> Any:
    """A key entry as NumPy takes it (Variables and NdArrays give their data)."""
    if k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)):
        return k
    data = getattr(k, "d", None)
    if data is None:
        data = getattr(k, "data", k)
    return np.asarray(data)


def _advanced_getitem(x: Any, key: tuple[Any, ...]) -> Any:
    """Index arrays and masks (mixed freely with basic keys): NumPy computes which flat elements are taken, and
    GatherNd takes them from the flattened input, so gradients flow back to exactly those elements."""
    from nnl.core.variable import Variable

    F = _functions()
    if len(key) == 1 and isinstance(key[0], Variable) and key[0].shape == x.shape:
        return F.bool_gather(x, key[0])
    plain = tuple(_index_array(k) for k in key)
    try:
        flat_index = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape)[plain]
    except IndexError as error:
        raise IndexError(f"indexing: {error} (variable shape {x.shape}).") from None
    flat = F.reshape(x, (int(np.prod(x.shape)),))
    indices = Variable.from_numpy_array(np.asarray(flat_index)[None])
    return F.gather_nd(flat, indices)


def setitem(x: Any, key: Any, value: Any) -> None:
    """Assign into the data buffer (no graph is recorded)."""
    from nnl.core.ndarray import NdArray
    from nnl.core.variable import Variable

    if isinstance(value, Variable):
        value = value.d
    elif isinstance(value, NdArray):
        value = value.data
    x.d[key] = value
