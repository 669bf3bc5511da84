"""Choosing intrinsics: explicit > fov > EXIF > depth file > default, always saying which."""

from __future__ import annotations

import math

import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.intrinsics import Intrinsics
from depthforge.geometry.camera import describe_intrinsics, intrinsics_from_exif, resolve_intrinsics


def test_explicit_wins_and_defaults_centre() -> None:
    k = resolve_intrinsics((480, 640), focal_px=500, fov_deg=90, exif={"focal_length_35mm": 26})
    assert (k.fx, k.fy, k.cx, k.cy, k.source) == (500, 500, 319.5, 239.5, "explicit")
    k = resolve_intrinsics((480, 640), focal_px=500, focal_y_px=510, cx_px=300, cy_px=200)
    assert (k.fy, k.cx, k.cy) == (510, 300, 200)


def test_fov() -> None:
    k = resolve_intrinsics((480, 640), fov_deg=90, exif={"focal_length_35mm": 26})
    assert k.fx == pytest.approx(320.0) and k.source == "fov 90 deg"
    with pytest.raises(ValidationError, match="fov"):
        resolve_intrinsics((480, 640), fov_deg=180)


def test_exif_35mm_uses_the_diagonal() -> None:
    # a 3:2 image: the 35 mm rule equals 36 mm across the width
    k = resolve_intrinsics((2000, 3000), exif={"focal_length_35mm": 36.0, "focal_length_mm": 4.2})
    assert k.fx == pytest.approx(3000.0, rel=1e-9) and k.source.startswith("exif FocalLengthIn35mmFilm")
    k43 = intrinsics_from_exif((3000, 4000), {"focal_length_35mm": 26})
    assert k43 is not None and k43.fx == pytest.approx(26 * 5000 / math.hypot(36, 24))


def test_exif_focal_mm_needs_sensor_width() -> None:
    assert intrinsics_from_exif((3000, 4000), {"focal_length_mm": 5.0}) is None
    k = resolve_intrinsics((3000, 4000), exif={"focal_length_mm": 5.0}, sensor_width_mm=6.4)
    assert k.fx == pytest.approx(5.0 * 4000 / 6.4) and "sensor width" in k.source


def test_no_exif_falls_back_to_stated_default_or_depth_file() -> None:
    k = resolve_intrinsics((480, 640), exif={})
    assert k.source.startswith("default") and k.hfov_deg == pytest.approx(60.0)
    assert "default 60 deg hfov" in describe_intrinsics(k)
    stored = Intrinsics(1000.0, 1000.0, 639.5, 479.5, 1280, 960, "depth-pro fov")
    k = resolve_intrinsics((480, 640), fallback=stored)
    assert k.fx == pytest.approx(500.0) and k.source.startswith("depth file")
    # a stored default does not count as knowledge
    assert resolve_intrinsics((480, 640), fallback=Intrinsics.default((480, 640))).source.startswith("default")


def test_bad_values() -> None:
    with pytest.raises(ValidationError, match="focal_px"):
        resolve_intrinsics((480, 640), focal_px=-1)
    with pytest.raises(ValidationError, match="focal_y_px: give focal_px"):
        resolve_intrinsics((480, 640), focal_y_px=500)
    with pytest.raises(ValidationError, match=r"size_hw: expected \(height, width\)"):
        resolve_intrinsics(640)  # type: ignore[arg-type]
