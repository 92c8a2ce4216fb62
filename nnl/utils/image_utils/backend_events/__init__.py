"""nnabla's ``image_utils.backend_events`` package: ``common`` holds the pixel-range helpers."""

from nnl.utils.image_utils.backend_events import common

__all__ = ["common"]
