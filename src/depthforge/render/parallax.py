"""Parallax ("3D photo") views and clips: a layered scene re-rendered from moving virtual cameras.

**Layers.** :func:`build_layers` splits the image at strong depth edges into layers ordered far to near
(nearness thresholds chosen greedily to cut as much depth-edge strength as possible, :func:`split_thresholds`).
Where nearer layers hide layer ``k``, its colour and depth are *filled from the background side*: only farther
pixels are sources, and the ``margin`` px next to the nearer layers are skipped (their colours mix in the
foreground's edge). Depth is filled smoothly (pyramid push-pull); colour by the nearest source pixel along the
row or column, blurred among the filled pixels (``fill="streak"``), or by OpenCV's Telea inpainting at reduced
resolution (``fill="inpaint"``). Layer ``k`` is opaque on its own pixels and on the hidden pixels whose filled
depth still belongs to it (so a farther layer, not this one, shows where the fill says the far background
continues). Beyond its opaque region a layer's colour is extended from the nearest opaque pixel and its depth
smoothly, so each layer's depth is smooth across its own edges: object edges move rigidly (no rubber-sheet
stretching) and disocclusions show filled background (no holes).

**Views.** :class:`ParallaxRenderer` renders a :class:`~depthforge.render.camera_path.CameraPose`:

* ``method="remap"`` (clips): each layer is backward-warped with ``cv2.remap`` over the region it can reach and
  composited back to front (opaque pixels copied, the anti-aliased fringe blended). The inverse of the pose's
  mapping (see :mod:`depthforge.render.camera_path`) comes from a fixed-point iteration on the layer's smooth
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
from dataclasses import dataclass

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice, check_range
from depthforge.render.camera_path import CameraPose, camera_path, frame_count
from depthforge.render.stereo import fill_invalid_background
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


def split_thresholds(
    near: np.ndarray, *, max_layers: int = 4, edge: float = 0.05, span: int = 2, min_cut: float = 0.02
) -> list[float]:
    """Nearness thresholds (ascending, at most ``max_layers - 1``) that cut the strongest depth edges.

    An edge is a pair of pixels ``span`` apart along a row or column whose nearness differs by more than
    ``edge``; a threshold ``t`` cuts it when ``lo < t <= hi``. Thresholds are chosen greedily to cut the largest
    total jump still uncut; the search stops when the best remaining cut covers < 2 % of the initial total.

    Args:
        near: (H, W) float nearness in [0, 1].
        max_layers: >= 1.
        edge: minimum jump (nearness units) of a strong edge, > 0.
        span: pixel distance of the compared pairs (2 catches edges blurred over a pixel).
    """
    n = check_array(near, "near", ndim=2, dtype_kind="f")
    if not isinstance(max_layers, int) or max_layers < 1:
        raise ValidationError(f"max_layers: expected an integer >= 1, got {max_layers!r}")
    e = check_range(edge, "edge", low=0.0, low_inclusive=False)
    lo_parts, hi_parts = [], []
    for a, b in ((n[:, :-span], n[:, span:]), (n[:-span, :], n[span:, :])):
        if a.size == 0:
            continue
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        strong = hi - lo > e
        lo_parts.append(lo[strong])
        hi_parts.append(hi[strong])
    if max_layers == 1 or not lo_parts:
        return []
    lo = np.concatenate(lo_parts)
    hi = np.concatenate(hi_parts)
    if lo.size == 0:
        return []
    bins = 512
    k_lo = np.clip(np.floor(lo * bins).astype(np.intp) + 1, 0, bins + 1)
    k_hi = np.clip(np.floor(hi * bins).astype(np.intp) + 1, 0, bins + 1)
    weight = (hi - lo).astype(np.float64)
    total = float(weight.sum())
    active = np.ones(lo.size, dtype=bool)
    chosen: list[float] = []
    for _ in range(max_layers - 1):
        diff = np.bincount(k_lo[active], weight[active], bins + 2) - np.bincount(k_hi[active], weight[active], bins + 2)
        cover = np.cumsum(diff)
        k = int(np.argmax(cover[1 : bins + 1])) + 1
        if cover[k] < min_cut * total:
            break
        t = k / bins
        chosen.append(t)
        active &= ~((lo < t) & (hi >= t))
        if not active.any():
            break
    return sorted(chosen)


@dataclass(frozen=True, eq=False)
class LayeredScene:
    """What :func:`build_layers` returns.

    Attributes:
        layers: tuple of (H, W, 4) uint8 RGBA per layer, far to near: colour filled behind nearer layers and
            extended beyond the layer's own pixels; alpha 255 where the layer is opaque, else 0 (the farthest
            layer is opaque everywhere).
        boxes: tuple of (y0, y1, x0, x1) per layer, the bounding box of its opaque pixels.
        warp_depth: tuple of (h, w) float32 nearness per layer on the coarse map grid (smooth across edges):
            coarse pixel (j, i) averages the input block of ``cell`` x ``cell`` pixels starting at (j, i) * cell.
        cell: the coarse grid's cell size in input pixels.
        near: (H, W) float32 nearness of the input.
        image: (H, W, 3) uint8 RGB, the input view.
        thresholds: the nearness thresholds between layers.
    """

    layers: tuple[np.ndarray, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    warp_depth: tuple[np.ndarray, ...]
    near: np.ndarray
    thresholds: tuple[float, ...]
    image: np.ndarray
    cell: int

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return (int(self.near.shape[0]), int(self.near.shape[1]))


def _nearest_extend(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Copy of ``values`` where pixels outside ``inside`` take the value of their nearest inside pixel."""
    import cv2

    if inside.all() or not inside.any():
        return values.copy()
    _, labels = cv2.distanceTransformWithLabels(
        (~inside).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    src = values[inside]  # raster order = label order (label 1 is the first inside pixel)
    return src[labels - 1]


def _pushpull(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Smooth fill of the unknown pixels of a (H, W) float map (pyramid push-pull); known pixels are kept."""
    import cv2

    v: np.ndarray = np.where(known, values, 0.0).astype(np.float32)
    wt: np.ndarray = known.astype(np.float32)
    levels = [(v, wt)]
    while min(v.shape) > 1 and float(wt.min()) <= 0.0:
        size = (max(1, (v.shape[1] + 1) // 2), max(1, (v.shape[0] + 1) // 2))
        v = cv2.resize(v, size, interpolation=cv2.INTER_AREA)
        wt = cv2.resize(wt, size, interpolation=cv2.INTER_AREA)
        levels.append((v, wt))
    v, wt = levels[-1]
    up: np.ndarray = np.where(wt > 0, v / np.maximum(wt, 1e-12), float(v.sum() / max(float(wt.sum()), 1e-12))).astype(
        np.float32
    )
    for v, wt in reversed(levels[:-1]):
        up = cv2.resize(up, (v.shape[1], v.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(v.shape)
        up = v + (1.0 - wt) * up  # v is the known-weighted mean: known pixels exact, gaps from the coarser level
    return np.where(known, values, up).astype(np.float32)


def _streak_fill(image: np.ndarray, holes: np.ndarray, *, sigma: float) -> np.ndarray:
    """Each hole pixel takes the nearest known pixel along its row or column (whichever is closer), then the
    filled pixels are blurred among themselves (normalised box filter of about ``sigma``); uint8 out."""
    import cv2

    h, w = holes.shape
    known = ~holes
    best = np.full((h, w), np.iinfo(np.int32).max, dtype=np.int64)
    src = np.zeros((h, w), dtype=np.int64)
    flat_index = np.arange(h * w, dtype=np.int64).reshape(h, w)
    for axis in (0, 1):
        n = holes.shape[axis]
        idx = np.arange(n, dtype=np.int64).reshape((-1, 1) if axis == 0 else (1, -1))
        big = np.int64(1 << 40)
        before = np.maximum.accumulate(np.where(known, idx, -big), axis=axis)
        after = np.flip(np.minimum.accumulate(np.flip(np.where(known, idx, big), axis=axis), axis=axis), axis=axis)
        for pos in (before, after):
            dist = np.abs(pos - idx)
            ok = (pos >= 0) & (pos < n) & (dist < best)
            if axis == 0:
                cand = np.clip(pos, 0, n - 1) * w + np.arange(w, dtype=np.int64)[None, :]
            else:
                cand = np.arange(h, dtype=np.int64)[:, None] * w + np.clip(pos, 0, n - 1)
            best = np.where(ok, dist, best)
            src = np.where(ok, cand, src)
    src = np.where(known, flat_index, src)
    out = image.reshape(h * w, -1)[src.ravel()].reshape(image.shape).astype(np.float32)
    k = max(1, round(float(np.sqrt(6.0 * sigma * sigma + 1.0))))
    m = holes.astype(np.float32)
    num = cv2.blur(cv2.blur(out * m[:, :, None], (k, k)), (k, k))
    den = cv2.blur(cv2.blur(m, (k, k)), (k, k))[:, :, None]
    smooth = num / np.maximum(den, 1e-6)
    return np.where(holes[:, :, None], np.clip(np.rint(smooth), 0, 255), image).astype(np.uint8)


def _fill_hidden(
    image: np.ndarray, near: np.ndarray, hidden: np.ndarray, *, margin: int, inpaint_pixels: int, fill: str
) -> tuple[np.ndarray, np.ndarray]:
    """Colour (Telea inpainting) and nearness (smooth push-pull) of the hidden region, from the farther pixels."""
    import cv2

    h, w = hidden.shape
    unknown: np.ndarray = hidden.astype(np.uint8)
    if margin > 0:
        unknown = cv2.dilate(unknown, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    filled = _pushpull(near, unknown == 0)
    if fill == "inpaint":
        f = max(1.0, math.sqrt(h * w / inpaint_pixels))
        if f > 1.0:
            size = (max(1, round(w / f)), max(1, round(h / f)))
            img_s = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            mask_s = (cv2.resize(unknown.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        else:
            img_s, mask_s = image, unknown
        col = cv2.inpaint(img_s, mask_s, 3, cv2.INPAINT_TELEA)
        if f > 1.0:
            col = cv2.resize(col, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        col = _streak_fill(image, unknown.astype(bool), sigma=max(1.0, 0.01 * max(h, w)))
    colour = np.where(hidden[:, :, None], col, image)
    return colour, np.where(hidden, filled, near).astype(np.float32)


def build_layers(
    image: np.ndarray,
    depth: DepthMap,
    *,
    max_layers: int = 4,
    edge: float = 0.03,
    margin: int = 2,
    inpaint_pixels: int = 300_000,
    map_pixels: int = 130_000,
    smooth: float = 1.5,
    fill: str = "streak",
    min_cut: float = 0.002,
) -> LayeredScene:
    """Split an image and its depth into background-filled layers (see the module docstring).

    Args:
        image: (H, W, 3) or (H, W, 4) uint8/uint16/float-in-[0, 1] RGB(A) (alpha ignored); not modified.
        depth: DepthMap of the same (H, W), any kind.
        max_layers: at most this many layers (1 = a single rubber sheet).
        edge: minimum nearness jump of a depth edge that layers are cut at.
        min_cut: stop adding layers when the best further cut covers less than this share of all edge strength.
        fill: colour behind nearer layers: ``"streak"`` (nearest farther pixel along the row or column, blurred
            among the filled pixels) or ``"inpaint"`` (OpenCV Telea, at reduced resolution for large images).
        margin: px around nearer layers not used as a fill source (their edge colours mix in the foreground).
        inpaint_pixels: hidden regions are inpainted on an image of at most about this many pixels.
        map_pixels: size of the coarse grid the warp is solved on.
        smooth: Gaussian sigma (coarse-grid px) applied to each layer's warp depth.

    Returns:
        :class:`LayeredScene`.
    """
    import cv2

    from depthforge.io.images import to_uint8

    img = check_array(image, "image", ndim=3, channels=(3, 4), dtype_kind="uf")
    if not isinstance(depth, DepthMap):
        raise ValidationError(f"depth: expected a DepthMap, got {type(depth).__name__}")
    if depth.shape != img.shape[:2]:
        raise ValidationError(
            f"depth: size {depth.shape[1]}x{depth.shape[0]} does not match the image {img.shape[1]}x{img.shape[0]}"
        )
    if not isinstance(margin, int) or margin < 0:
        raise ValidationError(f"margin: expected an integer >= 0, got {margin!r}")
    check_range(inpaint_pixels, "inpaint_pixels", low=1000)
    check_range(map_pixels, "map_pixels", low=100)
    rgb = np.ascontiguousarray(to_uint8(img[:, :, :3]))
    near = nearness(depth)
    ts = split_thresholds(near, max_layers=max_layers, edge=edge, min_cut=min_cut)
    bounds = [-np.inf, *ts, np.inf]
    h, w = near.shape
    cell = max(1, round(math.sqrt(h * w / map_pixels)))
    hm, wm = -(-h // cell), -(-w // cell)
    layers, boxes, warps = [], [], []
    for k in range(len(bounds) - 1):
        hidden = near >= bounds[k + 1]
        colour, filled = rgb, near
        if hidden.any():
            colour, filled = _fill_hidden(
                rgb, near, hidden, margin=margin, inpaint_pixels=int(inpaint_pixels), fill=fill
            )
        if k > 0:
            # opaque where the (filled) surface belongs to this layer: behind a nearer object only where the
            # background-side fill says this layer continues there, not where a farther layer does
            inside = filled >= bounds[k]
            colour = _nearest_extend(colour, inside)
            filled = _pushpull(filled, inside)
        else:
            inside = np.ones((h, w), dtype=bool)
        layers.append(np.dstack([colour, inside.astype(np.uint8) * np.uint8(255)]))
        ys = np.flatnonzero(inside.any(axis=1))
        xs = np.flatnonzero(inside.any(axis=0))
        boxes.append((int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1) if ys.size else (0, 0, 0, 0))
        padded = cv2.copyMakeBorder(filled, 0, hm * cell - h, 0, wm * cell - w, cv2.BORDER_REPLICATE)
        wd = cv2.resize(padded, (wm, hm), interpolation=cv2.INTER_AREA)
        # a light blur keeps the fixed-point inverse convergent at the small edges left inside a layer
        warps.append(cv2.GaussianBlur(wd, (0, 0), smooth) if smooth > 0 else wd)
    return LayeredScene(tuple(layers), tuple(boxes), tuple(warps), near, tuple(ts), rgb, cell)


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
        h, w = scene.shape
        ss = supersample
        self._out_shape = (h * ss, w * ss)

    def _coarse(self, k: int, pose: CameraPose) -> tuple[np.ndarray, np.ndarray, float, float, float, float]:
        """Source coordinates (u, v) in input px of layer ``k`` on the coarse grid padded by one cell on every
        side, and the displacement range (dx_min, dx_max, dy_min, dy_max) of source minus target."""
        import cv2

        h, w = self.scene.shape
        wd = self.scene.warp_depth[k]
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
        mx = cv2.resize(u[j0:j1, i0:i1], size, interpolation=cv2.INTER_LINEAR)[rows, cols]
        my = cv2.resize(v[j0:j1, i0:i1], size, interpolation=cv2.INTER_LINEAR)[rows, cols]
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
            holes: ``splat`` only: ``"layers"`` (holes from the layered render) or ``"background"`` (holes
                filled along rows from the far side by :func:`depthforge.render.warp.fill_holes_background`,
                as the stereo eyes are).
        """
        check_choice(method, "method", ("remap", "splat"))
        check_choice(holes, "holes", ("layers", "background"))
        if not isinstance(pose, CameraPose):
            raise ValidationError(f"pose: expected a CameraPose, got {type(pose).__name__}")
        if method == "remap" or pose.is_identity:
            return self._render_layers(pose)[0][-1]
        return self._splat(pose, holes)

    def _splat(self, pose: CameraPose, holes: str) -> np.ndarray:
        """Forward warp of the input view; each hole takes the layered render made of the layers up to the one
        its background side belongs to (so a foreground layer never leaks into its own disocclusion)."""
        h, w = self.scene.shape
        n = self.scene.near
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        gx = np.arange(w, dtype=np.float32)[None, :] - np.float32(cx)
        gy = np.arange(h, dtype=np.float32)[:, None] - np.float32(cy)
        k = np.float32(pose.zoom) / (np.float32(1.0) - np.float32(pose.z) * n)
        dn = n - np.float32(self.focus)
        shift_x = (k * (gx - np.float32(pose.x) * dn) - gx).astype(np.float32)
        shift_y = (k * (gy - np.float32(pose.y) * dn) - gy).astype(np.float32)
        moving = bool(np.any(np.abs(shift_y) > 1e-6))
        # z-test tolerance: a nearness difference worth about one pixel of motion
        reach = max(1.0, abs(pose.x), abs(pose.y), float(np.abs(shift_x).max()), float(np.abs(shift_y).max()))
        warped = forward_warp(self.scene.image, shift_x, shift_y if moving else None, priority=n, tolerance=1.0 / reach)
        img = np.clip(np.rint(warped.image), 0, 255).astype(np.uint8)
        if not warped.holes.any():
            return img
        if holes == "background":
            filled = fill_holes_background(
                warped.image, warped.holes, warped.priority, direction="both" if moving else "row"
            )
            return np.clip(np.rint(filled), 0, 255).astype(np.uint8)
        composites, outside = self._render_layers(pose, keep=True)
        prio = np.where(warped.holes, np.float32(0.0), warped.priority).astype(np.float32)
        side = fill_holes_background(prio, warped.holes, prio, direction="both" if moving else "row", smooth=0)
        layer = np.searchsorted(np.asarray(self.scene.thresholds, dtype=np.float32), side, side="right")
        out = img.copy()
        for i, comp in enumerate(composites):
            sel = warped.holes & (layer == i)
            out[sel] = comp[sel]
        # beyond the frame edge no layer knows anything: continue the edge along the row (background side)
        lost = warped.holes & outside
        if lost.any():
            edge = fill_holes_background(
                warped.image, warped.holes, warped.priority, direction="both" if moving else "row"
            )
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


def render_view(
    image: np.ndarray,
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

    Returns:
        (H, W, 3) uint8 RGB.
    """
    scene = build_layers(image, depth, max_layers=max_layers)
    return ParallaxRenderer(scene, focus=focus).render(pose, method=method, holes=holes)


def render_frames(
    image: np.ndarray,
    depth: DepthMap,
    *,
    motion: str = "circle",
    duration: float = 4.0,
    fps: float = 30.0,
    amplitude: float = 2.0,
    dolly: float | None = None,
    focus: float = 0.5,
    loop: bool = True,
    easing: str = "sine",
    supersample: int = 1,
    max_layers: int = 4,
    start: CameraPose | None = None,
    end: CameraPose | None = None,
) -> Iterator[np.ndarray]:
    """The frames of a parallax clip, one at a time (memory does not depend on the number of frames).

    Args:
        image: (H, W, 3) RGB (uint8/uint16/float in [0, 1]).
        depth: DepthMap of the same size.
        motion: a preset of :data:`depthforge.render.camera_path.MOTIONS`.
        duration: seconds; fps: frames per second (``round(duration * fps)`` frames, at least 2).
        amplitude: sideways amplitude, % of the image width for a point of nearness 1 (relative to the
            infinitely far one).
        dolly: forward travel for zoom/orbit presets, fraction of the nearest distance (None = 4 * amplitude %).
        focus: nearness of the steady plane, 0 = farthest, 1 = nearest.
        loop: seamless loop (the last frame equals the first).
        easing: see :data:`depthforge.render.camera_path.EASINGS`.
        supersample: 1..4, render larger and downsample (anti-aliasing).
        max_layers: layers split at depth edges.
        start, end: end poses of the ``linear`` motion.

    Yields:
        (H, W, 3) uint8 RGB frames.
    """
    frames = frame_count(duration, fps)
    amp = check_range(amplitude, "amplitude", low=0.0, high=50.0)
    dz = min(0.9, 4.0 * amp / 100.0) if dolly is None else dolly
    scene = build_layers(image, depth, max_layers=max_layers)
    poses = camera_path(
        motion,
        frames=frames,
        amplitude_px=amp / 100.0 * scene.shape[1],
        dolly=dz,
        focus=focus,
        loop=loop,
        easing=easing,
        start=start,
        end=end,
    )
    renderer = ParallaxRenderer(scene, focus=focus, supersample=supersample)
    for pose in poses:
        yield renderer.render(pose)
