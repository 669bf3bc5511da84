"""Depth masks: automatic thresholds, guided-filter refinement, cut-outs and background replacement."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.render.masks import (
    alpha_to_uint8,
    auto_threshold,
    cutout,
    depth_mask,
    filled_inverse_depth,
    foreground_alpha,
    refine_alpha,
    replace_background,
    trimap,
    user_value_to_inverse,
)
from tests.render.test_bokeh import disc_scene


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("method", ["otsu", "gap"])
def test_mask_of_the_disc_scene(method):
    img, depth, disc, _ = disc_scene()
    alpha = foreground_alpha(depth, image=img, method=method)
    assert alpha.dtype == np.float32 and alpha.shape == disc.shape
    assert iou(alpha >= 0.5, disc) >= 0.98
    u8 = alpha_to_uint8(alpha)
    assert u8.dtype == np.uint8 and u8[128, 128] == 255 and u8[0, 0] == 0


def test_mask_with_noisy_relative_depth_and_soft_edge():
    img, depth, disc, d = disc_scene()
    rng = np.random.default_rng(1)
    inv = 1.0 / depth.values + rng.normal(0, 0.02, disc.shape).astype(np.float32)
    inv = np.where(np.abs(d - 70) < 1.5, np.nan, inv)  # invalid along the edge, as stereo maps often are
    rel = DepthMap(inv.astype(np.float32), kind="relative")
    alpha = foreground_alpha(rel, image=img)
    assert iou(alpha >= 0.5, disc) >= 0.98
    edge = np.abs(d - 70) < 2
    assert ((alpha > 0.02) & (alpha < 0.98))[edge].any()  # feathered near the edge
    assert set(np.unique(alpha[np.abs(d - 70) > 8])) <= {0.0, 1.0}  # and hard elsewhere


def test_thresholds_in_user_units():
    _, depth, disc, _ = disc_scene()
    assert np.array_equal(depth_mask(depth, threshold=2.0), disc)  # metres: nearer than 2 m
    assert not depth_mask(depth, threshold=0.5).any()
    assert user_value_to_inverse(depth, 2.0) == pytest.approx(0.5)
    rel = DepthMap(1.0 / depth.values, kind="relative")
    assert user_value_to_inverse(rel, 1.0) == pytest.approx(1.0)
    assert user_value_to_inverse(rel, 0.0) == pytest.approx(0.25)
    assert np.array_equal(depth_mask(rel, threshold=0.5), disc)
    with pytest.raises(ValidationError, match="threshold"):
        depth_mask(rel, threshold=1.5)
    with pytest.raises(ValidationError, match="threshold"):
        depth_mask(depth, threshold=-1)


def test_auto_threshold_bimodal_and_largest_region():
    q = np.concatenate([np.full(900, 0.2), np.full(100, 0.9)]).reshape(20, 50).astype(np.float32)
    for method in ("otsu", "gap"):
        t = auto_threshold(q, method=method)
        assert 0.2 < t < 0.9
    v = np.full((60, 60), 4.0, np.float32)
    v[5:10, 5:10] = 1.0
    v[20:50, 20:50] = 1.0
    m = depth_mask(DepthMap(v, kind="metric"), largest=True)
    assert m.sum() == 900 and m[30, 30] and not m[7, 7]


def test_gap_threshold_ignores_sparse_tails_and_falls_back_to_otsu(caplog: pytest.LogCaptureFixture) -> None:
    # user trial 3: on the cones' disparity (every quarter pixel from near to far taken) the largest gap between
    # sorted values lay among the far outliers, and 99.6 % of the scene became foreground
    rng = np.random.default_rng(4)
    scene = np.round(rng.uniform(10, 50, 40_000) * 4) / 4
    tail = np.array([2.0, 3.5, 5.0, 6.25, 8.0] * 40)  # sparse far values, 0.5 % of the pixels
    v = np.concatenate([scene, tail]).reshape(200, -1).astype(np.float32)
    with caplog.at_level("INFO", logger="depthforge"):
        t = auto_threshold(v, method="gap")
    assert t == pytest.approx(auto_threshold(v, method="otsu")) and 25 < t < 35
    assert "Otsu's threshold is used" in caplog.text
    # two depth layers with an empty stretch between them, and the same sparse tail: the stretch is found
    two = np.concatenate([rng.uniform(10, 20, 30_000), rng.uniform(35, 50, 10_000), tail]).reshape(200, -1)
    t = auto_threshold(two.astype(np.float32), method="gap")
    assert 20 < t < 35 and abs(t - 27.5) < 2


def test_nan_filled_from_the_nearest_valid_pixel():
    v = np.full((10, 10), 2.0, np.float32)
    v[:, :5] = 1.0
    v[3, 3] = np.nan
    q = filled_inverse_depth(DepthMap(v, kind="metric"))
    assert np.isfinite(q).all() and q[3, 3] == 1.0
    with pytest.raises(ValidationError, match="no valid"):
        filled_inverse_depth(DepthMap(np.full((4, 4), np.nan, np.float32)))


def test_trimap_and_refine_guards():
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    t = trimap(m, band=3)
    assert t[20, 20] == 255 and t[0, 0] == 0 and t[10, 20] == 128
    with pytest.raises(ValidationError, match="mask"):
        refine_alpha(np.zeros((30, 40, 3), np.uint8), m)
    photo = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    with pytest.warns(DeprecationWarning, match=r"refine_alpha\(image, mask\)"):
        old = refine_alpha(m, photo)  # the order before the vocabulary review, still served
    np.testing.assert_array_equal(old, refine_alpha(photo, m))


@pytest.mark.parametrize("band", [1, 3, 9])
def test_trimap_band_is_a_disc_around_the_edge(band: int) -> None:
    """The unknown zone holds the pixels within ``band`` (Euclidean) of the other side: the erosion and dilation
    by a disc, computed from distances (fuzz finding: a 128x54624 photo's 218-px band took 17 s as morphology)."""
    import cv2

    rng = np.random.default_rng(band)
    m = cv2.GaussianBlur(rng.random((120, 90)), (0, 0), 6) > 0.5
    t = trimap(m, band=band)
    yy, xx = np.mgrid[-band : band + 1, -band : band + 1]
    disc = ((yy**2 + xx**2) <= band**2).astype(np.uint8)
    inner = cv2.erode(m.astype(np.uint8), disc, borderType=cv2.BORDER_REPLICATE) > 0
    outer = cv2.dilate(m.astype(np.uint8), disc, borderType=cv2.BORDER_REPLICATE) > 0
    np.testing.assert_array_equal(t == 255, inner)
    np.testing.assert_array_equal(t == 0, ~outer)
    assert set(np.unique(t)) <= {0, 128, 255}
    long = trimap(np.arange(40_000)[:, None].repeat(64, 1) < 20_000, band=200)  # instant, the band exact
    assert (long[:, 0] == 128).sum() == 400 and long[0, 0] == 255 and long[-1, 0] == 0


def test_cutout_and_background_replacement():
    img, depth, disc, _ = disc_scene()
    alpha = foreground_alpha(depth, image=img)
    rgba = cutout(img, alpha)
    assert rgba.shape == (*img.shape[:2], 4) and np.array_equal(rgba[..., :3], img)
    assert rgba[128, 128, 3] == 255 and rgba[0, 0, 3] == 0
    green = replace_background(img, alpha, color=(0, 255, 0))
    assert tuple(green[0, 0]) == (0, 255, 0) and np.array_equal(green[128, 128], img[128, 128])
    other = np.full_like(img, 7)
    assert tuple(replace_background(img, alpha, background=other[:128, :128])[0, 0]) == (7, 7, 7)
    blurred = replace_background(img, alpha, blur_px=6)
    wall = ~disc
    assert blurred[wall].std() < img[wall].std() / 2
    # the foreground never bleeds into the blurred background: the ring outside the disc keeps wall colours
    ring = np.zeros_like(disc)
    ring[128, 128 + 72 : 128 + 76] = True
    assert blurred[ring].mean() < 140
    with pytest.raises(ValidationError, match="exactly one"):
        replace_background(img, alpha, color=(0, 0, 0), blur_px=3)


@pytest.mark.parametrize("radius_px", [3, 20])
def test_guided_filter_in_tiles_matches_the_whole_photo(cones, monkeypatch: pytest.MonkeyPatch, radius_px: int) -> None:
    # the real cones scene and its depth mask; tiles of 8 px (every tile edge inside the filter's reach) must give
    # the alpha of one filter over the whole photo, which is what cv2.ximgproc.guidedFilter computes
    import cv2
    from PIL import Image

    from depthforge.render import masks
    from tests.conftest import cones_disparity

    img = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    disparity = cones_disparity(cones)
    mask = depth_mask(DepthMap(np.where(np.isnan(disparity), 0.0, disparity), kind="disparity"))
    monkeypatch.setattr(masks, "_TILE_PX", 8)
    tiled = refine_alpha(img, mask, radius_px=radius_px)
    whole = cv2.ximgproc.guidedFilter(img.astype(np.float32) / 255, mask.astype(np.float32), radius_px, 1e-3)
    unknown = trimap(mask, band=radius_px) == 128
    np.testing.assert_allclose(tiled[unknown], np.clip(whole[unknown], 0, 1), atol=1e-6)
    np.testing.assert_array_equal(tiled[~unknown], mask[~unknown].astype(np.float32))
    assert 0.02 < unknown.mean() < 0.5 and 0 < np.mean((tiled > 0) & (tiled < 1))  # a real edge band, feathered
