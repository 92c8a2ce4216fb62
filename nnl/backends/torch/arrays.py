"""Moving buffers between the host (NumPy) and torch devices.

On the CPU both directions are zero-copy views (``torch.from_numpy`` / ``Tensor.numpy``). A buffer read on the host
from a CUDA tensor becomes a host array (the head moves); the next device kernel uploads it again. Half and bfloat16
tensors read on the host give float32, as nnabla's ``.d`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from nnl.core.ndarray import NdArray

COMPUTE_DTYPES = {"float": torch.float32, "half": torch.float16, "bfloat16": torch.bfloat16}
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_NUMPY_DTYPES = {torch.float16: np.dtype(np.float32), torch.bfloat16: np.dtype(np.float32)}


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A host NumPy array with the tensor's values (a view of CPU float32/int tensors)."""
    tensor = tensor.detach()
    if tensor.dtype in _LOW_PRECISION:
        tensor = tensor.float()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    return tensor.numpy()


def host_dtype(tensor: torch.Tensor) -> np.dtype:
    """The NumPy dtype ``to_numpy`` gives for ``tensor``."""
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    return dtype if dtype is not None else torch.empty((), dtype=tensor.dtype).numpy().dtype


_TORCH_DTYPES: dict[np.dtype, torch.dtype] = {}


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    """The torch dtype of a NumPy dtype (cached: the lookup goes through an empty array)."""
    found = _TORCH_DTYPES.get(dtype)
    if found is None:
        found = _TORCH_DTYPES[dtype] = torch.from_numpy(np.empty(0, dtype)).dtype
    return found


def fetcher(device: torch.device, dtype: torch.dtype | None) -> Callable[[NdArray], torch.Tensor]:
    """A function giving an NdArray's buffer as a tensor on ``device``, floating data cast to ``dtype`` (if given).

    The tensor on ``device`` becomes the NdArray's head (a host head is wrapped without a copy on the CPU); a cast
    is kept as the NdArray's copy until the head changes."""
    on_cpu = device.type == "cpu"

    def fetch(nd: NdArray) -> torch.Tensor:
        array = nd._array
        if array is None or nd._zeroing:
            tensor = torch.zeros(nd._shape, dtype=torch_dtype(nd._dtype), device=device)
            nd._array, nd._zeroing = tensor, False
        elif type(array) is np.ndarray:
            try:
                tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
            except ValueError:  # negative strides (a reversed view): torch needs a copy
                tensor = torch.from_numpy(array.copy())
            if not on_cpu:
                tensor = tensor.to(device, non_blocking=True)
            nd._array = tensor
        else:
            tensor = array
            if tensor.device != device:
                tensor = tensor.to(device)
                nd._array = tensor
        if dtype is not None and tensor.dtype != dtype and tensor.is_floating_point():
            copy = nd._copy
            if copy is not None and copy[0] is tensor and copy[1] == tensor._version and copy[2].dtype == dtype:
                return copy[2]
            cast = tensor.to(dtype)
            nd._copy = (tensor, tensor._version, cast)
            return cast
        return tensor

    return fetch
