"""An offline machine gets the one-line 'not cached' error at once, not after the hub client's retries."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from depthforge.core.errors import ModelNotAvailableError
from depthforge.models import hub


@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_REACHABLE", None)
    for name in hub._PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_sees_a_listening_endpoint_and_a_closed_one(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.hub_reachable(timeout_s=2.0)
    monkeypatch.setattr(hub, "_REACHABLE", None)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    assert not hub.hub_reachable(timeout_s=2.0)
    monkeypatch.setattr(hub, "_REACHABLE", None)
    monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{_closed_port()}")  # behind a proxy, the proxy is what counts
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    assert not hub.hub_reachable(timeout_s=2.0)


def test_uncached_model_fails_at_once_when_the_hub_is_unreachable(
    fresh_probe: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from depthforge.models.estimator import load_model

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "is_cached", lambda spec_or_id: False)
    import depthforge.models.torch_backend as tb

    monkeypatch.setattr(tb, "is_cached", lambda spec_or_id: False)
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="is not cached and the Hugging Face hub cannot be reached"):
        load_model("depth-anything-v2-small", backend="torch")
    assert time.perf_counter() - start < 3.0  # the hub client's five retries took about 30 s


def test_command_line_offline_is_one_line_exit_2_within_3_s(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in hub._PROXY_VARIABLES and k != "HF_HUB_OFFLINE"}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    command = [sys.executable, "-m", "depthforge.cli.main", "estimate", str(root / "examples" / "photo.jpg")]
    start = time.perf_counter()
    done = subprocess.run([*command, "-o", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "depthforge: error: model 'depth-anything-v2-small' is not cached and the Hugging Face hub cannot be reached:"
        " connect to the internet once to download it (it is cached afterwards), or pass a local folder with --model"
        " PATH"
    ]
    assert elapsed < 3.0, elapsed


def test_offline_estimate_is_one_line_to_the_end_of_the_process(tmp_path: Path) -> None:
    """User trial: after the one-line error, the OpenVINO export planned for the end of the process ran, failed the
    same way and printed two more lines (one cut off mid-word). The model is loaded before an export is planned."""
    import os
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    photo = tmp_path / "p.png"
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(photo)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), DEPTHFORGE_CACHE=str(tmp_path / "df"))
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-m", "depthforge", "estimate", str(photo), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not cached" in lines[0], done.stderr
    assert "HF_HUB_OFFLINE is set" in lines[0]  # user trial 6: it blamed the network
    assert not (tmp_path / "out").exists()  # and left an empty output folder
