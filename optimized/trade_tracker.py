"""Trade tracking compiled by numba: one pass over the bars, same rules as ``reference.trade_tracker``.

The semantics (fills, partial closes, fees, equity, margin load, stats, errors) are those of the
reference module's docstring. The trick: the bars fall into runs of one target position; the
kernel (``optimized._trade_tracker_nb``, ``@njit(cache=True)``) fills at a run's first bar and
treats the rest of the run in branch-free loops, the margin-load division vectorised, the stats
sums kept in bar order, so every output is bit-equal to the reference's. The first call in a
fresh environment compiles it (seconds), later processes load it from numba's cache. Value checks
(finite, positive prices; finite positions) run inside the kernel's pass; on a bad value the
reference's checks run to raise the very same error.

Measured on the 2-core AMD EPYC VM, shared with other jobs (1M bars,
``PYTHONPATH=. python -m pairbench run trade_tracker --size 1000000``, three runs): 203x
[181x, 258x] and 255x [204x, 262x] with the reference at its usual ~480 ms (2.3-2.5 ms here),
158x [132x, 221x] with the VM loaded (reference 757 ms); it was 103-108x. One-off: compile 5-6 s
(empty numba cache), cache load 0.25-0.27 s. ``PYTHONPATH=. python scripts/floors.py
TradeTrackerFloor`` puts it at 1.38x [0.94x, 1.52x] of the traffic-plus-ordered-sums floor.
Instructions (``pairbench count trade_tracker``, 100,000 bars, this branch merged with main's
counting): 260x (74.9x before).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from optimized._trade_tracker_nb import track_kernel
from reference.trade_tracker import (SIDES, TRADE_DTYPE, TradeReport, check_keywords, check_shapes,
                                     check_values)

__all__ = ["TRADE_DTYPE", "TradeReport", "track_trades"]

# The columns of the kernel's two trade tables.
_INT_FIELDS = ("entry_index", "exit_index", "side", "forced")
_FLOAT_FIELDS = ("entry_price", "exit_price", "size", "pnl", "fees")


def _stats_from(acc: np.ndarray) -> dict[str, dict[str, float]]:
    """The stats dict of the reference from the kernel's accumulator rows."""
    out = {}
    for name, (count, wins, pnl, fees, bars, max_load, sum_load) in zip(SIDES, acc.tolist()):
        out[name] = {
            "count": count,
            "win_rate": wins / count if count else float("nan"),
            "total_pnl": pnl,
            "total_fees": fees,
            "bars_held": bars,
            "max_margin_load": max_load,
            "mean_margin_load": sum_load / bars if bars else 0.0,
        }
    return out


def track_trades(prices: Any, positions: Any, *, initial_equity: float = 100_000.0,
                 margin_rate: float = 0.25, fee_rate: float = 0.0005) -> TradeReport:
    """Split a target-position series into trades and report P&L, equity and margin load."""
    prices, positions = check_shapes(prices, positions)
    initial_equity, margin_rate, fee_rate = check_keywords(initial_equity, margin_rate, fee_rate)
    per_bar = np.empty((2, prices.size))  # numpy's allocation: huge pages (see the kernel's module)
    bad, n, ints, floats, acc = track_kernel(prices, positions, per_bar, initial_equity, margin_rate,
                                             fee_rate)
    if bad:
        check_values(prices, positions)  # raises the reference's error naming the first bad value
        raise AssertionError("kernel flagged a bad value the reference checks accept")  # pragma: no cover
    trades = np.empty(n, dtype=TRADE_DTYPE)
    for name, column in zip(_INT_FIELDS, ints.T):
        trades[name] = column
    for name, column in zip(_FLOAT_FIELDS, floats.T):
        trades[name] = column
    return TradeReport(trades=trades, stats=_stats_from(acc), equity=per_bar[0], margin_load=per_bar[1])
