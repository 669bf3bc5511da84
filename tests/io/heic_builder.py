"""Build a HEIC with a depth auxiliary image for the tests, the way iPhones lay one out.

pillow-heif writes HEIC files but cannot attach an auxiliary image, and Debian's libheif tools (1.15) cannot
either. So the two HEVC images are encoded by pillow-heif's writer (libheif + x265), each as its own HEIC; their
coded data and decoder configuration (``hvcC``, ``ispe``) are taken from those files, and a new file is
assembled from the boxes of ISO/IEC 23008-12: item 1 the colour image (primary), item 2 the depth image with an
``auxC`` property of type ``urn:mpeg:hevc:2015:auxid:2`` (depth) and an ``auxl`` reference to item 1, and
optionally item 3, an XMP packet (``mime`` item, ``cdsc`` reference to item 2) with Apple's depthData fields.
libheif (pillow-heif's reader) then reports the depth image; the tests check that it does before using the file.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """Top-level boxes of ``data[start:end]``: type -> (payload start, payload end) (first of each type)."""
    end = len(data) if end is None else end
    out: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.setdefault(kind, (pos + 8, pos + size))
        pos += size
    return out


def _coded_image(heic: bytes) -> tuple[bytes, bytes, bytes]:
    """(hvcC box, ispe box, coded data) of the primary item of a one-image HEIC written by pillow-heif."""
    top = _boxes(heic)
    m0, m1 = top[b"meta"]
    meta = _boxes(heic, m0 + 4, m1)
    p0, p1 = meta[b"iprp"]
    c0, c1 = _boxes(heic, p0, p1)[b"ipco"]
    props, pos = [], c0
    while pos < c1:
        size, kind = struct.unpack(">I4s", heic[pos : pos + 8])
        props.append((kind, heic[pos : pos + size]))
        pos += size
    hvcc = next(b for k, b in props if k == b"hvcC")
    ispe = next(b for k, b in props if k == b"ispe")
    i0, _ = meta[b"iloc"]
    version = heic[i0]
    sizes = heic[i0 + 4], heic[i0 + 5]
    off_size, len_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    idx_size = sizes[1] & 15 if version in (1, 2) else 0
    pos = i0 + 6
    count = struct.unpack(">H", heic[pos : pos + 2])[0]
    pos += 2
    read = {0: lambda _p: 0, 4: lambda p: struct.unpack(">I", heic[p : p + 4])[0]}
    for _ in range(count):
        pos += 2  # item id (one image: the primary)
        if version in (1, 2):
            pos += 2  # construction method
        pos += 2  # data reference index
        base = read[base_size](pos)
        pos += base_size
        extents = struct.unpack(">H", heic[pos : pos + 2])[0]
        pos += 2
        chunks = []
        for _ in range(extents):
            pos += idx_size
            off = read[off_size](pos)
            pos += off_size
            length = read[len_size](pos)
            pos += len_size
            chunks.append(heic[base + off : base + off + length])
        return hvcc, ispe, b"".join(chunks)
    raise AssertionError("no item in the HEIC")


def _encode(array: np.ndarray) -> bytes:
    import pillow_heif

    mode = "L" if array.ndim == 2 else "RGB"
    heif = pillow_heif.from_bytes(mode=mode, size=(array.shape[1], array.shape[0]), data=array.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=-1)  # lossless: the depth codes come back exactly
    return buf.getvalue()


def apple_depth_xmp(*, float_min: float, float_max: float, pixel_format: bytes, accuracy: str) -> bytes:
    """An XMP packet with Apple's depthData fields for an 8-bit depth auxiliary image."""
    fmt = int.from_bytes(pixel_format, "big")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:depthData="http://ns.apple.com/depthData/1.0/"'
        f' depthData:PixelFormat="{fmt}" depthData:FloatMinValue="{float_min}" depthData:FloatMaxValue="{float_max}"'
        f' depthData:IntMinValue="0" depthData:IntMaxValue="255" depthData:Accuracy="{accuracy}"'
        ' depthData:DepthDataVersion="125537" depthData:Filtered="1"/></rdf:RDF></x:xmpmeta>'
    ).encode()


def build_heic_with_depth(path: Path, image: np.ndarray, depth_codes: np.ndarray, *, xmp: bytes = b"") -> Path:
    """Write a HEIC whose primary ``image`` ((H, W, 3) uint8) has the depth auxiliary image ``depth_codes``
    ((h, w) uint8), plus an optional XMP packet describing the depth item."""
    items = [_coded_image(_encode(np.ascontiguousarray(image))), _coded_image(_encode(depth_codes))]
    aux = _full(b"auxC", 0, 0, b"urn:mpeg:hevc:2015:auxid:2\x00")
    ipco = _box(b"ipco", items[0][0] + items[0][1] + items[1][0] + items[1][1] + aux)
    # properties are 1-based: item 1 -> hvcC(1) essential, ispe(2); item 2 -> hvcC(3) essential, ispe(4), auxC(5)
    assoc = struct.pack(">HB", 1, 2) + bytes([0x81, 0x02]) + struct.pack(">HB", 2, 3) + bytes([0x83, 0x04, 0x85])
    ipma = _full(b"ipma", 0, 0, struct.pack(">I", 2) + assoc)
    infe = [_full(b"infe", 2, 0, struct.pack(">HH", i, 0) + b"hvc1" + b"\x00") for i in (1, 2)]
    refs = _box(b"auxl", struct.pack(">HHH", 2, 1, 1))
    payloads = [items[0][2], items[1][2]]
    if xmp:
        infe.append(_full(b"infe", 2, 0, struct.pack(">HH", 3, 0) + b"mime" + b"\x00" + b"application/rdf+xml\x00"))
        refs += _box(b"cdsc", struct.pack(">HHH", 3, 1, 2))
        payloads.append(xmp)
    iinf = _full(b"iinf", 0, 0, struct.pack(">H", len(infe)) + b"".join(infe))
    hdlr = _full(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 12 + b"\x00")
    pitm = _full(b"pitm", 0, 0, struct.pack(">H", 1))
    iref = _full(b"iref", 0, 0, refs)
    iprp = _box(b"iprp", ipco + ipma)
    ftyp = _box(b"ftyp", b"heic" + struct.pack(">I", 0) + b"mif1heic")

    def meta_with(offsets: list[int]) -> bytes:
        entries = b"".join(
            struct.pack(">HHHII", i + 1, 0, 1, off, len(data))
            for i, (off, data) in enumerate(zip(offsets, payloads, strict=True))
        )
        iloc = _full(b"iloc", 0, 0, bytes([0x44, 0x00]) + struct.pack(">H", len(payloads)) + entries)
        return _full(b"meta", 0, 0, hdlr + pitm + iloc + iinf + iref + iprp)

    start = len(ftyp) + len(meta_with([0] * len(payloads))) + 8
    offsets = [start + sum(len(d) for d in payloads[:i]) for i in range(len(payloads))]
    path.write_bytes(ftyp + meta_with(offsets) + _box(b"mdat", b"".join(payloads)))
    return path
