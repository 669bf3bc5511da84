"""``depthforge eval``: standard metrics of a predicted depth map against ground truth.

Depth metrics: AbsRel, SqRel, RMSE, RMSE log, delta < 1.25 / 1.25^2 / 1.25^3 (fractions); edge
sharpness: boundary F1 (Depth Pro's scale-invariant contour F1, 0..1) and the ordinal error across ground-truth
edges (0..1). For disparity ground
truth also bad-1/2/4 (percent, missing estimates count as bad) and EPE (px). Relative predictions are aligned to
the ground truth first by least squares in inverse depth (MiDaS / Depth Anything protocol).

Example (Middlebury): depthforge eval pred.pfm disp2.png --gt-kind disparity --gt-scale 0.25
"""

from __future__ import annotations

import argparse

from depthforge.cli.common import add_command

_LABELS = {
    "abs_rel": "AbsRel",
    "sq_rel": "SqRel",
    "rmse": "RMSE",
    "rmse_log": "RMSE log",
    "delta1": "delta < 1.25",
    "delta2": "delta < 1.25^2",
    "delta3": "delta < 1.25^3",
    "boundary_f1": "boundary F1",
    "ordinal_error": "ordinal error",
    "bad1": "bad-1 (%)",
    "bad2": "bad-2 (%)",
    "bad4": "bad-4 (%)",
    "epe": "EPE (px)",
    "coverage": "coverage",
    "n_pixels": "pixels",
}


def register(sub: argparse._SubParsersAction) -> None:
    summary = "metrics of a depth map against ground truth (AbsRel, RMSE, delta, boundary F1, bad-N, EPE)"
    p = add_command(sub, "eval", __doc__, summary, raw=True)
    p.add_argument("pred", metavar="PRED", help="predicted depth file")
    p.add_argument("gt", metavar="GT", help="ground-truth depth or disparity file")
    p.add_argument(
        "--pred-kind",
        choices=("relative", "metric", "disparity"),
        help="what the prediction's values mean, when the file does not say",
    )
    p.add_argument("--pred-scale", type=float, help="multiply the prediction's raw values by this")
    p.add_argument(
        "--gt-kind",
        choices=("metric", "disparity"),
        help="what the ground truth's values mean, when the file does not say",
    )
    p.add_argument(
        "--gt-scale",
        type=float,
        help="multiply the ground truth's raw values by this (0 = unknown), e.g. 0.25 for Middlebury",
    )
    p.add_argument(
        "--align",
        default="auto",
        choices=("auto", "none", "scale", "scale-shift"),
        help="fit the prediction to the ground truth in inverse depth first "
        "(auto: none when both have the same kind, else scale-shift)",
    )
    p.add_argument("--robust", action="store_true", help="outlier-rejecting fit instead of plain least squares")
    p.add_argument("--mask", metavar="FILE", help="image: evaluate only where it is non-zero (bright)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import math

    import numpy as np

    from depthforge.cli.common import read_depth_flagged
    from depthforge.core.errors import ValidationError
    from depthforge.process.metrics import evaluate

    pred = read_depth_flagged(args.pred, kind=args.pred_kind, scale=args.pred_scale, flag="pred")
    gt = read_depth_flagged(args.gt, kind=args.gt_kind, scale=args.gt_scale, flag="gt")
    if gt.kind not in ("metric", "disparity"):
        raise ValidationError(f"{args.gt}: the file does not say what its values are; give --gt-kind metric|disparity")
    mask = None
    if args.mask:
        from depthforge.io.images import read_image

        img = read_image(args.mask).as_uint8()
        mask = img.max(axis=2) > 0 if img.ndim == 3 else img > 0
        if mask.shape != gt.shape:
            raise ValidationError(
                f"--mask: size {mask.shape[1]}x{mask.shape[0]} does not match the ground truth"
                f" {gt.shape[1]}x{gt.shape[0]}"
            )
    if pred.shape != gt.shape:
        from depthforge.cli.common import note

        note(f"prediction {pred.shape[1]}x{pred.shape[0]} resampled to the ground truth's {gt.shape[1]}x{gt.shape[0]}")
    m = evaluate(pred, gt, align=args.align, mask=mask, robust=args.robust)

    def clean(v: object) -> object:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    if args.json:
        out = {k: clean(v) for k, v in m.items()}
        out["n_pixels"] = int(m["n_pixels"])
        print(json.dumps(out))
        return 0
    print(f"{'metric':<16} value")
    for key, label in _LABELS.items():
        if key in m:
            v = m[key]
            text = f"{int(v)}" if key == "n_pixels" else ("n/a" if not np.isfinite(v) else f"{v:.4f}")
            print(f"{label:<16} {text}")
    if "alignment" in m:
        a = m["alignment"]
        print(f"aligned ({m['align']}) in inverse depth: scale {a['scale']:.6g}, shift {a['shift']:.6g}")
    return 0
