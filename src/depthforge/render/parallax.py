"""Parallax ("3D photo") views and clips: a layered scene re-rendered from moving virtual cameras.

Layers come from :func:`depthforge.render.layers.build_layers` (re-exported here).

**Views.** :class:`ParallaxRenderer` renders a :class:`~depthforge.render.motion.CameraPose`:

* ``method="remap"`` (clips): each layer is backward-warped with ``cv2.remap`` over the region it can reach and
  composited back to front (opaque pixels copied, the anti-aliased fringe blended). The inverse of the pose's
  mapping (see :mod:`depthforge.render.motion`) comes from a fixed-point iteration on the layer's smooth
  depth on a coarse grid (``map_pixels``), upsampled bilinearly; a frame costs about one remap of the frame
  plus one remap of each nearer layer's region. The identity pose reproduces the input exactly.
* ``method="splat"`` (stills, large moves): the input is forward-warped by
  :func:`depthforge.render.warp.forward_warp` (sub-pixel splats, z-buffer), and its holes are filled from the
  layered render (only layers up to the one the hole's background side belongs to) or, with
  ``holes="background"``, by :func:`depthforge.render.warp.fill_holes_background`.

Nearness ``n`` (:func:`nearness`): relative maps are scaled to [0, 1] over their range (the farthest point is
treated as infinitely far); metric maps use ``z_min / z`` and disparity maps ``d / d_max`` (true inverse depth,
nearest = 1), so a disparity map rendered with ``CameraPose(x=d_max)`` and focus 0 gives the view one stereo
baseline to the right.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.validation import check_choice, check_range
from depthforge.render.layered_scene import LayeredScene, nearness
from depthforge.render.layers import build_layers, split_thresholds
from depthforge.render.motion import CameraPose, plan_motion
from depthforge.render.stereo import check_image_depth
from depthforge.render.warp import fill_holes_background, forward_warp

__all__ = [
    "LayeredScene",
    "ParallaxRenderer",
    "build_layers",
    "nearness",
    "render_frames",
    "render_view",
    "split_thresholds",
]


class ParallaxRenderer:
    """Renders views of a :class:`LayeredScene` (reusable across the frames of a clip).

    Args:
        scene: the layers.
        focus: nearness of the steady plane.
        supersample: render at this many times the resolution per axis and downsample (1 = off; 1..4).
        iterations: fixed-point steps of the inverse warp (3 is enough for smooth layer depth).
    """

    def __init__(self, scene: LayeredScene, *, focus: float = 0.5, supersample: int = 1, iterations: int = 3) -> None:
        if not isinstance(scene, LayeredScene):
            raise ValidationError(f"scene: expected a LayeredScene, got {type(scene).__name__}")
        if supersample not in (1, 2, 3, 4):
            raise ValidationError(f"supersample: expected 1, 2, 3 or 4, got {supersample!r}")
        if not isinstance(iterations, int) or iterations < 1:
            raise ValidationError(f"iterations: expected an integer >= 1, got {iterations!r}")
        self.scene = scene
        self.focus = check_range(focus, "focus", low=-1.0, high=2.0)
        self.supersample = supersample
        self.iterations = iterations
        self._out_shape = (scene.shape[0] * supersample, scene.shape[1] * supersample)

    def _coarse(self, k: int, pose: CameraPose) -> tuple[np.ndarray, np.ndarray, float, float, float, float]:
        """Source coordinates (u, v) in input px of layer ``k`` on the coarse grid padded by one cell on every
        side, and the displacement range (dx_min, dx_max, dy_min, dy_max) of source minus target."""
        import cv2

        h, w = self.scene.shape
        wd = self.scene.warp_nearness[k]
        hm, wm = wd.shape
        c = np.float32(self.scene.cell)
        ux = (np.arange(-1, wm + 1, dtype=np.float32) + 0.5) * c - 0.5
        vy = (np.arange(-1, hm + 1, dtype=np.float32) + 0.5) * c - 0.5
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        s, z, fo = pose.zoom, pose.z, self.focus
        px = (cx + (ux - cx) / s - pose.x * fo).astype(np.float32)[None, :]
        qx = (pose.x - z * (ux - cx) / s).astype(np.float32)[None, :]
        py = (cy + (vy - cy) / s - pose.y * fo).astype(np.float32)[:, None]
        qy = (pose.y - z * (vy - cy) / s).astype(np.float32)[:, None]
        n = cv2.copyMakeBorder(wd, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        for _ in range(self.iterations):
            mu = (px + n * qx + 0.5) / c - 0.5
            mv = (py + n * qy + 0.5) / c - 0.5
            n = cv2.remap(wd, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        u = (px + n * qx).astype(np.float32)
        v = (py + n * qy).astype(np.float32)
        du = u - ux[None, :]
        dv = v - vy[:, None]
        return u, v, float(du.min()), float(du.max()), float(dv.min()), float(dv.max())

    def _maps(self, u: np.ndarray, v: np.ndarray, roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Full-resolution maps over the output region ``roi`` = (y0, y1, x0, x1) (output px): the padded coarse
        coordinates upsampled by the integer factor cell * supersample (bilinear, pixel centres aligned)."""
        import cv2

        f = self.scene.cell * self.supersample
        y0, y1, x0, x1 = roi
        j0, j1 = max(0, (f + y0) // f - 1), min(u.shape[0], (f + y1) // f + 2)
        i0, i1 = max(0, (f + x0) // f - 1), min(u.shape[1], (f + x1) // f + 2)
        size = ((i1 - i0) * f, (j1 - j0) * f)
        oy, ox = f + y0 - j0 * f, f + x0 - i0 * f
        rows, cols = slice(oy, oy + y1 - y0), slice(ox, ox + x1 - x0)
        mx, my = (cv2.resize(a[j0:j1, i0:i1], size, interpolation=cv2.INTER_LINEAR)[rows, cols] for a in (u, v))
        return mx, my

    def _roi(self, k: int, dx: tuple[float, float], dy: tuple[float, float]) -> tuple[int, int, int, int]:
        """Output region (output px) where layer ``k``'s opaque pixels can land."""
        ss = self.supersample
        h, w = self._out_shape
        y0, y1, x0, x1 = self.scene.boxes[k]
        if y1 <= y0:
            return (0, 0, 0, 0)
        ty0 = math.floor((y0 - dy[1] - 2) * ss)
        ty1 = math.ceil((y1 - dy[0] + 2) * ss)
        tx0 = math.floor((x0 - dx[1] - 2) * ss)
        tx1 = math.ceil((x1 - dx[0] + 2) * ss)
        return (max(0, ty0), min(h, ty1), max(0, tx0), min(w, tx1))

    def render(self, pose: CameraPose, *, method: str = "remap", holes: str = "layers") -> np.ndarray:
        """The view from ``pose``: (H, W, 3) uint8 RGB, every pixel filled (edge pixels repeat beyond the frame).

        Args:
            pose: the camera.
            method: ``"remap"`` (fast: every layer backward-warped, composited back to front) or ``"splat"``
                (exact visible surfaces: the input forward-warped with sub-pixel splatting and a z-buffer by
                :func:`depthforge.render.warp.forward_warp`; its holes (disocclusions) take the layered
                ``remap`` render, i.e. the background filled behind the foreground). ``splat`` costs several
                times more and is meant for stills and large camera moves.
            holes: ``splat`` only: ``"layers"`` (each hole from the layered render of the layers up to the one
                its background side belongs to), ``"scene"`` (holes from the full layered render, every layer
                composited: the scene's own fill shows wherever the splat has no pixel) or ``"background"`` (holes
                filled along rows from the far side by :func:`depthforge.render.warp.fill_holes_background`,
                as the stereo eyes are).
        """
        check_choice(method, "method", ("remap", "splat"))
        check_choice(holes, "holes", ("layers", "scene", "background"))
        if not isinstance(pose, CameraPose):
            raise ValidationError(f"pose: expected a CameraPose, got {type(pose).__name__}")
        if method == "remap" or pose.is_identity:
            return self._render_layers(pose)[0][-1]
        return self._splat(pose, holes)

    def _splat(self, pose: CameraPose, holes: str) -> np.ndarray:
        """Forward warp of the input view; each hole takes the layered render made of the layers up to the one
        its background side belongs to (so a foreground layer never leaks into its own disocclusion)."""
        h, w = self.scene.shape
        n = self.scene.nearness
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        gx = np.arange(w, dtype=np.float32)[None, :] - np.float32(cx)
        gy = np.arange(h, dtype=np.float32)[:, None] - np.float32(cy)
        k = np.float32(pose.zoom) / (np.float32(1.0) - np.float32(pose.z) * n)
        dn = n - np.float32(self.focus)
        shift_x = (k * (gx - np.float32(pose.x) * dn) - gx).astype(np.float32)
        shift_y = (k * (gy - np.float32(pose.y) * dn) - gy).astype(np.float32)
        moving = bool(np.any(np.abs(shift_y) > 1e-6))
        direction = "both" if moving else "row"
        # z-test tolerance: a nearness difference worth about one pixel of motion
        reach = max(1.0, abs(pose.x), abs(pose.y), float(np.abs(shift_x).max()), float(np.abs(shift_y).max()))
        warped = forward_warp(self.scene.image, shift_x, shift_y if moving else None, priority=n, tolerance=1.0 / reach)
        img = np.clip(np.rint(warped.image), 0, 255).astype(np.uint8)
        if not warped.holes.any():
            return img
        if holes == "background":
            filled = fill_holes_background(warped.image, warped.holes, warped.priority, direction=direction)
            return np.clip(np.rint(filled), 0, 255).astype(np.uint8)
        if holes == "scene":
            full = self._render_layers(pose)[0][-1]
            img[warped.holes] = full[warped.holes]
            return img
        composites, outside = self._render_layers(pose, keep=True)
        prio = np.where(warped.holes, np.float32(0.0), warped.priority).astype(np.float32)
        side = fill_holes_background(prio, warped.holes, prio, direction=direction, smooth=0)
        layer = np.searchsorted(np.asarray(self.scene.thresholds, dtype=np.float32), side, side="right")
        out = img.copy()
        for i, comp in enumerate(composites):
            sel = warped.holes & (layer == i)
            out[sel] = comp[sel]
        # beyond the frame edge no layer knows anything: continue the edge along the row (background side)
        lost = warped.holes & outside
        if lost.any():
            edge = fill_holes_background(warped.image, warped.holes, warped.priority, direction=direction)
            out[lost] = np.clip(np.rint(edge[lost]), 0, 255).astype(np.uint8)
        return out

    def _render_layers(self, pose: CameraPose, *, keep: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        """The composites after each layer, far to near (all of them with ``keep``, else only the full view), and
        the (H, W) mask of output pixels whose farthest-layer source lies beyond the frame.

        Each layer is remapped only over the region its opaque pixels can reach; fully opaque pixels are copied,
        the anti-aliased fringe (0 < alpha < 255 after interpolation) is blended.
        """
        import cv2

        border = cv2.BORDER_REPLICATE
        h, w = self.scene.shape
        ho, wo = self._out_shape
        out = np.empty((ho, wo, 4), dtype=np.uint8)
        composites = []
        outside = np.zeros((h, w), dtype=bool)
        for k, layer in enumerate(self.scene.layers):
            u, v, dx0, dx1, dy0, dy1 = self._coarse(k, pose)
            roi = (0, ho, 0, wo) if k == 0 else self._roi(k, (dx0, dx1), (dy0, dy1))
            y0, y1, x0, x1 = roi
            if y1 > y0 and x1 > x0:
                mx, my = self._maps(u, v, roi)
                if k == 0:
                    cv2.remap(layer, mx, my, cv2.INTER_LINEAR, dst=out, borderMode=border)
                    if keep and self.supersample == 1:
                        outside = (mx < -0.5) | (mx > w - 0.5) | (my < -0.5) | (my > h - 0.5)
                else:
                    _composite(out[y0:y1, x0:x1], cv2.remap(layer, mx, my, cv2.INTER_LINEAR, borderMode=border))
            if keep or k == len(self.scene.layers) - 1:
                rgb = cv2.cvtColor(out, cv2.COLOR_RGBA2RGB)
                if self.supersample > 1:
                    rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
                composites.append(rgb)
        return composites, outside


def _composite(dst: np.ndarray, src: np.ndarray) -> None:
    """``src`` (RGBA, straight alpha) over ``dst`` (RGBA view), in place."""
    import cv2

    a = cv2.extractChannel(src, 3)
    cv2.copyTo(src, (a == 255).view(np.uint8), dst)
    points = cv2.findNonZero(cv2.inRange(a, 1, 254))
    if points is not None:
        xy = points.reshape(-1, 2)
        fringe = (xy[:, 1], xy[:, 0])
        wgt = (a[fringe].astype(np.float32) / np.float32(255.0))[:, None]
        mixed = wgt * src[fringe][:, :3] + (np.float32(1.0) - wgt) * dst[fringe][:, :3]
        dst[fringe[0], fringe[1], :3] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


@depth_arrays
def render_view(
    image: np.ndarray | Image,
    depth: DepthMap,
    pose: CameraPose,
    *,
    focus: float = 0.0,
    method: str = "splat",
    holes: str = "background",
    max_layers: int = 8,
) -> np.ndarray:
    """One still view of ``image`` from ``pose`` (builds the layers; use :class:`ParallaxRenderer` for many).

    Defaults favour quality: ``splat`` (exact visible surfaces) with background-side hole filling, which
    scores best against real views (Middlebury cones); ``holes="layers"`` uses the layered fill instead.

    Args:
        image: (H, W, 3) uint8/uint16/float-in-[0, 1] RGB or an :class:`Image`.
        depth: a :class:`DepthMap` of any kind and the image's size.
        pose: the virtual camera (:class:`~depthforge.render.motion.CameraPose`: shifts in px of a point of
            nearness 1, forward move as a fraction of the nearest distance).
        focus: nearness (0 = farthest, 1 = nearest) of the plane that stays still.
        method, holes: as :meth:`ParallaxRenderer.render`: ``splat`` (exact visible surfaces) or ``remap``
            (faster, layers backward-warped); the splat's holes from ``background`` (rows filled from the far
            side), ``layers`` or ``scene`` (the layered render).
        max_layers: at most this many depth layers.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    scene = build_layers(image, depth, max_layers=max_layers)
    return ParallaxRenderer(scene, focus=focus).render(pose, method=method, holes=holes)


@renamed_keywords(duration="duration_s")
@depth_arrays
def render_frames(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    motion: str = "circle",
    duration_s: float = 4.0,
    fps: float = 30.0,
    amplitude: float = 2.0,
    dolly: float | None = None,
    focus: float = 0.5,
    loop: bool = True,
    easing: str = "sine",
    supersample: int = 1,
    max_layers: int = 4,
    start: CameraPose | tuple[float, ...] | None = None,
    end: CameraPose | tuple[float, ...] | None = None,
) -> Iterator[np.ndarray]:
    """The frames of a parallax clip, one at a time (memory does not depend on the number of frames).

    Args:
        image: (H, W, 3) RGB (uint8/uint16/float in [0, 1]).
        depth: DepthMap of the same size.
        motion: a preset of :data:`depthforge.render.motion.MOTIONS`.
        duration_s: seconds; fps: frames per second (``round(duration_s * fps)`` frames, at least 2).
        amplitude: sideways amplitude, % of the image width for a point of nearness 1 (relative to the
            infinitely far one).
        dolly: forward travel for zoom/orbit presets, fraction of the nearest distance (None = 4 * amplitude %).
        focus: nearness of the steady plane, 0 = farthest, 1 = nearest.
        loop: seamless loop (one cycle; the frame after the last would be the first).
        easing: see :data:`depthforge.render.motion.EASINGS`.
        supersample: 1..4, render larger and downsample (anti-aliasing).
        max_layers: layers split at depth edges.
        start, end: end poses of the ``linear`` motion (:class:`CameraPose` or ``(x, y[, z[, zoom]])``).

    Yields:
        (H, W, 3) uint8 RGB frames.
    """
    size_hw = check_image_depth(image, depth, channels=(3, 4), dtype_kind="uf").shape[:2]
    # the hidden fill reaches as far as this motion can look behind the nearer layers
    poses, reach = plan_motion(
        size_hw,
        motion=motion,
        duration_s=duration_s,
        fps=fps,
        amplitude=amplitude,
        dolly=dolly,
        focus=focus,
        loop=loop,
        easing=easing,
        start=start,
        end=end,
    )
    scene = build_layers(image, depth, max_layers=max_layers, reach_px=reach)
    renderer = ParallaxRenderer(scene, focus=focus, supersample=supersample)
    for pose in poses:
        yield renderer.render(pose)
