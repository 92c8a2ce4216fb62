"""NdArray: a lazily allocated array with nnabla's buffer semantics.

The engine writes kernel results straight into ``_array`` (no copy). ``zero()`` only marks the array as
pending-zero (nnabla's "zeroing"); the first read materialises the zeros, and gradient accumulation treats a
pending-zero array as "overwrite". ``clear()`` releases the memory; the next read allocates zeros again.

``_array`` is a NumPy array or, after a device kernel ran, a device array (a torch tensor): the head, which holds
the current values, as in nnabla's synced arrays. It moves lazily: reading ``.data`` (for reading and writing)
brings a device head to the host (a zero-copy view for CPU tensors) and a device kernel takes a host head back
(zero-copy on the CPU) when it next reads it; ``get_data('r')`` reads a device head without moving it. A kernel
reading the head in another precision (float32 master weights in a half-precision graph) gets a cast copy that
``_copy`` keeps while the head is unchanged (same tensor, same torch version counter), so each parameter is cast
once per update rather than at every read. A NumPy view taken from ``.data`` before a device kernel read the array
may then be stale, as with nnabla's synced arrays: take ``.d`` again after running the graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Shape = tuple[int, ...]


class NdArray:
    """A device-agnostic array (here: a NumPy array on the host), allocated on first access.

    >>> a = NdArray((2, 3))
    >>> a.fill(2.0)
    >>> float(a.data.sum())
    12.0
    """

    __slots__ = ("_array", "_shape", "_dtype", "_zeroing", "_copy", "__weakref__")

    def __init__(self, shape: Any = (), dtype: Any = np.float32) -> None:
        self._shape: Shape = _as_shape(shape)
        self._dtype = np.dtype(dtype)
        self._array: Any = None  # np.ndarray, a device array (torch.Tensor) or None
        self._zeroing = False
        self._copy: Any = None  # (head, its version, the head cast to another dtype) or None

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_numpy_array(cls, array: Any) -> NdArray:
        """A new NdArray holding a copy of ``array`` (dtype kept)."""
        array = np.array(array)
        nd = cls(array.shape, array.dtype)
        nd._array = array
        return nd

    # -- properties -----------------------------------------------------------------------------------
    @property
    def shape(self) -> Shape:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        array = self._array
        if array is None:
            return self._dtype
        if type(array) is np.ndarray:
            return array.dtype
        from nnl.backends.torch.arrays import host_dtype

        return host_dtype(array)

    @property
    def strides(self) -> tuple[int, ...]:
        return self.data.strides

    @property
    def zeroing(self) -> bool:
        """True while a ``zero()`` is pending (the memory has not been touched since)."""
        return self._zeroing

    @property
    def clear_called(self) -> bool:
        return self._array is None and not self._zeroing

    @property
    def data(self) -> np.ndarray:
        """The NumPy array (a view: writing to it writes the buffer). Allocated with zeros on first use."""
        array = self._array
        if array is None or self._zeroing:
            return self._materialize()
        if type(array) is not np.ndarray:
            return self._to_host()
        return array

    @data.setter
    def data(self, value: Any) -> None:
        """Set every element (nnabla's write-only access): a device array is not copied to the host first."""
        array = self._array
        if array is not None and type(array) is not np.ndarray and array.device.type != "cpu" and not self._zeroing:
            host = np.empty(self._shape, self.dtype)
            host[...] = value
            self._array, self._copy = host, None
            return
        self.data[...] = value

    def _to_host(self) -> np.ndarray:
        """Move a device array to the host (the host copy becomes the only copy)."""
        from nnl.backends.torch.arrays import to_numpy

        self._array = to_numpy(self._array)
        return self._array

    @property
    def device_array(self) -> Any:
        """The buffer as it is now (a NumPy array, a device array, or None when not allocated)."""
        return None if self._zeroing else self._array

    def _materialize(self) -> np.ndarray:
        if type(self._array) is not np.ndarray or self._array.shape != self._shape:
            self._array = np.zeros(self._shape, self._dtype)
        elif self._zeroing:
            self._array.fill(0)
        self._zeroing = False
        return self._array

    # -- nnabla API ------------------------------------------------------------------------------------
    def get_data(self, mode: str = "rw", dtype: Any = None) -> np.ndarray:
        """The array for reading and/or writing; ``dtype`` casts the buffer first. ``'r'`` of a device array gives a
        read-only host copy and leaves the array on its device (no upload before the next kernel)."""
        if mode not in ("r", "w", "rw"):
            raise ValueError(f"NdArray.get_data: mode must be 'r', 'w' or 'rw', got {mode!r}.")
        array = self._array
        if mode == "r" and dtype is None and array is not None and not self._zeroing and type(array) is not np.ndarray:
            from nnl.backends.torch.arrays import to_numpy

            host = to_numpy(array)
            host = host.view()  # a CPU tensor's values are shared: the view is what becomes read-only
            host.flags.writeable = False
            return host
        return self.cast(dtype) if dtype is not None else self.data

    def cast(self, dtype: Any, ctx: Any = None) -> np.ndarray:
        """Cast the buffer to ``dtype`` in place and return it (tests write ``v.data.cast(np.int32)[...] = t``)."""
        dtype = np.dtype(dtype)
        array = self.data
        if array.dtype != dtype:
            array = array.astype(dtype)
            self._array = array
        self._dtype = dtype
        return array

    def zero(self) -> None:
        """Mark the array as zero; memory is filled on the next access."""
        self._zeroing = True

    def fill(self, value: float) -> None:
        self._zeroing = False
        array = self._array
        if array is not None and type(array) is not np.ndarray and array.shape == self._shape:
            array.fill_(value)  # a device array is filled where it lives
            return
        if type(array) is not np.ndarray or array.shape != self._shape:
            self._array = np.empty(self._shape, self._dtype)
        self._array.fill(value)

    def clear(self) -> None:
        """Release the memory (nnabla's ``clear``)."""
        self._array = self._copy = None
        self._zeroing = False

    def copy_from(self, other: NdArray | np.ndarray) -> None:
        source = other.data if isinstance(other, NdArray) else np.asarray(other)
        if source.shape != self._shape:
            raise ValueError(f"NdArray.copy_from: shape {source.shape} does not match {self._shape}.")
        self._array = source.astype(source.dtype, copy=True)
        self._dtype = self._array.dtype
        self._zeroing = False

    def reshape(self, shape: Any, force: bool = False) -> None:
        """Change the shape; keeps the data when the size is unchanged, else drops it (or raises unless force)."""
        shape = _as_shape(shape)
        if shape == self._shape:
            return
        same_size = int(np.prod(shape, dtype=np.int64)) == self.size
        if not same_size and not force:
            raise ValueError(f"NdArray.reshape: cannot reshape {self._shape} to {shape} (sizes differ); use force=True.")
        self._shape = shape
        if self._array is not None:
            self._array = self._array.reshape(shape) if same_size else None

    def view(self, shape: Any) -> NdArray:
        nd = NdArray(shape, self.dtype)
        nd._array = self.data.reshape(nd._shape)
        return nd

    def _adopt(self, array: np.ndarray) -> None:
        """Take ``array`` as the buffer without copying (engine use)."""
        self._array = array
        self._zeroing = False

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        return f"<NdArray shape={self._shape} dtype={self.dtype}>"

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d NdArray")
        return self._shape[0]

    def __getitem__(self, key: Any) -> Any:
        from nnl.core import operators

        return operators.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value.data if isinstance(value, NdArray) else value


def _as_shape(shape: Any) -> Shape:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)
