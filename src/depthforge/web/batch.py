"""Batch work for the web UI: uploaded photos and zip archives in, one zip of the chosen outputs out.

The work itself is the library's batch machinery (:func:`depthforge.pipeline.batch.run_batch` with the producers
of :mod:`depthforge.pipeline.producers`, in this process, with the model the server already holds); this module only
turns untrusted uploads into a folder of server-named inputs and the results into one zip.

Nothing a client names becomes a server path. Every input is stored as ``0001.png``, ``0002.jpg`` ... (the number
made here, the suffix one of the image suffixes the batch reads); the client's file name, reduced to a plain safe
stem, is used only for the members of the zip sent back. Zip archives are opened only when their central directory
is small (no zip64), members are read with a byte cap whatever their headers claim, and the number of images and
the bytes unpacked are bounded: a zip bomb, ``../`` member names, links, nested archives and files that are not
images cannot write outside the folder or fill the disk. Each photo then passes the reader's own checks (format by
content, pixel limit) inside the batch, where a bad one fails alone with a one-line reason.
"""

from __future__ import annotations

import re
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from depthforge.core.errors import InputError, TooLargeError
from depthforge.io.images import IMAGE_EXTENSIONS
from depthforge.io.inputs import check_input_file, describe_content, short_reason
from depthforge.pipeline.batch import BatchSummary
from depthforge.pipeline.manifest import Manifest

__all__ = ["BATCH_OUTPUTS", "MAX_BATCH_IMAGES", "BatchInputs", "BatchResult", "gather_inputs", "collect_outputs"]

#: Outputs the UI offers (batch producer names; ``depth8`` is left out: it writes the same file as ``depth16``).
BATCH_OUTPUTS = ("depth16", "npy", "colormap", "normals", "sbs", "anaglyph", "mask")
#: Most photos one batch request may hold (uploads and zip members together).
MAX_BATCH_IMAGES = 64
#: Largest central directory of an uploaded zip (bytes): about 20,000 entries at most, refused before it is parsed.
_MAX_DIRECTORY_BYTES = 1 << 20
_CHUNK = 1 << 20
_EOCD = b"PK\x05\x06"


@dataclass
class BatchInputs:
    """A folder of server-named photos and what the client called them.

    Attributes:
        folder: the folder holding ``0001.<suffix>``, ``0002.<suffix>`` ...
        names: server stem (``0001``) -> the client's name reduced to a safe stem (for the zip's members).
        skipped: one line per upload or zip member left out, naming it and saying why.
        bytes_total: bytes stored in ``folder``.
        pixels_total: width x height of the stored photos together, read from their headers (a photo the batch
            will refuse on its own, above the pixel limit or not an image, counts 0).
    """

    folder: Path
    names: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    bytes_total: int = 0
    pixels_total: int = 0

    def display(self, key: str) -> str:
        """The client's name for a stored input (``0001.png`` -> ``holiday.png``)."""
        stem, _, suffix = key.partition(".")
        return f"{self.names.get(stem, stem)}.{suffix}" if suffix else self.names.get(stem, stem)


def _safe_stem(name: str) -> str:
    """A client's file name reduced to a plain stem of letters, digits, ``-``, ``_`` and ``.`` (never a path)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or "image"


def _shown(name: str) -> str:
    """A client's file name as shown in messages: its last part, with anything but safe characters replaced."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:80] or "upload"


def _suffix(name: str) -> str | None:
    """The lower-case image suffix of a client's file name, or None when it is not one the batch reads."""
    base = PurePosixPath(name.replace("\\", "/")).name
    suffix = ("." + base.rsplit(".", 1)[1].lower()) if "." in base else ""
    return suffix if suffix in IMAGE_EXTENSIONS else None


class _Store:
    """Writes inputs under server-made names, counting files and bytes against the limits."""

    def __init__(
        self,
        inputs: BatchInputs,
        *,
        max_files: int,
        max_bytes: int,
        max_total_bytes: int,
        max_pixels: int | None,
        max_total_pixels: int | None,
    ) -> None:
        self.inputs, self.max_files, self.max_bytes, self.max_total = inputs, max_files, max_bytes, max_total_bytes
        self.max_pixels, self.max_total_pixels = max_pixels, max_total_pixels
        self._taken: set[str] = set()

    def add(self, name: str, chunks: Iterable[bytes]) -> None:
        """Store one image-named file (``name`` is the client's); raises InputError for this file alone."""
        suffix = _suffix(name)
        assert suffix is not None
        if len(self.inputs.names) >= self.max_files:
            raise TooLargeError(f"more than {self.max_files} photos in one batch; send fewer")
        stem = f"{len(self.inputs.names) + 1:04d}"
        target = self.inputs.folder / f"{stem}{suffix}"
        size = 0
        try:
            with open(target, "xb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InputError(f"larger than this server's limit of {self.max_bytes} bytes")
                    if self.inputs.bytes_total + size > self.max_total:
                        raise TooLargeError(
                            f"the photos unpack to more than this server's limit of {self.max_total} bytes; "
                            "send fewer or smaller ones"
                        )
                    out.write(chunk)
            pixels = self._pixels(target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        self.inputs.bytes_total += size
        self.inputs.pixels_total += pixels
        display, n = _safe_stem(name), 1
        while display in self._taken:  # two members called x.jpg in different folders: x, x_2, ...
            n += 1
            display = f"{_safe_stem(name)}_{n}"
        self._taken.add(display)
        self.inputs.names[stem] = display

    def _pixels(self, path: Path) -> int:
        """A stored photo's width x height from its header, counted against the pixel budget (nothing decoded)."""
        if self.max_total_pixels is None:
            return 0
        from depthforge.io.images import image_pixels

        try:
            pixels = image_pixels(path, max_pixels=self.max_pixels or self.max_total_pixels)
        except InputError:
            return 0  # the batch refuses it on its own, before decoding
        if self.inputs.pixels_total + pixels > self.max_total_pixels:
            raise TooLargeError(
                f"the photos hold more than this server's budget of {self.max_total_pixels / 1e6:.0f} megapixels "
                "per batch; send fewer or smaller ones"
            )
        return pixels


def _read_file(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterable[bytes]:
    """A member's bytes in chunks; zipfile stops at the size its header states and checks the CRC at the end."""
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _check_directory(path: Path, shown: str) -> None:
    """Refuse a zip whose central directory is large or zip64, before zipfile builds an object per entry."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (1 << 16) - 22))
        tail = fh.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise InputError(f"{shown}: not a readable zip archive (no end of central directory)")
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        raise TooLargeError(f"{shown}: zip64 archives are not accepted; send at most {MAX_BATCH_IMAGES} photos")
    if directory_bytes > _MAX_DIRECTORY_BYTES or entries > 16 * MAX_BATCH_IMAGES:
        raise TooLargeError(f"{shown}: {entries} entries is more than one batch may hold ({MAX_BATCH_IMAGES} photos)")


def _unpack(path: Path, shown: str, store: _Store) -> None:
    _check_directory(path, shown)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{shown}: not a readable zip archive ({short_reason(exc)})") from None
    with zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.is_dir() or not parts or parts[-1].startswith(".") or "__MACOSX" in parts:
                continue  # folders and the resource forks / hidden files of archivers
            member = f"{shown}: {_shown(parts[-1])}"
            if _suffix(parts[-1]) is None:
                store.inputs.skipped.append(f"{member}: not a photo file name (skipped)")
            elif info.flag_bits & 0x1:
                store.inputs.skipped.append(f"{member}: encrypted (skipped)")
            elif info.file_size > store.max_bytes:
                store.inputs.skipped.append(f"{member}: larger than this server's limit of {store.max_bytes} bytes")
            else:
                try:
                    store.add(parts[-1], _read_member(zf, info))
                except TooLargeError:
                    raise
                except (InputError, zipfile.BadZipFile, NotImplementedError, OSError, EOFError, RuntimeError) as exc:
                    store.inputs.skipped.append(f"{member}: {short_reason(exc)} (skipped)")


def gather_inputs(
    uploads: Iterable[tuple[Path, str]],
    folder: Path,
    *,
    max_bytes: int,
    max_total_bytes: int,
    max_files: int = MAX_BATCH_IMAGES,
    max_pixels: int | None = None,
    max_total_pixels: int | None = None,
) -> BatchInputs:
    """Store uploaded photos and the photos inside uploaded zip archives under server-made names in ``folder``.

    Args:
        uploads: (the uploaded file on this server, the name the client gave it) pairs.
        folder: an empty folder of the server's (created if missing).
        max_bytes: largest photo (bytes), also the largest zip member unpacked.
        max_total_bytes: most bytes stored in all (a zip bomb stops here).
        max_files: most photos stored in all.
        max_pixels: the batch reader's pixel limit per photo (a larger photo counts 0 below: it fails alone).
        max_total_pixels: most pixels (width x height, from the headers) of all photos together; None: no budget.

    Returns:
        The folder and the names (see :class:`BatchInputs`).

    Raises:
        TooLargeError: more photos, bytes or pixels than allowed, or a zip with a huge or zip64 directory.
        InputError: an upload that cannot be read at all, or no photo among the uploads.
    """
    folder.mkdir(parents=True, exist_ok=True)
    inputs = BatchInputs(folder)
    store = _Store(
        inputs,
        max_files=max_files,
        max_bytes=max_bytes,
        max_total_bytes=max_total_bytes,
        max_pixels=max_pixels,
        max_total_pixels=max_total_pixels,
    )
    for path, client_name in uploads:
        shown = _shown(client_name)
        check_input_file(path, what="upload", max_bytes=max(max_bytes, max_total_bytes))
        content = describe_content(path)
        if content == "zip archive":
            _unpack(path, shown, store)
        elif _suffix(client_name) is None:
            inputs.skipped.append(f"{shown}: not a photo or a zip archive ({content}; skipped)")
        elif path.stat().st_size > max_bytes:
            inputs.skipped.append(f"{shown}: larger than this server's limit of {max_bytes} bytes (skipped)")
        else:
            store.add(client_name, _read_file(path))
    if not inputs.names:
        reasons = "; ".join(inputs.skipped[:3])
        raise InputError(f"no photo among the uploads{f' ({reasons})' if reasons else ''}")
    return inputs


@dataclass
class BatchResult:
    """What a batch run made, ready to zip.

    Attributes:
        files: the files made (main files and sidecars).
        names: the zip member name of each: ``<client stem><the producer's suffix>``.
        failures: one line per failed photo naming it by the client's name (empty when none failed); server paths
            in the reasons are replaced by those names.
        photos: how many photos have at least one output (the model ran for each).
    """

    files: list[Path]
    names: list[str]
    failures: str
    photos: int


def collect_outputs(inputs: BatchInputs, out_dir: Path, summary: BatchSummary) -> BatchResult:
    """The outputs of a batch run of ``inputs`` into ``out_dir`` (read from its manifest) and its failures."""
    with Manifest(out_dir) as manifest:
        state = manifest.done_state()
    files, names, keys = [], [], set()
    for (key, _output), (_sig, _digest, made) in sorted(state.items()):
        stem = key.partition(".")[0]
        keys.add(key)
        for rel in made:
            f = out_dir / rel
            files.append(f)
            names.append(inputs.names.get(stem, stem) + f.name[len(stem) :])
    lines = []
    for key, reason in summary.errors:
        shown = inputs.display(key)
        lines.append(f"{shown}: {reason.replace(str(inputs.folder / key), shown).replace(str(inputs.folder), '')}")
    return BatchResult(files, names, "\n".join(lines), len(keys))
