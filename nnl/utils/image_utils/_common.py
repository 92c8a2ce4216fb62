"""Argument checks and pixel-range helpers shared by the image backends (nnabla's ``backend_events.common``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnl.logger import logger

NUM_CHANNELS = (-1, 0, 1, 3, 4)


def normalize_pixel_intensity(img: np.ndarray, input_low: float, input_high: float) -> np.ndarray:
    """Map ``[input_low, input_high]`` to ``[0, 1]``; a constant image maps to all 0 (if 0) or all 1."""
    span = input_high - input_low
    if span == 0:
        return img if input_low == 0 else img / input_low
    return (img - input_low) / span


def rescale_pixel_intensity(img: np.ndarray, input_low: float = 0, input_high: float = 255, output_low: float = 0,
                            output_high: float = 255, output_type: Any = None) -> np.ndarray:
    """Linearly map pixel values from ``[input_low, input_high]`` to ``[output_low, output_high]`` as ``output_type``."""
    if not isinstance(img, np.ndarray):
        raise ValueError(f"rescale_pixel_intensity: img must be a numpy.ndarray, got {type(img).__name__}.")
    output_type = img.dtype if output_type is None else output_type
    if input_low == output_low and output_low == output_high:
        return np.asarray(img, output_type)
    scaled = normalize_pixel_intensity(img, input_low, input_high) * (output_high - output_low) + output_low
    return scaled.astype(output_type)


def upscale_pixel_intensity(img: np.ndarray, as_uint16: bool) -> np.ndarray:
    """uint8 -> uint16 (x256) when ``as_uint16``; float in [0, 1] -> uint8 (x255) or uint16 (x65535)."""
    if img.dtype == np.uint16:
        return img
    if img.dtype == np.uint8:
        return np.asarray(img, np.uint16) * 256 if as_uint16 else img
    return np.asarray(img * (65535 if as_uint16 else 255), np.uint16 if as_uint16 else np.uint8)


def check_type_and_cast_if_necessary(img: np.ndarray, as_uint16: bool) -> np.ndarray:
    """Refuse to save uint16 as 8 bits; cast to uint16 (without scaling) when ``as_uint16`` asks for it."""
    if not as_uint16 and img.dtype == np.uint16:
        raise ValueError("imsave: img is uint16 but as_uint16=False; cast it to uint8 yourself (values in [0, 255]) "
                         "or pass as_uint16=True.")
    if as_uint16 and img.dtype != np.uint16:
        logger.warning("imsave: saving a non-uint16 image as uint16 without scaling.")
        img = np.asarray(img, np.uint16)
    return img


def _imread_before(grayscale: bool, num_channels: int) -> None:
    if num_channels not in NUM_CHANNELS:
        raise ValueError(f"imread: num_channels must be one of {list(NUM_CHANNELS)}, got {num_channels}.")
    if not grayscale and num_channels in (0, 1):
        raise ValueError(f"imread: num_channels={num_channels} needs grayscale=True; with grayscale=False use "
                         "-1, 3 or 4.")


def _imread_after(img: np.ndarray, size: Sequence[int] | None, interpolate: str, channel_first: bool,
                  imresize: Callable[..., np.ndarray]) -> np.ndarray:
    if size is not None:
        img = imresize(img, size, interpolate=interpolate)
    if channel_first and img.ndim == 3:
        img = img.transpose((2, 0, 1))
    return img


def _imsave_before(img: np.ndarray, channel_first: bool, auto_scale: bool) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise ValueError(f"imsave: img must be a numpy.ndarray, got {type(img).__name__}.")
    if img.ndim not in (2, 3):
        raise ValueError(f"imsave: img must be 2-D (H, W) or 3-D, got shape {img.shape}.")
    if img.dtype not in (np.uint8, np.uint16):
        if not auto_scale:
            raise ValueError(f"imsave: a {img.dtype} image needs auto_scale=True (values in [0, 1] are scaled up).")
        if np.any(img < 0) or np.any(img > 1):
            raise ValueError(f"imsave: a {img.dtype} image must have values in [0, 1], got "
                             f"[{img.min()}, {img.max()}]; use uint8/uint16 or minmax_auto_scale().")
        img = np.asarray(img, np.float32)
    if channel_first and img.ndim == 3:
        img = img.transpose((1, 2, 0))
    if img.ndim == 3 and img.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"imsave: an image has 1 to 4 channels, got shape {img.shape} "
                         f"(channel_first={channel_first}).")
    return img


def _imresize_before(img: np.ndarray, size: Sequence[int], channel_first: bool, interpolate: str,
                     interpolations: Sequence[str]) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise ValueError(f"imresize: img must be a numpy.ndarray, got {type(img).__name__}.")
    if not isinstance(size, (list, tuple)):
        raise ValueError(f"imresize: size must be a (width, height) list or tuple, got {size!r}.")
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize: img must be 2-D (H, W) or 3-D, got shape {img.shape}.")
    if interpolate not in interpolations:
        raise ValueError(f"imresize: unknown interpolate={interpolate!r}; choose one of {sorted(interpolations)}.")
    if img.dtype not in (np.uint8, np.uint16):
        img = np.asarray(img, np.float32)
    if channel_first and img.ndim == 3:
        img = img.transpose((1, 2, 0))
    if img.ndim == 3 and img.shape[0] * img.shape[1] == 1:
        # a 1x1 multi-channel image cannot be made into a Pillow image; tile it to 2x2 first (as nnabla does)
        img = np.tile(img, (2, 2, 1))
    return img


def _imresize_after(img: np.ndarray, channel_first: bool) -> np.ndarray:
    return img.transpose((2, 0, 1)) if channel_first and img.ndim == 3 else img
