"""Choosing camera intrinsics: explicit values, a field of view, the photo's EXIF, or the stated default.

The order of preference (first that applies wins) is:

1. an explicit focal length ``focal_px`` (``focal_y_px`` defaults to it; ``cx_px``, ``cy_px`` default to the image
   centre ``(W - 1) / 2``, ``(H - 1) / 2``, pixel centres at integers);
2. a horizontal field of view ``fov_deg``;
3. EXIF ``FocalLengthIn35mmFilm`` (35 mm-equivalent focal length, defined by CIPA DC-004 on the image diagonal:
   ``f_px = f35 * diagonal_px / 43.27``);
4. EXIF ``FocalLength`` in mm together with a sensor width in mm (``sensor_width_mm`` in the EXIF facts or given):
   ``f_px = f_mm * W / sensor_width_mm``;
5. intrinsics that came with the depth file (``fallback``), unless those were themselves a default;
6. :meth:`Intrinsics.default` (:data:`~depthforge.core.intrinsics.DEFAULT_HFOV_DEG` horizontal field of view).

The returned :class:`Intrinsics` says in ``source`` which rule was used, so front ends can always report it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_positive, check_range, check_size_hw

__all__ = ["resolve_intrinsics", "intrinsics_from_exif", "describe_intrinsics", "FULL_FRAME_DIAGONAL_MM"]

#: Diagonal of a 36 x 24 mm frame, the reference of 35 mm-equivalent focal lengths.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def intrinsics_from_exif(
    size_hw: tuple[int, int], exif: Mapping[str, Any] | None, *, sensor_width_mm: float | None = None
) -> Intrinsics | None:
    """Intrinsics from a photo's EXIF facts, or None when they do not determine a focal length.

    Args:
        size_hw: (height, width) in pixels of the (upright) image.
        exif: ``Image.exif``: ``focal_length_35mm`` and/or ``focal_length_mm`` (and optionally
            ``sensor_width_mm``) in millimetres.
        sensor_width_mm: the sensor width in mm along the image's horizontal axis, when known.

    Returns:
        Square-pixel intrinsics with a centred principal point and ``source`` starting with "exif", or None.
    """
    height, width = check_size_hw(size_hw)
    facts = dict(exif or {})
    f35 = facts.get("focal_length_35mm")
    fmm = facts.get("focal_length_mm")
    sw = sensor_width_mm if sensor_width_mm is not None else facts.get("sensor_width_mm")
    if isinstance(f35, (int, float)) and f35 > 0:
        f = float(f35) * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
        source = f"exif FocalLengthIn35mmFilm={float(f35):g} mm"
    elif isinstance(fmm, (int, float)) and fmm > 0 and isinstance(sw, (int, float)) and sw > 0:
        f = float(fmm) * width / float(sw)
        source = f"exif FocalLength={float(fmm):g} mm, sensor width {float(sw):g} mm"
    else:
        return None
    return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height, source)


def resolve_intrinsics(
    size_hw: tuple[int, int],
    *,
    focal_px: float | None = None,
    focal_y_px: float | None = None,
    cx_px: float | None = None,
    cy_px: float | None = None,
    fov_deg: float | None = None,
    exif: Mapping[str, Any] | None = None,
    sensor_width_mm: float | None = None,
    fallback: Intrinsics | None = None,
) -> Intrinsics:
    """The intrinsics to use for an image of ``size_hw``, by the order of preference in the module doc.

    Args:
        size_hw: (height, width) of the image in pixels.
        focal_px: focal length in pixels (``fx``; also ``fy`` unless ``focal_y_px`` is given).
        focal_y_px: vertical focal length in pixels, only together with ``focal_px`` (non-square pixels).
        cx_px, cy_px: principal point in pixels; they move the principal point of whichever rule applies.
        fov_deg: horizontal field of view in degrees, (0, 180).
        exif: the photo's EXIF facts (``Image.exif``).
        sensor_width_mm: sensor width for EXIF ``FocalLength`` in mm.
        fallback: intrinsics stored with the depth map (rescaled to this size when needed).

    Returns:
        :class:`Intrinsics` for ``size_hw``; ``source`` names the rule ("explicit", "fov 70 deg",
        "exif FocalLengthIn35mmFilm=26 mm", "depth file (...)", "default 60 deg hfov").

    Raises:
        ValidationError: non-positive focal lengths or sizes, ``focal_y_px`` without ``focal_px``, a field of view
            outside (0, 180).

    >>> round(resolve_intrinsics((480, 640), fov_deg=90.0).fx, 6)
    320.0
    """
    h, w = check_size_hw(size_hw)
    if (focal_y_px is not None) and focal_px is None:
        from depthforge.core.errors import ValidationError

        raise ValidationError(
            "focal_y_px: give focal_px (--fx) as well (a vertical focal length alone does not define a camera)"
        )
    if sensor_width_mm is not None:
        check_positive(sensor_width_mm, "sensor_width_mm")
    intr: Intrinsics | None
    if focal_px is not None:
        fxv = check_positive(focal_px, "focal_px")
        fyv = check_positive(focal_y_px, "focal_y_px") if focal_y_px is not None else fxv
        intr = Intrinsics(fxv, fyv, (w - 1) / 2.0, (h - 1) / 2.0, w, h, "explicit")
    elif fov_deg is not None:
        check_range(fov_deg, "fov_deg", low=0.0, high=180.0, low_inclusive=False, high_inclusive=False)
        intr = Intrinsics.from_fov((h, w), fov_deg=float(fov_deg), source=f"fov {float(fov_deg):g} deg")
    else:
        intr = intrinsics_from_exif((h, w), exif, sensor_width_mm=sensor_width_mm)
        if intr is None and fallback is not None and not fallback.source.startswith("default"):
            fb = fallback if fallback.size_hw == (h, w) else fallback.scaled((h, w))
            intr = replace(fb, source=fb.source if fb.source.startswith("depth file") else f"depth file ({fb.source})")
        if intr is None:
            intr = Intrinsics.default((h, w))
    if cx_px is not None:
        intr = replace(intr, cx=check_range(cx_px, "cx_px"))
    if cy_px is not None:
        intr = replace(intr, cy=check_range(cy_px, "cy_px"))
    return intr


def describe_intrinsics(intrinsics: Intrinsics) -> str:
    """One line for users: ``fx=... fy=... cx=... cy=... (hfov 63.2 deg; source)``."""
    i = intrinsics
    return (
        f"fx={i.fx:.2f} fy={i.fy:.2f} cx={i.cx:.2f} cy={i.cy:.2f} px for {i.width}x{i.height} "
        f"(hfov {i.hfov_deg:.1f} deg; {i.source})"
    )
