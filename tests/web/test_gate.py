"""The concurrency gate: first come first served across threads and the event loop, bounded queue, timeouts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from depthforge.web.safety import BusyError, ConcurrencyGate


def _wait_until(cond, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_threads_are_served_in_arrival_order_and_the_queue_is_bounded() -> None:
    gate = ConcurrencyGate(workers=1, queue=4, timeout_s=10)
    order: list[int] = []
    threads = []
    with gate.slot():
        for i in range(4):

            def work(i: int = i) -> None:
                with gate.slot():
                    order.append(i)

            t = threading.Thread(target=work)
            t.start()
            threads.append(t)
            _wait_until(lambda i=i: gate.waiting == i + 1)  # each one queued before the next arrives
        with pytest.raises(BusyError) as full:
            with gate.slot():
                pass
        assert full.value.status == 429
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3]
    assert gate.running == 0 and gate.waiting == 0


def test_event_loop_and_threads_share_one_fifo_queue() -> None:
    gate = ConcurrencyGate(workers=1, queue=8, timeout_s=10)
    order: list[str] = []

    async def main() -> None:
        held = threading.Event()
        release = threading.Event()

        def holder() -> None:
            with gate.slot():
                held.set()
                release.wait(5)

        t0 = threading.Thread(target=holder)
        t0.start()
        held.wait(5)

        async def task(name: str) -> None:
            async with gate.aslot():
                order.append(name)

        def thread(name: str) -> None:
            with gate.slot():
                order.append(name)

        tasks, threads = [], []
        for k, name in enumerate(["a1", "t1", "a2", "t2"]):
            if name.startswith("a"):
                tasks.append(asyncio.create_task(task(name)))
            else:
                th = threading.Thread(target=thread, args=(name,))
                th.start()
                threads.append(th)
            while gate.waiting < k + 1:
                await asyncio.sleep(0.005)
        release.set()
        await asyncio.gather(*tasks)
        for th in [t0, *threads]:
            await asyncio.to_thread(th.join, 5)

    asyncio.run(main())
    assert order == ["a1", "t1", "a2", "t2"]
    assert gate.running == 0 and gate.waiting == 0


def test_waiting_too_long_is_503_and_leaves_nothing_behind() -> None:
    gate = ConcurrencyGate(workers=1, queue=2, timeout_s=0.1)

    async def main() -> None:
        async with gate.aslot():
            with pytest.raises(BusyError) as late:
                async with gate.aslot():
                    pass
            assert late.value.status == 503
            with pytest.raises(BusyError):
                await asyncio.to_thread(lambda: gate.slot().__enter__())
        async with gate.aslot():  # the slot came back
            pass

    asyncio.run(main())
    assert gate.running == 0 and gate.waiting == 0 and gate.refused == 2
