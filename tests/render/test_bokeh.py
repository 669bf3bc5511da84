"""Depth of field: the acceptance scene (textured disc at 1 m before a textured wall at 4 m) and invariants."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.render.defocus import bokeh, disc_kernel, focus_inverse_depth, layer_radii, plan_bokeh, render_layers

N, R = 256, 70


def disc_scene(n: int = N, r: float = R) -> tuple[np.ndarray, DepthMap, np.ndarray, np.ndarray]:
    """Image (n, n, 3) uint8, metric depth (1 m disc, 4 m wall), true disc mask, distance from the centre."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:n, 0:n]
    d = np.hypot(xx - n / 2 + 0.5, yy - n / 2 + 0.5)
    disc = d < r
    wall = rng.random((n, n, 3)) * 120 + 40
    fg = 170 + 50 * np.sin(xx[..., None] * 0.9 + np.arange(3)) * np.cos(yy[..., None] * 0.7)
    img = np.where(disc[..., None], fg, wall).round().astype(np.uint8)
    return img, DepthMap(np.where(disc, 1.0, 4.0).astype(np.float32), kind="metric"), disc, d


def gray(a: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)


def laplacian_var(a: np.ndarray, where: np.ndarray) -> float:
    return float(cv2.Laplacian(gray(a), cv2.CV_64F)[where].var())


def edge_width(a: np.ndarray, d: np.ndarray) -> float:
    """10-90 % rise width (px) of the angle-averaged radial profile around the disc edge."""
    bins = np.round((d - (R - 12)) * 4).astype(int)
    keep = (bins >= 0) & (bins < 24 * 4)
    prof = np.bincount(bins[keep], gray(a)[keep]) / np.bincount(bins[keep])
    inside, outside = prof[:16].mean(), prof[-16:].mean()
    frac = (prof - outside) / (inside - outside)
    first_below_90 = np.flatnonzero(frac < 0.9)[0]
    first_below_10 = np.flatnonzero(frac < 0.1)[0]
    return (first_below_10 - first_below_90) / 4.0


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, DepthMap, np.ndarray, np.ndarray]:
    return disc_scene()


def test_focus_on_disc_keeps_it_and_blurs_the_wall(scene):
    img, depth, _disc, d = scene
    before = img.copy()
    out = bokeh(img, depth, focus_xy=(N / 2, N / 2), aperture_px=12)
    assert np.array_equal(img, before)  # input untouched
    inner = d < R - 3
    err = out[inner].astype(np.float64) - img[inner]
    psnr = 10 * np.log10(255**2 / max(float((err**2).mean()), 1e-12))
    assert psnr > 45 and np.abs(err).max() < 1
    wall = d > R + 14
    assert 1 - laplacian_var(out, wall) / laplacian_var(img, wall) >= 0.8
    assert abs(edge_width(out, d) - edge_width(img, d)) <= 2
    # No halo: wall pixels next to the sharp disc are wall colours, not the disc's (disc mean ~170, wall ~100).
    ring = (d > R + 1) & (d < R + 4)
    assert gray(out)[ring].mean() < gray(img)[ring].mean() + 10


def test_focus_on_wall_blurs_disc_and_spills_over_the_wall(scene):
    img, depth, _disc, d = scene
    out = bokeh(img, depth, focus_xy=(5, 5), aperture_px=12)
    far = d > R + 16
    assert np.array_equal(out[far], img[far])  # the wall is in focus and unchanged away from the disc
    inner = d < R - 16
    assert laplacian_var(out, inner) < 0.2 * laplacian_var(img, inner)
    # spill: just outside the disc the blurred disc (brighter) covers part of the wall
    ring = (d > R + 1) & (d < R + 5)
    assert gray(out)[ring].mean() > gray(img)[ring].mean() + 15


def test_zero_aperture_returns_the_input_exactly(scene):
    img, depth, _, _ = scene
    assert np.array_equal(bokeh(img, depth, aperture_px=0), img)
    img16 = img.astype(np.uint16) * 257
    assert np.array_equal(bokeh(img16, depth, aperture_px=0), img16)


def test_blur_grows_with_aperture_and_preserves_mean_light(scene):
    img, depth, _, d = scene
    wall = d > R + 30
    v = [laplacian_var(bokeh(img, depth, focus_xy=(N / 2, N / 2), aperture_px=a), wall) for a in (1, 3, 8)]
    assert v[0] > v[1] > v[2]
    lin = (img / 255.0) ** 2.2
    out = render_layers(lin.astype(np.float32), np.full(img.shape[:2], 7.0, np.float32))
    assert abs(out.mean() - lin.mean()) < 0.01 * lin.mean()


def test_highlight_blooms_into_a_disc():
    img = np.full((81, 81, 3), 20, np.uint8)
    img[40, 40] = 255
    depth = DepthMap(np.ones((81, 81), np.float32), kind="relative")
    depth = depth.with_values(np.where(np.arange(81)[None, :] < 2, 2.0, 1.0).astype(np.float32) * np.ones((81, 1)))
    out = bokeh(img, depth, focus_xy=(0, 0), aperture_px=10, highlight_gain=8)
    g = gray(out)
    assert g[40, 40 + 7] > 40 and g[40, 40 - 7] > 40 and g[40 + 7, 40] > 40  # a bright disc of radius ~10
    assert g[40, 40 + 14] < 25  # and nothing beyond it


def test_disc_and_polygon_kernels():
    for blades in (0, 5, 6):
        k = disc_kernel(9.3, blades=blades)
        assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert abs(float(k.sum()) - 1) < 1e-5
    disc = disc_kernel(20)
    assert abs(np.count_nonzero(disc > disc.max() / 2) - np.pi * 20**2) < 0.02 * np.pi * 20**2
    hexa = disc_kernel(20, blades=6)
    assert np.count_nonzero(hexa) < np.count_nonzero(disc)
    assert np.allclose(disc, disc.T) and np.allclose(disc, disc[::-1])
    assert disc_kernel(0.3).shape == (1, 1)


def test_layer_radii_grow_slowly():
    r10, r40 = layer_radii(10), layer_radii(40)
    assert r10[0] == 0 and r10[-1] == 10 and r40[-1] == 40
    assert np.all(np.diff(r40) > 0)
    assert len(r40) < 2 * len(r10)  # log growth: cost per layer is bounded, so cost ~ number of layers


def test_coc_sign_and_focus_modes(scene):
    _img, depth, disc, _ = scene
    plan = plan_bokeh(depth, focus_xy=(N / 2, N / 2), aperture_px=12)
    assert plan.focus_source == "xy" and np.allclose(plan.coc[disc], 0)
    assert np.allclose(plan.coc[~disc], 12)  # behind focus: positive, full aperture over the full range
    plan = plan_bokeh(depth, focus_depth=4.0, aperture_px=12)
    assert np.allclose(plan.coc[disc], -12) and np.allclose(plan.coc[~disc], 0)
    q, source = focus_inverse_depth(depth)
    assert source == "auto: subject" and q == pytest.approx(1.0)
    flat = DepthMap(np.full((64, 64), 2.0, np.float32), kind="metric")
    assert focus_inverse_depth(flat)[1] == "auto: centre"


def test_f_number_follows_the_thin_lens(scene):
    _, depth, disc, _ = scene
    intr = Intrinsics.from_fov((N, N), fov_deg=60)
    dm = DepthMap(depth.values, kind="metric", intrinsics=intr)
    p2 = plan_bokeh(dm, focus_xy=(N / 2, N / 2), f_number=2.0)
    p4 = plan_bokeh(dm, focus_xy=(N / 2, N / 2), f_number=4.0)
    f_m = intr.fx * 0.036 / N
    expected = intr.fx * f_m * 1.0 / (2 * 2.0 * (1.0 - f_m)) * 0.75
    assert float(p2.coc[~disc].mean()) == pytest.approx(expected, rel=1e-4)
    assert float(p4.coc[~disc].mean()) == pytest.approx(expected / 2, rel=1e-4)
    with pytest.raises(ValidationError, match="f_number"):
        plan_bokeh(DepthMap(depth.values, kind="relative"), f_number=2.0)


def test_bad_input(scene):
    img, depth, _, _ = scene
    with pytest.raises(ValidationError, match="depth"):
        bokeh(img[:100], depth)
    with pytest.raises(ValidationError, match="blades"):
        bokeh(img, depth, blades=2)
    with pytest.raises(ValidationError, match="aperture"):
        bokeh(img, depth, aperture_px=-1)
    with pytest.raises(ValidationError, match="focus_xy"):
        bokeh(img, depth, focus_xy=(N + 5, 3))
    with pytest.raises(ValidationError, match="not both"):
        bokeh(img, depth, aperture_px=3, f_number=2)
    # user trial 8: NaN rotation was an IndexError, 5.5 blades were cut to 5, a scalar focus a TypeError
    for bad, name in (({"rotation_deg": float("nan")}, "rotation_deg"), ({"blades": 5.5}, "blades")):
        with pytest.raises(ValidationError, match=f"^{name}: "):
            bokeh(img, depth, aperture_px=3, **bad)
    for xy in (5, (1, 2, 3), "ab"):
        with pytest.raises(ValidationError, match=r"^focus_xy: a pixel \(x, y\)"):
            bokeh(img, depth, aperture_px=3, focus_xy=xy)


def test_invalid_depth_is_filled_and_real_photo(photos):
    from depthforge.io.images import read_image

    img = read_image(photos / "coffee.jpg").as_uint8()
    h, w = img.shape[:2]
    v = np.tile(np.linspace(1.0, 5.0, h, dtype=np.float32)[:, None], (1, w))
    v[10:20, 10:20] = np.nan
    out = bokeh(img, DepthMap(v, kind="metric"), focus_depth=1.0, aperture_px=8, blades=6)
    assert out.shape == img.shape and out.dtype == np.uint8
    top, bottom = slice(0, 20), slice(h - 40, h)
    assert np.abs(out[top].astype(int) - img[top]).mean() < np.abs(out[bottom].astype(int) - img[bottom]).mean()


def test_row_bands_do_not_change_the_result(cones, monkeypatch: pytest.MonkeyPatch) -> None:
    # the real cones scene, focused on the front cone: radii from 0 to 24 px take both the full-resolution kernels
    # and the reduced layers; bands of 7 rows (many band edges inside each kernel's reach) give the same bytes
    from PIL import Image

    from depthforge.render import defocus
    from tests.conftest import cones_disparity

    img = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    disparity = cones_disparity(cones)
    depth = DepthMap(np.where(np.isnan(disparity), np.nanmin(disparity), disparity), kind="disparity")
    plan = plan_bokeh(depth, focus_xy=(100, 300), aperture_px=24)
    assert plan.max_radius_px > 2 * 6.0  # reaches the reduced path (kernels above 6 px)
    monkeypatch.setattr(defocus, "_BAND_ROWS", img.shape[0])  # one band: the whole image at once
    whole = bokeh(img, depth, focus_xy=(100, 300), aperture_px=24, blades=6)
    monkeypatch.setattr(defocus, "_BAND_ROWS", 7)
    assert np.array_equal(bokeh(img, depth, focus_xy=(100, 300), aperture_px=24, blades=6), whole)
    assert laplacian_var(whole, np.ones(img.shape[:2], bool)) < laplacian_var(img, np.ones(img.shape[:2], bool))


def test_reduced_layers_are_enlarged_as_cv2_resize_does(cones) -> None:
    # a layer blurred on a reduced copy is enlarged band by band; it must match enlarging it whole
    from PIL import Image

    from depthforge.render import defocus

    lin = np.asarray(Image.open(cones / "im2.png").convert("RGB"), dtype=np.float32) / 255
    h, w = lin.shape[:2]
    idx, t = np.zeros((h, w), np.int32), np.zeros((h, w), np.float32)  # every pixel wholly in layer 0
    acc = np.zeros((h, w, 4), np.float32)
    defocus._add_layer(acc, lin, idx, t, 0, box=(0, h, 0, w), radius=15.0, blades=0, rotation_deg=0.0)
    layer = np.dstack([lin, np.ones((h, w), np.float32)])
    s = 15.0 / 6.0
    sw, sh = round(w / s), round(h / s)
    small = cv2.filter2D(
        cv2.resize(layer, (sw, sh), interpolation=cv2.INTER_AREA),
        -1,
        disc_kernel(15.0 * sw / w),
        borderType=cv2.BORDER_CONSTANT,
    )
    assert np.abs(acc - cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)).max() < 1e-6


@pytest.mark.parametrize("small_hw, size_hw", [((150, 180), (375, 450)), ((7, 5), (333, 17)), ((1, 40), (9, 200))])
def test_enlarged_rows_match_cv2_resize_on_any_opencv(small_hw: tuple[int, int], size_hw: tuple[int, int]) -> None:
    # any band of rows of the enlargement equals those rows of cv2.resize, within float rounding, on OpenCV 4 and 5
    # alike (cv2.warpAffine, used before, rounds positions to 1/32 px on OpenCV 4: 0.0019 off on the cones layer).
    # With Intel IPP off both are OpenCV's own arithmetic; with it on (the default), IPP resizes one channel its own
    # way, up to 6e-6 off OpenCV's on these values, in the whole resize and in the rows alike.
    from depthforge.render.defocus import _enlarged_rows

    rng = np.random.default_rng(3)
    ipp = cv2.ipp.useIPP()
    try:
        for use_ipp, tolerance in ((False, 1e-6), (True, 1e-5)):
            cv2.ipp.setUseIPP(use_ipp)
            for channels in ((), (4,)):
                small = rng.random((*small_hw, *channels), dtype=np.float32)
                whole = cv2.resize(small, size_hw[::-1], interpolation=cv2.INTER_LINEAR)
                h = size_hw[0]
                for r0, r1 in ((0, h), (0, 1), (h // 3, min(h, h // 3 + 7)), (h - 2, h)):
                    rows = _enlarged_rows(lambda a, b, s=small: s[a:b], small_hw[0], size_hw, r0, r1)
                    assert rows.shape == whole[r0:r1].shape
                    assert np.abs(rows - whole[r0:r1]).max() < tolerance, (use_ipp, channels, r0)
    finally:
        cv2.ipp.setUseIPP(ipp)


@pytest.mark.parametrize(
    "size_hw, small_hw, band_rows",
    [((375, 450), (150, 180), 7), ((300, 400), (100, 200), 256), ((333, 17), (7, 5), 5), ((9, 200), (1, 40), 3)],
)
def test_reduced_layer_matches_cv2_inter_area(
    monkeypatch: pytest.MonkeyPatch, size_hw: tuple[int, int], small_hw: tuple[int, int], band_rows: int
) -> None:
    # a layer is reduced band by band (no full-size copy); any rows of it must equal those of cv2.resize's INTER_AREA
    # of the whole layer within float rounding (bit for bit at fractional scales; OpenCV sums whole blocks at integer
    # ones), with IPP on and off, and leave the inputs as they were
    from depthforge.render import defocus

    rng = np.random.default_rng(5)
    h, w = size_hw
    lin = rng.random((h + 4, w + 6, 3), dtype=np.float32) * 4
    idx = rng.integers(0, 3, (h + 4, w + 6)).astype(np.int32)
    t = rng.random((h + 4, w + 6), dtype=np.float32)
    before = [a.copy() for a in (lin, idx, t)]
    box = (3, 3 + h, 2, 2 + w)
    whole = cv2.resize(defocus._layer_rows(lin, idx, t, 1, box), small_hw[::-1], interpolation=cv2.INTER_AREA)
    monkeypatch.setattr(defocus, "_BAND_ROWS", band_rows)
    ipp = cv2.ipp.useIPP()
    try:
        for use_ipp in (False, True):
            cv2.ipp.setUseIPP(use_ipp)
            table = defocus._area_rows(h, small_hw[0])
            sh = small_hw[0]
            for j0, j1 in ((0, sh), (0, 1), (sh // 3, min(sh, sh // 3 + 5)), (sh - 1, sh)):
                rows = defocus._reduced_rows(lin, idx, t, 1, box, table, small_hw[1], j0, j1)
                assert rows.shape == whole[j0:j1].shape
                assert np.abs(rows - whole[j0:j1]).max() < 1e-5 * max(1.0, float(np.abs(whole).max())), use_ipp
    finally:
        cv2.ipp.setUseIPP(ipp)
    assert all(np.array_equal(a, b) for a, b in zip((lin, idx, t), before, strict=True))
