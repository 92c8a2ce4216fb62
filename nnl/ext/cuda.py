"""The ``cuda`` extension: torch kernels on an NVIDIA GPU (``get_extension_context('cuda', type_config='half')``)."""

from nnl.ext._torch_common import TorchExtension

_extension = TorchExtension("cuda")
context = _extension.context
available = _extension.available
get_device_count = _extension.get_device_count
get_devices = _extension.get_devices
synchronize = _extension.synchronize
device_synchronize = _extension.device_synchronize
clear_memory_cache = _extension.clear_memory_cache
