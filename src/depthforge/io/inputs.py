"""The one policy every input file passes before a decoder sees it (CLI, library and server alike).

* **A regular file**: devices (``/dev/zero``), pipes, sockets and folders are refused before anything is read, so
  no input can make a reader wait forever.
* **Bounded size**: at most :func:`max_bytes_for` bytes (16 bytes per allowed pixel plus 16 MiB, the largest
  honest file of an allowed size), and at most ``max_pixels`` pixels counting every page or frame.
* **Formats by content**: images must be one of :data:`IMAGE_FORMATS`, recognised from their bytes, whatever the
  extension says (no PostScript, PDF, QOI, AVIF ... is ever handed to a decoder).
* **One error class**: every failure is an :class:`~depthforge.core.errors.InputError` with a one-line message that
  names the file.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from depthforge.core.errors import InputError, MissingExtraError, TooLargeError, ValidationError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_FORMATS",
    "check_input_file",
    "check_pixels",
    "decoding",
    "describe_content",
    "max_bytes_for",
    "max_pixels_limit",
    "short_reason",
]

#: Largest image or depth map accepted by default (pixels, all pages together); override with ``max_pixels=``
#: or ``DEPTHFORGE_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 250_000_000
#: Image formats (Pillow's opener names) decoded, recognised by content; everything else is refused.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "PPM")  # JPEG includes MPO (multi-picture)
_BYTES_PER_PIXEL = 16  # RGBA float32: the most an allowed format stores per pixel uncompressed
_SLACK_BYTES = 16 << 20  # headers, metadata, thumbnails


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``DEPTHFORGE_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        ValidationError: ``max_pixels`` is not a positive whole number.
        InputError: ``DEPTHFORGE_MAX_PIXELS`` is not a positive whole number.
    """
    if max_pixels is not None:
        try:
            whole = not isinstance(max_pixels, bool) and float(max_pixels).is_integer() and max_pixels >= 1
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole:
            raise ValidationError(f"max_pixels: expected a positive whole number, got {max_pixels!r}")
        return int(max_pixels)
    env = os.environ.get("DEPTHFORGE_MAX_PIXELS", "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    if not env.isdigit() or int(env) < 1:
        raise InputError(f"DEPTHFORGE_MAX_PIXELS: expected a positive whole number, got {env[:40]!r}")
    return int(env)


def max_bytes_for(max_pixels: int) -> int:
    """Largest input file (bytes) accepted under a pixel limit."""
    return int(max_pixels) * _BYTES_PER_PIXEL + _SLACK_BYTES


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), at most 160 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


@contextmanager
def decoding(path: Path, what: str, *, verb: str = "read") -> Iterator[None]:
    """Decode ``path`` inside the block with the decoders' warnings silenced; whatever a decoder raises on a bad
    file becomes an :class:`InputError` naming it (an ``InputError``, ``ValidationError`` (an option the file
    needs) or ``MissingExtraError`` passes as it is)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except (InputError, MissingExtraError, ValidationError):
        raise
    except MemoryError:
        raise InputError(f"{path}: not enough memory to {verb} this {what}") from None
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on a bad file is a bad input
        raise InputError(f"{path}: not a readable {what} ({short_reason(exc)})") from None


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file"
    return exc.strerror or short_reason(exc)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def check_input_file(path: str | os.PathLike[str], *, what: str = "file", max_bytes: int | None = None) -> Path:
    """Check that ``path`` names a readable, non-empty regular file of at most ``max_bytes`` bytes.

    Args:
        path: the file.
        what: what the file should be, for messages ("image", "depth file", "video").
        max_bytes: size limit (None: no limit beyond the file system's).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: empty path, missing, a folder, a device/pipe/socket, empty, too large or unreadable.
    """
    if isinstance(path, str) and not path.strip():
        raise InputError(f"{what}: the path is empty")
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InputError(f"{p}: {_os_reason(exc)}") from None
    except ValueError:  # an embedded NUL byte
        raise InputError(f"{what}: {str(path)[:80]!r} is not a valid path") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a folder, not {_a(what)}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: not a regular file (a device, pipe or socket), not {_a(what)}")
    if st.st_size == 0:
        raise InputError(f"{p}: file is empty, not {_a(what)}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise TooLargeError(f"{p}: {st.st_size} bytes is larger than any acceptable {what} ({max_bytes} bytes)")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: permission denied")
    return p


def _megapixels(pixels: int) -> str:
    """``pixels`` in megapixels for a message: one decimal, or two significant digits below one (a limit of 1000
    pixels is 0.001, not 0.0)."""
    mp = pixels / 1e6
    return f"{mp:.1f}" if mp >= 1 else f"{mp:.6f}".rstrip("0")


def check_pixels(path: Path, pages: list[tuple[int, int]], max_pixels: int) -> int:
    """Total pixels of every page (``(width, height)`` each); refuse more than ``max_pixels``.

    Raises:
        InputError: above the limit (a decompression bomb or a genuinely huge file: the message says how to raise
            the limit).
    """
    total = sum(max(0, int(w)) * max(0, int(h)) for w, h in pages)
    if total > max_pixels:
        size = f"{pages[0][0]}x{pages[0][1]}" + (f" in {len(pages)} pages" if len(pages) > 1 else "")
        raise TooLargeError(
            f"{path}: {size} = {_megapixels(total)} megapixels exceeds the limit of {_megapixels(max_pixels)} "
            "(possible decompression bomb; raise it with --max-pixels if the file is genuine)"
        )
    return total


_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "PDF"),
    (b"%!PS", 0, "PostScript"),
    (b"\xc5\xd0\xd3\xc6", 0, "EPS"),
    (b"qoif", 0, "QOI"),
    (b"ftypavif", 4, "AVIF"),
    (b"ftypavis", 4, "AVIF"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"\x93NUMPY", 0, "NumPy array"),
    (b"PK\x03\x04", 0, "zip archive"),
    (b"\x76\x2f\x31\x01", 0, "OpenEXR"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"8BPS", 0, "Photoshop"),
    (b"\x00\x00\x01\x00", 0, "icon"),
    (b"gimp xcf", 0, "GIMP"),
    (b"\x1a\x45\xdf\xa3", 0, "Matroska/WebM video"),
    (b"RIFF", 0, "RIFF (AVI/WAV)"),
    (b"ftyp", 4, "MP4/QuickTime"),
)


def describe_content(path: Path) -> str:
    """A short name for what a file holds, from its first bytes ("PDF", "QOI", "text", "unknown data")."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return "unreadable data"
    for magic, offset, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return "unknown data"
