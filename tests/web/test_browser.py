"""The UI in a real browser: Debian's chromium driven by Playwright against ``depthforge serve`` (subprocess).

Screenshots of every tab are kept under ``$DEPTHFORGE_ARTIFACTS`` (or the test's temporary folder). Skips
cleanly when Playwright or a chromium executable is absent. The browser may only reach the loopback server:
every other request is aborted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.web.conftest import as_array, png_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL, so the 3D viewer draws without a GPU
]
TABS = ["Depth", "3D", "Stereo", "Parallax", "Bokeh", "Video"]
TIMEOUT_MS = 120_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DEPTHFORGE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
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
                str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
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


def test_depth_and_stereo_and_bokeh_tabs(page, web_photo, artifacts) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    with Image.open(web_photo) as im:
        w, h = im.size
    pg = page

    # Depth: the shown depth image and the 16-bit PNG download have the photo's size
    upload(pg, "depth-input", web_photo)
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
    upload(pg, "stereo-input", web_photo)
    pg.locator("#stereo-run").click()
    sbs = output_image(pg, "stereo-output")
    assert png_size(sbs)[:2] == (2 * w, h)
    pg.screenshot(path=str(artifacts / "tab-stereo.png"), full_page=True)

    # Bokeh: the result has the photo's size; a click on it moves the focus there
    open_tab(pg, "Bokeh")
    upload(pg, "bokeh-input", web_photo)
    pg.locator("#bokeh-run").click()
    first = output_image(pg, "bokeh-output")
    assert png_size(first)[:2] == (w, h)
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
    upload(pg, "mesh-input", web_photo)
    pg.locator("#mesh-run").click()
    glb_link = pg.locator('a[download="mesh.glb"]').first
    glb_link.wait_for()
    glb = fetch(pg, glb_link.get_attribute("href"))
    assert glb[:4] == b"glTF"
    pg.locator("#mesh-view canvas").first.wait_for()
    pg.wait_for_timeout(1500)
    pg.screenshot(path=str(artifacts / "tab-3d.png"), full_page=True)

    # Parallax: a video of the photo's size comes back
    open_tab(pg, "Parallax")
    upload(pg, "parallax-input", web_photo)
    pg.locator("#parallax-run").click()
    video = pg.locator("#parallax-output video").first
    video.wait_for()
    clip = fetch(pg, video.get_attribute("src"))
    assert len(clip) > 1000 and clip[4:8] == b"ftyp"
    pg.wait_for_timeout(800)
    pg.screenshot(path=str(artifacts / "tab-parallax.png"), full_page=True)

    for name in ("Video",):
        open_tab(pg, name)
        pg.wait_for_timeout(300)
        pg.screenshot(path=str(artifacts / f"tab-{name.lower()}.png"), full_page=True)
    for name in TABS:
        assert (artifacts / f"tab-{name.lower()}.png").stat().st_size > 0
