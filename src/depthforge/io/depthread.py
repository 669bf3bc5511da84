"""Reading depth files of every supported format into a :class:`~depthforge.core.depthmap.DepthMap`.

The format is recognised from the file's content, never from its extension: NumPy ``.npy`` (numeric arrays only,
no pickles), PFM, OpenEXR, TIFF, photos that carry their depth (GDepth or Dynamic Depth JPEGs, HEIC with a depth
image: :mod:`depthforge.io.depthphoto_read`), and the image formats of :mod:`depthforge.io.images` (8/16-bit PNG,
...). Every
file passes the same policy as photos (:mod:`depthforge.io.inputs`): a regular file of bounded size, at most
``max_pixels`` values counting every page, checked from the header before any value is decoded. Metadata written
by depthforge (PNG text chunk, TIFF description, EXR header or a ``<file>.json`` sidecar) is checked field by
field; a malformed field is reported, never half applied. Every failure is an
:class:`~depthforge.core.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.core.depthmap import DEPTH_KINDS, DepthMap
from depthforge.core.errors import InputError, MissingExtraError, ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_choice, check_positive
from depthforge.io.depthphoto_read import embedded_depth_kind
from depthforge.io.images import load_strict, open_pil
from depthforge.io.inputs import (
    check_input_file,
    check_pixels,
    decoding,
    max_bytes_for,
    max_pixels_limit,
)

__all__ = ["read_depth", "sidecar_path", "META_KEY"]

#: Name of the metadata entry (PNG text chunk, EXR header attribute) that depthforge writes.
META_KEY = "depthforge"
_MAX_META_BYTES = 1 << 20


_log = logging.getLogger("depthforge")


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of a depth file: ``<file>.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def read_depth(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    scale: float | None = None,
    max_pixels: int | None = None,
) -> DepthMap:
    """Read a depth file into a :class:`DepthMap`.

    Kind and scale come from the file's metadata (PNG text, TIFF description, EXR header or JSON sidecar) when it
    has them; ``kind`` and ``scale`` override. Without metadata:

    * float files (tiff, npy, pfm, exr): raw values x ``scale`` (default 1), kind default ``relative``.
    * integer images (8/16-bit PNG, TIFF): with ``scale`` given, raw codes x ``scale`` and 0 = invalid for metric
      and disparity (e.g. Middlebury ``disp2.png`` is ``--depth-kind disparity --depth-scale 0.25``); without it,
      a display image: code / max code, near = white, kind ``relative``.

    Metric values from :data:`BACKGROUND_M` (1e9 m) on are a renderer's empty background (Blender's Z pass writes
    1e10 m there): they are read as invalid, with a notice.

    The file holds one map: ``(H, W)``, ``(H, W, 1)`` or ``(1, H, W)``; a colour image's first channel is read
    (grey stored as RGB). Multi-page files and other 3-D arrays are refused.

    Args:
        path: the depth file.
        kind: ``relative``, ``metric`` or ``disparity`` (None: from the metadata, else ``relative``).
        scale: multiply the raw values by this.
        max_pixels: largest map accepted (default as for photos: ``DEPTHFORGE_MAX_PIXELS`` or 250 M).

    Raises:
        InputError: missing, unreadable, corrupt, too large or not a depth file; malformed metadata. The message
            names the file.
    """
    if kind is not None:
        check_choice(kind, "kind", DEPTH_KINDS)
    if scale is not None:
        scale = check_positive(scale, "scale")  # finite and > 0 (0 flattens, < 0 turns the map round)
    limit = max_pixels_limit(max_pixels)
    p = check_input_file(path, what="depth file", max_bytes=max_bytes_for(limit))
    if embedded_depth_kind(p, strict=True) is not None:  # a photo carrying its depth (GDepth, Dynamic Depth, HEIC)
        return _embedded(p, limit, kind=kind, scale=scale)
    with decoding(p, "depth file"):
        arr, meta = _read_any(p, limit)
        values = _decode_values(_single_map(arr, p), meta, kind=kind, scale=scale, path=p)
    _note_kind(p, kind, meta.get("kind"), raw=arr.dtype.kind == "f" or scale is not None)
    if (kind or meta.get("kind")) == "metric":
        values = _without_background(values, p)
    baseline = _finite(meta.get("baseline_m"))
    if baseline is not None and baseline <= 0:
        baseline = None
    return DepthMap(
        values,
        kind=kind or meta.get("kind") or "relative",  # type: ignore[arg-type]  # checked in _decode_values
        intrinsics=_intrinsics(meta, values.shape),
        model=str(meta.get("model", ""))[:200],
        baseline_m=baseline,
    )


#: Metric depth from this distance on is a renderer's "nothing here" (Blender's Z pass writes 1e10 m), not a scene.
BACKGROUND_M = 1e9


def _without_background(values: np.ndarray, p: Path) -> np.ndarray:
    """Metres with a renderer's empty background (:data:`BACKGROUND_M` and beyond) made invalid, with a notice
    (user trial 6: Blender's 1e10 m background was read as valid depth)."""
    with np.errstate(invalid="ignore"):
        far = np.isfinite(values) & (values >= BACKGROUND_M)
    n = int(np.count_nonzero(far))
    if not n:
        return values
    pixels = "1 pixel" if n == 1 else f"{n} pixels"
    _log.info(f"{p.name}: {pixels} at {BACKGROUND_M:g} m or more (a renderer's empty background) read as no depth")
    return np.where(far, np.float32(np.nan), values).astype(np.float32)


def _note_kind(p: Path, asked: str | None, stated: Any, *, raw: bool) -> None:
    """A notice (the ``depthforge`` logger, INFO) when the kind of raw values (a float file, or codes with a scale)
    is assumed, or when the kind asked for overrides the file's own: a metric map read as relative turns every
    near/far decision round (user trial 3). A display image (codes without a scale) is near = white by convention."""
    if asked is None and stated is None and raw:
        _log.info(f"{p.name} does not say its kind: read as relative (larger = nearer); give it if metric or disparity")
    elif asked is not None and stated is not None and asked != stated:
        _log.info(f"{p.name} says it is {stated}: read as {asked}, as asked")


def _embedded(p: Path, limit: int, *, kind: str | None, scale: float | None) -> DepthMap:
    """The depth map a photo carries (:mod:`depthforge.io.depthphoto_read`), with ``kind``/``scale`` applied."""
    from depthforge.io.depthphoto_read import read_depth_photo

    depth = read_depth_photo(p, max_pixels=limit).depth
    if (kind is None or kind == depth.kind) and scale is None:
        return depth
    values = depth.values * np.float32(scale if scale is not None else 1.0)
    return DepthMap(values, kind=kind or depth.kind, intrinsics=depth.intrinsics, model=depth.model, meta=depth.meta)  # type: ignore[arg-type]


def _read_any(p: Path, limit: int) -> tuple[np.ndarray, dict[str, Any]]:
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x93NUMPY"):
        return _read_npy(p, limit), _read_sidecar(p)
    if head[:2] in (b"Pf", b"PF") and head[2:3].isspace():
        return _read_pfm(p, limit), _read_sidecar(p)
    if head.startswith(b"\x76\x2f\x31\x01"):
        return _read_exr(p, limit)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _read_tiff(p, limit)
    if head.startswith(b"PK\x03\x04"):
        raise InputError(f"{p}: a zip archive (.npz?), not a depth file; save one array with numpy.save")
    return _read_raster(p, limit)


def _read_npy(p: Path, limit: int) -> np.ndarray:
    """A numeric .npy array; the header is checked (dtype, shape, size against the file) before any data."""
    from numpy.lib import format as npformat

    with open(p, "rb") as fh:
        version = npformat.read_magic(fh)
        reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        shape, fortran, dtype = reader(fh)
        offset = fh.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biuf":
        raise InputError(f"{p}: a .npy of dtype {dtype} is not a depth map (numbers expected)")
    _check_shape(p, shape, limit)
    count = math.prod(shape)
    if offset + count * dtype.itemsize > p.stat().st_size:
        raise InputError(f"{p}: truncated .npy (the header announces {shape} {dtype})")
    data = np.fromfile(p, dtype=dtype, count=count, offset=offset)
    return data.reshape(shape, order="F" if fortran else "C")


def _check_shape(p: Path, shape: tuple[int, ...], limit: int) -> None:
    if not 2 <= len(shape) <= 3 or min(shape) < 1:
        raise InputError(f"{p}: holds an array of shape {tuple(shape)}; a depth map is (H, W)")
    h, w = (shape[1], shape[2]) if len(shape) == 3 and shape[0] == 1 else (shape[0], shape[1])
    pages = [(w, h)] * (math.prod(shape) // max(1, h * w))
    check_pixels(p, pages, limit)


def _read_pfm(p: Path, limit: int) -> np.ndarray:
    """A PFM (Middlebury) file: ``Pf`` grey or ``PF`` colour (its first channel), rows bottom to top.

    The header's scale gives the byte order by its sign; its size is not applied (values are read as stored, as
    Middlebury's own reader does; OpenCV and imageio divide by it), with a notice when it is not 1."""
    with open(p, "rb") as fh:
        head = re.match(rb"\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s", fh.read(256))
    if head is None:
        raise InputError(f"{p}: truncated or malformed PFM header")
    parts, pos = head.groups(), head.end()
    try:
        w, h, endian = int(parts[1]), int(parts[2]), float(parts[3])
    except ValueError:
        raise InputError(f"{p}: malformed PFM header") from None
    if w <= 0 or h <= 0 or not math.isfinite(endian) or endian == 0:
        raise InputError(f"{p}: malformed PFM header (size {w}x{h}, scale {endian})")
    check_pixels(p, [(w, h)], limit)
    ch = 3 if parts[0] == b"PF" else 1
    if pos + w * h * ch * 4 > p.stat().st_size:
        raise InputError(f"{p}: truncated PFM data")
    dtype = "<f4" if endian < 0 else ">f4"
    if abs(endian) != 1.0:  # user trial 7: readers differ here; say which rule holds
        _log.info(f"{p.name}: PFM scale {abs(endian):g} not applied (values read as stored, as Middlebury's reader)")
    a = np.fromfile(p, dtype=dtype, count=w * h * ch, offset=pos).reshape(h, w, ch)[::-1, :, 0]
    return a.astype(np.float32)


def _read_exr(p: Path, limit: int) -> tuple[np.ndarray, dict[str, Any]]:
    """An EXR's depth channel (:func:`_exr_depth_channel`, any part), placed in its display window: NaN where the
    data window does not cover it, overscan cut off (user trial 6: Nuke's bounding-box data windows were read as
    the whole image)."""
    try:
        import OpenEXR
    except ImportError:
        raise MissingExtraError("OpenEXR", "exr") from None
    with OpenEXR.File(str(p), header_only=True) as f:
        heads = [(part.header.get("dataWindow"), part.header.get("displayWindow")) for part in f.parts]
    # before any pixel is read: every part's data window (every part is decoded) and the display window the depth
    # is placed on when it differs, together within the limit
    boxes = [data for data, _ in heads if data is not None]
    if heads and heads[0][1] is not None and (heads[0][0] is None or _window(heads[0][1]) != _window(heads[0][0])):
        boxes.append(heads[0][1])
    check_pixels(p, [(x1 - x0 + 1, y1 - y0 + 1) for x0, y0, x1, y1 in map(_window, boxes)], limit)
    with OpenEXR.File(str(p), separate_channels=True) as f:
        parts = f.parts  # headers and channels are only valid while the file is open
        index, name = _exr_depth_channel(p, [list(part.channels) for part in parts])
        header = parts[index].header
        meta = _parse_meta(parts[0].header.get(META_KEY) or header.get(META_KEY), p)
        data = np.array(parts[index].channels[name].pixels, dtype=np.float32)
        shown, window = header.get("displayWindow"), header.get("dataWindow")
    if shown is None or window is None:
        return data, meta
    (vx0, vy0, vx1, vy1), (dx0, dy0, dx1, dy1) = _window(shown), _window(window)
    if (vx0, vy0, vx1, vy1) == (dx0, dy0, dx1, dy1):
        return data, meta
    out = np.full((vy1 - vy0 + 1, vx1 - vx0 + 1), np.nan, np.float32)
    x0, y0, x1, y1 = max(dx0, vx0), max(dy0, vy0), min(dx1, vx1), min(dy1, vy1)
    if x0 <= x1 and y0 <= y1:
        out[y0 - vy0 : y1 - vy0 + 1, x0 - vx0 : x1 - vx0 + 1] = data[y0 - dy0 : y1 - dy0 + 1, x0 - dx0 : x1 - dx0 + 1]
    return out, meta


def _window(box: Any) -> tuple[int, int, int, int]:
    """An EXR window ((x0, y0), (x1, y1)) as four ints (x0, y0, x1, y1)."""
    (x0, y0), (x1, y1) = box
    return int(x0), int(y0), int(x1), int(y1)


def _exr_depth_channel(p: Path, parts: list[list[str]]) -> tuple[int, str]:
    """(part, channel) of an EXR's depth: ``Z``, then a depth layer's ``.Z`` (``depth.Z``, Blender's
    ``ViewLayer.Depth.Z``), then ``depth``, then a grey ``Y``, else the one channel there is unless it is an alpha
    (user trial 6: a colour channel was read as the depth of a beauty render carrying ``depth.Z``).

    Raises:
        InputError: several channels and none of those names.
    """

    def rank(name: str) -> int | None:
        low = name.lower()
        if name == "Z":
            return 0
        if low.endswith(".z") and "depth" in low:  # not any layer's .Z: Normal.Z or P.Z are not depth (review)
            return 1
        if low == "depth" or low.endswith(".depth"):
            return 3
        return 4 if name == "Y" else None

    found = sorted((r, i, n) for i, names in enumerate(parts) for n in names if (r := rank(n)) is not None)
    if found:
        others = [n for r, _, n in found[1:] if r < 4]
        if others:  # user trial 6: Z beside depth.Z was taken without a word
            first = found[0][2]
            _log.info(f"{p.name}: several depth channels ({first}, {', '.join(others[:4])}); {first} is read")
        return found[0][1], found[0][2]
    every = [(i, n) for i, names in enumerate(parts) for n in names]
    if len(every) == 1 and every[0][1].split(".")[-1] not in ("A", "a"):  # a lone alpha is a matte, not depth
        return every[0]
    listed = ", ".join(n for _, n in every[:12]) + (", ..." if len(every) > 12 else "")
    raise InputError(f"{p}: which channel is the depth? none is named Z, depth.Z or depth ({listed})")


def _read_tiff(p: Path, limit: int) -> tuple[np.ndarray, dict[str, Any]]:
    import tifffile

    with tifffile.TiffFile(p) as tf:
        pages = len(tf.pages)
        if pages != 1:
            raise InputError(f"{p}: a TIFF of {pages} pages; a depth file holds one map")
        page = tf.pages[0]
        _check_shape(p, tuple(page.shape), limit)  # type: ignore[union-attr]
        arr = page.asarray()  # type: ignore[union-attr]
        desc = page.description  # type: ignore[union-attr]
    return arr, _parse_meta(desc, p, strict=False) or _read_sidecar(p)


def _read_raster(p: Path, limit: int) -> tuple[np.ndarray, dict[str, Any]]:
    """An image file (8/16-bit PNG, ...): its first page as grey codes, strictly decoded."""
    with open_pil(p, max_pixels=limit, what="depth file") as pil:
        load_strict(pil, p)
        text = pil.info.get(META_KEY)
        if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            arr = np.asarray(pil).astype(np.uint16)
        elif pil.mode == "I":
            arr = np.clip(np.asarray(pil), 0, 65535).astype(np.uint16)
        elif pil.mode == "F":
            arr = np.asarray(pil, dtype=np.float32)
        else:
            if pil.mode not in ("L", "LA", "1"):  # grey stored as colour is read; a colour photo is refused
                rgb = pil.convert("RGB")  # first: palette and other modes cannot be reduced
                _refuse_colour(np.asarray(rgb.reduce(4) if min(rgb.size) >= 16 else rgb), 255.0, p)
            arr = np.asarray(pil.convert("L"))
    return arr, _parse_meta(text, p) or _read_sidecar(p)


def _refuse_colour(rgb: np.ndarray, top: float, p: Path) -> None:
    """Refuse a colour image given as a depth map: grey stored as RGB differs between channels by JPEG noise at
    most (under 1 % of the range on average), a photo or a colour-mapped depth image by 10 % or more."""
    spread = float(np.abs(np.diff(rgb.astype(np.float32), axis=2)).mean()) / top if rgb.size else 0.0
    if spread > 0.02:
        raise InputError(
            f"{p}: a colour image, not a depth map (its colour channels differ by {spread:.0%} of the range on "
            "average; a photo, or a colour-mapped depth picture, which cannot be read back): give a grey depth "
            "image or a depth file"
        )


def _single_map(arr: np.ndarray, p: Path) -> np.ndarray:
    """One (H, W) map from (H, W), (H, W, 1), (1, H, W) or a colour image's first channel; others refused."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype.kind in "ui" and min(arr.shape[:2]) > 4:
        _refuse_colour(arr[::4, ::4, :3], float(np.iinfo(arr.dtype).max), p)
        arr = arr[:, :, 0]  # grey stored as RGB(A)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"{p}: holds an array of shape {arr.shape}; a depth file holds one map, (H, W) or (H, W, 1)")
    return arr


def _parse_meta(text: Any, p: Path, *, strict: bool = True) -> dict[str, Any]:
    """The metadata dict of a ``depthforge`` entry (empty when there is none).

    Raises:
        InputError: with ``strict``, an entry that is not a JSON object (a TIFF description may be anything).
    """
    if text is None or text == "":
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        meta = json.loads(str(text))
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        if strict:
            raise InputError(f"{p}: its depthforge metadata is not a JSON object")
        return {}
    return meta


def _read_sidecar(p: Path) -> dict[str, Any]:
    side = sidecar_path(p)
    if not os.path.lexists(side):
        return {}
    side = check_input_file(side, what="JSON sidecar", max_bytes=_MAX_META_BYTES)
    return _parse_meta(side.read_bytes(), side)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float; None for anything else (booleans, strings, huge integers, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _number(meta: dict[str, Any], key: str, p: Path, default: float | None = None) -> float:
    number = _finite(meta.get(key, default))
    if number is None:
        raise InputError(
            f"{p}: its depthforge metadata is malformed ({key} = {str(meta.get(key))[:40]!r}, a number expected); "
            "pass --depth-kind and --depth-scale to read the raw values"
        )
    return number


def _decode_values(
    arr: np.ndarray, meta: dict[str, Any], *, kind: str | None, scale: float | None, path: Path
) -> np.ndarray:
    """float32 values from raw codes and the metadata's encoding (see :func:`read_depth`)."""
    if meta.get("kind") is not None and meta.get("kind") not in DEPTH_KINDS:
        raise InputError(f"{path}: its depthforge metadata names an unknown kind {str(meta.get('kind'))[:40]!r}")
    a = arr
    v: np.ndarray
    if a.dtype.kind == "f":
        v = a.astype(np.float32)
        return v * np.float32(scale) if scale is not None else v
    if a.dtype.kind not in "biu":
        raise InputError(f"{path}: values of dtype {a.dtype} are not depth values")
    codes = a.astype(np.float64)
    enc = meta.get("encoding")
    if enc is not None and scale is not None:  # user trial 7: a display PNG's codes x 0.25 read as disparity px
        raise ValidationError(
            f"scale: {path.name} says how its codes become values (depthforge's {str(enc)[:20]} encoding); "
            "a scale is for plain codes: leave it out"
        )
    stated = meta.get("kind")
    if enc == "linear" and stated is not None and kind not in (None, stated):  # review: png16mm metres as px
        raise ValidationError(f"kind: {path.name} holds {str(stated)[:20]} depth in stated units: it reads as "
                              f"{str(stated)[:20]}, not as {kind}")  # fmt: skip
    if enc == "display" and kind not in (None, stated, "relative"):
        raise ValidationError(
            f"kind: {path.name} holds {stated} depth as display codes over its own range: it reads as "
            f"{'' if stated == 'relative' else f'{stated} or as '}relative (larger = nearer), not as {kind}"
        )
    if scale is not None:
        v = codes * float(scale)
        if (kind or meta.get("kind")) in ("metric", "disparity"):
            v[a == 0] = np.nan
        return v.astype(np.float32)
    if enc is None and kind in ("metric", "disparity"):  # user trial 5: code / 65535 called metres
        unit = "metres" if kind == "metric" else "pixels"
        raise ValidationError(f"scale: the integer codes of {path.name} need a scale to become {unit} "
                              f"(e.g. 0.001 for millimetres, 0.25 for Middlebury disparities)")  # fmt: skip
    if enc == "linear":
        v = codes * _number(meta, "scale", path, 1.0) + _number(meta, "offset", path, 0.0)
        v[a == _number(meta, "invalid", path, 0.0)] = np.nan
        return v.astype(np.float32)
    top = _number(meta, "max_code", path, 65535.0 if a.dtype == np.uint16 else 255.0)
    if top <= 0:
        raise InputError(f"{path}: its depthforge metadata is malformed (max_code = {top:g})")
    low = _number(meta, "min_code", path, 0.0) if enc == "display" else 0.0  # 1 when code 0 marks holes
    if not 0 <= low < top:
        raise InputError(f"{path}: its depthforge metadata is malformed (min_code = {low:g})")
    display = (codes - low) / (top - low)
    if enc == "display" and "invalid" in meta:
        display[a == _number(meta, "invalid", path, 0.0)] = np.nan
    if meta.get("invert"):
        display = 1.0 - display
    if enc == "display" and (kind is None or kind == meta.get("kind")):
        far, near = _number(meta, "display_far", path), _number(meta, "display_near", path)
        inv = far + display * (near - far)
        if meta.get("kind") == "metric":
            with np.errstate(divide="ignore"):
                return (1.0 / inv).astype(np.float32)
        return inv.astype(np.float32)
    return display.astype(np.float32)


def _intrinsics(meta: dict[str, Any], shape: tuple[int, ...]) -> Intrinsics | None:
    """The camera stored with the map, scaled to its size; None when absent or unusable."""
    m = meta.get("intrinsics")
    if not isinstance(m, dict):
        return None
    try:
        fx, fy, cx, cy = (float(m[key]) for key in ("fx", "fy", "cx", "cy"))
        intr = Intrinsics(fx, fy, cx, cy, int(m["width"]), int(m["height"]), str(m.get("source", "file"))[:80])
        if (intr.width, intr.height) != (shape[1], shape[0]):
            intr = intr.scaled((shape[0], shape[1]))
    except (KeyError, TypeError, ValueError, OverflowError, ValidationError, ZeroDivisionError):
        return None
    return intr
