"""Trade tracking compiled by numba: one pass over the bars, same rules as ``reference.trade_tracker``.

The semantics (fills, partial closes, fees, equity, margin load, stats, errors) are those of the
reference module's docstring. The kernel ``_track_kernel`` is ``@njit(cache=True)``: the first
call in a fresh environment compiles it (seconds), later processes load it from numba's cache.
Value checks (finite, positive prices; finite positions) run inside the kernel's single pass; on
a bad value the reference's checks run to raise the very same error.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from reference.trade_tracker import (SIDES, TRADE_DTYPE, TradeReport, check_keywords, check_shapes,
                                     check_values)

__all__ = ["TRADE_DTYPE", "TradeReport", "track_trades"]

# The columns of the kernel's two trade tables.
_INT_FIELDS = ("entry_index", "exit_index", "side", "forced")
_FLOAT_FIELDS = ("entry_price", "exit_price", "size", "pnl", "fees")


@njit(cache=True, nogil=True)
def _count_opens(positions):
    """An upper bound on the number of trades: bars whose target is non-zero and not on the side
    of the previous bar's (a NaN counts; so does a product that underflows to 0)."""
    prev = 0.0
    n = 0
    for t in range(positions.shape[0]):
        q = positions[t]
        if q != 0.0 and not (q * prev > 0.0):
            n += 1
        prev = q
    return n


@njit(cache=True, nogil=True)
def _track_kernel(prices, positions, initial_equity, margin_rate, fee_rate):
    """One pass over the bars. Returns (bad, n, ints[n, 4], floats[n, 5], per_bar[2, T], acc[3, 7]).

    ``bad`` is 1 when a value check failed (the other outputs are then meaningless; a bad value
    only turns arithmetic into NaN/inf, and ``_count_opens`` still bounds the trades). ``ints`` holds
    entry_index, exit_index, side, forced; ``floats`` entry_price, exit_price, size, pnl, fees;
    ``per_bar`` equity and margin load (one block: one allocation per call); ``acc`` the stats
    rows (all, long, short) as count, wins, pnl, fees, bars, max load, summed load. The arithmetic
    follows the reference loop operation by operation, so results agree to the last bit.
    The trade tables are sized up front by ``_count_opens`` (a cheap pre-pass): growing them
    inside the loop made the loop carry array structs and ran 3-5x slower.
    """
    n_bars = prices.shape[0]
    capacity = _count_opens(positions)
    ints = np.empty((capacity, 4), np.int64)
    floats = np.empty((capacity, 5), np.float64)
    per_bar = np.empty((2, n_bars), np.float64)
    acc = np.zeros((3, 7), np.float64)

    good = True
    n = 0
    pos = 0.0
    avg = 0.0
    realised = 0.0
    side = 0
    open_index = 0
    size = 0.0
    trade_pnl = 0.0
    trade_fees = 0.0
    # per-bar load sums, counts and maxima for all / long / short (scalars: kept in registers)
    bars_all = sum_all = max_all = 0.0
    bars_long = sum_long = max_long = 0.0
    bars_short = sum_short = max_short = 0.0

    for t in range(n_bars):
        p = prices[t]
        q = positions[t]
        good &= (p > 0.0) & (p < np.inf) & (q - q == 0.0)  # branch-free value check
        if q != pos:
            held = abs(pos)
            target = abs(q)
            new_side = 1 if q > 0.0 else (-1 if q < 0.0 else 0)
            if side != 0 and new_side == side:
                if target > held:
                    fee = fee_rate * (target - held) * p
                    avg = (avg * held + p * (target - held)) / target
                    if target > size:
                        size = target
                else:
                    fee = fee_rate * (held - target) * p
                    gain = side * (p - avg) * (held - target)
                    trade_pnl += gain
                    realised += gain
                trade_pnl -= fee
                trade_fees += fee
                realised -= fee
            else:
                if side != 0:
                    fee = fee_rate * held * p
                    gain = side * (p - avg) * held
                    trade_pnl += gain - fee
                    trade_fees += fee
                    realised += gain - fee
                    ints[n, 0] = open_index
                    ints[n, 1] = t
                    ints[n, 2] = side
                    ints[n, 3] = 0
                    floats[n, 0] = avg
                    floats[n, 1] = p
                    floats[n, 2] = size
                    floats[n, 3] = trade_pnl
                    floats[n, 4] = trade_fees
                    n += 1
                    side = 0
                if new_side != 0:
                    fee = fee_rate * target * p
                    side = new_side
                    open_index = t
                    avg = p
                    size = target
                    trade_pnl = -fee
                    trade_fees = fee
                    realised -= fee
            pos = q
        if side == 0:
            equity = initial_equity + realised + 0.0
            load = 0.0
        else:
            equity = initial_equity + realised + pos * (p - avg)
            if equity > 0.0:
                load = abs(pos) * p * margin_rate / equity
            else:
                load = np.inf
            bars_all += 1.0
            sum_all += load
            if load > max_all:
                max_all = load
            if side > 0:
                bars_long += 1.0
                sum_long += load
                if load > max_long:
                    max_long = load
            else:
                bars_short += 1.0
                sum_short += load
                if load > max_short:
                    max_short = load
        per_bar[0, t] = equity
        per_bar[1, t] = load

    if side != 0:
        p = prices[n_bars - 1]
        gain = side * (p - avg) * abs(pos)
        trade_pnl += gain
        ints[n, 0] = open_index
        ints[n, 1] = n_bars - 1
        ints[n, 2] = side
        ints[n, 3] = 1
        floats[n, 0] = avg
        floats[n, 1] = p
        floats[n, 2] = size
        floats[n, 3] = trade_pnl
        floats[n, 4] = trade_fees
        n += 1

    if not good:
        return 1, n, ints, floats, per_bar, acc
    acc[0, 4], acc[0, 5], acc[0, 6] = bars_all, max_all, sum_all
    acc[1, 4], acc[1, 5], acc[1, 6] = bars_long, max_long, sum_long
    acc[2, 4], acc[2, 5], acc[2, 6] = bars_short, max_short, sum_short
    for k in range(n):
        row = 1 if ints[k, 2] > 0 else 2
        for r in (0, row):
            acc[r, 0] += 1.0
            if floats[k, 3] > 0.0:
                acc[r, 1] += 1.0
            acc[r, 2] += floats[k, 3]
            acc[r, 3] += floats[k, 4]
    return 0, n, ints[:n], floats[:n], per_bar, acc


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
    bad, n, ints, floats, per_bar, acc = _track_kernel(prices, positions, initial_equity,
                                                       margin_rate, fee_rate)
    if bad:
        check_values(prices, positions)  # raises the reference's error naming the first bad value
        raise AssertionError("kernel flagged a bad value the reference checks accept")  # pragma: no cover
    trades = np.empty(n, dtype=TRADE_DTYPE)
    for name, column in zip(_INT_FIELDS, ints.T):
        trades[name] = column
    for name, column in zip(_FLOAT_FIELDS, floats.T):
        trades[name] = column
    return TradeReport(trades=trades, stats=_stats_from(acc), equity=per_bar[0], margin_load=per_bar[1])
