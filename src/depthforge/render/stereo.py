"""Stereoscopic views from one image and its depth: eye synthesis and wiggle frames.

Arranging the two views in one image (side by side, top-bottom, anaglyph) is :func:`depthforge.stereo.compose`.

The general path makes an eye by :func:`depthforge.render.warp.forward_warp` (sub-pixel splatting, nearer pixels
win) and :func:`depthforge.render.warp.fill_holes_background` (disocclusions take the far side's colours).
:func:`render_stereo` and :func:`render_eye` run one compiled kernel instead (``render/_stereo_numba.py``): the
depth is prepared once, each row's parallax is shared by the eyes asked for, the thread budget's threads split the
rows, and the views are bit-identical to the general path's (which still takes the rare rows the kernel hands
back).

Parallax, in pixels, for a pixel of normalised nearness ``n`` in [0, 1] (1 = nearest):

* normalised mode (relative or metric depth): ``P = divergence% * W * (n ** exponent - convergence)``; ``n``
  comes from inverse depth (1/z for metric) scaled to [0, 1] over the valid pixels. ``convergence`` in [0, 1]
  is the nearness that stays on the screen plane (0 = the farthest point, everything pops out).
* exact mode (a ``disparity`` map): ``P = d - convergence`` with ``d`` the disparity in pixels, no scaling.

The left eye moves by ``+(1 + balance) / 2 * P + separation / 2`` and the right eye by
``-(1 - balance) / 2 * P - separation / 2`` (separation in % of the width). ``balance`` -1 keeps the input as
the left eye (exact mode default, Middlebury convention ``x_right = x_left - d``), 0 splits the parallax
(normalised mode default), +1 keeps the input as the right eye.

Bad depth: invalid pixels (NaN, inf, <= 0 for metric/disparity) are treated as the background next to them
(filled along the row from the farther side); a map without any valid pixel is refused; a constant map has
no relief (normalised mode: every pixel at nearness 0, a uniform shift). Depth of another size than the image
is refused here (``ValidationError``); the CLI resamples it to the image with a notice.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from depthforge.core.depthmap import DepthMap, depth_arrays, nan_min_max
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image
from depthforge.core.validation import (
    check_array,
    check_choice,
    check_instance,
    check_positive,
    check_range,
    check_same_hw,
)
from depthforge.process.fill import fill_from_background
from depthforge.render.warp import fill_holes_background, forward_warp

__all__ = [
    "NEARNESS_RANGE",
    "StereoParams",
    "check_image_depth",
    "eye_parallax",
    "fill_invalid_background",
    "render_eye",
    "render_stereo",
    "wiggle_frames",
]

Eye = Literal["left", "right"]


#: Nearness allowed for a plane that stays put (convergence, a parallax clip's focus): 0 = farthest, 1 = nearest,
#: beyond for a plane behind or in front of the scene.
NEARNESS_RANGE = (-1.0, 2.0)


class StereoParams:
    """Stereo parameters, validated once (see the module docstring for their meaning).

    Args:
        divergence: total parallax range in % of the image width (normalised mode), >= 0. Default 2.5.
        convergence: normalised mode: nearness on the screen plane, 0 = farthest, 1 = nearest (-1..2 allowed: a
            plane behind or in front of the scene); exact mode: disparity in px.
        balance: -1..1, share of the parallax carried by each eye (None = mode default).
        separation: extra constant shift between the eyes in % of the width, the same for every point: positive
            brings the whole scene nearer (out of the screen), negative pushes it back (user trial 8: said farther).
        exponent: nearness exponent > 0 (normalised mode), > 1 flattens the background.
        exact: None = exact when the depth is a disparity map; True/False to force.
    """

    def __init__(
        self,
        *,
        divergence: float = 2.5,
        convergence: float = 0.0,
        balance: float | None = None,
        separation: float = 0.0,
        exponent: float = 1.0,
        exact: bool | None = None,
    ) -> None:
        self.divergence = check_range(divergence, "divergence", low=0.0, high=100.0)
        self.convergence = check_range(convergence, "convergence")
        self.balance = None if balance is None else check_range(balance, "balance", low=-1.0, high=1.0)
        self.separation = check_range(separation, "separation", low=-100.0, high=100.0)
        self.exponent = check_positive(exponent, "exponent")
        self.exact = exact


def check_image_depth(image: np.ndarray | Image, depth: DepthMap, **checks: Any) -> np.ndarray:
    """The pixel array of ``image`` (checked by :func:`~depthforge.core.image.check_image` with ``checks``), once
    ``depth`` is known to be a :class:`DepthMap` of the image's size."""
    img = check_image(image, **checks)
    if not isinstance(depth, DepthMap):
        raise ValidationError(f"depth: expected a DepthMap, got {type(depth).__name__}")
    if depth.shape != img.shape[:2]:
        raise ValidationError(
            f"depth: size {depth.shape[1]}x{depth.shape[0]} does not match the image {img.shape[1]}x{img.shape[0]} "
            "(resample it with depthforge.process.resample.resize_depth)"
        )
    return img


def fill_invalid_background(values: np.ndarray) -> np.ndarray:
    """Replace NaN/inf along each row by the farther (smaller) of the nearest valid values on either side
    (:func:`depthforge.process.fill.fill_from_background`).

    Args:
        values: (H, W) float, larger = nearer (inverse depth or disparity), NaN/inf = invalid.

    Returns:
        (H, W) float32 without invalid values; rows without any valid pixel take the global minimum.

    Raises:
        ValidationError: when no pixel is valid.
    """
    v = np.asarray(values, dtype=np.float32)
    ok = np.isfinite(v)
    if ok.all():
        return v.copy()
    if not ok.any():
        raise ValidationError("depth: no valid pixel (all NaN, infinite or non-positive)")
    out = fill_from_background(v, ~ok)
    out[np.isnan(out)] = v[ok].min()
    return out


def _exact_mode(depth: DepthMap, params: StereoParams) -> bool:
    """Whether ``params`` on ``depth`` means exact mode (pixels move by their disparity), with the convergence
    checked in that mode's unit."""
    exact = depth.kind == "disparity" if params.exact is None else bool(params.exact)
    if exact and depth.kind != "disparity":
        raise ValidationError(f"exact: exact mode needs a disparity map (pixels), this one is {depth.kind}")
    if not exact and not NEARNESS_RANGE[0] <= params.convergence <= NEARNESS_RANGE[1]:
        raise ValidationError(
            f"convergence: {params.convergence:g} is outside -1..2; here it is the screen plane's nearness "
            "(0 = farthest, 1 = nearest), not a disparity in pixels (that is exact mode's, for a disparity map)"
        )
    return exact


def check_params(params: object) -> StereoParams:
    """``params`` when it is a :class:`StereoParams`, else a one-line error (user trial 8: a dict was an
    AttributeError deep in the renderer)."""
    return check_instance(params, "params", StereoParams, example="StereoParams(divergence=2.0)")  # type: ignore[no-any-return]


def eye_parallax(depth: DepthMap, *, width: int, params: StereoParams) -> tuple[np.ndarray, bool]:
    """Parallax P in pixels (larger = nearer) for every pixel and whether exact mode was used.

    Args:
        depth: (H, W) depth map of any kind.
        width: the image width in pixels (divergence is a share of it).
        params: the stereo parameters.

    Returns:
        ((H, W) float32 parallax in pixels, exact flag).
    """
    check_params(params)
    exact = _exact_mode(depth, params)
    inv = fill_invalid_background(depth.inverse_depth())
    if exact:
        return (inv - np.float32(params.convergence)).astype(np.float32), True
    lo, hi = float(inv.min()), float(inv.max())
    near = inv  # a fresh array: updated in place below (same float32 arithmetic, fewer passes)
    if hi > lo:
        near -= np.float32(lo)
        near /= np.float32(hi - lo)
    else:
        near.fill(0.0)
    if params.exponent != 1.0:
        near **= np.float32(params.exponent)
    near -= np.float32(params.convergence)
    near *= np.float32(params.divergence / 100.0 * width)
    return near, False


def _to_dtype(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    if like.dtype.kind == "f":
        return values.astype(like.dtype)
    if like.dtype == np.uint8:
        import cv2

        # one pass: rounds half to even and saturates like the numpy code below (values here are weighted means
        # of the image's own colours, never negative, so the absolute value it takes changes nothing)
        return cv2.convertScaleAbs(values).reshape(values.shape)
    top = np.iinfo(like.dtype).max
    out = np.rint(values)
    np.maximum(out, 0, out=out)  # in place, no temporaries
    np.minimum(out, top, out=out)
    return out.astype(like.dtype)


def _synthesise(img: np.ndarray, parallax: np.ndarray, shift: np.ndarray, smooth: float | None = None) -> np.ndarray:
    """``img`` forward-warped by ``shift`` px (nearer ``parallax`` wins), holes filled from the background side."""
    if not np.any(shift):
        return img.copy()
    warped = forward_warp(img, shift, priority=parallax)
    return _to_dtype(fill_holes_background(warped.image, warped.holes, warped.priority, smooth=smooth), img)


@depth_arrays
def render_eye(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    eye: Eye = "right",
    params: StereoParams | None = None,
    parallax: np.ndarray | None = None,
    fill_smooth: float | None = None,
) -> np.ndarray:
    """Synthesise one eye's view, by :func:`render_stereo`'s compiled kernel asked for that eye only (the result
    equals that eye of :func:`render_stereo`).

    Args:
        image: (H, W, C) uint8/uint16/float RGB(A), the input view.
        depth: DepthMap of the same (H, W).
        eye: ``"left"`` or ``"right"``.
        params: :class:`StereoParams` (defaults when None).
        parallax: precomputed :func:`eye_parallax` output (saves work when rendering several eyes).
        fill_smooth: sigma (px) of the smoothing of filled holes (None = 1 % of the larger side).

    Returns:
        (H, W, C) array of the image's dtype, no unfilled pixels.
    """
    check_choice(eye, "eye", ("left", "right"))
    img = check_image_depth(image, depth, channels=(1, 3, 4), dtype_kind="uf", unit_floats=False)  # any values
    e = 1 if eye == "right" else 0
    view = _render_eyes(img, depth, params or StereoParams(), parallax, eyes=(e == 0, e == 1), fill_smooth=fill_smooth)[
        e
    ]
    assert view is not None
    return view


def _general_eye(
    img: np.ndarray, parallax: np.ndarray, params: StereoParams, *, exact: bool, e: int, fill_smooth: float | None
) -> np.ndarray:
    """Eye ``e`` (0 left, 1 right) by the general path (:func:`forward_warp`, then
    :func:`fill_holes_background`): the kernel's reference, and its fallback for the rows it hands back."""
    frac, sep, sign = _eye_shifts(params, exact=exact, width=img.shape[1])
    shift = frac[e] * parallax
    shift += sep[e]
    shift *= sign[e]
    return _synthesise(img, parallax, shift, fill_smooth)


@depth_arrays
def render_stereo(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    params: StereoParams | None = None,
    parallax: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Both eyes' views in one pass: the depth is prepared once and one compiled kernel, with the thread budget's
    threads splitting the rows, warps and fills both eyes; the result equals :func:`render_eye` for each eye.

    Args:
        image: (H, W, C) uint8/uint16/float RGB(A), the input view.
        depth: DepthMap of the same (H, W).
        params: :class:`StereoParams` (defaults when None).
        parallax: precomputed (H, W) float32 :func:`eye_parallax` output, in pixels (None = from ``depth``).

    Returns:
        (left, right), each (H, W, C) of the image's dtype, no unfilled pixels.
    """
    img = check_image_depth(image, depth, channels=(1, 3, 4), dtype_kind="uf", unit_floats=False)  # any values
    left, right = _render_eyes(img, depth, params or StereoParams(), parallax, eyes=(True, True))
    assert left is not None and right is not None
    return left, right


def _parallax_plan(
    depth: DepthMap, *, width: int, params: StereoParams
) -> tuple[np.ndarray, int, bool, tuple[Any, ...]]:
    """The shared depth preparation of :func:`eye_parallax`, stopped before the per-pixel work that the kernel does
    row by row (filling invalid values along the row, then the parallax arithmetic): (base (H, W) float32, mode,
    fill, (lo, rng, conv, dw, gap) float32) as ``_stereo_numba`` takes them. Every step and constant is
    :func:`eye_parallax`'s, so the kernel's parallax equals it bit for bit."""
    exact = _exact_mode(depth, params)
    f0, f1 = np.float32(0.0), np.float32(1.0)
    if params.exponent != 1.0:
        par, _ = eye_parallax(depth, width=width, params=params)
        return par, 0, False, (f0, f1, f0, f0, f0)
    inv = np.asarray(depth.inverse_depth(), dtype=np.float32)
    # min and max of the valid values: those of the filled map too (filling copies valid values, or their minimum)
    lo, hi = depth.value_range() if depth.kind != "metric" else nan_min_max(inv)
    if np.isnan(lo):
        raise ValidationError("depth: no valid pixel (all NaN, infinite or non-positive)")
    fill = True
    if not (np.isfinite(lo) and np.isfinite(hi)):  # 1 / z overflowing: filled here, as eye_parallax does
        inv = fill_invalid_background(inv)
        lo, hi, fill = float(inv.min()), float(inv.max()), False
    conv, gap = np.float32(params.convergence), np.float32(lo)
    if exact:
        return inv, 1, fill, (f0, f1, conv, f0, gap)
    dw = np.float32(params.divergence / 100.0 * width)
    if hi > lo:
        return inv, 2, fill, (np.float32(lo), np.float32(hi - lo), conv, dw, gap)
    return inv, 3, False, (f0, f1, conv, dw, gap)


def _eye_shifts(params: StereoParams, *, exact: bool, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per eye (left, right): frac, separation and sign, float32, with shift = sign * (frac * parallax + sep)."""
    balance = params.balance if params.balance is not None else (-1.0 if exact else 0.0)
    sep = np.float32(params.separation / 100.0 * width / 2.0)
    frac = np.array([(1.0 + balance) / 2.0, (1.0 - balance) / 2.0], dtype=np.float32)
    return frac, np.array([sep, sep], dtype=np.float32), np.array([1.0, -1.0], dtype=np.float32)


_KERNEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def _render_eyes(
    img: np.ndarray,
    depth: DepthMap,
    params: StereoParams,
    parallax: np.ndarray | None,
    *,
    eyes: tuple[bool, bool],
    fill_smooth: float | None = None,
) -> list[np.ndarray | None]:
    """The eyes asked for (left, right) by ``_stereo_numba``; None for the others."""
    import numba

    check_params(params)  # a precomputed parallax skips eye_parallax's check

    from depthforge.core.threads import thread_budget
    from depthforge.render import _stereo_numba as kern
    from depthforge.render.warp import box_width

    h, w, nc = img.shape
    if parallax is None:
        base, mode, fill, (lo, rng, conv, dw, gap) = _parallax_plan(depth, width=w, params=params)
        exact = mode == 1
    else:
        base = np.asarray(check_array(parallax, "parallax", ndim=2, dtype_kind="uif", finite=True), dtype=np.float32)
        check_same_hw(img, "image", base, "parallax")
        mode, fill, lo, rng, conv, dw, gap = 0, False, 0.0, 1.0, 0.0, 0.0, 0.0
        exact = depth.kind == "disparity" if params.exact is None else bool(params.exact)
    frac, sep, sign = _eye_shifts(params, exact=exact, width=w)
    sigma = max(1.0, 0.01 * max(h, w)) if fill_smooth is None else check_range(fill_smooth, "fill_smooth", low=0.0)
    native = img.dtype in _KERNEL_DTYPES
    data = np.ascontiguousarray(img if native else img.astype(np.float32))
    rnd = native and img.dtype.kind == "u"
    top = float(np.iinfo(img.dtype).max) if rnd else np.inf
    fp = np.array([lo, rng, conv, dw, 1.0, 0.5, 0.5, top, gap], dtype=np.float32)  # warp: tolerance, claim, coverage
    out = np.empty((2, h, w, nc), dtype=data.dtype)
    status = np.zeros(2, dtype=np.int64)
    args = (
        *(data, np.ascontiguousarray(base), mode, fill, fp, np.ascontiguousarray(np.stack([frac, sep, sign], axis=1))),
        *(np.array(eyes, dtype=bool), box_width(sigma) if sigma > 0 else 1, rnd, (0,) * nc, out, status),
    )
    threads = max(1, min(thread_budget(), numba.config.NUMBA_NUM_THREADS, h))  # type: ignore[attr-defined]
    if threads == 1:
        kern.stereo_pass_serial(1, *args)
    else:
        # numba's pool, sized per calling thread from the one budget; four bands per thread handed out one at a
        # time, so that a thread held up by another process does not hold the frame up
        numba.set_num_threads(threads)
        with numba.parallel_chunksize(1):
            kern.stereo_pass(min(4 * threads, h), *args)
    asked = [e for e in range(2) if eyes[e]]
    views: list[np.ndarray | None] = [None, None]
    for e in asked:
        if status[e] == 0:  # done by the kernel
            views[e] = out[e] if native else _to_dtype(out[e], img)
        elif status[e] == 2:  # no pixel moves
            views[e] = img.copy()
    del out, args, data  # the kernel's output stays only through its views (a 40 MP pair is 240 MB)
    # holes the kernel leaves to the general path (rows without any usable pixel, or many)
    if any(status[e] == 1 for e in asked):
        par = base if mode == 0 else eye_parallax(depth, width=w, params=params)[0]
        del base
        for e in asked:
            if status[e] == 1:
                views[e] = _general_eye(img, par, params, exact=exact, e=e, fill_smooth=fill_smooth)
    return views


@depth_arrays
def wiggle_frames(
    image: np.ndarray | Image, depth: DepthMap, *, views: int = 2, params: StereoParams | None = None
) -> list[np.ndarray]:
    """Frames of a wiggle animation: left, right (``views=2``) or a sweep of ``views`` >= 3 viewpoints from the
    left eye to the right eye and back (the loop repeats seamlessly).

    Returns:
        list of (H, W, C) arrays of the image's dtype.
    """
    img = check_image_depth(image, depth, channels=(1, 3, 4), dtype_kind="uf", unit_floats=False)  # any values
    if not isinstance(views, int) or views < 2:
        raise ValidationError(f"views: expected an integer >= 2, got {views!r}")
    p = StereoParams() if params is None else params
    if views == 2:  # the two eyes: the compiled kernel's pass
        return list(render_stereo(img, depth, params=p))
    par, exact = eye_parallax(depth, width=img.shape[1], params=p)
    balance = p.balance if p.balance is not None else (-1.0 if exact else 0.0)
    sep = p.separation / 100.0 * img.shape[1] / 2.0
    # position s in [-1, 1]: -1 = left eye, +1 = right eye; shift is linear in s
    lo, hi = (1.0 + balance) / 2.0, -(1.0 - balance) / 2.0
    frames = []
    for s in np.linspace(0.0, 1.0, views):
        frac = lo + (hi - lo) * s
        shift = (np.float32(frac) * par + np.float32(sep * (1 - 2 * s))).astype(np.float32)
        frames.append(_synthesise(img, par, shift))
    if views > 2:
        frames = frames + frames[-2:0:-1]
    return frames
