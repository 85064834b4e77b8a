"""``pairbench run``: measure pairs (main size plus a size sweep), print the table, write JSON/PNG."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from . import measure as m
from .jsonio import write_json
from .machine import apply_threads, machine_info
from .progress import Progress
from .registry import Pair, PairbenchError
from .render import fmt_interval, fmt_time, run_table


@dataclass(frozen=True)
class RunSettings:
    """How hard to measure: samples at the main size, samples per sweep point, time caps."""

    samples: int = 15
    sweep_samples: int = 5
    max_time_s: float = 30.0
    min_sample_s: float = m.MIN_SAMPLE_S

    @classmethod
    def for_mode(cls, quick: bool, samples: Optional[int] = None) -> "RunSettings":
        base = cls(samples=5, sweep_samples=3, max_time_s=5.0) if quick else cls()
        if samples is not None:
            if samples < 3:
                raise PairbenchError("--samples: must be >= 3 (a median and an interval need them)")
            base = cls(samples=samples, sweep_samples=min(base.sweep_samples, samples),
                       max_time_s=base.max_time_s, min_sample_s=base.min_sample_s)
        return base


def run_pairs(pairs: Sequence[Pair], *, size: Optional[int] = None, quick: bool = False, seed: int = 0,
              settings: Optional[RunSettings] = None, sweep_sizes: bool = True,
              progress: bool = True) -> dict:
    """Measure each pair and return the JSON document of DESIGN.md (``machine`` and ``pairs``)."""
    if not pairs:
        raise PairbenchError("no pair selected")
    settings = settings or RunSettings.for_mode(quick)
    plan = []
    for p in pairs:
        main = size if size is not None else p.size_for(quick=quick)
        sizes = p.sweep_sizes(quick=quick) if (sweep_sizes and size is None) else (main,)
        plan.append((p, main, sizes))
    total = sum(m.planned_ticks(settings.samples) + m.planned_ticks(settings.sweep_samples, len(set(s) - {mn}))
                for _, mn, s in plan)
    entries = []
    started = time.perf_counter()
    with Progress(total, "measuring", enabled=progress) as bar:
        for pair, main, sizes in plan:
            apply_threads()
            t0 = time.perf_counter()
            result = m.sweep(pair, main, sizes, seed=seed, samples=settings.samples,
                             sweep_samples=settings.sweep_samples, min_sample_s=settings.min_sample_s,
                             max_time_s=settings.max_time_s, tick=bar.tick)
            entry = result.as_dict()
            entry["summary"] = pair.summary
            entry["wall_s"] = time.perf_counter() - t0
            entries.append(entry)
            bar.done(f"{pair.name:<28} {fmt_interval(entry['speedup'], entry['ci_low'], entry['ci_high']):>26}"
                     f"  ({fmt_time(entry['reference_s'])} -> {fmt_time(entry['optimized_s'])}, "
                     f"{entry['wall_s']:.1f} s)")
    return {
        "machine": machine_info(),
        "settings": {"quick": quick, "seed": seed, "samples": settings.samples,
                     "sweep_samples": settings.sweep_samples, "min_sample_s": settings.min_sample_s,
                     "wall_s": time.perf_counter() - started},
        "pairs": entries,
    }


def print_report(doc: dict, stream=None) -> None:
    stream = stream or sys.stdout
    mach = doc["machine"]
    threads = mach["threads"]
    print(f"machine: {mach['cpu']} ({mach['cpu_count']} cores), Python {mach['python']}, "
          f"threads pinned to {threads.get('OMP_NUM_THREADS')}"
          + (f", torch {threads['torch']}" if "torch" in threads else ""), file=stream)
    print(run_table(doc["pairs"]), file=stream)
    s = doc["settings"]
    print(f"\nspeedup = median of {s['samples']} interleaved per-sample ratios (reference/optimized) "
          f"with a bootstrap 95% interval; times are medians per call; one-off = the optimized "
          f"side's first call; slopes = log-log growth over the sizes swept.", file=stream)
    bad = [e for e in doc["pairs"] if not e["equivalent"]]
    for e in bad:
        print(f"\nNOT EQUIVALENT: {e['name']}: {e['equivalence_error']}", file=stream)
    for e in doc["pairs"]:
        if e.get("one_off_detail"):
            parts = ", ".join(f"{k} {fmt_time(v)}" for k, v in e["one_off_detail"].items())
            print(f"one-off {e['name']}: {parts}", file=stream)


def save(doc: dict, json_path: Optional[str], plot_path: Optional[str]) -> list[Path]:
    written = []
    if json_path:
        written.append(write_json(json_path, doc))
    if plot_path:
        from .plot import plot_run

        written.append(plot_run(doc["pairs"], plot_path))
    return written
