"""Virtual camera poses and paths for parallax ("3D photo") videos.

A pose moves a virtual pinhole camera relative to the one that took the photo, in units that need no metric
depth. With ``n`` the pixel's *nearness* (inverse depth scaled so the nearest point has ``n = 1``, see
:func:`depthforge.render.parallax.nearness`) and the principal point at the image centre ``(cx, cy)``, the
source pixel ``(u, v)`` is seen at (OpenCV frame: x right, y down)::

    u' = cx + zoom * ((u - cx) - x * (n - focus)) / (1 - z * n)
    v' = cy + zoom * ((v - cy) - y * (n - focus)) / (1 - z * n)

* ``x``, ``y``: sideways camera translation, expressed as the image shift in pixels of a point at ``n = 1``
  (camera to the right = positive ``x`` = the scene moves left, as in ``x_right = x_left - d``). For a
  disparity map with ``n = d / d_max``, ``x = d_max`` is exactly one stereo baseline.
* ``z``: forward translation as a fraction of the distance to the nearest point (0 <= z < 1).
* ``focus``: nearness of the steady plane, whose image does not move sideways (lens shift).
* ``zoom``: magnification; dolly-zoom sets ``zoom = 1 - z * focus`` so the focus plane keeps its size.

Paths are lists of poses, one per frame, made by :func:`camera_path` from a preset and an easing;
:func:`plan_motion` makes a clip's path from its duration and amplitude (% of the width) and the fill width its
disocclusions need (:func:`max_disocclusion_px`).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_choice, check_range, check_size_hw
from depthforge.render.stereo import NEARNESS_RANGE

__all__ = [
    "CameraPose",
    "MOTIONS",
    "EASINGS",
    "ease",
    "camera_path",
    "frame_count",
    "max_disocclusion_px",
    "plan_motion",
]

MOTIONS = ("circle", "swing", "swing-vertical", "zoom-in", "dolly", "orbit", "dolly-zoom", "linear", "static")
EASINGS = ("linear", "sine", "quad", "cubic")


@dataclass(frozen=True)
class CameraPose:
    """One virtual camera position (see the module docstring for the units).

    Attributes:
        x: sideways shift in px of a point of nearness 1 (positive = camera to the right).
        y: vertical shift in px of a point of nearness 1 (positive = camera down).
        z: forward move as a fraction of the nearest distance, in [0, 0.95] (negative = backwards, >= -1).
        zoom: magnification > 0 (1 = none).
    """

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    zoom: float = 1.0

    def __post_init__(self) -> None:
        check_range(self.x, "x")
        check_range(self.y, "y")
        check_range(self.z, "z", low=-1.0, high=0.95)
        check_range(self.zoom, "zoom", low=0.05, high=20.0)

    @property
    def is_identity(self) -> bool:
        """True when the pose reproduces the input view."""
        return self.x == 0.0 and self.y == 0.0 and self.z == 0.0 and self.zoom == 1.0


def ease(t: float, easing: str = "sine") -> float:
    """Map a phase ``t`` in [0, 1] to [0, 1] (ease(0) = 0, ease(1) = 1).

    ``linear``; ``sine`` (ease in and out along a half cosine); ``quad`` and ``cubic`` (in-out polynomials).

    >>> ease(0.5, "cubic"), ease(0.25, "linear")
    (0.5, 0.25)
    """
    check_choice(easing, "easing", EASINGS)
    t = min(1.0, max(0.0, float(t)))
    if easing == "linear":
        return t
    if easing == "sine":
        return 0.5 - 0.5 * math.cos(math.pi * t)
    p = 2 if easing == "quad" else 3
    if t < 0.5:
        return 0.5 * (2.0 * t) ** p
    return 1.0 - 0.5 * (2.0 - 2.0 * t) ** p


def _swing(u: float, easing: str) -> float:
    """A swing at phase ``u`` of its cycle, in [-1, 1]: 0 at ``u = 0``, 1 at 0.25, -1 at 0.75, eased between
    those turning points (``sine``: ``sin(2 pi u)``)."""
    v = (u + 0.25) % 1.0
    x = min(2.0 * v, 2.0 - 2.0 * v)
    return ease(x, easing) - ease(1.0 - x, easing)  # 2 ease(x) - 1 for these symmetric easings, exactly 0 mid-way


@renamed_keywords(duration="duration_s")
def frame_count(duration_s: float, fps: float) -> int:
    """Number of frames of a clip: ``round(duration_s * fps)``, at least 2."""
    d = check_range(duration_s, "duration_s", low=0.0, low_inclusive=False, high=36000.0)
    f = check_range(fps, "fps", low=0.0, low_inclusive=False, high=240.0)
    return max(2, round(d * f))


def camera_path(
    motion: str,
    *,
    frames: int,
    amplitude_px: float,
    dolly: float = 0.1,
    focus: float = 0.5,
    loop: bool = True,
    easing: str = "sine",
    start: CameraPose | tuple[float, ...] | None = None,
    end: CameraPose | tuple[float, ...] | None = None,
) -> list[CameraPose]:
    """One pose per frame for a motion preset.

    With ``loop`` (seamless), frame ``i`` of ``n`` sits at phase ``u = i / n``: the clip is one cycle and its next
    frame would be the first again, so a player looping it shows no frame twice. Without ``loop``, ``u = i / (n - 1)``
    and the last frame reaches the end of the path. The easing shapes the motion between its turning points (how
    the camera slows into each end); ``sine`` gives simple harmonic motion.

    * ``circle``: ``x = A sin(2 pi u)``, ``y = A cos(2 pi u)``, at a steady speed (a circle has no turning
      points; the easing does not apply).
    * ``swing`` / ``swing-vertical``: ``x`` (or ``y``) from 0 out to ``A``, across to ``-A`` and back, eased at
      each end (with ``sine``: ``A sin(2 pi u)``).
    * ``zoom-in`` / ``dolly``: forward by ``dolly`` (fraction of the nearest distance); everything grows, the
      near more than the far. With ``loop``, out and back, eased at both ends.
    * ``dolly-zoom`` (vertigo): forward while zooming out so the focus plane keeps its size.
    * ``orbit``: the sideways swing with a forward arc that is furthest at the swing's middle
      (with ``sine``: ``x = A sin(2 pi u)``, ``z = dolly (1 - cos(2 pi u)) / 2``).
    * ``linear``: from ``start`` to ``end`` (poses; default: the input view to ``x = A``); out and back with
      ``loop``.
    * ``static``: the input view in every frame.

    Args:
        motion: one of :data:`MOTIONS`.
        frames: number of frames, >= 1.
        amplitude_px: ``A``, sideways amplitude in px of a point of nearness 1.
        dolly: forward travel for the zoom/orbit presets, fraction of the nearest distance in [0, 0.9].
        focus: nearness of the steady plane (used by dolly-zoom for the zoom compensation).
        loop: seamless loop (the frame after the last would be the first).
        easing: one of :data:`EASINGS`.
        start, end: the linear path's end poses: :class:`CameraPose` or its numbers ``(x, y[, z[, zoom]])``.

    Returns:
        list of ``frames`` :class:`CameraPose`.
    """
    check_choice(motion, "motion", MOTIONS)
    check_choice(easing, "easing", EASINGS)
    if not isinstance(frames, int) or frames < 1:
        raise ValidationError(f"frames: expected an integer >= 1, got {frames!r}")
    a = check_range(amplitude_px, "amplitude_px", low=0.0)
    dz = check_range(dolly, "dolly", low=0.0, high=0.9)
    f = check_range(focus, "focus", low=NEARNESS_RANGE[0], high=NEARNESS_RANGE[1])
    p0 = CameraPose() if start is None else _as_pose(start, "start")
    p1 = CameraPose(x=a) if end is None else _as_pose(end, "end")
    poses = []
    for i in range(frames):
        u = i / frames if loop else i / max(1, frames - 1)
        # out and back (one-way presets with loop, the orbit's arc): eased on the way out and on the way back
        w = ease(min(2.0 * u, 2.0 - 2.0 * u), easing) if loop else ease(u, easing)
        if motion == "circle":
            phi = 2.0 * math.pi * u
            poses.append(CameraPose(x=a * math.sin(phi), y=a * math.cos(phi)))
        elif motion == "swing":
            poses.append(CameraPose(x=a * _swing(u, easing)))
        elif motion == "swing-vertical":
            poses.append(CameraPose(y=a * _swing(u, easing)))
        elif motion in ("zoom-in", "dolly"):
            poses.append(CameraPose(z=dz * w))
        elif motion == "dolly-zoom":
            z = dz * w
            poses.append(CameraPose(z=z, zoom=max(0.05, 1.0 - z * f)))
        elif motion == "orbit":
            arc = ease(min(2.0 * u, 2.0 - 2.0 * u), easing)
            poses.append(CameraPose(x=a * _swing(u, easing), z=dz * arc))
        elif motion == "linear":
            poses.append(CameraPose(*(a0 + (a1 - a0) * w for a0, a1 in zip(astuple(p0), astuple(p1), strict=True))))
        else:
            poses.append(CameraPose())
    return poses


def _as_pose(value: object, name: str) -> CameraPose:
    """A :class:`CameraPose`, or its numbers ``(x, y[, z[, zoom]])`` (user trial 8: ``end=(3, 0)``, the CLI's
    ``--end 3,0`` in Python, was a TypeError)."""
    if isinstance(value, CameraPose):
        return value
    if isinstance(value, (tuple, list)) and 1 <= len(value) <= 4:
        try:
            return CameraPose(*(check_range(v, name) for v in value))
        except ValidationError as exc:  # review: "z: 5 is above ..." for end=(0, 0, 5)
            raise ValidationError(f"{name}: {exc}" if not str(exc).startswith(f"{name}:") else str(exc)) from None
    raise ValidationError(f"{name}: a CameraPose or its numbers (x, y[, z[, zoom]]), got {value!r:.60}")


def max_disocclusion_px(
    poses: list[CameraPose] | tuple[CameraPose, ...], *, size_hw: tuple[int, int], focus: float = 0.5
) -> float:
    """The widest gap (px) the poses can open between a point of nearness 1 and one of nearness 0 at the same
    pixel: the largest disocclusion a layered scene must fill behind its nearer layers.

    With the mapping of the module docstring, the two points of pixel (u, v) land ``zoom * ((u - cx) - x (1 -
    focus)) / (1 - z) - zoom * ((u - cx) + x focus)`` apart along x (likewise along y), an affine function of u
    that is largest at a corner of the frame. Nearness differences are at most 1, so this bounds every depth
    edge of the scene.

    Args:
        poses: the camera path (e.g. :func:`camera_path`).
        size_hw: (height, width) of the image in px.
        focus: nearness of the steady plane (as given to the renderer).

    Returns:
        float px >= 0 (0 for the identity pose).

    >>> max_disocclusion_px([CameraPose(x=12.0), CameraPose(x=-5.0)], size_hw=(100, 200))
    12.0
    """
    if not poses or not all(isinstance(p, CameraPose) for p in poses):
        raise ValidationError("poses: expected a non-empty list of CameraPose")
    h, w = check_size_hw(size_hw)
    f = check_range(focus, "focus", low=NEARNESS_RANGE[0], high=NEARNESS_RANGE[1])
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    reach = 0.0
    for p in poses:
        g = 1.0 / (1.0 - p.z)
        for du in (-cx, cx):
            for dv in (-cy, cy):
                # near point (n = 1) minus far point (n = 0)
                gap_x = p.zoom * ((du - p.x * (1.0 - f)) * g - du - p.x * f)
                gap_y = p.zoom * ((dv - p.y * (1.0 - f)) * g - dv - p.y * f)
                reach = max(reach, math.hypot(gap_x, gap_y))
    return reach


@renamed_keywords(duration="duration_s")
def plan_motion(
    size_hw: tuple[int, int],
    *,
    motion: str = "circle",
    duration_s: float = 4.0,
    fps: float = 30.0,
    amplitude: float = 2.0,
    dolly: float | None = None,
    focus: float = 0.5,
    loop: bool = True,
    easing: str = "sine",
    start: CameraPose | tuple[float, ...] | None = None,
    end: CameraPose | tuple[float, ...] | None = None,
) -> tuple[list[CameraPose], float]:
    """The poses of a parallax clip and the largest disocclusion they reveal (px), to build the scene with
    (``build_layers(..., reach_px=reach)``).

    Args:
        size_hw: (height, width) of the image, px.
        motion, easing, loop, focus, start, end: see :func:`camera_path` (``start`` and ``end`` are
            :class:`CameraPose`, whose shifts are in pixels, not in % of the width as ``amplitude``).
        duration_s: seconds; fps: frames per second (``round(duration_s * fps)`` frames, at least 2).
        amplitude: sideways amplitude in % of the width for a point of nearness 1 (as the stereo
            ``divergence``); :func:`camera_path` takes it in pixels as ``amplitude_px``.
        dolly: forward travel for zoom/orbit presets, fraction of the nearest distance (None = 4 * amplitude %).

    Returns:
        (poses, reach_px).
    """
    frames = frame_count(duration_s, fps)
    amp = check_range(amplitude, "amplitude", low=0.0, high=50.0)
    dz = min(0.9, 4.0 * amp / 100.0) if dolly is None else dolly
    poses = camera_path(
        motion,
        frames=frames,
        amplitude_px=amp / 100.0 * size_hw[1],
        dolly=dz,
        focus=focus,
        loop=loop,
        easing=easing,
        start=start,
        end=end,
    )
    return poses, max_disocclusion_px(poses, size_hw=size_hw, focus=focus)
