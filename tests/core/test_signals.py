"""Signals held back and delivered late, never lost; an interrupt Python could not raise is raised again."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from depthforge.core.signals import held_signals

_LOST = """
import signal, threading, time, weakref
from depthforge.core.signals import deliver_lost_interrupts

class Terminated(KeyboardInterrupt):
    signum = signal.SIGTERM

def on_term(signum, frame):
    raise Terminated

signal.signal(signal.SIGTERM, on_term)
deliver_lost_interrupts()
deliver_lost_interrupts()  # installed once

class Thing:
    pass

for lost in (KeyboardInterrupt, Terminated):
    def callback(ref, lost=lost):  # a signal's handler that ran inside a weakref's callback, where it cannot raise
        raise lost

    start = time.perf_counter()
    try:
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        threading.Event().wait(5)  # a blocking wait, as the batch driver's: the signal must wake it
        print("lost", flush=True)
    except KeyboardInterrupt as exc:
        print(type(exc).__name__, round(time.perf_counter() - start, 1), flush=True)

def callback(ref):
    raise ValueError("another unraisable error")

thing = Thing()
ref = weakref.ref(thing, callback)
del thing
"""


def test_an_interrupt_lost_in_a_callback_is_raised_again() -> None:
    run = subprocess.run([sys.executable, "-c", _LOST], capture_output=True, text=True, timeout=60, check=True)
    lines = run.stdout.split()
    assert lines[0::2] == ["KeyboardInterrupt", "Terminated"]  # the same signal again (SIGTERM for the CLI's)
    assert all(float(t) < 1 for t in lines[1::2])
    assert "KeyboardInterrupt" not in run.stderr  # not printed as an ignored exception
    assert "ValueError: another unraisable error" in run.stderr  # other errors still reach the previous hook


def test_signals_held_while_a_library_starts_are_delivered_after_it_to_the_handlers_from_before() -> None:
    """What connect_ray does around ray.init: a Ctrl-C in the body waits for its end; a SIGTERM handler the body
    installs (Ray's) is replaced by the caller's, which then receives the held SIGTERM, before the Ctrl-C."""
    seen: list[str] = []

    class Terminated(Exception):
        pass

    def callers(signum: int, frame: object) -> None:
        seen.append("caller's SIGTERM handler")
        raise Terminated

    before = signal.signal(signal.SIGTERM, callers)
    try:
        with pytest.raises(Terminated):
            with held_signals():
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGTERM)
                seen.append("body went on")
                signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("the library's handler"))
        assert seen == ["body went on", "caller's SIGTERM handler"]
        assert signal.getsignal(signal.SIGTERM) is callers
        with pytest.raises(KeyboardInterrupt):
            with held_signals():
                signal.raise_signal(signal.SIGINT)
                seen.append("body went on")
        assert seen[-1] == "body went on"
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_signal_to_the_process_is_held_whichever_thread_the_kernel_picks() -> None:
    """Blocking a signal in the main thread does not hold it while another thread may take it (numpy's BLAS starts
    some): held_signals records it in Python's handler (review of 2026-12-08)."""
    import os
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            with held_signals():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # bytecodes: a handler that raised would have raised here
                    pass
                reached = True
        assert reached
    finally:
        stop.set()
