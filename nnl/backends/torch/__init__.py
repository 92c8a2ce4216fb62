"""The torch backend: kernels for the torch (CPU) and cuda/cudnn (NVIDIA GPU) extensions.

Importing this package registers every kernel (one module per nnabla function category).
"""

from nnl.backends.torch import (  # noqa: F401  (imported for their registrations)
    k_activation,
    k_arithmetic,
    k_array,
    k_elementwise,
    k_loss,
    k_math,
    k_neural_network,
    k_normalization,
    k_quantization,
    k_random,
    k_recurrent,
    k_reduction,
)
from nnl.backends.torch.host_memory import keep_freed_memory

keep_freed_memory()
