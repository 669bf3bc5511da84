"""Alignment: a scale and shift that bring a depth map onto known distances.

The fit is done in inverse-depth space, where a relative map (Depth Anything, MiDaS) is an affine function of
the true inverse depth: ``1 / z = scale * value + shift`` (MiDaS / Depth Anything protocol). Targets can be a
few known points, a sparse or partial metric map (LiDAR, stereo) or a full reference map. With enough points the
fit is robust: a least-median-of-squares start from random pairs, then iteratively reweighted least squares with
Tukey's biweight, so a minority of wrong targets does not move it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from depthforge.core.depthmap import DepthMap, as_depthmap, depth_arrays
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_choice, check_same_hw

__all__ = [
    "FITS",
    "Alignment",
    "fit_scale_shift",
    "align_to_points",
    "align_to_depth",
    "apply_alignment",
    "tukey_fit",
]

FITS = ("scale", "scale-shift")
_ROBUST_MIN_POINTS = 6


@dataclass(frozen=True)
class Alignment:
    """The result of a fit ``target = scale * source + shift`` (in inverse depth).

    Attributes:
        scale, shift: the fitted coefficients (shift is 0 for ``fit="scale"``).
        fit: ``"scale"`` or ``"scale-shift"``.
        n_points: points used; ``n_inliers``: points the robust fit kept (all for a plain fit).
        rms: root-mean-square residual over the inliers, in the target's inverse-depth ``units``.
        units: ``1/m`` (metric target), ``px`` (disparity target) or ``inverse depth`` (an array of unknown units).
        abs_rel: mean |z_fit - z| / z over the inliers, in depth (not inverse depth): the residual in words.
    """

    scale: float
    shift: float
    fit: str
    n_points: int
    n_inliers: int
    rms: float
    abs_rel: float
    units: str = "inverse depth"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """A one-line human summary."""
        return (
            f"scale {self.scale:.6g}, shift {self.shift:.6g} ({self.fit}); residual over {self.n_inliers}/"
            f"{self.n_points} points: rms {self.rms:.4g} {self.units}, mean relative depth error "
            f"{100 * self.abs_rel:.3g} %"
        )


def _solve(x: np.ndarray, y: np.ndarray, w: np.ndarray, fit: str) -> tuple[float, float]:
    """Weighted least squares for y = s x (+ t)."""
    sw = float(w.sum())
    if sw <= 0:
        return float("nan"), float("nan")
    if fit == "scale":
        den = float(np.sum(w * x * x))
        return (float(np.sum(w * x * y)) / den if den > 0 else float("nan")), 0.0
    mx = float(np.sum(w * x)) / sw
    my = float(np.sum(w * y)) / sw
    dx = x - mx
    den = float(np.sum(w * dx * dx))
    if den <= 0:
        return float("nan"), float("nan")
    s = float(np.sum(w * dx * (y - my))) / den
    return s, my - s * mx


def fit_scale_shift(
    source: np.ndarray,
    target: np.ndarray,
    *,
    fit: str = "scale-shift",
    robust: bool = True,
    weights: np.ndarray | None = None,
    seed: int = 0,
) -> Alignment:
    """Fit ``target = scale * source + shift`` over the pixels or points where both are finite.

    Args:
        source: any-shape float array (inverse depth, or relative values); NaN = unknown.
        target: same shape, the known inverse depth (1/m, or px of disparity); NaN = unknown.
        fit: ``"scale-shift"`` (needs 2+ points) or ``"scale"`` (1+ point).
        robust: reject outliers (from 6 points up): least-median-of-squares start, then Tukey-weighted IRLS.
        weights: optional per-point confidence (>= 0), same shape.
        seed: seed of the random pairs of the robust start (results are reproducible).

    Returns:
        An :class:`Alignment`. Without outliers and noise the coefficients are exact to float64 precision.

    Raises:
        ValidationError: too few points, or the source is constant.
    """
    check_choice(fit, "fit", FITS)
    src = check_array(np.asarray(source), "source", dtype_kind="uif").astype(np.float64).ravel()
    tgt = check_array(np.asarray(target), "target", dtype_kind="uif").astype(np.float64).ravel()
    if src.shape != tgt.shape:
        raise ValidationError(f"target: {tgt.size} values do not match source's {src.size}")
    w0 = np.ones_like(src) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w0.shape != src.shape:
        raise ValidationError(f"weights: {w0.size} values do not match source's {src.size}")
    use = np.isfinite(src) & np.isfinite(tgt) & np.isfinite(w0) & (w0 > 0)
    x, y, w = src[use], tgt[use], w0[use]
    need = 2 if fit == "scale-shift" else 1
    if x.size < need:
        raise ValidationError(f"target: a {fit} fit needs at least {need} usable point(s), got {x.size}")
    s, t = _solve(x, y, w, fit)
    if not np.isfinite(s) or (fit == "scale-shift" and np.ptp(x) == 0):
        raise ValidationError("source: the values at the target points are all equal; nothing to fit")
    inl = np.ones(x.size, dtype=bool)
    if robust and x.size >= _ROBUST_MIN_POINTS:
        s, t, inl = tukey_fit(x, y, w, fit=fit, start=_lmeds(x, y, fit, seed))
    resid = y[inl] - (s * x[inl] + t)
    rms = float(np.sqrt(np.mean(resid**2))) if resid.size else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        z_fit = 1.0 / (s * x[inl] + t)
        z = 1.0 / y[inl]
        rel = np.abs(z_fit - z) / np.abs(z)
    rel = rel[np.isfinite(rel)]
    abs_rel = float(rel.mean()) if rel.size else float("nan")
    return Alignment(float(s), float(t), fit, int(x.size), int(inl.sum()), rms, abs_rel)


def tukey_fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, *, fit: str, start: tuple[float, float], max_iter: int = 50
) -> tuple[float, float, np.ndarray]:
    """The robust core of :func:`fit_scale_shift`: iteratively reweighted least squares of ``y = s x (+ t)`` with
    Tukey's biweight (residual scale from the MAD), from ``start`` = (s, t) until the coefficients settle.

    Args:
        x, y, w: 1-D float64 points and weights (finite, w > 0).
        fit: ``"scale"`` or ``"scale-shift"``. A robust location of ``y`` is the ``"scale"`` fit to ``x = 1``.
        start: the first (s, t), e.g. a least-median-of-squares fit.
        max_iter: at most this many reweighting rounds.

    Returns:
        (s, t, inliers: bool mask of the points with non-zero final weight).
    """
    s, t = start
    need = 2 if fit == "scale-shift" else 1
    inl = np.ones(x.size, dtype=bool)
    sigma = 0.0
    for it in range(max_iter):
        r = y - (s * x + t)
        if it < 3:  # re-estimate the residual scale at first, then keep it (converges faster)
            sigma = 1.4826 * float(np.median(np.abs(r)))
        floor = 1e-12 * max(float(np.max(np.abs(y))), 1e-300)
        if sigma <= floor:
            inl = np.abs(r) <= max(floor, 1e-9 * float(np.median(np.abs(y))))
            s, t = _solve(x[inl], y[inl], w[inl], fit) if inl.sum() >= need else (s, t)
            break
        c = 4.685 * sigma
        u = r / c
        tukey = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
        s_new, t_new = _solve(x, y, w * tukey, fit)
        if not np.isfinite(s_new):
            break
        tiny = 1e-9 * (abs(t) + abs(s) * float(np.mean(np.abs(x))))
        done = abs(s_new - s) <= 1e-9 * abs(s) and abs(t_new - t) <= tiny
        s, t = s_new, t_new
        inl = tukey > 0
        if done:
            break
    return s, t, inl


def _lmeds(x: np.ndarray, y: np.ndarray, fit: str, seed: int, trials: int = 300) -> tuple[float, float]:
    """Least median of squares over random minimal samples (1 point for scale, 2 for scale-shift)."""
    rng = np.random.default_rng(seed)
    n = x.size
    sub = rng.choice(n, size=5000, replace=False) if n > 5000 else np.arange(n)
    xs, ys = x[sub], y[sub]
    i = rng.integers(0, n, size=trials)
    if fit == "scale":
        ok = x[i] != 0
        s = y[i][ok] / x[i][ok]
        t = np.zeros_like(s)
    else:
        j = rng.integers(0, n, size=trials)
        ok = x[i] != x[j]
        s = (y[i][ok] - y[j][ok]) / (x[i][ok] - x[j][ok])
        t = y[i][ok] - s * x[i][ok]
    if s.size == 0:
        return _solve(x, y, np.ones_like(x), fit)
    scores = np.median(np.abs(ys[None, :] - (s[:, None] * xs[None, :] + t[:, None])), axis=1)
    best = int(np.argmin(scores))
    return float(s[best]), float(t[best])


def apply_alignment(depth: DepthMap, alignment: Alignment, *, kind: str = "metric") -> DepthMap:
    """Turn ``depth`` into ``kind`` (metric or disparity) with ``inverse = scale * depth.inverse_depth() + shift``.

    Metric output is ``z = 1 / inverse`` in metres; pixels whose aligned inverse depth is <= 0 (beyond infinity)
    become invalid. The alignment is recorded in ``meta["alignment"]``.
    """
    check_choice(kind, "kind", ("metric", "disparity"))
    inv = alignment.scale * depth.inverse_depth().astype(np.float64) + alignment.shift
    inv[inv <= 0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = 1.0 / inv if kind == "metric" else inv
    meta = {**depth.meta, "alignment": alignment.as_dict()}
    return depth.with_values(vals.astype(np.float32), kind=kind, meta=meta)  # type: ignore[arg-type]


@depth_arrays
def align_to_points(
    depth: DepthMap,
    points: Sequence[tuple[float, float, float]],
    *,
    fit: str | None = None,
    robust: bool = True,
) -> tuple[DepthMap, Alignment]:
    """Align to known distances at a few pixels.

    Args:
        depth: any kind (relative, metric or disparity).
        points: ``(x, y, metres)``: pixel column and row (centres at integers, rounded to the nearest pixel)
            and the distance along the optical axis there.
        fit: ``"scale-shift"`` (default with 2+ points) or ``"scale"`` (default with one point).
        robust: reject outliers when there are 6 or more points.

    Returns:
        (metric DepthMap, Alignment).

    Raises:
        ValidationError: a bad point, or points whose distances contradict the map's near/far order (the fit's
            scale would be <= 0 and turn the map inside out).
    """
    pts = list(points)
    if not pts:
        raise ValidationError("points: give at least one known point (x, y, metres)")
    h, w = depth.shape
    inv = depth.inverse_depth()
    src, tgt = [], []
    for k, p in enumerate(pts):
        if len(p) != 3:
            raise ValidationError(f"points[{k}]: expected (x, y, metres), got {p!r}")
        x, y, z = (float(v) for v in p)
        xi, yi = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        if not (0 <= xi < w and 0 <= yi < h):
            raise ValidationError(f"points[{k}]: pixel ({x:g}, {y:g}) is outside the {w}x{h} depth map")
        if not (np.isfinite(z) and z > 0):
            raise ValidationError(f"points[{k}]: distance must be > 0 metres, got {z:g}")
        if not np.isfinite(inv[yi, xi]):
            raise ValidationError(f"points[{k}]: the depth map has no value at pixel ({xi}, {yi})")
        src.append(float(inv[yi, xi]))
        tgt.append(1.0 / z)
    fit = fit or ("scale-shift" if len(pts) >= 2 else "scale")
    al = replace(_fit_named(np.array(src), np.array(tgt), "points", fit=fit, robust=robust), units="1/m")
    if not al.scale > 0:
        raise ValidationError(
            f"points: the fit turns the map's near/far order round (scale {al.scale:.3g}): the map puts the points "
            "in another order than their distances; check them, or fit the scale alone (fit='scale', --fit scale)"
        )
    return apply_alignment(depth, al), al


def _fit_named(source: np.ndarray, target: np.ndarray, name: str, *, fit: str, robust: bool) -> Alignment:
    """:func:`fit_scale_shift` on arrays the caller made, its errors naming the caller's parameter ``name``
    (``points`` or ``reference``) rather than ``source``/``target``, which the caller's user never passed."""
    try:
        return fit_scale_shift(source, target, fit=fit, robust=robust)
    except ValidationError as exc:
        if str(exc).startswith("source:"):
            raise ValidationError(
                f"{name}: the depth map has one value at every known point, so a scale-shift fit cannot tell near "
                "from far; fit the scale alone (fit='scale', --fit scale) or use other points"
            ) from None
        if str(exc).startswith("target:"):
            raise ValidationError(f"{name}: {str(exc).partition(': ')[2]}") from None
        raise  # fit=, robust=: the caller's own names already


@depth_arrays
def align_to_depth(
    depth: DepthMap,
    reference: DepthMap | np.ndarray,
    *,
    reference_kind: str | None = None,
    fit: str = "scale-shift",
    robust: bool = True,
    mask: np.ndarray | None = None,
) -> tuple[DepthMap, Alignment]:
    """Align to a sparse, partial or full reference map (LiDAR, stereo, ground truth).

    Args:
        depth: any kind, (H, W).
        reference: a ``metric`` or ``disparity`` :class:`DepthMap`, or an (H, W) array with ``reference_kind``;
            NaN where unknown. Resampled to ``depth``'s size if needed.
        reference_kind: what a plain array as ``reference`` holds: ``"metric"`` (m) or ``"disparity"`` (px).
        fit: ``"scale-shift"`` or ``"scale"``.
        robust: reject outliers (Tukey IRLS after a least-median start).
        mask: optional (H, W) bool, True where the reference may be used.

    Returns:
        (DepthMap of the reference's kind, Alignment). The fit is in inverse depth (1/m, or px of disparity).
    """
    # user trial 7: an array was an AttributeError
    reference = as_depthmap(reference, kind=reference_kind, name="reference", kind_name="reference_kind")
    if reference.kind not in ("metric", "disparity"):
        raise ValidationError(f"reference: needs a metric or disparity map, this one is {reference.kind}")
    ref = reference
    if ref.shape != depth.shape:
        from depthforge.process.resample import resize_depth

        ref = resize_depth(ref, depth.shape)
    tgt = ref.inverse_depth().astype(np.float64)
    if mask is not None:
        m = check_array(mask, "mask", ndim=2)
        check_same_hw(tgt, "depth", m, "mask")
        tgt = np.where(m.astype(bool), tgt, np.nan)
    al = _fit_named(depth.inverse_depth(), tgt, "reference", fit=fit, robust=robust)
    al = replace(al, units="px" if ref.kind == "disparity" else "1/m")  # user trial 7: px called inverse depth
    return apply_alignment(depth, al, kind=ref.kind), al
