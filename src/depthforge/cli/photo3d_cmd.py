"""``depthforge photo3d``: a layered 3D photo you can look *behind*, as a 3D asset (and optionally a video).

The photo is split at strong depth edges into layers, far to near; what nearer layers hide is filled in colour
(--inpaint) and depth from the background side. Each layer becomes a textured mesh (no triangle bridges a depth
jump inside a layer):

  .glb  one node per layer (layer_0_far ... layer_N_near), RGBA textures, for Blender and three.js
  .ply  one binary mesh with vertex RGBA and the header comments (H, W, hFov, vFov, meanLoc) that the A1111
        depthmap extension's video renderer reads; OpenCV camera frame unless --ply-frame viewer

plus FILE.json: camera, units, depth kind, each layer's depth range. --video MOTION also renders a camera
motion through the same layers (as 'depthforge parallax').

examples:
  depthforge photo3d photo.jpg -o scene.glb
  depthforge photo3d photo.jpg --depth photo_depth.png -o scene.ply --inpaint telea --video circle
"""

from __future__ import annotations

import argparse
from pathlib import Path

from depthforge.cli.camera import add_scene_command, intrinsics_from_args
from depthforge.cli.common import add_motion_options, load_inpainter_noted, load_photo, note, note_unused, progress

_MOTIONS = ("circle", "swing", "swing-vertical", "zoom-in", "dolly", "orbit", "dolly-zoom", "static")


def register(sub: argparse._SubParsersAction) -> None:
    summary = "layered 3D photo (hidden parts inpainted) -> .glb / .ply (+ video)"
    g = add_scene_command(sub, "photo3d", __doc__, summary, "output .glb or .ply", group="layered 3D photo", run=run)
    parser = sub.choices["photo3d"]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' lines
    parser._option_string_actions["--equirect"].help = argparse.SUPPRESS  # refused: a 3D photo needs a pinhole
    g.add_argument(
        "--inpaint",
        default="background",
        metavar="METHOD",
        help="fill of hidden regions: background (default), telea, ns, onnx:FILE, or a LaMa ONNX name (lama) or hub id",
    )
    g.add_argument("--layers", type=int, default=4, help="maximum number of depth layers (default 4)")
    g.add_argument(
        "--target-vertices",
        type=int,
        default=1_000_000,
        metavar="N",
        help="at most N grid points per layer: a coarser grid where needed (default 1000000; 0 = no cap)",
    )
    g.add_argument("--stride", type=int, default=1, help="finest grid step in px (default 1)")
    g.add_argument(
        "--max-angle", type=float, default=87.0, metavar="DEG", help="drop triangles seen more obliquely (default 87)"
    )
    g.add_argument(
        "--ply-frame",
        choices=("camera", "viewer"),
        default="camera",
        help="PLY axes: camera (x right, y down, z forward; A1111 extension) or viewer (y up, z toward you)",
    )
    g.add_argument("--alpha-mode", choices=("mask", "blend"), default="mask", help="GLB layer edges (default mask)")
    v = sub.choices["photo3d"].add_argument_group("video from the layers (optional)")
    v.add_argument("--video", metavar="MOTION", help=f"also render a clip: {', '.join(_MOTIONS)}")
    v.add_argument("--video-out", metavar="FILE", help="the clip's file (default: OUTPUT stem + _MOTION.mp4)")
    add_motion_options(v, supersample=(1, 2, 3))


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from depthforge.core.errors import ValidationError
    from depthforge.core.validation import check_choice
    from depthforge.pipeline.layered_photo import Photo3DOptions, photo3d, render_scene_video

    out = Path(args.output)
    if out.suffix.lower() not in (".glb", ".ply"):
        raise ValidationError(f"output: expected a .glb or .ply file, got {out.name!r}")
    if args.equirect:
        raise ValidationError("equirect: photo3d needs a pinhole photo, not a 360-degree panorama")
    clip = None
    if args.video is not None:  # the clip's options are checked before any work (user trial 4: after the .glb)
        from depthforge.core.validation import check_range
        from depthforge.io.video_writer import VideoWriter
        from depthforge.render.motion import NEARNESS_RANGE, frame_count

        check_choice(args.video, "video", _MOTIONS)
        clip = Path(args.video_out) if args.video_out else out.with_name(f"{out.stem}_{args.video}.mp4")
        VideoWriter(clip, fps=args.fps)  # the name and the rate
        frame_count(args.duration, args.fps)
        check_range(args.amplitude, "amplitude", low=0.0, high=50.0)
        check_range(args.focus, "focus", low=NEARNESS_RANGE[0], high=NEARNESS_RANGE[1])
    if args.target_vertices < 0:
        raise ValidationError(f"target_vertices: expected >= 0, got {args.target_vertices}")
    if not args.video:
        motion = ("duration", "fps", "amplitude", "focus", "supersample", "video_out")
        note_unused(args, motion, "they shape the clip of --video MOTION, and none was asked for")
    if args.ply_frame != "camera" and out.suffix.lower() == ".glb":
        note("--ply-frame: for .ply outputs; a GLB is always in glTF's frame (y up, z toward the viewer)")
    if args.alpha_mode != "mask" and out.suffix.lower() == ".ply":
        note("--alpha-mode: for .glb outputs; a PLY keeps each vertex's alpha")
    options = Photo3DOptions(
        max_layers=args.layers,
        inpaint=load_inpainter_noted(args.inpaint),
        near_m=args.near,
        far_m=args.far,
        target_vertices=args.target_vertices or None,
        stride=args.stride,
        max_angle_deg=None if args.max_angle >= 90 else args.max_angle,
        ply_frame=args.ply_frame,
        alpha_mode=args.alpha_mode.upper(),
    )
    image, depth = load_photo(args)
    if args.baseline_m is not None and depth.kind == "disparity":
        depth = replace(depth, baseline_m=args.baseline_m)
    intr = intrinsics_from_args(args, image, depth)
    meta = {"source_image": Path(image.path).name, "intrinsics_source": intr.source}
    result = photo3d(image, depth, out, options=options, intrinsics=intr, metadata=meta)
    lm, scene = result.mesh, result.scene
    note(f"depth: {scene.z_rule(near_m=args.near, far_m=args.far)}")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    note(f"{scene.num_layers} layer(s), grid stride {lm.stride} px, inpaint {options.inpaint_name}; {steps}")
    verts = sum(L.mesh.n_vertices for L in lm.layers)
    faces = sum(L.mesh.n_faces for L in lm.layers)
    kind = "metric, metres" if scene.z_is_metric else "pseudo-depth, NOT metric"
    layers = f"{len(lm.layers)} layer{'s' if len(lm.layers) != 1 else ''}"
    print(f"wrote {result.files[0]} ({layers}, {verts} vertices, {faces} triangles, {kind}); also "
          f"{', '.join(str(f) for f in result.files[1:])}")  # fmt: skip
    if clip is not None:
        from depthforge.render.motion import NEARNESS_RANGE, frame_count

        with progress(frame_count(args.duration, args.fps), "photo3d video") as advance:
            done = render_scene_video(
                scene, clip, motion=args.video, duration_s=args.duration, fps=args.fps, amplitude=args.amplitude,
                focus=args.focus, supersample=args.supersample, progress=lambda *_: advance(),
            )  # fmt: skip
        print(f"wrote {clip} ({done.frames} frames, {done.width}x{done.height}, {args.fps:g} fps)")
    return 0
