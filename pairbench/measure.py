"""The measurement engine: interleaved side-by-side timing of a pair, with honest statistics.

For one pair at one size: build the workload, call each side once (timed apart: the one-off
cost, e.g. a JIT compile or a cold cache) and check the two outputs equivalent, warm up, pick a
call count per side so one sample lasts at least ``min_sample_s``, then take samples alternating
reference and optimized (ABBA order, so neither side always runs second). Each sample pair gives a
ratio; the speedup is the median ratio with a bootstrap 95% interval. A sweep over sizes fits the
log-log slope of each side's cost: the growth class, measured like any other figure.
"""
from __future__ import annotations

import gc
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .registry import Bound, NotEquivalent, Pair, PairbenchError
from .sides import SideError, Sides  # noqa: F401  (SideError: part of this module's API)

Tick = Callable[[str], None]

#: one sample of a side lasts at least this long (the timer's resolution and call overhead vanish)
MIN_SAMPLE_S = 0.010


@dataclass
class Measurement:
    """Everything measured for one pair at one size. Times are seconds per call."""

    name: str
    size: int
    size_unit: str
    reference_s: float
    optimized_s: float
    speedup: float
    ci_low: float
    ci_high: float
    equivalent: bool
    one_off_s: float
    reference_one_off_s: float
    samples: int
    reference_calls_per_sample: int
    optimized_calls_per_sample: int
    equivalence_error: Optional[str] = None
    one_off_detail: dict = field(default_factory=dict)
    reference_samples_s: list = field(default_factory=list)
    optimized_samples_s: list = field(default_factory=list)
    ratios: list = field(default_factory=list)
    reference_iqr_s: tuple = (math.nan, math.nan)
    optimized_iqr_s: tuple = (math.nan, math.nan)

    def as_dict(self) -> dict:
        return asdict(self)


# -- statistics ---------------------------------------------------------------------------------
def median_ci(values: Sequence[float], *, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Median of ``values`` with a bootstrap ``confidence`` interval (scipy.stats.bootstrap, BCa,
    falling back to the percentile method when BCa is degenerate). Fewer than 3 values: the
    interval is their range, which is all such a sample can say."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("values: need at least one value")
    med = float(np.median(arr))
    if arr.size < 3 or np.all(arr == arr[0]):
        return med, float(arr.min()), float(arr.max())
    from scipy import stats

    import warnings

    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((arr,), np.median, confidence_level=confidence, method=method,
                                  n_resamples=2000, rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return med, min(lo, med), max(hi, med)
    return med, float(arr.min()), float(arr.max())


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) on log(size): 0 constant, 1 linear, 2 quadratic."""
    x = np.log(np.asarray(sizes, dtype=float))
    y = np.log(np.asarray(times, dtype=float))
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


# -- timing ---------------------------------------------------------------------------------------
def _run_side(bound: Bound, n: int) -> float:
    """Seconds spent in ``n`` calls; a reset (if any) runs before each call, outside the timer."""
    call, reset = bound.call, bound.reset
    perf = time.perf_counter
    if reset is None:
        t0 = perf()
        for _ in range(n):
            call()
        return perf() - t0
    total = 0.0
    for _ in range(n):
        reset()
        t0 = perf()
        call()
        total += perf() - t0
    return total


def _calls_for(bound: Bound, min_sample_s: float, *, cap: int = 10_000_000) -> int:
    """The call count that makes one sample last at least ``min_sample_s``.

    Each trial count is timed three times and the fastest taken, so one call that lands on a
    busy moment of a shared machine does not leave the side with too few calls per sample.
    """
    n = 1
    while True:
        spent = _run_side(bound, n)
        if spent < 3 * min_sample_s:
            spent = min(spent, _run_side(bound, n), _run_side(bound, n))
        if spent >= min_sample_s or n >= cap:
            return n
        # aim 20% past the target from the rate just seen; at least double
        guess = int(math.ceil(n * 1.2 * min_sample_s / max(spent, 1e-9)))
        n = min(cap, max(2 * n, guess))


def check_equivalent(pair: Pair, ref_out: Any, opt_out: Any) -> Optional[str]:
    """None when the pair's check accepts the two outputs, else its readable diff."""
    try:
        pair.check(ref_out, opt_out)
    except NotEquivalent as exc:
        return str(exc) or "outputs differ"
    except AssertionError as exc:
        return str(exc) or "outputs differ"
    return None


def measure(pair: Pair, size: Optional[int] = None, *, seed: int = 0, samples: int = 15,
            min_sample_s: float = MIN_SAMPLE_S, warmup_s: float = 0.05, max_time_s: float = math.inf,
            time_if_different: bool = True, tick: Optional[Tick] = None) -> Measurement:
    """Measure ``pair`` at ``size`` (default: its default size): see the module docstring.

    ``samples`` interleaved sample pairs are taken, fewer (at least 3) if ``max_time_s`` runs out.
    With ``time_if_different=False`` a pair whose outputs differ is not timed (the gate's choice).
    ``tick`` is called once per finished step, for progress bars.
    """
    if samples < 1:
        raise PairbenchError("samples: must be >= 1")
    size = pair.default_size if size is None else int(size)
    if size < 1:
        raise PairbenchError(f"size: must be >= 1, got {size}")
    tick = tick or (lambda _msg: None)
    with Sides(pair, size, seed) as sides:
        ref_out, ref_first = sides.first_call("reference")
        opt_out, opt_first = sides.first_call("optimized")
        error = check_equivalent(pair, ref_out, opt_out)
        del ref_out, opt_out
        detail: dict = {}
        if pair.one_off is not None:
            detail = dict(pair.one_off(pair.module("optimized")))
        tick(f"{pair.name}: one-off")
        if error is not None and not time_if_different:
            return Measurement(pair.name, size, pair.size_unit, math.nan, math.nan, math.nan, math.nan,
                               math.nan, False, opt_first, ref_first, 0, 0, 0, error, detail)

        # warm-up, then the call count that makes each sample last min_sample_s
        for side in ("reference", "optimized"):
            deadline = time.perf_counter() + warmup_s
            while time.perf_counter() < deadline:
                sides.call(side, lambda b: _run_side(b, 1))
        n_ref = sides.call("reference", lambda b: _calls_for(b, min_sample_s))
        n_opt = sides.call("optimized", lambda b: _calls_for(b, min_sample_s))
        gc.collect()

        ref_t: list[float] = []
        opt_t: list[float] = []
        started = time.perf_counter()
        for i in range(samples):
            order = ("reference", "optimized") if i % 2 == 0 else ("optimized", "reference")
            for side in order:
                n = n_ref if side == "reference" else n_opt
                per_call = sides.call(side, lambda b: _run_side(b, n)) / n
                (ref_t if side == "reference" else opt_t).append(per_call)
            tick(f"{pair.name}: sample {i + 1}/{samples}")
            if i + 1 >= 3 and time.perf_counter() - started > max_time_s:
                break

    ratios = [r / o for r, o in zip(ref_t, opt_t)]
    speedup, lo, hi = median_ci(ratios)
    return Measurement(
        name=pair.name, size=size, size_unit=pair.size_unit,
        reference_s=float(np.median(ref_t)), optimized_s=float(np.median(opt_t)),
        speedup=speedup, ci_low=lo, ci_high=hi, equivalent=error is None,
        one_off_s=opt_first, reference_one_off_s=ref_first, samples=len(ratios),
        reference_calls_per_sample=n_ref, optimized_calls_per_sample=n_opt,
        equivalence_error=error, one_off_detail=detail,
        reference_samples_s=ref_t, optimized_samples_s=opt_t, ratios=ratios,
        reference_iqr_s=tuple(float(q) for q in np.percentile(ref_t, [25, 75])),
        optimized_iqr_s=tuple(float(q) for q in np.percentile(opt_t, [25, 75])),
    )


@dataclass
class Sweep:
    """A pair measured over several sizes, with the fitted growth slope of each side."""

    name: str
    main: Measurement
    points: list[Measurement]
    reference_slope: float
    optimized_slope: float

    def as_dict(self) -> dict:
        out = self.main.as_dict()
        out["reference_slope"] = self.reference_slope
        out["optimized_slope"] = self.optimized_slope
        out["sweep"] = [
            {k: p.as_dict()[k] for k in ("size", "reference_s", "optimized_s", "speedup", "ci_low",
                                         "ci_high", "equivalent", "samples")}
            for p in self.points
        ]
        return out


def sweep(pair: Pair, main_size: int, sizes: Sequence[int], *, seed: int = 0, samples: int = 15,
          sweep_samples: int = 5, min_sample_s: float = MIN_SAMPLE_S, max_time_s: float = math.inf,
          tick: Optional[Tick] = None) -> Sweep:
    """Measure ``pair`` at ``main_size`` with ``samples`` and at the other ``sizes`` with
    ``sweep_samples``; fit each side's log-log slope over all sizes measured."""
    points: dict[int, Measurement] = {}
    points[main_size] = measure(pair, main_size, seed=seed, samples=samples, min_sample_s=min_sample_s,
                                max_time_s=max_time_s, tick=tick)
    for s in sizes:
        if s not in points:
            points[s] = measure(pair, s, seed=seed, samples=sweep_samples, min_sample_s=min_sample_s,
                                max_time_s=max_time_s, tick=tick)
    ordered = [points[s] for s in sorted(points)]
    timed = [p for p in ordered if p.samples]
    ref_slope = loglog_slope([p.size for p in timed], [p.reference_s for p in timed])
    opt_slope = loglog_slope([p.size for p in timed], [p.optimized_s for p in timed])
    return Sweep(pair.name, points[main_size], ordered, ref_slope, opt_slope)


def planned_ticks(samples: int, n_measurements: int = 1) -> int:
    """How many ticks ``measure`` emits for ``n_measurements`` runs of ``samples`` (progress bars)."""
    return n_measurements * (samples + 1)
