"""``pairbench gate``: the regression gate CI runs.

For each pair, at its gate size: the outputs of both sides must be equivalent, then the
interleaved speedup's 95% interval must sit at or above the pair's floor. Hardening:

* noise band: ``--calibrate`` runs A/A comparisons (each side against itself) and stores each
  pair's band; a shortfall under the floor that lies inside the band is not judged (NOISE);
* growth class: a pair declaring ``max_slope`` has its optimized side's log-log slope fitted over
  its sizes, and FAILs when the slope exceeds the class;
* ``--against REV``: today's ratios against those asv recorded for REV (one-sided Mann-Whitney on
  the samples; without samples, today's interval against REV's value), FAIL on a significant drop.

One line per pair; exit 0 when all pass, 1 on any regression or mismatch, 2 when the gate could
not run (an error, or no pair selected). An error inside one pair is reported as ERROR for that
pair only.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

from . import measure as m
from .machine import apply_threads
from .progress import Progress
from .registry import Pair, PairbenchError
from .render import fmt_interval, fmt_ratio
from .significance import speedup_drop

PASS, FAIL, ERROR, NOISE = "PASS", "FAIL", "ERROR", "NOISE"

#: --against compares runs made at different times: on a shared machine their medians drift far
#: more than one run's own interval shows (seen here: 20% between an asv run and a gate run of a
#: 13 µs pair; ANCHORS: identical code compared with itself on CI runners spread 0.51-1.36), so
#: drops smaller than this are not judged. A twofold slowdown (-50%) lies outside it, by less than
#: load can move two runs apart; few-percent regressions are the instruction gate's.
AGAINST_MIN_BAND = 0.25
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


@dataclass(frozen=True)
class GateOptions:
    """What the gate checks beyond floor and equivalence, and how hard it measures."""

    quick: bool = False
    seed: int = 0
    samples: Optional[int] = None
    noise: dict = field(default_factory=dict)      # pair name -> {"band": relative half-width, ...}
    complexity: bool = True
    against: Optional[str] = None                   # full commit hash
    against_points: dict = field(default_factory=dict)  # pair name -> asv Point at gate size

    @property
    def n_samples(self) -> int:
        return self.samples or (7 if self.quick else 15)


def _band(opts: GateOptions, pair: Pair) -> float:
    entry = opts.noise.get(pair.name) or {}
    return float(entry.get("band", 0.0))


def judge(pair: Pair, opts: Optional[GateOptions] = None, *, tick=None) -> Verdict:
    """Measure one pair at its gate size and judge it: equivalence, floor (outside the noise
    band), growth class, and the drop against a recorded commit."""
    opts = opts or GateOptions()
    size = pair.size_for(gate=True)
    apply_threads()
    try:
        ms = m.measure(pair, size, seed=opts.seed, samples=opts.n_samples, time_if_different=False,
                       max_time_s=20.0 if opts.quick else 60.0, tick=tick)
    except PairbenchError as exc:
        return Verdict(pair.name, ERROR, f"could not run: {exc}", pair.floor, size)
    except Exception as exc:  # a broken workload or check: not a regression
        return Verdict(pair.name, ERROR, f"could not run: {type(exc).__name__}: {exc}", pair.floor, size)
    if not ms.equivalent:
        first = (ms.equivalence_error or "outputs differ").splitlines()
        why = first[0] + (f" {first[1].strip()}" if len(first) > 1 else "")
        return Verdict(pair.name, FAIL, f"not equivalent: {why}", pair.floor, size, ms)
    band = _band(opts, pair)
    notes = []
    status, reason = PASS, "equivalent; interval above floor"
    if ms.ci_low < pair.floor:
        if ms.ci_low >= pair.floor * (1 - band):
            status = NOISE
            reason = (f"lower bound {fmt_ratio(ms.ci_low)} is under the floor by less than the noise band "
                      f"(+/-{band:.0%}): not judged")
        else:
            return Verdict(pair.name, FAIL, f"regression: interval lower bound {fmt_ratio(ms.ci_low)} "
                           f"is under the floor {fmt_ratio(pair.floor)}"
                           + (f" beyond the noise band (+/-{band:.0%})" if band else ""), pair.floor, size, ms)
    if opts.complexity and pair.max_slope is not None:
        try:
            slope = optimized_slope(pair, opts)
        except Exception as exc:
            return Verdict(pair.name, ERROR, f"could not fit the growth slope: {exc}", pair.floor, size, ms)
        if slope > pair.max_slope:
            return Verdict(pair.name, FAIL, f"growth class broken: optimized slope {slope:.2f} over sizes "
                           f"{pair.sizes[0]:,}..{pair.sizes[-1]:,} exceeds {pair.max_slope:.2f}", pair.floor, size, ms)
        notes.append(f"slope {slope:.2f} <= {pair.max_slope:.2f}")
    if opts.against:
        point = opts.against_points.get(pair.name)
        if point is None:
            return Verdict(pair.name, ERROR, f"no asv result for {opts.against[:8]} at size {size}",
                           pair.floor, size, ms)
        drop = against_drop(ms, point, max(band, AGAINST_MIN_BAND))
        if drop:
            return Verdict(pair.name, FAIL, f"regression against {opts.against[:8]}: {drop}", pair.floor, size, ms)
        notes.append(f"no significant drop vs {opts.against[:8]} ({fmt_ratio(point.speedup)})")
    if notes:
        reason += "; " + "; ".join(notes)
    return Verdict(pair.name, status, reason, pair.floor, size, ms, notes)


def optimized_slope(pair: Pair, opts: GateOptions) -> float:
    """The log-log slope of the optimized side's cost over the pair's sizes (an A/A sweep of the
    optimized side, so the reference's cost at large sizes is not paid). Load on a shared machine
    only ever adds time, so the slope is fitted both to per-size medians and to per-size minima,
    and the smaller of the two is returned: a class is broken only when both say so."""
    aa = pair.with_sides(reference=pair.optimized)
    samples = 3 if opts.quick else 5
    sw = m.sweep(aa, pair.sizes[-1], pair.sizes, seed=opts.seed, samples=samples, sweep_samples=samples,
                 max_time_s=10.0)
    sizes = [p.size for p in sw.points]
    by_min = m.loglog_slope(sizes, [min(p.optimized_samples_s + p.reference_samples_s) for p in sw.points])
    return min(sw.optimized_slope, by_min)


def against_drop(ms: m.Measurement, point, band: float, *, alpha: float = 0.01) -> Optional[str]:
    """Why today's measurement is a significant drop from an asv ``Point`` of another commit.

    Significant: today's 95% interval lies wholly under the recorded one (beyond the noise band);
    or, where asv recorded time samples, today's interleaved ratios rank below the recorded ratio
    samples (one-sided Mann-Whitney, p < alpha) with today's median under the recorded median by
    more than the noise band.
    """
    ref_low = point.ci_low if math.isfinite(point.ci_low) else point.speedup
    drop = speedup_drop(point.speedup, ref_low, point.ratio_samples(), ms.speedup, ms.ci_high, ms.ratios,
                        band=band, alpha=alpha)
    if drop is None:
        return None
    why = (f"today's interval top {fmt_ratio(ms.ci_high)} under the recorded low {fmt_ratio(ref_low)}"
           if drop.how == "intervals" else f"Mann-Whitney on samples p={drop.p:.2g}")
    return f"speedup fell from {fmt_ratio(point.speedup)} to {fmt_ratio(ms.speedup)} ({why})"


def calibrate(pairs: Sequence[Pair], *, quick: bool = False, seed: int = 0, samples: Optional[int] = None,
              stream=None, progress: bool = True) -> dict:
    """A/A runs (each side against itself) at each pair's gate size; returns the noise bands.

    A pair's band is the largest distance from 1 of either A/A comparison's 95% interval: an
    effect smaller than that is indistinguishable from this machine's noise.
    """
    from .machine import machine_info

    stream = stream or sys.stdout
    n = samples or (7 if quick else 15)
    bands: dict = {}
    with Progress(m.planned_ticks(n, 2 * len(pairs)), "calibrating", enabled=progress) as bar:
        for pair in pairs:
            apply_threads()
            entry = {"size": pair.size_for(gate=True)}
            try:
                for side in ("reference", "optimized"):
                    mod = getattr(pair, side)
                    aa = m.measure(pair.with_sides(reference=mod, optimized=mod), entry["size"], seed=seed,
                                   samples=n, max_time_s=20.0 if quick else 60.0, tick=bar.tick)
                    entry[f"{side}_aa"] = [aa.ci_low, aa.speedup, aa.ci_high]
            except Exception as exc:
                line = f"ERROR {pair.name:<28} could not calibrate: {exc}"
            else:
                entry["band"] = max(max(1 - lo, hi - 1, abs(1 - med)) for lo, med, hi in
                                    (entry["reference_aa"], entry["optimized_aa"]))
                bands[pair.name] = entry
                line = f"NOISE {pair.name:<28} band +/-{entry['band']:.1%} (A/A ref {entry['reference_aa'][1]:.3f}, opt {entry['optimized_aa'][1]:.3f})"
            if bar.bar is not None:
                bar.bar.write(line, file=stream)
            else:
                print(line, file=stream, flush=True)
    return {"machine": machine_info(), "samples": n, "pairs": bands}


def exit_code(verdicts: Sequence[Verdict]) -> int:
    if not verdicts:
        return EXIT_ERROR
    if any(v.status == FAIL for v in verdicts):
        return EXIT_REGRESSION
    if any(v.status == ERROR for v in verdicts):
        return EXIT_ERROR
    return EXIT_OK


def run_gate(pairs: Sequence[Pair], *, quick: bool = False, seed: int = 0, samples: Optional[int] = None,
             stream=None, progress: bool = True, options: Optional[GateOptions] = None) -> tuple[int, list[Verdict]]:
    """Judge every pair, print one line each as it finishes, return (exit code, verdicts)."""
    stream = stream or sys.stdout
    opts = options or GateOptions(quick=quick, seed=seed, samples=samples)
    if not pairs:
        print("ERROR no pair selected", file=stream)
        return EXIT_ERROR, []
    verdicts = []
    with Progress(m.planned_ticks(opts.n_samples, len(pairs)), "gate", enabled=progress) as bar:
        for pair in pairs:
            v = judge(pair, opts, tick=bar.tick)
            verdicts.append(v)
            if bar.bar is not None:
                bar.bar.write(v.line(), file=stream)
            else:
                print(v.line(), file=stream, flush=True)
    code = exit_code(verdicts)
    counts = {s: sum(v.status == s for v in verdicts) for s in (PASS, NOISE, FAIL, ERROR)}
    print(f"gate: {counts[PASS]} pass, {counts[NOISE]} within noise, {counts[FAIL]} fail, "
          f"{counts[ERROR]} error -> exit {code}", file=stream)
    return code, verdicts


# -- what the command line hands the gate ----------------------------------------------------------
def load_noise(path) -> dict:
    """Noise bands stored by ``--calibrate`` (``{}`` when the file does not exist)."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["pairs"]
    except (ValueError, KeyError) as exc:
        raise PairbenchError(f"--noise: {path} is not a calibration file ({exc})") from None


def save_calibration(doc: dict, path) -> "Path":
    """Merge a calibration into the noise file (bands of pairs not calibrated now are kept)."""
    import json
    from pathlib import Path

    from .jsonio import write_json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(path.read_text()) if path.is_file() else {"pairs": {}}
    doc["pairs"] = {**old.get("pairs", {}), **doc["pairs"]}
    return write_json(path, doc)


def against_history(pairs: Sequence[Pair], rev: str, results_dir) -> tuple[str, dict]:
    """``(commit, {pair name: asv Point at its gate size})`` for ``--against REV``."""
    from .asv_results import load, resolve
    from .registry import asv_class_name

    commit = resolve(rev)
    history = load(results_dir)
    points = {}
    for pair in pairs:
        for pt in history.get(asv_class_name(pair.name), {}).get(str(pair.size_for(gate=True)), []):
            if pt.commit == commit:
                points[pair.name] = pt
    return commit, points
