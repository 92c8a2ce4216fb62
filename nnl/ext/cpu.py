"""The CPU extension: the NumPy reference backend (half precision computes in float32 on the CPU)."""

from __future__ import annotations

from typing import Any

from nnl.core.context import Context

_TYPE_CONFIGS = {"float": ["cpu:float"], "half": ["cpu:half", "cpu:float"], "mixed_half": ["cpu:half", "cpu:float"]}


def context(type_config: str = "float", **kw: Any) -> Context:
    """A CPU context; ``device_id`` and other device options are accepted and ignored."""
    if type_config not in _TYPE_CONFIGS:
        raise ValueError(f"cpu.context: type_config must be one of {sorted(_TYPE_CONFIGS)}, got {type_config!r}.")
    return Context(_TYPE_CONFIGS[type_config], array_class="CpuCachedArray", device_id="")


def array_classes() -> list[str]:
    return ["CpuCachedArray", "CpuArray"]


def get_devices() -> list[str]:
    return ["cpu"]


def get_device_count() -> int:
    return 1


def synchronize(**kw: Any) -> None:
    """Nothing to wait for on the CPU."""


def device_synchronize(device: str = "") -> None:
    """Nothing to wait for on the CPU."""


def clear_memory_cache() -> None:
    """NumPy manages host memory itself."""
