"""The Pillow image backend (nnabla's ``PilBackend``), reading 8-bit and 16-bit images and writing 8-bit ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from nnl.utils.image_utils._common import (
    _imread_after,
    _imread_before,
    _imresize_after,
    _imresize_before,
    _imsave_before,
)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# modes numpy cannot take as they are: read them as the nearest common mode
_CONVERT = {"1": "L", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "PA": "RGBA", "La": "LA",
            "RGBa": "RGBA", "RGBX": "RGB"}


def _source_name(path: Any) -> str:
    return str(getattr(path, "name", path))


def _widen(gray: np.ndarray, num_channels: int, full_scale: int) -> np.ndarray:
    """A 2-D gray image as ``num_channels`` channels (4 adds an opaque alpha); -1 and 0 keep it 2-D."""
    if num_channels in (-1, 0):
        return gray
    if num_channels == 4:
        alpha = np.full(gray.shape, full_scale, gray.dtype)
        return np.stack([gray, gray, gray, alpha], axis=-1)
    return np.repeat(gray[..., np.newaxis], num_channels, axis=-1)


class PilBackend:
    """imread/imsave/imresize with Pillow; the arguments and results are nnabla's (see ``nnl.utils.image_utils``)."""

    name = "PilBackend"
    interpolations = {
        "nearest": Image.Resampling.NEAREST,
        "box": Image.Resampling.BOX,
        "bilinear": Image.Resampling.BILINEAR,
        "hamming": Image.Resampling.HAMMING,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
    }

    def imread(self, path: Any, grayscale: bool = False, size: Sequence[int] | None = None,
               interpolate: str = "bilinear", channel_first: bool = False, as_uint16: bool = False,
               num_channels: int = -1, return_palette_indices: bool = False) -> np.ndarray:
        _imread_before(grayscale, num_channels)
        try:
            image = Image.open(path, mode="r")
        except FileNotFoundError:
            raise
        except Exception as error:  # Pillow's UnidentifiedImageError and friends
            raise ValueError(f"imread: cannot read {_source_name(path)!r} as an image ({error}).") from error
        with image:
            img = self._to_array(image, grayscale, num_channels, as_uint16, return_palette_indices)
        return _imread_after(img, size, interpolate, channel_first, self.imresize)

    @staticmethod
    def _to_array(image: Image.Image, grayscale: bool, num_channels: int, as_uint16: bool,
                  return_palette_indices: bool) -> np.ndarray:
        if image.mode in _SIXTEEN_BIT_MODES:
            gray16 = np.asarray(image)
            if gray16.size and (gray16.min() < 0 or gray16.max() > 65535):
                raise ValueError(f"imread: {image.mode!r} image with values outside [0, 65535] (32-bit integer "
                                 "images are not supported).")
            gray16 = gray16.astype(np.uint16)
            if as_uint16:
                return _widen(gray16, num_channels, 65535)
            return _widen((gray16 >> 8).astype(np.uint8), num_channels, 255)
        if image.mode == "F":
            raise ValueError("imread: 32-bit float images are not supported; store images as 8 or 16 bits.")
        if image.mode == "P" and not return_palette_indices:
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode in _CONVERT:
            image = image.convert(_CONVERT[image.mode])
        if grayscale:
            img = _widen(np.asarray(image.convert("L")), num_channels, 255)
        elif num_channels in (3, 4):
            img = np.asarray(image.convert("RGB" if num_channels == 3 else "RGBA"))
        else:
            img = np.asarray(image)
        img = np.array(img, dtype=np.uint8)
        return img.astype(np.uint16) * 256 if as_uint16 else img

    def imsave(self, path: Any, img: np.ndarray, channel_first: bool = False, as_uint16: bool = False,
               auto_scale: bool = True) -> None:
        img = _imsave_before(img, channel_first, auto_scale)
        if img.dtype == np.uint16 or as_uint16:
            raise ValueError("imsave: the Pillow backend writes 8-bit images only (uint16 or as_uint16=True asked "
                             "for 16 bits).")
        if img.dtype != np.uint8:
            img = (img * 255).astype(np.uint8)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        Image.fromarray(img).save(path)

    def imresize(self, img: np.ndarray, size: Sequence[int], interpolate: str = "bilinear",
                 channel_first: bool = False) -> np.ndarray:
        img = _imresize_before(img, size, channel_first, interpolate, list(self.interpolations))
        single_channel = img.ndim == 3 and img.shape[-1] == 1
        if single_channel:
            img = img[..., 0]
        resample = self.interpolations[interpolate]
        width_height = (int(size[0]), int(size[1]))
        if img.dtype == np.uint8:
            resized = np.asarray(Image.fromarray(img).resize(width_height, resample=resample))
        else:
            planes = img[..., np.newaxis] if img.ndim == 2 else img
            channels = [np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c], np.float32))
                                   .resize(width_height, resample=resample)) for c in range(planes.shape[-1])]
            resized = np.stack(channels, axis=-1) if img.ndim == 3 else channels[0]
            resized = np.asarray(resized, img.dtype)
        if single_channel:
            resized = resized[..., np.newaxis]
        return _imresize_after(resized, channel_first)
