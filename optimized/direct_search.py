"""DIRECT / DIRECT-L of our own that evaluates each iteration's new points in ONE ``fun_batch`` call.

Same API and semantics as :mod:`reference.direct_search` (the specification), and the same run:
scipy's DIRECT chooses its rectangles at the start of an iteration and the points it samples
depend only on their geometry, so this side builds all of an iteration's points first (numpy,
all chosen rectangles at once), calls ``fun_batch`` once with them (``m`` = the iteration's new
points, ``2 * d + 1`` for the start), then divides and files the rectangles in scipy's order.
Same points in the same order, same stops: equal ``x``, ``fun``, ``nfev``, ``nit`` and
``status`` for the same arguments (see :mod:`optimized._direct_core` for what is retraced).
Exactly equal as long as ``fun_batch`` gives a row the same value whatever the other rows of
the batch (row-wise numpy is; a BLAS matmul over the batch may differ in the last bit, and then
ties can break differently).

Where the time goes: the geometry of an iteration (lengths, the sampled points, the cut order,
the new sizes and levels) is a fixed number of numpy calls over all its rectangles; what stays
in Python per new rectangle is one heap push into its level's list (scipy files entries one by
one, and the order of equal values depends on that sequence) and the potentially-optimal test
over the levels' heads (scipy's O(levels^2) loops, run over the few heads that can pass).

Deliberate differences, outside the valid domain of the reference: where scipy's C code gives
up because its fixed work arrays are full (over 5000 rectangles chosen in one iteration by the
original DIRECT, or more new points in one iteration than its ``maxfun``-sized store holds),
this side either stops with status -6 and the best point found (scipy returns the last point
it evaluated) or, for the store, simply carries on.

Measured speedups: ``direct_search.profit`` (maxfun 500 on the profit kernel, 2,000 bars) **3.39x
[3.24x, 3.51x]**; ``direct_search.overhead`` (a trivial objective, maxfun 1,000) **1.52x [1.43x,
1.56x]**, 1.85x at 4,000. Reproduce: ``pairbench run direct_search.profit --size 2000`` and
``pairbench run direct_search.overhead --size 1000`` (median of 15 interleaved per-sample ratios,
bootstrap 95% interval; the figures are the README's, ``docs/results/run.json``, 2-core AMD EPYC
VM, threads pinned to 1).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from scipy.optimize import OptimizeResult

from reference.direct_search import FunBatch, SearchSettings, check_inputs, evaluate_batch

from ._direct_core import DirectRun

# the reference's public names: its input checks and batch evaluation are the specification's own
__all__ = ["minimize", "check_inputs", "evaluate_batch", "SearchSettings"]


def minimize(fun_batch: FunBatch, bounds: Any, *, maxfun: Optional[int] = None, eps: float = 1e-4,
             locally_biased: bool = True, maxiter: int = 1000, f_min: float = -np.inf,
             f_min_rtol: float = 1e-4, vol_tol: float = 1e-16, len_tol: float = 1e-6) -> OptimizeResult:
    """Minimise ``fun_batch`` over ``bounds`` with DIRECT, one ``fun_batch`` call per iteration."""
    s = check_inputs(fun_batch, bounds, maxfun=maxfun, eps=eps, locally_biased=locally_biased,
                     maxiter=maxiter, f_min=f_min, f_min_rtol=f_min_rtol, vol_tol=vol_tol,
                     len_tol=len_tol)
    run = DirectRun(lambda X: evaluate_batch(fun_batch, X), s.lb, s.ub, maxfun=s.maxfun,
                    eps=s.eps, locally_biased=s.locally_biased, maxiter=s.maxiter, f_min=s.f_min,
                    f_min_rtol=s.f_min_rtol, vol_tol=s.vol_tol, len_tol=s.len_tol)
    x, fun, nfev, nit, status = run.run()
    return OptimizeResult(x=x, fun=float(fun), status=status, success=status > 2,
                          message=run.message(status), nfev=nfev, nit=nit)
