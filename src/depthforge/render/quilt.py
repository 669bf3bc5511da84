"""Looking Glass quilts: N views of a photo from our stereo renderer, tiled in the display's view order.

A quilt is ``columns x rows`` views of equal size in one image. Looking Glass's convention (its quilt documents
and tools): view 0 is the leftmost camera position and sits in the **bottom-left** tile; views then run left to
right along the bottom row, then row by row upwards, so the last (rightmost) view is the top-right tile. The file
name states the layout: ``<name>_qs{columns}x{rows}a{aspect}.png`` with ``aspect`` = view width / view height
(e.g. ``photo_qs8x6a0.75.png``), which Looking Glass software reads to slice the quilt.

The views are :func:`depthforge.render.stereo.wiggle_frames`'s sweep from the left eye to the right eye (the same
forward warp and background fill as every stereo output), so ``divergence`` is the parallax range between the
first and last view and ``convergence`` the nearness that stays on the display plane.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.render.stereo import StereoParams, check_image_depth, wiggle_frames

__all__ = ["MIN_VIEW_PX", "QUILT_PRESETS", "compose_quilt", "quilt_suffix", "quilt_views", "render_quilt"]

#: Common quilt layouts: (columns, rows) per Looking Glass display family.
QUILT_PRESETS = {"portrait": (8, 6), "go": (11, 6), "16": (7, 7), "32": (7, 7), "65": (8, 9)}


#: The narrowest view a quilt is made of (user trial 4: --quilt-width 10 gave 8 x 6 views of one pixel).
MIN_VIEW_PX = 16


@depth_arrays
def quilt_views(
    image: np.ndarray | Image, depth: DepthMap, *, views: int = 48, params: StereoParams | None = None
) -> list[np.ndarray]:
    """``views`` views from the leftmost to the rightmost camera position (view order of a quilt).

    Args:
        image: (H, W, C) uint8/uint16/float RGB(A).
        depth: DepthMap of the same (H, W).
        views: number of views, >= 2.
        params: stereo parameters (default: divergence 4 %, convergence 0.5, i.e. mid-depth on the display).

    Returns:
        list of ``views`` (H, W, C) arrays of the image's dtype; the parallax between view 0 and view i grows
        with i.
    """
    if not isinstance(views, int) or isinstance(views, bool) or views < 2:
        raise ValidationError(f"views: expected an integer >= 2, got {views!r}")
    p = StereoParams(divergence=4.0, convergence=0.5) if params is None else params  # checked by the renderer
    return wiggle_frames(image, depth, views=views, params=p)[:views]


def compose_quilt(views: list[np.ndarray], *, columns: int, rows: int) -> np.ndarray:
    """Tile views into a quilt: view 0 bottom-left, left to right, then upwards (Looking Glass order).

    Args:
        views: ``columns * rows`` arrays of one shape (h, w[, C]) and dtype; fewer leave the last tiles black.
        columns, rows: the grid.

    Returns:
        (rows * h, columns * w[, C]) array of the views' dtype.
    """
    for name, value in (("columns", columns), ("rows", rows)):
        if not isinstance(value, int) or value < 1:
            raise ValidationError(f"{name}: expected an integer >= 1, got {value!r}")
    if not views or len(views) > columns * rows:
        raise ValidationError(f"views: expected 1 to {columns * rows} views for {columns}x{rows}, got {len(views)}")
    first = views[0]
    if any(v.shape != first.shape or v.dtype != first.dtype for v in views):
        raise ValidationError("views: every view must have the same shape and dtype")
    h, w = first.shape[:2]
    out = np.zeros((rows * h, columns * w, *first.shape[2:]), dtype=first.dtype)
    for i, view in enumerate(views):
        row, col = divmod(i, columns)
        top = (rows - 1 - row) * h  # row 0 is the bottom one
        out[top : top + h, col * w : (col + 1) * w] = view
    return out


def quilt_suffix(*, columns: int, rows: int, size_hw: tuple[int, int]) -> str:
    """The name suffix Looking Glass software reads: ``_qs{columns}x{rows}a{aspect}`` (aspect = view w / h, two
    decimals), e.g. ``_qs8x6a0.75``."""
    h, w = size_hw
    return f"_qs{columns}x{rows}a{w / h:.2f}"


@depth_arrays
def render_quilt(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    columns: int = 8,
    rows: int = 6,
    max_width_px: int = 4096,
    params: StereoParams | None = None,
) -> tuple[np.ndarray, str]:
    """A quilt of ``columns * rows`` views and its name suffix (:func:`quilt_suffix`).

    The photo and its depth are first reduced so that the quilt is at most ``max_width_px`` wide (views keep the
    photo's aspect ratio), then each view is rendered at that size.

    Returns:
        ((rows * h, columns * w, C) array of the image's dtype, suffix such as ``"_qs8x6a0.75"``).
    """
    from depthforge.process.resample import resize_depth

    img = check_image_depth(image, depth, channels=(1, 3, 4), dtype_kind="uf")
    compose_quilt([img], columns=columns, rows=rows)  # checks the grid
    if not isinstance(max_width_px, int) or max_width_px < columns * MIN_VIEW_PX:
        raise ValidationError(
            f"max_width_px: {max_width_px!r} leaves views under {MIN_VIEW_PX} px wide; give at least "
            f"{columns * MIN_VIEW_PX} for {columns} columns"
        )
    h, w = img.shape[:2]
    tile_w = min(w, max_width_px // columns)
    tile_h = max(1, round(h * tile_w / w))
    if (tile_h, tile_w) != (h, w):
        import cv2

        img = cv2.resize(img, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        depth = resize_depth(depth, (tile_h, tile_w))
    views = quilt_views(img, depth, views=columns * rows, params=params)
    # the photo's aspect, not the rounded view's (views of a few pixels said 1.00 for a 1.2 photo)
    return compose_quilt(views, columns=columns, rows=rows), quilt_suffix(columns=columns, rows=rows, size_hw=(h, w))
