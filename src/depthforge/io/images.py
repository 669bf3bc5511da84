"""Reading and writing photos: any common format, bit depth and colour mode, EXIF orientation applied.

Decoding goes through Pillow; 16-bit colour PNG/TIFF go through OpenCV / tifffile so no precision is lost.
Decompression bombs and absurd sizes are refused from the header, before any pixel is decoded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.errors import InputError
from depthforge.core.validation import check_array
from depthforge.io.atomic import atomic_path

__all__ = [
    "Image",
    "read_image",
    "write_image",
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "max_pixels_limit",
    "read_image_reduced",
    "to_uint8",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".jfif"})
#: Largest image accepted by default (pixels); override with ``max_pixels=`` or ``DEPTHFORGE_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 250_000_000

_EXIF_FOCAL = 0x920A  # FocalLength (mm)
_EXIF_FOCAL_35 = 0xA405  # FocalLengthIn35mmFilm (mm)
_EXIF_IFD = 0x8769
_ORIENTATION = 0x0112


@dataclass(frozen=True, eq=False)
class Image:
    """A decoded photo, upright (EXIF orientation applied).

    Attributes:
        rgb: (H, W, 3) uint8 or uint16 RGB (grayscale replicated to three channels).
        alpha: (H, W) same dtype as ``rgb``, or None when the file has no alpha (kept aside, never composited).
        path: the file it came from ("" for in-memory images).
        exif: camera facts for intrinsics: ``focal_length_mm``, ``focal_length_35mm`` when present.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    path: str = ""
    exif: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    def as_uint8(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return to_uint8(self.rgb)

    def as_float(self) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1]."""
        scale = 65535.0 if self.rgb.dtype == np.uint16 else 255.0
        return self.rgb.astype(np.float32) / np.float32(scale)

    @classmethod
    def from_array(cls, array: np.ndarray, *, path: str = "") -> Image:
        """Wrap an (H, W), (H, W, 3) or (H, W, 4) uint8/uint16 array (RGB order) as an Image."""
        a = check_array(array, "image", ndim=(2, 3), channels=(1, 3, 4))
        if a.dtype not in (np.uint8, np.uint16):
            if a.dtype.kind == "f":
                a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            else:
                raise InputError(f"image: unsupported dtype {a.dtype} (use uint8, uint16 or float in [0, 1])")
        alpha = None
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        elif a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        elif a.shape[2] == 4:
            alpha = np.ascontiguousarray(a[:, :, 3])
            a = a[:, :, :3]
        return cls(rgb=np.ascontiguousarray(a), alpha=alpha, path=path)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """uint8 view of a uint8/uint16/float-[0,1] image (copy only when the dtype changes)."""
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``DEPTHFORGE_MAX_PIXELS``, else the default."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get("DEPTHFORGE_MAX_PIXELS")
    return int(env) if env else DEFAULT_MAX_PIXELS


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


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: np.swapaxes(x, 0, 1),
        6: lambda x: np.swapaxes(x, 0, 1)[:, ::-1],
        7: lambda x: np.swapaxes(x, 0, 1)[::-1, ::-1],
        8: lambda x: np.swapaxes(x, 0, 1)[::-1],
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(a)) if op else a


def _decode_high_depth(path: Path, ext: str) -> np.ndarray | None:
    """Decode 16-bit colour files that Pillow would truncate; None when not applicable."""
    if ext == ".png":
        with open(path, "rb") as fh:
            head = fh.read(26)
        if len(head) < 26 or head[24] != 16 or head[25] not in (2, 6):
            return None
        import cv2

        a = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if a is None:
            return None
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA if a.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if ext in (".tif", ".tiff"):
        import tifffile

        try:
            a = tifffile.imread(str(path))
        except Exception:  # noqa: BLE001 - fall back to Pillow
            return None
        if a.dtype == np.uint16 and a.ndim == 3 and a.shape[2] in (3, 4):
            return np.ascontiguousarray(a)
    return None


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Image:
    """Read a photo file into an upright :class:`Image`.

    Accepts JPEG, PNG, WebP, TIFF, BMP; 8 or 16 bit; grayscale, RGB, RGBA (alpha kept aside), palette, CMYK,
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


def _read(
    path: str | os.PathLike[str], *, max_pixels: int | None, need: Callable[[int, int], tuple[int, int]] | None
) -> tuple[Image, tuple[int, int]]:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an image")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty")
    limit = max_pixels_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old_limit = PILImage.MAX_IMAGE_PIXELS
            PILImage.MAX_IMAGE_PIXELS = None
            try:
                pil = PILImage.open(p)
            finally:
                PILImage.MAX_IMAGE_PIXELS = old_limit
            with pil:
                w, h = pil.size
                if w * h > limit:
                    raise InputError(
                        f"{p}: {w}x{h} = {w * h / 1e6:.0f} megapixels exceeds the limit of {limit / 1e6:.0f} "
                        "(possible decompression bomb; raise it with --max-pixels if the file is genuine)"
                    )
                orientation, exif = _exif_facts(pil)
                full = (w, h) if orientation in _SWAPS_AXES else (h, w)
                high = _decode_high_depth(p, p.suffix.lower())
                if high is not None:
                    arr = high
                else:
                    scale = 1
                    if need is not None and pil.format in _JPEG_FORMATS:
                        nh, nw = need(*full)
                        if orientation in _SWAPS_AXES:
                            nh, nw = nw, nh
                        # the largest DCT scale that keeps the request (as Pillow's JPEG draft chooses it)
                        fit = min(w // max(1, int(nw)), h // max(1, int(nh)))
                        scale = next((a for a in (8, 4, 2) if fit >= a), 1)
                    decoded = _decode_jpeg_rgb(p, scale) if pil.format in _JPEG_FORMATS and pil.mode == "RGB" else None
                    if decoded is not None:
                        arr = decoded
                    else:
                        if scale > 1:
                            pil.draft(pil.mode, (w // scale, h // scale))  # Pillow picks this same scale
                        pil.load()
                        arr = _pil_to_array(pil)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: not a readable image ({_short(exc)})") from None
    arr = _apply_orientation(arr, orientation)
    img = Image.from_array(arr, path=str(p))
    return Image(rgb=img.rgb, alpha=img.alpha, path=str(p), exif=exif), full


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


_JPEG_EOI = b"\xff\xd9"
_JPEG_FORMATS = ("JPEG", "MPO")  # MPO: multi-picture JPEGs (many phones); the first picture is the photo


def _decode_jpeg_rgb(path: Path, scale: int) -> np.ndarray | None:
    """A complete colour JPEG decoded by OpenCV's libjpeg-turbo at 1/``scale`` (1, 2, 4, 8) straight into an RGB
    array, without EXIF rotation (applied by the caller): the same pixels as Pillow (tested), faster, and
    without Pillow's 4-byte pixels and copy. None when the file does not end with the JPEG end marker (truncated
    files, trailing data: Pillow decodes those and reports errors) or OpenCV cannot decode it."""
    import cv2

    data = np.fromfile(path, np.uint8)
    if data.size < 4 or data[-2:].tobytes() != _JPEG_EOI:
        return None
    reduced = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
    flag = reduced.get(scale, cv2.IMREAD_REDUCED_COLOR_8) | cv2.IMREAD_IGNORE_ORIENTATION
    rgb_flag = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.11
    if rgb_flag is not None:
        flag = (flag & ~cv2.IMREAD_COLOR) | rgb_flag
    try:
        arr = cv2.imdecode(data, flag)
    except cv2.error:  # e.g. beyond OpenCV's own pixel limit: Pillow decides
        return None
    if arr is None or arr.ndim != 3 or arr.shape[2] != 3:
        return None
    if rgb_flag is None:
        cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr)
    return arr


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


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, text: dict[str, str] | None = None) -> Path:
    """Write an (H, W), (H, W, 3) or (H, W, 4) uint8/uint16 RGB(A) array atomically.

    The format follows the extension (PNG keeps 16 bit; ``text`` becomes PNG text chunks).
    """
    a = check_array(image, "image", ndim=(2, 3), channels=(3, 4))
    p = Path(path)
    ext = p.suffix.lower()
    with atomic_path(p) as tmp:
        if a.dtype == np.uint16 and a.ndim == 3:
            import cv2

            code = cv2.COLOR_RGBA2BGRA if a.shape[2] == 4 else cv2.COLOR_RGB2BGR
            if ext not in (".png", ".tif", ".tiff"):
                raise InputError(f"{p}: 16-bit colour needs .png or .tiff")
            ok, buf = cv2.imencode(ext, cv2.cvtColor(a, code))
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
            fmt = PILImage.registered_extensions().get(ext)
            if fmt is None:
                raise InputError(f"{p}: unknown image extension '{ext}'")
            pil.save(tmp, format=fmt, **kwargs)
    return p
