"""Pairs of ``direct_search``: scipy's DIRECT one point per call vs our DIRECT, one batch per iteration.

Seed 004: ``scipy.optimize.direct`` drove a small torch profit kernel one candidate at a time
(~500 evaluations, each crossing Python -> C -> torch -> ``.item()``) and batching was proposed
but not built. Both sides here run the same DIRECT-L (scipy's defaults, ``eps=1e-4``) and, as the
optimized side retraces scipy's run exactly, return the same ``x``, ``fun``, ``nfev`` and ``nit``:
the check demands equality.

``direct_search.profit``: maximise the seed's limit-order profit (``profit_kernel``) over its
3 parameters, ``maxfun=500``; each side with its own kernel (the reference calls
``reference.profit_kernel.profit_batch`` with one candidate, the optimized side calls
``optimized.profit_kernel.profit_batch`` with each iteration's 2-30 new candidates). The size is
the market's bars: the kernel's cost grows with them while the optimizer's own work does not, so
the sweep shows how the gain moves between "Python overhead bound" and "kernel bound".

``direct_search.overhead``: a 2-D shifted sphere (batched numpy, no work to speak of), so the time
is the optimizer's own cost per evaluation; the size is ``maxfun`` (tolerance stops off, so the
run does ``maxfun`` evaluations, a few more at the last iteration).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, NamedTuple

from pairbench.equivalence import assert_equivalent
from pairbench.registry import Pair, Workload

PROFIT_MAXFUN = 500
"""The seed's budget (scipy's DIRECT, ``maxfun=500``)."""

OVERHEAD_DIM = 2


class ProfitInputs(NamedTuple):
    market: Any          # profit_kernel.Market
    maxfun: int


class OverheadInputs(NamedTuple):
    bounds: tuple[tuple[float, float], ...]
    maxfun: int


def summary(result: Any) -> dict:
    """What must match between the sides: the optimum, its value, the work done, the stop."""
    import numpy as np

    return {"x": np.asarray(result.x, dtype=float), "fun": float(result.fun),
            "nfev": int(result.nfev), "nit": int(result.nit), "status": int(result.status)}


def check(ref: Any, opt: Any) -> None:
    """Equal, bit for bit: the optimized side retraces scipy's run (same points, same order)."""
    assert_equivalent(summary(ref), summary(opt), what="DIRECT result")


def _sibling_kernel(module: ModuleType) -> ModuleType:
    """The ``profit_kernel`` of the same side (``reference.`` or ``optimized.``) as ``module``."""
    package = module.__name__.rpartition(".")[0] or "reference"
    return importlib.import_module(f"{package}.profit_kernel")


def profit_workload(size: int, seed: int) -> Workload:
    from reference.profit_kernel import make_market

    return Workload(ProfitInputs(make_market(size, seed=seed), PROFIT_MAXFUN),
                    description=f"{size} bars, maxfun {PROFIT_MAXFUN}")


def bind_profit(module: ModuleType, inputs: ProfitInputs):
    kernel = _sibling_kernel(module)
    market, maxfun = inputs

    def negative_profit(X):
        return -kernel.profit_batch(market, X)

    def call():
        return module.minimize(negative_profit, kernel.PARAM_BOUNDS, maxfun=maxfun)

    return call


def overhead_workload(size: int, seed: int) -> Workload:
    import numpy as np

    rng = np.random.default_rng([seed, size])
    low = rng.uniform(-2.0, -0.5, OVERHEAD_DIM)
    high = rng.uniform(0.5, 2.0, OVERHEAD_DIM)
    bounds = tuple((float(a), float(b)) for a, b in zip(low, high))
    return Workload(OverheadInputs(bounds, size),
                    description=f"{OVERHEAD_DIM}-D sphere, maxfun {size}")


def bind_overhead(module: ModuleType, inputs: OverheadInputs):
    from pairbench.pairs._testfunctions import sphere

    bounds, maxfun = inputs
    # no tolerance stop: the run goes to maxfun, so the size is the work
    return lambda: module.minimize(sphere, bounds, maxfun=maxfun, vol_tol=0.0, len_tol=0.0)


PAIRS = [
    Pair(
        name="direct_search.profit",
        summary="DIRECT-L over the seed-004 profit kernel, maxfun 500: one candidate per call "
                "(scipy) vs one batch per iteration",
        reference="reference.direct_search",
        optimized="optimized.direct_search",
        workload=profit_workload,
        bind=bind_profit,
        check=check,
        sizes=(500, 2000, 8000),
        default_size=2000,
        quick_size=500,
        # Measured (pairbench run, 2-core EPYC VM shared with other jobs, torch 1 thread):
        # 2.9-3.4x at 2,000 bars (3.43x [3.33x, 3.50x] on a calmer minute), 3.1-3.4x at 500,
        # 2.2-3.4x at 8,000 (there the batched kernel, not the optimizer, sets the pace). The
        # optimizer's own numpy work is ~1/3 of the optimized time, the kernel batches ~2/3.
        # 1.8 sits well below what is measured and well above the 1.0x that the reference in the
        # optimized slot gives (checked: gate FAILs at 1.02x [0.99x, 1.07x]).
        floor=1.8,
        size_unit="bars",
        # optimized side: a fixed optimizer cost plus a kernel pass linear in bars
        max_slope=1.2,
    ),
    Pair(
        name="direct_search.overhead",
        summary="DIRECT-L on a 2-D sphere (no work per point): the optimizer's own cost per "
                "evaluation, scipy's C + one Python call per point vs numpy bookkeeping",
        reference="reference.direct_search",
        optimized="optimized.direct_search",
        workload=overhead_workload,
        bind=bind_overhead,
        check=check,
        sizes=(250, 1000, 4000),
        default_size=1000,
        quick_size=250,
        gate_size=4000,
        # Per evaluation (CPU time, 2-D): scipy's C with a trivial callable 1.3-1.8 us; the
        # reference (scipy + one fun_batch call per point) ~5 us; the optimized side ~4.9 us at
        # maxfun 250, ~3.2 us at 1000, ~2.8 us at 4000 (its per-iteration cost is spread over
        # larger batches as rectangles multiply): 1.0x, 1.5x, 1.8x (pairbench run: 1.04x, 1.52x,
        # 1.87x). The gate holds 1.1 at 4000 (20-40 ms calls, far less noisy than the 1-2 ms ones
        # at 250): above the 1.03x [0.96x, 1.06x] that the reference in the optimized slot gives,
        # below the 1.6-2.0x measured.
        floor=1.1,
        size_unit="evaluations (maxfun)",
        max_slope=1.4,
    ),
]
