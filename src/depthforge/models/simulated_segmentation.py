"""Synthetic scenes where one foreground cue fails, and a simulated colour-based segmentation model.

Used to measure the fusion of segmentation and depth (:mod:`depthforge.render.fusion`) without real weights:

* ``same_depth``: a red figure in front of a grey wall at the wall's own depth, on a floor that comes nearer
  towards the bottom. Depth alone fails (the nearest thing is the floor); colour finds the figure.
* ``same_colour``: a red figure near the camera and a red poster on the far wall. Colour alone fails (it finds
  both); depth separates them.

Every scene has a little sensor noise and texture; depth is what a model at a quarter of the resolution sees
(area-reduced, then bicubic back), so its edges are soft.
"""

from __future__ import annotations

import numpy as np

from depthforge.core.errors import ValidationError

__all__ = ["SCENES", "segmentation_scene", "colour_model"]

SCENES = ("same_depth", "same_colour")
FIGURE_RGB = (200, 60, 50)
_WALL_RGB = (150, 150, 140)


def _ellipse(size_hw: tuple[int, int], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    y, x = np.mgrid[0 : size_hw[0], 0 : size_hw[1]]
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def segmentation_scene(
    name: str, *, size_hw: tuple[int, int] = (192, 256), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One of :data:`SCENES`.

    Returns:
        ``(image, inverse_depth, truth)``: (H, W, 3) uint8 RGB, (H, W) float32 inverse depth as a model at a
        quarter of the resolution would estimate it (larger = nearer, > 0), (H, W) bool true foreground.
    """
    import cv2

    if name not in SCENES:
        raise ValidationError(f"name: expected one of {', '.join(SCENES)}, got {name!r}")
    h, w = size_hw
    rng = np.random.default_rng(seed)
    rows = np.arange(h, dtype=np.float64)[:, None] / h
    inverse = np.ones((h, w)) * 0.5
    floor = rows > 0.75
    inverse = np.where(floor, 0.5 + 2.0 * (rows - 0.75), inverse)
    image = np.empty((h, w, 3), np.float64)
    image[:] = _WALL_RGB
    image[np.broadcast_to(floor, (h, w))] = (110, 90, 70)
    if name == "same_depth":
        truth = _ellipse(size_hw, 0.5 * w, 0.45 * h, 0.16 * w, 0.32 * h)
        inverse = np.where(truth, 0.5 + 0.01 * rng.standard_normal((h, w)), inverse)
        image[truth] = FIGURE_RGB
    else:
        truth = _ellipse(size_hw, 0.3 * w, 0.45 * h, 0.14 * w, 0.3 * h)
        poster = _ellipse(size_hw, 0.75 * w, 0.35 * h, 0.12 * w, 0.2 * h)
        image[poster] = FIGURE_RGB
        image[truth] = FIGURE_RGB
        inverse = np.where(truth, 2.0 + 0.1 * (rows - 0.45), inverse)
    image += 6.0 * rng.standard_normal((h, w, 3))
    low = cv2.resize(inverse, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    seen = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return (
        np.clip(image, 0, 255).round().astype(np.uint8),
        np.maximum(seen, 0.05).astype(np.float32),
        truth,
    )


def colour_model(image: np.ndarray, *, rgb: tuple[int, int, int] = FIGURE_RGB, tolerance: float = 40.0) -> np.ndarray:
    """A simulated segmentation model that knows objects only by colour.

    Args:
        image: (H, W, 3) uint8 RGB.
        rgb: the object's colour.
        tolerance: colour distance (0..255 units) at which the probability is 0.5.

    Returns:
        (H, W) float32 probability in [0, 1], softened at edges like a network's output (Gaussian, sigma 1 px).
    """
    import cv2

    dist = np.linalg.norm(image.astype(np.float32) - np.asarray(rgb, np.float32), axis=2)
    p = 1.0 / (1.0 + np.exp((dist - tolerance) / 6.0))
    return np.clip(cv2.GaussianBlur(p.astype(np.float32), (0, 0), 1.0), 0.0, 1.0)
