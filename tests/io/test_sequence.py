"""Image sequences (``shot.####.png``): which files are frames, in which order, gaps, sizes, and their facts."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthforge.core.errors import InputError, TooLargeError
from depthforge.io.sequence import iter_clip, missing_numbers, probe_clip, sequence_frames, sequence_stem
from depthforge.io.video import is_sequence_pattern, is_video_path


def _frames(folder: Path, names: list[str], size_wh: tuple[int, int] = (12, 8)) -> None:
    folder.mkdir(exist_ok=True)
    for k, name in enumerate(names):
        Image.fromarray(np.full((size_wh[1], size_wh[0], 3), 10 * k, np.uint8)).save(folder / name)


def test_frames_follow_their_numbers_and_the_pattern(tmp_path: Path) -> None:
    _frames(tmp_path, ["a.9.png", "a.10.png", "a.0011.png", "b.0001.png", "a.0012.jpg", "a.x.png"])
    assert [n for n, _ in sequence_frames(tmp_path / "a.%d.png")] == [9, 10, 11]  # 9 before 10
    assert [f.name for _, f in sequence_frames(tmp_path / "a.####.png")] == ["a.0011.png"]  # four digits or more
    assert [n for n, _ in sequence_frames(tmp_path / "b.%04d.png")] == [1]
    assert sequence_stem("plates/shot_v2.####.exr") == "shot_v2" and sequence_stem("####.png") == "frames"
    assert is_sequence_pattern(tmp_path / "a.####.png") and is_video_path(tmp_path / "a.####.png")
    assert not is_sequence_pattern(tmp_path / "a.9.png") and not is_sequence_pattern(tmp_path / "photo#1.jpg")
    with pytest.raises(InputError, match=r"no frame of this sequence in .* \(e\.g\. c\.0001\.png\)"):
        sequence_frames(tmp_path / "c.####.png")
    # review: a hostile width was compiled into a regex (OverflowError) or an error line of 200 MB
    for hostile in ("a.%099999999999d.png", "a.%0200000000d.png", "a." + "#" * 13 + ".png"):
        with pytest.raises(InputError, match="the frame number is wider than 12 digits"):
            sequence_frames(tmp_path / hostile)
    _frames(tmp_path, ["d.1.png", "d.01.png"])  # one frame twice (review: "-1 missing", a frame overwritten)
    with pytest.raises(InputError, match=r"d\.0?1\.png and d\.0?1\.png are both frame 1; remove one"):
        sequence_frames(tmp_path / "d.%d.png")


def test_gaps_are_counted_without_listing_a_hostile_range() -> None:
    assert missing_numbers([1001, 1002, 1004, 1007]) == (3, [1003, 1005, 1006])
    assert missing_numbers([1, 10**12], most=3) == (10**12 - 2, [2, 3, 4])  # at once, not a list of 10**12
    assert missing_numbers([]) == (0, [])


def test_a_sequence_is_a_clip_of_its_frames(tmp_path: Path) -> None:
    _frames(tmp_path, [f"s.{n:04d}.png" for n in (1, 2, 4)])
    info = probe_clip(tmp_path / "s.####.png", fps=25)
    assert (info.width, info.height, info.frame_count, info.fps, info.has_audio) == (12, 8, 3, Fraction(25), False)
    assert probe_clip(tmp_path / "s.####.png", fps=23.976).fps == Fraction(24000, 1001)  # review: it was 2997/125
    frames = list(iter_clip(tmp_path / "s.####.png", info=info))
    assert [int(f[0, 0, 0]) for f in frames] == [0, 10, 20] and frames[0].dtype == np.uint8
    _frames(tmp_path, ["s.0005.png"], size_wh=(14, 8))
    info = probe_clip(tmp_path / "s.####.png")
    with pytest.raises(TooLargeError, match=r"s\.0005\.png: more pixels than the sequence's first frame \(12x8\)"):
        list(iter_clip(tmp_path / "s.####.png", info=info))  # not decoded (the pixel limit the first frame passed)
    # review: frames of several pages (a TIFF with a thumbnail) count every page, as the first frame did
    for n in (1, 2, 3):
        Image.fromarray(np.full((24, 32, 3), n, np.uint8)).save(
            tmp_path / f"t.{n:04d}.tif", save_all=True, append_images=[Image.fromarray(np.zeros((12, 16, 3), np.uint8))]
        )
    pages = probe_clip(tmp_path / "t.####.tif")
    assert [int(f[0, 0, 0]) for f in iter_clip(tmp_path / "t.####.tif", info=pages)] == [1, 2, 3]
    _frames(tmp_path, ["s.0005.png"], size_wh=(10, 8))
    with pytest.raises(InputError, match=r"s\.0005\.png: 10x8, where the sequence's first frame is 12x8"):
        list(iter_clip(tmp_path / "s.####.png", info=info))
