"""Depth that photos already carry: Google's GDepth XMP, Dynamic Depth 1.0 containers and iPhone HEIC depth.

* **GDepth** (``http://ns.google.com/photos/1.0/depthmap/``): a base64 PNG/JPEG depth image in the XMP, usually
  in the extended packet (see :mod:`depthforge.io.xmp`), with ``Format`` (RangeInverse or RangeLinear), ``Near``,
  ``Far`` and ``Units``.
* **Dynamic Depth 1.0**: the same range encoding described by ``Device:Cameras/Camera:DepthMap`` in the XMP;
  the depth (and confidence) images are items appended after the primary JPEG, in the order of
  ``Device:Container/Container:Directory``, each ``Item:Length`` bytes long (the primary's own length is 0).
* **HEIC** (iPhone portrait photos): a depth or disparity auxiliary image, read with pillow-heif (see
  :mod:`depthforge.io.heif`).

The range formats (Google's depth-map metadata, "encoding"): a code ``c`` of ``top`` (255 or 65535) gives
``dn = c / top``; RangeLinear ``d = near + dn (far - near)``; RangeInverse ``d = far near / (far - dn (far -
near))``. So code 0 is ``near``, the top code ``far``.

What each becomes: ``Units`` m / Meters -> ``metric`` (metres), mm -> metric / 1000, Diopters -> metric 1/v;
files written by depthforge from relative or disparity maps say so (``depthforge:Kind``) and read back as
``relative`` inverse depth (1/d of the pseudo-distances, larger = nearer); other units -> ``relative`` (1/d).
The stored near/far, format and units are kept in :attr:`DepthPhoto.meta` and the map's ``meta``.
"""

from __future__ import annotations

import base64
import io
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import InputError
from depthforge.core.intrinsics import Intrinsics
from depthforge.io.inputs import check_input_file, check_pixels, max_bytes_for, max_pixels_limit
from depthforge.io.xmp import jpeg_end, read_xmp

__all__ = [
    "DepthPhoto",
    "NS",
    "RANGE_FORMATS",
    "decode_range",
    "embedded_depth_kind",
    "read_depth_photo",
]

#: XML namespaces of the depth photo formats (prefix -> URI).
NS = {
    "GDepth": "http://ns.google.com/photos/1.0/depthmap/",
    "Device": "http://ns.google.com/photos/dd/1.0/device/",
    "Container": "http://ns.google.com/photos/dd/1.0/container/",
    "Item": "http://ns.google.com/photos/dd/1.0/item/",
    "Camera": "http://ns.google.com/photos/dd/1.0/camera/",
    "DepthMap": "http://ns.google.com/photos/dd/1.0/depthmap/",
    "Image": "http://ns.google.com/photos/dd/1.0/image/",
    "ImagingModel": "http://ns.google.com/photos/dd/1.0/imagingmodel/",
    "Profile": "http://ns.google.com/photos/dd/1.0/profile/",
    "depthforge": "http://ns.depthforge.dev/1.0/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
RANGE_FORMATS = ("RangeInverse", "RangeLinear")
_MAX_DEPTH_PIXELS = 100_000_000


@dataclass(frozen=True)
class DepthPhoto:
    """A depth map found inside a photo.

    Attributes:
        depth: the map (its own size, often smaller than the photo; intrinsics scaled to it when stored).
        source: ``"gdepth"``, ``"dynamic-depth"`` or ``"heic"``.
        image_size_hw: (height, width) of the photo the map belongs to (the file's primary image).
        confidence: (H, W) float32 in [0, 1] of the depth map's size, or None when the file has none.
        meta: what the file stated: ``format`` (RangeInverse/RangeLinear), ``near``, ``far``, ``units``, ...
    """

    depth: DepthMap
    source: str
    image_size_hw: tuple[int, int]
    confidence: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def decode_range(codes: np.ndarray, *, top: int, near: float, far: float, format: str) -> np.ndarray:  # noqa: A002
    """Distances from range-encoded codes (see the module docstring).

    Args:
        codes: (H, W) integer codes 0..``top``.
        top: 255 (8-bit) or 65535 (16-bit).
        near, far: the stored range, 0 <= near < far (RangeInverse needs near > 0).
        format: ``RangeInverse`` or ``RangeLinear``.

    Returns:
        (H, W) float32 distances in the file's units, near..far.
    """
    dn = codes.astype(np.float32)
    dn *= np.float32(1.0 / top)
    if format == "RangeLinear":
        dn *= np.float32(far - near)
        dn += np.float32(near)
        return dn
    dn *= np.float32(-(far - near))  # d = far near / (far - dn (far - near)), in place in float32
    dn += np.float32(far)
    return np.divide(np.float32(far * near), dn, out=dn)


def embedded_depth_kind(path: str | os.PathLike[str], *, strict: bool = False) -> str | None:
    """Which depth a photo carries: ``"gdepth"``, ``"dynamic-depth"``, ``"heic"`` or None (none, or not a photo
    this module reads: also a pipe, a device or a file above the default size limit, which are never opened).
    Reads only the file's head and metadata.

    Args:
        path: the photo.
        strict: raise for a JPEG that names a depth format in its metadata but whose XMP is malformed (not
            well-formed XML, damaged extended XMP); by default that is None, as for any file it cannot read.

    Raises:
        InputError: only with ``strict``, naming the file and what is wrong with its XMP.
    """
    try:
        checked = check_input_file(path, what="photo", max_bytes=max_bytes_for(max_pixels_limit(None)))
        with open(checked, "rb") as fh:
            head = fh.read(16)
            data = fh.read() if head[:2] == b"\xff\xd8" else b""
    except (OSError, InputError):
        return None
    if data:
        try:
            return _jpeg_kind(head + data)
        except InputError as exc:
            if strict:
                raise InputError(f"{checked}: {exc}") from None
            return None
    from depthforge.io.heif import has_heif_depth, is_heif_head

    if is_heif_head(head):
        return "heic" if has_heif_depth(checked) else None
    return None


def _jpeg_kind(data: bytes) -> str | None:
    if NS["GDepth"].encode() not in data and NS["Device"].encode() not in data:
        return None
    trees = read_xmp(data).trees()
    if any(_find(t, "Device", "Cameras") is not None for t in trees):
        return "dynamic-depth"
    if any(_attr(t, "GDepth", "Data") for t in trees):
        return "gdepth"
    return None


def read_depth_photo(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> DepthPhoto:
    """The depth map a photo carries (GDepth, Dynamic Depth or HEIC auxiliary depth).

    Args:
        path: a JPEG with GDepth or Dynamic Depth XMP, or a HEIC/HEIF photo with a depth or disparity auxiliary
            image (iPhone portrait mode; needs pillow-heif).
        max_pixels: refuse a photo or depth image above this many pixels (default: the reader's limit).

    Returns:
        A :class:`DepthPhoto`: ``depth`` at the stored map's own size (often smaller than the photo, whose size
        is ``image_size_hw``), ``metric`` in metres when the file states metric units, else ``relative`` inverse
        depth (larger = nearer); invalid pixels NaN; camera frame as the photo's (x right, y down).

    Raises:
        InputError: the file is unreadable, carries no depth, or its depth metadata is malformed (the message
            names the file).
    """
    limit = max_pixels_limit(max_pixels)
    p = check_input_file(path, what="photo", max_bytes=max_bytes_for(limit))
    with open(p, "rb") as fh:
        head = fh.read(16)
    from depthforge.io.heif import is_heif_head, read_heif_depth

    if is_heif_head(head):
        depth, size_hw, meta = read_heif_depth(p, max_pixels=limit)
        return DepthPhoto(depth, "heic", size_hw, None, meta)
    data = p.read_bytes()
    try:
        kind = _jpeg_kind(data) if head[:2] == b"\xff\xd8" else None
        if kind is None:
            raise InputError("it carries no depth map (no GDepth or Dynamic Depth metadata)")
        trees = read_xmp(data).trees()
        found = _read_dynamic_depth(data, trees, p) if kind == "dynamic-depth" else _read_gdepth(data, trees, p)
        return _upright(found, data)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None


def _upright(found: DepthPhoto, jpeg: bytes) -> DepthPhoto:
    """``found`` turned by the photo's EXIF orientation, as :func:`~depthforge.io.images.read_image` turns the
    photo: the map is stored as the JPEG's pixels are (review: an upright photo and its map on its side). A
    stored camera is dropped when the map turns (its axes would no longer be the photo's)."""
    from PIL import Image as PILImage

    from depthforge.io.images import apply_orientation

    try:
        with PILImage.open(io.BytesIO(jpeg)) as pil:
            orientation = int(pil.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: the map as stored, as read_image keeps such a photo
        return found
    if not 2 <= orientation <= 8:
        return found
    d = found.depth
    depth = DepthMap(
        apply_orientation(d.values, orientation), kind=d.kind, model=d.model, baseline_m=d.baseline_m, meta=d.meta
    )
    h, w = found.image_size_hw
    size_hw = (w, h) if orientation >= 5 else (h, w)
    confidence = None if found.confidence is None else apply_orientation(found.confidence, orientation)
    return DepthPhoto(depth, found.source, size_hw, confidence, {**found.meta, "orientation": orientation})


def _read_gdepth(data: bytes, trees: list[ET.Element], p: Path) -> DepthPhoto:
    props = _merged(trees, "GDepth")
    raw = props.get("Data", "")
    try:
        blob = base64.b64decode("".join(raw.split()), validate=True)
    except ValueError:
        raise InputError("its GDepth:Data is not valid base64") from None
    codes, top = _decode_gray(blob, "GDepth:Data")
    conf = None
    if props.get("Confidence"):
        try:
            cblob = base64.b64decode("".join(props["Confidence"].split()), validate=True)
        except ValueError:
            raise InputError("its GDepth:Confidence is not valid base64") from None
        ccodes, ctop = _decode_gray(cblob, "GDepth:Confidence")
        conf = (ccodes.astype(np.float32) / ctop) if ccodes.shape == codes.shape else None
    size = _primary_size_hw(data)
    return _assemble(codes, top, props, conf, "gdepth", size, None, own=_merged(trees, "depthforge"))


def _read_dynamic_depth(data: bytes, trees: list[ET.Element], p: Path) -> DepthPhoto:
    tree = next(t for t in trees if _find(t, "Device", "Cameras") is not None)
    depth_el = _find(tree, "Camera", "DepthMap")
    if depth_el is None:
        raise InputError("its Dynamic Depth camera has no DepthMap")
    props = _props(depth_el, "DepthMap")
    items = [_props(el, "Item") for el in tree.iter(_tag("Container", "Item"))]
    if not items:
        raise InputError("its Dynamic Depth metadata has no Container:Directory items")
    payloads = _item_payloads(data, items)
    uri = props.get("DepthURI", "")
    if uri not in payloads:
        raise InputError(f"its DepthMap:DepthURI {uri!r} names no container item")
    codes, top = _decode_gray(payloads[uri], "the depth item")
    conf = None
    curi = props.get("ConfidenceURI", "")
    if curi in payloads:
        ccodes, ctop = _decode_gray(payloads[curi], "the confidence item")
        conf = (ccodes.astype(np.float32) / ctop) if ccodes.shape == codes.shape else None
    model = _find(tree, "Camera", "ImagingModel")
    size = _primary_size_hw(data)
    intr = _imaging_model(_props(model, "ImagingModel"), size) if model is not None else None
    return _assemble(codes, top, props, conf, "dynamic-depth", size, intr, own=_merged(trees, "depthforge"))


def _item_payloads(data: bytes, items: list[dict[str, str]]) -> dict[str, bytes]:
    """Container items by DataURI: the first is the primary JPEG, the others follow its EOI in order."""
    pos = jpeg_end(data)
    out: dict[str, bytes] = {}
    for i, item in enumerate(items):
        try:
            length = int(item.get("Length", "0"))
            padding = int(item.get("Padding", "0") or 0)
        except ValueError:
            raise InputError(f"its Dynamic Depth item {i} has a malformed Length") from None
        if i == 0:
            continue  # the primary image itself
        if length <= 0 or pos + length > len(data):
            raise InputError(f"its Dynamic Depth item {i} ({item.get('DataURI', '')!r}) runs past the end of the file")
        out[item.get("DataURI", f"item{i}")] = data[pos : pos + length - max(0, padding)]
        pos += length
    return out


def _assemble(
    codes: np.ndarray,
    top: int,
    props: dict[str, str],
    conf: np.ndarray | None,
    source: str,
    size_hw: tuple[int, int],
    intr: Intrinsics | None,
    *,
    own: dict[str, str],
) -> DepthPhoto:
    fmt = props.get("Format", "RangeInverse")
    if fmt.lower() not in ("rangeinverse", "rangelinear"):
        raise InputError(f"its depth Format {fmt[:40]!r} is neither RangeInverse nor RangeLinear")
    fmt = "RangeLinear" if fmt.lower() == "rangelinear" else "RangeInverse"
    near, far = _real(props, "Near"), _real(props, "Far")
    if not (near >= 0 and far > near) or (fmt == "RangeInverse" and near <= 0):
        raise InputError(f"its depth range is invalid (Near {near:g}, Far {far:g}; 0 <= near < far expected)")
    d = decode_range(codes, top=top, near=near, far=far, format=fmt)
    units = props.get("Units", "m")
    stated = own.get("Kind")
    if stated in ("relative", "disparity") or units.lower() not in ("m", "meters", "mm", "diopters"):
        values, kind = (1.0 / d).astype(np.float32), "relative"
    elif units.lower() == "mm":
        values, kind = d / np.float32(1000.0), "metric"
    elif units.lower() == "diopters":
        values, kind = np.where(d > 0, 1.0 / np.maximum(d, 1e-12), np.nan).astype(np.float32), "metric"
    else:
        values, kind = d, "metric"
    if stated and conf is not None:  # depthforge marks invalid pixels with confidence 0
        values = np.where(conf > 0, values, np.nan).astype(np.float32)
    meta = {"format": fmt, "near": near, "far": far, "units": units, "bits": 16 if top > 255 else 8}
    if stated:
        meta["written_kind"] = stated
    if intr is not None and (intr.height, intr.width) != values.shape:
        intr = intr.scaled(values.shape)
    depth = DepthMap(values, kind=kind, intrinsics=intr, model=f"embedded:{source}", meta=dict(meta))  # type: ignore[arg-type]
    return DepthPhoto(depth, source, size_hw, conf, meta)


def _decode_gray(blob: bytes, what: str) -> tuple[np.ndarray, int]:
    """(codes, top code) of an embedded grey PNG or JPEG (8 or 16 bit), decoded strictly by Pillow (a corrupt or
    truncated image is refused, never half read) once its size, read from the header, is checked."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(blob), formats=("PNG", "JPEG")) as pil:
            check_pixels(Path(what), [pil.size], _MAX_DEPTH_PIXELS)
            pil.load()
            if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.clip(np.asarray(pil), 0, 65535).astype(np.uint16), 65535
            return np.asarray(pil if pil.mode == "L" else pil.convert("L")), 255
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a corrupt embedded image
        raise InputError(f"{what} is not a readable PNG or JPEG ({type(exc).__name__})") from None


def _primary_size_hw(data: bytes) -> tuple[int, int]:
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data), formats=("JPEG",)) as pil:
            w, h = pil.size
    except Exception:  # noqa: BLE001
        raise InputError("its primary JPEG is unreadable") from None
    return h, w


def _imaging_model(props: dict[str, str], size_hw: tuple[int, int]) -> Intrinsics | None:
    """Intrinsics from a Dynamic Depth ImagingModel (pixels, as Android writes them; normalised values, <= 2,
    are taken as fractions of the image size)."""
    try:
        w, h = int(props["ImageWidth"]), int(props["ImageHeight"])
        fx, fy = float(props["FocalLengthX"]), float(props["FocalLengthY"])
        cx, cy = float(props.get("PrincipalPointX", w / 2)), float(props.get("PrincipalPointY", h / 2))
        if fx <= 2 and fy <= 2:
            fx, fy = fx * max(w, h), fy * max(w, h)
        if cx <= 2 and cy <= 2:
            cx, cy = cx * w, cy * h
        intr = Intrinsics(fx, fy, cx, cy, w, h, "Dynamic Depth ImagingModel")
        return intr.scaled(size_hw) if (h, w) != size_hw else intr
    except (KeyError, ValueError, ZeroDivisionError, OverflowError, InputError):
        return None
    except Exception:  # noqa: BLE001 - a ValidationError from a nonsensical model: ignore the model
        return None


def _tag(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _find(tree: ET.Element, prefix: str, name: str) -> ET.Element | None:
    return next(tree.iter(_tag(prefix, name)), None)


def _props(el: ET.Element, prefix: str) -> dict[str, str]:
    """The simple properties of namespace ``prefix`` on an element: attributes and text-only children."""
    uri = f"{{{NS[prefix]}}}"
    out = {k[len(uri) :]: v for k, v in el.attrib.items() if k.startswith(uri)}
    for child in el:
        if child.tag.startswith(uri) and len(child) == 0 and child.text is not None:
            out.setdefault(child.tag[len(uri) :], child.text.strip())
    return out


def _merged(trees: list[ET.Element], prefix: str) -> dict[str, str]:
    """Properties of ``prefix`` on every rdf:Description of every packet (standard first)."""
    out: dict[str, str] = {}
    for tree in trees:
        for desc in tree.iter(_tag("rdf", "Description")):
            for k, v in _props(desc, prefix).items():
                out.setdefault(k, v)
    return out


def _attr(tree: ET.Element, prefix: str, name: str) -> str:
    for desc in tree.iter(_tag("rdf", "Description")):
        value = _props(desc, prefix).get(name)
        if value:
            return value
    return ""


def _real(props: dict[str, str], key: str) -> float:
    try:
        v = float(props[key])
    except (KeyError, ValueError):
        raise InputError(f"its depth {key} is missing or not a number") from None
    if not math.isfinite(v):
        raise InputError(f"its depth {key} is not finite")
    return v
