"""nnl.utils.image_utils (nnabla's image_utils on Pillow): shapes, dtypes, conversions, resizing, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnl.utils import image_utils
from nnl.utils.image_utils import imread, imresize, imsave, minmax_auto_scale

RNG = np.random.RandomState(0)
RGB = RNG.randint(0, 256, (6, 8, 3)).astype(np.uint8)
GRAY = RNG.randint(0, 256, (6, 8)).astype(np.uint8)


@pytest.mark.parametrize("img", [GRAY, RGB, RNG.randint(0, 256, (6, 8, 4)).astype(np.uint8)])
def test_png_round_trip(tmp_path: Path, img: np.ndarray) -> None:
    path = str(tmp_path / "a.png")
    imsave(path, img)
    back = imread(path)
    assert back.dtype == np.uint8 and np.array_equal(back, img)


def test_channel_first(tmp_path: Path) -> None:
    path = str(tmp_path / "a.png")
    imsave(path, RGB.transpose(2, 0, 1), channel_first=True)
    assert np.array_equal(imread(path, channel_first=True), RGB.transpose(2, 0, 1))
    assert np.array_equal(imread(path), RGB)


def test_grayscale_and_channels(tmp_path: Path) -> None:
    rgb, gray = str(tmp_path / "rgb.png"), str(tmp_path / "gray.bmp")
    imsave(rgb, RGB)
    imsave(gray, GRAY)
    assert imread(rgb, grayscale=True).shape == (6, 8)
    assert imread(rgb, grayscale=True, num_channels=1).shape == (6, 8, 1)
    assert imread(rgb, grayscale=True, num_channels=3, channel_first=True).shape == (3, 6, 8)
    assert imread(rgb, num_channels=4)[..., 3].min() == 255
    assert np.array_equal(imread(gray, num_channels=3)[..., 1], GRAY)
    for bad in (0, 1):
        with pytest.raises(ValueError, match="grayscale=True"):
            imread(rgb, num_channels=bad)
    with pytest.raises(ValueError, match="num_channels must be one of"):
        imread(rgb, num_channels=2)


def test_resize_on_read_and_interpolations(tmp_path: Path) -> None:
    path = str(tmp_path / "a.jpg")
    imsave(path, RGB)
    assert imread(path, size=(16, 12)).shape == (12, 16, 3)  # size is (width, height)
    assert imread(path, size=(4, 3), interpolate="nearest", channel_first=True).shape == (3, 3, 4)
    with pytest.raises(ValueError, match="unknown interpolate"):
        imread(path, size=(4, 3), interpolate="cubic-ish")


def test_float_images_are_auto_scaled(tmp_path: Path) -> None:
    path = str(tmp_path / "f.png")
    img = RNG.random_sample((5, 5)).astype(np.float32)
    imsave(path, img)
    assert np.array_equal(imread(path), (img * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        imsave(path, img + 2)
    with pytest.raises(ValueError, match="auto_scale=True"):
        imsave(path, img, auto_scale=False)


def test_sixteen_bit_gray(tmp_path: Path) -> None:
    path = str(tmp_path / "g16.png")
    img = (np.arange(12).reshape(3, 4) * 5000).astype(np.uint16)
    Image.fromarray(img).save(path)
    assert np.array_equal(imread(path, as_uint16=True), img)
    assert np.array_equal(imread(path), (img >> 8).astype(np.uint8))
    eight = str(tmp_path / "g8.png")
    imsave(eight, GRAY)
    assert np.array_equal(imread(eight, as_uint16=True), GRAY.astype(np.uint16) * 256)
    with pytest.raises(ValueError, match="8-bit images only"):
        imsave(path, img)


def test_palette_image(tmp_path: Path) -> None:
    path = str(tmp_path / "p.gif")
    Image.fromarray(RGB).convert("P").save(path)
    assert imread(path).shape == (6, 8, 3)
    assert imread(path, return_palette_indices=True).shape == (6, 8)


def test_imresize() -> None:
    assert imresize(RGB, (4, 3)).shape == (3, 4, 3) and imresize(RGB, (4, 3)).dtype == np.uint8
    assert imresize(RGB.transpose(2, 0, 1), (4, 3), channel_first=True).shape == (3, 3, 4)
    floats = RNG.random_sample((6, 8, 2)) - 10
    resized = imresize(floats, (16, 12))
    assert resized.shape == (12, 16, 2) and resized.dtype == np.float32 and resized.max() < -9
    assert imresize(np.full((1, 1, 3), 9, np.uint8), (2, 2)).tolist() == np.full((2, 2, 3), 9).tolist()
    assert imresize(GRAY[..., None], (4, 3)).shape == (3, 4, 1)
    with pytest.raises(ValueError, match="size must be"):
        imresize(RGB, 4)


def test_minmax_auto_scale_and_backends() -> None:
    img = np.linspace(-3, 5, 12).reshape(3, 4)
    assert minmax_auto_scale(img, False).dtype == np.uint8 and minmax_auto_scale(img, False).max() == 255
    assert minmax_auto_scale(img, True).max() == 65535 and minmax_auto_scale(img, True).min() == 0
    assert image_utils.get_available_backends() == ["PilBackend"]
    image_utils.set_backend("PilBackend")
    assert image_utils.get_backend() == "PilBackend"
    image_utils.set_backend("NoSuchBackend")  # back to the automatic choice
    rescale = image_utils.backend_events.common.rescale_pixel_intensity
    assert rescale(np.array([0.0, 0.5, 1.0]), 0, 1, 0, 255, np.uint8).tolist() == [0, 127, 255]


def test_file_objects_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    imsave(str(path), RGB)
    with open(path, "rb") as f:
        assert np.array_equal(imread(f), RGB)
    with pytest.raises(FileNotFoundError):
        imread(str(tmp_path / "missing.png"))
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read"):
        imread(str(tmp_path / "junk.png"))
