"""Read pairbench's benchmarks out of asv's results folder, through asv's own results API.

Each generated asv class ``bench_pairs.<Class>`` is one pair; per commit and size we collect the
tracked speedup with its bootstrap interval (``track_speedup``, ``track_speedup_ci_low/high``),
both sides' times, and their samples when asv recorded them (``asv run --record-samples``).
"""
from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .registry import PairbenchError

_KEY = re.compile(r"^bench_pairs\.(?P<cls>[A-Za-z0-9_]+)\.(?P<bench>time_reference|time_optimized|"
                  r"track_speedup|track_speedup_ci_low|track_speedup_ci_high|peakmem_reference|peakmem_optimized)$")


@dataclass
class Recorded:
    """Where a figure of asv's was recorded: a commit (with its date) and a size."""

    commit: str
    date: float
    size: str


@dataclass
class Point(Recorded):
    """One pair's timed figures at one size on one commit."""

    speedup: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    reference_s: float = math.nan
    optimized_s: float = math.nan
    reference_q: tuple = (math.nan, math.nan)
    optimized_q: tuple = (math.nan, math.nan)
    reference_samples: list = field(default_factory=list)
    optimized_samples: list = field(default_factory=list)

    @property
    def interval(self) -> tuple[float, float]:
        """The tracked speedup's bootstrap 95% interval (NaN where asv has none recorded)."""
        return self.ci_low, self.ci_high

    def ratio_samples(self) -> list[float]:
        """Reference/optimized ratios from asv's recorded time samples, paired in recording
        order (the two sides ran in separate asv processes, so these are not interleaved)."""
        n = min(len(self.reference_samples), len(self.optimized_samples))
        return [r / o for r, o in zip(self.reference_samples[:n], self.optimized_samples[:n]) if o > 0]


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def results_by_size(results_dir: str | Path, key: "re.Pattern[str]", *, machine: Optional[str] = None):
    """``(asv result, key match, size, value, stats, samples)`` for every benchmark whose name
    matches ``key`` on every commit (and ``machine``) recorded under ``results_dir``, one per size."""
    import asv.results as ar

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise PairbenchError(f"--results: {results_dir} is not a folder of asv results (run `asv run` first)")
    iterator = ar.iter_results_for_machine(str(results_dir), machine) if machine else ar.iter_results(str(results_dir))
    for res in iterator:
        for name in res.get_all_result_keys():
            m = key.match(name)
            if not m:
                continue
            params = res.get_result_params(name)
            sizes = [str(p) for p in params[0]] if params else [""]
            values = res.get_result_value(name, params)
            stats = res.get_result_stats(name, params) or [None] * len(sizes)
            samples = res.get_result_samples(name, params) or [None] * len(sizes)
            if not isinstance(values, list):
                values, stats, samples = [values], [stats], [samples]
            for size, val, st, sm in zip(sizes, values, stats, samples):
                yield res, m, size, val, st, sm


def load(results_dir: str | Path, *, machine: Optional[str] = None) -> dict[str, dict[str, list[Point]]]:
    """``{asv class name: {size: [Point per commit, oldest first]}}`` from an asv results folder."""
    points: dict[tuple[str, str, str], Point] = {}
    for res, m, size, val, st, sm in results_by_size(results_dir, _KEY, machine=machine):
        pt = points.setdefault((m["cls"], size, res.commit_hash),
                               Point(res.commit_hash, float(res.date or 0), size))
        bench = m["bench"]
        if bench == "track_speedup":
            pt.speedup = _num(val)
        elif bench.startswith("track_speedup_ci_"):
            setattr(pt, bench[len("track_speedup_"):], _num(val))
        elif bench in ("time_reference", "time_optimized"):
            side = bench.split("_")[1]
            setattr(pt, f"{side}_s", _num(val))
            if st:
                setattr(pt, f"{side}_q", (_num(st.get("q_25")), _num(st.get("q_75"))))
            if sm:
                setattr(pt, f"{side}_samples", [float(s) for s in sm])
    return by_class_and_size(points, results_dir)


def by_class_and_size(points: dict, results_dir: str | Path) -> dict:
    """``{(class, size, commit): point}`` as ``{class: {size: [points, oldest commit first]}}``,
    commits ordered by the git history of ``results_dir``'s repository (then by asv's date)."""
    out: dict = {}
    for (cls, size, _), pt in points.items():
        out.setdefault(cls, {}).setdefault(size, []).append(pt)
    order = commit_order(Path(results_dir))
    for by_size in out.values():
        for pts in by_size.values():
            pts.sort(key=lambda p: (order.get(p.commit, math.inf), p.date))
    return out


def commit_order(start: Path) -> dict[str, int]:
    """Position of each commit in ``git rev-list --reverse HEAD`` (oldest 0); empty if no git."""
    try:
        out = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=start if start.is_dir() else None,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if out.returncode != 0:
        return {}
    return {h: i for i, h in enumerate(out.stdout.split())}


def resolve(rev: str, cwd: Optional[Path] = None) -> str:
    """The full hash of a git revision, or a one-line error naming it."""
    out = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise PairbenchError(f"--against: {rev!r} is not a commit of this repository")
    return out.stdout.strip()
