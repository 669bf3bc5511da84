"""The in-process model cache: one load per model, and a slow load (a download, an export) blocks nobody else."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from depthforge.models import estimator


def test_slow_load_of_one_model_does_not_block_another(
    monkeypatch: pytest.MonkeyPatch, tiny_models: dict[str, Path]
) -> None:
    estimator.clear_model_cache()
    slow, fast = str(tiny_models["dpt"]), str(tiny_models["depth_anything"])
    calls: list[str] = []
    started = threading.Event()
    real = estimator._load

    def load(source, **kw):  # type: ignore[no-untyped-def]
        calls.append(source.location)
        if source.location == str(Path(slow).resolve()):
            started.set()
            time.sleep(1.5)  # a download or an export
        return real(source, **kw)

    monkeypatch.setattr(estimator, "_load", load)
    results: dict[str, object] = {}

    def slow_load(name: str) -> None:
        results[name] = estimator.load_model(slow, backend="torch")

    threads = [threading.Thread(target=slow_load, args=(name,)) for name in ("slow1", "slow2")]
    for t in threads:
        t.start()
    started.wait(5)
    t0 = time.monotonic()
    estimator.load_model(fast, backend="torch")
    assert time.monotonic() - t0 < 1.0, "another model waited for the slow one"
    for t in threads:
        t.join(10)
    assert results["slow1"] is results["slow2"]  # the second caller reused the first one's model
    assert calls.count(str(Path(slow).resolve())) == 1
    estimator.clear_model_cache()


def test_a_size_limit_is_a_view_of_the_cached_model(tiny_models: dict[str, Path]) -> None:
    """``load_model(max_input_side_px=N)`` shares the cached model's weights and never lets the size rule choose an
    input side above N (a long panorama, seen by an aspect-keeping model at its short side, would be huge); the
    cached model itself keeps its own rule, and an explicit ``input_size_hw`` is left alone."""
    import numpy as np

    from depthforge.core.errors import TooLargeError, ValidationError
    from depthforge.models.preprocess import scaled_input_size

    plain = estimator.load_model(str(tiny_models["depth_anything"]), backend="torch")
    capped = estimator.load_model(str(tiny_models["depth_anything"]), backend="torch", max_input_side_px=700)
    assert capped.backend is plain.backend and plain.max_input_side_px is None
    panorama_hw = (500, 8000)
    assert max(plain.input_size(panorama_hw)) > 5000  # the rule keeps the short side near the model's 518 px
    assert capped.input_size(panorama_hw) == scaled_input_size(panorama_hw, capped.spec, resolution_px=700)
    assert max(capped.input_size(panorama_hw)) <= 700
    assert capped.input_size((400, 600)) == plain.input_size((400, 600))  # within the limit: the model's own rule
    for cap in (701, 1016, 2053):  # not multiples of the 14 px step: the longer side is never rounded above the cap
        for shape_hw in (panorama_hw, (300, 3000), (600, 16000)):
            assert max(plain.with_max_input(cap).input_size(shape_hw)) <= cap, (cap, shape_hw)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (*panorama_hw, 3), dtype=np.uint8)
    depth = capped.predict(photo)
    assert depth.values.shape == panorama_hw
    np.testing.assert_array_equal(
        depth.values, plain.predict(photo, input_size_hw=capped.input_size(panorama_hw)).values
    )
    assert capped.native_size(panorama_hw) == capped.input_size(panorama_hw)  # tiles are planned from it too
    assert capped.with_max_input(None).max_input_side_px is None and capped.with_max_input(700) is capped
    with pytest.raises(ValidationError, match="^max_input_side_px: "):
        plain.with_max_input(0)
    # ZoeDepth keeps its own size rule (its padding): a photo it would see too large is refused, naming the image
    zoe = estimator.load_model(str(tiny_models["zoedepth"]), backend="torch")
    natural = zoe.input_size(panorama_hw)
    with pytest.raises(TooLargeError, match="^image: .* above the limit of"):
        zoe.with_max_input(max(natural) - zoe.spec.multiple).input_size(panorama_hw)
    # and so does Depth Pro, whose fixed input its patches need (a smaller one was an internal error in the model)
    pro = estimator.load_model(str(tiny_models["depth_pro"]), backend="torch")
    fixed = pro.input_size((300, 450))
    assert scaled_input_size((300, 450), pro.spec, resolution_px=max(fixed) // 2) is None
    assert pro.with_max_input(max(fixed)).input_size((300, 450)) == fixed
    with pytest.raises(TooLargeError, match="^image: "):
        pro.with_max_input(max(fixed) - 1).predict(photo[:300, :450])
