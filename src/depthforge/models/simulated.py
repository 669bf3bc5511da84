"""Simulated depth models of a known scene, for measuring methods that depend on a model without real weights.

A simulated model sees an image only at a low resolution: for an image crop it area-reduces the scene's true
inverse depth over that crop to its native size (long side ``native_px``), brings it back to the crop's size
(bicubic), and returns it with a random scale and shift on every call (a relative model's unknown affine). With
``native_px=None`` it is a perfect model (the truth, still with a random affine).

To know which part of the scene a crop shows, the model reads it from the image: :func:`coordinate_image` writes
each pixel's own (x, y) into its colour channels, and every crop of it carries its offset.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from depthforge.core.errors import ValidationError

__all__ = ["coordinate_image", "simulated_model", "synthetic_scene"]

_MAX_SIDE = 4096


def coordinate_image(size_hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 image whose pixels encode their own position: R = x mod 256, G = y mod 256,
    B = 16 * (x // 256) + y // 256 (sides up to 4096)."""
    height, width = size_hw
    if not (0 < height <= _MAX_SIDE and 0 < width <= _MAX_SIDE):
        raise ValidationError(f"size_hw: sides must be in 1..{_MAX_SIDE}, got {size_hw}")
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, 16 * (x // 256) + y // 256], axis=-1).astype(np.uint8)


def _origin(image: np.ndarray) -> tuple[int, int]:
    r, g, b = (int(c) for c in image[0, 0])
    return g + 256 * (b % 16), r + 256 * (b // 16)


def simulated_model(
    inverse_depth: np.ndarray, *, native_px: int | None, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """A depth function ``f(crop of coordinate_image) -> (h, w) float32`` simulating a relative model.

    Args:
        inverse_depth: (H, W) true inverse depth of the scene (finite, > 0).
        native_px: the long side at which the model sees any input; None for a perfect model.
        seed: seed of the random scale (0.5..2) and shift (-0.5..0.5 of the scene's mean) per call.
    """
    truth = np.asarray(inverse_depth, dtype=np.float64)
    rng = np.random.default_rng(seed)
    mean = float(np.mean(truth))

    def predict(image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        y0, x0 = _origin(image)
        crop = truth[y0 : y0 + h, x0 : x0 + w]
        if native_px is not None and max(h, w) > native_px:
            s = native_px / max(h, w)
            low = cv2.resize(crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            crop = np.asarray(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float64)
        scale, shift = rng.uniform(0.5, 2.0), rng.uniform(-0.5, 0.5) * mean
        return (scale * crop + shift).astype(np.float32)

    return predict


def synthetic_scene(size_px: int = 1024, *, seed: int = 3) -> np.ndarray:
    """(size_px, size_px) float64 inverse depth of a test scene: a ground plane (nearer at the bottom), six boxes and
    eight thin poles 3-6 px wide (detail a model at a quarter of the resolution loses)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size_px, 0:size_px] / size_px
    inv = 0.2 + 0.3 * y
    for _ in range(6):
        x0, y0 = rng.uniform(0, 0.8, 2)
        w, h = rng.uniform(0.05, 0.2, 2)
        inside = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
        inv = np.where(inside, rng.uniform(0.6, 1.2) + 0.1 * x, inv)
    for _ in range(8):
        x0, width, y0 = rng.uniform(0.02, 0.98), rng.integers(3, 7) / size_px, rng.uniform(0, 0.5)
        inv = np.where((x >= x0) & (x < x0 + width) & (y >= y0), rng.uniform(1.3, 2.0), inv)
    return np.asarray(inv, dtype=np.float64)
