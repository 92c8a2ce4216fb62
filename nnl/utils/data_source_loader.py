"""Reading dataset files (nnabla's ``nnabla.utils.data_source_loader``).

:class:`FileReader` opens a CSV's files wherever they are (local paths relative to the CSV, http(s) URLs, ``s3://``
with boto3); ``load(ext)`` picks the loader of a cell's file by extension: images -> ``(C, H, W)`` arrays, ``.csv`` ->
a float32 matrix, ``.npy`` -> the array, ``.wav`` -> ``(samples, channels)`` float32.
"""

from __future__ import annotations

import binascii
import contextlib
import csv
import io
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from nnl.logger import logger
from nnl.utils.image_utils import imread, imresize

__all__ = ["FileReader", "ResourceFileReader", "get_file_extension", "load", "load_image", "load_image_imread",
           "load_csv", "load_npy", "load_wav", "load_audio", "download", "get_data_home", "register_load_function"]

IMAGE_EXTENSIONS = (".bmp", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".dcm")


def _kind(uri: str) -> str:
    lower = uri[:8].lower()
    if lower.startswith("s3://"):
        return "s3"
    if lower.startswith(("http://", "https://")):
        return "http"
    return "file"


class FileReader:
    """Opens ``base_uri`` and files named relative to it: a local path, an http(s) URL or an ``s3://`` URI."""

    def __init__(self, base_uri: str) -> None:
        self._base_uri = str(base_uri)
        self.base_ext = os.path.splitext(self._base_uri)[1].lower()
        self._file_type = _kind(self._base_uri)
        self._s3_bucket: Any = None
        if self._file_type == "s3":
            try:
                import boto3
            except ImportError as error:
                raise ImportError(f"FileReader: reading {self._base_uri!r} needs boto3 (pip install boto3).") from error
            bucket = self._base_uri.split("://", 1)[1].split("/", 1)[0]
            self._s3_bucket = boto3.session.Session().resource("s3").Bucket(bucket)

    def resolve(self, filename: str | None = None) -> str:
        """The full path or URI of ``filename`` (relative names are relative to the base URI's directory)."""
        if filename is None:
            return self._base_uri
        filename = filename.replace("\\", "/")
        if self._file_type == "file":
            base_dir = os.path.dirname(self._base_uri.replace("\\", "/"))
            return os.path.abspath(os.path.join(base_dir, filename))
        if self._file_type == "s3":
            joined = urllib.parse.urljoin(self._base_uri.replace("s3://", "http://", 1), filename)
            return joined.replace("http://", "s3://", 1)
        return urllib.parse.urljoin(self._base_uri, filename)

    def _read_remote(self, uri: str) -> bytes:
        if self._file_type == "s3":
            key = uri.split("://", 1)[1].split("/", 1)[1]
            return self._s3_bucket.Object(key).get()["Body"].read()
        with urllib.request.urlopen(uri) as response:
            return response.read()

    @contextlib.contextmanager
    def open(self, filename: str | None = None, textmode: bool = False,
             encoding: str = "utf-8-sig") -> Iterator[IO[Any]]:
        """Open the base file (or ``filename`` relative to it) in binary or text mode; ``f.ext`` is its extension."""
        uri = self.resolve(filename)
        f: Any
        if self._file_type == "file":
            f = open(uri, encoding=encoding) if textmode else open(uri, "rb")
        else:
            data = self._read_remote(uri)
            f = io.StringIO(data.decode(encoding)) if textmode else io.BytesIO(data)
        try:
            with contextlib.suppress(AttributeError):
                f.ext = os.path.splitext(uri)[1].lower()
            yield f
        finally:
            f.close()

    @contextlib.contextmanager
    def open_cache(self, cache_name: str) -> Iterator[Any]:
        """Open the ``.h5`` cache file ``cache_name`` of the cache directory that is the base URI."""
        import h5py

        if self._file_type == "file":
            path = os.path.abspath(os.path.join(self._base_uri, cache_name.replace("\\", "/")))
            with h5py.File(path, "r") as h5:
                yield h5
            return
        data = self._read_remote(urllib.parse.urljoin(self._base_uri.rstrip("/") + "/", cache_name))
        with h5py.File(io.BytesIO(data), "r") as h5:
            yield h5

    def listdir(self) -> list[str] | None:
        """The ``.h5`` files of the base directory, sorted (None for http, where there is no listing)."""
        if self._file_type == "http":
            return None
        if self._file_type == "s3":
            prefix = self._base_uri.split("://", 1)[1].split("/", 1)[1].rstrip("/") + "/"
            names = [os.path.basename(o.key) for o in self._s3_bucket.objects.filter(Prefix=prefix, Delimiter="/")]
        else:
            names = os.listdir(self._base_uri)
        return sorted(n for n in names if os.path.splitext(n)[1].lower() == ".h5")


_SIGNATURES = {
    ".bmp": ("424d", 0), ".jpg": ("ffd8ff", 0), ".png": ("89504e470d0a1a0a", 0), ".tif": ("492049", 0),
    ".gif": ("4749463837", 0), ".ico": ("00000100", 0), ".dcm": ("4449434d", 0x80), ".wav": ("52494646", 0),
}


def get_file_extension(source: Any) -> str:
    """The lower-case extension of a path or named file object; for an unnamed stream, guessed from its magic bytes."""
    if isinstance(source, (str, os.PathLike)):
        return os.path.splitext(str(source))[1].lower()
    if hasattr(source, "read"):
        if hasattr(source, "name") and isinstance(source.name, str):
            return os.path.splitext(source.name)[1].lower()
        head = source.read(0x90)
        source.seek(0)
        hexed = binascii.hexlify(head).decode("ascii") if isinstance(head, bytes) else ""
        for ext, (magic, offset) in _SIGNATURES.items():
            if hexed[2 * offset:].startswith(magic):
                return ext
        return ".gif" if hexed.startswith("4749463839") else ""
    return ""


class ResourceFileReader:
    """A path, binary file object or BytesIO with its extension (``.ext``) and ``open()`` giving a binary stream."""

    def __init__(self, source: Any) -> None:
        self._source = source
        if isinstance(source, str):
            self.handler: Any = FileReader(source)
            self.ext = self.handler.base_ext
            if not self.ext:
                with self.handler.open() as f:
                    self.ext = get_file_extension(f)
        elif hasattr(source, "read") and self._binary_and_seekable(source):
            self.handler = source
            self.ext = get_file_extension(source)
        else:
            raise ValueError(f"ResourceFileReader takes a path, a binary file object or BytesIO, not "
                             f"{type(source).__name__} (open files in 'rb' mode).")

    @staticmethod
    def _binary_and_seekable(source: Any) -> bool:
        try:
            source.seek(0)
            first = source.read(1)
            source.seek(0)
        except Exception:
            return False
        return not isinstance(first, str)

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if isinstance(self.handler, FileReader):
            with self.handler.open() as f:
                yield f
            return
        self.handler.seek(0)
        with contextlib.suppress(AttributeError):
            self.handler.ext = self.ext
        yield self.handler
        self.handler.seek(0)


def _is_sixteen_bit(file: Any) -> bool:
    from PIL import Image

    position = file.tell() if hasattr(file, "tell") else None
    try:
        with Image.open(file) as image:
            return image.mode.startswith("I;16") or image.mode == "I"
    except Exception:
        return False
    finally:
        if position is not None:
            file.seek(position)


def load_image_imread(file: Any, shape: tuple[int, ...] | None = None, max_range: float = 1.0) -> np.ndarray:
    """An image file as ``(C, H, W)`` (gray files give C=1), resized to ``shape`` if given.

    ``max_range < 0`` keeps the raw uint8 (uint16 for 16-bit files) values; otherwise the values are scaled to
    ``[0, max_range]`` as float32.
    """
    sixteen = hasattr(file, "seek") and _is_sixteen_bit(file)
    img = imread(file, as_uint16=sixteen)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
    height, width, channels = img.shape
    if shape is not None:
        out_channels, out_height, out_width = shape
        if out_channels != channels:
            raise ValueError(f"load_image: the file has {channels} channel(s) but shape {tuple(shape)} asks for "
                             f"{out_channels}.")
        if (out_height, out_width) != (height, width):
            img = imresize(img, (out_width, out_height))
    img = img.transpose(2, 0, 1)
    if max_range < 0:
        return img
    full = 65535.0 if img.dtype == np.uint16 else 255.0
    return (img.astype(np.float32) * np.float32(max_range / full)).astype(np.float32)


def load_image(file: Any, shape: tuple[int, ...] | None = None, normalize: bool = False) -> np.ndarray:
    """An image as ``(C, H, W)``: float32 in [0, 1] with ``normalize``, else the raw integer values."""
    return load_image_imread(file, shape, 1.0 if normalize else -1)


def load_csv(file: Any, shape: tuple[int, ...] | None = None, normalize: bool = False) -> np.ndarray:
    """A headerless numeric CSV file as a float32 matrix (rows x columns), reshaped to ``shape`` if given."""
    raw = file.read()
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    name = getattr(file, "name", "the CSV file")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError(f"load_csv: {name!r} has rows of different lengths {sorted(widths)}.")
    try:
        matrix = np.array([[float(value) for value in row] for row in rows], dtype=np.float32)
    except ValueError as error:
        raise ValueError(f"load_csv: {name!r}: {error}") from error
    return matrix if shape is None else matrix.reshape(shape)


def load_npy(path: Any, shape: tuple[int, ...] | None = None, normalize: bool = False) -> np.ndarray:
    """A ``.npy`` file's array (reshaped to ``shape`` if given)."""
    array = np.load(path, allow_pickle=False)
    return array if shape is None else array.reshape(shape)


def load_wav(path: Any, shape: tuple[int, ...] | None = None, normalize: bool = False) -> np.ndarray:
    """A ``.wav`` file's samples as float32 ``(samples, channels)``, with the file's sample values (as nnabla)."""
    import scipy.io.wavfile

    samples = scipy.io.wavfile.read(path)[1]
    samples = samples.reshape(-1, 1) if samples.ndim == 1 else samples
    samples = samples.astype(np.float32)
    return samples if shape is None else samples.reshape(shape)


load_audio = load_wav

_load_functions: dict[str, Callable[..., np.ndarray]] = {
    **dict.fromkeys(IMAGE_EXTENSIONS, load_image), ".csv": load_csv, ".npy": load_npy, ".wav": load_audio,
}


def register_load_function(ext: str, func: Callable[..., np.ndarray]) -> None:
    """Load cells with extension ``ext`` (e.g. ``".exr"``) with ``func(file, shape=None, normalize=False)``."""
    _load_functions[ext.lower()] = func


def load(ext: str) -> Callable[..., np.ndarray]:
    """The loader for files with extension ``ext`` (``".png"``...); ValueError for an unsupported one."""
    if ext in _load_functions:
        return _load_functions[ext]
    raise ValueError(f'File format with extension "{ext}" is not supported (supported: '
                     f'{", ".join(sorted(_load_functions))}).')


def get_data_home() -> str:
    """``~/nnabla_data`` (created if missing): where downloaded datasets are kept, shared with nnabla."""
    home = os.path.expanduser("~/nnabla_data")
    if home == "/nnabla_data":
        home = "./nnabla_data"
    os.makedirs(home, exist_ok=True)
    return home


def download(url: str, output_file: str | None = None, open_file: bool = True,
             allow_overwrite: bool = False) -> IO[bytes] | None:
    """Download ``url`` into the data home (or ``output_file``) unless already there; return it opened if asked."""
    target = output_file or os.path.join(get_data_home(), url.split("/")[-1])
    if os.path.exists(target) and not allow_overwrite:
        logger.info(f"> {target} already exists; remove it to download again.")
    else:
        from tqdm import tqdm

        with urllib.request.urlopen(url) as response:
            total = int(response.headers.get("Content-Length") or 0)
            partial = target + ".part"
            with open(partial, "wb") as out, tqdm(total=total, desc=os.path.basename(target), unit="B",
                                                   unit_scale=True, unit_divisor=1024) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(partial, target)
    return open(target, "rb") if open_file else None
