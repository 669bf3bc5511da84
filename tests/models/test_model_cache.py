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
