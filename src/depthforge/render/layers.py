"""The layered scene: a photo split at strong depth edges into layers far to near, hidden parts filled.

**Layers.** :func:`build_layers` splits the image at strong depth edges into layers ordered far to near
(nearness thresholds chosen greedily to cut as much depth-edge strength as possible, :func:`split_thresholds`).
Where nearer layers hide layer ``k``, its colour and depth are *filled from the background side*: only farther
pixels are sources, and the ``margin`` px next to the nearer layers are skipped (their colours mix in the
foreground's edge). Depth is filled smoothly (pyramid push-pull); colour by one of the inpainting methods of
:func:`depthforge.render.inpaint.inpaint` (default ``"background"``: the nearest source pixels along the row and
column, interpolated by inverse distance and blurred among the filled pixels; OpenCV Telea/NS; or a learned
inpainter). Layer ``k`` is opaque on its own pixels and on the hidden pixels whose filled depth still belongs to
it (so a farther layer, not this one, shows where the fill says the far background continues); with a fill width
(``reach_px``, from the camera motion) only on the hidden band that the motion can reveal. Beyond its opaque
region a layer's colour is extended from the nearest opaque pixel and its depth smoothly, so each layer's depth
is smooth across its own edges: object edges move rigidly (no rubber-sheet stretching) and disocclusions show
filled background (no holes).

Nearness ``n`` (:func:`nearness`): relative maps are scaled to [0, 1] over their range (the farthest point is
treated as infinitely far); metric maps use ``z_min / z`` and disparity maps ``d / d_max`` (true inverse depth,
nearest = 1), so a disparity map rendered with ``CameraPose(x=d_max)`` and focus 0 gives the view one stereo
baseline to the right. :meth:`LayeredScene.layer_z` turns a layer's nearness back into camera-frame z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_positive, check_range
from depthforge.render.inpaint import InpaintMethod, check_inpaint_method, inpaint
from depthforge.render.stereo import check_image_depth, fill_invalid_background

__all__ = [
    "DEFAULT_FAR_M",
    "DEFAULT_NEAR_M",
    "LayeredScene",
    "build_layers",
    "fill_width_px",
    "inverse_range",
    "nearness",
    "split_thresholds",
]

#: Pseudo-depth range (pseudo-metres) of :meth:`LayeredScene.layer_z` for relative maps: the same defaults as
#: :data:`depthforge.geometry.projection.DEFAULT_NEAR_M` / ``DEFAULT_FAR_M`` (render does not import geometry; a
#: test keeps them equal).
DEFAULT_NEAR_M = 1.0
DEFAULT_FAR_M = 10.0

#: Depth behind nearer layers and everything beyond a layer's opaque pixels is filled smoothly (push-pull) on a
#: map of at most about this many pixels, then upsampled (known pixels stay exact).
_FILL_PIXELS = 2_000_000


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
    """A layered depth image: the photo split into layers far to near, each with colour, alpha and depth, and
    the camera. What :func:`build_layers` returns; rendered by :class:`depthforge.render.parallax.ParallaxRenderer`
    and :func:`depthforge.render.scene.render_scene_eye`.

    Depth is kept as *nearness* ``n`` (see :func:`nearness`; 1 = nearest point, larger = nearer), which is all the
    renderers need; :meth:`layer_z` turns a layer's nearness into camera-frame z (metres, or pseudo-metres for
    relative maps), and :attr:`intrinsics` holds the pinhole camera (OpenCV frame: x right, y down, z forward).

    Attributes:
        layers: tuple of (H, W, 4) uint8 RGBA per layer, far to near: colour filled behind nearer layers and
            extended beyond the layer's own pixels; alpha 255 where the layer is opaque, else 0. Without a fill
            width every hidden pixel that belongs to a layer is opaque in it (the farthest layer is opaque
            everywhere); with ``fill_px`` only the hidden pixels within ``fill_px`` of the visible ones are.
        boxes: tuple of (y0, y1, x0, x1) per layer, the bounding box of its opaque pixels.
        warp_depth: tuple of (h, w) float32 nearness per layer on the coarse map grid (smooth across edges):
            coarse pixel (j, i) averages the input block of ``cell`` x ``cell`` pixels starting at (j, i) * cell.
        near: (H, W) float32 nearness of the input.
        thresholds: the nearness thresholds between layers (ascending, one fewer than the layers).
        image: (H, W, 3) uint8 RGB, the input view.
        cell: the coarse grid's cell size in input pixels.
        layer_near: tuple of (H, W) float32 nearness per layer, full resolution: the input's on the layer's visible
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
    warp_depth: tuple[np.ndarray, ...]
    near: np.ndarray
    thresholds: tuple[float, ...]
    image: np.ndarray
    cell: int
    layer_near: tuple[np.ndarray, ...]
    kind: str
    inverse_range: tuple[float, float]
    intrinsics: Intrinsics
    baseline_m: float | None = None
    fill_px: float | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return (int(self.near.shape[0]), int(self.near.shape[1]))

    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.layers)

    def colour(self, k: int) -> np.ndarray:
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
        return self.nearness_to_z(self.layer_near[self._index(k)], near_m=near_m, far_m=far_m)

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


def inverse_range(depth: DepthMap) -> tuple[float, float]:
    """(lo, hi) such that :func:`nearness` ``n`` stands for inverse depth ``lo + n * (hi - lo)`` (see
    :attr:`LayeredScene.inverse_range`)."""
    inv = fill_invalid_background(depth.inverse_depth())
    hi = float(inv.max())
    if depth.kind == "relative":
        lo = float(inv.min())
        return (lo, hi if hi > lo else lo + 1.0)
    return (0.0, hi)


def fill_width_px(reach_px: float, *, margin: int = 1) -> float:
    """Width of the hidden band to fill behind a nearer layer so that a camera motion whose largest disocclusion
    is ``reach_px`` (:func:`depthforge.render.motion.max_disocclusion_px`) never shows an empty pixel: the reach,
    plus the ``margin`` skipped next to nearer layers, plus 2 px for interpolation."""
    return float(check_range(reach_px, "reach_px", low=0.0)) + margin + 2.0


def _pushpull(values: np.ndarray, known: np.ndarray, *, max_pixels: int | None = None) -> np.ndarray:
    """Smooth fill (pyramid push-pull) of an (H, W) or (H, W, C) map from its ``known`` pixels: float32 of the
    same shape, defined everywhere (callers keep their known pixels). With ``max_pixels`` the pyramid starts at
    the map area-downscaled to about that many pixels and the fill is upsampled bilinearly (it is smooth)."""
    import cv2

    h, w = known.shape
    chan = values.ndim == 3
    zero = np.zeros((), np.float32)
    v: np.ndarray = np.where(known[:, :, None] if chan else known, values, zero).astype(np.float32, copy=False)
    wt: np.ndarray = known.astype(np.float32)
    f = 1 if max_pixels is None else max(1, math.ceil(math.sqrt(h * w / max_pixels)))
    if f > 1:
        size = (-(-w // f), -(-h // f))
        v = cv2.resize(v, size, interpolation=cv2.INTER_AREA)
        wt = cv2.resize(wt, size, interpolation=cv2.INTER_AREA)
    levels = [(v, wt)]
    while min(wt.shape) > 1 and float(wt.min()) <= 0.0:
        size = (max(1, (wt.shape[1] + 1) // 2), max(1, (wt.shape[0] + 1) // 2))
        v = cv2.resize(v, size, interpolation=cv2.INTER_AREA)
        wt = cv2.resize(wt, size, interpolation=cv2.INTER_AREA)
        levels.append((v, wt))
    v, wt = levels[-1]
    w3 = wt[:, :, None] if chan else wt
    total = v.reshape(-1, v.shape[2]).sum(axis=0) if chan else v.sum()
    mean = np.float32(1.0) * total / np.float32(max(float(wt.sum()), 1e-12))
    up: np.ndarray = np.where(w3 > 0, v / np.maximum(w3, np.float32(1e-12)), mean).astype(np.float32, copy=False)
    for v, wt in reversed(levels[:-1]):
        up = cv2.resize(up, (wt.shape[1], wt.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(v.shape)
        # v is the known-weighted mean: known pixels exact, gaps from the coarser level
        up = v + (np.float32(1.0) - (wt[:, :, None] if chan else wt)) * up
    if f > 1:
        up = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR).reshape(values.shape)
    return up


def _fill_hidden(
    image: np.ndarray, near: np.ndarray, hidden: np.ndarray, *, margin: int, inpaint_pixels: int, method: InpaintMethod
) -> tuple[np.ndarray, np.ndarray]:
    """Colour (by ``method``) and nearness (smooth push-pull) of the hidden region, from the farther pixels."""
    import cv2

    unknown: np.ndarray = hidden.astype(np.uint8)
    if margin > 0:
        unknown = cv2.dilate(unknown, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    holes = unknown.astype(bool)
    if holes.all():  # noisy depth: the margin around hidden pixels swallows every source, keep the sources
        holes = hidden
    if holes.all():  # nothing of this layer is seen: nothing to fill from, the pixels stay as they are
        return image.copy(), near.copy()
    filled = np.where(hidden, _pushpull(near, ~holes, max_pixels=_FILL_PIXELS), near)
    col = inpaint(image, holes, method=method, max_pixels=inpaint_pixels)
    colour = np.where(hidden[:, :, None], col, image)
    return colour, filled


def _extend_colour(colour: np.ndarray, inside: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """``colour`` with its ``replace`` pixels (outside the ``inside`` ones) from a smooth push-pull fill of the
    inside pixels."""
    import cv2

    out = colour.copy()
    fill = cv2.convertScaleAbs(_pushpull(colour, inside, max_pixels=_FILL_PIXELS)).reshape(colour.shape)
    np.copyto(out, fill, where=replace[:, :, None])
    return out


def _band(hidden: np.ndarray, width_px: float) -> np.ndarray:
    """The hidden pixels within ``width_px`` (Euclidean) of a pixel that is not hidden."""
    import cv2

    dist = cv2.distanceTransform(hidden.astype(np.uint8), cv2.DIST_L2, 3)
    return hidden & (dist <= np.float32(width_px))


def build_layers(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    max_layers: int = 4,
    edge: float = 0.03,
    margin: int = 1,
    inpaint_pixels: int = 300_000,
    map_pixels: int = 130_000,
    smooth: float = 1.5,
    inpaint: InpaintMethod = "background",
    min_cut: float = 0.002,
    reach_px: float | None = None,
    intrinsics: Intrinsics | None = None,
) -> LayeredScene:
    """Split an image and its depth into background-filled layers (see the module docstring).

    Args:
        image: (H, W, 3) or (H, W, 4) uint8/uint16/float-in-[0, 1] RGB(A) (alpha ignored); not modified.
        depth: DepthMap of the same (H, W), any kind.
        max_layers: at most this many layers (1 = a single rubber sheet).
        edge: minimum nearness jump of a depth edge that layers are cut at.
        min_cut: stop adding layers when the best further cut covers less than this share of all edge strength.
        inpaint: colour behind nearer layers, a method of :func:`depthforge.render.inpaint.inpaint`:
            ``"background"`` (the nearest farther pixels along the row and column, interpolated by inverse
            distance and blurred among the filled pixels), ``"telea"``, ``"ns"`` (OpenCV) or an inpainter
            callable (e.g. a learned one from :func:`depthforge.models.inpaint.load_inpainter`).
        margin: px around nearer layers not used as a fill source (their edge colours mix in the foreground);
            1 scores best on the Middlebury cones' disocclusions (0, 2 and 3 do worse).
        inpaint_pixels: the colour fill runs on an image of at most about this many pixels (upsampled after).
        map_pixels: size of the coarse grid the warp is solved on.
        smooth: Gaussian sigma (coarse-grid px) applied to each layer's warp depth.
        reach_px: the largest disocclusion (px) the planned camera motion reveals
            (:func:`depthforge.render.motion.max_disocclusion_px`); each layer is then opaque only on the hidden
            pixels within :func:`fill_width_px` of its visible side. None = every hidden pixel that belongs to
            the layer (any motion).
        intrinsics: the camera (default: the depth map's, else :meth:`Intrinsics.default`).

    Returns:
        :class:`LayeredScene`.
    """
    import cv2

    img = check_image_depth(image, depth, channels=(3, 4), dtype_kind="uf")
    if not isinstance(margin, int) or margin < 0:
        raise ValidationError(f"margin: expected an integer >= 0, got {margin!r}")
    check_range(inpaint_pixels, "inpaint_pixels", low=1000)
    check_range(map_pixels, "map_pixels", low=100)
    method = check_inpaint_method(inpaint)
    width = None if reach_px is None else fill_width_px(reach_px, margin=margin)
    h, w = depth.shape
    camera = intrinsics or depth.intrinsics or Intrinsics.default((h, w))
    if (camera.height, camera.width) != (h, w):
        raise ValidationError(f"intrinsics: made for {camera.width}x{camera.height}, the image is {w}x{h}")
    rgb = np.ascontiguousarray(to_uint8(img[:, :, :3]))
    near = nearness(depth)
    ts = split_thresholds(near, max_layers=max_layers, edge=edge, min_cut=min_cut)
    bounds = [-np.inf, *ts, np.inf]
    cell = max(1, round(math.sqrt(h * w / map_pixels)))
    hm, wm = -(-h // cell), -(-w // cell)
    layers, boxes, warps, nears = [], [], [], []
    for k in range(len(bounds) - 1):
        hidden = near >= bounds[k + 1]
        colour, filled = rgb, near
        if hidden.any():
            colour, filled = _fill_hidden(
                rgb, near, hidden, margin=margin, inpaint_pixels=int(inpaint_pixels), method=method
            )
        # opaque where the (filled) surface belongs to this layer: behind a nearer object only where the
        # background-side fill says this layer continues there, not where a farther layer does
        inside = filled >= bounds[k] if k > 0 else np.ones((h, w), dtype=bool)
        # hidden pixels beyond the fill band keep their (transparent) fill colour: the base layer shows it when a
        # camera moves farther than planned
        beyond = hidden & ~_band(hidden, width) if width is not None and hidden.any() else None
        if beyond is not None:
            inside &= ~beyond
        if not inside.all():
            # beyond the opaque pixels (seen through the edge's interpolation): smooth extensions
            outside = ~inside
            colour = _extend_colour(colour, inside, outside if beyond is None else outside & ~beyond)
            filled = np.where(outside, _pushpull(filled, inside, max_pixels=_FILL_PIXELS), filled)
        layers.append(np.dstack([colour, inside.astype(np.uint8) * np.uint8(255)]))
        nears.append(filled)
        ys = np.flatnonzero(inside.any(axis=1))
        xs = np.flatnonzero(inside.any(axis=0))
        boxes.append((int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1) if ys.size else (0, 0, 0, 0))
        padded = cv2.copyMakeBorder(filled, 0, hm * cell - h, 0, wm * cell - w, cv2.BORDER_REPLICATE)
        wd = cv2.resize(padded, (wm, hm), interpolation=cv2.INTER_AREA)
        # a light blur keeps the fixed-point inverse convergent at the small edges left inside a layer
        warps.append(cv2.GaussianBlur(wd, (0, 0), smooth) if smooth > 0 else wd)
    return LayeredScene(
        tuple(layers),
        tuple(boxes),
        tuple(warps),
        near,
        tuple(ts),
        rgb,
        cell,
        tuple(nears),
        depth.kind,
        inverse_range(depth),
        camera,
        depth.baseline_m,
        width,
    )
