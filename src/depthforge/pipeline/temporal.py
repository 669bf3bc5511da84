"""Temporal consistency for per-frame depth models: one pass, constant memory, no look-ahead.

Per-frame relative models give each frame its own unknown scale and shift, and per-frame display normalisation
(min..max of each frame) adds more: the brightest pixel of every frame is white whatever it is, so a depth
video flickers. :class:`TemporalStabilizer` removes most of it, frame by frame:

0. **Pans.** The global translation between consecutive frames is measured by phase correlation and the
   reference is moved with it, so "the same pixel" means the same point of the scene during a pan.
1. **Alignment.** Frame t's inverse depth ``d_t`` is mapped to the running reference ``R`` (the previous
   output) by a robust scale and shift, ``a_t = s * d_t + b``, fitted only on pixels whose colour changed little
   since the previous frame (those pixels most likely kept their depth), on a grid of at most ``fit_pixels``
   pixels: the slope matches robust spreads, the shift is a Tukey-biweight fit (see :func:`robust_scale_shift`:
   an ordinary least-squares slope is biased towards 0 by noise, which compounds from frame to frame).
2. **Temporal filter.** A motion-compensated recursive filter: ``out = a_t + w * (R - a_t)`` with
   ``w = strength * exp(-(diff / tau)^2)`` per pixel (``R`` = the previous *output*, moved with the pan;
   ``diff`` = blurred colour change): static pixels are smoothed, pixels whose colour changed (moving objects,
   occlusions, content entering at the border) take the new frame, so moving objects leave no trails. With
   the default ``strength`` 0.8 a static pixel takes 0.2 of the new frame (time constant ~4.5 frames). The
   per-frame error of depth models is not independent from frame to frame (a slow pan moves the content
   across the model's patch grid, so the error oscillates over several frames), hence the strong default
   (flicker figures: ``benchmarks/RESULTS.md``, measured with :func:`flicker_index`).
3. **Scene cuts.** When fewer than ``min_static`` of the pixels are static, the frame is matched to the
   reference's 5th..95th percentile range instead and not blended.

The first frame sets the aligned units: its 1st..99th percentile range becomes 0..1, or, with ``keep_units``
(a metric model's 1/m, a disparity's pixels), its values stay as they are, so the clip keeps the first frame's
scale and later frames are fitted to it. The stabilizer never
looks at future frames, so memory and latency do not depend on the clip's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.validation import check_array, check_range, check_same_hw
from depthforge.process.align import fit_scale_shift, tukey_fit

__all__ = ["TemporalStabilizer", "FrameFit", "robust_scale_shift", "flicker_index"]


@dataclass(frozen=True)
class FrameFit:
    """How one frame was aligned: ``aligned = scale * raw + shift``.

    Attributes:
        scale, shift: the fitted map from the frame's raw inverse depth to the reference units.
        static_fraction: share of the fitting pixels whose colour changed little (0..1).
        method: ``first``, ``fit`` (robust least squares) or ``cut`` (percentile match after a scene cut).
    """

    scale: float
    shift: float
    static_fraction: float
    method: str


def robust_scale_shift(
    x: np.ndarray,
    y: np.ndarray,
    *,
    iterations: int = 4,
    symmetric: bool = True,
) -> tuple[float, float]:
    """Scale and shift of ``y ~ s * x + b`` that outliers do not move.

    Args:
        x, y: 1-D float arrays of the same length (finite), at least 2 values.
        iterations: at most this many Tukey-biweight reweighting rounds (symmetric mode).
        symmetric: the slope is the ratio of the standard deviations of y and x, and the shift a Tukey-biweight
            location of ``y - s * x`` (:func:`depthforge.process.align.tukey_fit`). Noise in x does not pull this
            slope towards 0, which matters for chained fits (frame to frame): an ordinary least-squares slope
            would shrink the clip's contrast a little with every frame. False: the robust fit of y on x,
            :func:`depthforge.process.align.fit_scale_shift`.

    Returns:
        (scale, shift) as floats; scale 1 when ``x`` has no spread.
    """
    # standardised x and y keep the solve well conditioned whatever the model's output range
    (x0, xs, xv), (y0, ys, yv) = _standardise(x), _standardise(y)
    sx, sy = float(np.std(xv)), float(np.std(yv))
    if symmetric or sx == 0:
        s = sy / sx if sx > 0 else 1.0
        r = yv - s * xv
        ones = np.ones_like(r)
        start = (float(np.median(r)), 0.0)
        b = tukey_fit(ones, r, ones, fit="scale", start=start, max_iter=iterations)[0]  # robust location of r
    else:
        fitted = fit_scale_shift(xv, yv)
        s, b = fitted.scale, fitted.shift
    # undo the standardisation: y = y0 + ys * (s * (x - x0) / xs + b)
    scale = ys * s / xs
    return float(scale), float(y0 + ys * b - scale * x0)


def _standardise(v: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(centre, spread, (v - centre) / spread) of ``v`` as float64: median and standard deviation (0 and 1 for
    an empty ``v``, spread 1 when there is none)."""
    v = np.asarray(v, np.float64)
    c = float(np.median(v)) if v.size else 0.0
    spread = float(np.std(v)) if v.size else 1.0
    spread = spread if spread > 0 and np.isfinite(spread) else 1.0
    return c, spread, (v - c) / spread


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    img = image if image.dtype == np.uint8 else (image.astype(np.float32) / 257.0).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _even_dft_size(n: int) -> int:
    """The largest even size <= ``n`` that OpenCV's DFT takes without padding (``n`` itself when below 4)."""
    import cv2

    m = n - n % 2
    while m > 2 and cv2.getOptimalDFTSize(m) != m:
        m -= 2
    return m if m >= 4 else n


class TemporalStabilizer:
    """Stateful one-pass aligner of per-frame inverse depth (see the module docstring).

    Args:
        strength: temporal filter strength in [0, 1): the weight of the (pan-compensated) previous output on
            static pixels; the new frame gets ``1 - strength`` (0 = alignment only, no blending).
        tau: colour change (0..1 gray levels, after a 5x5 blur) at which blending falls to 1/e of ``strength``;
            pixels with a change below ``tau`` count as static for the fit.
        min_static: share of static pixels below which a frame counts as a scene cut.
        fit_pixels: at most this many pixels (a regular grid) are used for the fit.
        motion: compensate global translation (camera pans) before comparing with the reference.
        keep_units: keep the first frame's values (a metric model's 1/m, a disparity's px) instead of mapping its
            1st..99th percentiles to 0..1; later frames are aligned to them, so the clip keeps those units.

    Example:
        >>> stab = TemporalStabilizer()  # doctest: +SKIP
        >>> aligned, fit = stab.update(image, depth)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        strength: float = 0.8,
        tau: float = 0.04,
        min_static: float = 0.1,
        fit_pixels: int = 20_000,
        motion: bool = True,
        keep_units: bool = False,
    ) -> None:
        self.strength = check_range(strength, "strength", low=0.0, high=0.99)
        self.tau = check_range(tau, "tau", low=1e-4, high=1.0)
        self.min_static = check_range(min_static, "min_static", low=0.0, high=1.0)
        self.fit_pixels = int(fit_pixels)
        self.motion = bool(motion)
        self.keep_units = bool(keep_units)
        self._window: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the reference (the next frame starts a new clip)."""
        self._ref: np.ndarray | None = None
        self._fit_ref: np.ndarray | None = None
        self._params: tuple[float, float] | None = None
        self._gray: np.ndarray | None = None

    @renamed_keywords(inverse_depth="depth")
    def update(self, image: np.ndarray, depth: DepthMap | np.ndarray) -> tuple[np.ndarray, FrameFit]:
        """Align one frame to the running reference and filter it.

        Args:
            image: (H, W, 3) uint8/uint16 RGB frame (for the colour-change mask).
            depth: a :class:`DepthMap` of any kind (its :meth:`~DepthMap.inverse_depth` is used), or an (H, W)
                float array of inverse depth (larger = nearer), NaN = invalid.

        Returns:
            ((H, W) float32 aligned inverse depth in the clip's units, NaN kept), and the :class:`FrameFit`.
        """
        import cv2

        img = check_array(image, "image", ndim=3, channels=3)
        inverse = depth.inverse_depth() if isinstance(depth, DepthMap) else depth
        d = check_array(inverse, "depth", ndim=2, dtype_kind="f").astype(np.float32)
        check_same_hw(img, "image", d, "depth")
        gray = _gray(img)
        ok = np.isfinite(d)
        if self._ref is None or self._fit_ref is None or self._gray is None or self._ref.shape != d.shape:
            aligned, fit = self._first(d, ok)
            out = aligned
        else:
            ref, fit_ref, prev = self._compensate((self._ref, self._fit_ref, self._gray), gray)
            # unknown (moved into view) pixels count as changed; NaN must not reach the running-sum blur
            diff = cv2.blur(np.nan_to_num(np.abs(gray - prev), nan=1.0), (5, 5))
            aligned, fit = self._align(d, ok, diff, fit_ref)
            out = aligned
            if fit.method == "fit" and self.strength > 0:
                with np.errstate(invalid="ignore"):
                    w = np.nan_to_num(self.strength * np.exp(-((diff / self.tau) ** 2)), nan=0.0).astype(np.float32)
                blend = aligned + w * (ref - aligned)
                out = np.where(np.isfinite(ref) & ok, blend, aligned).astype(np.float32)
        # the fit follows the unfiltered aligned maps, so the filter (which averages noise away) cannot feed
        # back into the scale; the filter follows the outputs
        self._fit_ref = aligned
        self._ref = out
        self._gray = gray
        return out.copy(), fit

    def _compensate(self, maps: tuple[np.ndarray, ...], gray: np.ndarray) -> tuple[np.ndarray, ...]:
        """Move the previous maps by the global translation from the previous frame to ``gray`` (a pan),
        estimated by phase correlation on the last map of ``maps`` (the previous gray frame); pixels that come
        into view become NaN (unknown)."""
        import cv2

        if not self.motion:
            return maps
        h, w = gray.shape
        # the central crop of even DFT sizes: on odd ones (after OpenCV pads to an optimal size) phaseCorrelate
        # finds half a pixel between two identical frames (user trial 6: a static shot's depth drifted 0.5 % and
        # smeared its edges, the reference moved by 0.5 px on every frame)
        ch, cw = _even_dft_size(h), _even_dft_size(w)
        crop = (slice((h - ch) // 2, (h - ch) // 2 + ch), slice((w - cw) // 2, (w - cw) // 2 + cw))
        if self._window is None or self._window.shape != (ch, cw):
            self._window = cv2.createHanningWindow((cw, ch), cv2.CV_32F)
        # copies: phaseCorrelate may apply the window to its inputs in place
        (dx, dy), response = cv2.phaseCorrelate(maps[-1][crop].copy(), gray[crop].copy(), self._window)
        if response < 0.1 or abs(dx) > w / 4 or abs(dy) > h / 4 or (abs(dx) < 0.25 and abs(dy) < 0.25):
            return maps
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
        nan = (float("nan"),) * 4
        return tuple(
            cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=nan)
            for a in maps
        )

    def _first(self, d: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, FrameFit]:
        if self.keep_units and ok.any():
            self._params = (1.0, 0.0)
        if not ok.any() or self.keep_units:
            return d.copy(), FrameFit(1.0, 0.0, 0.0, "first")
        lo, hi = (float(v) for v in np.percentile(d[ok], [1.0, 99.0]))
        s = 1.0 / (hi - lo) if hi > lo else 1.0
        b = -lo * s
        self._params = (s, b)
        return (d * np.float32(s) + np.float32(b)).astype(np.float32), FrameFit(s, b, 0.0, "first")

    def _align(self, d: np.ndarray, ok: np.ndarray, diff: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, FrameFit]:
        step = max(1, int(np.ceil(np.sqrt(d.size / max(self.fit_pixels, 1)))))  # a grid of <= fit_pixels
        grid = (slice(step // 2, None, step),) * 2
        ds, rs, dif = d[grid], ref[grid], diff[grid]
        both = np.isfinite(ds) & np.isfinite(rs)
        static = both & (dif < self.tau)
        frac = float(static.sum()) / max(int(both.sum()), 1)
        s = b = None
        evidence = 0.0
        if frac >= self.min_static and static.sum() >= 16:
            x, y = ds[static], rs[static]
            s, b = robust_scale_shift(x, y)
            method = "fit"
            # how much the fit can be trusted: the share of the reference's variance the frame explains (r^2).
            # A real model's consecutive frames agree (r ~ 0.9+) and the fit is followed; noise-like outputs
            # (r ~ 0) keep the previous frame's mapping instead of chasing the noise.
            with np.errstate(invalid="ignore", divide="ignore"):
                r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
            evidence = max(r, 0.0) ** 2 if np.isfinite(r) else 0.0
        if s is None or b is None or not np.isfinite(s) or s <= 0:
            s, b = self._percentile_match(d[ok], ref[np.isfinite(ref)])
            method = "cut"
        elif self._params is not None:
            ps, pb = self._params
            s, b = ps + evidence * (s - ps), pb + evidence * (b - pb)
        self._params = (float(s), float(b))
        return (d * np.float32(s) + np.float32(b)).astype(np.float32), FrameFit(float(s), float(b), frac, method)

    @staticmethod
    def _percentile_match(values: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
        if values.size == 0 or ref.size == 0:
            return 1.0, 0.0
        v5, v95 = np.percentile(values, [5.0, 95.0])
        r5, r95 = np.percentile(ref, [5.0, 95.0])
        s = (r95 - r5) / (v95 - v5) if v95 > v5 else 1.0
        return float(s), float(r5 - s * v5)


@renamed_keywords(step="step_px")
def flicker_index(frames: Sequence[np.ndarray], *, step_px: tuple[int, int] = (0, 0)) -> float:
    """Mean absolute frame-to-frame change on matched pixels, in units of the clip's spread (lower = steadier).

    For a clip whose scene is static and whose window moves by a known whole number of pixels per frame (a
    crop sliding across a photo), the scene point at pixel ``(y + dy, x + dx)`` of frame ``t - 1`` is at
    ``(y, x)`` of frame ``t``; its true depth does not change, so every change there is flicker. The mean of
    ``|f_t(y, x) - f_{t-1}(y + dy, x + dx)|`` over all matched, finite pixel pairs of all consecutive frames is
    divided by the 5th..95th percentile range of all finite values of all frames, so methods whose outputs have
    different units or contrast (per-frame min..max, a fixed clip range, aligned inverse depth) compare fairly.

    Args:
        frames: at least 2 (H, W) float maps of one clip, in one method's units (NaN = invalid).
        step_px: ``(dy, dx)`` window movement in pixels per frame (``(0, 1)``: the crop moves 1 px to the right,
            the content 1 px to the left).

    Returns:
        the flicker index (float >= 0); NaN when no pixels match or the clip has no spread.
    """
    if len(frames) < 2:
        raise ValidationError(f"frames: need at least 2 frames, got {len(frames)}")
    dy, dx = (int(v) for v in step_px)
    h, w = np.asarray(frames[0]).shape[:2]
    cur = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    prev = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
    total, count = 0.0, 0
    for a, b in zip(frames[1:], frames[:-1], strict=False):
        diff = np.abs(np.asarray(a, np.float64)[cur] - np.asarray(b, np.float64)[prev])
        ok = np.isfinite(diff)
        total += float(diff[ok].sum())
        count += int(ok.sum())
    values = np.concatenate([np.asarray(f, np.float64).ravel() for f in frames])
    values = values[np.isfinite(values)]
    if count == 0 or values.size == 0:
        return float("nan")
    lo, hi = np.percentile(values, [5.0, 95.0])
    return total / count / float(hi - lo) if hi > lo else float("nan")
