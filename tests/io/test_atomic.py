"""Atomic writes: the streaming file writer keeps every byte in order and asks for write-back as it goes."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from depthforge.io import atomic
from depthforge.io.atomic import DiskWriter, atomic_path


def test_disk_writer_survives_short_writes_and_starts_writeback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.write may write less than asked: every byte still lands once, in order. On Linux the write-back
    requests cover the file's start contiguously, each from where the previous one ended."""
    real_write = os.write
    advised: list[tuple[int, int]] = []
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real_write(fd, memoryview(data)[:777]))
    if sys.platform.startswith("linux"):
        real_advise = os.posix_fadvise
        monkeypatch.setattr(
            atomic.os,
            "posix_fadvise",
            lambda fd, off, n, advice: (advised.append((off, n)), real_advise(fd, off, n, advice))[1],
        )
    monkeypatch.setattr(atomic, "_WRITEBACK_BYTES", 10_000)
    rng = np.random.default_rng(0)
    pieces = [rng.integers(0, 256, n, dtype=np.uint8) for n in (5, 9_000, 0, 30_001, 1, 12_345)]
    target = tmp_path / "out.bin"
    with atomic_path(target) as tmp, open(tmp, "wb", buffering=0) as fh:
        writer = DiskWriter(fh.fileno())
        for i, p in enumerate(pieces):
            writer(p.data if i % 2 else p.tobytes())
    expected = b"".join(p.tobytes() for p in pieces)
    assert target.read_bytes() == expected and writer.written == len(expected)
    if sys.platform.startswith("linux"):
        assert advised and advised[0][0] == 0
        assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(advised))
        assert all(n >= 10_000 for _, n in advised)
