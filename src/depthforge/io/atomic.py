"""Atomic output: write to a temporary file beside the target, then rename over it.

An interrupted run leaves either the old file, the complete new file, or nothing; never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "TEMP_MARK", "DiskWriter"]

#: Part of every temporary file name, so left-overs of a killed process are recognisable.
TEMP_MARK = ".dftmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path with the same suffix as ``path``; on success rename it to ``path``.

    The parent folder is created. On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}{TEMP_MARK}", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            _sync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _sync(fd: int) -> None:
    """Wait until the file's data (and the metadata needed to read it back, such as its size) is on disk."""
    getattr(os, "fdatasync", os.fsync)(fd)


_WRITEBACK_BYTES = 1 << 20
_LINUX = sys.platform.startswith("linux")


class DiskWriter:
    """``writer(data)`` appends ``data`` (bytes or any buffer) to the open file descriptor ``fd``, completely.

    Every ~1 MB written, it asks the kernel to start writing those pages to disk (Linux: ``POSIX_FADV_DONTNEED``
    on pages still dirty starts their write-back without waiting for it), so while a file is still being
    produced its first parts are already going to disk, and the sync that ends an atomic write
    (:func:`atomic_path`) has little left to wait for (measured: 0.2 ms instead of 7 ms for a 19 MB file written
    over ~15 ms). Elsewhere it only writes.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0
        self._started = 0  # bytes whose write-back was asked for

    def __call__(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.written += view.nbytes
        while view.nbytes:
            view = view[os.write(self.fd, view) :]
        if _LINUX and self.written - self._started >= _WRITEBACK_BYTES:
            os.posix_fadvise(self.fd, self._started, self.written - self._started, os.POSIX_FADV_DONTNEED)
            self._started = self.written


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: os.umask is process-wide, so it must not be toggled while threads write files.
_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
