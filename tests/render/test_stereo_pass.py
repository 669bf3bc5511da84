"""render_stereo's and render_eye's one-pass kernel against the general warp + fill path: bit-identical views on
the cones pair and on synthetic scenes, for every image dtype and channel count, odd widths, one-row images, every
parallax mode, the paths the kernel hands back, and any split of the rows between threads."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from depthforge.core.depthmap import DepthMap
from depthforge.core.threads import set_thread_budget, thread_budget
from depthforge.render import _stereo_numba
from depthforge.render.stereo import StereoParams, _general_eye, _render_eyes, eye_parallax, render_eye, render_stereo
from tests.conftest import SHARED, cones_disparity


def two_calls(
    img: np.ndarray, depth: DepthMap, params: StereoParams, parallax: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """What render_stereo did before the one-pass kernel: the parallax once, then the general path per eye."""
    return general(img, depth, params, parallax), general(img, depth, params, parallax, e=1)


def general(
    img: np.ndarray,
    depth: DepthMap,
    params: StereoParams,
    parallax: np.ndarray | None = None,
    *,
    e: int = 0,
    fill_smooth: float | None = None,
) -> np.ndarray:
    """Eye ``e`` by the general path (what render_eye did before the kernel)."""
    par = eye_parallax(depth, width=img.shape[1], params=params)[0] if parallax is None else parallax
    exact = depth.kind == "disparity" if params.exact is None else bool(params.exact)
    return _general_eye(img, par, params, exact=exact, e=e, fill_smooth=fill_smooth)


def assert_same(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for g, r in zip(got, want, strict=True):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_array_equal(g, r)


@pytest.fixture()
def threads() -> Iterator[None]:
    """Restores the thread budget a test changes."""
    yield
    set_thread_budget(None)


def scene(h: int, w: int, c: int, dtype: type, seed: int = 0) -> tuple[np.ndarray, DepthMap]:
    """A textured image with a sloping background, a near box (sharp depth edges: disocclusions) and a few
    invalid depth pixels."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        img = rng.integers(0, np.iinfo(dtype).max, (h, w, c), endpoint=True).astype(dtype)
    else:
        img = rng.random((h, w, c)).astype(dtype)
    inv = np.tile(np.linspace(0.2, 0.5, w, dtype=np.float32), (h, 1)) + 0.05 * rng.random((h, w), dtype=np.float32)
    inv[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 3 : 2 * w // 3] += 0.8
    inv[0, w // 2] = np.nan
    return img, DepthMap(inv, kind="relative")


def _score_view() -> Any:
    path = SHARED / "tools" / "score_view.py"
    spec = importlib.util.spec_from_file_location("score_view", path)
    if spec is None or spec.loader is None or not path.exists():
        pytest.skip("../shared/tools/score_view.py is not present")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("kind", ["disparity", "relative"])
def test_cones_views_and_psnr_equal_the_general_path(cones: Path, kind: str) -> None:
    sv = _score_view()
    left = np.asarray(Image.open(cones / "im2.png").convert("RGB"))
    real = np.asarray(Image.open(cones / "im6.png").convert("RGB"))
    depth = DepthMap(cones_disparity(cones), kind=kind)  # type: ignore[arg-type]
    params = StereoParams(divergence=3.0) if kind == "relative" else StereoParams()
    got, want = render_stereo(left, depth, params=params), two_calls(left, depth, params)
    assert_same(got, want)
    if kind == "disparity":  # exact mode: the input is the left eye, the right eye is the truth test's view
        np.testing.assert_array_equal(got[0], left)
        gt = sv.dense_disparity(np.asarray(Image.open(cones / "disp2.png")), 4.0)
        band = np.zeros(gt.shape, bool)
        band[:, int(gt.max()) + 2 :] = True
        seen = band & sv.seen_from_left(gt)
        figures = [(sv.psnr(view, real, seen), sv.psnr(view, real, band)) for view in (got[1], want[1])]
        assert figures[0] == figures[1]
        assert figures[0][0] >= 27.5 and figures[0][1] >= 22.5, figures[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_dtypes_and_channels(dtype: type, channels: int) -> None:
    img, depth = scene(23, 41, channels, dtype)
    params = StereoParams(divergence=9.0, convergence=0.4)
    got = render_stereo(img, depth, params=params)
    assert_same(got, two_calls(img, depth, params))
    assert got[0].dtype == np.dtype(dtype) and got[0].shape == img.shape
    assert not np.array_equal(got[0], got[1])  # the eyes do differ


@pytest.mark.parametrize("size_hw", [(1, 25), (2, 37), (17, 1), (31, 63), (9, 2)])
def test_odd_sizes_and_single_rows(size_hw: tuple[int, int]) -> None:
    img, depth = scene(*size_hw, 3, np.uint8, seed=size_hw[1])
    params = StereoParams(divergence=12.0, convergence=0.5)
    assert_same(render_stereo(img, depth, params=params), two_calls(img, depth, params))


@pytest.mark.parametrize(
    "params",
    [
        StereoParams(),
        StereoParams(divergence=6.0, convergence=1.0, balance=0.6, separation=2.0),
        StereoParams(divergence=6.0, exponent=2.5),  # exponent: the parallax made beforehand
        StereoParams(divergence=5.0, balance=-1.0),  # left eye unmoved: a copy of the input
        StereoParams(divergence=0.0),
    ],
)
def test_parallax_modes(params: StereoParams) -> None:
    img, depth = scene(30, 50, 3, np.uint8, seed=3)
    assert_same(render_stereo(img, depth, params=params), two_calls(img, depth, params))


def test_exact_mode_metric_depth_flat_depth_and_given_parallax() -> None:
    img, depth = scene(20, 44, 3, np.uint16, seed=4)
    disparity = DepthMap(depth.values * 6.0, kind="disparity")
    for params in (StereoParams(convergence=1.5), StereoParams(exact=False, divergence=4.0)):
        assert_same(render_stereo(img, disparity, params=params), two_calls(img, disparity, params))
    metric = DepthMap(1.0 / depth.values, kind="metric")
    assert_same(render_stereo(img, metric), two_calls(img, metric, StereoParams()))
    flat = DepthMap(np.full((20, 44), 0.3, np.float32))
    params = StereoParams(divergence=4.0, convergence=0.5)  # no relief: a uniform shift of each eye
    assert_same(render_stereo(img, flat, params=params), two_calls(img, flat, params))
    par = np.linspace(-3.0, 7.5, 20 * 44, dtype=np.float32).reshape(20, 44)
    assert_same(render_stereo(img, depth, parallax=par), two_calls(img, depth, StereoParams(), par))


def _kernel_status(img: np.ndarray, depth: DepthMap, params: StereoParams, bands: int = 1) -> tuple[np.ndarray, ...]:
    """The kernel's own output and per-eye status (0 done, 1 general path, 2 unmoved) for ``img``."""
    from depthforge.render.stereo import _eye_shifts, _parallax_plan
    from depthforge.render.warp import box_width

    h, w, nc = img.shape
    base, mode, fill, (lo, rng, conv, dw, gap) = _parallax_plan(depth, width=w, params=params)
    frac, sep, sign = _eye_shifts(params, exact=mode == 1, width=w)
    out = np.empty((2, h, w, nc), img.dtype)
    status = np.zeros(2, np.int64)
    fp = np.array([lo, rng, conv, dw, 1.0, 0.5, 0.5, 255.0, gap], np.float32)
    eyes = np.ascontiguousarray(np.stack([frac, sep, sign], axis=1))
    k = box_width(max(1.0, 0.01 * max(h, w)))
    _stereo_numba.stereo_pass_serial(
        bands, img, base, mode, fill, fp, eyes, np.ones(2, bool), k, True, (0,) * nc, out, status
    )
    return out, status


def test_what_the_kernel_hands_back_still_equals_two_calls() -> None:
    img, depth = scene(24, 60, 3, np.uint8, seed=5)
    # every pixel pushed out of the frame (200 px of disparity, 60 px wide): rows of holes without any usable
    # pixel (status 1)
    out_of_frame = DepthMap(np.full((24, 60), 200.0, np.float32), kind="disparity")
    far = StereoParams(balance=0.0)
    # near stripes moving by 40 px on a 400 px wide image: half the pixels are holes, beyond the 42 % that the
    # sparse smoothing takes at this size (status 1)
    wide = scene(40, 400, 3, np.uint8, seed=5)[0]
    stripes = DepthMap(np.where(np.arange(400) % 16 < 8, 1.0, 0.1).astype(np.float32)[None].repeat(40, 0))
    many = StereoParams(divergence=20.0)
    assert _kernel_status(img, out_of_frame, far)[1].tolist() == [1, 1]
    assert _kernel_status(wide, stripes, many)[1].tolist() == [1, 1]
    assert _kernel_status(img, depth, StereoParams(divergence=5.0, balance=1.0))[1].tolist() == [0, 2]
    assert_same(render_stereo(img, out_of_frame, params=far), two_calls(img, out_of_frame, far))
    assert_same(render_stereo(wide, stripes, params=many), two_calls(wide, stripes, many))


def test_unsmoothed_fill_equals_the_general_path() -> None:
    img, depth = scene(26, 48, 3, np.uint8, seed=6)
    params = StereoParams(divergence=10.0)
    got = _render_eyes(img, depth, params, None, eyes=(True, True), fill_smooth=0.0)
    for e, view in enumerate(got):
        assert view is not None
        np.testing.assert_array_equal(view, general(img, depth, params, e=e, fill_smooth=0.0))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_render_eye_runs_the_kernel_for_one_eye_only(dtype: type) -> None:
    img, depth = scene(28, 70, 3, dtype, seed=9)
    disparity = DepthMap(depth.values * 6.0, kind="disparity")
    out_of_frame = DepthMap(np.full((28, 70), 200.0, np.float32), kind="disparity")  # handed back (status 1)
    cases = [
        (depth, StereoParams(divergence=7.0, convergence=0.4)),
        (disparity, StereoParams(convergence=1.5)),
        (out_of_frame, StereoParams(balance=0.0)),
        (depth, StereoParams(divergence=5.0, balance=1.0)),  # right eye unmoved
    ]
    for d, params in cases:
        pair = render_stereo(img, d, params=params)
        par = eye_parallax(d, width=70, params=params)[0]
        for e, eye in enumerate(("left", "right")):
            want = general(img, d, params, e=e)
            for given in (None, par):
                view = render_eye(img, d, eye=eye, params=params, parallax=given)  # type: ignore[arg-type]
                assert view.dtype == img.dtype and view.shape == img.shape
                np.testing.assert_array_equal(view, want)
            np.testing.assert_array_equal(pair[e], want)


def test_rows_split_between_threads_and_bands_give_identical_views(threads: None) -> None:
    img, depth = scene(57, 90, 3, np.uint8, seed=7)
    params = StereoParams(divergence=8.0, convergence=0.3)
    set_thread_budget(1)
    one = render_stereo(img, depth, params=params)
    set_thread_budget(2)
    assert thread_budget() == 2
    assert_same(render_stereo(img, depth, params=params), one)
    serial = _kernel_status(img, depth, params, bands=1)
    for bands in (2, 3, 7, 57):
        split = _kernel_status(img, depth, params, bands=bands)
        assert split[1].tolist() == [0, 0]
        np.testing.assert_array_equal(split[0], serial[0])


def test_inputs_are_left_alone_and_views_are_independent() -> None:
    img, depth = scene(20, 30, 3, np.uint8, seed=8)
    view = img[:, ::-1]  # not contiguous
    before, values = view.copy(), depth.values.copy()
    left, right = render_stereo(view, depth, params=StereoParams(divergence=6.0))
    np.testing.assert_array_equal(view, before)
    np.testing.assert_array_equal(depth.values, values)
    assert_same((left, right), two_calls(np.ascontiguousarray(view), depth, StereoParams(divergence=6.0)))
    right_before = right.copy()
    left[:] = 0
    np.testing.assert_array_equal(right, right_before)


def test_invalid_depth_filled_row_by_row_like_eye_parallax() -> None:
    img, depth = scene(12, 40, 3, np.uint8, seed=9)
    v = depth.values.copy()
    v[3] = np.nan  # a row without any valid value: the smallest valid value
    v[5, :7] = np.nan  # runs at the row's ends: their one neighbour
    v[6, -4:] = np.nan
    v[7, 10:14] = np.nan  # between two equal values: their mean (the same value)
    v[7, 9] = v[7, 14] = 0.3
    v[8, 20:30] = np.nan  # between a near and a far value: the far one
    for kind, params in (("relative", StereoParams(divergence=7.0)), ("disparity", StereoParams(convergence=0.2))):
        holed = DepthMap(v * (30.0 if kind == "disparity" else 1.0), kind=kind)  # type: ignore[arg-type]
        assert_same(render_stereo(img, holed, params=params), two_calls(img, holed, params))
    metric = DepthMap(np.where(np.isnan(v), np.nan, 1.0 / v), kind="metric")
    assert_same(render_stereo(img, metric), two_calls(img, metric, StereoParams()))
    tiny = metric.values.copy()
    tiny[2, 5] = 1e-45  # 1 / z overflows to inf: treated as invalid too
    overflow = DepthMap(tiny, kind="metric")
    assert_same(render_stereo(img, overflow), two_calls(img, overflow, StereoParams()))
