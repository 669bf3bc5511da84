"""What a CPU user can expect from ``depthforge generate`` (issue 22): seconds per denoising step of the full-size
Stable Diffusion 1.5 UNet (860 M parameters, random weights) at 512 x 512, fp32 against bf16, and with the full-size
depth ControlNet (control_v11f1p_sd15_depth's architecture) beside it.

One step with classifier-free guidance runs the UNet (and the ControlNet) on a batch of 2 latents of 64 x 64 and a
77-token text embedding of width 768. No weights are downloaded: the architectures are built from their configs.
Times are the median of ``--repeats`` steps after one warm-up step.

Usage: ``.venv/bin/python benchmarks/generate.py [--repeats 3] [--skip-controlnet]``
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import Any

from _machine import describe


def _time(fn: object, repeats: int) -> float:
    fn()  # type: ignore[operator]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _step(unet: Any, control: Any, inputs: tuple[Any, ...]) -> None:
    """One guided denoising step: the UNet on the batch of 2, with the ControlNet's residuals when given."""
    import torch

    latents, step, text, cond = inputs
    with torch.inference_mode():
        residuals: dict[str, Any] = {}
        if control is not None:
            down, mid = control(latents, step, encoder_hidden_states=text, controlnet_cond=cond, return_dict=False)
            residuals = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        unet(latents, step, encoder_hidden_states=text, **residuals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-controlnet", action="store_true")
    args = parser.parse_args()

    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from depthforge.core.threads import limit_library_threads, thread_budget
    from depthforge.models.diffusion_testing import sd15_unet_config

    limit_library_threads()
    print(f"machine: {describe()}; torch {torch.__version__}, {thread_budget()} threads")
    torch.manual_seed(0)
    config = sd15_unet_config()
    t0 = time.perf_counter()
    unet = UNet2DConditionModel(**config).eval()
    print(f"UNet built in {time.perf_counter() - t0:.0f} s: {sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M")
    control = None
    if not args.skip_controlnet:
        control_config = {k: v for k, v in config.items() if k not in ("out_channels", "up_block_types", "sample_size")}
        control = ControlNetModel(**control_config, conditioning_embedding_out_channels=(16, 32, 96, 256)).eval()
        print(f"ControlNet: {sum(p.numel() for p in control.parameters()) / 1e6:.0f} M parameters")

    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        unet.to(dtype)
        latents = torch.randn(2, 4, 64, 64, dtype=dtype)
        text = torch.randn(2, 77, 768, dtype=dtype)
        step = torch.tensor(500)
        cond = torch.rand(2, 3, 512, 512, dtype=dtype)

        inputs = (latents, step, text, cond)
        plain = _time(functools.partial(_step, unet, None, inputs), args.repeats)
        with_control = None
        if control is not None:
            control.to(dtype)
            with_control = _time(functools.partial(_step, unet, control, inputs), args.repeats)
        rows.append((name, plain, with_control))
        extra = f", with ControlNet {with_control:.1f} s" if with_control is not None else ""
        print(f"{name}: UNet {plain:.1f} s per step{extra}", flush=True)

    (_, fp32, fp32_c), (_, bf16, bf16_c) = rows
    print()
    print("| precision | UNet s/step | UNet + ControlNet s/step | 25 steps (ControlNet) |")
    print("| --- | --- | --- | --- |")
    for name, plain, with_control in rows:
        c = f"{with_control:.1f}" if with_control is not None else "-"
        total = f"{25 * with_control / 60:.1f} min" if with_control is not None else "-"
        print(f"| {name} | {plain:.1f} | {c} | {total} |")
    print(
        f"bf16 / fp32 time ratio: UNet {bf16 / fp32:.2f}"
        + (f", with ControlNet {bf16_c / fp32_c:.2f}" if fp32_c and bf16_c else "")
    )


if __name__ == "__main__":
    main()
