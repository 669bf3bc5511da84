"""The web batch's inputs: uploads and zip archives stored under server-made names, whatever the client sends
(path traversal in member names, zip bombs, files that are not photos, too many files), then a real batch run."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import InputError, TooLargeError
from depthforge.web.batch import MAX_BATCH_IMAGES, collect_outputs, gather_inputs

MB = 1 << 20


def png(h: int, w: int, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path: Path, members: list[tuple[str, bytes]], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink is not None:  # a member whose mode says "symbolic link", pointing outside
            info = zipfile.ZipInfo("link.png")
            info.external_attr = (0o120777 << 16) | 0
            zf.writestr(info, symlink)
    return path


def gather(tmp_path: Path, uploads: list[Path], **kw: int) -> tuple[object, Path]:
    folder = tmp_path / "work" / "in"
    limits = {"max_bytes": 4 * MB, "max_total_bytes": 16 * MB, **kw}
    return gather_inputs([(p, p.name) for p in uploads], folder, **limits), folder


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_member_names_never_become_paths(tmp_path: Path) -> None:
    hostile = [
        ("../../escaped.png", png(8, 8, 1)),
        ("/etc/absolute.png", png(8, 9, 2)),
        ("a\\..\\..\\windows.png", png(8, 10, 3)),
        ("sub/dir/holiday photo (1).jpg", png(8, 11, 4)),
        ("sub/other/holiday photo (1).jpg", png(8, 12, 5)),  # the same name in another folder
        ("__MACOSX/._holiday.jpg", b"resource fork"),
        (".hidden.png", png(4, 4)),
        ("notes.txt", b"not a photo"),
        ("inner.zip", b"PK\x03\x04 nested archives are not opened"),
    ]
    archive = make_zip(tmp_path / "upload.zip", hostile, symlink="/etc/passwd")
    before = files_under(tmp_path)
    inputs, folder = gather(tmp_path, [archive])
    stored = sorted(os.listdir(folder))
    # every stored file is a server-made name; nothing was written anywhere else
    assert stored == ["0001.png", "0002.png", "0003.png", "0004.jpg", "0005.jpg", "0006.png"]
    assert files_under(tmp_path) - before == {"work", "work/in", *(f"work/in/{s}" for s in stored)}
    assert all(not os.path.islink(folder / s) for s in stored)
    assert (folder / "0006.png").read_bytes() == b"/etc/passwd"  # the link's text, stored as a (bad) photo
    # the client's names survive only as safe stems for the zip sent back
    assert list(inputs.names.values()) == [
        "escaped",
        "absolute",
        "windows",
        "holiday_photo_1",
        "holiday_photo_1_2",
        "link",
    ]
    assert all("/" not in n and not n.startswith(".") for n in inputs.names.values())
    assert [line.split(": ")[1] for line in inputs.skipped] == ["notes.txt", "inner.zip"]
    assert all("not a photo file name" in line for line in inputs.skipped)


def test_zip_bomb_stops_at_the_byte_limits(tmp_path: Path) -> None:
    zeros = b"\0" * (64 * MB)  # deflates to about 64 KB
    archive = make_zip(tmp_path / "bomb.zip", [("bomb.png", zeros), ("ok.png", png(16, 16))])
    assert archive.stat().st_size < MB
    inputs, folder = gather(tmp_path, [archive])
    assert sorted(os.listdir(folder)) == ["0001.png"]  # only the honest photo
    assert inputs.names == {"0001": "ok"} and inputs.bytes_total < MB
    assert "bomb.png: larger than this server's limit" in inputs.skipped[0]

    # many members, each under the per-photo limit, that together unpack to more than the total limit
    parts = [(f"p{i}.png", os.urandom(MB // 2) + b"\0" * (3 * MB)) for i in range(6)]
    with pytest.raises(TooLargeError, match="unpack to more than"):
        gather(tmp_path / "b", [make_zip(tmp_path / "many.zip", parts)], max_total_bytes=8 * MB)
    assert sum(f.stat().st_size for f in (tmp_path / "b").rglob("*") if f.is_file()) <= 8 * MB


def test_a_member_whose_header_lies_about_its_size_is_left_out(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "lie.zip", [("big.png", b"\0" * (2 * MB)), ("ok.png", png(16, 16))])
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("big.png")
    # the local header and the central directory both claim 1000 bytes instead of 2 MB
    local = data.index(b"PK\x03\x04")
    data[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    assert info.file_size == 2 * MB
    inputs, _folder = gather(tmp_path, [archive])
    assert inputs.names == {"0001": "ok"}  # the lying member fails its CRC check and is skipped
    assert "big.png" in inputs.skipped[0] and "skipped" in inputs.skipped[0]
    assert inputs.bytes_total < 64 * 1024


def test_too_many_files(tmp_path: Path) -> None:
    tiny = png(2, 2)
    with pytest.raises(TooLargeError, match=f"more than {MAX_BATCH_IMAGES} photos"):
        gather(tmp_path, [make_zip(tmp_path / "many.zip", [(f"{i}.png", tiny) for i in range(MAX_BATCH_IMAGES + 1)])])
    # a huge directory is refused before zipfile parses it (no object per entry is ever made)
    entries = [(f"{i}.txt", b"") for i in range(16 * MAX_BATCH_IMAGES + 1)]
    with pytest.raises(TooLargeError, match="entries is more than one batch may hold"):
        gather(tmp_path / "c", [make_zip(tmp_path / "dir.zip", entries)])


def test_pixel_budget_counts_headers_of_the_photos_kept(tmp_path: Path) -> None:
    # a smooth 2000x2000 PNG is a few kB, so the byte limits let many through; the pixels they hold are counted
    from PIL import Image

    flat = tmp_path / "flat.png"
    Image.new("RGB", (2000, 2000), (90, 120, 150)).save(flat)
    huge = tmp_path / "huge.png"  # above the per-photo limit: the batch refuses it on its own, so it counts 0
    Image.new("RGB", (3000, 3000)).save(huge)
    members = [(f"{i}.png", flat.read_bytes()) for i in range(3)] + [("huge.png", huge.read_bytes())]
    inputs, _folder = gather(
        tmp_path, [make_zip(tmp_path / "ok.zip", members)], max_pixels=5_000_000, max_total_pixels=12_000_000
    )
    assert inputs.pixels_total == 3 * 4_000_000 and len(inputs.names) == 4  # type: ignore[attr-defined]
    members.append(("3.png", flat.read_bytes()))
    with pytest.raises(TooLargeError, match="budget of 12 megapixels per batch"):
        gather(
            tmp_path / "b",
            [make_zip(tmp_path / "over.zip", members)],
            max_pixels=5_000_000,
            max_total_pixels=12_000_000,
        )
    kept = sorted(p.name for p in (tmp_path / "b").rglob("*.png"))
    assert kept == ["0001.png", "0002.png", "0003.png", "0004.png"]  # the photo over budget was not kept


def test_uploads_that_are_not_photos_or_archives(tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not a zip")
    with pytest.raises(InputError, match="no photo among the uploads") as err:
        gather(tmp_path, [text, fake])
    assert "readme.txt: not a photo or a zip archive (text" in str(err.value)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(make_zip(tmp_path / "whole.zip", [("a.png", png(8, 8))]).read_bytes()[:-30])
    with pytest.raises(InputError, match="cut.zip: not a readable zip archive"):
        gather(tmp_path, [cut])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="file is empty"):
        gather(tmp_path, [empty])


def test_batch_run_makes_one_depth_file_per_photo(tmp_path: Path, web_model: Path) -> None:
    from PIL import Image

    from depthforge.pipeline.batch import BatchJob, run_batch

    sizes = [(40, 60), (48, 32), (30, 30)]
    photos = []
    for i, (h, w) in enumerate(sizes):
        p = tmp_path / f"photo {i}.png"
        p.write_bytes(png(h, w, i))
        photos.append(p)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    inputs, folder = gather(tmp_path, [*photos, bad])
    out = tmp_path / "work" / "out"
    job = BatchJob(folder, out, outputs=("depth16", "sbs"), model=str(web_model))
    summary = run_batch(job, workers=1)
    assert (summary.done, summary.failed) == (3, 1)
    result = collect_outputs(inputs, out, summary)
    assert result.photos == 3
    depth = sorted(n for n in result.names if n.endswith("_depth.png"))
    assert depth == ["photo_0_depth.png", "photo_1_depth.png", "photo_2_depth.png"]
    for f, name in zip(result.files, result.names, strict=True):
        with Image.open(f) as im:
            h, w = sizes[int(name.split("_")[1])]
            assert im.size == ((2 * w, h) if name.endswith("_sbs.png") else (w, h)), name
            if name.endswith("_depth.png"):
                assert np.asarray(im).dtype == np.uint16
    # the failure names the client's file, never a server path
    assert result.failures.startswith("broken.png: ") and str(tmp_path) not in result.failures


@pytest.mark.slow
def test_hostile_zip_through_the_ui_api_of_a_real_server(server_factory, web_model: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The Batch tab's API (``run_batch``) of a real ``depthforge serve``: a zip with a traversal name, a bomb, a
    nested archive and a broken photo gives one zip of plain names; nothing lands outside the server's folders."""
    import json
    import tempfile

    import httpx

    server = server_factory(web_model)
    marker = "escaped" + os.urandom(4).hex()
    members = [
        (f"../../../{marker}.png", png(24, 32, 1)),
        ("photos/ok.png", png(20, 30, 2)),
        ("bomb.png", b"\0" * (64 * MB)),
        ("inner.zip", b"PK\x03\x04"),
        ("broken.jpg", b"\xff\xd8\xff not really a jpeg"),
    ]
    archive = make_zip(tmp_path / "holiday.zip", members)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        up = client.post("/gradio_api/upload", files={"files": ("holiday.zip", archive.read_bytes())})
        assert up.status_code == 200
        ref = {"path": up.json()[0], "meta": {"_type": "gradio.FileData"}}
        call = client.post(
            "/gradio_api/call/run_batch", json={"data": [[ref], "default", 0, "off", ["depth16"], "gray", 2.5]}
        )
        assert call.status_code == 200
        events = client.get(f"/gradio_api/call/run_batch/{call.json()['event_id']}").text
        assert "event: complete" in events, events[-500:]
        data = json.loads(events.split("event: complete\ndata:", 1)[1].strip().splitlines()[0])
        result, note = data[0], data[1]
        body = client.get(result["url"]).content
    archive_back = zipfile.ZipFile(io.BytesIO(body))
    names = sorted(archive_back.namelist())
    assert names == sorted(f"depthforge_batch/{n}" for n in ("failures.txt", f"{marker}_depth.png", "ok_depth.png"))
    failures = archive_back.read("depthforge_batch/failures.txt").decode()
    assert failures.startswith("broken.jpg: ") and "/tmp" not in failures
    assert "2 done, 1 failed" in note and "bomb.png: larger than" in note and "inner.zip: not a photo" in note
    assert not any(Path(tempfile.gettempdir()).rglob(f"{marker}*"))  # the traversal name never became a path
    assert httpx.get(f"{server.url}/v1/health").json()["model_runs"] == 2
