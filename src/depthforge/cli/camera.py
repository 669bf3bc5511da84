"""Camera options shared by the 3D commands: intrinsics (explicit, field of view, EXIF, default) and baseline.

Every command that uses them reports the intrinsics it used on stderr, and says so plainly when it fell back to
the default field of view.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from depthforge.cli.common import add_photo_command, note

if TYPE_CHECKING:
    from depthforge.core.depthmap import DepthMap
    from depthforge.core.image import Image
    from depthforge.core.intrinsics import Intrinsics
    from depthforge.geometry.projection import ZDepth


def add_scene_command(
    sub: argparse._SubParsersAction,
    name: str,
    doc: str | None,
    summary: str,
    *,
    image: str,
    output: str,
    group: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse._ArgumentGroup:
    """A 3D command on a photo and its depth (:func:`~depthforge.cli.common.add_photo_command`) with the camera and
    scene options, running ``run``; returns the command's own option group, titled ``group``."""
    p = add_photo_command(sub, name, doc, summary, image=image, output=output, metavar="FILE")
    add_intrinsics_options(p)
    add_scene_options(p)
    p.set_defaults(func=run)
    return p.add_argument_group(group)


def add_intrinsics_options(parser: argparse.ArgumentParser, *, baseline: bool = True) -> None:
    """``--fx --fy --cx --cy``, ``--fov``, ``--sensor-width-mm`` (and ``--baseline-m`` for disparity maps)."""
    g = parser.add_argument_group(
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
    if baseline:
        g.add_argument("--baseline-m", type=float, help="stereo baseline in metres (disparity maps -> metres)")


def intrinsics_from_args(args: argparse.Namespace, image: Image, depth: DepthMap | None = None) -> Intrinsics:
    """Resolve the intrinsics for ``image`` from the options, EXIF, the depth file, or the default; report them."""
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
    if intr.source.startswith("default"):
        why = "no --fx/--fov given and the photo has no usable EXIF focal length"
        if image.exif.get("focal_length_mm") and not image.exif.get("focal_length_35mm"):
            why = "EXIF has FocalLength but no 35 mm equivalent and no sensor width (give --sensor-width-mm)"
        note(f"intrinsics: {why}; falling back to the default field of view")
    note(f"intrinsics: {describe_intrinsics(intr)}")
    return intr


def add_scene_options(parser: argparse.ArgumentParser) -> None:
    """``--near``/``--far`` (pseudo-depth range for relative maps) and ``--equirect``."""
    g = parser.add_argument_group("geometry")
    g.add_argument(
        "--near",
        "--near-m",
        dest="near",
        type=float,
        default=1.0,
        help="pseudo-depth of the nearest pixel for relative maps (default 1)",
    )
    g.add_argument(
        "--far",
        "--far-m",
        dest="far",
        type=float,
        default=10.0,
        help="pseudo-depth of the farthest pixel for relative maps (default 10)",
    )
    g.add_argument("--equirect", action="store_true", help="the input is a 360-degree equirectangular panorama")


def load_scene(args: argparse.Namespace) -> tuple[Image, Intrinsics | None, ZDepth]:
    """Read ``args.image``, get its depth (``--depth``/``--model``), resolve intrinsics and turn depth into z.

    Reports the intrinsics (pinhole only) and whether the result is metric. A depth file of another size than
    the photo is resampled to the photo's size, with a notice.
    """
    from depthforge.cli.common import load_depth_for
    from depthforge.geometry.projection import depth_to_z
    from depthforge.io.images import read_image

    image = read_image(args.image, max_pixels=getattr(args, "max_pixels", None))
    depth = load_depth_for(image, args)
    if args.equirect and depth.kind == "disparity":
        from depthforge.core.errors import ValidationError

        raise ValidationError(
            "depth_kind: --equirect needs metric or relative depth (distance from the centre), "
            "not a stereo disparity map"
        )
    intr = None if args.equirect else intrinsics_from_args(args, image, depth)
    zd = depth_to_z(
        depth, intrinsics=intr, baseline_m=getattr(args, "baseline_m", None), near_m=args.near, far_m=args.far
    )
    note(f"depth: {zd.rule}")
    return image, intr, zd


def scene_metadata(image: Image, intrinsics: Intrinsics | None, zd: ZDepth, **extra: object) -> dict[str, object]:
    """Metadata for the output's sidecar / header: source photo, intrinsics, depth rule, metric flag."""
    meta: dict[str, object] = {
        "source_image": image.path,
        "metric": zd.metric,
        "units": "m" if zd.metric else "pseudo (not metric)",
        "depth_rule": zd.rule,
        "projection": "pinhole" if intrinsics is not None else "equirectangular",
    }
    if intrinsics is not None:
        meta["intrinsics"] = intrinsics.as_dict()
        meta["intrinsics_source"] = intrinsics.source
    meta.update(extra)
    return meta
