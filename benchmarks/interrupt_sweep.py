"""Sweep the moment of an interrupt: one command, stopped at each of a list of delays (the fuzz campaign's checks).

The interrupt family of ``benchmarks/fuzz.py`` draws its moments at random; this runs one command at chosen
moments, as stop 45 did to find the window in which a Ctrl-C to the process group made ``batch``'s starting workers
print tracebacks (``--command batch --delays 0.4:3:0.1 --signal group``). Prints one line per run and the findings.

    .venv/bin/python benchmarks/interrupt_sweep.py --command batch --delays 0.4:3:0.1 --signal group
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz import harness, interrupts

#: Commands by name: the campaign's, plus the Ray engine.
COMMANDS = {
    "batch": next(c for c in interrupts.COMMANDS if c[0] == "batch"),
    "batch-ray": (*next(c for c in interrupts.COMMANDS if c[0] == "batch"), "--engine", "ray"),
    "estimate": interrupts.COMMANDS[0],
    "parallax": interrupts.COMMANDS[3],
}
SIGNALS = {
    "int": (signal.SIGINT, False),
    "group": (signal.SIGINT, True),
    "term": (signal.SIGTERM, False),
}


def _delays(text: str) -> list[float]:
    """'a:b:step' (a to b inclusive) or 'x,y,z'."""
    if ":" in text:
        start, stop, step = (float(v) for v in text.split(":"))
        return [round(start + i * step, 3) for i in range(round((stop - start) / step) + 1)]
    return [float(v) for v in text.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--command", choices=sorted(COMMANDS), default="batch")
    ap.add_argument("--delays", default="0.4:3:0.2", help="seconds: 'start:stop:step' or a comma list")
    ap.add_argument("--signal", choices=sorted(SIGNALS), default="group", help="int, group (Ctrl-C) or term")
    ap.add_argument("--cold", action="store_true", help="an empty numba cache each run")
    args = ap.parse_args()
    sig, group = SIGNALS[args.signal]
    root = Path(tempfile.mkdtemp(prefix="depthforge-sweep-"))
    try:
        context = interrupts.big_inputs(harness.make_context(root / "context"), root / "inputs")
        found = []
        for delay in _delays(args.delays):
            folder = root / "case"
            label, outcome, detail = interrupts.run_one(
                context, folder, COMMANDS[args.command], sig=sig, delay=delay, cold=args.cold, group=group
            )
            print(f"{label}: {outcome} {detail}", flush=True)
            if outcome not in ("finished", "interrupted", "terminated"):
                found.append((label, outcome, detail))
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"findings: {len(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
