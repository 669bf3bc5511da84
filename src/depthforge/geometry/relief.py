"""Reliefs for 3D printing: a closed (watertight) solid whose top surface is the depth map's nearness.

The solid stands on a flat base. Its top is a regular grid of ``resolution_mm`` spacing over the photo's rectangle,
at height ``base_mm + relief_mm * nearness``; nearness is the display normalisation of
:func:`depthforge.process.normalize.to_display` (inverse depth between the chosen far and near points, 0..1, the
same for every kind of map, so a relative map and its metric counterpart give the same relief). The sides are
vertical walls down to ``z = 0`` and the bottom is one flat face (a fan of triangles from its centre), so every edge
is shared by exactly two triangles and every face is wound outward: slicers accept it as it is.

Frame (what :func:`depthforge.geometry.export.export_mesh` writes, after its one frame conversion): millimetres,
x to the right of the photo, y up the photo (the photo reads upright seen from above), z up from the base at 0.
The :class:`~depthforge.geometry.mesh.Mesh` returned holds the same points in the library's camera-style frame
(x, -y, -z), like every other mesh, so the export converts it the same way.

Invalid pixels (NaN, e.g. a stereo map's occlusions) are filled first from their surroundings
(:func:`depthforge.process.fill.fill_holes`), so they print as surface rather than pits; without ``fill``, or where
nothing can fill them, they count as far: on the base (or at the full height with ``invert``).
"""

from __future__ import annotations

import logging

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.validation import check_array, check_positive, check_range, check_same_hw
from depthforge.geometry.mesh import Mesh
from depthforge.process.fill import fill_holes
from depthforge.process.normalize import to_display

__all__ = ["MAX_RELIEF_VERTICES", "MAX_SIZE_MM", "check_relief_options", "relief_from_depth", "relief_sidecar"]

_log = logging.getLogger("depthforge")

#: The largest top grid :func:`relief_from_depth` builds: 0.1 mm over 200 x 200 mm. Its binary STL is 400 MB and
#: writing it (trimesh) peaks at about 3 GB; slicers struggle with more.
MAX_RELIEF_VERTICES = 4_000_000
#: The largest width, relief or base, millimetres (10 m).
MAX_SIZE_MM = 10_000.0


def check_relief_options(
    size_hw: tuple[int, int],
    *,
    width_mm: float = 100.0,
    relief_mm: float = 10.0,
    base_mm: float = 2.0,
    resolution_mm: float = 0.2,
    smooth_mm: float = 0.0,
) -> tuple[int, int]:
    """The options of :func:`relief_from_depth` checked for a map of ``size_hw`` (H, W) pixels, and its top grid
    ``(rows, columns)``: columns about ``resolution_mm`` apart (a whole number of cells over ``width_mm``), rows
    about as far apart over the map's aspect (a whole number of cells over ``width_mm * H / W``).

    >>> check_relief_options((300, 400), width_mm=100, resolution_mm=0.5)
    (151, 201)

    Raises:
        ValidationError: a size that is not positive or above :data:`MAX_SIZE_MM`, a smoothing wider than the
            relief, or a grid of more than :data:`MAX_RELIEF_VERTICES`.
    """
    for value, name in ((width_mm, "width_mm"), (relief_mm, "relief_mm"), (base_mm, "base_mm")):
        check_range(value, name, low=0.0, low_inclusive=False, high=MAX_SIZE_MM)
    check_range(smooth_mm, "smooth_mm", low=0.0, high=float(width_mm))
    cells = float(width_mm) / check_positive(resolution_mm, "resolution_mm")
    cells_x = max(1, round(min(cells, MAX_RELIEF_VERTICES)))
    cells_y = max(1, round(cells_x * size_hw[0] / size_hw[1]))
    if (cells_x + 1) * (cells_y + 1) > MAX_RELIEF_VERTICES:
        raise ValidationError(
            f"resolution_mm: {resolution_mm:.4g} mm over {width_mm:.4g} mm makes a grid of more than "
            f"{MAX_RELIEF_VERTICES:,} vertices; use a coarser resolution"
        )
    return cells_y + 1, cells_x + 1


def relief_sidecar(**options: object) -> dict[str, object]:
    """The metadata of a relief's files (sidecar, GLB extras): its frame and unit, then ``options`` (the sizes and
    whatever else made it), for :func:`~depthforge.geometry.export.export_mesh` (whose default frame is a camera's).

    >>> relief_sidecar(width_mm=80.0)["units"]
    'mm'
    """
    return {"frame": "x right, y up the photo, z up from the base at 0 (the print bed)", "units": "mm", **options}


@depth_arrays
def relief_from_depth(
    depth: DepthMap,
    *,
    image: np.ndarray | Image | None = None,
    width_mm: float = 100.0,
    relief_mm: float = 10.0,
    base_mm: float = 2.0,
    invert: bool = False,
    resolution_mm: float = 0.2,
    smooth_mm: float = 0.0,
    clip_near: float | None = None,
    clip_far: float | None = None,
    percentiles: tuple[float, float] | None = None,
    fill: bool = True,
) -> Mesh:
    """A watertight relief solid for 3D printing (see the module's description for the shape and frame).

    Args:
        depth: any kind; only its nearness order and the display range matter.
        image: optional (H, W, 3) uint8 RGB photo of the map's size: vertex colours (PLY/GLB previews; STL has
            none).
        width_mm: the relief's width along the photo's x axis; its depth follows the photo's aspect.
        relief_mm: height from the farthest to the nearest point of the grid (> 0).
        base_mm: thickness of the solid base under the farthest point (> 0).
        invert: near = low, far = high (a mould or intaglio).
        resolution_mm: spacing of the top grid (the map is resampled to it: area-averaged when coarser).
        smooth_mm: Gaussian sigma applied to the heights on the grid, millimetres (0: none); evens out model noise
            that a printer would reproduce.
        clip_near, clip_far, percentiles: the nearness range, as in
            :func:`~depthforge.process.normalize.display_range`.
        fill: fill invalid pixels from their surroundings first (see the module's description).

    Returns:
        A :class:`~depthforge.geometry.mesh.Mesh`: float32 vertices in millimetres, int32 faces wound outward,
        vertex colours when ``image`` is given. The top grid comes first (row-major, photo rows top to bottom),
        then the bottom ring and the bottom's centre.
    """
    import cv2

    sizes = {"width_mm": width_mm, "relief_mm": relief_mm, "base_mm": base_mm, "smooth_mm": smooth_mm}
    rows, cols = check_relief_options(depth.shape, resolution_mm=resolution_mm, **sizes)
    cell_mm = (float(width_mm) * depth.shape[0] / depth.shape[1] / (rows - 1), float(width_mm) / (cols - 1))  # y, x
    if np.isnan(depth.value_range()[0]):  # (NaN, NaN): no valid value at all
        raise ValidationError("depth: no valid value to make a relief of")
    rgb = None
    if image is not None:  # checked before the work
        rgb = to_uint8(check_array(image.rgb if isinstance(image, Image) else image, "image", ndim=3, channels=3))
        check_same_hw(depth.values, "depth", rgb, "image")
    if fill and np.isnan(depth.values).any():
        depth = fill_holes(depth)
    nearness, _ = to_display(depth, invert=invert, clip_near=clip_near, clip_far=clip_far, percentiles=percentiles)
    shrink = cols * rows < nearness.size
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    heights = cv2.resize(nearness, (cols, rows), interpolation=interpolation)
    if smooth_mm > 0:
        sigma_y, sigma_x = (smooth_mm / cell for cell in cell_mm)
        heights = cv2.GaussianBlur(heights, (0, 0), sigma_x, sigmaY=sigma_y, borderType=cv2.BORDER_REFLECT)
    lo, hi = float(heights.min()), float(heights.max())
    if hi - lo > 1e-4:  # averaging onto the grid and smoothing lower the peaks: the grid spans relief_mm again
        heights = (heights - lo) / (hi - lo)
    else:
        heights = np.full_like(heights, 0.5)
        _log.info("relief: the depth has one value over the whole photo: a flat plate at half the relief")
    heights = float(base_mm) + float(relief_mm) * np.clip(heights, 0.0, 1.0)
    vertices, faces = _solid(heights, cell_mm)
    colors = None
    if rgb is not None:
        top = cv2.resize(rgb, (cols, rows), interpolation=interpolation).reshape(-1, 3)
        ring = _ring(rows, cols)
        colors = np.concatenate([top, top[ring], top[ring[:1]]])
    return Mesh(vertices, faces, colors=colors)


def _ring(rows: int, cols: int) -> np.ndarray:
    """Indices of the top grid's border, counter-clockwise seen from above (the photo upright): along the
    bottom row left to right, up the right column, along the top row right to left, down the left column."""
    grid = np.arange(rows * cols, dtype=np.int32).reshape(rows, cols)
    return np.concatenate([grid[-1, :-1], grid[:0:-1, -1], grid[0, :0:-1], grid[:-1, 0]])


def _solid(heights: np.ndarray, cell_mm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (camera-style frame, see the module) and outward-wound faces of the closed solid over
    ``heights`` (rows, cols) in millimetres, grid points ``cell_mm`` (y, x) apart."""
    rows, cols = heights.shape
    n_top = rows * cols
    ys, xs = np.mgrid[1 - rows : 1, 0:cols].astype(np.float32)
    ys *= np.float32(cell_mm[0])
    xs *= np.float32(cell_mm[1])
    # the library's frame (x, -y, -z) of the print frame (x, y up, z up), whose y runs from 0 (bottom row) up
    top = np.stack([xs, ys, -heights.astype(np.float32)], axis=-1).reshape(-1, 3)
    ring = _ring(rows, cols)
    bottom = top[ring].copy()
    bottom[:, 2] = 0.0
    centre = np.array([[xs[0, -1] / 2, ys[0, 0] / 2, 0.0]], dtype=np.float32)
    vertices = np.concatenate([top, bottom, centre])

    grid = np.arange(n_top, dtype=np.int32).reshape(rows, cols)
    a, b, c, d = grid[:-1, :-1], grid[:-1, 1:], grid[1:, :-1], grid[1:, 1:]
    surface = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    k = np.arange(ring.size, dtype=np.int32)
    t0, t1 = ring, np.roll(ring, -1)
    b0, b1 = n_top + k, n_top + np.roll(k, -1)
    walls = np.concatenate([np.stack([b0, b1, t1], -1), np.stack([b0, t1, t0], -1)])
    fan = np.stack([np.full_like(k, n_top + ring.size), b1, b0], -1)
    return vertices, np.concatenate([surface, walls, fan]).astype(np.int32)
