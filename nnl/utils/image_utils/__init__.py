"""Image files as NumPy arrays (nnabla's ``nnabla.utils.image_utils``), with Pillow as the backend.

Arrays are ``(height, width, channel)`` (or ``(height, width)`` for gray images) unless ``channel_first``; sizes are
``(width, height)``. Reading gives uint8, or uint16 with ``as_uint16=True`` (16-bit gray files keep their values);
writing takes uint8, or floats in [0, 1] with ``auto_scale=True``.

>>> import numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "x.png")
>>> imsave(path, np.full((4, 6, 3), 200, np.uint8))
>>> imread(path, channel_first=True).shape, imread(path, grayscale=True, size=(3, 2)).shape
((3, 4, 6), (2, 3))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnl.utils.image_utils import backend_events
from nnl.utils.image_utils._common import rescale_pixel_intensity
from nnl.utils.image_utils._pil_backend import PilBackend

__all__ = ["imread", "imsave", "imresize", "imwrite", "imload", "set_backend", "get_backend",
           "get_available_backends", "minmax_auto_scale", "backend_events"]

_BACKENDS = {"PilBackend": PilBackend}
_chosen: dict[str, str | None] = {"default": None, "last": None}


def set_backend(backend: str) -> None:
    """Use the backend named ``backend`` for every operation; an unknown name restores the automatic choice."""
    _chosen["default"] = backend if backend in _BACKENDS else None


def get_backend() -> str:
    """The backend set with :func:`set_backend`, else the one used last ('' before any use)."""
    return _chosen["default"] or _chosen["last"] or ""


def get_available_backends() -> list[str]:
    """Names of the installed backends."""
    return list(_BACKENDS)


def _backend() -> PilBackend:
    name = _chosen["default"] or "PilBackend"
    _chosen["last"] = name
    return _BACKENDS[name]()


def minmax_auto_scale(img: np.ndarray, as_uint16: bool) -> np.ndarray:
    """Stretch ``img`` from its [min, max] to [0, 255] as uint8 (or [0, 65535] as uint16)."""
    high, dtype = (65535, np.uint16) if as_uint16 else (255, np.uint8)
    return rescale_pixel_intensity(img, input_low=img.min(), input_high=img.max(), output_low=0, output_high=high,
                                   output_type=dtype)


def imread(path: Any, grayscale: bool = False, size: Sequence[int] | None = None, interpolate: str = "bilinear",
           channel_first: bool = False, as_uint16: bool = False, num_channels: int = -1, **kwargs: Any) -> np.ndarray:
    """Read an image file (path or binary file object) as an array.

    ``grayscale`` converts to one channel, ``size=(width, height)`` resizes with ``interpolate`` (nearest, box,
    bilinear, hamming, bicubic, lanczos), ``num_channels`` (-1 keeps the file's, 0 or 1 with grayscale, 3 or 4)
    sets the channels, ``return_palette_indices=True`` keeps a palette image's indices.
    """
    return _backend().imread(path, grayscale=grayscale, size=size, interpolate=interpolate,
                             channel_first=channel_first, as_uint16=as_uint16, num_channels=num_channels, **kwargs)


def imsave(path: Any, img: np.ndarray, channel_first: bool = False, as_uint16: bool = False, auto_scale: bool = True,
           **kwargs: Any) -> None:
    """Write ``img`` (uint8, or float in [0, 1] scaled by 255 with ``auto_scale``) to ``path``; format from the
    extension."""
    _backend().imsave(path, img, channel_first=channel_first, as_uint16=as_uint16, auto_scale=auto_scale, **kwargs)


def imresize(img: np.ndarray, size: Sequence[int], interpolate: str = "bilinear", channel_first: bool = False,
             **kwargs: Any) -> np.ndarray:
    """Resize ``img`` to ``size=(width, height)``; the dtype is kept."""
    return _backend().imresize(img, size, interpolate=interpolate, channel_first=channel_first, **kwargs)


imwrite = imsave
imload = imread
