"""Depth-conditioned image generation: a photo (or a depth map) and a prompt in, new images out, through diffusers.

Two modes (needs the ``diffusion`` extra):

* ``controlnet``: Stable Diffusion 1.5 or XL with a depth ControlNet. The depth reaches the ControlNet as the
  grayscale image those models were trained on, **near = white** (any kind of depth is converted first:
  relative as it is, metric through 1 / z, disparity as it is). Text-to-image by default; with ``strength`` the
  photo is the starting point (image-to-image ControlNet).
* ``depth2img``: Stable Diffusion 2 depth. Our relative inverse depth is handed over as it is (the pipeline
  normalises each map to [-1, 1] itself); without a depth the pipeline runs its own estimator (DPT).

The output size keeps the photo's aspect: long side at the model's training size (512, SDXL 1024) unless
``size_hw`` says otherwise, both sides multiples of 8 (the VAE's factor; the aspect is kept within 4 px).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap, as_depthmap
from depthforge.core.errors import ModelError, ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.validation import check_choice, check_int, check_range, check_size_hw
from depthforge.io.images import read_image
from depthforge.models.diffusion import (
    DEFAULT_MODELS,
    GENERATION_MODES,
    GenerationSource,
    check_generation_models,
    load_generation_pipeline,
    pick_device_dtype,
    require_diffusers,
    resolve_generation_model,
)
from depthforge.models.estimator import load_model
from depthforge.models.registry import DEFAULT_MODEL
from depthforge.process.normalize import to_display
from depthforge.render.visualize import colorize

__all__ = [
    "GenerationResult",
    "MAX_SEEDS",
    "MAX_SIDE_PX",
    "MAX_STEPS",
    "check_generation_options",
    "conditioning_image",
    "depth2img_map",
    "generate",
    "generation_models",
    "generation_size",
    "parameters_metadata",
]

Progress = Callable[[int, int], None]
#: AUTOMATIC1111's names of diffusers' schedulers, for the "parameters" text (others keep their class's name)
_A1111_SAMPLERS = {"EulerAncestralDiscrete": "Euler a", "EulerDiscrete": "Euler", "UniPCMultistep": "UniPC",
                   "PNDM": "PLMS", "LMSDiscrete": "LMS", "DPMSolverMultistep": "DPM++ 2M", "HeunDiscrete": "Heun",
                   "KDPM2Discrete": "DPM2", "KDPM2AncestralDiscrete": "DPM2 a", "DDIM": "DDIM"}  # fmt: skip
#: At most this many denoising steps (the schedulers are trained on 1000 timesteps).
MAX_STEPS = 1000
#: At most this many images (seeds) in one call: they run as one batch.
MAX_SEEDS = 64
#: The longest side of a generated image, pixels.
MAX_SIDE_PX = 4096


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate` made.

    Attributes:
        images: one (H, W, 3) uint8 RGB image per seed, in order.
        seeds: the seed of each image.
        conditioning: what the depth became for the pipeline: the (H, W, 3) uint8 control image (near = white) for
            ``controlnet``; the (H, W) float32 relative map for ``depth2img`` (None: the pipeline's own estimate).
        size_hw: (height, width) of the images.
        licences: ``name: licence`` of each model used (OpenRAIL licences restrict uses: read them).
        parameters: how each image was made, in AUTOMATIC1111's "parameters" text (prompt, ``Negative prompt:``,
            then ``Steps: ..., Sampler: ..., CFG scale: ..., Seed: ..., Size: WxH, Model: ...``), which PNG Info
            tools read back; :func:`parameters_metadata` stores it in a file.
    """

    images: list[np.ndarray]
    seeds: list[int]
    conditioning: np.ndarray | None
    size_hw: tuple[int, int]
    licences: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)


def generation_size(size_hw: tuple[int, int], *, long_side_px: int = 512, multiple: int = 8) -> tuple[int, int]:
    """(height, width) of an output for a source of ``size_hw``: the same aspect, the long side ``long_side_px``,
    each side rounded to a multiple of ``multiple`` (at least one).

    >>> generation_size((300, 400))
    (384, 512)
    >>> generation_size((360, 640))  # 16:9 stays 16:9 (multiples of 64 made it 256 x 512, 2:1)
    (288, 512)
    """
    h, w = check_size_hw(size_hw)
    scale = long_side_px / max(h, w)
    return max(multiple, round(h * scale / multiple) * multiple), max(multiple, round(w * scale / multiple) * multiple)


def conditioning_image(
    depth: DepthMap | np.ndarray, *, size_hw: tuple[int, int], kind: str | None = None
) -> np.ndarray:
    """The depth ControlNet's input: grayscale, **near = white**, of ``size_hw``.

    Args:
        depth: a :class:`DepthMap` of any kind, or an (H, W) array with ``kind``.
        size_hw: (height, width) of the control image (the output's size).

    Returns:
        (H, W, 3) uint8 RGB, the nearest valid pixel 255 and the farthest 0 (invalid pixels 0, i.e. far).
    """
    import cv2

    depth = as_depthmap(depth, kind=kind)
    h, w = check_size_hw(size_hw)
    display, _ = to_display(depth)
    if display.shape != (h, w):
        interp = cv2.INTER_AREA if h * w < display.size else cv2.INTER_CUBIC
        display = cv2.resize(display, (w, h), interpolation=interp)
    return colorize(np.clip(display, 0.0, 1.0), colormap="gray")


def depth2img_map(depth: DepthMap | np.ndarray, *, size_hw: tuple[int, int], kind: str | None = None) -> np.ndarray:
    """Stable Diffusion 2 depth's input: (H, W) float32 relative inverse depth (larger = nearer) of ``size_hw``;
    metric maps through 1 / z, invalid pixels as the farthest valid value. The pipeline normalises it per map."""
    import cv2

    depth = as_depthmap(depth, kind=kind)
    inv = np.array(depth.inverse_depth(), dtype=np.float32)
    valid = np.isfinite(inv)
    if not valid.any():
        raise ValidationError("depth: no valid pixel to condition on")
    inv[~valid] = float(inv[valid].min())
    h, w = check_size_hw(size_hw)
    if inv.shape != (h, w):
        interp = cv2.INTER_AREA if h * w < inv.size else cv2.INTER_CUBIC
        return np.asarray(cv2.resize(inv, (w, h), interpolation=interp), dtype=np.float32)
    return inv


def _pil(image: np.ndarray, size_hw: tuple[int, int]) -> Any:
    """(H, W, 3) uint8 -> a PIL image of ``size_hw`` (PIL: diffusers reads width and height from it correctly)."""
    from PIL import Image as PILImage

    pil = PILImage.fromarray(image)
    return (
        pil
        if pil.size == (size_hw[1], size_hw[0])
        else pil.resize((size_hw[1], size_hw[0]), PILImage.Resampling.LANCZOS)
    )


@renamed_keywords(depth_kind="kind")
def check_generation_options(
    *,
    mode: str = "controlnet",
    prompt: str,
    steps: int = 25,
    guidance: float = 7.5,
    seeds: Sequence[int] = (0,),
    strength: float | None = None,
    control_scale: float = 1.0,
    control_start: float = 0.0,
    control_end: float = 1.0,
    size_hw: tuple[int, int] | None = None,
) -> tuple[list[int], float | None]:
    """The options of :func:`generate` (same names and meanings), checked before any model is loaded.

    Returns:
        (seeds as a list, strength with depth2img's default 0.8 filled in).

    Raises:
        ValidationError: an empty prompt; steps outside 1..:data:`MAX_STEPS`; no seeds or more than
            :data:`MAX_SEEDS`, a seed outside torch's range (-2**63 to 2**64 - 1); guidance, control or strength
            out of range; a size that is not multiples of 8 or has a side above :data:`MAX_SIDE_PX`.
    """
    check_choice(mode, "mode", GENERATION_MODES)
    if not isinstance(prompt, str) or (mode != "controlnet" and not prompt.strip()):
        raise ValidationError("prompt: empty (say what to draw; only a ControlNet draws from the depth alone)")
    check_int(steps, "steps", low=1, high=MAX_STEPS)  # user trial 8: 2.5 and True were taken
    if isinstance(seeds, (int, str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValidationError(f"seeds: a list of seeds, one image each (e.g. [1, 2, 3]), not {seeds!r:.40}")
    seeds = [check_int(s, "seeds") for s in seeds]  # user trial 8: "a" was a ValueError, 1.7 became 1
    for s in seeds:
        if not -(2**63) <= s < 2**64:  # torch's seed range
            raise ValidationError(f"seed: {s} is outside the range of seeds (-2**63 to 2**64 - 1)")
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise ValidationError(f"seeds: {len(seeds)} seeds; give 1 to {MAX_SEEDS} (one image each)")
    check_range(guidance, "guidance", low=0.0, high=50.0)
    check_range(control_scale, "control_scale", low=0.0, high=10.0)
    check_range(control_start, "control_start", low=0.0, high=1.0)
    check_range(control_end, "control_end", low=0.0, high=1.0)
    if control_start >= control_end:
        raise ValidationError(f"control_start: {control_start:g} must be below the end ({control_end:g})")
    if mode == "depth2img" and strength is None:
        strength = 0.8
    if strength is not None:
        strength = check_range(strength, "strength", low=0.0, high=1.0, low_inclusive=False)
        if int(steps * strength) < 1:
            raise ValidationError(f"steps: {steps} steps at strength {strength:g} leave no denoising step")
    if size_hw is not None:
        h, w = check_size_hw(size_hw)
        if h % 8 or w % 8 or max(h, w) > MAX_SIDE_PX:
            raise ValidationError(f"size_hw: {h}x{w} must be multiples of 8 up to {MAX_SIDE_PX} (height x width)")
    return seeds, strength


def generate(
    image: str | os.PathLike[str] | Image | np.ndarray | None,
    depth: DepthMap | np.ndarray | None = None,
    *,
    prompt: str,
    negative_prompt: str = "",
    mode: str = "controlnet",
    base: str | None = None,
    controlnet: str | None = None,
    steps: int = 25,
    guidance: float = 7.5,
    seeds: Sequence[int] = (0,),
    strength: float | None = None,
    control_scale: float = 1.0,
    control_start: float = 0.0,
    control_end: float = 1.0,
    size_hw: tuple[int, int] | None = None,
    model: str | None = None,
    kind: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    progress: Progress | None = None,
) -> GenerationResult:
    """Generate images that keep the composition of a photo's depth.

    Args:
        image: the photo (a path, an :class:`Image` or (H, W, 3) uint8 RGB); may be None in ``controlnet`` mode
            without ``strength`` when ``depth`` is given.
        depth: a :class:`DepthMap` (any kind) or an (H, W) array with ``kind``; None: estimated from the photo
            with ``model`` (default ``depth-anything-v2-small``; in ``depth2img`` without ``model`` the pipeline
            estimates it with its own DPT).
        prompt, negative_prompt: what to draw and what to avoid.
        mode: ``controlnet`` or ``depth2img``.
        base, controlnet: registry name, hub id or local folder (defaults: SD 1.5 with
            ``control-v11f1p-sd15-depth``; ``stable-diffusion-2-depth`` for depth2img; an SDXL base gets
            ``controlnet-depth-sdxl-1.0``).
        steps: denoising steps; guidance: classifier-free guidance scale (1 = none).
        seeds: one image per seed (the same seed gives the same image).
        strength: image-to-image denoising strength in (0, 1] (depth2img: default 0.8; controlnet: None =
            text-to-image, else image-to-image from the photo).
        control_scale: ControlNet residual scale (0 = plain Stable Diffusion); control_start, control_end: the
            fraction of the steps during which the ControlNet acts.
        size_hw: (height, width) of the output, multiples of 8; default :func:`generation_size` of the source.
        device, dtype: ``auto`` = CUDA in fp16 when available, else CPU in fp32 (``bf16`` on request).
        progress: called as ``progress(step, total)`` after each denoising step.

    Returns:
        A :class:`GenerationResult`.

    Raises:
        MissingExtraError: diffusers is not installed. ModelError / ModelNotAvailableError: models.
        ValidationError: an option out of range.
    """
    seeds, strength = check_generation_options(
        mode=mode,
        prompt=prompt,
        steps=steps,
        guidance=guidance,
        seeds=seeds,
        strength=strength,
        control_scale=control_scale,
        control_start=control_start,
        control_end=control_end,
        size_hw=size_hw,
    )
    require_diffusers()
    import torch

    photo = _photo(image, need=mode == "depth2img" or strength is not None)
    if depth is not None:
        depth = as_depthmap(depth, kind=kind)
    elif photo is not None and (mode == "controlnet" or model):
        depth = load_model(model or DEFAULT_MODEL, device=device).predict(photo)
    if depth is None and photo is None:
        raise ValidationError("image: give a photo, a depth map, or both")
    base_src, control_src = generation_models(mode, base, controlnet)
    device, dtype = pick_device_dtype(device, dtype)
    source_hw = photo.shape[:2] if photo is not None else depth.shape if depth is not None else (512, 512)
    if size_hw is None:
        size_hw = generation_size((int(source_hw[0]), int(source_hw[1])), long_side_px=base_src.spec.size_px)
    h, w = check_size_hw(size_hw)
    pipe = load_generation_pipeline(
        mode, base=base_src, controlnet=control_src, img2img=strength is not None, device=device, dtype=dtype
    )
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": negative_prompt or None,
        "num_inference_steps": int(steps),
        "guidance_scale": float(guidance),
        "generator": generators,
        "num_images_per_prompt": len(seeds),
        "output_type": "np",
    }
    if progress is not None:
        total = int(steps * strength) if strength is not None else int(steps)

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            progress(step + 1, max(total, step + 1))
            return tensors

        kwargs["callback_on_step_end"] = on_step
    conditioning: np.ndarray | None
    if mode == "depth2img":
        assert photo is not None
        conditioning = None if depth is None else depth2img_map(depth, size_hw=(h, w))
        kwargs.update(image=_pil(photo, (h, w)), strength=strength)
        if conditioning is not None:
            kwargs["depth_map"] = torch.from_numpy(conditioning)[None]
    else:
        assert depth is not None
        conditioning = conditioning_image(depth, size_hw=(h, w))
        control = {
            "controlnet_conditioning_scale": float(control_scale),
            "control_guidance_start": float(control_start),
            "control_guidance_end": float(control_end),
        }
        if strength is None:
            kwargs.update(image=_pil(conditioning, (h, w)), height=h, width=w, **control)
        else:
            assert photo is not None
            kwargs.update(image=_pil(photo, (h, w)), control_image=_pil(conditioning, (h, w)), strength=strength)
            kwargs.update(control)
    with torch.inference_mode(), warnings.catch_warnings():
        # depth2img's own estimator asks for CPU autocast in fp32, which torch declines with a warning
        warnings.filterwarnings("ignore", message=".*autocast.*", category=UserWarning)
        try:
            out = pipe(**kwargs)
        except (RuntimeError, MemoryError) as exc:  # out of memory, a device or dtype the weights refuse, ...
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"generation failed: {text}") from None
    images = [to_uint8(np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)) for im in out.images]
    licences = [f"{s.spec.name}: {s.spec.licence}" for s in (base_src, control_src) if s is not None]
    sampler = type(pipe.scheduler).__name__.removesuffix("Scheduler")
    sampler = _A1111_SAMPLERS.get(sampler, sampler)
    made = [
        f"Steps: {steps}, Sampler: {sampler}, CFG scale: {guidance:g}",
        f"Size: {w}x{h}, Model: {base_src.spec.name}",
    ]
    if strength is not None:
        made.append(f"Denoising strength: {strength:g}")
    if control_src is not None:
        made.append(
            f'ControlNet 0: "Module: depthforge, Model: {control_src.spec.name}, Weight: {control_scale:g}, '
            f'Guidance Start: {control_start:g}, Guidance End: {control_end:g}"'
        )
    text = f"{prompt}\nNegative prompt: {negative_prompt}\n" if negative_prompt else f"{prompt}\n"
    parameters = [f"{text}{made[0]}, Seed: {seed}, {', '.join(made[1:])}" for seed in seeds]
    return GenerationResult(images, seeds, conditioning, (h, w), licences, parameters)


def parameters_metadata(parameters: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The :func:`~depthforge.io.images.write_image` keywords that store a :class:`GenerationResult`'s
    ``parameters`` where AUTOMATIC1111 does: a PNG's ``parameters`` text chunk, else (JPEG, WebP) EXIF's
    UserComment in UTF-16 ("UNICODE" prefix).

    >>> parameters_metadata("a cabin", "out.png")
    {'text': {'parameters': 'a cabin'}}
    """
    if str(path).lower().endswith(".png"):
        return {"text": {"parameters": parameters}}
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + parameters.encode("utf-16-be")  # Exif IFD: UserComment
    return {"exif": exif.tobytes()}


def _photo(image: str | os.PathLike[str] | Image | np.ndarray | None, *, need: bool) -> np.ndarray | None:
    if image is None:
        if need:
            raise ValidationError("image: depth2img and image-to-image (strength) start from a photo")
        return None
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    return to_uint8(check_image(image))


def generation_models(
    mode: str, base: str | None = None, controlnet: str | None = None
) -> tuple[GenerationSource, GenerationSource | None]:
    """The base and ControlNet sources of ``mode`` (``controlnet`` or ``depth2img``), with its defaults (an SDXL
    base gets the SDXL ControlNet), checked to make a pipeline of ``mode``; nothing is downloaded or loaded.

    Raises:
        ModelError: an unknown name, a folder that is not a pipeline, a base of the wrong kind or a ControlNet of
        another architecture (:func:`~depthforge.models.diffusion.check_generation_models`); ValidationError: a
        ControlNet for depth2img.
    """
    if mode == "depth2img":
        if controlnet:
            raise ValidationError("controlnet: depth2img takes no ControlNet (the depth goes into the UNet itself)")
        base_src = resolve_generation_model(base or DEFAULT_MODELS[("depth2img", "sd2-depth")][0], role="base")
        control_src = None
    else:
        base_src = resolve_generation_model(base or DEFAULT_MODELS[("controlnet", "sd15")][0], role="base")
        default_control = DEFAULT_MODELS.get(("controlnet", base_src.spec.arch), ("", ""))[1]
        control_src = resolve_generation_model(controlnet or default_control, role="controlnet")
    check_generation_models(mode, base_src, control_src)
    return base_src, control_src
