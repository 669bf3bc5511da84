"""Stereo inputs: splitting side-by-side / top-bottom images, validating a pair, and checking it is rectified.

Everything here works on RGB arrays in the image frame (x right, y down). A pair is *rectified* when a scene
point appears on the same row in both views, shifted left in the right view: ``x_right = x_left - d``, d >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.validation import check_array, check_choice

__all__ = ["RectificationReport", "check_rectified", "prepare_pair", "split_stereo", "texture_fraction"]

#: The layouts :func:`split_stereo` takes (the names of :func:`depthforge.stereo.compose`, plus ``sbs`` and ``tb``
#: for left-right and top-bottom): layout -> (axis it is split along, True when the right view comes first).
SPLIT_LAYOUTS = {
    "left-right": ("sbs", False),
    "half-left-right": ("sbs", False),
    "right-left": ("sbs", True),
    "sbs": ("sbs", False),
    "top-bottom": ("tb", False),
    "half-top-bottom": ("tb", False),
    "bottom-top": ("tb", True),
    "tb": ("tb", False),
}
#: Median vertical offset (px) of matched features above which a pair is refused as not rectified.
MAX_VERTICAL_OFFSET_PX = 1.5
#: Features needed before the rectification check says anything.
MIN_FEATURE_MATCHES = 20

_HOW_TO_RECTIFY = (
    "stereo matching needs a rectified pair (same rows in both views): rectify it first, e.g. with OpenCV "
    "(cv2.stereoRectify + cv2.initUndistortRectifyMap from a calibration, or cv2.stereoRectifyUncalibrated from "
    "point matches, then cv2.remap / cv2.warpPerspective), or use the camera's own rectified output; "
    "pass check=False (--no-check) to match anyway"
)


def split_stereo(image: np.ndarray, *, layout: str = "left-right") -> tuple[np.ndarray, np.ndarray]:
    """Split one stereo image into its two views.

    Args:
        image: (H, W) or (H, W, C) array holding both views: left | right for ``"left-right"`` (side by side),
            left over right for ``"top-bottom"``.
        layout: a name of :data:`SPLIT_LAYOUTS`, as :func:`depthforge.stereo.compose` names them:
            ``left-right`` (also ``sbs``, ``half-left-right``), ``right-left`` (cross-eyed: the right view first),
            ``top-bottom`` (also ``tb``, ``half-top-bottom``), ``bottom-top``.

    Returns:
        (left, right): two arrays of the input's dtype, each (H, W // 2[, C]) for sbs or (H // 2, W[, C]) for
        tb. An odd middle column/row is dropped. Copies, the input is not modified. Half-width (or
        half-height) images give squeezed views; stretch the resulting disparity back (``resize_depth``).

    Raises:
        ValidationError: unknown layout, or an image too small to split.
    """
    axis, swapped = SPLIT_LAYOUTS[check_choice(layout, "layout", tuple(SPLIT_LAYOUTS))]
    a = check_array(image, "image", ndim=(2, 3))
    h, w = a.shape[:2]
    if axis == "sbs":
        half = w // 2
        if half < 8:
            raise ValidationError(f"image: {w} px wide is too narrow to split side by side")
        first, second = a[:, :half].copy(), a[:, w - half :].copy()
    else:
        half = h // 2
        if half < 8:
            raise ValidationError(f"image: {h} px high is too low to split top-bottom")
        first, second = a[:half].copy(), a[h - half :].copy()
    return (second, first) if swapped else (first, second)


def _as_rgb8(a: np.ndarray | Image, name: str) -> np.ndarray:
    a = check_image(a, name, ndim=(2, 3), channels=(1, 3, 4), dtype_kind="uf")
    return to_uint8(Image.from_array(np.nan_to_num(a) if a.dtype.kind == "f" else a).rgb)  # grey to RGB, alpha off


def prepare_pair(left: np.ndarray | Image, right: np.ndarray | Image) -> tuple[np.ndarray, np.ndarray]:
    """Validate a stereo pair and bring both views to (H, W, 3) uint8 RGB.

    Args:
        left, right: :class:`Image` or (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, uint8/uint16 or float
            in [0, 1] (alpha is dropped, grayscale replicated).

    Raises:
        ValidationError: naming ``left``/``right`` for a wrong form, or when the sizes differ.
    """
    lft = _as_rgb8(left, "left")
    rgt = _as_rgb8(right, "right")
    if lft.shape != rgt.shape:
        raise ValidationError(
            f"right: the views must have the same size, left is {lft.shape[1]}x{lft.shape[0]}, right is "
            f"{rgt.shape[1]}x{rgt.shape[0]} (crop or resize them to one size; a rectified pair always has one)"
        )
    if min(lft.shape[:2]) < 8:
        raise ValidationError(f"left: {lft.shape[1]}x{lft.shape[0]} is too small to match (at least 8x8)")
    return lft, rgt


def texture_fraction(image: np.ndarray | Image, *, threshold: float = 4.0) -> float:
    """Share of pixels with a horizontal intensity gradient above ``threshold`` (grey levels per pixel).

    Args:
        image: (H, W, 3) RGB or (H, W) grey, or an :class:`Image`; uint16 and float in [0, 1] are brought to uint8
            first, so the threshold means the same on every dtype.

    Returns:
        A fraction in [0, 1]; near 0 for a single-colour image, where stereo matching has nothing to match.
    """
    import cv2

    pixels = to_uint8(check_image(image, "image", ndim=(2, 3), channels=(1, 3, 4)))  # user trial 8: unchecked
    grey = cv2.cvtColor(pixels[:, :, :3], cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 and pixels.shape[2] >= 3 else pixels
    grey = np.ascontiguousarray(grey.reshape(grey.shape[0], grey.shape[1]))
    gx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
    return float(np.mean(np.abs(gx) > 4.0 * threshold))  # the 3x3 Sobel weighs a unit step 4x


@dataclass(frozen=True)
class RectificationReport:
    """What feature matching says about a pair.

    Attributes:
        matches: number of cross-checked feature matches used.
        vertical_offset_px: median |y_right - y_left| of the matches (0 for a rectified pair), NaN when too few.
        negative_fraction: share of matches with x_right > x_left (near 1 when left and right are swapped, and
            large for converged views such as 3D-film frames, where things behind the screen have d < 0).
        low_disparity_px: 2nd percentile of the matches' disparities x_left - x_right (NaN when too few).
    """

    matches: int
    vertical_offset_px: float
    negative_fraction: float
    low_disparity_px: float = float("nan")

    @property
    def conclusive(self) -> bool:
        """True when there were enough matches to judge."""
        return self.matches >= MIN_FEATURE_MATCHES

    @property
    def rectified(self) -> bool:
        """False only when enough matches show a vertical offset or swapped views."""
        if not self.conclusive:
            return True
        return self.vertical_offset_px <= MAX_VERTICAL_OFFSET_PX and self.negative_fraction <= 0.5

    def suggested_min_disparity(self) -> int:
        """A ``min_disparity_px`` covering the features' negative disparities (0 when there are none)."""
        if not self.conclusive or not np.isfinite(self.low_disparity_px) or self.low_disparity_px >= 0:
            return 0
        return -16 * int(np.ceil((-self.low_disparity_px + 4.0) / 16.0))

    def problem(self) -> str | None:
        """A one-sentence explanation with what to do, or None when the pair looks fine."""
        if self.rectified:
            return None
        if self.vertical_offset_px > MAX_VERTICAL_OFFSET_PX:
            return (
                f"the pair does not look rectified: matching features are a median {self.vertical_offset_px:.1f} px "
                f"apart vertically ({self.matches} matches; rectified views share rows); {_HOW_TO_RECTIFY}"
            )
        return (
            f"left and right look swapped: {self.negative_fraction:.0%} of {self.matches} matching features sit "
            "further right in the right view; swap the two inputs, or, for converged views (3D-film frames), "
            f"search negative disparities with --min-disparity {self.suggested_min_disparity()} "
            "(min_disparity_px; the output is then relative depth)"
        )


def check_rectified(left: np.ndarray | Image, right: np.ndarray | Image, *, features: int = 300) -> RectificationReport:
    """Judge whether a pair is rectified from sparse ORB feature matches (a few tens of milliseconds).

    Args:
        left, right: (H, W, 3) uint8 RGB views of the same size (see :func:`prepare_pair`), or :class:`Image`.
        features: ORB features per view.

    Returns:
        A :class:`RectificationReport`; ``report.problem()`` gives the user-facing message when it fails.
    """
    import cv2

    views = check_image(left, "left", dtype_kind="u"), check_image(right, "right", dtype_kind="u")
    orb = cv2.ORB.create(nfeatures=features, nlevels=4)
    (ka, da), (kb, db) = (orb.detectAndCompute(cv2.cvtColor(to_uint8(v), cv2.COLOR_RGB2GRAY), None) for v in views)
    if da is None or db is None or len(ka) < 2 or len(kb) < 2:
        return RectificationReport(0, float("nan"), float("nan"))
    found = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    good = [m for m in found if m.distance <= 48]
    if not good:
        return RectificationReport(0, float("nan"), float("nan"))
    pa = np.array([ka[m.queryIdx].pt for m in good], dtype=np.float64)
    pb = np.array([kb[m.trainIdx].pt for m in good], dtype=np.float64)
    dy = np.abs(pb[:, 1] - pa[:, 1])
    dx = pa[:, 0] - pb[:, 0]
    return RectificationReport(
        len(good), float(np.median(dy)), float(np.mean(dx < -0.5)), float(np.percentile(dx, 2.0))
    )
