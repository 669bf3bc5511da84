"""The UI in a real browser: Debian's chromium driven by Playwright against ``depthforge serve`` (subprocess).

Screenshots of every tab are kept under ``$DEPTHFORGE_ARTIFACTS`` (or the test's temporary folder). Skips
cleanly when Playwright or a chromium executable is absent. The browser may only reach the loopback server:
every other request is aborted.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.web.conftest import as_array, png_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Software WebGL for the 3D viewer (Babylon.js: WebGPU fails, WebGL2 on ANGLE/Vulkan/SwiftShader draws the mesh).
    # Checked with Debian chromium 156 + Playwright 1.65: this flag alone is enough (Playwright passes it too; without
    # it chromium still falls back to SwiftShader but warns the fallback is deprecated); --use-gl=angle,
    # --use-angle=swiftshader and --ignore-gpu-blocklist give the same renderer. --disable-gpu does not block it.
    "--enable-unsafe-swiftshader",
]
TABS = ["Depth", "3D", "Stereo", "Parallax", "Bokeh", "Video"]
TIMEOUT_MS = 120_000


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("DEPTHFORGE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("DEPTHFORGE_ARTIFACTS")
    folder = Path(env) if env else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(server_factory, web_model, tmp_path):  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium executable (apt-get install chromium, or set DEPTHFORGE_CHROMIUM)")
    server = server_factory(web_model)
    with sync_api.sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=exe,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
            )
        except sync_api.Error as exc:
            pytest.skip(f"chromium does not start under Playwright: {str(exc).splitlines()[0]}")

        def local_only(route, request):  # type: ignore[no-untyped-def]
            host = urlparse(request.url).hostname
            if request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", local_only)
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(server.url + "/", wait_until="domcontentloaded")
        pg.get_by_role("tab", name="Depth").wait_for()
        pg.server_url = server.url  # type: ignore[attr-defined]
        try:
            yield pg
        finally:
            context.close()
    assert server.alive(), "the server died during the browser test"


def open_tab(pg, name: str) -> None:  # type: ignore[no-untyped-def]
    pg.get_by_role("tab", name=name, exact=True).click()


def upload(pg, elem_id: str, photo: Path) -> None:  # type: ignore[no-untyped-def]
    pg.locator(f"#{elem_id} input[type=file]").set_input_files(str(photo))
    pg.locator(f"#{elem_id} img").first.wait_for(state="visible")


def fetch(pg, url: str) -> bytes:  # type: ignore[no-untyped-def]
    if url.startswith("/"):
        url = pg.server_url + url
    response = pg.request.get(url)
    assert response.ok, f"GET {url}: {response.status}"
    return response.body()


def output_image(pg, elem_id: str) -> bytes:  # type: ignore[no-untyped-def]
    img = pg.locator(f"#{elem_id} img").first
    img.wait_for(state="visible")
    return fetch(pg, img.get_attribute("src"))


def canvas_drawing(pg, selector: str, shot: Path, *, attempts: int = 40) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """What a WebGL canvas shows once two screenshots in a row agree and something is drawn (the GLB loads, and
    the camera settles, after the canvas appears).

    Returns the share of pixels that differ from the background (the colour of the canvas's corners), the
    number of distinct colours among them and the width/height ratio of their bounding box.
    """
    import io

    import numpy as np
    from PIL import Image

    canvas = pg.locator(selector).first
    canvas.wait_for()
    stats = {"coverage": 0.0, "colours": 0.0, "aspect": 0.0}
    previous = b""
    for _ in range(attempts):
        png = canvas.screenshot(path=str(shot))
        if png != previous:  # still loading or the camera still moving: look again
            previous = png
            pg.wait_for_timeout(500)
            continue
        with Image.open(io.BytesIO(png)) as im:
            # inside the block's border and below the label and buttons drawn over the canvas
            rgb = np.asarray(im.convert("RGB")).astype(np.int16)[40:-8, 8:-8]
        corners = np.stack([rgb[2, 2], rgb[2, -3], rgb[-3, 2], rgb[-3, -3]])
        background = np.median(corners, axis=0)
        fg = np.abs(rgb - background).max(axis=2) > 24
        if fg.mean() > 0.01:
            ys, xs = np.nonzero(fg)
            (x0, x1), (y0, y1) = np.percentile(xs, [1, 99]), np.percentile(ys, [1, 99])
            stats = {
                "coverage": float(fg.mean()),
                "colours": float(len(np.unique(rgb[fg], axis=0))),
                "aspect": float((x1 - x0) / max(y1 - y0, 1.0)),
            }
            break
        pg.wait_for_timeout(500)
    return stats


def model_runs(pg) -> int:  # type: ignore[no-untyped-def]
    """How many depth maps the server's model has computed so far (its /v1/health counter)."""
    import json

    return int(json.loads(fetch(pg, "/v1/health"))["model_runs"])


def test_depth_and_stereo_and_bokeh_tabs(page, web_photo, artifacts) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    with Image.open(web_photo) as im:
        w, h = im.size
    pg = page

    # one upload at the top serves every tab; the depth is estimated once and shared (the model runs once)
    runs_before = model_runs(pg)
    upload(pg, "photo-input", web_photo)
    # Depth: the shown depth image and the 16-bit PNG download have the photo's size
    pg.locator("#depth-run").click()
    depth_bytes = output_image(pg, "depth-output")
    assert png_size(depth_bytes)[:2] == (w, h)
    link = pg.locator('#depth-files a[download="depth_16bit.png"]').first
    link.wait_for()
    png16 = fetch(pg, link.get_attribute("href"))
    arr = as_array(png16)
    assert arr.shape == (h, w) and arr.dtype.name == "uint16"
    assert arr.max() > 60000 and arr.min() < 5000  # the full 16-bit range is used: near = white, far = black
    pg.screenshot(path=str(artifacts / "tab-depth.png"), full_page=True)

    # Stereo, left-right: two views side by side, each of the photo's size
    open_tab(pg, "Stereo")
    pg.locator("#stereo-run").click()
    sbs = output_image(pg, "stereo-output")
    assert png_size(sbs)[:2] == (2 * w, h)
    pg.screenshot(path=str(artifacts / "tab-stereo.png"), full_page=True)

    # Bokeh: the result has the photo's size; a click on it moves the focus there
    open_tab(pg, "Bokeh")
    pg.locator("#bokeh-run").click()
    first = output_image(pg, "bokeh-output")
    assert png_size(first)[:2] == (w, h)
    runs = model_runs(pg) - runs_before
    print(f"model runs for Depth, Stereo and Bokeh after one upload: {runs}")
    assert runs == 1
    box = pg.locator("#bokeh-output img").first.bounding_box()
    assert box is not None
    pg.locator("#bokeh-output img").first.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.75})
    focus = pg.get_by_text("focus at (")
    focus.wait_for()
    x, y = (float(v) for v in focus.inner_text().split("(")[1].rstrip(")").split(","))
    assert abs(x - 0.25 * w) <= 0.02 * w and abs(y - 0.75 * h) <= 0.02 * h  # the focus is where we clicked
    pg.screenshot(path=str(artifacts / "tab-bokeh.png"), full_page=True)

    # 3D: a GLB shown in the viewer, downloadable, with vertices
    open_tab(pg, "3D")
    pg.locator("#mesh-run").click()
    glb_link = pg.locator('a[download="mesh.glb"]').first
    glb_link.wait_for()
    glb = fetch(pg, glb_link.get_attribute("href"))
    assert glb[:4] == b"glTF"
    # the viewer (Babylon.js on WebGL2: ANGLE over SwiftShader, no GPU needed) draws the textured mesh
    drawn = canvas_drawing(pg, "#mesh-view canvas", artifacts / "canvas-3d.png")
    print(f"3D canvas: {drawn}")
    assert drawn["coverage"] > 0.03, drawn  # the mesh covers part of the view, not a blank canvas
    assert drawn["colours"] > 500, drawn  # textured with the photo, not flat-shaded or a single colour
    assert abs(drawn["aspect"] / (w / h) - 1) < 0.25, drawn  # seen from the camera: the photo's proportions
    pg.screenshot(path=str(artifacts / "tab-3d.png"), full_page=True)
    # a relief to 3D-print: a watertight STL of the width asked for, and its preview in the viewer
    import trimesh

    pg.get_by_label("relief").check()
    pg.get_by_text("Relief (millimetres)").click()  # open the accordion
    pg.locator("#relief-width input").fill("80")
    pg.locator("#relief-width input").press("Tab")  # committed before the run (CI of c5ec14c: the run took 100)
    pg.locator("#mesh-run").click()
    stl_link = pg.locator('a[download="relief.stl"]').first
    stl_link.wait_for()
    solid = trimesh.load(io.BytesIO(fetch(pg, stl_link.get_attribute("href"))), file_type="stl")
    assert solid.is_watertight and solid.extents[0] == pytest.approx(80, abs=0.01), solid.extents
    pg.get_by_text("watertight: print the STL").wait_for()

    # Parallax: a video of the photo's size comes back
    open_tab(pg, "Parallax")
    pg.locator("#parallax-run").click()
    video = pg.locator("#parallax-output video").first
    video.wait_for()
    clip = fetch(pg, video.get_attribute("src"))
    assert len(clip) > 1000 and clip[4:8] == b"ftyp"
    pg.wait_for_timeout(800)
    pg.screenshot(path=str(artifacts / "tab-parallax.png"), full_page=True)

    assert model_runs(pg) - runs_before == 1  # 3D and Parallax used the same depth too
    for name in TABS:
        if name != "Video":  # test_video_tab keeps that one
            assert (artifacts / f"tab-{name.lower()}.png").stat().st_size > 0


CLIP_FRAMES, CLIP_W, CLIP_H, PAN_PX = 12, 160, 120, 4


@pytest.fixture(scope="module")
def web_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s H.264 MP4, 12 frames of 160x120 at 12 fps: a crop of a photo (coffee) panning ``PAN_PX`` px a frame."""
    import numpy as np
    from skimage import data

    from depthforge.io.video_writer import VideoWriter

    photo = np.ascontiguousarray(data.coffee()[::2, ::2])  # 200x300
    path = tmp_path_factory.mktemp("web_clip") / "pan.mp4"
    with VideoWriter(path, fps=12, size_hw=(CLIP_H, CLIP_W), codec="h264", pix_fmt="rgb24") as writer:
        for i in range(CLIP_FRAMES):
            writer.write(np.ascontiguousarray(photo[40 : 40 + CLIP_H, PAN_PX * i : PAN_PX * i + CLIP_W]))
    return path


def test_video_tab(page, web_clip, artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from depthforge.io.video import iter_frames, probe_video

    source = probe_video(web_clip)
    assert (source.frame_count, source.width, source.height) == (CLIP_FRAMES, CLIP_W, CLIP_H)
    pg = page
    open_tab(pg, "Video")
    pg.locator("#video-input input[type=file]").set_input_files(str(web_clip))
    pg.locator("#video-input video").first.wait_for()
    pg.locator("#video-run").click()

    # the depth video shown in the page (8-bit H.264) and the lossless 16-bit download (FFV1 MKV)
    shown = pg.locator("#video-depth video").first
    shown.wait_for()
    link = pg.locator('a[download="clip_depth.mkv"]').first
    link.wait_for()
    for name, url, pix_fmt in (
        ("shown.mp4", shown.get_attribute("src"), "gray"),
        ("depth.mkv", link.get_attribute("href"), "gray16le"),
    ):
        path = tmp_path / name
        path.write_bytes(fetch(pg, url))
        info = probe_video(path)
        assert (info.frame_count, info.width, info.height) == (CLIP_FRAMES, CLIP_W, CLIP_H), (name, info)
        assert info.fps == source.fps, (name, info.fps)
        frames = list(iter_frames(path, pix_fmt=pix_fmt, info=info))
        assert len(frames) == CLIP_FRAMES, name
        spread = [float(np.percentile(f, 95)) - float(np.percentile(f, 5)) for f in frames]
        full = 65535 if pix_fmt == "gray16le" else 255
        print(
            f"{name}: {info.codec} {info.width}x{info.height} {info.frame_count} frames at {info.fps} fps, "
            f"5-95 % spread {min(spread) / full:.2f}..{max(spread) / full:.2f} of full range"
        )
        assert min(spread) > 0.1 * full, (name, spread)  # every frame is a depth map, not a constant
        # the depth moves with the scene: consecutive frames agree best when shifted by the pan's PAN_PX
        moved = [
            float(
                np.mean(
                    [
                        np.abs(a[:, s:].astype(np.int32) - b[:, : CLIP_W - s]).mean()
                        for a, b in itertools.pairwise(frames)
                    ]
                )
            )
            for s in range(9)
        ]
        print(f"{name}: mean |frame(i) - frame(i+1) moved by s px| for s = 0..8: {[round(m / full, 3) for m in moved]}")
        assert int(np.argmin(moved)) == PAN_PX, (name, moved)
    if info.codec != "ffv1":
        raise AssertionError(f"the 16-bit download is {info.codec}, not lossless FFV1")
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(artifacts / "tab-video.png"), full_page=True)
    assert (artifacts / "tab-video.png").stat().st_size > 0
