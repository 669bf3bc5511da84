"""Choosing camera intrinsics: explicit values, a field of view, the photo's EXIF, or the stated default.

The order of preference (first that applies wins) is:

1. explicit ``fx`` (``fy`` defaults to ``fx``; ``cx``, ``cy`` default to the image centre ``(W - 1) / 2``,
   ``(H - 1) / 2``, pixel centres at integers);
2. a horizontal field of view ``hfov_deg``;
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
from typing import Any

from depthforge.core.intrinsics import Intrinsics
from depthforge.core.validation import check_positive, check_range

__all__ = ["resolve_intrinsics", "intrinsics_from_exif", "describe_intrinsics", "FULL_FRAME_DIAGONAL_MM", "is_default"]

#: Diagonal of a 36 x 24 mm frame, the reference of 35 mm-equivalent focal lengths.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def is_default(intrinsics: Intrinsics | None) -> bool:
    """True when ``intrinsics`` is missing or was itself only the stated default."""
    return intrinsics is None or intrinsics.source.startswith("default")


def intrinsics_from_exif(
    width: int, height: int, exif: Mapping[str, Any] | None, *, sensor_width_mm: float | None = None
) -> Intrinsics | None:
    """Intrinsics from a photo's EXIF facts, or None when they do not determine a focal length.

    Args:
        width, height: size in pixels of the (upright) image.
        exif: ``Image.exif``: ``focal_length_35mm`` and/or ``focal_length_mm`` (and optionally
            ``sensor_width_mm``) in millimetres.
        sensor_width_mm: the sensor width in mm along the image's horizontal axis, when known.

    Returns:
        Square-pixel intrinsics with a centred principal point and ``source`` starting with "exif", or None.
    """
    facts = dict(exif or {})
    diag = math.hypot(width, height)
    f35 = facts.get("focal_length_35mm")
    if isinstance(f35, (int, float)) and f35 > 0:
        f = float(f35) * diag / FULL_FRAME_DIAGONAL_MM
        return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height),
                          f"exif FocalLengthIn35mmFilm={float(f35):g} mm")
    fmm = facts.get("focal_length_mm")
    sw = sensor_width_mm if sensor_width_mm is not None else facts.get("sensor_width_mm")
    if isinstance(fmm, (int, float)) and fmm > 0 and isinstance(sw, (int, float)) and sw > 0:
        f = float(fmm) * width / float(sw)
        return Intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height),
                          f"exif FocalLength={float(fmm):g} mm, sensor width {float(sw):g} mm")
    return None


def resolve_intrinsics(
    width: int,
    height: int,
    *,
    fx: float | None = None,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    hfov_deg: float | None = None,
    exif: Mapping[str, Any] | None = None,
    sensor_width_mm: float | None = None,
    fallback: Intrinsics | None = None,
) -> Intrinsics:
    """The intrinsics to use for a ``width`` x ``height`` image, by the order of preference in the module doc.

    Args:
        width, height: image size in pixels.
        fx, fy, cx, cy: explicit pinhole parameters in pixels (``fy``/``cx``/``cy`` only together with ``fx``,
            or ``cx``/``cy`` alone to move the principal point of any other rule).
        hfov_deg: horizontal field of view in degrees, (0, 180).
        exif: the photo's EXIF facts (``Image.exif``).
        sensor_width_mm: sensor width for EXIF ``FocalLength`` in mm.
        fallback: intrinsics stored with the depth map (rescaled to this size when needed).

    Returns:
        :class:`Intrinsics` for ``width`` x ``height``; ``source`` names the rule ("explicit", "fov 70 deg",
        "exif FocalLengthIn35mmFilm=26 mm", "depth file (...)", "default 60 deg hfov").

    Raises:
        ValidationError: non-positive focal lengths or sizes, ``fy`` without ``fx``, a field of view outside (0, 180).
    """
    check_positive(width, "width")
    check_positive(height, "height")
    w, h = int(width), int(height)
    if (fy is not None) and fx is None:
        from depthforge.core.errors import ValidationError

        raise ValidationError("fy: give --fx as well (fy alone does not define a camera)")
    if sensor_width_mm is not None:
        check_positive(sensor_width_mm, "sensor_width_mm")
    intr: Intrinsics | None
    if fx is not None:
        fxv = check_positive(fx, "fx")
        fyv = check_positive(fy, "fy") if fy is not None else fxv
        intr = Intrinsics(fxv, fyv, (w - 1) / 2.0, (h - 1) / 2.0, w, h, "explicit")
    elif hfov_deg is not None:
        check_range(hfov_deg, "fov", low=0.0, high=180.0, low_inclusive=False, high_inclusive=False)
        intr = Intrinsics.from_fov(w, h, hfov_deg=float(hfov_deg), source=f"fov {float(hfov_deg):g} deg")
    else:
        intr = intrinsics_from_exif(w, h, exif, sensor_width_mm=sensor_width_mm)
        if intr is None and fallback is not None and not is_default(fallback):
            fb = fallback if (fallback.width, fallback.height) == (w, h) else fallback.scaled(w, h)
            src = fb.source if fb.source.startswith("depth file") else f"depth file ({fb.source})"
            intr = Intrinsics(fb.fx, fb.fy, fb.cx, fb.cy, w, h, src)
        if intr is None:
            intr = Intrinsics.default(w, h)
    if cx is not None or cy is not None:
        intr = Intrinsics(
            intr.fx,
            intr.fy,
            check_range(cx, "cx") if cx is not None else intr.cx,
            check_range(cy, "cy") if cy is not None else intr.cy,
            w,
            h,
            intr.source,
        )
    return intr


def describe_intrinsics(intrinsics: Intrinsics) -> str:
    """One line for users: ``fx=... fy=... cx=... cy=... (hfov 63.2 deg; source)``."""
    i = intrinsics
    return (
        f"fx={i.fx:.2f} fy={i.fy:.2f} cx={i.cx:.2f} cy={i.cy:.2f} px for {i.width}x{i.height} "
        f"(hfov {i.hfov_deg:.1f} deg; {i.source})"
    )

