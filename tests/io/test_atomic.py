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
    """os.write may write less than asked: every byte still lands once, in order. Write-back requests cover the
    file's start contiguously in whole pages, each from where the previous one ended, never past the data."""
    real_write = os.write
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real_write(fd, memoryview(data)[:777]))
    monkeypatch.setattr(atomic, "_writeback", lambda: lambda fd, off, n: asked.append((off, n)))
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
    assert asked and asked[0][0] == 0
    assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(asked))
    assert all(n >= 10_000 and (off + n) % 4096 == 0 for off, n in asked)
    assert asked[-1][0] + asked[-1][1] <= len(expected)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_real_writeback_call_is_found_and_used_on_a_big_file(tmp_path: Path) -> None:
    """The writer with the real kernel call (found through libc) over several megabytes, as depth files are."""
    assert atomic._writeback() is not None
    data = np.random.default_rng(1).integers(0, 256, 5_000_000, dtype=np.uint8)
    target = tmp_path / "big.bin"
    with atomic_path(target) as tmp, open(tmp, "wb", buffering=0) as fh:
        writer = DiskWriter(fh.fileno())
        for i in range(0, data.size, 700_000):
            writer(data[i : i + 700_000].data)
    assert writer._started >= 4 * atomic._WRITEBACK_BYTES and target.read_bytes() == data.tobytes()
