"""Video files: exact probing, lossless 16-bit round trips, fps/frame count/audio kept, every output format
re-opens with the expected frame count, fps, size and codec, clean errors, atomic outputs."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from depthforge.core.errors import InputError, ValidationError
from depthforge.io.atomic import TEMP_MARK
from depthforge.io.video import ffmpeg_exe, is_video_path, iter_frames, probe_video
from depthforge.io.video_writer import VideoWriter, codec_for, partial_path

FPS = Fraction(30000, 1001)


def make_clip(
    path: Path, *, frames: int = 20, size: str = "64x48", audio: bool = True, rate: str = "30000/1001"
) -> Path:
    """A small H.264 test-pattern clip (with a sine tone when ``audio``)."""
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-c:a", "aac", "-shortest"]
    args += ["-frames:v", str(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


def test_probe_reads_exact_facts(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == FPS
    assert info.frame_count == 20
    assert info.codec == "h264"
    assert info.has_audio and info.audio_codecs == ("aac",)
    assert info.duration_s == pytest.approx(20 * 1001 / 30000)
    assert is_video_path(clip) and is_video_path("X.MKV") and not is_video_path("x.png")


def test_decode_gives_every_frame(clip: Path) -> None:
    frames = list(iter_frames(clip))
    assert len(frames) == 20
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[10])  # the test pattern moves


def test_16bit_round_trip_is_lossless_and_keeps_timing_and_audio(clip: Path, tmp_path: Path) -> None:
    src = probe_video(clip)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 65536, (47, 63), dtype=np.uint16) for _ in range(12)]  # odd size on purpose
    frames[3][:] = 0
    frames[4][:] = 65535
    with VideoWriter(tmp_path / "d.mkv", size_hw=(47, 63), fps=src.fps, audio_from=src) as w:
        for f in frames:
            w.write(f)
    info = probe_video(tmp_path / "d.mkv")
    assert (info.width, info.height, info.frame_count, info.fps, info.codec) == (63, 47, 12, FPS, "ffv1")
    assert info.has_audio
    back = list(iter_frames(tmp_path / "d.mkv", pix_fmt="gray16le"))
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        assert b.dtype == np.uint16
        np.testing.assert_array_equal(a, b)


def test_h264_pads_odd_sizes_and_keeps_frames(clip: Path, tmp_path: Path) -> None:
    src = probe_video(clip)
    frames = [f[:47, :63] for f in iter_frames(clip, info=src)]
    out = tmp_path / "v.mp4"
    with VideoWriter(out, size_hw=(47, 63), fps=src.fps, codec="h264", pix_fmt="rgb24", audio_from=src) as w:
        for f in frames:
            w.write(np.ascontiguousarray(f))
    info = probe_video(out)
    assert (info.width, info.height) == (64, 48)
    assert (info.frame_count, info.fps) == (20, FPS)
    assert info.audio_codecs == ("aac",)
    back = list(iter_frames(out, info=info))
    err = np.abs(back[5][:47, :63].astype(int) - frames[5].astype(int)).mean()
    assert err < 6  # lossy but close (crf 18)


def test_other_frame_rates_are_exact(tmp_path: Path) -> None:
    p = make_clip(tmp_path / "pal.mp4", frames=7, rate="25", audio=False)
    info = probe_video(p)
    assert (info.fps, info.frame_count, info.has_audio) == (Fraction(25), 7, False)
    with VideoWriter(tmp_path / "o.mkv", size_hw=(48, 64), fps=info.fps, pix_fmt="gray") as w:
        for f in iter_frames(p, pix_fmt="gray", info=info):
            w.write(f)
    assert probe_video(tmp_path / "o.mkv").fps == Fraction(25)


def test_bad_inputs_give_clean_errors(clip: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    wav = tmp_path / "tone.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "0.5", "-c:a", "aac", str(wav)],
        check=True,
    )
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clip.read_bytes()[:3000])
    empty = tmp_path / "empty.mkv"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc",
            "-frames:v",
            "0",
            "-c:v",
            "ffv1",
            str(empty),
        ],
        check=True,
    )
    zero = tmp_path / "zero.mkv"
    zero.write_bytes(b"")
    cases = {
        text: "not a readable video",
        wav: "audio only",
        truncated: "not a readable video",
        empty: "video",
        zero: "video",
        tmp_path / "missing.mp4": "no such file",
    }
    for path, words in cases.items():
        with pytest.raises(InputError) as exc:
            probe_video(path)
        msg = str(exc.value)
        assert words in msg and str(path) in msg and "\n" not in msg


def test_variable_frame_rate_is_refused(tmp_path: Path) -> None:
    vfr = tmp_path / "vfr.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-frames:v", "20",
         "-vf", r"setpts=N/30/TB+gt(N\,10)*(N-10)/30/TB", "-fps_mode", "vfr", "-c:v", "libx264", str(vfr)],
        check=True,
    )  # fmt: skip
    with pytest.raises(InputError, match="variable frame rate"):
        probe_video(vfr)


def test_writer_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "d.mkv"
    with pytest.raises(RuntimeError), VideoWriter(target, size_hw=(6, 8), fps=25) as w:
        w.write(np.zeros((6, 8), np.uint16))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file
    with pytest.raises(KeyboardInterrupt), VideoWriter(target, size_hw=(6, 8), fps=25) as w:
        for i in range(5):
            w.write(np.full((6, 8), i * 1000, np.uint16))
        raise KeyboardInterrupt
    kept = partial_path(target)
    assert not target.exists() and kept.exists()  # Ctrl-C keeps a valid, playable partial file
    assert [int(f[0, 0]) for f in iter_frames(kept, pix_fmt="gray16le")] == [0, 1000, 2000, 3000, 4000]
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]
    from depthforge.io.atomic import OUTPUT_MODE

    assert kept.stat().st_mode & 0o777 == OUTPUT_MODE  # as a finished output (user trial: mkstemp's 0600)


def test_a_clip_cut_by_ctrl_c_keeps_only_the_audio_of_its_frames(clip: Path, tmp_path: Path) -> None:
    info = probe_video(clip)  # 20 frames at 29.97 fps with a tone all along
    target = tmp_path / "cut.mp4"
    with pytest.raises(KeyboardInterrupt), VideoWriter(target, fps=info.fps, audio_from=info) as w:
        for frame in list(iter_frames(clip))[:6]:
            w.write(frame)
        raise KeyboardInterrupt
    kept = partial_path(target)
    args = [ffmpeg_exe(), "-v", "error", "-i", str(kept), "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "8000", "-"]
    audio_s = len(subprocess.run(args, capture_output=True, check=True).stdout) / 2 / 8000
    assert probe_video(kept).frame_count == 6
    assert audio_s == pytest.approx(6 / float(info.fps), abs=0.05)  # not the source's 0.67 s
    data = kept.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # still playable while it streams in (fast start)


def test_writer_checks_its_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="FFV1"):
        VideoWriter(tmp_path / "x.mp4", size_hw=(6, 8), fps=25, codec="ffv1")
    with VideoWriter(tmp_path / "y.mkv", size_hw=(6, 8), fps=25) as w:
        with pytest.raises(ValidationError, match="frame"):
            w.write(np.zeros((6, 8), np.uint8))
        w.write(np.zeros((6, 8), np.uint16))
        assert w.size_hw == (6, 8)
    assert probe_video(tmp_path / "y.mkv").frame_count == 1
    with pytest.raises(ValidationError, match=r"size_hw: expected \(height, width\)"):
        VideoWriter(tmp_path / "z.mkv", size_hw=(0, 8), fps=25)
    with VideoWriter(tmp_path / "odd.mp4", size_hw=(5, 7), fps=25, codec="h264", pix_fmt="rgb24") as w:
        assert w.size_hw == (6, 8)  # yuv420p: padded to even sizes
        w.write(np.zeros((5, 7, 3), np.uint8))


def _frames(n: int, h: int = 47, w: int = 65) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None]
    return [np.clip(ramp + 5 * i + rng.integers(0, 20, (h, w, 3)), 0, 255).astype(np.uint8) for i in range(n)]


def _encode(frames: list[np.ndarray], path: Path, **options: object) -> Path:
    with VideoWriter(path, **options) as video:  # type: ignore[arg-type]
        for f in frames:
            video.write(f)
    return path


@pytest.mark.parametrize(
    ("name", "codec", "size", "fps"),
    [
        ("clip.mp4", "h264", (64, 46), 12.0),  # odd sizes cropped to even for yuv420p
        ("clip.webm", "vp9", (64, 46), 12.0),
        ("clip.gif", "gif", (65, 47), 12.5),  # GIF delays are whole centiseconds: 8 cs per frame
        ("clip.apng", "apng", (65, 47), 12.0),
        ("clip.png", "apng", (65, 47), 12.0),
    ],
)
def test_formats_reopen(tmp_path: Path, name: str, codec: str, size: tuple[int, int], fps: float) -> None:
    out = _encode(_frames(9), tmp_path / name, fps=12, odd_size="crop")
    info = probe_video(out)
    assert (info.codec, (info.width, info.height), info.frame_count) == (codec, size, 9)
    assert float(info.fps) == pytest.approx(fps, abs=0.01)
    if codec in ("h264", "vp9"):
        assert info.pix_fmt == "yuv420p"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary or palette files left


def test_mp4_reads_back_with_imageio(tmp_path: Path) -> None:
    import imageio_ffmpeg

    frames = _frames(6, 32, 48)
    _encode(frames, tmp_path / "a.mp4", fps=24, quality=0)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "a.mp4"))
    meta = next(reader)
    got = [np.frombuffer(b, np.uint8).reshape(32, 48, 3) for b in reader]
    assert meta["fps"] == 24 and meta["size"] == (48, 32) and meta["codec"] == "h264" and len(got) == 6
    # crf 0 + yuv420p: chroma subsampling only, the pictures are the same
    assert np.abs(got[3].astype(int) - frames[3].astype(int)).mean() < 6


def test_png_sequence_is_lossless(tmp_path: Path) -> None:
    from PIL import Image

    frames = _frames(4)
    _encode(frames, tmp_path / "seq", fps=10)
    files = sorted((tmp_path / "seq").iterdir())
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(4)]
    assert np.array_equal(np.asarray(Image.open(files[2])), frames[2])
    _encode(frames[:2], tmp_path / "seq", fps=10)  # replaces the old sequence as a whole
    assert len(list((tmp_path / "seq").iterdir())) == 2


def test_failure_leaves_no_output_in_any_format(tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target, fps=10) as video:
        video.write(_frames(1)[0])
        raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValidationError, match="size"), VideoWriter(target, fps=10) as video:
        video.write(_frames(1)[0])
        video.write(_frames(1, 30, 30)[0])
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir()) and not target.exists()


def test_format_choice_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="suffix"):
        codec_for(tmp_path / "a.avi")
    with pytest.raises(ValidationError, match="fps"):
        VideoWriter(tmp_path / "a.mp4", fps=0)
    with pytest.raises(ValidationError, match="frame"), VideoWriter(tmp_path / "a.mp4", fps=5) as video:
        video.write(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValidationError, match="no frame"), VideoWriter(tmp_path / "a.gif", fps=5):
        pass
    assert list(tmp_path.iterdir()) == []


def test_audio_follows_the_container(clip: Path, tmp_path: Path) -> None:
    src = probe_video(clip)  # AAC audio
    frames = [np.ascontiguousarray(f) for f in iter_frames(clip, info=src)][:6]
    webm = probe_video(_encode(frames, tmp_path / "a.webm", fps=src.fps, audio_from=src))
    assert (webm.codec, webm.audio_codecs, webm.frame_count, webm.fps) == ("vp9", ("opus",), 6, FPS)  # re-encoded
    mkv = probe_video(_encode(frames, tmp_path / "a.mkv", fps=src.fps, codec="h264", audio_from=src))
    assert (mkv.codec, mkv.audio_codecs, mkv.pix_fmt) == ("h264", ("aac",), "yuv420p")  # copied as it is
    with pytest.raises(ValidationError, match="audio"):
        VideoWriter(tmp_path / "a.gif", fps=10, audio_from=src)


def test_gif_frames_shorter_than_players_show_are_refused(tmp_path: Path) -> None:
    # user trial: --frame-ms 5 wrote a GIF whose frames browsers show for 100 ms each (delays are hundredths of a
    # second; 0 or 1 of them is played as 10); the same for a 60 fps GIF clip
    from depthforge.io.images import GIF_MIN_FRAME_MS, write_animation

    frames = [np.full((6, 8, 3), v, np.uint8) for v in (0, 255)]
    with pytest.raises(ValidationError, match="frame_ms: 5 ms is too short for a GIF"):
        write_animation(tmp_path / "a.gif", frames, frame_ms=5)
    assert not list(tmp_path.iterdir())
    write_animation(tmp_path / "a.png", frames, frame_ms=5)  # an animated PNG keeps milliseconds
    gif = write_animation(tmp_path / "b.gif", frames, frame_ms=GIF_MIN_FRAME_MS)
    with PILImage.open(gif) as im:
        assert im.n_frames == 2 and im.info["duration"] == GIF_MIN_FRAME_MS
    with pytest.raises(ValidationError, match="fps: 60 is too fast for a GIF"):
        VideoWriter(tmp_path / "c.gif", size_hw=(6, 8), fps=60)
    with VideoWriter(tmp_path / "d.gif", size_hw=(6, 8), fps=50) as video:
        for f in frames:
            video.write(f)
    assert probe_video(tmp_path / "d.gif").frame_count == 2


def test_a_video_cut_short_is_refused_not_half_read(tmp_path: Path) -> None:
    # user trial: an MP4 with its index at the front, cut to 60 % of its bytes, gave 100 of its 120 frames and
    # "1 done" (ffmpeg reads what is there and succeeds; only its log says "partial file" / "Packet corrupt")
    whole = tmp_path / "whole.mp4"
    source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15", "-t", "4"]
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(whole)]
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *source, *encode], check=True)
    assert probe_video(whole).frame_count == 60
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError, match="cut.mp4: truncated or corrupt video"):
        probe_video(cut)
    # user trial 6: a Matroska file cut in half gave 24 of its 50 frames and "1 done"
    mkv = tmp_path / "whole.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *source, "-c:v", "ffv1", str(mkv)], check=True)
    (tmp_path / "cut.mkv").write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.mkv: truncated or corrupt video .*File ended prematurely"):
        probe_video(tmp_path / "cut.mkv")


def test_what_is_a_video_follows_the_content_only_where_the_name_says_nothing(tmp_path: Path) -> None:
    # a JPEG named .mp4 is a photo; an MP4 without an extension a video (user trial); but ISO media under an image
    # extension stays a photo (fuzz, seed 21: a HEIC with a damaged brand named m.tiff was read as a video)
    from depthforge.io.video import is_video_path

    iso = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 16
    cases = {
        "photo.mp4": b"\xff\xd8\xff\xe0" + b"\x00" * 20,
        "noext": iso,
        "m.tiff": b"\x00\x00\x00\x18ftypzzzz" + b"\x00" * 16,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert not is_video_path(tmp_path / "photo.mp4")
    assert is_video_path(tmp_path / "noext")
    assert not is_video_path(tmp_path / "m.tiff")
    assert is_video_path(tmp_path / "missing.mp4") and not is_video_path(tmp_path / "missing")


def stereo_packing(path: Path) -> str:
    """The stereo packing a decoder reads from ``path``: the container's (stream side data) and the first frame's
    (an H.264 frame-packing SEI), as ffmpeg reports them, e.g. 'side by side'; '' when neither says."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-vf", "showinfo", "-frames:v", "1"]
    log = subprocess.run([*args, "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    found = {kind for kind in ("side by side", "top and bottom") if f"Stereo 3D: {kind}" in log}
    found |= {kind for kind in ("side by side", "top and bottom") if f"Stereo 3D: type - {kind}" in log}
    return ", ".join(sorted(found))


def matroska_display_size(path: Path) -> tuple[int, int]:
    """The DisplayWidth and DisplayHeight elements (EBML ids 0x54B0, 0x54BA) of a Matroska/WebM file's first track:
    the size a player shows one view at."""
    data = path.read_bytes()[:4096]

    def element(ident: bytes) -> int:
        at = data.index(ident) + 2
        size = data[at] & 0x7F if data[at] & 0x80 else int.from_bytes(data[at : at + 2], "big") & 0x3FFF
        start = at + (1 if data[at] & 0x80 else 2)
        return int.from_bytes(data[start : start + size], "big")

    return element(b"\x54\xb0"), element(b"\x54\xba")


@pytest.mark.parametrize(
    ("name", "codec", "stereo", "packing", "view"),
    [
        # the H.264 SEI, which 3D TVs and players read: only for views squeezed into the frame (what it describes)
        ("hsbs.mp4", "h264", "half-left-right", "side by side", None),
        ("sbs.mp4", "h264", "left-right", "", None),  # full width: the name says it (a TV would squeeze it)
        # Matroska's StereoMode, and the display aspect of one full view (the SEI too would fail ffmpeg's decoder)
        ("htb.mkv", "h264", "half-top-bottom", "top and bottom", 64 / 24),
        ("tb.mkv", "h264", "top-bottom", "top and bottom", 64 / 12),
        ("hsbs.webm", "vp9", "half-left-right", "side by side", 64 / 24),
        ("sbs.mkv", "ffv1", "left-right", "side by side", 32 / 24),
        ("flat.mp4", "h264", None, "", None),
    ],
)
def test_stereo_layout_is_declared_in_the_stream(
    tmp_path: Path, name: str, codec: str, stereo: str | None, packing: str, view: float | None
) -> None:
    frame = np.zeros((24, 64, 3), np.uint8)
    frame[:, 32:] = 200
    with VideoWriter(tmp_path / name, fps=10, codec=codec, pix_fmt="rgb24", stereo=stereo) as video:
        for _ in range(3):
            video.write(frame)
    assert stereo_packing(tmp_path / name) == packing
    assert probe_video(tmp_path / name).frame_count == 3
    if view is not None:  # the aspect a player shows each view at: a full view's, squeezed or not
        width, height = matroska_display_size(tmp_path / name)
        assert width / height == pytest.approx(view)
    with pytest.raises(ValidationError, match="^stereo"):
        VideoWriter(tmp_path / "x.mp4", fps=10, stereo="anaglyph")
    with pytest.raises(ValidationError, match="^stereo: GIF"):
        VideoWriter(tmp_path / "x.gif", fps=10, stereo="left-right")


def test_writer_records_timecode_and_pixel_aspect_and_refuses_them_where_there_is_no_field(tmp_path: Path) -> None:
    frame = np.zeros((8, 8, 3), np.uint8)
    with VideoWriter(
        tmp_path / "a.mkv", fps=25, codec="h264", timecode="10:00:00;02", pixel_aspect=Fraction(4, 3)
    ) as v:
        v.write(frame)
    info = probe_video(tmp_path / "a.mkv")
    assert (info.timecode, info.pixel_aspect) == ("10:00:00;02", Fraction(4, 3))
    with pytest.raises(ValidationError, match="^timecode: expected HH:MM:SS:FF"):
        VideoWriter(tmp_path / "b.mp4", fps=25, timecode="1:00:00")
    with pytest.raises(ValidationError, match="^pixel_aspect: GIF output has no field for it"):
        VideoWriter(tmp_path / "c.gif", fps=25, pixel_aspect=Fraction(2))
