"""The error helpers: an interrupt Python could not raise where it landed is raised again."""

from __future__ import annotations

import subprocess
import sys

_LOST = """
import signal, time, weakref
from depthforge.core.errors import deliver_lost_interrupts

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
        while time.perf_counter() - start < 5:
            pass
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
