"""An image-classification dataset from a folder of class sub-folders (nnabla_cli's
``create_image_classification_dataset``).

``SOURCE/<class>/<image>`` (bmp, jpg, jpeg, png, gif, tif, tiff) becomes ``OUTDIR/<class>/<image>.png``, resized to
``width`` x ``height`` (``trimming``: the centre is cropped to the target's aspect ratio first; ``padding``: black
borders are added to reach it) and converted to 1 (luma 0.299 R + 0.587 G + 0.114 B) or 3 channels. The label of a
class is its index in the sorted list of sub-folders that hold images. The CSV(s) have the header ``x:image,y:label``
and rows ``./<class>/<image>.png,<label>``; with a second file, its share of the (optionally shuffled) list is the
tail, ``ratio2`` percent (nnabla's rule: the first file gets ``N * (100 - ratio2) // 100`` rows).
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nnl.logger import logger

__all__ = ["IMAGE_EXTENSIONS", "ImageEntry", "find_images", "fit_image", "convert_channels", "split_counts",
           "create_image_classification_dataset"]

IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")
MODES = ("trimming", "padding")


@dataclass
class ImageEntry:
    """One source image: its path relative to the source folder, the class label, and its output path relative to
    the output folder."""

    source: str
    label: int
    output: str


def find_images(source_dir: str) -> tuple[list[str], list[ImageEntry]]:
    """The class names (sorted sub-folders holding at least one image) and the images, sorted by class then name."""
    if not os.path.isdir(source_dir):
        raise FileNotFoundError(f"source folder {source_dir!r} does not exist or is not a folder.")
    folders = sorted(d for d in os.listdir(source_dir) if os.path.isdir(os.path.join(source_dir, d)))
    if not folders:
        raise ValueError(f"{source_dir!r} has no sub-folders; put the images of each class in a sub-folder named "
                         "after the class (SOURCE/cat/*.jpg, SOURCE/dog/*.jpg, ...).")
    classes: list[str] = []
    entries: list[ImageEntry] = []
    for folder in folders:
        path = os.path.join(source_dir, folder)
        names = sorted(n for n in os.listdir(path)
                       if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(path, n)))
        if not names:
            continue
        label = len(classes)
        classes.append(folder)
        taken: set[str] = set()
        for name in names:
            output = os.path.splitext(name)[0] + ".png"
            if output in taken:  # a.jpg and a.png in one class: keep both
                output = name + ".png"
            taken.add(output)
            entries.append(ImageEntry(f"{folder}/{name}", label, f"{folder}/{output}"))
    if not entries:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the sub-folders of {source_dir!r} "
                         f"({', '.join(folders)}).")
    return classes, entries


def fit_image(image: np.ndarray, width: int, height: int, mode: str = "trimming") -> np.ndarray:
    """Resize ``image`` (``(H, W)`` or ``(H, W, C)`` uint8) to ``height`` x ``width``, first cropping its centre
    (``trimming``) or padding it with black (``padding``) to the target aspect ratio."""
    from nnl.utils.image_utils import imresize

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if mode == "trimming":
        if h * width > height * w:  # too tall: crop rows
            keep = int(w * height / width)
            top = (h - keep) // 2
            image = image[top:top + keep]
        else:
            keep = int(h * width / height)
            left = (w - keep) // 2
            image = image[:, left:left + keep]
    else:
        if h * width < height * w:  # too wide: pad rows
            target = int(w * height / width)
            pad = [((target - h) // 2, target - h - (target - h) // 2), (0, 0)]
        else:
            target = int(h * width / height)
            pad = [(0, 0), ((target - w) // 2, target - w - (target - w) // 2)]
        image = np.pad(image, pad + [(0, 0)] * (image.ndim - 2), mode="constant")
    return imresize(image, size=(width, height))


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """``image`` as ``(H, W)`` (``channels=1``, luma with nnabla's weights) or ``(H, W, 3)`` (``channels=3``);
    an alpha channel is dropped."""
    if image.ndim == 3 and image.shape[2] in (2, 4):  # gray+alpha / RGBA
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if channels == 1:
        if image.ndim == 3:
            image = np.dot(image[..., :3].astype(np.float64), [0.299, 0.587, 0.114]).astype(np.uint8)
        return image
    if channels == 3:
        return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image
    raise ValueError(f"channels must be 1 or 3, got {channels}.")


def _convert(source_dir: str, outdir: str, entry: ImageEntry, channels: int, width: int, height: int,
             mode: str) -> str | None:
    """Convert one image; the reason it failed, or None."""
    from nnl.parameter_io import write_bytes
    from nnl.utils.image_utils import imread

    source = os.path.join(source_dir, entry.source)
    try:
        image = imread(source)
    except Exception as e:  # Pillow raises many kinds for a broken file
        return f"cannot read {source!r} as an image ({type(e).__name__}: {e})"
    if image.ndim not in (2, 3) or image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            return f"{source!r}: unsupported image of shape {image.shape} and type {image.dtype}"
    image = convert_channels(fit_image(image, width, height, mode), channels)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    target = os.path.join(outdir, entry.output)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_bytes(target, buffer.getvalue())
    return None


def split_counts(total: int, ratio1: int | None, ratio2: int | None, two_files: bool) -> tuple[int, int]:
    """Rows in the first and second CSV. ``ratio2`` (percent) decides, else ``100 - ratio1``; without a second
    file every row goes to the first."""
    for name, ratio in (("ratio1", ratio1), ("ratio2", ratio2)):
        if ratio is not None and not 0 <= ratio <= 100:
            raise ValueError(f"{name} must be a percentage in 0-100, got {ratio}.")
    if ratio1 is not None and ratio2 is not None and ratio1 + ratio2 != 100:
        raise ValueError(f"ratio1 + ratio2 must be 100, got {ratio1} + {ratio2}.")
    if not two_files:
        if ratio2:
            raise ValueError(f"ratio2={ratio2} needs a second output file (-f2).")
        return total, 0
    second = ratio2 if ratio2 is not None else (100 - ratio1 if ratio1 is not None else 0)
    first = total * (100 - second) // 100
    return first, total - first


def _write_csv(path: str, rows: Sequence[ImageEntry]) -> None:
    from nnl.parameter_io import write_bytes

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["x:image", "y:label"])
    writer.writerows((f"./{e.output}", e.label) for e in rows)
    write_bytes(path, text.getvalue().encode("utf-8"))


def create_image_classification_dataset(
    source_dir: str, outdir: str, channels: int, width: int, height: int, mode: str = "trimming",
    shuffle: bool = False, seed: int | None = None, file1: str = "train.csv", ratio1: int | None = None,
    file2: str | None = None, ratio2: int | None = None, skip_unreadable: bool = False, progress: bool = True,
    num_threads: int | None = None,
) -> list[str]:
    """Convert ``source_dir`` (one sub-folder per class) into PNGs + CSV(s) in ``outdir``; returns the CSV paths
    written (a file that would get no rows is not written). An unreadable image raises ValueError naming it, or is
    left out with a warning when ``skip_unreadable``."""
    from tqdm import tqdm

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {width}x{height}.")
    if os.path.abspath(source_dir) == os.path.abspath(outdir):
        raise ValueError(f"the output folder {outdir!r} is the source folder; choose another one.")
    classes, entries = find_images(source_dir)
    first, second = split_counts(len(entries), ratio1, ratio2, file2 is not None)
    os.makedirs(outdir, exist_ok=True)
    workers = num_threads or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        jobs = pool.map(lambda e: _convert(source_dir, outdir, e, channels, width, height, mode), entries)
        problems = list(tqdm(jobs, total=len(entries), desc="images", unit="img", disable=None if progress else True))
    failed = [(e, p) for e, p in zip(entries, problems) if p is not None]
    if failed and not skip_unreadable:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise ValueError(f"{failed[0][1]}{more}; fix or remove it, or leave unreadable images out with "
                         "--skip-unreadable.")
    for _, problem in failed:
        logger.warning(f"left out: {problem}")
    kept = [e for e, p in zip(entries, problems) if p is None]
    if len(kept) != len(entries):
        first, second = split_counts(len(kept), ratio1, ratio2, file2 is not None)
    if shuffle:
        random.Random(seed).shuffle(kept)
    written = []
    for name, rows in ((file1, kept[:first]), (file2, kept[first:first + second])):
        if name is None:
            continue
        if not rows:
            logger.warning(f"{name}: no rows at this ratio; not written.")
            continue
        path = os.path.join(outdir, name)
        _write_csv(path, rows)
        written.append(path)
    logger.info(f"{len(kept)} images of {len(classes)} classes ({', '.join(classes)}) in {outdir}")
    return written
