"""Keeping freed host memory in the process, as nnabla's caching CPU allocator does.

Torch's CPU kernels allocate every activation and gradient with ``malloc``. glibc hands large freed blocks back to
the operating system (``munmap``, heap trimming) and the next training step takes the same memory back page by page:
LeNet at batch 64 paid ~1,700 page faults and about a quarter of its step time for it on a 2-core VM. Fixed
thresholds, the ceiling of glibc's own adaptive scheme, keep blocks up to 32 MiB in the heap and up to 256 MiB of
free memory at its top, so a step reuses the previous step's memory.

Set ``NNL_HOST_MALLOC=default`` to leave the allocator as glibc configures it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Set the thresholds once per process (glibc on Linux only); True when they were set."""
    if os.environ.get("NNL_HOST_MALLOC", "") == "default":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
