"""Image sequences as clips: ``shot.####.png`` or ``shot.%04d.tif``, the numbered frames VFX plates come as.

A sequence is named by a pattern whose ``#`` run (one ``#`` per digit) or ``%0Nd`` stands for the frame number.
Its frames are the files of that folder that match, in the order of their numbers (not of their names: 9 before
10 when unpadded); numbers missing between the first and the last are a gap, which is said (the clip's frames
follow one another). A sequence has no frame rate of its own: the caller gives one (24 fps by default). Frames are
read as photos (:func:`~depthforge.io.images.read_image`, 8- or 16-bit) and must all have the first one's size.

>>> sequence_stem("plates/shot.####.png")
'shot'
>>> is_sequence_pattern("shot.%04d.exr"), is_sequence_pattern("shot.0001.png")
(True, False)
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from depthforge.core.errors import InputError, TooLargeError
from depthforge.core.validation import check_range
from depthforge.io.images import image_pixels, read_image
from depthforge.io.video import (
    SEQUENCE_NUMBER,
    VideoInfo,
    is_sequence_pattern,
    iter_frames,
    probe_video,
    snap_frame_rate,
)

__all__ = [
    "DEFAULT_SEQUENCE_FPS",
    "is_sequence_pattern",
    "sequence_stem",
    "sequence_frames",
    "missing_numbers",
    "probe_clip",
    "iter_clip",
]

#: The frame rate of an image sequence when none is given (cinema's).
DEFAULT_SEQUENCE_FPS = 24.0
_MAX_DIGITS = 12


def _split(path: str | os.PathLike[str]) -> tuple[str, int, str]:
    """(text before the number, its digit count (0: any), text after it) of a pattern's file name."""
    name = Path(path).name
    found = list(SEQUENCE_NUMBER.finditer(name))
    if not found:
        raise InputError(f"{path}: not a sequence pattern (name the frame number with #### or %04d)")
    m = found[-1]
    if m.group(0).startswith("#"):
        width = len(m.group(0))
    else:  # %0Nd: N read only when short (a hostile %099999999999d is refused, not compiled into a regex)
        digits = m.group(1).lstrip("0")
        width = 0 if not digits else int(digits) if len(digits) <= 3 else _MAX_DIGITS + 1
    if width > _MAX_DIGITS:
        raise InputError(f"{path}: the frame number is wider than {_MAX_DIGITS} digits")
    return name[: m.start()], width, name[m.end() :]


def sequence_stem(path: str | os.PathLike[str]) -> str:
    """The output stem of a sequence: its name before the number, without a trailing separator."""
    before, _, _ = _split(path)
    return before.rstrip("._- ") or "frames"


def sequence_frames(path: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The frames of a sequence, as (number, file), by number.

    Raises:
        InputError: the folder is missing, or no file matches.
    """
    before, width, after = _split(path)
    folder = Path(path).parent
    digits = rf"(\d{{{width},}})" if width else r"(\d+)"
    rule = re.compile(re.escape(before) + digits + re.escape(after))
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise InputError(f"{path}: its folder cannot be read ({exc.strerror or exc})") from None
    found = sorted((int(m.group(1)), folder / n) for n in names if (m := rule.fullmatch(n)))
    for (a, first), (b, second) in itertools.pairwise(found):
        if a == b:  # shot.1.png and shot.01.png: one frame twice
            raise InputError(f"{path}: {first.name} and {second.name} are both frame {a}; remove one")
    if not found:
        example = f"{before}{'1'.zfill(max(width, 1))}{after}"
        raise InputError(f"{path}: no frame of this sequence in {folder} (e.g. {example})")
    return found


def missing_numbers(numbers: list[int], *, most: int = 100) -> tuple[int, list[int]]:
    """How many numbers between the first and the last of ``numbers`` (sorted, distinct) are not among them, and
    the first ``most`` of those (a hostile ``shot.1`` / ``shot.999999999`` pair is not listed in full)."""
    if not numbers:
        return 0, []
    have, listed = set(numbers), list[int]()
    for n in range(numbers[0], numbers[-1] + 1):
        if len(listed) >= most:
            break
        if n not in have:
            listed.append(n)
    return numbers[-1] - numbers[0] + 1 - len(numbers), listed


def probe_clip(
    path: str | os.PathLike[str], *, max_pixels: int | None = None, fps: float = DEFAULT_SEQUENCE_FPS
) -> VideoInfo:
    """:func:`~depthforge.io.video.probe_video` for a video file; for a sequence pattern, its facts: the first
    frame's size, the number of frames and ``fps`` (codec ``"image sequence"``, no audio).

    Raises:
        InputError: as ``probe_video``, or a sequence without frames, or a first frame that is not a photo.
    """
    if not is_sequence_pattern(path):
        return probe_video(path, max_pixels=max_pixels)
    check_range(fps, "fps", low=0.0, low_inclusive=False, high=1000.0)
    frames = sequence_frames(path)
    h, w = read_image(frames[0][1], max_pixels=max_pixels).size_hw
    rate = snap_frame_rate(Fraction(fps))  # 23.976 is 24000/1001
    return VideoInfo(Path(path), w, h, rate, len(frames), "image sequence")


def iter_clip(
    path: str | os.PathLike[str], *, info: VideoInfo, frames: list[tuple[int, Path]] | None = None
) -> Iterator[np.ndarray]:
    """The (H, W, 3) uint8 RGB frames of a video file (:func:`~depthforge.io.video.iter_frames`) or a sequence
    (``frames``: its :func:`sequence_frames` as listed once by the caller, so that its numbering and the frames
    read agree while a render adds files; listed here when None).

    Raises:
        InputError: a frame that cannot be read, or of another size than the first.
    """
    if not is_sequence_pattern(path):
        yield from iter_frames(path, info=info)
        return
    listing = sequence_frames(path) if frames is None else frames
    limit: int | None = None  # the first frame passed the caller's pixel limit; a later one may not hold more
    for _, frame in listing:
        limit = limit or image_pixels(frame, all_pages=True)  # every page, as the limit counts (review: TIFFs)
        try:
            rgb = read_image(frame, max_pixels=limit).as_uint8()
        except TooLargeError as e:  # not decoded: a pixel bomb among the frames costs nothing
            first = f"{info.width}x{info.height}"
            raise TooLargeError(f"{frame}: more pixels than the sequence's first frame ({first})") from e
        if rgb.shape[:2] != (info.height, info.width):
            raise InputError(
                f"{frame}: {rgb.shape[1]}x{rgb.shape[0]}, where the sequence's first frame is "
                f"{info.width}x{info.height}"
            )
        yield rgb
