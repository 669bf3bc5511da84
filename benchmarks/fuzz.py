"""Hostile-input campaign: thousands of generated cases through the real command line and the real web server.

Prints the outcome histogram per family (images, depth files, videos, option values, file names, web requests)
and every finding: an internal error (exit 3), a traceback, a hang, a crash, a corrupt file accepted, a stray
temporary file, a 5xx answer, a leaked server file, a slow health check, an incomplete output after Ctrl-C or
SIGTERM. Nothing is downloaded: every input is
generated (see ``tests/fuzz/generators.py`` and ``tests/fuzz/web.py``).

    .venv/bin/python benchmarks/fuzz.py                      # the full campaign (>= 10,000 cases)
    .venv/bin/python benchmarks/fuzz.py --scale 0.05 --seed 3  # a quick one
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import describe
from tests.fuzz import generators, harness

#: Generated cases per family in a full campaign (plus the hand-made ones).
FULL = {"image": 4200, "depth": 2600, "photo": 1200, "option": 1700, "video": 260, "name": 140}
WEB_FULL = 1400
#: Real processes stopped by SIGINT or SIGTERM at a random moment (about 5 s each).
INTERRUPT_FULL = 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full campaign")
    ap.add_argument("--families", default=",".join([*FULL, "web", "interrupt"]), help="comma-separated families to run")
    ap.add_argument("--json", metavar="FILE", help="also write the histogram and findings as JSON")
    args = ap.parse_args()
    families = [f for f in args.families.split(",") if f]
    print(describe())
    counts = {f: max(1, round(n * args.scale)) for f, n in FULL.items() if f in families}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="depthforge-fuzz-") as tmp:
        root = Path(tmp)
        context = harness.make_context(root / "context")
        results: list[harness.Result] = []
        todo = generators.cases(args.seed, counts) if counts else []
        runner = harness.Runner(root / "cases", context)
        try:
            for i, case in enumerate(todo, 1):
                results.append(runner.run(case))
                if i % 500 == 0:
                    print(f"  {i}/{len(todo)} command-line cases, {time.perf_counter() - t0:.0f} s", flush=True)
        finally:
            runner.close()
        hist = {fam: dict(c) for fam, c in harness.histogram(results).items()}
        found = [
            (r.case.family, r.case.label, r.outcome, r.stderr.strip().splitlines()[-1:] if r.stderr else [])
            for r in harness.findings(results)
        ]
        if "web" in families:
            from tests.fuzz import web

            web_hist, web_found = web.campaign(
                context, seed=args.seed, n=max(1, round(WEB_FULL * args.scale)), workdir=root / "web"
            )
            hist["web"] = dict(web_hist)
            found += [("web", label, outcome, [detail]) for label, outcome, detail in web_found]
        if "interrupt" in families:
            from tests.fuzz import interrupts

            int_hist, int_found = interrupts.campaign(
                context, seed=args.seed, n=max(1, round(INTERRUPT_FULL * args.scale)), workdir=root / "interrupt"
            )
            hist["interrupt"] = dict(int_hist)
            found += [("interrupt", label, outcome, [detail]) for label, outcome, detail in int_found]
    total = sum(sum(c.values()) for c in hist.values())
    print(f"\n{total} cases in {time.perf_counter() - t0:.0f} s (seed {args.seed})\n")
    outcomes = sorted({o for c in hist.values() for o in c})
    print(f"{'family':<9} " + " ".join(f"{o:>16}" for o in outcomes))
    for fam, c in hist.items():
        print(f"{fam:<9} " + " ".join(f"{c.get(o, 0):>16}" for o in outcomes))
    summary: Counter[str] = Counter()
    for c in hist.values():
        summary.update(c)
    print("\nall      " + ", ".join(f"{o}: {n}" for o, n in sorted(summary.items())))
    print(f"\nfindings: {len(found)}")
    for fam, label, outcome, tail in found[:200]:
        print(f"  [{fam}] {outcome}: {label} :: {' '.join(tail)[:200]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"histogram": hist, "findings": found}, indent=1, default=str))
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
