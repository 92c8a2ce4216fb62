"""The ``torch`` extension: torch kernels on the CPU (``get_extension_context('torch', type_config='half')``)."""

from __future__ import annotations

from typing import Any

from nnl.core.context import Context
from nnl.ext import _torch_common


def context(device_id: Any = "0", type_config: str = "float", **kw: Any) -> Context:
    return _torch_common.make_context("torch", device_id, type_config)


def available() -> bool:
    """True when this extension can run here (PyTorch installed)."""
    return _torch_common.torch_available()


def get_device_count() -> int:
    return _torch_common.device_count("torch")


def get_devices() -> list[str]:
    return [str(i) for i in range(get_device_count())]


def synchronize(device_id: Any = "0", **kw: Any) -> None:
    _torch_common.synchronize("torch", device_id)


def device_synchronize(device: Any = "0") -> None:
    _torch_common.synchronize("torch", device)


def clear_memory_cache() -> None:
    if "torch" != "torch":
        import torch

        torch.cuda.empty_cache()
