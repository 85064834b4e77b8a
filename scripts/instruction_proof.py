"""Prove the instruction gate on every counted pair: planted slowdowns of 3%, 10% and 2x are
caught (growth over the gate's 2% threshold), A/A counts of the same tree raise no alarm, and the
same count repeated agrees. Writes docs/results/instruction_proof.json.

    python scripts/instruction_proof.py [NAME ...] [--aa 20] [--aa-expensive 20] [--json FILE]

The eight expensive pairs (counts of 10-60 s each) with 20 A/A counts took 26 minutes here, as two
runs of four pairs side by side on 2 cores; the five cheap ones take a few minutes.

Naming pairs re-proves those and keeps the other pairs' entries already in the JSON file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pairbench import count as c, trees
from pairbench.instruction_gate import DEFAULT_THRESHOLD
from pairbench.jsonio import write_json
from pairbench.registry import all_pairs

CHEAP = {"config_cache", "results_lookup", "trial_loading", "grid_expansion.size", "dedup_store.seen_batch"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="pairs to prove (default: every counted pair)")
    ap.add_argument("--aa", type=int, default=20, help="A/A repeats of the cheap pairs")
    ap.add_argument("--aa-expensive", type=int, default=20, help="A/A repeats of the others (each 10-60 s)")
    ap.add_argument("--json", default="docs/results/instruction_proof.json")
    args = ap.parse_args()
    base_tree, commit = trees.tree_of("HEAD")
    head_tree = trees.snapshot()
    started = time.time()
    out = {"commit": commit, "threshold": DEFAULT_THRESHOLD, "pairs": {}}
    if args.names and Path(args.json).is_file():
        out["pairs"] = json.loads(Path(args.json).read_text())["pairs"]
    for p in [p for p in all_pairs() if p.counted and (not args.names or p.name in args.names)]:
        size = c.count_size(p)
        base = c.run_jobs([c.Job(p.name, "optimized", size, tree=str(base_tree), tree_label="base")])[0]
        if not base.ok:
            print(f"{p.name}: {base.error}", flush=True)
            continue
        job = c.Job(p.name, "optimized", size, tree=str(head_tree), calls=base.calls)
        planted = c.run_jobs([c.Job(**{**job.__dict__, "plant": f}) for f in (0.03, 0.10, 1.0)])
        n_aa = args.aa if p.name in CHEAP else args.aa_expensive
        aa = c.run_jobs([job] * n_aa)
        growth = [r.instructions / base.instructions - 1 for r in planted]
        aa_growth = [r.instructions / base.instructions - 1 for r in aa]
        entry = {"commit": commit, "size": size, "calls": base.calls, "instructions": base.instructions,
                 "planted": dict(zip(("3%", "10%", "2x"), growth)),
                 "caught": [g > DEFAULT_THRESHOLD for g in growth],
                 "aa_runs": n_aa, "aa_false_alarms": sum(g > DEFAULT_THRESHOLD for g in aa_growth),
                 "aa_max_abs_change": max(abs(g) for g in aa_growth)}
        out["pairs"][p.name] = entry
        print(f"{p.name:<24} {base.instructions:>14,.0f} instr/call  planted 3% {growth[0]:+.2%} 10% {growth[1]:+.2%} "
              f"2x {growth[2]:+.1%}  A/A {n_aa} runs: max |change| {entry['aa_max_abs_change']:.4%}, "
              f"false alarms {entry['aa_false_alarms']}", flush=True)
    out["seconds"] = time.time() - started
    print(f"wrote {write_json(args.json, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
