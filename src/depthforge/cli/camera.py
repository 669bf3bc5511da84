"""Camera options shared by the 3D commands: intrinsics (explicit, field of view, EXIF, default) and baseline.

Every command that uses them reports the intrinsics it used on stderr, and says so plainly when it fell back to
the default field of view.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from depthforge.cli.common import add_photo_command, load_photo, note

if TYPE_CHECKING:
    from depthforge.core.depthmap import DepthMap
    from depthforge.core.image import Image
    from depthforge.core.intrinsics import Intrinsics
    from depthforge.geometry.projection import ZDepth


def add_scene_command(
    sub: argparse._SubParsersAction, name: str, doc: str | None, summary: str, output: str, *, group: str, **kw: Any
) -> argparse._ArgumentGroup:
    """A 3D command on a photo and its depth (:func:`~depthforge.cli.common.add_photo_command`) with the camera
    options (``--fx --fy --cx --cy``, ``--fov``, ``--sensor-width-mm``, ``--baseline-m``) and the scene options
    (``--near``/``--far``, the pseudo-depth range of relative maps, and ``--equirect``); ``kw``: ``run`` and
    ``image`` (help). Returns the command's own option group, titled ``group``."""
    p = add_photo_command(sub, name, doc, summary, output, metavar="FILE", **kw)
    g = p.add_argument_group(
        "camera (default: EXIF focal length when the photo has one, else a 60-degree horizontal field of view)"
    )
    g.add_argument("--fx", "--focal-px", dest="fx", type=float, help="focal length in pixels (fy defaults to fx)")
    g.add_argument("--fy", type=float, help="vertical focal length in pixels")
    g.add_argument("--cx", type=float, help="principal point x in pixels (default: image centre)")
    g.add_argument("--cy", type=float, help="principal point y in pixels (default: image centre)")
    g.add_argument(
        "--fov", "--fov-deg", dest="fov", type=float, metavar="DEG", help="horizontal field of view in degrees"
    )
    g.add_argument(
        "--sensor-width-mm", type=float, help="sensor width, to use EXIF FocalLength (mm) without a 35 mm value"
    )
    g.add_argument("--baseline-m", type=float, help="stereo baseline in metres (disparity maps -> metres)")
    g = p.add_argument_group("geometry")
    for end, default, which in (("near", 1.0, "nearest"), ("far", 10.0, "farthest")):
        g.add_argument(
            f"--{end}",
            f"--{end}-m",
            dest=end,
            type=float,
            default=default,
            help=f"pseudo-depth of the {which} pixel for relative maps (default {default:g})",
        )
    g.add_argument("--equirect", action="store_true", help="the input is a 360-degree equirectangular panorama")
    return p.add_argument_group(group)


def intrinsics_from_args(
    args: argparse.Namespace, image: Image, depth: DepthMap | None = None, *, depth_scale_matters: bool = True
) -> Intrinsics:
    """Resolve the intrinsics for ``image`` from the options, EXIF, the depth file, or the default; report them.

    A disparity map made metres by a baseline needs a known focal length, unless the metres do not matter
    (``depth_scale_matters`` False): the default is refused.
    """
    from depthforge.geometry.camera import describe_intrinsics, resolve_intrinsics

    intr = resolve_intrinsics(
        image.size_hw,
        focal_px=args.fx,
        focal_y_px=args.fy,
        cx_px=args.cx,
        cy_px=args.cy,
        fov_deg=args.fov,
        exif=image.exif,
        sensor_width_mm=args.sensor_width_mm,
        fallback=depth.intrinsics if depth is not None else None,
    )
    metres = depth is not None and depth.kind == "disparity" and (args.baseline_m or depth.baseline_m) is not None
    if intr.source.startswith("default") and metres and depth_scale_matters:
        from depthforge.core.errors import ValidationError

        # z = fx * b / d: a guessed focal length gives metres that are wrong by its error (user trial 4: 13 %)
        raise ValidationError(
            "fx: a disparity map becomes metres through the focal length: give --fx or --fov (the photo has no "
            "usable EXIF focal length, and the default field of view would be a guess)"
        )
    if intr.source.startswith("default"):
        why = "no --fx/--fov given and the photo has no usable EXIF focal length"
        if image.exif.get("focal_length_mm") and not image.exif.get("focal_length_35mm"):
            why = "EXIF has FocalLength but no 35 mm equivalent and no sensor width (give --sensor-width-mm)"
        note(f"intrinsics: {why}; falling back to the default field of view")
    note(f"intrinsics: {describe_intrinsics(intr)}")
    return intr


def load_scene(args: argparse.Namespace, *, scale_free: bool = False) -> tuple[Image, Intrinsics | None, ZDepth]:
    """Read ``args.image``, get its depth (``--depth``/``--model``), resolve intrinsics and turn depth into z.

    Reports the intrinsics (pinhole only) and whether the result is metric. A depth file of another size than
    the photo is resampled to the photo's size, with a notice. ``scale_free``: the caller's result does not depend
    on the scene's scale (normals), so a disparity map needs neither a baseline (1 m is used) nor a known focal length.
    """
    from depthforge.geometry.projection import depth_to_z

    image, depth = load_photo(args)
    if args.equirect and depth.kind == "disparity":
        from depthforge.core.errors import ValidationError

        raise ValidationError(
            "depth_kind: --equirect needs metric or relative depth (distance from the centre), "
            "not a stereo disparity map"
        )
    intr = None if args.equirect else intrinsics_from_args(args, image, depth, depth_scale_matters=not scale_free)
    baseline = args.baseline_m
    if scale_free and baseline is None and depth.kind == "disparity" and depth.baseline_m is None:
        baseline = 1.0  # the normals' directions are the same at any scale (user trial 4: a baseline was demanded)
    zd = depth_to_z(depth, intrinsics=intr, baseline_m=baseline, near_m=args.near, far_m=args.far)
    guessed_focal = intr is not None and intr.source.startswith("default")
    if depth.kind == "disparity" and (baseline != args.baseline_m or (scale_free and guessed_focal)):
        from dataclasses import replace

        zd = replace(zd, metric=False, rule=f"{zd.rule}; scale unknown, directions only")
    note(f"depth: {zd.rule}")
    return image, intr, zd
