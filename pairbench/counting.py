"""``pairbench count``: both sides of each counted pair under callgrind, as a table and JSON.

Per pair, at its count size: instructions per call of the reference and the optimized side and
their ratio (the deterministic speedup), with the wall-clock speedup beside it when timed in the
same command (``--time``) or read from a ``pairbench run`` JSON (``--run-json``). Walltime pairs
are listed with the reason they are not counted.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from . import count as c
from .machine import machine_info
from .progress import Progress
from .registry import Pair, PairbenchError
from .render import fmt_interval, fmt_ratio, table


def fmt_count(x: Optional[float]) -> str:
    """Instructions in a readable unit: 10,234 / 1.21 M / 3.40 G."""
    if x is None or not math.isfinite(x):
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:,.0f}"


@dataclass
class PairCount:
    """Both sides of one pair counted at one size."""

    pair: Pair
    size: int
    reference: Optional[c.SideCount] = None
    optimized: Optional[c.SideCount] = None
    wall: Optional[dict] = None           # {"speedup", "ci_low", "ci_high", "source"}
    notes: list = field(default_factory=list)

    @property
    def error(self) -> Optional[str]:
        for s in (self.reference, self.optimized):
            if s is not None and s.error:
                return f"{s.side}: {s.error}"
        return None

    @property
    def ratio(self) -> float:
        if self.error or self.reference is None or self.optimized is None or not self.optimized.instructions:
            return math.nan
        return self.reference.instructions / self.optimized.instructions

    def as_dict(self) -> dict:
        out = {"name": self.pair.name, "size": self.size, "size_unit": self.pair.size_unit,
               "counting": self.pair.counting, "counting_note": self.pair.counting_note,
               "reference_instructions": self.reference.instructions if self.reference else None,
               "optimized_instructions": self.optimized.instructions if self.optimized else None,
               "instruction_ratio": self.ratio, "error": self.error,
               "instruction_floor": self.pair.instruction_floor_or_default}
        for side in ("reference", "optimized"):
            s = getattr(self, side)
            if s is not None and s.ok:
                out[f"{side}_calls"] = s.calls
                out[f"{side}_seconds"] = s.seconds
                out[f"{side}_events"] = s.events
                out[f"{side}_estimated_cycles"] = s.estimated_cycles
                out[f"{side}_top_functions"] = s.as_dict(functions=10)["functions"]
        if self.reference and self.optimized and self.reference.estimated_cycles and self.optimized.estimated_cycles:
            out["estimated_cycles_ratio"] = self.reference.estimated_cycles / self.optimized.estimated_cycles
        if self.wall:
            out["wall"] = self.wall
        return out


def count_pairs(pairs: Sequence[Pair], *, size: Optional[int] = None, seed: int = 0, cache_sim: bool = False,
                parallel: Optional[int] = None, progress: bool = True) -> list[PairCount]:
    """Count both sides of every counted pair (walltime pairs come back uncounted, with a note)."""
    if not pairs:
        raise PairbenchError("no pair selected")
    c.valgrind_path()
    results = [PairCount(p, c.count_size(p, size)) for p in pairs]
    jobs = [c.Job(r.pair.name, side, r.size, seed=seed, cache_sim=cache_sim)
            for r in results if r.pair.counted for side in ("reference", "optimized")]
    for r in results:
        if not r.pair.counted:
            r.notes.append(f"walltime: {r.pair.counting_note or 'timed only'}")
    with Progress(len(jobs), "counting", enabled=progress) as bar:
        done = c.run_jobs(jobs, parallel=parallel,
                          on_done=lambda j, s: bar.tick(f"{j.pair} {j.side} {s.seconds:.0f}s"))
    by_key = {(j.pair, j.side): s for j, s in zip(jobs, done)}
    for r in results:
        r.reference = by_key.get((r.pair.name, "reference"))
        r.optimized = by_key.get((r.pair.name, "optimized"))
    return results


def add_wall(results: Sequence[PairCount], *, run_json: Optional[str] = None, time_now: bool = False,
             seed: int = 0, progress: bool = True) -> None:
    """Put the wall-clock speedup beside each count: read from a run JSON (same pair and size),
    or measured now at the count size (interleaved, 7 samples; after counting, so the children's
    load does not touch the timing)."""
    if run_json:
        try:
            doc = json.loads(Path(run_json).read_text())
        except (OSError, ValueError) as exc:
            raise PairbenchError(f"--run-json: cannot read {run_json}: {exc}") from None
        by = {}
        for e in doc.get("pairs", []):
            by[(e["name"], e["size"])] = e
            for pt in e.get("sweep", []):
                by.setdefault((e["name"], pt["size"]), pt)
        for r in results:
            e = by.get((r.pair.name, r.size))
            if e is not None:
                r.wall = {"speedup": e["speedup"], "ci_low": e["ci_low"], "ci_high": e["ci_high"],
                          "source": run_json}
    if time_now:
        from .measure import measure

        with Progress(len(results), "timing", enabled=progress) as bar:
            for r in results:
                ms = measure(r.pair, r.size, seed=seed, samples=7, max_time_s=20.0)
                r.wall = {"speedup": ms.speedup, "ci_low": ms.ci_low, "ci_high": ms.ci_high, "source": "timed"}
                bar.tick(r.pair.name)


def render(results: Sequence[PairCount]) -> str:
    rows = []
    for r in results:
        wall = fmt_interval(r.wall["speedup"], r.wall["ci_low"], r.wall["ci_high"]) if r.wall else "-"
        if not r.pair.counted:
            rows.append([r.pair.name, f"{r.size:,}", "-", "-", "-", wall, "walltime: " + (r.pair.counting_note or "timed only")])
            continue
        if r.error:
            rows.append([r.pair.name, f"{r.size:,}", "-", "-", "-", wall, f"ERROR {r.error}"])
            continue
        note = ""
        if r.reference.estimated_cycles and r.optimized.estimated_cycles:
            note = f"est. cycles ratio {fmt_ratio(r.reference.estimated_cycles / r.optimized.estimated_cycles)}"
        rows.append([r.pair.name, f"{r.size:,} {r.pair.size_unit}", fmt_count(r.reference.instructions),
                     fmt_count(r.optimized.instructions), fmt_ratio(r.ratio), wall, note])
    return table(("pair", "size", "ref instr/call", "opt instr/call", "instr ratio", "wall speedup [95% CI]", ""),
                 rows, right=(False, True, True, True, True, True, False))


def document(results: Sequence[PairCount], *, cache_sim: bool) -> dict:
    return {"machine": machine_info(), "tool": "valgrind callgrind", "cache_sim": cache_sim,
            "cycle_weights": c.CYCLE_WEIGHTS if cache_sim else None,
            "pairs": [r.as_dict() for r in results]}
