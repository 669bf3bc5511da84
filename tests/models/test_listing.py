"""The model catalogue: every registry in one listing, cache states read without network, and its command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from depthforge.cli.main import main
from depthforge.core.errors import ValidationError
from depthforge.models.diffusion import GENERATION_REGISTRY
from depthforge.models.inpaint import INPAINT_REGISTRY
from depthforge.models.listing import TASKS, catalogue
from depthforge.models.registry import REGISTRY
from depthforge.models.rembg_backend import REMBG_REGISTRY, rembg_model_path
from depthforge.models.sam import SAM_REGISTRY
from depthforge.models.segmentation import MATTING_REGISTRY


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPTHFORGE_CACHE", str(tmp_path / "df"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))  # read at import
    return tmp_path


def test_every_registry_entry_once_in_task_order(empty_caches: Path) -> None:
    entries = catalogue()
    registries = {
        "depth": REGISTRY,
        "generation": GENERATION_REGISTRY,
        "background": REMBG_REGISTRY,
        "sam": SAM_REGISTRY,
        "matting": MATTING_REGISTRY,
        "inpaint": INPAINT_REGISTRY,
    }
    assert list(registries) == list(TASKS)
    assert [(e.task, e.name) for e in entries] == [(t, n) for t, reg in registries.items() for n in reg]
    assert all(e.licence for e in entries)
    # nothing is cached in empty caches; the rembg *_custom entries are the user's own file
    assert {e.cached for e in entries if e.task != "background"} == {False}
    assert {e.name for e in entries if e.cached is None} == {n for n, s in REMBG_REGISTRY.items() if s.custom}
    depth = {e.name: e for e in entries if e.task == "depth"}
    assert depth["depth-anything-v2-small"].kind == "relative" and depth["depth-anything-v2-large"].licence == (
        "CC-BY-NC-4.0"
    )
    lama = next(e for e in entries if e.task == "inpaint")
    assert lama.source == f"{INPAINT_REGISTRY['lama'].hub_id}:{INPAINT_REGISTRY['lama'].file}"


def test_cache_states_come_from_the_caches(empty_caches: Path) -> None:
    """A rembg file in depthforge's cache, a SAM snapshot and LaMa's ONNX file in the hub cache are cached."""
    path = rembg_model_path(REMBG_REGISTRY["u2netp"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"onnx")
    repo = empty_caches / "hf" / "models--facebook--sam-vit-base"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    lama = INPAINT_REGISTRY["lama"]
    repo = empty_caches / "hf" / f"models--{lama.hub_id.replace('/', '--')}"
    (repo / "snapshots" / "def").mkdir(parents=True)
    (repo / "snapshots" / "def" / lama.file).write_bytes(b"onnx")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("def")
    sd = GENERATION_REGISTRY["stable-diffusion-v1-5"]  # a pipeline: model_index.json, no config.json at its root
    repo = empty_caches / "hf" / f"models--{sd.hub_id.replace('/', '--')}"
    (repo / "snapshots" / "sd").mkdir(parents=True)
    (repo / "snapshots" / "sd" / "model_index.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("sd")
    marigold = next(e for e in catalogue(tasks=("depth",)) if e.name == "marigold-depth-v1-1")
    repo = empty_caches / "hf" / f"models--{marigold.hub_id.replace('/', '--')}"  # a depth model as a pipeline
    (repo / "snapshots" / "mg").mkdir(parents=True)
    (repo / "snapshots" / "mg" / "model_index.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("mg")
    cached = {(e.task, e.name) for e in catalogue() if e.cached}
    expected = {("background", "u2netp"), ("sam", "sam-vit-base"), ("inpaint", "lama"), ("depth", marigold.name)}
    assert cached == {*expected, ("generation", "stable-diffusion-v1-5")}


def test_tasks_filter_and_refusal() -> None:
    assert {e.task for e in catalogue(tasks=("sam", "inpaint"))} == {"sam", "inpaint"}
    with pytest.raises(ValidationError, match="task"):
        catalogue(tasks=("video",))


def test_command_tables_json_and_task(
    empty_caches: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # user trial 6: the tables were 200 wide whatever the terminal
    assert main(["models"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for task in TASKS:
        assert f"{task} (" in out
    for name in (*REGISTRY, *SAM_REGISTRY, *INPAINT_REGISTRY, "u2net", "birefnet-general"):
        assert name in out
    assert main(["models", "--json", "--task", "inpaint"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(INPAINT_REGISTRY)
    assert {"task", "name", "kind", "licence", "hub_id", "file", "cached", "params_millions", "notes"} == set(rows[0])


@pytest.mark.parametrize("extra", [["--json"], ["--json", "--task", "inpaint"], []])
def test_a_closed_pipe_ends_quietly(extra: list[str]) -> None:
    """Standard output whose reader has gone (``depthforge models | head -1``): exit 141 as SIGPIPE would give,
    nothing on stderr; for long and short JSON (a short one sits in the buffer until the end) and the tables. The
    pipe's read end is closed before the command writes, so every write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "depthforge", "models", *extra],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**env, "HF_HUB_OFFLINE": "1"},
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, b"")
