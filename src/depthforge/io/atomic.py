"""Atomic output: write to a temporary file beside the target, then rename over it.

An interrupted run leaves either the old file, the complete new file, or nothing; never a partial file. Temporary
names carry :data:`TEMP_MARK` and the writing process's id, so left-overs of a killed process are recognised and
removed by the next run (:func:`sweep_stale`). Every failure to write is an :class:`OutputError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from depthforge.core.errors import OutputError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "TEMP_MARK",
    "OUTPUT_MODE",
    "DiskWriter",
    "output_error",
    "prepare_folder",
    "sweep_stale",
    "temp_prefix",
]

#: Part of every temporary file name, so left-overs of a killed process are recognisable.
TEMP_MARK = ".dftmp-"
_STEM_BYTES = 96  # the temporary name stays far below the 255-byte name limit whatever the target's name
_TEMP_RE = re.compile(re.escape(TEMP_MARK) + r"(\d+)-")


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line :class:`OutputError` for an OS error met while writing ``path``."""
    reasons = {
        errno.ENAMETOOLONG: "file name too long",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "disk full",
        errno.ENOTDIR: "a parent is a file, not a folder",
        errno.EISDIR: "it is a folder",
        errno.ENOENT: "the folder cannot be created there",
        errno.EEXIST: "a file of that name exists",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return OutputError(f"{path}: cannot write ({reason})")


def temp_prefix(target: Path) -> str:
    """Prefix of the temporary names for ``target``: hidden, bounded in length, with this process's id."""
    stem = os.fsencode(target.name)[:_STEM_BYTES].decode("utf-8", "ignore")
    return f".{stem}{TEMP_MARK}{os.getpid()}-"


def prepare_folder(path: str | os.PathLike[str]) -> Path:
    """Create the output folder ``path`` (and parents) and check that files can be made in it.

    Raises:
        OutputError: it is a file, it cannot be created, or it is not writable.
    """
    p = Path(path)
    if str(path) == "":
        raise OutputError("output: the folder name is empty")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{p}: cannot write (a file of that name exists, not a folder)") from None
    except OSError as exc:
        raise output_error(p, exc) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: cannot write (permission denied)")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def sweep_stale(folders: Iterable[str | os.PathLike[str]]) -> int:
    """Remove temporary files and folders left in ``folders`` by processes that no longer run; returns how many.

    Entries of live processes (another run writing there now) are kept; missing folders are skipped.
    """
    import shutil

    removed = 0
    for folder in {Path(f) for f in folders}:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            m = _TEMP_RE.search(entry.name)
            if m is None or _alive(int(m.group(1))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path with the same suffix as ``path``; on success rename it to ``path``.

    The parent folder is created. On an exception the temporary file is removed and ``path`` is untouched. The
    file's data and, after the rename, its folder entry are synced to disk.

    Raises:
        OutputError: the folder cannot be created, the file cannot be written or renamed (an OS error inside the
            block becomes one too).
    """
    target = Path(path)
    try:
        if os.path.isdir(target):
            raise OutputError(f"{target}: cannot write (it is a folder)")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=target.suffix[:16], dir=target.parent)
    except OSError as exc:
        raise output_error(target, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as fh:  # the data and what reading it back needs (its size) on disk
                getattr(os, "fdatasync", os.fsync)(fh.fileno())
            os.chmod(tmp, OUTPUT_MODE)  # mkstemp makes 0600 files; outputs get the usual permissions
            os.replace(tmp, target)
        except OSError as exc:
            raise output_error(target, exc) from None
        sync_folder(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (fsync of the folder; skipped where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DiskWriter:
    """``writer(data)`` appends ``data`` (bytes or any buffer) to the open file descriptor ``fd``, completely
    (retrying short writes); ``writer.written`` counts the bytes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written = 0

    def __call__(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.written += view.nbytes
        while view.nbytes:
            view = view[os.write(self.fd, view) :]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Read once at import: os.umask is process-wide, so it must not be toggled while threads write files.
_UMASK = _read_umask()
#: The permissions of a file the outputs' code writes (a temporary file from mkstemp is 0600): 0666 less the umask.
OUTPUT_MODE = 0o666 & ~_UMASK


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
