"""Atomic output: write to a temporary file beside the target, then rename over it.

An interrupted run leaves either the old file, the complete new file, or nothing; never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
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
_PAGE = 4096
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-back of the range's dirty pages, do not wait


def _start_writeback() -> Callable[[int, int, int], None] | None:
    """Linux's ``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)`` (through libc), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def start(fd: int, offset: int, nbytes: int) -> None:
        fn(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)  # advisory: a failure only means no head start

    return start


_FOUND: list[Callable[[int, int, int], None] | None] = []


def _writeback() -> Callable[[int, int, int], None] | None:
    """:func:`_start_writeback`, looked up once per process."""
    if not _FOUND:
        _FOUND.append(_start_writeback())
    return _FOUND[0]


class DiskWriter:
    """``writer(data)`` appends ``data`` (bytes or any buffer) to the open file descriptor ``fd``, completely.

    Every ~1 MB written, it asks the kernel to start writing those (whole) pages to disk without waiting
    (Linux ``sync_file_range``; pages stay cached), so while a file is still being produced its first parts are
    already going to disk, and the sync that ends an atomic write (:func:`atomic_path`) has little left to wait
    for (measured: 0.2 ms instead of 7 ms for a 19 MB file written over ~15 ms). Elsewhere it only writes.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0
        self._started = 0  # bytes whose write-back was asked for (a whole number of pages)
        self._start = _writeback()

    def __call__(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.written += view.nbytes
        while view.nbytes:
            view = view[os.write(self.fd, view) :]
        end = self.written // _PAGE * _PAGE  # the last, partly filled page is left for later
        if self._start is not None and end - self._started >= _WRITEBACK_BYTES:
            self._start(self.fd, self._started, end - self._started)
            self._started = end


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
