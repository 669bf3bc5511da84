"""Depth photos for 3D-photo viewers: GDepth and Dynamic Depth JPEGs, Facebook 3D pairs, Looking Glass RGB-D.

| format | what is written |
| --- | --- |
| ``gdepth`` | one JPEG: the photo, its depth as a PNG in Google's GDepth XMP (extended XMP when over 64 KB) |
| ``dynamic-depth`` | one JPEG: the photo, Dynamic Depth 1.0 XMP, the depth and confidence PNGs appended |
| ``facebook3d`` | ``photo.jpg`` and ``photo_depth.jpg`` (same size, near = white) |
| ``rgbd`` | Looking Glass RGB-D: the photo on the left, its depth on the right (near = white), one image |

Range encoding (GDepth and Dynamic Depth; see :mod:`depthforge.io.depthphoto_read`): distances ``d`` between
``near`` and ``far`` become ``dn`` = ``far (d - near) / (d (far - near))`` (RangeInverse, the default) or ``(d -
near) / (far - near)`` (RangeLinear), rounded to 8 or 16 bits. Metric maps keep metres (near/far = their range);
disparity maps with a focal length and a baseline are converted to metres. A relative map (or a disparity map
without a camera) has no distances: it is written as *pseudo-distances* between ``near_m`` and ``far_m``
(default 1 and 10 m, linear in inverse depth, so its ordering and relative spacing are kept), and the file says
so (``depthforge:Kind``). Invalid pixels get the far code and confidence 0.

The photo is encoded once (JPEG quality 95); metadata segments are inserted without touching its compressed
data, so it decodes to the same pixels as the same JPEG without depth.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.validation import check_choice, check_positive
from depthforge.io.atomic import atomic_write_bytes
from depthforge.io.depthphoto_read import NS, RANGE_FORMATS
from depthforge.io.images import exif_bytes, icc_profile
from depthforge.io.xmp import NS_XMP_NOTE, STANDARD_MAX_BYTES, extended_guid_for, insert_xmp, xmp_segments

__all__ = [
    "PHOTO_FORMATS",
    "RangeEncoding",
    "encode_jpeg",
    "encode_range",
    "write_depth_photo",
    "write_dynamic_depth",
    "write_facebook3d",
    "write_gdepth",
    "write_rgbd",
]

#: Depth photo formats of ``depthforge estimate --format`` (one JPEG each; facebook3d: a pair).
PHOTO_FORMATS = ("gdepth", "dynamic-depth", "facebook3d")
_PSEUDO_NEAR_M, _PSEUDO_FAR_M = 1.0, 10.0


@dataclass(frozen=True)
class RangeEncoding:
    """A depth map as range-encoded codes.

    Attributes:
        codes: (H, W) uint8 or uint16; 0 = near, top = far.
        valid: (H, W) bool, False where the map had no value (written as far, confidence 0).
        near, far: the range in metres (pseudo-metres when ``kind`` is not metric).
        format: ``RangeInverse`` or ``RangeLinear``.
        kind: the kind of the map that was written (``metric``, or ``relative``/``disparity`` for pseudo-depth).
    """

    codes: np.ndarray
    valid: np.ndarray
    near: float
    far: float
    format: str
    kind: str

    @property
    def pseudo(self) -> bool:
        """True when near/far are pseudo-distances (the map was not metric)."""
        return self.kind != "metric"


#: The largest ICC profile carried in one JPEG APP2 segment (65535 - 2 length bytes - 14 header bytes).
_ICC_CHUNK = 65519


def encode_range(
    depth: DepthMap,
    *,
    format: str = "RangeInverse",  # noqa: A002 - the specification's name
    bits: int = 8,
    near_m: float | None = None,
    far_m: float | None = None,
) -> RangeEncoding:
    """Range-encode a depth map (see the module docstring).

    Args:
        depth: any kind.
        format: ``RangeInverse`` or ``RangeLinear``.
        bits: 8 or 16.
        near_m, far_m: metric maps: the range to encode (default: the map's own min and max; values outside are
            clipped); other maps: the pseudo-distance range (default 1 and 10 m).

    Returns:
        The codes and the range they span.
    """
    check_choice(format, "format", RANGE_FORMATS)
    check_choice(bits, "bits", (8, 16))
    top = 255 if bits == 8 else 65535
    if depth.kind == "disparity" and depth.baseline_m and depth.intrinsics is not None:
        depth = depth.to_metric()
    valid = depth.valid
    if not valid.any():
        raise ValidationError("depth: no valid pixel to encode")
    if depth.kind == "metric":
        lo, hi = depth.value_range()
        near = float(near_m) if near_m is not None else lo
        far = float(far_m) if far_m is not None else hi
        d = np.where(valid, depth.values, far).astype(np.float64)
    else:
        near = check_positive(near_m, "near_m") if near_m is not None else _PSEUDO_NEAR_M
        far = check_positive(far_m, "far_m") if far_m is not None else _PSEUDO_FAR_M
        inv = depth.inverse_depth().astype(np.float64)
        lo, hi = float(np.nanmin(inv)), float(np.nanmax(inv))
        n = (inv - lo) / (hi - lo) if hi > lo else np.zeros_like(inv)
        d = 1.0 / (1.0 / far + np.where(valid, n, 0.0) * (1.0 / near - 1.0 / far))
    if far <= near:
        far = near * 1.001 + 1e-6  # a flat map: any range holds it
    if not near > 0:
        raise ValidationError(f"near_m: the range must start above 0 m, got {near:g}")
    d = np.clip(d, near, far)
    dn = far * (d - near) / (d * (far - near)) if format == "RangeInverse" else (d - near) / (far - near)
    codes = np.rint(np.clip(dn, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)
    return RangeEncoding(codes, valid, float(near), float(far), format, depth.kind)


def encode_jpeg(image: np.ndarray | Image, *, quality: int = 95) -> bytes:
    """JPEG bytes of an RGB(A)/grey image (alpha dropped, 16-bit reduced to 8), by libjpeg-turbo (simplejpeg); an
    :class:`Image` read from a file keeps that file's EXIF (:func:`~depthforge.io.images.exif_bytes`: camera,
    focal length, date; orientation upright, as the pixels are)."""
    import simplejpeg

    a = to_uint8(image)
    if a.ndim == 2:
        jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(a[:, :, None]), quality=quality, colorspace="GRAY")
    else:
        jpeg = simplejpeg.encode_jpeg(np.ascontiguousarray(a[:, :, :3]), quality=quality, colorspace="RGB")
    exif = exif_bytes(image) if isinstance(image, Image) else None
    icc = icc_profile(image) if isinstance(image, Image) and a.ndim == 3 else None
    if icc is not None and len(icc) > _ICC_CHUNK:
        icc = None  # a profile over one segment (rare: most are a few KB) is left out rather than split
    segments = b""
    if exif is not None:
        segments += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    if icc is not None:  # APP2 'ICC_PROFILE', chunk 1 of 1 (user trial 4: a Display P3 photo's colours shifted)
        payload = b"ICC_PROFILE\0\x01\x01" + icc
        segments += b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload
    if not segments:
        return bytes(jpeg)
    # after the JFIF segment (APP0) when there is one, as cameras and exiftool order them
    at = 4 + struct.unpack(">H", jpeg[4:6])[0] if jpeg[2:4] == b"\xff\xe0" else 2
    return bytes(jpeg[:at]) + segments + bytes(jpeg[at:])


def _png(codes: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", codes)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8/uint16 grey array
        raise ValidationError("depth: could not encode the depth image")
    return bytes(buf.tobytes())


def _num(v: float) -> str:
    return f"{v:.9g}"


def _packet(attrs: dict[str, str], prefixes: list[str], body: str = "", *, wrapper: bool = True) -> bytes:
    """An XMP packet of one rdf:Description with ``attrs`` (qualified names) and child XML ``body``."""
    decl = "".join(f" xmlns:{p}={quoteattr(NS.get(p) or NS_XMP_NOTE)}" for p in prefixes)
    props = "".join(f"\n   {k}={quoteattr(v)}" for k, v in attrs.items())
    text = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about=""{decl}{props}'
        + (f">{body}\n  </rdf:Description>" if body else "/>")
        + "\n </rdf:RDF>\n</x:xmpmeta>"
    )
    if wrapper:
        text = f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{text}\n<?xpacket end="w"?>'
    return text.encode("utf-8")


def _seq(items: list[str]) -> str:
    """An rdf:Seq of resource items (each one XML element)."""
    lis = "".join(f'\n     <rdf:li rdf:parseType="Resource">{item}</rdf:li>' for item in items)
    return f"\n    <rdf:Seq>{lis}\n    </rdf:Seq>\n   "


def write_gdepth(
    path: str | os.PathLike[str],
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    format: str = "RangeInverse",  # noqa: A002
    bits: int = 8,
    near_m: float | None = None,
    far_m: float | None = None,
) -> Path:
    """A JPEG of ``image`` carrying ``depth`` as GDepth XMP (atomically).

    Args:
        path: the JPEG to write.
        image: (H, W, 3) RGB (uint8/uint16/float) or an :class:`Image`.
        depth: any kind and size (viewers stretch it to the photo).
        format, bits, near_m, far_m: see :func:`encode_range`.

    Returns:
        The path written.
    """
    enc = encode_range(depth, format=format, bits=bits, near_m=near_m, far_m=far_m)
    img = image.rgb if isinstance(image, Image) else np.asarray(image)
    attrs = {
        "GDepth:Format": enc.format,
        "GDepth:Near": _num(enc.near),
        "GDepth:Far": _num(enc.far),
        "GDepth:Units": "m",
        "GDepth:MeasureType": "OpticalAxis",
        "GDepth:Mime": "image/png",
        "GDepth:ImageWidth": str(img.shape[1]),
        "GDepth:ImageHeight": str(img.shape[0]),
        "GDepth:Software": "depthforge",
        "depthforge:Kind": enc.kind,
    }
    data = {"GDepth:Data": base64.b64encode(_png(enc.codes)).decode("ascii")}
    if not enc.valid.all():
        attrs["GDepth:ConfidenceMime"] = "image/png"
        data["GDepth:Confidence"] = base64.b64encode(_png(enc.valid.astype(np.uint8) * 255)).decode("ascii")
    prefixes = ["GDepth", "depthforge"]
    standard = _packet({**attrs, **data}, prefixes)
    extended = b""
    if len(standard) > STANDARD_MAX_BYTES:
        extended = _packet(data, ["GDepth"], wrapper=False)
        attrs["xmpNote:HasExtendedXMP"] = extended_guid_for(extended)
        standard = _packet(attrs, [*prefixes, "xmpNote"])
    jpeg = insert_xmp(encode_jpeg(image), xmp_segments(standard, extended))
    return atomic_write_bytes(path, jpeg)


def write_dynamic_depth(
    path: str | os.PathLike[str],
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    bits: int = 8,
    near_m: float | None = None,
    far_m: float | None = None,
) -> Path:
    """A Dynamic Depth 1.0 JPEG (atomically): the photo, its XMP (Device, a DepthPhoto profile, one camera with
    Image, DepthMap and, when ``depth`` has intrinsics, ImagingModel) and the depth and confidence PNGs
    appended as container items. The depth map is RangeInverse in Meters (pseudo-metres for relative maps, as
    ``depthforge:Kind`` states), 0 < near < far, with a confidence map (255 valid, 0 invalid): the fields
    Android's validator (``ValidateAndroidDynamicDepthBuffer``) requires.

    Returns:
        The path written.
    """
    enc = encode_range(depth, format="RangeInverse", bits=bits, near_m=near_m, far_m=far_m)
    depth_png, conf_png = _png(enc.codes), _png(enc.valid.astype(np.uint8) * 255)
    img = image.rgb if isinstance(image, Image) else np.asarray(image)
    items = [("image/jpeg", 0, "primary_image"), ("image/png", len(depth_png), "depthforge/depthmap")]
    items.append(("image/png", len(conf_png), "depthforge/confidencemap"))
    directory = [
        f"<Container:Item Item:Mime={quoteattr(m)} Item:Length={quoteattr(str(n))} Item:DataURI={quoteattr(u)}/>"
        for m, n, u in items
    ]
    model = ""
    intr = depth.intrinsics
    if intr is not None:
        sx, sy = img.shape[1] / intr.width, img.shape[0] / intr.height
        model = (
            f"\n       <Camera:ImagingModel ImagingModel:FocalLengthX={quoteattr(_num(intr.fx * sx))}"
            f" ImagingModel:FocalLengthY={quoteattr(_num(intr.fy * sy))}"
            f" ImagingModel:PrincipalPointX={quoteattr(_num(intr.cx * sx))}"
            f" ImagingModel:PrincipalPointY={quoteattr(_num(intr.cy * sy))}"
            f' ImagingModel:ImageWidth="{img.shape[1]}" ImagingModel:ImageHeight="{img.shape[0]}"'
            ' ImagingModel:Skew="0" ImagingModel:PixelAspectRatio="1"/>'
        )
    camera = f"""<Device:Camera rdf:parseType="Resource">
       <Camera:Trait>Physical</Camera:Trait>
       <Camera:Image Image:ItemSemantic="Primary" Image:ItemURI="primary_image"/>
       <Camera:DepthMap DepthMap:ItemSemantic="Depth" DepthMap:Format="RangeInverse" DepthMap:Units="Meters"
           DepthMap:Near={quoteattr(_num(enc.near))} DepthMap:Far={quoteattr(_num(enc.far))}
           DepthMap:MeasureType="OpticalAxis" DepthMap:DepthURI="depthforge/depthmap"
           DepthMap:ConfidenceURI="depthforge/confidencemap" DepthMap:Software="depthforge"/>{model}
      </Device:Camera>"""
    profile = (
        '<Device:Profile Profile:Type="DepthPhoto"><Profile:CameraIndices><rdf:Seq><rdf:li>0</rdf:li></rdf:Seq>'
        "</Profile:CameraIndices></Device:Profile>"
    )
    body = (
        '\n   <Device:Container rdf:parseType="Resource">'
        f"<Container:Directory>{_seq(directory)}</Container:Directory></Device:Container>"
        f"\n   <Device:Profiles>{_seq([profile])}</Device:Profiles>"
        f"\n   <Device:Cameras>{_seq([camera])}</Device:Cameras>"
    )
    prefixes = ["Device", "Container", "Item", "Profile", "Camera", "Image", "DepthMap", "ImagingModel", "depthforge"]
    standard = _packet({"depthforge:Kind": enc.kind}, prefixes, body)
    jpeg = insert_xmp(encode_jpeg(image), xmp_segments(standard))
    return atomic_write_bytes(path, jpeg + depth_png + conf_png)


def _display_u8(image: np.ndarray | Image, depth: DepthMap) -> np.ndarray:
    """The depth resampled to the image and made an 8-bit display (near = white)."""
    from depthforge.process.normalize import display_codes
    from depthforge.process.resample import resize_depth

    img = image.rgb if isinstance(image, Image) else np.asarray(image)
    codes, _ = display_codes(resize_depth(depth, (img.shape[0], img.shape[1])), top=255)
    return np.asarray(codes, dtype=np.uint8)


def write_facebook3d(path: str | os.PathLike[str], image: np.ndarray | Image, depth: DepthMap) -> tuple[Path, Path]:
    """A Facebook 3D photo pair (atomically): ``path`` (the photo, JPEG) and ``<stem>_depth.jpg`` beside it (the
    depth at the photo's size, 8-bit grey JPEG, near = white). Upload both together.

    Returns:
        (photo path, depth path).
    """
    p = Path(path)
    dpath = p.with_name(f"{p.stem}_depth.jpg")
    atomic_write_bytes(dpath, encode_jpeg(_display_u8(image, depth)))
    return atomic_write_bytes(p, encode_jpeg(image)), dpath


def write_rgbd(path: str | os.PathLike[str], image: np.ndarray | Image, depth: DepthMap) -> Path:
    """A Looking Glass RGB-D image (atomically): the photo on the left, its depth (8-bit, near = white, at the
    photo's size) on the right; PNG or JPEG by extension. In Looking Glass Studio: depth on the right, not
    inverted."""
    from depthforge.io.images import write_image

    rgb = to_uint8(image)[:, :, :3]
    grey = _display_u8(image, depth)
    return write_image(path, np.concatenate([rgb, np.repeat(grey[:, :, None], 3, axis=2)], axis=1))


@depth_arrays
def write_depth_photo(
    path: str | os.PathLike[str],
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    format: str,  # noqa: A002 - the user-facing name
    bits: int = 8,
    range_format: str = "RangeInverse",
    near_m: float | None = None,
    far_m: float | None = None,
) -> Path:
    """Write a photo with its depth for 3D-photo viewers (the module docstring's table).

    Args:
        path: the output JPEG (written atomically).
        image: (H, W, 3) uint8 RGB or an :class:`Image` (16-bit and float images are reduced to 8 bits).
        depth: a :class:`DepthMap` of any kind and the image's size.
        format: one of :data:`PHOTO_FORMATS`: ``gdepth``, ``dynamic-depth`` or ``facebook3d`` (which also writes
            ``<stem>_depth.jpg`` beside ``path``).
        bits: 8 or 16 bits per depth code (GDepth and Dynamic Depth).
        range_format: ``RangeInverse`` or ``RangeLinear`` (GDepth; Dynamic Depth is always RangeInverse).
        near_m, far_m: the distance range encoded, metres: a metric map's own range by default (values outside
            are clipped); relative maps are written as pseudo-distances between these (default 1 and 10).

    Returns:
        The path of the photo written.
    """
    check_choice(format, "format", PHOTO_FORMATS)
    if Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        raise ValidationError(f"format: {format} writes a JPEG; name the output .jpg, not '{Path(path).suffix}'")
    if format == "gdepth":
        return write_gdepth(path, image, depth, format=range_format, bits=bits, near_m=near_m, far_m=far_m)
    if format == "dynamic-depth":
        return write_dynamic_depth(path, image, depth, bits=bits, near_m=near_m, far_m=far_m)
    return write_facebook3d(path, image, depth)[0]
