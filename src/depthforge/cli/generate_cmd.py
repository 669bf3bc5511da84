"""``depthforge generate``: new images that keep a photo's depth (ControlNet or Stable Diffusion 2 depth2img).

Needs the diffusion extra: pip install 'depthforge[diffusion]'. Examples:

  depthforge generate photo.jpg --prompt "a cabin at dusk" -o cabin.png
  depthforge generate photo.jpg --depth photo_depth.png --mode controlnet --base stable-diffusion-v1-5 \\
      --controlnet control-v11f1p-sd15-depth --prompt "a cabin at dusk" --steps 25 --seed 1 \\
      --control-scale 0.8 -o out.png
  depthforge generate photo.jpg --mode depth2img --strength 1 --prompt "a marble statue" -o statue.png
  depthforge generate photo.jpg --prompt "a cabin in snow" --seed 1 --batch 4 -o snow.png   # snow_seed1.png ...

Models: registry names (stable-diffusion-v1-5, stable-diffusion-xl-base-1.0, stable-diffusion-2-depth,
control-v11f1p-sd15-depth, controlnet-depth-sdxl-1.0), hub ids or local folders. Their OpenRAIL licences restrict
some uses; the licences are printed with every run. The depth reaches a ControlNet as near = white.
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_command, add_depth_source_options, note, parse_numbers, pick, progress


def register(sub: argparse._SubParsersAction) -> None:
    summary = "generate images from a photo's depth and a prompt (ControlNet, depth2img)"
    output = "output image (.png, .jpg, ...); several seeds write OUT_seedN.ext"
    p = add_command(sub, "generate", __doc__, summary, raw=True, run=run, output=output)
    p.add_argument("image", metavar="IMAGE", nargs="?", help="the photo (optional in controlnet mode with --depth)")
    g = p.add_argument_group("generation")
    g.add_argument("--prompt", required=True, help="what to draw")
    g.add_argument("--negative-prompt", default="", help="what to avoid")
    g.add_argument("--mode", choices=("controlnet", "depth2img"), default="controlnet", help="default controlnet")
    g.add_argument("--base", help="base model: registry name, hub id or folder (default per mode)")
    g.add_argument("--controlnet", help="depth ControlNet for the base (default: the base's depth ControlNet)")
    g.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    g.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    g.add_argument("--seed", type=int, default=0, help="noise seed of the first image (default 0; -1: a random one)")
    g.add_argument("--batch", type=int, default=1, help="images to make, seeds SEED, SEED+1, ... (default 1)")
    g.add_argument("--seeds", help="comma-separated seeds, one image each (instead of --seed/--batch)")
    g.add_argument(
        "--strength",
        type=float,
        help="start from the photo with this denoising strength in (0, 1] (depth2img default 0.8; controlnet: "
        "image-to-image instead of text-to-image)",
    )
    g.add_argument("--control-scale", type=float, default=1.0, help="ControlNet strength (default 1; 0 = off)")
    g.add_argument("--control-start", type=float, default=0.0, help="fraction of the steps where control starts")
    g.add_argument("--control-end", type=float, default=1.0, help="fraction of the steps where control ends")
    g.add_argument(
        "--size",
        metavar="H,W",
        help="output height,width in pixels, multiples of 8 (default: the "
        "photo's aspect with the long side at the model's size, 512 or SDXL 1024)",
    )
    add_depth_source_options(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from depthforge.cli.common import load_depth_for, note_unused
    from depthforge.core.errors import ValidationError
    from depthforge.core.validation import check_range
    from depthforge.io.images import read_image, write_image
    from depthforge.models.diffusion import require_diffusers, require_generation_models
    from depthforge.pipeline import parameters_metadata
    from depthforge.pipeline.generation import MAX_SEEDS, check_generation_options, generate, generation_models

    if args.seeds:
        note_unused(args, ["seed", "batch"], "--seeds gives every image's seed")  # user trial 3: said nothing
        seeds = [int(s) for s in parse_numbers(args.seeds, "--seeds", len(args.seeds.split(",")), int, form="integers")]
    else:
        check_range(args.batch, "batch", low=1, high=MAX_SEEDS)
        first = args.seed
        if first == -1:  # as in A1111: a new seed each run (printed with each image, so it can be made again)
            import secrets

            first = secrets.randbelow(2**31)
        seeds = [first + i for i in range(args.batch)]
    suffix = Path(args.output).suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"):  # where the parameters go
        note(f"generate: '{suffix}' files keep no metadata: the images will not say how they were made")
    if args.mode == "depth2img":
        tuning = ["control_scale", "control_start", "control_end"]
        note_unused(args, tuning, "they tune a ControlNet; depth2img has none")
    size = tuple(parse_numbers(args.size, "--size", 2, int, form="height,width")) if args.size else None
    options = pick(args, "mode", "steps", "guidance", "strength", "control_scale", "control_start", "control_end")
    check_generation_options(prompt=args.prompt, seeds=seeds, size_hw=size, **options)  # before any model
    require_diffusers(load=False)  # a missing extra is one line, before any work (importing it takes seconds)
    require_generation_models(*generation_models(args.mode, args.base, args.controlnet))  # offline: one line now
    image = read_image(args.image, max_pixels=args.max_pixels) if args.image else None
    depth = None
    if args.depth or args.model or (args.mode == "controlnet" and image is not None):
        if image is None:
            from depthforge.io.depthfiles import read_depth

            depth = read_depth(args.depth, kind=args.depth_kind, scale=args.depth_scale) if args.depth else None
        else:
            depth = load_depth_for(image, args)
    if image is None and depth is None:
        raise ValidationError("image: give a photo, or --depth FILE in controlnet mode")
    total = int(args.steps * args.strength) if args.strength else args.steps
    with progress(total * 1, f"generating {len(seeds)} image(s)") as advance:
        result = generate(
            image,
            depth,
            prompt=args.prompt,
            negative_prompt=args.negative_prompt,
            seeds=seeds,
            size_hw=size,
            progress=lambda step, _total: advance(),
            **pick(args, "mode", "base", "controlnet", "steps", "guidance", "strength", "device", "dtype"),
            control_scale=args.control_scale,
            control_start=args.control_start,
            control_end=args.control_end,
        )
    out = Path(args.output)
    for seed, picture, made in zip(result.seeds, result.images, result.parameters, strict=True):
        path = out if len(result.seeds) == 1 else out.with_name(f"{out.stem}_seed{seed}{out.suffix}")
        write_image(path, picture, **parameters_metadata(made, path))  # prompt, seed, ... as A1111 stores them
        print(f"{path}: {result.size_hw[1]}x{result.size_hw[0]}, seed {seed}")
    for licence in result.licences:
        note(f"licence {licence}")
    return 0
