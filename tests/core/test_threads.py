"""The thread budget: where it comes from, which pools follow it, and that batch workers share it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.threads import limit_library_threads, set_thread_budget, thread_budget


@pytest.fixture
def restore_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leaves the budget, torch's and OpenCV's pools as they were (other tests time nothing, but share them)."""
    import cv2
    import torch

    monkeypatch.delenv("DEPTHFORGE_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch_before, cv2_before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    set_thread_budget(None)
    torch.set_num_threads(torch_before)
    cv2.setNumThreads(cv2_before)


def test_budget_precedence(restore_pools: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert thread_budget() == len(os.sched_getaffinity(0))  # the cores this process may run on
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert thread_budget() == 3
    monkeypatch.setenv("DEPTHFORGE_THREADS", "5")
    assert thread_budget() == 5  # ours before OpenMP's
    set_thread_budget(7)
    assert thread_budget() == 7  # the call (the CLI's --threads) before both
    set_thread_budget(None)
    assert thread_budget() == 5


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_environment_values_name_the_variable(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTHFORGE_THREADS", value)
    with pytest.raises(ValidationError, match="DEPTHFORGE_THREADS"):
        thread_budget()


@pytest.mark.parametrize("value", [0, -1, True, 2.0])
def test_bad_budgets_are_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="threads"):
        set_thread_budget(value)  # type: ignore[arg-type]


def test_library_pools_follow_the_budget(restore_pools: None) -> None:
    import cv2
    import torch

    set_thread_budget(1)
    assert limit_library_threads() == 1
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert limit_library_threads(2) == 2
    assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
    set_thread_budget(1)  # user trial 5: after a model was loaded, the budget alone changed nothing
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1


def test_cli_threads_option_sizes_every_pool(restore_pools: None, tiny_da: Path, tmp_path: Path) -> None:
    import cv2
    import torch
    from PIL import Image

    from depthforge.cli.main import main

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    torch.set_num_threads(2)
    assert (
        main(
            ["--threads", "1", "estimate", str(tmp_path / "p.png"), "-o", str(tmp_path / "o"), "--model", str(tiny_da)]
        )
        == 0
    )
    assert thread_budget() == 1 and torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert main(["--threads", "0", "models"]) == 2  # a user error, one line
    # user trial 6: after the command too, as most tools take their options
    torch.set_num_threads(2)
    args = ["estimate", str(tmp_path / "p.png"), "-o", str(tmp_path / "o2"), "--model", str(tiny_da), "--threads", "1"]
    assert main(args) == 0
    assert thread_budget() == 1 and torch.get_num_threads() == 1


def test_batch_workers_share_the_budget(restore_pools: None, tiny_da: Path, tmp_path: Path) -> None:
    """A worker process of ``batch --workers 2`` under a budget of 2 keeps one thread busy in every pool."""
    import cv2
    import torch

    from depthforge.pipeline import local_engine
    from depthforge.pipeline.batch import BatchJob

    set_thread_budget(2)
    job = BatchJob(tmp_path, tmp_path / "out", outputs=("depth16",), model=str(tiny_da))
    (tmp_path / "out").mkdir()
    share = max(1, thread_budget() // 2)
    local_engine._load_model(job, share)  # what each worker process runs once started
    try:
        assert "error" not in local_engine._WORKER, local_engine._WORKER.get("error")
        assert thread_budget() == 1 and torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        local_engine._WORKER.clear()


def test_stage_threads_have_their_share(restore_pools: None) -> None:
    """read_ahead / WriteBehind with ``threads=`` see that share as their budget (at most the process's); the
    calling thread keeps the process's budget."""
    from depthforge.core.threads import WriteBehind, read_ahead

    set_thread_budget(4)

    def budgets() -> Iterator[int]:
        yield thread_budget()

    assert list(read_ahead(budgets(), threads=1)) == [1]
    assert list(read_ahead(budgets(), threads=8)) == [4]  # never above the process's budget
    assert list(read_ahead(budgets())) == [4]
    seen: list[int] = []
    behind = WriteBehind(lambda _: seen.append(thread_budget()), threads=1)
    behind.put(0)
    behind.close()
    assert seen == [1] and thread_budget() == 4
    with pytest.raises(ValidationError, match="threads"):
        read_ahead(budgets(), threads=0).__next__()


def test_video_stages_take_one_thread_beside_the_model(
    restore_pools: None, tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the video path the model keeps the budget busy; preparing frames ahead and the 3D frames' stereo kernel
    behind it run with a budget of 1 (render_stereo then runs its serial kernel, no numba pool)."""
    import depthforge.render.stereo as stereo
    from depthforge.models import load_model
    from depthforge.models.estimator import DepthEstimator
    from depthforge.pipeline.video import VideoOptions, run_video
    from tests.io.test_video import make_clip

    set_thread_budget(2)
    seen: dict[str, set[int]] = {"prepare": set(), "stereo": set()}
    prepare, render = DepthEstimator.prepare, stereo.render_stereo

    def spy_prepare(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen["prepare"].add(thread_budget())
        return prepare(self, *args, **kwargs)

    def spy_render(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["stereo"].add(thread_budget())
        return render(*args, **kwargs)

    monkeypatch.setattr(DepthEstimator, "prepare", spy_prepare)
    monkeypatch.setattr(stereo, "render_stereo", spy_render)
    clip = make_clip(tmp_path / "c.mp4", frames=4)
    options = VideoOptions(stereo="half-left-right", batch_size=2, input_size_hw=(28, 42))
    run_video(clip, tmp_path / "out", estimator=load_model(str(tiny_da), device="cpu"), options=options)
    assert seen == {"prepare": {1}, "stereo": {1}} and thread_budget() == 2


def test_batch_says_when_workers_outnumber_the_budget(restore_pools: None, capsys: pytest.CaptureFixture[str]) -> None:
    """User trial 6: ``--threads 1 batch --workers 2`` kept two threads busy without a word."""
    import argparse

    from depthforge.cli.batch_cmd import _note_workers_over_budget

    set_thread_budget(1)
    _note_workers_over_budget(argparse.Namespace(engine="local", workers=2, threads=None))
    _note_workers_over_budget(argparse.Namespace(engine="local", workers=1, threads=None))
    assert capsys.readouterr().err.count("more workers than the thread budget (1)") == 1
