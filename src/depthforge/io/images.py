"""Reading and writing photos: any common format, bit depth and colour mode, EXIF orientation applied.

Every file first passes :mod:`depthforge.io.inputs` (a regular file of bounded size, an allowed format recognised
by content, at most ``max_pixels`` pixels over all its pages, checked from the headers before any pixel is
decoded). Pillow decodes strictly (corrupt or truncated files are refused, never returned in part); colour JPEGs
go through libjpeg-turbo directly (same pixels, faster); 16-bit colour PNG/TIFF through OpenCV / tifffile so no
precision is lost. Only the first page of a multi-page file is decoded.

:class:`~depthforge.core.image.Image` (and ``to_uint8``) live in :mod:`depthforge.core.image` and are re-exported
here, where they were defined before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import InputError, TooLargeError, ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.validation import check_array, check_positive
from depthforge.io.atomic import atomic_path
from depthforge.io.heif import is_heif_head, register_heif
from depthforge.io.inputs import (
    DEFAULT_MAX_PIXELS,
    IMAGE_FORMATS,
    check_input_file,
    check_pixels,
    decoding,
    describe_content,
    max_bytes_for,
    max_pixels_limit,
    short_reason,
)

__all__ = [
    "Image",
    "read_image",
    "write_image",
    "check_image_extension",
    "exif_bytes",
    "icc_profile",
    "apply_orientation",
    "write_animation",
    "check_animation",
    "GIF_MAX_SIDE_PX",
    "GIF_MIN_FRAME_MS",
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "max_pixels_limit",
    "read_image_reduced",
    "open_pil",
    "image_pixels",
    "load_strict",
    "to_uint8",
]

#: File names a folder scan picks up (the content decides the format: see :data:`IMAGE_FORMATS`).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm", ".pnm"}
) | {".heic", ".heif"}  # HEIC/HEIF with the heic extra (pillow-heif)
_FORMAT_NAMES = ("JPEG", "PNG", "WebP", "TIFF", "BMP", "GIF", "PPM/PGM", "HEIC/HEIF (the heic extra)")
_DEPTH_FORMAT_NAMES = "NumPy .npy, PFM, OpenEXR, TIFF"

_EXIF_FOCAL = 0x920A  # FocalLength (mm)
_EXIF_FOCAL_35 = 0xA405  # FocalLengthIn35mmFilm (mm)
_EXIF_IFD = 0x8769
_ORIENTATION = 0x0112


def _exif_facts(pil: Any) -> tuple[int, dict[str, Any]]:
    try:
        exif = pil.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF must not stop a photo from loading
        return 1, {}
    orientation = int(exif.get(_ORIENTATION, 1) or 1)
    facts: dict[str, Any] = {}
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001
        sub = {}
    for tag, key in ((_EXIF_FOCAL, "focal_length_mm"), (_EXIF_FOCAL_35, "focal_length_35mm")):
        value = sub.get(tag, exif.get(tag))
        try:
            if value is not None and float(value) > 0:
                facts[key] = float(value)
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    for tag, key in ((0x010F, "make"), (0x0110, "camera_model")):
        if exif.get(tag):
            facts[key] = str(exif.get(tag)).strip("\x00 ")
    return orientation, facts


def apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array: 5-8 transpose first, then rows and/or columns
    are reversed."""
    if not 2 <= orientation <= 8:
        return a
    if orientation in _SWAPS_AXES:
        a = np.swapaxes(a, 0, 1)
    rows, cols = -1 if orientation in (3, 4, 7, 8) else 1, -1 if orientation in (2, 3, 6, 7) else 1
    return np.ascontiguousarray(a[::rows, ::cols])


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Image:
    """Read a photo file into an upright :class:`Image`.

    Accepts JPEG, PNG, WebP, TIFF, BMP, and HEIC/HEIF with the ``heic`` extra (pillow-heif); 8 or 16 bit;
    grayscale, RGB, RGBA (alpha kept aside), palette, CMYK,
    LA; EXIF orientation applied.

    Raises:
        InputError: missing, empty, unreadable or corrupt file, or more than ``max_pixels`` pixels
            (decompression bomb); the message names the file.
    """
    return _read(path, max_pixels=max_pixels, need=None)[0]


def read_image_reduced(
    path: str | os.PathLike[str],
    need: Callable[[int, int], tuple[int, int]],
    *,
    max_pixels: int | None = None,
) -> tuple[Image, tuple[int, int]]:
    """Read a photo at a reduced size when its full-resolution pixels are not needed (e.g. for a depth model).

    JPEG files are decoded at the smallest DCT scale (1/2, 1/4 or 1/8, done inside the decoder, so much faster
    than a full decode) that still has at least ``need(H, W)`` pixels; other formats are decoded in full.

    Args:
        path: the photo file.
        need: maps the full upright size (H, W) to the smallest (height, width) wanted.
        max_pixels: see :func:`read_image` (applies to the full size).

    Returns:
        The upright :class:`Image` (possibly smaller than the file) and the file's full upright size (H, W).

    Raises:
        InputError: as :func:`read_image`.
    """
    return _read(path, max_pixels=max_pixels, need=need)


_SWAPS_AXES = (5, 6, 7, 8)
_MAX_PAGES = 1024
#: Pillow's module-wide bomb limit is swapped for ours while a file is opened: one opener at a time.
_OPEN_LOCK = threading.Lock()


def _open(p: Path, what: str) -> Any:
    """Open ``p`` with Pillow, only as one of the allowed formats (recognised by content)."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    with _OPEN_LOCK:
        old_limit = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = None  # our own limit (counting every page) is checked next
        formats: tuple[str, ...] = IMAGE_FORMATS
        with open(p, "rb") as fh:
            head = fh.read(12)
            if is_heif_head(head):  # HEIC/HEIF photos through the optional pillow-heif
                register_heif()
                formats = (*formats, "HEIF")
        try:
            return PILImage.open(p, formats=formats)
        except UnidentifiedImageError:
            if what == "image" and head[:4] in (b"II*\x00", b"MM\x00*") and _wide_tiff(p):  # trial 6: "accepted"
                raise InputError(
                    f"{p}: a TIFF whose samples are not read as a photo (float or more than 16 bits per channel "
                    "colour, e.g. a linear render); save it as 8- or 16-bit RGB"
                ) from None
            accepted = ", ".join(_FORMAT_NAMES) if what == "image" else f"{_DEPTH_FORMAT_NAMES} and images"
            raise InputError(f"{p}: not a readable {what} ({describe_content(p)}; accepted: {accepted})") from None
        finally:
            PILImage.MAX_IMAGE_PIXELS = old_limit


def _wide_tiff(p: Path) -> bool:
    """Whether a TIFF that Pillow refused holds float or more-than-16-bit samples (from its first page's tags),
    rather than damaged data."""
    import logging

    import tifffile

    quiet = logging.getLogger("tifffile")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its warnings on damaged files are not the user's line
    try:
        with tifffile.TiffFile(p) as tf:
            page = tf.pages.first
            return bool(page.sampleformat == 3 or page.bitspersample > 16)  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a TIFF tifffile cannot parse either is damaged, which the caller says
        return False
    finally:
        quiet.setLevel(level)


@contextmanager
def open_pil(path: Path, *, max_pixels: int, what: str = "image") -> Iterator[Any]:
    """A Pillow image of an allowed format (by content) whose pages hold at most ``max_pixels`` pixels together;
    nothing is decoded yet. ``path`` must have passed :func:`~depthforge.io.inputs.check_input_file`.

    Raises:
        InputError: not an allowed format, too many pixels or pages, unreadable header.
    """
    try:
        with _open(path, what) as pil:
            check_pixels(path, _page_sizes(pil), max_pixels)
            yield pil
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - a decoder's failure on a bad header is a bad input
        raise InputError(f"{path}: not a readable {what} ({short_reason(exc)})") from None


def image_pixels(path: Path, *, max_pixels: int | None = None, all_pages: bool = False) -> int:
    """Width x height of an allowed image, read from its header (nothing decoded); ``path`` as for
    :func:`open_pil`; with ``all_pages``, the pixels of every page together (as ``max_pixels`` counts them).

    Raises:
        InputError: as :func:`open_pil` (not an allowed format, more than ``max_pixels``, unreadable header).
    """
    with open_pil(path, max_pixels=max_pixels_limit(max_pixels)) as pil:
        return sum(w * h for w, h in _page_sizes(pil)) if all_pages else int(pil.width) * int(pil.height)


def load_strict(pil: Any, path: Path) -> None:
    """Decode the first page of an open image, refusing any file whose pixel data is incomplete.

    Pillow raises on broken data but accepts a PNG whose compressed stream ends early (a complete zlib stream of
    too few rows: the missing rows come out black); that case is checked here from the file's own chunks.

    Raises:
        InputError: the pixel data is incomplete; other decoder errors propagate as they are.
    """
    pil.load()
    if pil.format == "PNG" and not getattr(pil, "is_animated", False):
        _check_png_data(path)


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _check_png_data(path: Path) -> None:
    """Refuse a PNG whose image data does not inflate to exactly what its one header announces."""
    import struct
    import zlib

    with open(path, "rb") as fh:
        data = fh.read()
    pos, idat, ihdr = 8, zlib.decompressobj(), b""
    produced, headers, extra, ended, palette = 0, 0, False, False, False
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + n > len(data):  # the chunk (its data or CRC) is cut off
            break
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            ihdr, headers = body, headers + 1
        elif kind == b"PLTE":
            palette = palette or produced == 0
        elif kind == b"IDAT":
            extra |= idat.eof and bool(body)  # image data after the end of the compressed stream
            while body and not idat.eof:
                produced += len(idat.decompress(body, 1 << 20))
                body = idat.unconsumed_tail
            extra |= bool(idat.unused_data)
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + n
    if not ended or not idat.eof:
        raise InputError(f"{path}: truncated PNG (it ends before its {'image data' if ended else 'IEND chunk'})")
    if headers != 1:
        raise InputError(f"{path}: corrupt PNG ({headers} IHDR headers)")
    if len(ihdr) < 13:
        return
    width, height, bits, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr[:13])
    if colour == 3 and not palette:  # Pillow shows such an image as grey levels; libpng refuses it
        raise InputError(f"{path}: corrupt PNG (a palette image without a palette before its image data)")
    pixel_bits = bits * _PNG_CHANNELS.get(colour, 1)
    if interlace:  # Adam7: seven reduced images, each row with its filter byte
        passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
        sizes = [(-(-(width - x0) // dx), -(-(height - y0) // dy)) for x0, y0, dx, dy in passes]
    else:
        sizes = [(width, height)]
    expected = sum(h * (1 + (w * pixel_bits + 7) // 8) for w, h in sizes if w > 0 and h > 0)
    if produced < expected:
        raise InputError(f"{path}: corrupt PNG (its image data stops after {produced} of {expected} bytes)")
    if extra or produced > expected:
        raise InputError(f"{path}: corrupt PNG (more image data than its size holds)")


def _page_sizes(pil: Any) -> list[tuple[int, int]]:
    """(width, height) of every page or frame (TIFF pages may differ; frames of other formats share a size)."""
    if pil.format != "TIFF":
        frames = int(getattr(pil, "n_frames", 1) or 1)
        if frames > _MAX_PAGES:
            raise TooLargeError(f"{pil.filename}: {frames} frames; at most {_MAX_PAGES} are accepted")
        return [pil.size] * frames
    sizes = [pil.size]
    try:
        while True:
            pil.seek(len(sizes))
            sizes.append(pil.size)
            if len(sizes) > _MAX_PAGES:
                raise TooLargeError(f"{pil.filename}: more than {_MAX_PAGES} pages; at most {_MAX_PAGES} are accepted")
    except EOFError:
        pass
    pil.seek(0)
    return sizes


def _read(
    path: str | os.PathLike[str], *, max_pixels: int | None, need: Callable[[int, int], tuple[int, int]] | None
) -> tuple[Image, tuple[int, int]]:
    limit = max_pixels_limit(max_pixels)
    p = check_input_file(path, what="image", max_bytes=max_bytes_for(limit))
    with decoding(p, "image", verb="decode"), open_pil(p, max_pixels=limit) as pil:
        arr, orientation, exif, full = _decode(p, pil, need)
    arr = apply_orientation(arr, orientation)
    img = Image.from_array(arr, path=str(p))
    return Image(rgb=img.rgb, alpha=img.alpha, path=str(p), exif=exif), full


def _decode(
    p: Path, pil: Any, need: Callable[[int, int], tuple[int, int]] | None
) -> tuple[np.ndarray, int, dict[str, Any], tuple[int, int]]:
    """(pixels of the first page, EXIF orientation, EXIF facts, full upright size (H, W)).

    Pillow decodes strictly: a corrupt or truncated file raises, it never returns part of a picture. JPEG metadata
    is read before the pixels (it precedes them, and the DCT scale depends on the upright size); for every other
    format the pixels are decoded first, so that a metadata lookup can never hide a decoding error.
    """
    w, h = pil.size
    jpeg = pil.format in _JPEG_FORMATS
    if not jpeg:
        load_strict(pil, p)
    orientation, exif = _exif_facts(pil)
    full = (w, h) if orientation in _SWAPS_AXES else (h, w)
    if not jpeg:
        high = _high_depth(p, pil)
        return (_pil_to_array(pil) if high is None else high), orientation, exif, full
    scale = 1
    if need is not None:
        nh, nw = need(*full)
        if orientation in _SWAPS_AXES:
            nh, nw = nw, nh
        # the largest DCT scale that keeps the request (as Pillow's JPEG draft chooses it)
        fit = min(w // max(1, int(nw)), h // max(1, int(nh)))
        scale = next((a for a in (8, 4, 2) if fit >= a), 1)
    decoded = _decode_jpeg_rgb(p, scale) if pil.mode == "RGB" else None
    if decoded is not None:
        return decoded, orientation, exif, full
    if scale > 1:
        pil.draft(pil.mode, (w // scale, h // scale))  # Pillow picks this same scale
    pil.load()
    return _pil_to_array(pil), orientation, exif, full


def _high_depth(p: Path, pil: Any) -> np.ndarray | None:
    """16-bit colour pixels, which Pillow (having checked the file) would truncate to 8 bits; else None."""
    if pil.format == "PNG" and pil.mode in ("RGB", "RGBA"):
        with open(p, "rb") as fh:
            head = fh.read(26)
        if len(head) < 26 or head[24] != 16:
            return None
        import cv2

        a = cv2.imdecode(np.fromfile(p, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if a is None or a.ndim != 3 or a.dtype != np.uint16:
            raise InputError(f"{p}: corrupt 16-bit PNG")
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA if a.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if pil.format == "TIFF" and pil.mode in ("RGB", "RGBA", "RGBX"):
        bits = pil.tag_v2.get(258, (8,))
        if (bits[0] if isinstance(bits, tuple) else bits) != 16:
            return None
        import tifffile

        a = tifffile.imread(p, key=0)
        if a.dtype == np.uint16 and a.ndim == 3 and a.shape[2] in (3, 4):
            return np.ascontiguousarray(a)
    return None


_JPEG_FORMATS = ("JPEG", "MPO")  # MPO: multi-picture JPEGs (many phones); the first picture is the photo


def _decode_jpeg_rgb(path: Path, scale: int) -> np.ndarray | None:
    """A colour JPEG decoded by libjpeg-turbo (simplejpeg) at 1/``scale`` (1, 2, 4, 8) straight into an RGB
    array, without EXIF rotation (applied by the caller): the same pixels as Pillow at every scale (tested), and
    about 2.5x faster at full size (``benchmarks/RESULTS.md``). Strict: any file with corrupt data, even data
    libjpeg could recover from, gives None, and Pillow then decodes it and gives the verdict (it refuses a broken
    or truncated stream and accepts mere warnings), so both paths accept exactly the files Pillow accepts."""
    import simplejpeg

    data = path.read_bytes()
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        want_h, want_w = -(-h // scale), -(-w // scale)
        arr = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_height=want_h, min_width=want_w, min_factor=scale, strict=True
        )
    except (ValueError, RuntimeError):
        return None
    return arr if arr.shape == (want_h, want_w, 3) else None


def _pil_to_array(pil: Any) -> np.ndarray:
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(pil, dtype=np.uint16)
    if mode == "I":
        a = np.asarray(pil)
        return np.clip(a, 0, 65535).astype(np.uint16)
    if mode == "F":
        a = np.asarray(pil, dtype=np.float32)
        top = float(np.nanmax(a)) if a.size else 1.0
        return (np.clip(a / (top if top > 0 else 1.0), 0, 1) * 65535 + 0.5).astype(np.uint16)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in pil.info):
        return np.asarray(pil.convert("RGBA"))
    if mode == "L":
        return np.asarray(pil)
    if mode == "1":
        return np.asarray(pil.convert("L"))
    if mode == "RGB":  # no convert: it would copy the whole picture once more
        return np.asarray(pil)
    return np.asarray(pil.convert("RGB"))


def check_image_extension(path: str | os.PathLike[str], *, bits: int = 8) -> str:
    """The image format :func:`write_image` would write ``path`` in, from its extension, checked before any work
    (a command calls it before estimating depth). ``bits``: 8, or 16 for 16-bit colour (PNG or TIFF).

    >>> check_image_extension("views.JPG")
    'JPEG'

    Raises:
        ValidationError: an extension no image writer knows, or a 16-bit image under one that keeps only 8 bits.
    """
    from PIL import Image as PILImage

    ext = Path(path).suffix.lower()
    fmt = PILImage.registered_extensions().get(ext)
    if fmt is None or fmt not in PILImage.SAVE or ext not in IMAGE_EXTENSIONS | {".apng"}:  # RGB image formats
        raise ValidationError(
            f"output: unknown image extension '{ext}' in {Path(path).name} (use .png, .jpg, .tiff, .webp)"
        )
    if bits == 16 and ext not in (".png", ".tif", ".tiff"):
        raise ValidationError(f"output: 16-bit images need .png or .tiff, not '{ext}'")
    return str(fmt)


#: Largest EXIF block carried into an output: one APP1 segment of a JPEG (bytes, ``Exif\0\0`` header included).
_EXIF_MAX_BYTES = 65533
#: Sources whose EXIF is a camera's (Pillow format names)
_EXIF_SOURCES = ("JPEG", "MPO", "PNG", "WEBP", "HEIF")


def _from_source(image: Image, read: Callable[[Any], bytes | None]) -> bytes | None:
    """``read(pil)`` on the opened header of the file ``image`` was read from (pixels are not decoded); None without
    a file, or for any file or metadata Pillow cannot handle (the output goes without, as it did before)."""
    if not isinstance(image, Image) or not image.path:
        return None
    import warnings

    from PIL import Image as PILImage

    try:
        with warnings.catch_warnings():  # only the header is read: no pixel limit applies here (read_image's did)
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(image.path) as pil:
                return read(pil)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


def exif_bytes(image: Image) -> bytes | None:
    """The EXIF of the file ``image`` was read from (camera, lens, focal length, date, GPS...), with its
    orientation set to upright since :func:`read_image` turns the pixels upright, for an output made from the photo
    (``Exif\0\0`` and the TIFF block, as a JPEG's APP1 payload); None without a file, EXIF, or room for it in one
    JPEG segment (a maker note or thumbnail too large).
    """

    def read(pil: Any) -> bytes | None:
        if pil.format not in _EXIF_SOURCES:  # a TIFF's tags describe its own strips, not a camera
            return None
        exif = pil.getexif()
        if not exif:
            return None
        exif[_ORIENTATION] = 1
        data: bytes = exif.tobytes()
        return data if len(data) <= _EXIF_MAX_BYTES else None

    return _from_source(image, read)


def icc_profile(image: Image) -> bytes | None:
    """The ICC colour profile of the file ``image`` was read from (e.g. an iPhone's Display P3), for an output made
    from the photo, so that viewers show its colours as they show the photo's; None without a file or an RGB profile.
    """

    def read(pil: Any) -> bytes | None:
        data = pil.info.get("icc_profile")
        # the header's colour space: a CMYK or grey photo's profile does not describe the RGB pixels read_image
        # made of it (review)
        return bytes(data) if isinstance(data, (bytes, bytearray)) and data[16:20] == b"RGB " else None

    return _from_source(image, read)


def write_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    text: dict[str, str] | None = None,
    level: int | None = None,
    exif: bytes | None = None,
    icc: bytes | None = None,
) -> Path:
    """Write an (H, W), (H, W, 3) or (H, W, 4) uint8/uint16 RGB(A) array atomically.

    The format follows the extension (PNG keeps 16 bit; ``text`` becomes PNG text chunks; JPEG and colour WebP at
    quality 95, a grey WebP (a mask, a depth display) lossless). ``level``: a PNG's
    deflate level, 0-9 (None: the encoder's default, 6 for Pillow; 1 is about four times faster and a quarter
    larger on a photo). ``exif``: an EXIF block to carry (:func:`exif_bytes`; JPEG, PNG, WebP and 8-bit TIFF);
    ``icc``: an ICC colour profile to carry (:func:`icc_profile`; the same formats).
    """
    a = check_array(image, "image", ndim=(2, 3), channels=(3, 4))
    p = Path(path)
    ext = p.suffix.lower()
    fmt = check_image_extension(p, bits=16 if a.dtype == np.uint16 else 8)
    if level is not None:
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level <= 9:
            raise ValidationError(f"level: expected a whole number 0-9 (a PNG's deflate level), got {level!r}")
        if ext != ".png":
            raise ValidationError(f"level: only PNG files have a deflate level ({p.name} is not one)")
    with atomic_path(p) as tmp:
        if a.dtype == np.uint16 and a.ndim == 3:
            import cv2

            code = cv2.COLOR_RGBA2BGRA if a.shape[2] == 4 else cv2.COLOR_RGB2BGR
            params = [] if level is None or ext != ".png" else [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
            ok, buf = cv2.imencode(ext, cv2.cvtColor(a, code), params)
            if not ok:
                raise InputError(f"{p}: could not encode image")
            tmp.write_bytes(buf.tobytes())
        else:
            from PIL import Image as PILImage
            from PIL import PngImagePlugin

            pil = PILImage.fromarray(a)
            kwargs: dict[str, Any] = {}
            if ext == ".png" and text:
                info = PngImagePlugin.PngInfo()
                for k, v in text.items():
                    info.add_text(k, v)
                kwargs["pnginfo"] = info
            if ext in (".jpg", ".jpeg"):
                kwargs["quality"] = 95
            if fmt == "WEBP" and a.ndim == 2:  # a grey map (mask, depth display) exactly (user trial 3)
                kwargs["lossless"] = True
            elif fmt == "WEBP":
                kwargs["quality"] = 95  # a picture, as JPEGs are
            if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
                kwargs["exif"] = exif
            if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF") and a.ndim == 3:  # a grey map has no colours
                kwargs["icc_profile"] = icc  # (user trial 4: a Display P3 photo's outputs shifted colour)
            if ext == ".png" and level is not None:
                kwargs["compress_level"] = int(level)
            pil.save(tmp, format=fmt, **kwargs)
    return p


#: A GIF's width and height are 16-bit fields (pixels).
GIF_MAX_SIDE_PX = 65535
#: The shortest frame a GIF can show (ms): its delays are in hundredths of a second, and browsers show a frame of
#: 0 or 1 hundredths for 100 ms.
GIF_MIN_FRAME_MS = 20


def check_animation(path: str | os.PathLike[str], *, frame_ms: float) -> float:
    """The frame time of :func:`write_animation` to ``path``, checked before any work: > 0 ms, and for a GIF at
    least :data:`GIF_MIN_FRAME_MS`.

    Raises:
        ValidationError: naming ``frame_ms``.
    """
    ms = check_positive(frame_ms, "frame_ms")
    if Path(path).suffix.lower() == ".gif" and ms < GIF_MIN_FRAME_MS:
        raise ValidationError(
            f"frame_ms: {ms:g} ms is too short for a GIF: players show frames under {GIF_MIN_FRAME_MS} ms for 100 ms "
            "(give 20 or more, or write an animated PNG, .png)"
        )
    return ms


def write_animation(path: str | os.PathLike[str], frames: list[np.ndarray], *, frame_ms: float) -> Path:
    """A looping animation of ``frames``, each shown ``frame_ms`` milliseconds, written atomically: a GIF for
    ``.gif``, else an animated PNG (``.png``, ``.apng``).

    Args:
        path: the output file.
        frames: (H, W, 3) or (H, W, 4) RGB(A) arrays of one size, uint8, uint16 or float in [0, 1] (alpha dropped).
        frame_ms: how long each frame shows, > 0 ms (a GIF: at least :data:`GIF_MIN_FRAME_MS`, in steps of 10).

    Raises:
        ValidationError: no frames, ``frame_ms`` <= 0 (below :data:`GIF_MIN_FRAME_MS` for a GIF), or frames wider or
            higher than a GIF allows (:data:`GIF_MAX_SIDE_PX`).
    """
    from PIL import Image as PILImage

    p = Path(path)
    ms = check_animation(p, frame_ms=frame_ms)
    if not frames:
        raise ValidationError("frames: no frames to animate")
    h, w = frames[0].shape[:2]
    is_gif = p.suffix.lower() == ".gif"
    if is_gif and max(h, w) > GIF_MAX_SIDE_PX:
        raise ValidationError(
            f"frames: {w}x{h} frames are wider or higher than a GIF allows ({GIF_MAX_SIDE_PX} px); "
            "write an animated PNG (.png) or choose another layout"
        )
    pil = [PILImage.fromarray(to_uint8(f)[:, :, :3]) for f in frames]
    with atomic_path(p) as tmp:
        fmt = "GIF" if is_gif else "PNG"
        pil[0].save(tmp, format=fmt, save_all=True, append_images=pil[1:], duration=round(ms), loop=0)
    return p
