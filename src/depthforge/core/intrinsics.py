"""Pinhole camera intrinsics in the OpenCV frame (x right, y down, z forward; pixel centres at integers)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_positive, check_range, check_size_hw

__all__ = ["Intrinsics", "DEFAULT_HFOV_DEG"]

#: Horizontal field of view assumed when nothing better is known (a typical phone main camera).
DEFAULT_HFOV_DEG = 60.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``.

    Attributes:
        fx, fy: focal lengths in pixels (> 0).
        cx, cy: principal point in pixels (pixel centres at integer coordinates).
        width, height: the image size these intrinsics belong to, in pixels.
        source: how they were obtained ("explicit", "fov", "exif", "default", ...), reported to users.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    source: str = "explicit"

    def __post_init__(self) -> None:
        check_positive(self.fx, "fx")
        check_positive(self.fy, "fy")
        check_positive(self.width, "width")
        check_positive(self.height, "height")
        check_range(self.cx, "cx")
        check_range(self.cy, "cy")

    @classmethod
    def from_fov(cls, size_hw: tuple[int, int], *, fov_deg: float, source: str = "fov") -> Intrinsics:
        """Square pixels, centred principal point, horizontal field of view ``fov_deg`` in (0, 180) degrees, for
        an image of ``size_hw`` = (height, width) pixels.

        >>> round(Intrinsics.from_fov((480, 640), fov_deg=90.0).fx, 6)
        320.0
        """
        height, width = check_size_hw(size_hw)
        check_range(fov_deg, "fov_deg", low=0.0, high=180.0, low_inclusive=False, high_inclusive=False)
        f = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
        if not math.isfinite(f):  # a field of view of ~1e-300 degrees
            raise ValidationError(f"fov_deg: {fov_deg:g} is too narrow (the focal length would be infinite)")
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height, source)

    @classmethod
    def default(cls, size_hw: tuple[int, int]) -> Intrinsics:
        """The stated default for an image of ``size_hw`` = (height, width): :data:`DEFAULT_HFOV_DEG` horizontal
        field of view."""
        return cls.from_fov(size_hw, fov_deg=DEFAULT_HFOV_DEG, source=f"default {DEFAULT_HFOV_DEG:g} deg hfov")

    @property
    def size_hw(self) -> tuple[int, int]:
        """(height, width) of the image these intrinsics belong to."""
        return (self.height, self.width)

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    def scaled(self, size_hw: tuple[int, int]) -> Intrinsics:
        """Intrinsics for the same camera with the image resized to ``size_hw`` = (height, width).

        Pixel centres at integers: a coordinate u maps to (u + 0.5) * s - 0.5.
        """
        height, width = check_size_hw(size_hw)
        sx = width / self.width
        sy = height / self.height
        return replace(
            self,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=width,
            height=height,
        )

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dictionary for sidecars and metadata (the fields in order)."""
        return asdict(self)
