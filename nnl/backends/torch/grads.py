"""Writing and accumulating gradients that are torch tensors into NdArrays."""

from __future__ import annotations

import numpy as np
import torch

from nnl.core.ndarray import NdArray


def store_tensor_grad(nd: NdArray, grad: torch.Tensor, accumulate: bool, master: bool) -> None:
    """``nd`` = ``grad`` (or ``nd`` += ``grad``), on ``grad``'s device; float32 for master (leaf) gradients."""
    if master and grad.dtype != torch.float32 and grad.is_floating_point():
        grad = grad.float()
    existing = nd._array
    if accumulate and existing is not None and not nd._zeroing:
        if type(existing) is np.ndarray:
            if existing.shape != nd._shape:
                nd._array = grad.reshape(nd._shape).clone()
                return
            if grad.device.type == "cpu":
                torch.from_numpy(existing).add_(grad.reshape(existing.shape))  # in place, on the host memory
                return
            existing = torch.from_numpy(existing).to(grad.device)
            nd._array = existing
        elif existing.device != grad.device:
            existing = existing.to(grad.device)
            nd._array = existing
        existing.add_(grad.reshape(existing.shape))
        return
    if tuple(grad.shape) != nd._shape:
        grad = grad.expand(nd._shape)
    nd._array = grad.contiguous()
    nd._zeroing = False
