"""Views, clips and stereo pairs rendered from a :class:`~depthforge.render.layered_scene.LayeredScene`.

* :func:`scene_frames`: the frames of a parallax clip from a scene already built (e.g. one also exported as a
  3D asset), optional supersampling (``supersample`` 1, 2 or 3); :func:`~depthforge.render.motion.plan_motion`
  (re-exported here) gives the poses and the fill width to build the scene with.
* :func:`render_stereo_layers`: a stereo pair whose visible surfaces are forward-splatted exactly (as
  :func:`depthforge.render.stereo.render_eye`) and whose disocclusions show the layered scene's filled background
  (``depthforge stereo --fill layers``).

The stereo parallax ``P`` (see :mod:`depthforge.render.stereo`) is affine in a nearness: normalised mode
``P = a (m - c)`` with ``m`` the inverse depth scaled to [0, 1] (raised to ``exponent``), ``a`` = divergence % of
the width, ``c`` = convergence; exact mode ``P = d - c`` (``m = d / d_max``, ``a = d_max``). An eye moving by
``s (frac P + sep)`` (``s`` = +1 left, -1 right) is the camera pose ``x = -s frac a`` with steady plane
``focus = c - sep / (frac a)`` (:mod:`depthforge.render.motion`: ``u' = u - x (m - focus)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, to_uint8
from depthforge.core.validation import check_choice
from depthforge.render.inpainting import InpaintMethod
from depthforge.render.layered_scene import LayeredScene
from depthforge.render.layers import build_layers
from depthforge.render.motion import CameraPose, plan_motion
from depthforge.render.parallax import ParallaxRenderer
from depthforge.render.stereo import StereoParams, check_image_depth, eye_parallax, render_eye

__all__ = ["plan_motion", "render_stereo_layers", "scene_frames"]


@renamed_keywords(ssaa="supersample")
def scene_frames(
    scene: LayeredScene, poses: list[CameraPose], *, focus: float = 0.5, supersample: int = 1
) -> Iterator[np.ndarray]:
    """Frames of the scene seen from each pose, one at a time (stream them to
    :func:`depthforge.pipeline.encode.encode_frames`).

    Args:
        scene: the layers (built with ``reach_px`` of the same poses, or without: every hidden pixel filled).
        poses: camera poses (:func:`~depthforge.render.motion.plan_motion`).
        focus: nearness of the steady plane.
        supersample: supersampling per axis, 1 (off), 2 or 3: layers are warped at ``supersample`` times the size
            and the frame is area-averaged back (anti-aliased edges). At most 3 (not 4 as in
            :class:`~depthforge.render.parallax.ParallaxRenderer`): a layered scene keeps the photo's full size in
            every layer.

    Yields:
        (H, W, 3) uint8 RGB frames.
    """
    check_choice(supersample, "supersample", (1, 2, 3))
    renderer = ParallaxRenderer(scene, focus=focus, supersample=supersample)
    for pose in poses:
        yield renderer.render(pose)


@depth_arrays
def render_stereo_layers(
    image: np.ndarray | Image,
    depth: DepthMap,
    *,
    params: StereoParams | None = None,
    inpaint: InpaintMethod = "telea",
    max_layers: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) views: visible surfaces splatted exactly, disocclusions from a layered scene.

    Args:
        image: (H, W, 3) uint8 RGB (or an Image; alpha dropped).
        depth: DepthMap of the same (H, W), any kind (exact mode for disparity maps, see :class:`StereoParams`).
        params: the stereo parameters (defaults when None).
        inpaint: the colour fill behind nearer layers (:func:`depthforge.render.inpainting.inpaint` method or an
            inpainter callable).
        max_layers: layers split at depth edges.

    Returns:
        (left, right), each (H, W, 3) uint8 RGB without unfilled pixels.
    """
    img = to_uint8(check_image_depth(image, depth, channels=(3, 4), dtype_kind="uf")[:, :, :3])
    p = StereoParams() if params is None else params  # checked by eye_parallax
    width = img.shape[1]
    _, exact = eye_parallax(depth, width=width, params=p)
    if exact:
        d_max = float(depth.value_range()[1])
        scale, conv = d_max, p.convergence / d_max
        scene_depth = depth
    else:
        scale, conv = p.divergence / 100.0 * width, p.convergence
        unit = StereoParams(divergence=100.0 / width, exponent=p.exponent, exact=False)  # P = m (a nearness)
        m, _ = eye_parallax(depth, width=width, params=unit)
        scene_depth = DepthMap(m, kind="relative")
    balance = p.balance if p.balance is not None else (-1.0 if exact else 0.0)
    sep = p.separation / 100.0 * width / 2.0
    eyes = {"left": ((1.0 + balance) / 2.0, 1.0), "right": ((1.0 - balance) / 2.0, -1.0)}
    reach = max(frac * scale for frac, _ in eyes.values())
    scene = build_layers(img, scene_depth, max_layers=max_layers, inpaint=inpaint, reach_px=reach)
    views = []
    for eye, (frac, sign) in eyes.items():
        if frac * scale < 1e-6:  # this eye carries no parallax: a uniform shift (or the input itself)
            views.append(to_uint8(render_eye(img, depth, eye=eye, params=p)))  # type: ignore[arg-type]
            continue
        focus = conv - sep / (frac * scale)
        if not -1.0 <= focus <= 2.0:
            raise ValidationError(
                f"separation: {p.separation:g} % is too large for the layered fill at this divergence "
                "(use the default fill)"
            )
        renderer = ParallaxRenderer(scene, focus=focus)
        views.append(renderer.render(CameraPose(x=-sign * frac * scale), method="splat", holes="scene"))
    return views[0], views[1]
