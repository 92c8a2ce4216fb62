"""Contexts of the torch-based extensions (``torch`` on the CPU, ``cuda`` and ``cudnn`` on NVIDIA GPUs)."""

from __future__ import annotations

from typing import Any

from nnl.core.context import Context

TYPE_CONFIGS = ("float", "half", "mixed_half", "bfloat16")


def _import_torch(extension: str) -> Any:
    try:
        import torch
    except ImportError as error:
        raise ValueError(
            f"get_extension_context({extension!r}): the torch extension needs PyTorch, which is not installed "
            f"(pip install 'nnl[torch]'); available without it: ['cpu']."
        ) from error
    import nnl.backends.torch  # noqa: F401  (registers the kernels)

    return torch


def make_context(extension: str, device_id: Any = "0", type_config: str = "float") -> Context:
    """A Context whose backends are ``<extension>:<type_config>`` then its float fallback then ``cpu:float``."""
    torch = _import_torch(extension)
    if type_config not in TYPE_CONFIGS:
        raise ValueError(f"get_extension_context({extension!r}): type_config must be one of {list(TYPE_CONFIGS)}, got {type_config!r}.")
    if extension != "torch":
        if not torch.cuda.is_available():
            raise ValueError(
                f"get_extension_context({extension!r}): CUDA is not available on this machine "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); use 'torch' (CPU) or 'cpu'."
            )
        count = torch.cuda.device_count()
        if not 0 <= int(device_id or 0) < count:
            raise ValueError(f"get_extension_context({extension!r}): device_id={device_id!r} but this machine has {count} CUDA device(s) (0..{count - 1}).")
    type_config = "half" if type_config == "mixed_half" else type_config
    backends = [f"{extension}:{type_config}"] + ([f"{extension}:float"] if type_config != "float" else []) + ["cpu:float"]
    array_class = "TorchCpuArray" if extension == "torch" else "CudaCachedArray"
    return Context(backends, array_class=array_class, device_id=str(device_id if extension != "torch" else "0"))


def synchronize(extension: str, device_id: Any = "0") -> None:
    torch = _import_torch(extension)
    if extension != "torch":
        torch.cuda.synchronize(int(device_id or 0))


def device_count(extension: str) -> int:
    torch = _import_torch(extension)
    return 1 if extension == "torch" else torch.cuda.device_count()


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def cuda_available() -> bool:
    if not torch_available():
        return False
    import torch

    return bool(torch.cuda.is_available())


class TorchExtension:
    """The module-level API of one torch-based extension (``nnl.ext.torch``, ``cuda``, ``cudnn`` bind its methods)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def context(self, device_id: Any = "0", type_config: str = "float", **kw: Any) -> Context:
        return make_context(self.name, device_id, type_config)

    def available(self) -> bool:
        """True when this extension can run here (PyTorch installed; for cuda/cudnn, with a CUDA device)."""
        return torch_available() if self.name == "torch" else cuda_available()

    def get_device_count(self) -> int:
        return device_count(self.name)

    def get_devices(self) -> list[str]:
        return [str(i) for i in range(self.get_device_count())]

    def synchronize(self, device_id: Any = "0", **kw: Any) -> None:
        synchronize(self.name, device_id)

    def device_synchronize(self, device: Any = "0") -> None:
        synchronize(self.name, device)

    def clear_memory_cache(self) -> None:
        if self.name != "torch":
            _import_torch(self.name).cuda.empty_cache()
