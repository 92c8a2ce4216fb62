"""Download public dataset files once, verified, into a cache folder.

A :class:`RemoteFile` names a file, the mirrors it can be fetched from (tried in order) and its checksums. :func:`fetch`
returns the cached copy when it verifies, else streams the file from the first mirror that answers into a temporary
file beside the cache entry, verifies it while it arrives and renames it into place (so an interrupted or corrupt
download never looks like a finished one). When every mirror fails, :class:`DownloadError` lists each URL tried and
why, and says where to put a copy fetched by other means.

The cache folder is ``$NNL_DATA_HOME`` when set, else ``~/.cache/nnl/datasets``.

>>> import hashlib, os, tempfile
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "a.bin"), "wb") as f:
...     _ = f.write(b"abc")
>>> remote = RemoteFile("a.bin", ("http://127.0.0.1:9/a.bin",), sha256=hashlib.sha256(b"abc").hexdigest())
>>> fetch(remote, folder).name  # already cached and verified: no network
'a.bin'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RemoteFile", "DownloadError", "ChecksumError", "data_home", "fetch", "file_digests"]

CHUNK = 1 << 20
USER_AGENT = "nnl-dataset-downloader (+https://github.com/sony/nnabla compatible)"


class DownloadError(OSError):
    """No mirror gave a file that verifies."""


class ChecksumError(DownloadError):
    """A file's content does not match its published checksum or size."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its cache ``name``, mirror ``urls`` (tried in order) and what it must verify against
    (any of ``sha256``, ``md5`` as lowercase hex, ``size`` in bytes; a file with none of them is only checked by
    whoever parses it)."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    def with_mirrors(self, bases: Iterable[str]) -> RemoteFile:
        """The same file fetched from ``base + name`` for each base URL."""
        return RemoteFile(self.name, tuple(b.rstrip("/") + "/" + self.name for b in bases), self.sha256, self.md5,
                          self.size)


def data_home() -> Path:
    """``$NNL_DATA_HOME`` or ``~/.cache/nnl/datasets`` (created on first use)."""
    configured = os.environ.get("NNL_DATA_HOME")
    home = Path(configured).expanduser() if configured else Path.home() / ".cache" / "nnl" / "datasets"
    home.mkdir(parents=True, exist_ok=True)
    return home


def file_digests(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{"sha256": ..., "md5": ...}`` of a file (lowercase hex)."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _mismatch(remote: RemoteFile, size: int, digests: dict[str, str]) -> str | None:
    """Why ``size``/``digests`` do not match ``remote`` (None when they do)."""
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    for algorithm in ("sha256", "md5"):
        expected = getattr(remote, algorithm)
        if expected is not None and digests[algorithm] != expected.lower():
            return f"{algorithm} {digests[algorithm]}, expected {expected.lower()}"
    return None


def verify(path: str | os.PathLike[str], remote: RemoteFile) -> None:
    """Raise :class:`ChecksumError` unless the file at ``path`` matches ``remote``'s size and checksums."""
    problem = _mismatch(remote, os.path.getsize(path), file_digests(path))
    if problem:
        raise ChecksumError(f"{path}: {problem}.")


def _download(url: str, target: Path, remote: RemoteFile, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it to ``target`` only when it verifies."""
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(temporary, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or remote.size
            with tqdm(total=total, desc=remote.name, unit="B", unit_scale=True, unit_divisor=1024,
                      disable=None if progress else True, leave=False) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
        problem = _mismatch(remote, size, {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()})
        if problem:
            raise ChecksumError(f"downloaded content does not match: {problem}")
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def fetch(remote: RemoteFile, directory: str | os.PathLike[str] | None = None, progress: bool = True,
          timeout: float = 60.0) -> Path:
    """The path of ``remote`` in ``directory`` (default :func:`data_home`), downloaded and verified if needed.

    A cached copy that fails verification is downloaded again. Raises :class:`DownloadError` naming every URL tried
    (and why each failed) when no mirror yields a verified file.
    """
    folder = Path(directory) if directory is not None else data_home()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.name
    if target.is_file():
        try:
            verify(target, remote)
            return target
        except ChecksumError:
            pass  # a stale or damaged copy: fetch it again
    failures = []
    for url in remote.urls:
        try:
            _download(url, target, remote, progress, timeout)
            return target
        except ChecksumError as e:
            failures.append(f"{url}: {e}")
        except urllib.error.HTTPError as e:
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
        except urllib.error.URLError as e:
            failures.append(f"{url}: {e.reason}")
        except (OSError, ValueError) as e:  # timeouts, dropped connections, malformed URLs
            failures.append(f"{url}: {type(e).__name__}: {e}")
    tried = "\n  ".join(failures) or "(no URL given)"
    raise DownloadError(f"could not download {remote.name} (are you offline?). Tried:\n  {tried}\n"
                        f"Download it by other means and save it as {target} to continue.")
