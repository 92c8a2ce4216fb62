"""nnabla's ``image_utils.backend_events.common``: the pixel-range helpers (defined in ``image_utils._common``)."""

from nnl.utils.image_utils._common import (
    check_type_and_cast_if_necessary,
    normalize_pixel_intensity,
    rescale_pixel_intensity,
    upscale_pixel_intensity,
)

__all__ = ["check_type_and_cast_if_necessary", "normalize_pixel_intensity", "rescale_pixel_intensity",
           "upscale_pixel_intensity"]
