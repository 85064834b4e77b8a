#!/usr/bin/env python3
"""Time each floor of ``benchmarks/bench_floors.py`` beside the sides it bounds, interleaved.

For every class named (default: all) at its largest size, each round calls every ``time_*``
method once, in a rotating order; the ratio optimized/floor (and reference/floor) of each round
gives a median with a bootstrap 95% interval. Usage:
    python scripts/floors.py [--rounds 15] [--size N] [TradeTrackerFloor ...]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/ sits beside scripts/
from benchmarks import bench_floors  # noqa: E402
from pairbench.measure import median_ci  # noqa: E402

CLASSES = ("TradeTrackerFloor", "ParamSignatureFloor", "GridExpansionFloor")


def rounds_of(bench, size: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of every ``time_*`` method of ``bench``, one call each per round."""
    names = sorted(m for m in dir(bench) if m.startswith("time_"))
    out: dict[str, list[float]] = {m: [] for m in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            gc.collect()
            start = time.perf_counter()
            getattr(bench, name)(size)
            out[name].append(time.perf_counter() - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("classes", nargs="*", metavar="CLASS", help=f"any of {', '.join(CLASSES)} (default: all)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--size", type=int, default=None, help="default: the class's largest size")
    args = ap.parse_args()
    unknown = sorted(set(args.classes) - set(CLASSES))
    if unknown:
        ap.error(f"unknown floor class {', '.join(unknown)} (choose from {', '.join(CLASSES)})")
    for cls_name in args.classes or CLASSES:
        cls = getattr(bench_floors, cls_name)
        size = args.size or max(cls.params)
        bench = cls()
        bench.setup(size)
        times = rounds_of(bench, size, args.rounds)
        print(f"{cls_name} @ {size:,} {cls.param_names[0]} ({args.rounds} rounds)")
        for name, values in times.items():
            print(f"  {name:38s} median {sorted(values)[len(values) // 2] * 1e3:10.3f} ms")
        for side in ("time_optimized", "time_reference"):
            for name in times:
                if name.startswith("time_floor"):
                    ratio = median_ci([a / b for a, b in zip(times[side], times[name])])
                    print(f"  {side[5:]:9s} / {name[5:]:28s} {ratio[0]:7.2f}x [{ratio[1]:.2f}x, {ratio[2]:.2f}x]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
