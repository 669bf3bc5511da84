"""The layered scene type: a photo's layers far to near, their depth as nearness, and the rules back to z.

:class:`LayeredScene` is what :func:`depthforge.render.layers.build_layers` makes and what the renderers
(:class:`depthforge.render.parallax.ParallaxRenderer`, :mod:`depthforge.render.scene`) and the 3D exports read.

Nearness ``n`` (:func:`nearness`): relative maps are scaled to [0, 1] over their range (the farthest point is
treated as infinitely far); metric maps use ``z_min / z`` and disparity maps ``d / d_max`` (true inverse depth,
nearest = 1), so a disparity map rendered with ``CameraPose(x=d_max)`` and focus 0 gives the view one stereo
baseline to the right. :func:`inverse_range` states which inverse depth a nearness stands for, and
:meth:`LayeredScene.layer_z` turns a layer's nearness back into camera-frame z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthforge.core.deprecation import renamed_attribute
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_positive
from depthforge.render.stereo import fill_invalid_background

__all__ = ["DEFAULT_FAR_M", "DEFAULT_NEAR_M", "LayeredScene", "inverse_range", "nearness"]

#: Pseudo-depth range (pseudo-metres) of :meth:`LayeredScene.layer_z` for relative maps: the same defaults as
#: :data:`depthforge.geometry.projection.DEFAULT_NEAR_M` / ``DEFAULT_FAR_M`` (render does not import geometry; a
#: test keeps them equal).
DEFAULT_NEAR_M = 1.0
DEFAULT_FAR_M = 10.0


def nearness(depth: DepthMap) -> np.ndarray:
    """(H, W) float32 nearness in [0, 1], 1 = nearest (see the module docstring); invalid pixels take the
    farther of their row neighbours (:func:`depthforge.render.stereo.fill_invalid_background`)."""
    if not isinstance(depth, DepthMap):
        raise ValidationError(f"depth: expected a DepthMap, got {type(depth).__name__}")
    inv = fill_invalid_background(depth.inverse_depth())
    if depth.kind == "relative":
        lo, hi = float(inv.min()), float(inv.max())
        if hi <= lo:
            return np.zeros_like(inv)
        return ((inv - lo) / (hi - lo)).astype(np.float32)
    return np.clip(inv / np.float32(inv.max()), 0.0, 1.0).astype(np.float32)


def inverse_range(depth: DepthMap) -> tuple[float, float]:
    """(lo, hi) such that :func:`nearness` ``n`` stands for inverse depth ``lo + n * (hi - lo)`` (see
    :attr:`LayeredScene.inverse_range`)."""
    inv = fill_invalid_background(depth.inverse_depth())
    hi = float(inv.max())
    if depth.kind == "relative":
        lo = float(inv.min())
        return (lo, hi if hi > lo else lo + 1.0)
    return (0.0, hi)


@dataclass(frozen=True, eq=False)
class LayeredScene:
    """A layered depth image: the photo split into layers far to near, each with colour, alpha and depth, and
    the camera. What :func:`~depthforge.render.layers.build_layers` returns; rendered by
    :class:`depthforge.render.parallax.ParallaxRenderer` and :func:`depthforge.render.scene.render_stereo_layers`.

    Depth is kept as *nearness* ``n`` (see :func:`nearness`; 1 = nearest point, larger = nearer), which is all the
    renderers need; :meth:`layer_z` turns a layer's nearness into camera-frame z (metres, or pseudo-metres for
    relative maps), and :attr:`intrinsics` holds the pinhole camera (OpenCV frame: x right, y down, z forward).

    Attributes:
        layers: tuple of (H, W, 4) uint8 RGBA per layer, far to near: colour filled behind nearer layers and
            extended beyond the layer's own pixels; alpha 255 where the layer is opaque, else 0. Without a fill
            width every hidden pixel that belongs to a layer is opaque in it (the farthest layer is opaque
            everywhere); with ``fill_px`` only the hidden pixels within ``fill_px`` of the visible ones are.
        boxes: tuple of (y0, y1, x0, x1) per layer, the bounding box of its opaque pixels.
        warp_nearness: tuple of (h, w) float32 nearness per layer on the coarse map grid (smooth across edges):
            coarse pixel (j, i) averages the input block of ``cell`` x ``cell`` pixels starting at (j, i) * cell.
        nearness: (H, W) float32 nearness of the input.
        thresholds: the nearness thresholds between layers (ascending, one fewer than the layers).
        image: (H, W, 3) uint8 RGB, the input view.
        cell: the coarse grid's cell size in input pixels.
        layer_nearness: tuple of (H, W) float32 nearness per layer, full resolution: the input's on the layer's visible
            pixels, filled from the background side behind nearer layers, extended smoothly beyond its opaque
            pixels.
        kind: the input depth's kind (``"relative"``, ``"metric"`` or ``"disparity"``).
        inverse_range: (lo, hi): nearness n stands for the input's inverse depth ``lo + n * (hi - lo)``
            (relative: its values; metric: 1/z in 1/m with lo = 0; disparity: px with lo = 0).
        intrinsics: the camera (the depth map's intrinsics, else the stated default field of view).
        baseline_m: the stereo baseline of a disparity map, when known (metres).
        fill_px: width in px of the hidden band filled behind nearer layers (None = all hidden pixels).
    """

    layers: tuple[np.ndarray, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    warp_nearness: tuple[np.ndarray, ...]
    nearness: np.ndarray
    thresholds: tuple[float, ...]
    image: np.ndarray
    cell: int
    layer_nearness: tuple[np.ndarray, ...]
    kind: str
    inverse_range: tuple[float, float]
    intrinsics: Intrinsics
    baseline_m: float | None = None
    fill_px: float | None = None

    # the names before the vocabulary review (issue 19), for one release
    near = renamed_attribute("nearness", "near")
    layer_near = renamed_attribute("layer_nearness", "layer_near")
    warp_depth = renamed_attribute("warp_nearness", "warp_depth")
    colour = renamed_attribute("color", "colour")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return (int(self.nearness.shape[0]), int(self.nearness.shape[1]))

    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.layers)

    def color(self, k: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of layer ``k`` (0 = farthest); a read-only view."""
        out = self.layers[self._index(k)][:, :, :3]
        out.flags.writeable = False
        return out

    def alpha(self, k: int) -> np.ndarray:
        """(H, W) float32 opacity of layer ``k`` in [0, 1] (1 = opaque)."""
        return self.layers[self._index(k)][:, :, 3].astype(np.float32) / np.float32(255.0)

    @property
    def z_is_metric(self) -> bool:
        """True when :meth:`layer_z` gives metres (metric maps, disparity maps with a known baseline)."""
        return self.kind == "metric" or (self.kind == "disparity" and self.baseline_m is not None)

    def z_rule(self, *, near_m: float = DEFAULT_NEAR_M, far_m: float = DEFAULT_FAR_M) -> str:
        """How :meth:`layer_z` turns nearness into z, for reports and file metadata."""
        if self.kind == "metric":
            return "metric depth (m)"
        if self.kind == "disparity":
            if self.baseline_m is not None:
                return f"z = fx * baseline / d (fx={self.intrinsics.fx:.2f} px, b={self.baseline_m:g} m)"
            return f"pseudo-depth z = {near_m:g} / (d / d_max): disparity without a baseline (NOT metric)"
        return f"pseudo-depth from relative inverse depth, range {near_m:g}..{far_m:g} (NOT metric)"

    def layer_z(self, k: int, *, near_m: float = DEFAULT_NEAR_M, far_m: float = DEFAULT_FAR_M) -> np.ndarray:
        """Camera-frame z of layer ``k`` (0 = farthest) at every pixel: (H, W) float32 > 0.

        * metric maps: metres, exact (``z = 1 / inverse depth``);
        * disparity maps: metres ``z = fx * baseline_m / d`` when the baseline is known, else ``near_m / n``
          (true shape, nearest point at ``near_m`` pseudo-metres);
        * relative maps: the geometry's pseudo-depth rule (:func:`depthforge.geometry.projection.pseudo_depth`,
          t = nearness): ``z = 1 / (1 / far_m + n * (1 / near_m - 1 / far_m))``, nearest point at ``near_m``,
          farthest at ``far_m`` (pseudo-metres).

        Args:
            k: layer index, 0 = farthest (negative counts from the nearest).
            near_m, far_m: pseudo-depth range, ``0 < near_m < far_m`` (relative maps, and ``near_m`` for
                disparity without a baseline).
        """
        return self.nearness_to_z(self.layer_nearness[self._index(k)], near_m=near_m, far_m=far_m)

    def nearness_to_z(
        self, nearness: np.ndarray, *, near_m: float = DEFAULT_NEAR_M, far_m: float = DEFAULT_FAR_M
    ) -> np.ndarray:
        """z (see :meth:`layer_z`) of an array of this scene's nearness values; float32, same shape."""
        lo_m = check_positive(near_m, "near_m")
        hi_m = check_positive(far_m, "far_m")
        if lo_m >= hi_m:
            raise ValidationError(f"near_m: {lo_m:g} must be below far_m {hi_m:g}")
        n = np.asarray(nearness, dtype=np.float64)
        if self.kind == "relative":
            t = np.clip(n, 0.0, 1.0)
            z = 1.0 / (1.0 / hi_m + t * (1.0 / lo_m - 1.0 / hi_m))
        else:
            inv = np.maximum(n, 1e-3) * self.inverse_range[1]
            if self.kind == "metric":
                z = 1.0 / inv
            elif self.baseline_m is not None:
                z = self.intrinsics.fx * self.baseline_m / inv
            else:
                z = lo_m / np.maximum(n, 1e-3)
        return z.astype(np.float32)

    def _index(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -len(self.layers) <= k < len(self.layers):
            raise ValidationError(f"k: expected a layer index in [0, {len(self.layers)}), got {k!r}")
        return int(k) % len(self.layers)
