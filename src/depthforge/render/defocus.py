"""Depth of field ("portrait mode" bokeh) from an image and its depth.

Model: a thin lens focused at inverse depth ``q_f``. The circle of confusion of a point at inverse depth ``q``
has a radius proportional to ``|q - q_f|`` (disparity-like values for relative maps, 1/z for metric maps).
The signed radius (positive behind the focus plane, negative in front) drives a layered renderer:

* pixels are split softly between depth layers with fixed radii (0, 1, 2, ..., then growing by 25 %);
* each layer is premultiplied by its weight and blurred with a disc (or polygonal) kernel in linear light,
  at a resolution reduced so the kernel radius stays at most 6 px (cost per layer ~ constant in the radius);
* layers are composited far to near with the "over" operator, then divided by the accumulated alpha.

So a sharp foreground covers the blurred background without a halo, a blurred foreground spills over the
sharp background, and bright highlights spread their energy as a real lens does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image
from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_array, check_range, check_same_hw
from depthforge.render.masks import auto_threshold, filled_inverse_depth, largest_region, user_value_to_inverse
from depthforge.render.stereo import check_image_depth

__all__ = ["BokehPlan", "focus_inverse_depth", "plan_bokeh", "render_layers", "bokeh", "disc_kernel", "layer_radii"]

#: Largest kernel radius (px) blurred at full resolution; larger radii are blurred on a reduced image.
_MAX_KERNEL_RADIUS = 6.0
#: Full-frame sensor width (m): ``--f-number`` simulates a full-frame lens with the photo's field of view.
_FULL_FRAME_WIDTH_M = 0.036


@dataclass(frozen=True)
class BokehPlan:
    """What the renderer will do.

    Attributes:
        coc: (H, W) float32 signed circle-of-confusion radius in pixels (> 0 behind focus, < 0 in front).
        focus_inverse: the inverse depth in focus (the map's inverse-depth units).
        focus_source: how the focus was chosen ("xy", "depth", "auto: subject", "auto: centre").
        max_radius_px: the largest |radius| in the image.
        intrinsics_source: for ``f_number``, where the intrinsics came from ("" otherwise).
    """

    coc: np.ndarray
    focus_inverse: float
    focus_source: str
    max_radius_px: float
    intrinsics_source: str = ""


def focus_inverse_depth(
    depth: DepthMap, *, xy: tuple[float, float] | None = None, value: float | None = None
) -> tuple[float, str]:
    """The inverse depth to focus on, and how it was chosen.

    Args:
        depth: any kind.
        xy: a pixel (x right, y down) of the subject: the median inverse depth of its 5x5 neighbourhood.
        value: a depth in the map's units (metres; pixels of disparity; for relative maps a fraction 0..1 of
            the range, 1 = nearest).
        Neither: automatic. The nearest large region (Otsu split on inverse depth, largest near component
        covering >= 3 % of the image) or, failing that, the image centre.
    """
    if xy is not None and value is not None:
        raise ValidationError("focus: give a pixel or a depth value, not both")
    q = filled_inverse_depth(depth)
    h, w = q.shape
    if value is not None:
        return user_value_to_inverse(depth, value, name="focus_depth"), "depth"
    if xy is not None:
        x = check_range(xy[0], "focus_xy x", low=0, high=w - 1)
        y = check_range(xy[1], "focus_xy y", low=0, high=h - 1)
        xi, yi = round(x), round(y)
        return float(np.median(q[max(0, yi - 2) : yi + 3, max(0, xi - 2) : xi + 3])), "xy"
    step = max(1, int(max(h, w) // 512))
    small = q[::step, ::step]
    subject = largest_region(small > auto_threshold(small))
    if np.count_nonzero(subject) >= 0.03 * small.size:
        return float(np.median(small[subject])), "auto: subject"
    cy, cx, ry, rx = h // 2, w // 2, max(1, h // 20), max(1, w // 20)
    return float(np.median(q[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1])), "auto: centre"


@renamed_keywords(aperture="aperture_px")
@depth_arrays
def plan_bokeh(
    depth: DepthMap,
    *,
    focus_xy: tuple[float, float] | None = None,
    focus_depth: float | None = None,
    aperture_px: float | None = None,
    f_number: float | None = None,
) -> BokehPlan:
    """The per-pixel blur radius.

    Args:
        depth: any kind, the size of the image.
        focus_xy, focus_depth: the focus (see :func:`focus_inverse_depth`); automatic when both are None.
        aperture_px: blur radius in pixels across the scene's whole inverse-depth range (nearest to farthest);
            default 2 % of the image's longer side. ``0`` = everything sharp.
        f_number: instead of ``aperture_px``, for metric maps: a full-frame lens with the photo's field of view at
            this f-number (thin lens, radius = f^2 z_f / (2 N (z_f - f)) |1/z - 1/z_f|, in pixels). Uses the
            map's intrinsics, or the default field of view.

    Returns:
        A :class:`BokehPlan`; radii are clipped to 12 % of the longer side.
    """
    if aperture_px is not None and f_number is not None:
        raise ValidationError("aperture_px: give --aperture or --f-number, not both")
    q = filled_inverse_depth(depth)
    h, w = q.shape
    q_f, source = focus_inverse_depth(depth, xy=focus_xy, value=focus_depth)
    intr_source = ""
    if f_number is not None:
        n = check_range(f_number, "f_number", low=0.5, high=128)
        if depth.kind != "metric":
            raise ValidationError("f_number: needs a metric depth map (use --aperture for relative and disparity maps)")
        intr = depth.intrinsics or Intrinsics.default((h, w))
        intr_source = intr.source
        f_m = intr.fx * _FULL_FRAME_WIDTH_M / w
        z_f = 1.0 / max(q_f, 1e-9)
        gain = intr.fx * f_m * z_f / (2.0 * n * max(z_f - f_m, 1e-6))
    else:
        a = 0.02 * max(h, w) if aperture_px is None else check_range(aperture_px, "aperture_px", low=0, high=1000)
        lo, hi = (float(v) for v in np.percentile(q[:: max(1, q.size // 500_000)], [0.5, 99.5]))
        if not hi > lo:
            lo, hi = float(q.min()), float(q.max())
        gain = a / (hi - lo) if hi > lo else 0.0
    limit = 0.12 * max(h, w)
    coc = np.clip((q_f - q) * np.float32(gain), -limit, limit).astype(np.float32)
    return BokehPlan(coc, float(q_f), source, float(np.abs(coc).max()), intr_source)


def layer_radii(max_radius: float) -> np.ndarray:
    """Unsigned layer radii 0, 1, 2, ..., 6, then growing by 25 % per layer, ending at ``max_radius``."""
    r = [0.0]
    while r[-1] < max_radius:
        r.append(r[-1] + 1.0 if r[-1] < _MAX_KERNEL_RADIUS else r[-1] * 1.25)
    r[-1] = min(r[-1], max(max_radius, 0.0))
    if len(r) > 2 and r[-1] - r[-2] < 0.25 * (r[-2] - r[-3]):
        r.pop(-2)
    return np.asarray(r, np.float64)


def disc_kernel(radius: float, *, blades: int = 0, rotation_deg: float = 0.0) -> np.ndarray:
    """A normalised aperture kernel: an anti-aliased disc, or a regular polygon with ``blades`` sides.

    Args:
        radius: radius in pixels (the polygon's circumradius); < 0.5 gives the identity.
        blades: 0 = circular; 3..16 = polygon.
        rotation_deg: polygon rotation.

    Returns:
        (2k+1, 2k+1) float32 summing to 1.
    """
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    k = math.ceil(radius + 0.5)
    y, x = np.mgrid[-k : k + 1, -k : k + 1].astype(np.float64)
    d = np.hypot(x, y)
    edge = np.full_like(d, radius)
    if blades:
        seg = 2.0 * math.pi / blades
        t = np.mod(np.arctan2(y, x) - math.radians(rotation_deg), seg) - seg / 2.0
        edge = radius * math.cos(seg / 2.0) / np.cos(t)
    kern = np.clip(edge + 0.5 - d, 0.0, 1.0)
    return (kern / kern.sum()).astype(np.float32)


def _blur_layer(rgba: np.ndarray, radius: float, blades: int, rotation: float) -> np.ndarray:
    import cv2

    if radius < 0.5:
        return rgba
    h, w = rgba.shape[:2]
    s = radius / _MAX_KERNEL_RADIUS
    if s <= 1.0:
        return cv2.filter2D(
            rgba, -1, disc_kernel(radius, blades=blades, rotation_deg=rotation), borderType=cv2.BORDER_CONSTANT
        )
    sw, sh = max(1, round(w / s)), max(1, round(h / s))
    small = cv2.resize(rgba, (sw, sh), interpolation=cv2.INTER_AREA)
    kern = disc_kernel(radius * sw / w, blades=blades, rotation_deg=rotation)
    small = cv2.filter2D(small, -1, kern, borderType=cv2.BORDER_CONSTANT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def render_layers(linear: np.ndarray, coc: np.ndarray, *, blades: int = 0, rotation_deg: float = 0.0) -> np.ndarray:
    """Layered depth-of-field rendering in linear light.

    Args:
        linear: (H, W, 3) float32 linear-light RGB (values may exceed 1 for boosted highlights).
        coc: (H, W) float32 signed blur radius in pixels (> 0 behind the focus plane, < 0 in front).
        blades: aperture shape (0 = disc).
        rotation_deg: polygon rotation.

    Returns:
        (H, W, 3) float32 linear RGB.
    """
    lin = check_array(linear, "linear", ndim=3, channels=3, dtype_kind="f").astype(np.float32, copy=False)
    c = check_array(coc, "coc", ndim=2, dtype_kind="f", finite=True)
    check_same_hw(lin, "image", c, "coc")
    h, w = c.shape
    radii = layer_radii(float(np.abs(c).max()))
    levels = np.concatenate([-radii[:0:-1], radii])  # ascending: nearest (most negative) .. farthest
    if levels.size == 1:
        return lin.copy()
    lv = levels.astype(np.float32)
    cc = np.clip(c, lv[0], lv[-1])
    idx = np.clip(np.searchsorted(lv, cc, side="right") - 1, 0, levels.size - 2).astype(np.int32)
    t = (cc - lv[idx]) * (np.float32(1.0) / np.diff(lv))[idx]
    acc = np.zeros((h, w, 4), np.float32)
    counts = np.bincount(idx.ravel(), minlength=levels.size)
    # Which layers occur in each row and column (one pass), for each layer's bounding box.
    n = levels.size
    in_row = np.bincount((np.arange(h, dtype=np.int64)[:, None] * n + idx).ravel(), minlength=h * n).reshape(h, n) > 0
    in_col = np.bincount((np.arange(w, dtype=np.int64)[None, :] * n + idx).ravel(), minlength=w * n).reshape(w, n) > 0
    for k in range(n - 1, -1, -1):  # far to near
        if counts[k] == 0 and (k == 0 or counts[k - 1] == 0):
            continue
        rows = np.flatnonzero(in_row[:, k] | in_row[:, k - 1]) if k else np.flatnonzero(in_row[:, 0])
        cols = np.flatnonzero(in_col[:, k] | in_col[:, k - 1]) if k else np.flatnonzero(in_col[:, 0])
        r = abs(float(levels[k]))
        pad = math.ceil(r) + 2 + int(r / _MAX_KERNEL_RADIUS)
        y0, y1 = max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)
        x0, x1 = max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)
        ib, tb = idx[y0:y1, x0:x1], t[y0:y1, x0:x1]
        wgt = np.where(ib == k, 1.0 - tb, np.where(ib == k - 1, tb, np.float32(0.0)))
        layer = np.empty((y1 - y0, x1 - x0, 4), np.float32)
        np.multiply(lin[y0:y1, x0:x1], wgt[:, :, None], out=layer[:, :, :3])
        layer[:, :, 3] = wgt
        blurred = _blur_layer(layer, r, blades, rotation_deg)
        region = acc[y0:y1, x0:x1]
        region *= 1.0 - blurred[:, :, 3:4]
        region += blurred
    alpha = acc[:, :, 3]
    out = acc[:, :, :3] / np.maximum(alpha, np.float32(1e-4))[:, :, None]
    empty = alpha <= 1e-4
    if empty.any():
        out[empty] = lin[empty]
    return out


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


@renamed_keywords(aperture="aperture_px")
@depth_arrays
def bokeh(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    focus_xy: tuple[float, float] | None = None,
    focus_depth: float | None = None,
    aperture_px: float | None = None,
    f_number: float | None = None,
    blades: int = 0,
    rotation_deg: float = 0.0,
    highlight_gain: float = 1.0,
) -> np.ndarray:
    """Simulated shallow depth of field.

    Args:
        image: (H, W, 3) uint8 or uint16 sRGB, or an :class:`Image`.
        depth: a :class:`DepthMap` of the same size (any kind).
        focus_xy, focus_depth, aperture_px, f_number: see :func:`plan_bokeh`.
        blades: 0 = round bokeh; 3..16 = polygonal aperture with this many blades.
        rotation_deg: rotation of the polygon.
        highlight_gain: multiply clipped highlights (any channel >= 250/255) in linear light by this before
            blurring, so they bloom into bright discs (1 = off).

    Returns:
        (H, W, 3) of the image's dtype. With a zero aperture (all radii < 0.5 px) the input is returned
        unchanged (a copy).
    """
    img = check_image_depth(image, depth, dtype_kind="u")
    if img.dtype not in (np.uint8, np.uint16):
        raise ValidationError(f"image: dtype {img.dtype} is not allowed (uint8 or uint16)")
    if blades and not 3 <= int(blades) <= 16:
        raise ValidationError(f"blades: {blades} is not 0 or 3..16")
    gain = check_range(highlight_gain, "highlight_gain", low=1.0, high=100.0)
    plan = plan_bokeh(depth, focus_xy=focus_xy, focus_depth=focus_depth, aperture_px=aperture_px, f_number=f_number)
    if plan.max_radius_px < 0.5:
        return img.copy()
    top = 255 if img.dtype == np.uint8 else 65535
    lut = _srgb_to_linear(np.arange(top + 1, dtype=np.float64) / top).astype(np.float32)
    lin = lut[img]
    if gain > 1.0:
        hot = img.max(axis=2) >= (250 * top) // 255
        lin[hot] *= np.float32(gain)
    out = render_layers(lin, plan.coc, blades=int(blades), rotation_deg=rotation_deg)
    # linear -> sRGB through a fine table: exact for every 8-bit value, within 1 level for 16-bit.
    n = 65535 if top == 255 else 1 << 20
    table = (_linear_to_srgb(np.arange(n + 1, dtype=np.float64) / n) * top + 0.5).astype(img.dtype)
    index = (np.clip(out, 0.0, 1.0) * np.float32(n) + np.float32(0.5)).astype(np.int32)
    return table[index]
