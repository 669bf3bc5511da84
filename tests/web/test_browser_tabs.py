"""The Batch and Mask tabs and the own-depth upload in a real browser (Debian's chromium driven by Playwright against
``depthforge serve``, as in :mod:`tests.web.test_browser`, whose fixtures and helpers these tests share).

Model runs are counted through ``/v1/health``: the Mask tab reuses the shared depth, and a user's own depth map
means no model run at all.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.web.conftest import as_array, png_size
from tests.web.test_browser import artifacts, fetch, model_runs, open_tab, output_image, page, upload  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (file name, crop rows, crop columns) of scikit-image's coffee: three photos of different sizes
BATCH_PHOTOS = [
    ("cup.png", (100, 220), (150, 330)),
    ("table one.jpg", (0, 96), (0, 128)),
    ("wall.png", (300, 400), (0, 60)),
]


@pytest.fixture
def batch_photos(tmp_path: Path) -> list[Path]:
    from PIL import Image
    from skimage import data

    coffee = data.coffee()
    paths = []
    for name, (r0, r1), (c0, c1) in BATCH_PHOTOS:
        p = tmp_path / name
        Image.fromarray(np.ascontiguousarray(coffee[r0:r1, c0:c1])).save(p)
        paths.append(p)
    return paths


def test_batch_tab_returns_one_depth_file_per_photo(page, batch_photos, artifacts) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    pg = page
    runs_before = model_runs(pg)
    open_tab(pg, "Batch")
    pg.locator("#batch-input input[type=file]").set_input_files([str(p) for p in batch_photos])
    for p in batch_photos:  # the three uploads are listed before the run starts
        pg.locator(f'#batch-input td.filename[aria-label="{p.name}"]').first.wait_for()
    pg.locator("#batch-outputs").get_by_label("Stereo side by side").check()
    pg.locator("#batch-run").click()
    link = pg.locator('#batch-files a[download="depthforge_batch.zip"]').first
    link.wait_for()
    pg.screenshot(path=str(artifacts / "tab-batch.png"), full_page=True)
    archive = zipfile.ZipFile(io.BytesIO(fetch(pg, link.get_attribute("href"))))
    members = sorted(archive.namelist())
    print(f"batch zip: {members}")
    depth = [m for m in members if m.endswith("_depth.png")]
    expected = {"cup": (120, 180), "table_one": (96, 128), "wall": (100, 60)}  # stem -> (height, width)
    assert sorted(depth) == sorted(f"depthforge_batch/{s}_depth.png" for s in expected)  # exactly one each
    assert all(m.startswith("depthforge_batch/") and ".." not in m for m in members)
    for stem, (h, w) in expected.items():
        arr = as_array(archive.read(f"depthforge_batch/{stem}_depth.png"))
        assert arr.shape == (h, w) and arr.dtype == np.uint16, stem  # decoded: 16 bit, the photo's size
        assert int(arr.max()) - int(arr.min()) > 30000, stem  # a normalised depth map, not a constant
        assert png_size(archive.read(f"depthforge_batch/{stem}_sbs.png"))[:2] == (2 * w, h)
    assert len(members) == 6
    assert pg.get_by_text("3 photos: 3 done, 0 failed").count() == 1
    assert model_runs(pg) - runs_before == 3  # one model run per photo, counted by the server


def own_depth_map(tmp_path: Path, size_hw: tuple[int, int]) -> tuple[Path, np.ndarray]:
    """A 16-bit display PNG (near = white) at half the photo's size: a far gradient and a near disc on the left."""
    from PIL import Image

    h, w = size_hw[0] // 2, size_hw[1] // 2
    yy, xx = np.mgrid[0:h, 0:w]
    depth = 0.1 + 0.2 * yy / h  # the far background, a little nearer towards the bottom
    disc = (yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (h / 4) ** 2
    depth[disc] = 0.9
    codes = np.round(depth * 65535).astype(np.uint16)
    path = tmp_path / "my depth.png"
    Image.fromarray(codes).save(path)
    return path, disc


def test_own_depth_serves_every_tab_without_a_model_run(page, web_photo, tmp_path, artifacts) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from PIL import Image
    from scipy import ndimage

    with Image.open(web_photo) as im:
        w, h = im.size
    own, disc = own_depth_map(tmp_path, (h, w))
    pg = page
    runs_before = model_runs(pg)
    upload(pg, "photo-input", web_photo)
    pg.locator("#own-depth-input input[type=file]").set_input_files(str(own))
    pg.locator(f'#own-depth-input td.filename[aria-label="{own.name}"]').first.wait_for()

    # Depth: the 16-bit download is the user's map, resampled to the photo's size
    pg.locator("#depth-run").click()
    link = pg.locator('#depth-files a[download="depth_16bit.png"]').first
    link.wait_for()
    shown = as_array(fetch(pg, link.get_attribute("href"))).astype(np.float64)
    assert shown.shape == (h, w)
    theirs = np.asarray(Image.open(own).resize((w, h), Image.Resampling.BILINEAR), np.float64)
    corr = float(np.corrcoef(shown.ravel(), theirs.ravel())[0, 1])
    print(f"own depth: correlation of the Depth tab's 16-bit PNG with the uploaded map {corr:.4f}")
    assert corr > 0.98

    # Stereo and Bokeh: made from the same map
    open_tab(pg, "Stereo")
    pg.locator("#stereo-run").click()
    assert png_size(output_image(pg, "stereo-output"))[:2] == (2 * w, h)
    open_tab(pg, "Bokeh")
    pg.locator("#bokeh-run").click()
    assert png_size(output_image(pg, "bokeh-output"))[:2] == (w, h)

    # Mask (depth threshold): the near disc is the foreground
    open_tab(pg, "Mask")
    pg.locator("#mask-run").click()
    mask = as_array(output_image(pg, "mask-output"))
    if mask.ndim == 3:
        mask = mask[..., 0]
    assert mask.shape == (h, w)
    big = np.asarray(Image.fromarray(disc.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)) > 0
    away = ndimage.binary_erosion(big, iterations=12) | ~ndimage.binary_dilation(big, iterations=12)  # off the edge
    agree = float(((mask >= 128) == big)[away].mean())
    print(f"own depth: mask agrees with the near disc on {100 * agree:.1f} % of the pixels")
    assert agree > 0.97
    cut = output_image(pg, "mask-cutout")
    assert png_size(cut) == (w, h, "RGBA")
    pg.screenshot(path=str(artifacts / "tab-mask-own-depth.png"), full_page=True)
    assert model_runs(pg) == runs_before  # the user's depth: zero model runs


def test_own_metric_map_with_its_kind_chosen(page, web_photo, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A plain float file of metres (no metadata) with "metric" chosen: the near disc is the foreground (user trial 3:
    such a file was read as larger = nearer, and the mask took the background)."""
    from PIL import Image
    from scipy import ndimage

    with Image.open(web_photo) as im:
        w, h = im.size
    display, disc = own_depth_map(tmp_path, (h, w))
    metres = (1.0 / np.asarray(Image.open(display), np.float32) * 65535).astype(np.float32)  # near disc: ~1.1 m
    own = tmp_path / "metres.npy"
    np.save(own, metres)
    pg = page
    upload(pg, "photo-input", web_photo)
    pg.locator("#own-depth-input input[type=file]").set_input_files(str(own))
    pg.locator(f'#own-depth-input td.filename[aria-label="{own.name}"]').first.wait_for()
    pg.locator("#own-depth-kind input").click()
    pg.get_by_role("option").filter(has_text="metric (metres").first.click()
    open_tab(pg, "Mask")
    pg.locator("#mask-run").click()
    mask = as_array(output_image(pg, "mask-output"))
    mask = mask[..., 0] if mask.ndim == 3 else mask
    big = np.asarray(Image.fromarray(disc.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)) > 0
    away = ndimage.binary_erosion(big, iterations=12) | ~ndimage.binary_dilation(big, iterations=12)
    agree = float(((mask >= 128) == big)[away].mean())
    print(f"own metric depth: mask agrees with the near disc on {100 * agree:.1f} % of the pixels")
    assert agree > 0.97


def test_mask_tab_shares_the_estimate_and_names_unavailable_methods(page, web_photo, artifacts) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from PIL import Image

    with Image.open(web_photo) as im:
        w, h = im.size
    pg = page
    runs_before = model_runs(pg)
    upload(pg, "photo-input", web_photo)
    pg.locator("#depth-run").click()
    output_image(pg, "depth-output")
    open_tab(pg, "Mask")
    pg.locator("#mask-run").click()
    mask = as_array(output_image(pg, "mask-output"))
    assert mask.shape[:2] == (h, w)
    share = float((mask >= 128).mean())
    assert 0.0 < share < 1.0  # some foreground, some background
    assert pg.get_by_text("foreground").count() >= 1
    assert model_runs(pg) - runs_before == 1  # the Mask tab used the Depth tab's estimate

    # a method whose model this server does not have: one line, no traceback
    from depthforge.models.hub import is_cached

    if is_cached("facebook/sam-vit-base"):
        return  # this machine has SAM: nothing is unavailable to show
    pg.locator("#mask-method input").click()
    pg.get_by_role("option").filter(has_text="sam: Segment Anything").first.click()
    pg.locator("#mask-run").click()
    toast = pg.get_by_text("unavailable on this server").first
    toast.wait_for()
    text = toast.inner_text()
    print(f"mask tab, SAM without its model: {text!r}")
    assert "sam" in text and "Traceback" not in pg.content()
    pg.screenshot(path=str(artifacts / "tab-mask.png"), full_page=True)
