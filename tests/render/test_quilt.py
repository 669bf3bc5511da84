"""Looking Glass quilts: grid, size, name, and the view order (parallax growing from view 0)."""

from __future__ import annotations

import numpy as np
import pytest

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.render.quilt import compose_quilt, quilt_suffix, quilt_views, render_quilt
from depthforge.render.stereo import StereoParams


def card_scene(h: int = 96, w: int = 128) -> tuple[np.ndarray, DepthMap]:
    """A textured far wall (5 m) and a bright near card (1 m) in the middle."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
    z = np.full((h, w), 5.0, np.float32)
    image[30:66, 52:76] = 255
    z[30:66, 52:76] = 1.0
    return image, DepthMap(z, kind="metric")


def card_x(view: np.ndarray) -> float:
    """Sub-pixel centre column of the bright card: the centroid of brightness above the wall's (<= 120)."""
    h = view.shape[0]
    band = view[int(h * 0.42) : int(h * 0.58)].astype(np.float64).mean(axis=2)
    weight = np.clip(band - 120.0, 0.0, None).sum(axis=0)
    return float((weight * np.arange(weight.size)).sum() / weight.sum())


def test_tiles_are_in_looking_glass_order() -> None:
    views = [np.full((4, 6), i, np.uint8) for i in range(6)]
    quilt = compose_quilt(views, columns=3, rows=2)
    assert quilt.shape == (8, 18)
    assert quilt[4:, 0:6].min() == 0  # view 0: bottom-left
    assert quilt[4:, 12:18].min() == 2  # end of the bottom row
    assert quilt[0:4, 0:6].min() == 3  # next row up starts on the left
    assert quilt[0:4, 12:18].min() == 5  # last view: top-right


def test_render_quilt_size_name_and_monotonic_parallax() -> None:
    image, depth = card_scene()
    params = StereoParams(divergence=20.0, convergence=0.5)  # 25.6 px from the first view to the last
    quilt, suffix = render_quilt(image, depth, columns=5, rows=4, max_width_px=640, params=params)
    tile_h, tile_w = 96, 128  # 640 // 5 = 128: the photo's own size
    assert render_quilt(image, depth, columns=5, rows=4, max_width_px=400)[0].shape == (4 * 60, 5 * 80, 3)
    assert quilt.shape == (4 * tile_h, 5 * tile_w, 3) and quilt.dtype == np.uint8
    assert suffix == "_qs5x4a1.33" == quilt_suffix(columns=5, rows=4, size_hw=(tile_h, tile_w))
    assert np.array_equal(quilt[3 * tile_h :, :tile_w], quilt_views(image, depth, views=20, params=params)[0])
    order = [(r, c) for r in range(3, -1, -1) for c in range(5)]  # bottom row first, left to right
    xs = [card_x(quilt[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w]) for r, c in order]
    shifts = np.abs(np.asarray(xs) - xs[0])
    assert np.all(np.diff(shifts) > 0), shifts  # parallax from view 0 grows along the view order
    assert xs[-1] < xs[0]  # moving the camera right moves near things left
    # user trial 4: --quilt-width 10 made 8 x 6 views of one pixel, named a1.00 for a 1.33 photo
    with pytest.raises(ValidationError, match="max_width_px: 10 leaves views under 16 px"):
        render_quilt(image, depth, columns=8, rows=6, max_width_px=10)
    small, name = render_quilt(image, depth, columns=5, rows=4, max_width_px=5 * 17)
    assert small.shape[1] == 5 * 17 and name == "_qs5x4a1.33"  # the photo's aspect, not the rounded view's


def test_quilt_views_and_bad_grids() -> None:
    image, depth = card_scene()
    views = quilt_views(image, depth, views=7)
    assert len(views) == 7 and all(v.shape == image.shape for v in views)
    with pytest.raises(ValidationError, match="views"):
        quilt_views(image, depth, views=1)
    with pytest.raises(ValidationError, match="views"):
        compose_quilt(views, columns=2, rows=3)
    with pytest.raises(ValidationError, match="columns"):
        compose_quilt(views, columns=0, rows=3)
