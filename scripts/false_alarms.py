#!/usr/bin/env python3
"""Run ``pairbench gate --quick`` N times on an unchanged tree and count false alarms.

Every FAIL on an unchanged tree is a false alarm. Prints one line per run and a summary with
the run times; ``--json FILE`` keeps the per-run verdicts. Usage:
    python scripts/false_alarms.py --runs 20 [NAME ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs: must be >= 1")
    runs = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "pairbench", "gate", "--quick", "--no-progress", *args.names],
                             capture_output=True, text=True)
        wall = time.perf_counter() - t0
        fails = [ln for ln in out.stdout.splitlines() if ln.startswith(("FAIL", "ERROR"))]
        runs.append({"run": i + 1, "exit": out.returncode, "wall_s": wall, "fails": fails})
        print(f"run {i + 1:>2}/{args.runs}: exit {out.returncode} in {wall:.0f} s"
              + (f"  <- {'; '.join(fails)}" if fails else ""), flush=True)
    alarms = sum(r["exit"] == 1 for r in runs)
    errors = sum(r["exit"] == 2 for r in runs)
    walls = [r["wall_s"] for r in runs]
    print(f"\nfalse alarms: {alarms} of {args.runs} runs (errors: {errors}); gate --quick wall time "
          f"median {statistics.median(walls):.0f} s, max {max(walls):.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"runs": runs, "false_alarms": alarms, "errors": errors}, fh, indent=2)
    return 0 if alarms == 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
