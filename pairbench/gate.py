"""``pairbench gate``: the regression gate CI runs.

For each pair, at its gate size: the outputs of both sides must be equivalent, then the
interleaved speedup's 95% interval must sit at or above the pair's floor. One line per pair;
exit 0 when all pass, 1 on any regression or mismatch, 2 when the gate could not run (an error,
or no pair selected). An error inside one pair is reported as ERROR for that pair only.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

from . import measure as m
from .machine import apply_threads
from .progress import Progress
from .registry import Pair, PairbenchError
from .render import fmt_interval, fmt_ratio

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


@dataclass
class Verdict:
    """The gate's judgement of one pair."""

    name: str
    status: str
    reason: str
    floor: float
    size: int
    measurement: Optional[m.Measurement] = None
    notes: list = field(default_factory=list)

    def line(self) -> str:
        ms = self.measurement
        interval = fmt_interval(ms.speedup, ms.ci_low, ms.ci_high) if ms is not None and ms.samples else "-"
        return (f"{self.status:<5} {self.name:<28} {interval:>26}  floor {fmt_ratio(self.floor):>6}"
                f"  @{self.size:,}  {self.reason}")


def judge(pair: Pair, *, quick: bool = False, seed: int = 0, samples: Optional[int] = None,
          tick=None) -> Verdict:
    """Measure one pair at its gate size and judge it against its floor."""
    size = pair.size_for(gate=True)
    n = samples or (7 if quick else 15)
    apply_threads()
    try:
        ms = m.measure(pair, size, seed=seed, samples=n, time_if_different=False,
                       max_time_s=20.0 if quick else 60.0, tick=tick)
    except PairbenchError as exc:
        return Verdict(pair.name, ERROR, f"could not run: {exc}", pair.floor, size)
    except Exception as exc:  # a broken workload or check: not a regression
        return Verdict(pair.name, ERROR, f"could not run: {type(exc).__name__}: {exc}", pair.floor, size)
    if not ms.equivalent:
        first = (ms.equivalence_error or "outputs differ").splitlines()
        why = first[0] + (f" {first[1].strip()}" if len(first) > 1 else "")
        return Verdict(pair.name, FAIL, f"not equivalent: {why}", pair.floor, size, ms)
    if ms.ci_low < pair.floor:
        return Verdict(pair.name, FAIL, f"regression: interval lower bound {fmt_ratio(ms.ci_low)} "
                       f"is under the floor {fmt_ratio(pair.floor)}", pair.floor, size, ms)
    return Verdict(pair.name, PASS, "equivalent; interval above floor", pair.floor, size, ms)


def exit_code(verdicts: Sequence[Verdict]) -> int:
    if not verdicts:
        return EXIT_ERROR
    if any(v.status == FAIL for v in verdicts):
        return EXIT_REGRESSION
    if any(v.status == ERROR for v in verdicts):
        return EXIT_ERROR
    return EXIT_OK


def run_gate(pairs: Sequence[Pair], *, quick: bool = False, seed: int = 0, samples: Optional[int] = None,
             stream=None, progress: bool = True) -> tuple[int, list[Verdict]]:
    """Judge every pair, print one line each as it finishes, return (exit code, verdicts)."""
    stream = stream or sys.stdout
    if not pairs:
        print("ERROR no pair selected", file=stream)
        return EXIT_ERROR, []
    n = samples or (7 if quick else 15)
    verdicts = []
    with Progress(m.planned_ticks(n, len(pairs)), "gate", enabled=progress) as bar:
        for pair in pairs:
            v = judge(pair, quick=quick, seed=seed, samples=samples, tick=bar.tick)
            verdicts.append(v)
            if bar.bar is not None:
                bar.bar.write(v.line(), file=stream)
            else:
                print(v.line(), file=stream, flush=True)
    code = exit_code(verdicts)
    counts = {s: sum(v.status == s for v in verdicts) for s in (PASS, FAIL, ERROR)}
    print(f"gate: {counts[PASS]} pass, {counts[FAIL]} fail, {counts[ERROR]} error -> exit {code}", file=stream)
    return code, verdicts
