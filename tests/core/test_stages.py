"""Overlapping stages: read_ahead and WriteBehind keep order, bound memory, hand exceptions over and stop cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from depthforge.core.errors import ValidationError
from depthforge.core.threads import WriteBehind, read_ahead


def test_read_ahead_keeps_order_and_runs_in_another_thread() -> None:
    threads: set[int] = set()

    def source() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.get_ident())
            yield i

    assert list(read_ahead(source(), size=3)) == list(range(50))
    assert threads and threading.get_ident() not in threads


def test_read_ahead_stays_within_its_size() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    it = read_ahead(source(), size=2)
    assert next(it) == 0
    time.sleep(0.3)  # give the producer every chance to run ahead
    # item 0 consumed, 2 queued, 1 produced and waiting to be queued: never the whole source
    assert len(produced) <= 4
    it.close()


def test_read_ahead_raises_after_the_items_before_the_failure() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("decode failed")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="decode failed"):
        for x in read_ahead(source(), size=4):
            got.append(x)
    assert got == [1, 2]


def test_read_ahead_closes_its_source_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    for x in read_ahead(source(), size=2):
        if x == 5:
            break
    assert closed.wait(2.0)


def test_write_behind_consumes_in_order_in_another_thread() -> None:
    seen: list[tuple[int, int]] = []
    behind: WriteBehind[int] = WriteBehind(lambda x: seen.append((x, threading.get_ident())), size=2)
    for i in range(40):
        behind.put(i)
    behind.close()
    assert [x for x, _ in seen] == list(range(40))
    assert {t for _, t in seen} != {threading.get_ident()}


def test_write_behind_hands_the_consumers_exception_to_the_producer() -> None:
    def consume(x: int) -> None:
        if x == 3:
            raise OSError("disk full")

    behind: WriteBehind[int] = WriteBehind(consume, size=1)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            behind.put(i)
        behind.close()


def test_write_behind_abort_waits_for_the_item_in_progress() -> None:
    started, finished = threading.Event(), threading.Event()

    def consume(x: int) -> None:
        started.set()
        time.sleep(0.2)
        finished.set()

    behind: WriteBehind[int] = WriteBehind(consume, size=4)
    for i in range(4):
        behind.put(i)
    assert started.wait(2.0)
    behind.abort()
    assert finished.is_set()  # abort returned only after the item being written was done


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_bad_sizes_name_the_parameter(size: object) -> None:
    with pytest.raises(ValidationError, match="size"):
        list(read_ahead([1], size=size))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="size"):
        WriteBehind(print, size=size)  # type: ignore[arg-type]
