"""High-resolution detail: overlapping tiles at the model's native size, fitted to a global pass and fused.

Monocular models see a photo at about 518 pixels, so a 12-MP photo's depth has soft, wandering edges. This module
runs any model (registry, local folder or a plain function) twice over:

1. the **global pass** on the whole photo at the model's native size: right structure, soft edges;
2. an ``rows x cols`` grid of **overlapping tiles** of equal size, each seen by the model at its native size (so
   each tile is seen at a higher resolution than in the global pass; a small photo is upscaled by the model's own
   resize), batched through the backend;
3. each tile's values are **fitted to the global pass, compared at the global pass's resolution**: both the tile
   and the global map's crop are area-reduced to the size the global pass saw that crop at, then a robust
   (Tukey) fit gives ``scale * tile + shift`` for relative inverse depth, ``scale * tile`` for disparity, and a
   scale found in log depth for metric maps, so sky or glass cannot dominate;
4. the fitted tiles are **blended** with raised-cosine weights over their overlaps (no taper on the photo's own
   borders), and optionally fused in the **gradient domain** (``fusion="poisson"``): the screened Poisson equation
   ``(-laplace + lambda) u = -laplace(tiles) + lambda * global`` keeps the tiles' detail and the global map's low
   frequencies, solved in closed form with DCTs (Neumann borders).

Tiles stream (a few at a time), so the extra memory is a few maps of the photo's size in float32.
``detail="auto"`` chooses the grid from the photo's size (tiles about the model's native size, at most 4 x 4)
and skips tiles with few edges (the global pass stands there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from depthforge.core.deprecation import renamed_keywords
from depthforge.core.depthmap import DepthMap
from depthforge.core.errors import ValidationError
from depthforge.core.image import Image, check_image, to_uint8
from depthforge.core.threads import thread_budget
from depthforge.core.validation import check_choice
from depthforge.models.callable import CallableEstimator, DepthFunction, as_estimator
from depthforge.models.estimator import DepthEstimator
from depthforge.process.align import fit_scale_shift, tukey_fit

__all__ = [
    "FUSIONS",
    "DetailOptions",
    "Tile",
    "TileGrid",
    "plan_tiles",
    "estimate_detailed",
    "poisson_fuse",
    "parse_detail",
    "as_detail_options",
    "with_detail",
]

FUSIONS = ("blend", "poisson")
_AUTO_MAX_SIDE = 4  # "auto" uses at most 4 x 4 tiles
_FLAT_EDGE_SHARE = 0.35  # "auto" skips tiles with fewer edges than this share of the busiest tile's
_FIT_POINTS = 2_500
_ROWS = 256  # rows per band of the final division
_CHUNK = 4  # tiles in flight at a time (memory bound)
_CROSSOVER = 2.0  # poisson: wavelengths up to two tiles come from the tiles, longer ones from the global pass


@dataclass(frozen=True)
class DetailOptions:
    """High-resolution detail settings (see :func:`estimate_detailed`).

    Attributes:
        detail: a tile count N >= 2 or ``"auto"``.
        tile_overlap: share of a tile's side overlapping its neighbour, in [0, 0.9).
        fusion: ``blend`` or ``poisson``.
    """

    detail: int | str = "auto"
    tile_overlap: float = 0.25
    fusion: str = "blend"

    def __post_init__(self) -> None:
        parse_detail(self.detail)
        check_choice(self.fusion, "fusion", FUSIONS)
        if not 0.0 <= self.tile_overlap < 0.9:
            raise ValidationError(f"tile_overlap: must be in [0, 0.9), got {self.tile_overlap}")


@dataclass(frozen=True)
class Tile:
    """One tile: rows ``y0:y1`` and columns ``x0:x1`` of the photo."""

    y0: int
    y1: int
    x0: int
    x1: int


@dataclass(frozen=True)
class TileGrid:
    """A grid of equal, overlapping tiles covering a photo of ``size_hw``; ``tiles`` lists the ones to run."""

    size_hw: tuple[int, int]
    rows: int
    cols: int
    tiles: tuple[Tile, ...]

    @property
    def tile_hw(self) -> tuple[int, int]:
        """(height, width) of every tile."""
        t = self.tiles[0] if self.tiles else Tile(0, 0, 0, 0)
        return t.y1 - t.y0, t.x1 - t.x0


def parse_detail(value: str | int | None) -> int | str | None:
    """``off``/None/0 -> None, ``auto`` -> ``"auto"``, a tile count ``N`` >= 2 -> N."""
    if value is None or value in ("off", 0, "0"):
        return None
    if value == "auto":
        return "auto"
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"detail: expected off, auto or a tile count, got {value!r}") from None
    if not 2 <= count <= 256:
        raise ValidationError(f"detail: a tile count must be between 2 and 256 (0 or off: no tiles), got {count}")
    return count


def as_detail_options(detail: DetailOptions | int | str | None) -> DetailOptions | None:
    """``detail`` as :func:`depthforge.estimate` takes it (None, ``"off"``, ``"auto"`` or a tile count) or a
    :class:`DetailOptions` (returned as it is); None for off."""
    if detail is None or isinstance(detail, DetailOptions):
        return detail
    mode = parse_detail(detail)
    return None if mode is None else DetailOptions(mode)


def _grid_shape(count: int, size_hw: tuple[int, int]) -> tuple[int, int]:
    """rows x cols == count whose tiles are closest to the photo's aspect ratio (a square grid for a square
    photo)."""
    height, width = size_hw
    pairs = [(r, count // r) for r in range(1, count + 1) if count % r == 0]
    return min(pairs, key=lambda rc: (abs(np.log((height / rc[0]) / (width / rc[1]))), rc[0]))


def _starts(length: int, parts: int, overlap: float) -> tuple[int, list[int]]:
    if parts == 1:
        return length, [0]
    size = int(np.ceil(length / (parts - (parts - 1) * overlap)))
    size = min(length, size)
    return size, [round(i * (length - size) / (parts - 1)) for i in range(parts)]


def _edge_density(gray: np.ndarray) -> float:
    import cv2

    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.hypot(gx, gy) > 40.0))


def plan_tiles(
    image: Image | np.ndarray,
    *,
    detail: int | str,
    native_hw: tuple[int, int],
    overlap: float = 0.25,
    skip_flat: bool = True,
) -> TileGrid:
    """The tile grid for a photo.

    Args:
        image: the photo, (H, W, 3).
        detail: a tile count N (the grid is rows x cols = N, shaped like the photo) or ``"auto"``: tiles about
            the model's native size (at least 2 x 2, at most 4 x 4); tiles with few edges are skipped.
        native_hw: (height, width) the model sees the whole photo at.
        overlap: share of a tile's side shared with its neighbour, 0 <= overlap < 0.9.
        skip_flat: with ``"auto"``, leave out tiles with few edges (off for videos: the same tiles every frame).

    Returns:
        A :class:`TileGrid`; every pixel lies in at least one tile of the full grid.
    """
    rgb = to_uint8(check_image(image))
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    if not 0.0 <= overlap < 0.9:
        raise ValidationError(f"tile_overlap: must be in [0, 0.9), got {overlap}")
    if detail == "auto":
        rows = int(np.clip(round(height / max(native_hw[0], 1) * (1 + overlap)), 2, _AUTO_MAX_SIDE))
        cols = int(np.clip(round(width / max(native_hw[1], 1) * (1 + overlap)), 2, _AUTO_MAX_SIDE))
    else:
        rows, cols = _grid_shape(int(detail), (height, width))
    tile_h, ys = _starts(height, rows, overlap)
    tile_w, xs = _starts(width, cols, overlap)
    tiles = [Tile(y, y + tile_h, x, x + tile_w) for y in ys for x in xs]
    if detail == "auto" and skip_flat:
        import cv2

        # edges counted at twice the model's resolution, so an upscaled or a sharp photo is judged alike
        k = min(1.0, 2 * max(native_hw[0] / height, native_hw[1] / width))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, (max(1, round(width * k)), max(1, round(height * k))), interpolation=cv2.INTER_AREA)
        dens = [
            _edge_density(gray[round(t.y0 * k) : round(t.y1 * k), round(t.x0 * k) : round(t.x1 * k)]) for t in tiles
        ]
        busiest = max(dens)
        tiles = [t for t, d in zip(tiles, dens, strict=True) if busiest > 0 and d >= _FLAT_EDGE_SHARE * busiest]
    return TileGrid((height, width), rows, cols, tuple(tiles))


def _ramp(length: int, taper_start: int, taper_end: int) -> np.ndarray:
    """1-D raised-cosine weights: rising over ``taper_start`` pixels, falling over ``taper_end`` (0 = flat)."""
    w = np.ones(length, np.float32)
    taper_start, taper_end = min(taper_start, length // 2), min(taper_end, length // 2)
    for n, sl in ((taper_start, slice(0, taper_start)), (taper_end, slice(length - taper_end, length))):
        if n > 0:
            t = (np.arange(n, dtype=np.float32) + 0.5) / n
            w[sl] = (0.5 - 0.5 * np.cos(np.pi * t)) if sl.start == 0 else (0.5 + 0.5 * np.cos(np.pi * t))
    return w


def _weights(tile: Tile, grid: TileGrid) -> tuple[np.ndarray, np.ndarray]:
    """Raised-cosine blending weights of one tile (rows, columns; the weight is their product): tapered over the
    overlap on sides inside the photo."""
    height, width = grid.size_hw
    th, tw = tile.y1 - tile.y0, tile.x1 - tile.x0
    ov_y = th - (0 if grid.rows == 1 else round((height - th) / (grid.rows - 1)))
    ov_x = tw - (0 if grid.cols == 1 else round((width - tw) / (grid.cols - 1)))
    wy = _ramp(th, ov_y if tile.y0 > 0 else 0, ov_y if tile.y1 < height else 0)
    wx = _ramp(tw, ov_x if tile.x0 > 0 else 0, ov_x if tile.x1 < width else 0)
    return wy, wx


def _area(values: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if values.shape == size_hw:
        return values
    return cv2.resize(values, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)


def _fit(tile: np.ndarray, target: np.ndarray, kind: str) -> tuple[float, float]:
    """(scale, shift) taking the tile's values onto the global pass's (both at the global resolution), from at
    most about ``_FIT_POINTS`` points on a regular grid (enough for a two-parameter robust fit)."""
    step = max(1, int(np.ceil(np.sqrt(tile.size / _FIT_POINTS))))
    tile, target = tile[::step, ::step], target[::step, ::step]
    ok = np.isfinite(tile) & np.isfinite(target)
    if kind == "metric":
        ok &= (tile > 0) & (target > 0)
        if ok.sum() < 1:
            return 1.0, 0.0
        ratio = np.log(target[ok].astype(np.float64)) - np.log(tile[ok].astype(np.float64))
        ones = np.ones_like(ratio)
        scale, _, _ = tukey_fit(ones, ratio, ones, fit="scale", start=(float(np.median(ratio)), 0.0))
        return float(np.exp(scale)), 0.0
    fit = "scale" if kind == "disparity" else "scale-shift"
    try:
        al = fit_scale_shift(np.where(ok, tile, np.nan), np.where(ok, target, np.nan), fit=fit, robust=True)
    except ValidationError:  # a constant tile: keep the global pass there
        return float("nan"), float("nan")
    return al.scale, al.shift


def _batches(grid: TileGrid, rgb: np.ndarray) -> Iterator[list[tuple[Tile, np.ndarray]]]:
    for i in range(0, len(grid.tiles), _CHUNK):
        yield [(t, rgb[t.y0 : t.y1, t.x0 : t.x1]) for t in grid.tiles[i : i + _CHUNK]]


@renamed_keywords(fit="fit_tiles")
def estimate_detailed(
    image: Image | np.ndarray,
    estimator: DepthEstimator | DepthFunction,
    *,
    detail: int | str = "auto",
    tile_overlap: float = 0.25,
    fusion: str = "blend",
    fit_tiles: bool = True,
    skip_flat: bool = True,
    global_depth: DepthMap | None = None,
) -> DepthMap:
    """Depth with high-resolution detail (see the module docstring for the method).

    Args:
        image: the photo: an :class:`Image` or (H, W, 3) uint8 RGB array.
        estimator: a loaded model (:func:`~depthforge.models.load_model`), a
            :class:`~depthforge.models.callable.CallableEstimator`, or a function ``(H, W, 3) uint8 -> (H, W)``
            relative inverse depth (wrap it in a ``CallableEstimator`` to say another kind).
        detail: tile count N >= 2, or ``"auto"``.
        tile_overlap: share of a tile's side overlapping its neighbour, in [0, 0.9).
        fusion: ``blend`` (weighted average of the fitted tiles) or ``poisson`` (gradient-domain fusion).
        fit_tiles: fit each tile to the global pass (turning it off exists to show why it is needed).
        skip_flat: with ``"auto"``, skip tiles with few edges.
        global_depth: the global pass when it is already known (e.g. estimated for another output).

    Returns:
        A :class:`DepthMap` of the photo's size and the model's kind, the global pass's scale.
    """
    check_choice(fusion, "fusion", FUSIONS)
    estimator = as_estimator(estimator)  # user trial 8: a plain function was an AttributeError
    rgb = to_uint8(check_image(image))
    size_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
    native = estimator.native_size(size_hw)
    grid = plan_tiles(rgb, detail=detail, native_hw=native, overlap=tile_overlap, skip_flat=skip_flat)
    glob = global_depth if global_depth is not None else estimator.predict(rgb)
    kind = glob.kind
    g = np.asarray(glob.values, dtype=np.float32)
    num = np.zeros(size_hw, np.float32)
    den = np.zeros(size_hw, np.float32)
    scale_hw = native[0] / size_hw[0], native[1] / size_hw[1]
    # every tile has one size: two scratch planes serve them all (fresh memory costs a page fault per 4 KiB)
    buf = np.empty(grid.tile_hw, np.float32)
    wbuf = np.empty(grid.tile_hw, np.float32)
    for chunk in _batches(grid, rgb):
        depths = estimator.predict_batch([crop for _, crop in chunk])
        for (tile, _), depth in zip(chunk, depths, strict=True):
            scale, shift = 1.0, 0.0
            if fit_tiles:
                th, tw = depth.shape
                low = max(2, round(th * scale_hw[0])), max(2, round(tw * scale_hw[1]))
                crop = g[tile.y0 : tile.y1, tile.x0 : tile.x1]
                scale, shift = _fit(_area(depth.values, low), _area(crop, low), kind)
                if not (np.isfinite(scale) and np.isfinite(shift)):
                    continue
            np.multiply(depth.values, np.float32(scale), out=buf)
            buf += np.float32(shift)
            wy, wx = _weights(tile, grid)
            np.multiply(wy[:, None], wx[None, :], out=wbuf)
            finite = np.isfinite(buf)
            if not finite.all():
                buf[~finite] = 0
                wbuf *= finite
            buf *= wbuf
            num[tile.y0 : tile.y1, tile.x0 : tile.x1] += buf
            den[tile.y0 : tile.y1, tile.x0 : tile.x1] += wbuf
    del buf, wbuf
    # where no tile stands (skipped flat tiles), the global pass does; a faint global weight joins them smoothly
    eps = np.float32(1e-3)
    for r in range(0, size_hw[0], _ROWS):  # in bands: small temporaries, reused
        rows = slice(r, r + _ROWS)
        known = np.isfinite(g[rows])
        num[rows] += np.where(known, g[rows] * eps, np.float32(0))
        den[rows] += known * eps
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(num[rows], den[rows], out=num[rows])
    fused = num
    del den
    if fusion == "poisson":
        tile_px = max(grid.size_hw[0] / grid.rows, grid.size_hw[1] / grid.cols)
        fused = poisson_fuse(fused, g, crossover_px=_CROSSOVER * tile_px)
    meta = dict(glob.meta)
    meta["detail"] = {"rows": grid.rows, "cols": grid.cols, "tiles": len(grid.tiles), "fusion": fusion}
    return DepthMap(fused, kind=kind, intrinsics=glob.intrinsics, model=glob.model, meta=meta)


def with_detail(estimator: DepthEstimator, options: DetailOptions, *, skip_flat: bool = True) -> DepthEstimator:
    """A model that runs :func:`estimate_detailed` with ``estimator`` on every image it is given, so photos,
    folders, batches and videos get high-resolution detail through their usual paths."""
    settings = asdict(options)

    def detailed(rgb: np.ndarray) -> np.ndarray:
        return estimate_detailed(rgb, estimator, skip_flat=skip_flat, **settings).values

    return _Detailed(detailed, estimator, settings)


class _Detailed(CallableEstimator):
    """:func:`with_detail`'s model: the tiling function, described as the model it runs plus the tiling."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], base: DepthEstimator, tiling: dict[str, object]) -> None:
        super().__init__(fn, kind=base.kind, name=base.name, licence=base.spec.licence)
        self._described = {**base.describe(), "detail": tiling}

    def describe(self) -> dict[str, object]:
        return dict(self._described)


def poisson_fuse(detail: np.ndarray, base: np.ndarray, *, crossover_px: float) -> np.ndarray:
    """Screened Poisson fusion: ``detail``'s gradients with ``base``'s low frequencies.

    Solves ``(-laplace + lambda) u = -laplace(detail) + lambda * base`` with Neumann borders in closed form (DCT-II):
    frequencies of wavelength below ``crossover_px`` come from ``detail``, longer ones from ``base``.

    Args:
        detail, base: (H, W) float maps of one kind and scale; NaN in either is filled from the other first.
        crossover_px: the wavelength (pixels) where both contribute equally.

    Returns:
        (H, W) float32; NaN where both inputs were NaN.
    """
    from scipy.fft import dctn, idctn

    d = np.where(np.isfinite(detail), detail, base).astype(np.float32)
    b = np.where(np.isfinite(base), base, d).astype(np.float32)
    hole = ~np.isfinite(d)
    d[hole] = 0
    b[hole] = 0
    height, width = d.shape
    ky = (2 - 2 * np.cos(np.pi * np.arange(height) / height)).astype(np.float32)
    kx = (2 - 2 * np.cos(np.pi * np.arange(width) / width)).astype(np.float32)
    lam = np.float32((2 * np.pi / max(crossover_px, 1e-3)) ** 2)
    dh = dctn(d, type=2, norm="ortho", workers=thread_budget())
    dh *= (ky[:, None] + kx[None, :]) / (ky[:, None] + kx[None, :] + lam)
    bh = dctn(b, type=2, norm="ortho", workers=thread_budget())
    bh *= lam / (ky[:, None] + kx[None, :] + lam)
    dh += bh
    del bh
    out: np.ndarray = idctn(dh, type=2, norm="ortho", workers=thread_budget()).astype(np.float32)
    out[hole] = np.nan
    return out
