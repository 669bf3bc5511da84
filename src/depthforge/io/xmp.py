"""XMP in JPEG files: read the standard and extended packets, write them back in APP1 segments.

Facts from the XMP specification, part 3 (storage in files), section on JPEG:

* The standard packet is one APP1 segment whose payload starts with ``http://ns.adobe.com/xap/1.0/\\0``; it
  holds at most 65504 bytes (a segment's payload is at most 65533 bytes).
* What does not fit goes into the *extended* XMP: a second, complete serialisation split into APP1 segments
  whose payload is ``http://ns.adobe.com/xmp/extension/\\0``, a 32-character GUID (the upper-case hex MD5 of
  the whole extended serialisation), its full length and this chunk's offset (both 4-byte big-endian), then the
  chunk. The standard packet names the GUID in ``xmpNote:HasExtendedXMP``; readers reassemble the chunks by
  GUID and offset and may check the MD5.

Reading here keeps every segment's payload as found; writing builds the segments and puts them after the
JPEG's leading APP0/APP1 (JFIF, Exif) segments, dropping any XMP the JPEG had, so the compressed image data is
left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from depthforge.core.errors import InputError

__all__ = [
    "XmpPackets",
    "EXTENDED_CHUNK_BYTES",
    "NS_XMP_NOTE",
    "STANDARD_MAX_BYTES",
    "jpeg_segments",
    "read_xmp",
    "extended_guid_for",
    "xmp_segments",
    "insert_xmp",
    "jpeg_end",
]

_STD_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
_MAX_PAYLOAD = 65533
#: Largest standard packet in one APP1 segment (bytes).
STANDARD_MAX_BYTES = _MAX_PAYLOAD - len(_STD_HEADER)
#: Bytes of extended XMP carried by one APP1 segment (payload less header, GUID, length and offset).
EXTENDED_CHUNK_BYTES = _MAX_PAYLOAD - len(_EXT_HEADER) - 32 - 8
_MAX_EXTENDED = 256 << 20
NS_XMP_NOTE = "http://ns.adobe.com/xmp/note/"


@dataclass(frozen=True)
class XmpPackets:
    """The XMP of a JPEG.

    Attributes:
        standard: the standard packet (bytes, b"" when absent).
        extended: the reassembled extended packet whose GUID the standard packet names (b"" when absent).
        guid: that GUID ("" when none).
        chunks: (offset, length) of each extended chunk found for that GUID, in file order.
    """

    standard: bytes
    extended: bytes
    guid: str
    chunks: tuple[tuple[int, int], ...]

    def trees(self) -> list[ET.Element]:
        """The parsed packets (standard first), each an ``x:xmpmeta`` or ``rdf:RDF`` element.

        Raises:
            InputError: a packet that is not well-formed XML.
        """
        out = []
        for name, packet in (("standard", self.standard), ("extended", self.extended)):
            if packet:
                try:
                    out.append(ET.fromstring(packet))
                except (ET.ParseError, ValueError, LookupError) as exc:  # LookupError: an unknown encoding
                    raise InputError(f"its {name} XMP is not well-formed XML ({exc})") from None
        return out


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of every marker segment before the first SOS (start of scan).

    Raises:
        InputError: not a JPEG, or a segment running past the end of the data.
    """
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG file (no SOI marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise InputError(f"corrupt JPEG (no marker at byte {pos})")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise InputError(f"corrupt JPEG (segment 0x{marker:02X} at byte {pos} runs past the end)")
        yield marker, pos + 4, pos + 2 + length
        if marker == 0xDA:
            return
        pos += 2 + length


def read_xmp(data: bytes) -> XmpPackets:
    """The standard and extended XMP of a JPEG held in ``data``.

    Extended chunks are gathered for the GUID that the standard packet names; each must agree on the full
    length, chunks must not overlap or leave gaps, and the reassembled packet's MD5 must equal the GUID.

    Raises:
        InputError: not a JPEG; extended XMP that is incomplete, inconsistent or fails its MD5 check.
    """
    standard = b""
    parts: dict[str, list[tuple[int, int, bytes]]] = {}
    for marker, start, end in jpeg_segments(data):
        if marker != 0xE1:
            continue
        payload = data[start:end]
        if payload.startswith(_STD_HEADER) and not standard:
            standard = payload[len(_STD_HEADER) :]
        elif payload.startswith(_EXT_HEADER) and len(payload) >= len(_EXT_HEADER) + 40:
            head = len(_EXT_HEADER)
            guid = payload[head : head + 32].decode("ascii", "replace")
            full, offset = struct.unpack(">II", payload[head + 32 : head + 40])
            parts.setdefault(guid, []).append((offset, full, payload[head + 40 :]))
    guid = _extended_guid(standard)
    if not guid:
        return XmpPackets(standard, b"", "", ())
    chunks = parts.get(guid, [])
    if not chunks:
        raise InputError(f"its XMP names extended XMP {guid}, but no chunk of it is in the file")
    return XmpPackets(standard, _reassemble(guid, chunks), guid, tuple((o, len(c)) for o, _, c in chunks))


def _extended_guid(standard: bytes) -> str:
    """The ``xmpNote:HasExtendedXMP`` GUID of a standard packet ("" when none)."""
    if b"HasExtendedXMP" not in standard:
        return ""
    try:
        root = ET.fromstring(standard)
    except (ET.ParseError, ValueError, LookupError):
        return ""
    key = f"{{{NS_XMP_NOTE}}}HasExtendedXMP"
    for el in root.iter():
        if key in el.attrib:
            return el.attrib[key].strip()
        if el.tag == key and el.text:
            return el.text.strip()
    return ""


def _reassemble(guid: str, chunks: list[tuple[int, int, bytes]]) -> bytes:
    fulls = {full for _, full, _ in chunks}
    if len(fulls) != 1:
        raise InputError(f"its extended XMP {guid} has chunks announcing different lengths {sorted(fulls)}")
    full = fulls.pop()
    if full > _MAX_EXTENDED:
        raise InputError(f"its extended XMP announces {full} bytes (at most {_MAX_EXTENDED} are read)")
    out = bytearray(full)
    pos = 0
    for offset, _, chunk in sorted(chunks, key=lambda c: c[0]):
        if offset != pos or offset + len(chunk) > full:
            raise InputError(f"its extended XMP {guid} has a missing or overlapping chunk at offset {pos}")
        out[offset : offset + len(chunk)] = chunk
        pos = offset + len(chunk)
    if pos != full:
        raise InputError(f"its extended XMP {guid} is incomplete ({pos} of {full} bytes)")
    if hashlib.md5(out).hexdigest().upper() != guid.upper():  # the XMP spec's checksum, not security
        raise InputError(f"its extended XMP fails its MD5 check (GUID {guid})")
    return bytes(out)


def extended_guid_for(extended: bytes) -> str:
    """The GUID of an extended serialisation: its MD5 in upper-case hex (32 characters)."""
    return hashlib.md5(extended).hexdigest().upper()  # the XMP spec's checksum


def xmp_segments(standard: bytes, extended: bytes = b"") -> list[bytes]:
    """Complete APP1 segments (marker, length, payload) for a standard packet and an optional extended one.

    ``standard`` must already name the extended packet's GUID (:func:`extended_guid_for`) when there is one.

    Raises:
        ValueError: a standard packet over :data:`STANDARD_MAX_BYTES` (programming error: split it first).
    """
    if len(standard) > STANDARD_MAX_BYTES:
        raise ValueError(f"standard XMP of {len(standard)} bytes exceeds {STANDARD_MAX_BYTES}")
    out = [_app1(_STD_HEADER + standard)]
    if extended:
        guid = extended_guid_for(extended).encode("ascii")
        for offset in range(0, len(extended), EXTENDED_CHUNK_BYTES):
            chunk = extended[offset : offset + EXTENDED_CHUNK_BYTES]
            out.append(_app1(_EXT_HEADER + guid + struct.pack(">II", len(extended), offset) + chunk))
    return out


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def insert_xmp(jpeg: bytes, segments: list[bytes]) -> bytes:
    """``jpeg`` with its XMP segments replaced by ``segments``, placed after its leading APP0/APP1 (JFIF, Exif)
    segments; every other byte (tables, compressed data, anything after the image) is kept as it was."""
    pos = 2
    kept = bytearray(jpeg[:2])
    after = None
    for marker, start, end in jpeg_segments(jpeg):
        seg = jpeg[start - 4 : end]
        is_xmp = marker == 0xE1 and (jpeg[start:end].startswith(_STD_HEADER) or jpeg[start:end].startswith(_EXT_HEADER))
        if after is None and marker not in (0xE0, 0xE1):
            after = len(kept)
        if not is_xmp:
            kept += seg
        pos = end
        if marker == 0xDA:
            break
    at = after if after is not None else len(kept)
    return bytes(kept[:at]) + b"".join(segments) + bytes(kept[at:]) + jpeg[pos:]


def jpeg_end(data: bytes) -> int:
    """The offset just after the EOI marker of the JPEG that starts ``data`` (what follows is not part of it:
    e.g. the items of a Dynamic Depth container).

    Raises:
        InputError: no EOI after the compressed data.
    """
    pos = 0
    for marker, _, end in jpeg_segments(data):
        pos = end
        if marker == 0xDA:
            break
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= len(data):
            raise InputError("truncated JPEG (no EOI marker)")
        nxt = data[found + 1]
        if nxt == 0xD9:
            return found + 2
        if nxt in (0x00, 0xFF) or 0xD0 <= nxt <= 0xD7:  # stuffed byte, fill, restart marker
            pos = found + 1 if nxt == 0xFF else found + 2
            continue
        # another segment (progressive JPEGs: tables and further scans)
        if found + 4 > len(data):
            raise InputError("truncated JPEG")
        (length,) = struct.unpack(">H", data[found + 2 : found + 4])
        pos = found + 2 + length
