"""Issue 23: foreground from segmentation and depth, fused; background removed before estimation.

Prints, for the two synthetic scenes where one cue fails (depthforge.models.simulated_segmentation), the IoU with
the true foreground of: depth alone (Otsu threshold, as ``mask --method depth`` without refinement), the simulated
colour-only segmentation model alone, and the fusion; then the depth estimated with the background removed
first: background pixels at the far value, foreground against the plain estimate (a simulated perfect relative
model, whose own deviation is a random scale and shift per call, and a tiny random Depth Anything for contrast);
then rembg's convention on a tiny ONNX model and the SAM prompt-to-mask time of a tiny SamConfig model.

Run: .venv/bin/python benchmarks/segmentation.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe
from depthforge.core.depthmap import DepthMap
from depthforge.models.callable import CallableEstimator
from depthforge.models.simulated import coordinate_image, simulated_model
from depthforge.models.simulated_segmentation import SCENES, colour_model, segmentation_scene
from depthforge.pipeline.background import estimate_without_background
from depthforge.render.fusion import fuse_segmentation
from depthforge.render.masks import depth_mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def affine_residual(reference: np.ndarray, values: np.ndarray) -> float:
    """Largest residual after fitting values = s * reference + t, as a fraction of the values' range."""
    a = np.stack([reference, np.ones_like(reference)], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(a, values.astype(np.float64), rcond=None)
    return float(np.abs(a @ coef - values).max() / np.ptp(values))


def main() -> None:
    print(describe())
    print("\n| scene | size | depth alone | colour model alone | fused | split |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in ((192, 256), (768, 1024)):
        for name in SCENES:
            image, inverse, truth = segmentation_scene(name, size_hw=size)
            depth = DepthMap(inverse, kind="relative")
            p = colour_model(image)
            t0 = time.perf_counter()
            fused = fuse_segmentation(depth, p)
            ms = 1000 * (time.perf_counter() - t0)
            split = "none" if fused.split is None else f"{fused.split:.3f}"
            print(
                f"| {name} | {size[1]}x{size[0]} | {iou(depth_mask(depth), truth):.3f} | {iou(p >= 0.5, truth):.3f} "
                f"| {iou(fused.mask, truth):.3f} | {split} ({ms:.0f} ms) |"
            )

    h, w = 384, 512
    truth_inv = np.fromfunction(lambda y, x: 0.3 + 0.5 * y / h + 0.2 * np.sin(x / 9.0), (h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = (((xx - 0.5 * w) / (0.3 * w)) ** 2 + ((yy - 0.5 * h) / (0.35 * h)) ** 2 <= 1).astype(np.float32)
    fg = alpha >= 0.5
    image = coordinate_image((h, w))
    perfect = CallableEstimator(simulated_model(truth_inv, native_px=None, seed=1), name="simulated")
    plain, cut = perfect.predict(image), estimate_without_background(image, alpha, model=perfect)
    print(f"\nbackground removed before estimation ({w}x{h}, ellipse foreground {100 * fg.mean():.0f} %):")
    print(
        f"- simulated perfect relative model: background at the far value "
        f"{bool((cut.values[~fg] == cut.values[fg].min()).all())}; foreground vs plain estimate after its "
        f"scale/shift: max residual {affine_residual(plain.values[fg], cut.values[fg]):.1e} of the range"
    )
    from depthforge.models.estimator import load_model
    from depthforge.models.testing import build_depth_anything

    with tempfile.TemporaryDirectory() as tmp:
        tiny = load_model(str(build_depth_anything(Path(tmp) / "da")), backend="torch")
        photo = segmentation_scene("same_colour", size_hw=(h, w))[0]
        plain, cut = tiny.predict(photo), estimate_without_background(photo, alpha, model=tiny)
        print(
            f"- tiny random Depth Anything (context-dependent, untrained): background at the far value "
            f"{bool((cut.values[~fg] == cut.values[fg].min()).all())}; foreground vs plain after scale/shift: "
            f"max residual {affine_residual(plain.values[fg], cut.values[fg]):.2f} of the range (the model sees a "
            "different picture; a trained model's figure needs real weights)"
        )

        try:
            import onnx  # noqa: F401

            from depthforge.models import rembg_backend as rb
        except ImportError:
            print("- onnx not installed: rembg figures skipped")
        else:
            path = rb.build_red_channel_onnx(Path(tmp) / "red.onnx")
            for conv in ("u2net_custom", "dis_custom"):
                model = rb.load_rembg_model(conv, model_path=path)
                big = segmentation_scene("same_depth", size_hw=(1536, 2048))[0]
                model.predict(big)
                t0 = time.perf_counter()
                model.predict(big)
                print(
                    f"- rembg convention {conv} ({model.spec.size_px} px input) on a 3-MP photo, tiny 1x1-conv "
                    f"graph: {1000 * (time.perf_counter() - t0):.0f} ms (resizes and normalisation: the overhead "
                    "around a real model)"
                )
        from depthforge.models.sam import build_tiny_sam, load_sam_model
        from depthforge.render.fusion import depth_prompts

        sam = load_sam_model(str(build_tiny_sam(Path(tmp) / "sam")), device="cpu")
        image, inverse, _ = segmentation_scene("same_colour", size_hw=(h, w))
        t0 = time.perf_counter()
        prompt = depth_prompts(DepthMap(inverse, kind="relative"))
        t1 = time.perf_counter()
        sam.predict(image, box_xyxy=prompt.box_xyxy, points_xy=prompt.points_xy, point_labels=prompt.point_labels)
        t2 = time.perf_counter()
        print(
            f"- prompts from depth {1000 * (t1 - t0):.0f} ms, tiny SAM prompt-to-mask {1000 * (t2 - t1):.0f} ms "
            f"({w}x{h}; box {tuple(round(v) for v in prompt.box_xyxy)}, points {prompt.points_xy})"
        )


if __name__ == "__main__":
    main()
