"""HEIC/HEIF photos and their depth auxiliary images (iPhone portrait photos), through pillow-heif (libheif).

pillow-heif is an optional extra (``pip install 'depthforge[heic]'``); without it a HEIC file is refused with a
message naming the extra.

What a HEIC depth image means is read from two places, whichever the file has:

* the HEVC *depth representation information* that libheif reports (ISO/IEC 14496-10 / 23008-2 SEI):
  ``representation_type`` 0 = uniform inverse depth (z_near..z_far), 1 = uniform disparity (d_min..d_max),
  2 = uniform depth z (z_near..z_far), 3 = non-uniform (read as relative);
* Apple's XMP for the auxiliary image (``http://ns.apple.com/depthData/1.0/``): ``FloatMinValue`` and
  ``FloatMaxValue`` (the range the 8-bit codes span), ``PixelFormat`` (``hdis``/``fdis``: disparity in 1/m,
  ``hdep``/``fdep``: depth in m) and ``Accuracy`` (``absolute`` or ``relative``). Apple's "disparity" is inverse
  depth in 1/m (not pixels): absolute values become ``metric`` (z = 1/v), relative ones ``relative``.

Without either, the codes are read as a display image (larger = nearer: Apple's disparity convention), kind
``relative``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import InputError, MissingExtraError
from depthforge.io.inputs import check_pixels

__all__ = ["HEIF_BRANDS", "is_heif_head", "has_heif_depth", "read_heif_depth", "register_heif"]

#: ISOBMFF major brands of HEIF still images.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"hevc", b"hevx")
_APPLE_DEPTH_NS = b"http://ns.apple.com/depthData/1.0/"
# FourCCs of Apple's depth pixel formats, as the integers the XMP stores
_DISPARITY_FORMATS = {int.from_bytes(f, "big") for f in (b"hdis", b"fdis")}
_DEPTH_FORMATS = {int.from_bytes(f, "big") for f in (b"hdep", b"fdep")}


def is_heif_head(head: bytes) -> bool:
    """Whether a file's first 12 bytes are those of a HEIF still image (``ftyp`` box with a HEIF brand)."""
    return len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def register_heif() -> Any:
    """Register pillow-heif's opener with Pillow (once) and return the ``pillow_heif`` module.

    Raises:
        MissingExtraError: pillow-heif is not installed.
    """
    try:
        import pillow_heif
    except ImportError:
        raise MissingExtraError("pillow-heif", "heic") from None
    pillow_heif.register_heif_opener()
    return pillow_heif


def has_heif_depth(path: str | os.PathLike[str]) -> bool:
    """Whether a HEIF file's primary image has a depth auxiliary image (False when pillow-heif is missing or the
    file is unreadable)."""
    try:
        heif = register_heif().open_heif(os.fspath(path), convert_hdr_to_8bit=False)
        return bool(heif.info.get("depth_images"))
    except Exception:  # noqa: BLE001 - a probe: any failure means "no usable depth"
        return False


def read_heif_depth(path: Path, *, max_pixels: int) -> tuple[DepthMap, tuple[int, int], dict[str, Any]]:
    """The primary image's depth auxiliary image: (depth map, the photo's (height, width), what the file stated).

    Raises:
        InputError: unreadable file, no depth image, too many pixels.
        MissingExtraError: pillow-heif is not installed.
    """
    pillow_heif = register_heif()
    try:
        heif = pillow_heif.open_heif(os.fspath(path), convert_hdr_to_8bit=False)
        w, h = heif.size
        check_pixels(path, [(w, h)], max_pixels)
        found = heif.info.get("depth_images") or []
        if not found:
            raise InputError(f"{path}: this HEIC carries no depth image")
        aux = found[0]
        check_pixels(path, [aux.size], max_pixels)
        pil = aux.to_pillow()
        codes = np.asarray(pil)
        info = dict(aux.info.get("metadata") or {})
    except (InputError, MissingExtraError):
        raise
    except Exception as exc:  # noqa: BLE001 - libheif's failures on a corrupt file
        raise InputError(f"{path}: not a readable HEIC depth photo ({type(exc).__name__}: {str(exc)[:80]})") from None
    if codes.ndim == 3:
        codes = codes[:, :, 0]
    top = float(np.iinfo(codes.dtype).max) if codes.dtype.kind in "ui" else 1.0
    if codes.dtype == np.uint16 and int(getattr(aux, "bit_depth", 16) or 16) < 16:
        top = float((1 << int(aux.bit_depth)) - 1)
    values, kind, meta = _interpret(codes.astype(np.float64) / top, info, _apple_depth_xmp(path))
    depth = DepthMap(values, kind=kind, model="embedded:heic", meta=dict(meta))  # type: ignore[arg-type]
    return depth, (h, w), meta


def _interpret(n: np.ndarray, info: dict[str, Any], apple: dict[str, str]) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Values, kind and stated facts from normalised codes ``n`` in [0, 1]."""
    meta: dict[str, Any] = {"representation": info, "apple": apple}
    rep = info.get("representation_type")
    z_near, z_far = info.get("z_near"), info.get("z_far")
    if rep in (0, 2) and z_near and z_far and 0 < float(z_near) < float(z_far):
        zn, zf = float(z_near), float(z_far)
        if rep == 2:
            z = zn + n * (zf - zn)
        else:  # uniform inverse depth: code 0 = far, top = near
            z = 1.0 / (1.0 / zf + n * (1.0 / zn - 1.0 / zf))
        meta.update(near=zn, far=zf)
        return z.astype(np.float32), "metric", meta
    if rep == 1 and info.get("d_min") is not None and info.get("d_max") is not None:
        d = float(info["d_min"]) + n * (float(info["d_max"]) - float(info["d_min"]))
        return d.astype(np.float32), "relative", meta
    lo, hi = _number(apple.get("FloatMinValue")), _number(apple.get("FloatMaxValue"))
    fmt = int(_number(apple.get("PixelFormat")) or 0)
    if lo is not None and hi is not None and hi > lo:
        v = lo + n * (hi - lo)
        absolute = apple.get("Accuracy", "").lower() == "absolute"
        if fmt in _DEPTH_FORMATS:
            return v.astype(np.float32), "metric" if absolute else "relative", meta
        if absolute:
            with np.errstate(divide="ignore"):
                return (1.0 / v).astype(np.float32), "metric", meta
        return v.astype(np.float32), "relative", meta
    return n.astype(np.float32), "relative", meta


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _apple_depth_xmp(path: Path) -> dict[str, str]:
    """Apple's depthData properties from the XMP packets stored in the file (metadata items are stored
    uncompressed; the first packet that uses the depthData namespace is read). Empty when there is none."""
    import xml.etree.ElementTree as ET

    data = path.read_bytes()
    at = data.find(_APPLE_DEPTH_NS)
    if at < 0:
        return {}
    start = data.rfind(b"<x:xmpmeta", 0, at)
    end = data.find(b"</x:xmpmeta>", at)
    if start < 0 or end < 0:
        return {}
    try:
        root = ET.fromstring(data[start : end + len(b"</x:xmpmeta>")])
    except (ET.ParseError, ValueError, LookupError):
        return {}
    uri = "{" + _APPLE_DEPTH_NS.decode() + "}"
    out: dict[str, str] = {}
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.startswith(uri):
                out[k[len(uri) :]] = v
        if el.tag.startswith(uri) and el.text and len(el) == 0:
            out[el.tag[len(uri) :]] = el.text.strip()
    return out
