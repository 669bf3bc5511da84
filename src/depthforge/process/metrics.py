"""Evaluation metrics: how far a predicted depth map is from the ground truth.

Depth metrics (Eigen et al. 2014, used by every monocular depth paper), over pixels valid in both maps:

* ``abs_rel`` = mean(|z - z*| / z*), ``sq_rel`` = mean((z - z*)^2 / z*), ``rmse`` = sqrt(mean((z - z*)^2)),
  ``rmse_log`` = sqrt(mean((ln z - ln z*)^2)), ``delta1/2/3`` = share (0..1) of pixels with
  max(z / z*, z* / z) < 1.25, 1.25^2, 1.25^3.

Boundary metrics (sharpness of depth edges), over neighbouring pixel pairs valid in both maps:

* ``boundary_f1``: the scale-invariant boundary F1 of Depth Pro (Bochkovskii et al. 2024): a pair of 4-neighbours
  (i, j) is an occluding contour of a depth map z when z_j / z_i > 1 + t (directional: j behind i); precision and
  recall of the prediction's contours against the ground truth's, their F1 averaged over t = 5, 10, 15, 20 and
  25 %. Ratios make it independent of the depth scale.
* ``ordinal_error``: over pairs of pixels ``span_px`` apart (2 px, rows and columns) that straddle a ground-truth
  depth edge (depth ratio above 1.1), the share (0..1) whose order the prediction gets wrong: the far pixel not
  at least 1 % farther than the near one (a flattened edge counts as wrong).

Disparity metrics (Middlebury, KITTI), over pixels with a known ground-truth disparity:

* ``bad1/bad2/bad4`` = percent of pixels whose |d - d*| > 1, 2, 4 px, pixels without an estimate counted as bad;
  ``epe`` = mean |d - d*| (px) over pixels that have an estimate.

:func:`evaluate` ties it together for :class:`DepthMap` inputs: relative (or otherwise differently scaled)
predictions are first aligned to the ground truth by least squares in inverse depth (MiDaS / Depth Anything
protocol). For disparity ground truth the depth metrics use z = 1 / d (in units of focal x baseline; abs_rel,
rmse_log and the deltas do not depend on that unit, rmse and sq_rel do).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap, as_depthmap
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice, check_same_hw

__all__ = [
    "ALIGN_MODES",
    "DEPTH_METRICS",
    "DISPARITY_METRICS",
    "BOUNDARY_METRICS",
    "depth_metrics",
    "disparity_metrics",
    "boundary_metrics",
    "flat_region_rmse",
    "evaluate",
]

ALIGN_MODES = ("auto", "none", "scale", "scale-shift")
DEPTH_METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")
DISPARITY_METRICS = ("bad1", "bad2", "bad4", "epe")
BOUNDARY_METRICS = ("boundary_f1", "ordinal_error")
_BOUNDARY_THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25)


def _mask(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    check_same_hw(gt, "gt", pred, "pred")
    known = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        m = check_array(mask, "mask", ndim=2)
        check_same_hw(gt, "gt", m, "mask")
        known &= m.astype(bool)
    return known


def depth_metrics(pred: np.ndarray, gt: np.ndarray, *, mask: np.ndarray | None = None) -> dict[str, float]:
    """Depth metrics of ``pred`` against ``gt``.

    Args:
        pred: (H, W) float depth (metres or any positive unit), NaN or <= 0 = no estimate.
        gt: (H, W) float ground-truth depth in the same unit, NaN or <= 0 = unknown.
        mask: optional (H, W) bool, True where to evaluate.

    Returns:
        The keys of ``DEPTH_METRICS`` (NaN when no pixel qualifies), plus ``n_pixels`` (pixels evaluated) and
        ``coverage`` (share of known ground-truth pixels that have an estimate, 0..1).
    """
    p = check_array(pred, "pred", ndim=2, dtype_kind="uif").astype(np.float64)
    g = check_array(gt, "gt", ndim=2, dtype_kind="uif").astype(np.float64)
    known = _mask(g, p, mask)
    both = known & np.isfinite(p) & (p > 0)
    out: dict[str, float] = dict.fromkeys(DEPTH_METRICS, float("nan"))
    n = int(both.sum())
    out["n_pixels"] = float(n)
    out["coverage"] = float(n / known.sum()) if known.any() else float("nan")
    if n == 0:
        return out
    z, zs = p[both], g[both]
    err = z - zs
    ratio = np.maximum(z / zs, zs / z)
    out.update(
        abs_rel=float(np.mean(np.abs(err) / zs)),
        sq_rel=float(np.mean(err**2 / zs)),
        rmse=float(np.sqrt(np.mean(err**2))),
        rmse_log=float(np.sqrt(np.mean((np.log(z) - np.log(zs)) ** 2))),
        delta1=float(np.mean(ratio < 1.25)),
        delta2=float(np.mean(ratio < 1.25**2)),
        delta3=float(np.mean(ratio < 1.25**3)),
    )
    return out


def _pairs(z: np.ndarray, span: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(near side, far side) value arrays of the pixel pairs ``span`` apart along rows and along columns."""
    return [(z[:, :-span], z[:, span:]), (z[:-span, :], z[span:, :])]


def boundary_metrics(
    pred: np.ndarray, gt: np.ndarray, *, mask: np.ndarray | None = None, span_px: int = 2
) -> dict[str, float]:
    """Sharpness of depth edges: ``boundary_f1`` (0..1, higher is better) and ``ordinal_error`` (0..1, lower is
    better); see the module docstring.

    Args:
        pred: (H, W) float depth (any positive unit; scale does not matter), NaN or <= 0 = no estimate.
        gt: (H, W) float ground-truth depth, NaN or <= 0 = unknown.
        mask: optional (H, W) bool, True where to evaluate.
        span_px: pixel distance of the ordinal pairs, >= 1.

    Returns:
        ``boundary_f1`` and ``ordinal_error`` (NaN when the ground truth has no contour / no edge pair).
    """
    p = check_array(pred, "pred", ndim=2, dtype_kind="uif").astype(np.float64)
    g = check_array(gt, "gt", ndim=2, dtype_kind="uif").astype(np.float64)
    known = _mask(g, p, mask) & np.isfinite(p) & (p > 0)
    p = np.where(known, p, np.nan)
    g = np.where(known, g, np.nan)
    scores = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in _BOUNDARY_THRESHOLDS:
            hit = n_pred = n_gt = 0
            for (pa, pb), (ga, gb) in zip(_pairs(p, 1), _pairs(g, 1), strict=True):
                for pr, gr in ((pb / pa, gb / ga), (pa / pb, ga / gb)):  # both directions
                    cp, cg = pr > 1 + t, gr > 1 + t
                    hit += int(np.sum(cp & cg))
                    n_pred += int(np.sum(cp))
                    n_gt += int(np.sum(cg))
            if n_gt == 0:
                continue
            precision = hit / n_pred if n_pred else 0.0
            recall = hit / n_gt
            scores.append(0.0 if hit == 0 else 2 * precision * recall / (precision + recall))
        wrong = pairs = 0
        for (pa, pb), (ga, gb) in zip(_pairs(p, span_px), _pairs(g, span_px), strict=True):
            for pr, gr in ((pb / pa, gb / ga), (pa / pb, ga / gb)):
                edge = gr > 1.1
                pairs += int(np.sum(edge))
                wrong += int(np.sum(edge & ~(pr > 1.01)))
    return {
        "boundary_f1": float(np.mean(scores)) if scores else float("nan"),
        "ordinal_error": wrong / pairs if pairs else float("nan"),
    }


def flat_region_rmse(pred: np.ndarray, gt: np.ndarray, *, margin_px: float = 8.0) -> float:
    """RMSE of ``pred`` against ``gt`` away from edges, after a least-squares scale-and-shift fit there.

    Measures global structure where detail cannot matter: pixels at least ``margin_px`` from every ground-truth
    edge (neighbours whose values differ by more than 5 %).

    Args:
        pred: (H, W) float, the same kind as ``gt`` up to an affine map (e.g. relative inverse depth), NaN = none.
        gt: (H, W) float inverse depth or disparity (> 0), NaN = unknown.
        margin_px: distance (pixels) from the nearest edge.

    Returns:
        The RMSE in ``gt``'s unit (NaN when no pixel qualifies).
    """
    from scipy import ndimage

    from depthforge.process.align import fit_scale_shift

    p = check_array(pred, "pred", ndim=2, dtype_kind="uif").astype(np.float64)
    g = check_array(gt, "gt", ndim=2, dtype_kind="uif").astype(np.float64)
    check_same_hw(g, "gt", p, "pred")
    log_g = np.log(np.where(np.isfinite(g) & (g > 0), g, np.nan))
    edge = np.zeros(g.shape, bool)
    with np.errstate(invalid="ignore"):
        dy = ~(np.abs(np.diff(log_g, axis=0)) <= np.log(1.05))
        dx = ~(np.abs(np.diff(log_g, axis=1)) <= np.log(1.05))
    edge[:-1] |= dy
    edge[1:] |= dy
    edge[:, :-1] |= dx
    edge[:, 1:] |= dx
    use = (ndimage.distance_transform_edt(~edge) >= margin_px) & np.isfinite(log_g) & np.isfinite(p)
    if use.sum() < 2:
        return float("nan")
    al = fit_scale_shift(p[use], g[use], robust=False)
    return float(np.sqrt(np.mean((al.scale * p[use] + al.shift - g[use]) ** 2)))


def disparity_metrics(pred: np.ndarray, gt: np.ndarray, *, mask: np.ndarray | None = None) -> dict[str, float]:
    """Stereo metrics of ``pred`` against ``gt`` disparities.

    Args:
        pred: (H, W) float disparity in pixels, NaN = no estimate.
        gt: (H, W) float ground-truth disparity in pixels, NaN or <= 0 = unknown.
        mask: optional (H, W) bool, True where to evaluate.

    Returns:
        ``bad1``, ``bad2``, ``bad4`` in percent (0..100, missing estimates count as bad) and ``epe`` in pixels
        (over pixels with an estimate).
    """
    p = check_array(pred, "pred", ndim=2, dtype_kind="uif").astype(np.float64)
    g = check_array(gt, "gt", ndim=2, dtype_kind="uif").astype(np.float64)
    known = _mask(g, p, mask)
    out: dict[str, float] = dict.fromkeys(DISPARITY_METRICS, float("nan"))
    if not known.any():
        return out
    err = np.abs(p[known] - g[known])
    has = np.isfinite(err)
    for name, thr in (("bad1", 1.0), ("bad2", 2.0), ("bad4", 4.0)):
        out[name] = float(100.0 * np.mean(~has | (err > thr)))
    out["epe"] = float(np.mean(err[has])) if has.any() else float("nan")
    return out


def evaluate(
    pred: DepthMap | np.ndarray,
    gt: DepthMap | np.ndarray,
    *,
    align: str = "auto",
    mask: np.ndarray | None = None,
    robust: bool = False,
    pred_kind: str | None = None,
    gt_kind: str | None = None,
) -> dict[str, Any]:
    """Compare a prediction with ground truth, aligning first when needed.

    Args:
        pred: any kind, (H, W); resampled to the ground truth's size first if it differs.
        gt: ``metric`` or ``disparity``.
        pred_kind, gt_kind: the kinds of ``pred`` and ``gt`` when they are plain (H, W) arrays (as ``kind=``
            elsewhere).
        align: ``auto`` (``none`` when both maps have the same kind, else ``scale-shift``), ``none``, ``scale``
            or ``scale-shift``: least squares of pred's inverse depth onto the ground truth's (1/m or px),
            over the evaluated pixels. Aligned depth is then capped at the ground truth's farthest depth: aligned
            inverse depths below the ground truth's smallest (those <= 0 included) are raised to it, as the MiDaS
            evaluation caps depth at its dataset's farthest (``1 / depth_cap``); so a prediction is never
            scored as farther than anything in the scene.
        mask: optional (H, W) bool, True where to evaluate.
        robust: use the outlier-rejecting fit instead of plain least squares (the papers use plain).

    Returns:
        The depth metrics and the boundary metrics, for disparity ground truth also the disparity metrics,
        ``n_pixels``, ``coverage`` and, when aligned, ``alignment`` (a dict: scale, shift, rms...). With
        disparity ground truth the depth metrics compare 1/d (``rmse`` in 1/px; the ratios are unitless) and
        the disparity metrics (``epe`` in pixels, ``bad1``..``bad4`` in percent) are of d itself.
    """
    from depthforge.process.align import fit_scale_shift

    check_choice(align, "align", ALIGN_MODES)
    for value, name in ((pred, "pred"), (gt, "gt")):
        if not isinstance(value, DepthMap) and {"pred": pred_kind, "gt": gt_kind}[name] is None:
            raise ValidationError(f"{name}_kind: an array as {name} needs {name}_kind= (or pass a DepthMap)")
    pred, gt = as_depthmap(pred, kind=pred_kind), as_depthmap(gt, kind=gt_kind)
    if gt.kind not in ("metric", "disparity"):
        kind = f"this one is {gt.kind} (say its kind: gt_kind=, or --gt-kind)"
        raise ValidationError(f"gt: ground truth must be metric or disparity, {kind}")
    if pred.shape != gt.shape:
        from depthforge.process.resample import resize_depth

        pred = resize_depth(pred, gt.shape)
    mode = align
    if mode == "auto":
        mode = "none" if pred.kind == gt.kind else "scale-shift"
    g_inv = gt.inverse_depth().astype(np.float64)
    known = _mask(g_inv, g_inv, mask)
    p_inv = pred.inverse_depth().astype(np.float64)
    result: dict[str, Any] = {}
    if mode == "none":
        if pred.kind != gt.kind:
            raise ValidationError(
                f"align: a {pred.kind} prediction cannot be compared with {gt.kind} ground truth without alignment"
            )
    else:
        al = fit_scale_shift(np.where(known, p_inv, np.nan), g_inv, fit=mode, robust=robust)
        al = replace(al, units="px" if gt.kind == "disparity" else "1/m")
        p_inv = al.scale * p_inv + al.shift
        floor = float(np.min(g_inv[known])) if known.any() else 0.0
        p_inv = np.where(np.isfinite(p_inv), np.maximum(p_inv, floor), np.nan)
        result["alignment"] = al.as_dict()
    with np.errstate(divide="ignore", invalid="ignore"):
        z_pred = 1.0 / np.where(p_inv > 0, p_inv, np.nan)
        z_gt = 1.0 / g_inv
    if gt.kind == "metric":
        z_gt = gt.values.astype(np.float64)
        if mode == "none":
            z_pred = pred.values.astype(np.float64)
    metrics: dict[str, Any] = depth_metrics(z_pred, z_gt, mask=known)
    metrics.update(boundary_metrics(z_pred, z_gt, mask=known))
    if gt.kind == "disparity":
        metrics.update(disparity_metrics(p_inv, g_inv, mask=known))
    metrics.update(result)
    metrics["align"] = mode
    return metrics
