"""Atomic writes: the streaming file writer keeps every byte in order, however short the OS's writes are."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from depthforge.io import atomic
from depthforge.io.atomic import DiskWriter, atomic_path


def test_disk_writer_survives_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.write may write less than asked: every byte still lands once, in order."""
    real_write = os.write
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real_write(fd, memoryview(data)[:777]))
    rng = np.random.default_rng(0)
    pieces = [rng.integers(0, 256, n, dtype=np.uint8) for n in (5, 9_000, 0, 30_001, 1, 12_345)]
    target = tmp_path / "out.bin"
    with atomic_path(target) as tmp, open(tmp, "wb", buffering=0) as fh:
        writer = DiskWriter(fh.fileno())
        for i, p in enumerate(pieces):
            writer(p.data if i % 2 else p.tobytes())
    expected = b"".join(p.tobytes() for p in pieces)
    assert target.read_bytes() == expected and writer.written == len(expected)
