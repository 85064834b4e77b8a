"""The process py-spy launches: rebuild a pair's workload from (name, size, seed) and loop one side.

    python -m profiling._child --pair NAME --side reference --size N --seed 0 --seconds 1.0 \\
        --report REPORT.json [--pair-module dotted.module] [--reference MOD] [--optimized MOD]

The pair is found by name through ``pairbench.registry.select``, or among the ``PAIRS`` of
``--pair-module`` (tests use it for fixture pairs). ``--reference`` / ``--optimized`` swap a side's
module as ``Pair.with_sides`` does. At the end the child writes REPORT.json: the number of timed
calls, the seconds inside them, and the map from its loaded modules' files to module names (the
parent names py-spy's frames with it). On failure it writes ``{"error": "one line"}`` there instead
and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from pairbench.registry import PairbenchError, find_pair

from . import runner
from .frames import loaded_module_files


def _write_report(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m profiling._child", description=__doc__.splitlines()[0])
    ap.add_argument("--pair", required=True)
    ap.add_argument("--side", required=True, choices=runner.SIDES)
    ap.add_argument("--size", required=True, type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", required=True, type=float, help="seconds of timed calls to run")
    ap.add_argument("--report", required=True)
    ap.add_argument("--pair-module")
    ap.add_argument("--reference")
    ap.add_argument("--optimized")
    args = ap.parse_args(argv)
    try:
        pair = find_pair(args.pair, args.pair_module)
        if args.reference or args.optimized:
            pair = pair.with_sides(reference=args.reference, optimized=args.optimized)
        with runner.bound_side(pair, args.side, args.size, args.seed) as sides:
            stats = runner.loop(sides.bound[args.side], target_s=args.seconds, pair=pair.name, side=args.side)
            description = sides.description
    except PairbenchError as exc:
        _write_report(args.report, {"error": str(exc).splitlines()[0] if str(exc) else "failed"})
        return 2
    except Exception as exc:  # anything else still reaches the parent as one line
        _write_report(args.report, {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        return 2
    _write_report(args.report, {"calls": stats.calls, "timed_s": stats.timed_s, "wall_s": stats.wall_s,
                                "description": description,
                                "module_files": loaded_module_files(), "sys_path": sys.path})
    return 0


if __name__ == "__main__":
    sys.exit(main())
