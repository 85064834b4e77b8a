"""Global minimisation over a box with DIRECT, one point per objective call (the naive side: seed 004).

This module IS the specification of the ``direct_search`` pair.

``minimize(fun_batch, bounds, *, maxfun=None, eps=1e-4, locally_biased=True, maxiter=1000,
f_min=-inf, f_min_rtol=1e-4, vol_tol=1e-16, len_tol=1e-6) -> OptimizeResult``

What it does
    Runs ``scipy.optimize.direct`` (Gablonsky's DIRECT 2.0.4 in C; DIRECT-L when
    ``locally_biased``) on ``fun_batch`` restricted to one point per call: scipy asks for ``x`` of
    shape ``(d,)`` and this module answers with ``fun_batch(x[None, :])[0]``. Every keyword is
    passed to scipy unchanged, so the run (points sampled, their order, the stop) is scipy's.
    ``maxfun`` defaults to ``1000 * d`` (scipy's default).

The objective
    ``fun_batch(X)`` takes ``X`` of shape ``(m, d)`` (float64, every row inside ``bounds``) and
    returns ``m`` values, shape ``(m,)``, convertible to float64. A NaN value is read as ``+inf``
    (a point that cannot be evaluated is never the best, and it ranks with the worst), before
    DIRECT sees it; ``+inf`` and ``-inf`` are kept as they are.

Result (a ``scipy.optimize.OptimizeResult``)
    ``x`` (d,) the best point found (the first point that reached the lowest value), ``fun`` its
    value (``inf`` when every value was NaN/inf), ``nfev`` evaluations made, ``nit`` scipy's
    iteration counter, ``status`` scipy's return code, ``success``, ``message``.

Stops (checked after each whole iteration, so ``nfev`` may pass ``maxfun``: scipy overshoots)
    ``nfev > maxfun`` (status 1; scipy's C code rounds an odd ``maxfun`` down to even),
    ``maxiter`` reached (status 2; ``nit`` then reads ``max(maxiter, 2)``: scipy counts the
    start as iteration 1), ``(fun - f_min) / (|f_min| or 1) <= f_min_rtol`` when ``f_min`` is
    given (3), the volume of the best point's box ``<= vol_tol`` (unit cube = 1) (4), its side
    length measure ``<= len_tol`` (5). ``success`` is ``status > 2``.

Known quirk kept (it is scipy's run): DIRECT's "potentially optimal" test is looser than the
textbook one: scipy's C drops a candidate whose slopes admit no Lipschitz constant only when it
writes a log file, which ``scipy.optimize.direct`` never does.

Errors (message naming the argument)
    ``fun_batch`` not callable -> ``TypeError``; ``fun_batch`` returning the wrong shape, or values
    that are not real numbers -> ``ValueError("fun_batch: ...")``; ``bounds`` not a sequence of
    ``(low, high)`` pairs (wrong shape, empty, non-finite) -> ``ValueError("bounds: ...")``; a
    lower bound not below its upper bound -> ``ValueError("bounds: ...")``; ``maxfun`` not an int
    or ``< 1`` -> ``ValueError("maxfun: ...")``; ``maxiter`` not an int or ``< 1``;
    ``locally_biased`` not a bool; ``eps`` not finite; tolerances outside ``[0, 1]``.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Optional

import numpy as np
from scipy.optimize import OptimizeResult, direct

FunBatch = Callable[[np.ndarray], Any]

__all__ = ["minimize", "check_inputs", "evaluate_batch", "SearchSettings"]


class SearchSettings:
    """The validated arguments of one :func:`minimize` call (shared with the optimized side)."""

    __slots__ = ("lb", "ub", "maxfun", "eps", "locally_biased", "maxiter", "f_min",
                 "f_min_rtol", "vol_tol", "len_tol")

    def __init__(self, lb: np.ndarray, ub: np.ndarray, maxfun: int, eps: float, locally_biased: bool,
                 maxiter: int, f_min: float, f_min_rtol: float, vol_tol: float, len_tol: float) -> None:
        self.lb, self.ub = lb, ub
        self.maxfun, self.eps, self.locally_biased, self.maxiter = maxfun, eps, locally_biased, maxiter
        self.f_min, self.f_min_rtol, self.vol_tol, self.len_tol = f_min, f_min_rtol, vol_tol, len_tol


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_bounds(bounds: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        arr = np.asarray(bounds, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bounds: must be a sequence of (low, high) number pairs ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"bounds: must be a non-empty sequence of (low, high) pairs, "
                         f"got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("bounds: every low and high must be finite")
    lb, ub = arr[:, 0].copy(), arr[:, 1].copy()
    bad = np.flatnonzero(~(lb < ub))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"bounds: lower bound must be below upper bound, got bounds[{i}] = "
                         f"({lb[i]!r}, {ub[i]!r})")
    return lb, ub


def _check_tolerance(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}: must be a number between 0 and 1, got {value!r}")
    return float(value)


def check_inputs(fun_batch: Any, bounds: Any, *, maxfun: Any, eps: Any, locally_biased: Any,
                 maxiter: Any, f_min: Any, f_min_rtol: Any, vol_tol: Any,
                 len_tol: Any) -> SearchSettings:
    """Validate every argument of :func:`minimize`; raise naming the first bad one."""
    if not callable(fun_batch):
        raise TypeError(f"fun_batch: must be callable, got {type(fun_batch).__name__}")
    lb, ub = _check_bounds(bounds)
    if maxfun is None:
        maxfun = 1000 * lb.size
    if not _is_int(maxfun) or maxfun < 1:
        raise ValueError(f"maxfun: must be an int >= 1, got {maxfun!r}")
    if not _is_int(maxiter) or maxiter < 1:
        raise ValueError(f"maxiter: must be an int >= 1, got {maxiter!r}")
    if not isinstance(locally_biased, (bool, np.bool_)):
        raise ValueError(f"locally_biased: must be True or False, got {locally_biased!r}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps):
        raise ValueError(f"eps: must be a finite number, got {eps!r}")
    if isinstance(f_min, bool) or not isinstance(f_min, numbers.Real) or math.isnan(f_min):
        raise ValueError(f"f_min: must be a number (or -inf), got {f_min!r}")
    return SearchSettings(lb, ub, int(maxfun), float(eps), bool(locally_biased), int(maxiter),
                          float(f_min), _check_tolerance("f_min_rtol", f_min_rtol),
                          _check_tolerance("vol_tol", vol_tol), _check_tolerance("len_tol", len_tol))


def evaluate_batch(fun_batch: FunBatch, X: np.ndarray) -> np.ndarray:
    """Call ``fun_batch(X)`` and return its ``m`` values as float64, NaN read as ``+inf``."""
    out = fun_batch(X)
    try:
        values = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fun_batch: must return real numbers, got {type(out).__name__} ({exc})") from None
    if values.shape != (X.shape[0],):
        raise ValueError(f"fun_batch: must return shape ({X.shape[0]},) for X of shape {X.shape}, "
                         f"got shape {values.shape}")
    total = float(values.sum())
    if total != total:                      # a NaN somewhere (or inf - inf): read NaN as +inf
        values = np.where(np.isnan(values), np.inf, values)
    return values


def minimize(fun_batch: FunBatch, bounds: Any, *, maxfun: Optional[int] = None, eps: float = 1e-4,
             locally_biased: bool = True, maxiter: int = 1000, f_min: float = -np.inf,
             f_min_rtol: float = 1e-4, vol_tol: float = 1e-16, len_tol: float = 1e-6) -> OptimizeResult:
    """Minimise ``fun_batch`` over ``bounds`` with ``scipy.optimize.direct``, one point per call."""
    s = check_inputs(fun_batch, bounds, maxfun=maxfun, eps=eps, locally_biased=locally_biased,
                     maxiter=maxiter, f_min=f_min, f_min_rtol=f_min_rtol, vol_tol=vol_tol,
                     len_tol=len_tol)

    def one_point(x: np.ndarray) -> float:
        return float(evaluate_batch(fun_batch, x[None, :])[0])

    res = direct(one_point, list(zip(s.lb.tolist(), s.ub.tolist())), eps=s.eps, maxfun=s.maxfun,
                 maxiter=s.maxiter, locally_biased=s.locally_biased, f_min=s.f_min,
                 f_min_rtol=s.f_min_rtol, vol_tol=s.vol_tol, len_tol=s.len_tol)
    res.x = np.asarray(res.x, dtype=np.float64)
    res.fun = float(res.fun)
    return res
