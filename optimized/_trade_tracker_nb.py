"""The numba kernel of ``optimized.trade_tracker``: one pass over the runs of a constant position.

A target position changes every few hundred bars, so the bars fall into *runs* that hold one
position. The kernel fills at the first bar of a run (the reference's rules, operation by
operation, as a rare branch), finds where the run ends (eight targets compared at once), then
treats the run's bars in two branch-free loops: equity and margin load (independent per bar, so
LLVM turns the division into ``vdivpd``), then the stats sums, added in bar order. What each
choice bought, kernel alone at 1M bars on the 2-core AMD EPYC VM (3.3-3.5 ns/bar before, about
1.6-1.7 ns/bar after when the VM was quiet; interleaved under load, medians 5.07 -> 3.35 ns/bar):

* ``error_model="numpy"``: numba's default tests every float division for zero (a branch and a
  scalar ``vdivsd``); the load is only divided where equity > 0 anyway;
* run-local slices indexed from 0: with ``range(start, end)`` indices LLVM could not prove them
  non-negative and wrapped each one, turning the loop into gathers and scatters;
* the run structure: the per-bar position test, the side dispatch and the ``bars_held`` counts
  leave the per-bar loop (``bars_held`` adds the run length: integers, exact in float64);
* no counting pre-pass: the trade tables start small and double at a fill (off the per-bar path);
* the per-bar block is allocated by numpy in the caller: numpy asks for huge pages on large
  arrays, so a fresh 16 MB block after the reference's loop freed its lists cost 0 page faults
  and ~1.6 ms to fill, where numba's own ``np.empty`` took 1,922 faults and ~7.6 ms.

Left: the traffic of the two per-bar output arrays and the sums' chain of dependent additions
(~3 cycles per held bar), which bit-equal results forbid reordering; ``benchmarks/bench_floors.py``
(``TradeTrackerFloor``) times both floors beside the tracker. Every float operation is the
reference's, in its order, so results agree to the last bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["track_kernel"]

_SCAN = 8
"""Bars compared at once when looking for the end of a run (one AVX-512 compare)."""
_FIRST_CAPACITY = 64
"""Rows of the trade tables to start with; they double when full (at a fill: off the per-bar path)."""
_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_OPTIONS)
def _grown(table, rows):
    """``table`` copied into one with twice the rows (at least ``rows``)."""
    out = np.empty((max(rows, 2 * table.shape[0]), table.shape[1]), table.dtype)
    for i in range(table.shape[0]):  # loops: a slice assignment took numba ~5 s to compile
        for j in range(table.shape[1]):
            out[i, j] = table[i, j]
    return out


@njit(**_OPTIONS)
def _record(ints, floats, n, entry_index, exit_index, side, forced, entry_price, exit_price, size, pnl,
            fees):
    """Write trade ``n`` (the tables doubled first when full); returns the tables."""
    if n == ints.shape[0]:
        ints, floats = _grown(ints, n + 1), _grown(floats, n + 1)
    ints[n, 0] = entry_index
    ints[n, 1] = exit_index
    ints[n, 2] = side
    ints[n, 3] = forced
    floats[n, 0] = entry_price
    floats[n, 1] = exit_price
    floats[n, 2] = size
    floats[n, 3] = pnl
    floats[n, 4] = fees
    return ints, floats


@njit(**_OPTIONS)
def _run_end(positions, start, pos):
    """The first bar after ``start`` whose target differs from ``pos`` (or the bar count)."""
    rest = positions[start:]  # indexed from 0: LLVM then sees no negative index to wrap
    m = rest.shape[0]
    k = 1
    while k + _SCAN <= m:  # whole chunks first: one vector compare per chunk
        differs = False
        for j in range(_SCAN):
            differs |= rest[k + j] != pos
        if differs:
            break
        k += _SCAN
    for k in range(k, m):
        if rest[k] != pos:
            return start + k
    return positions.shape[0]


@njit(**_OPTIONS)
def _held_run(prices, equity_out, load_out, start, end, base, pos, avg, margin_rate):
    """Equity and margin load of the bars ``start:end`` holding ``pos`` units (entry ``avg``);
    ``base`` is ``initial_equity + realised``. Returns whether every price was finite and > 0."""
    units = abs(pos)
    good = True
    run_prices, run_equity, run_load = prices[start:end], equity_out[start:end], load_out[start:end]
    for k in range(run_prices.shape[0]):
        p = run_prices[k]
        good &= (p > 0.0) & (p < np.inf)
        equity = base + pos * (p - avg)
        load = units * p * margin_rate / equity
        if not (equity > 0.0):
            load = np.inf
        run_equity[k] = equity
        run_load[k] = load
    return good


@njit(**_OPTIONS)
def _flat_run(prices, equity_out, load_out, start, end, equity):
    """The bars ``start:end`` held flat: constant equity, no load. Returns the prices' check."""
    good = True
    run_prices, run_equity, run_load = prices[start:end], equity_out[start:end], load_out[start:end]
    for k in range(run_prices.shape[0]):
        p = run_prices[k]
        good &= (p > 0.0) & (p < np.inf)
        run_equity[k] = equity
        run_load[k] = 0.0
    return good


@njit(**_OPTIONS)
def _sum_and_max(loads, start, end, total_all, max_all, total_side, max_side):
    """Add ``loads[start:end]`` in bar order to the "all" and the side's sums; raise their maxima."""
    run = loads[start:end]
    for k in range(run.shape[0]):
        load = run[k]
        total_all += load
        total_side += load
        if load > max_all:
            max_all = load
        if load > max_side:
            max_side = load
    return total_all, max_all, total_side, max_side


@njit(**_OPTIONS)
def track_kernel(prices, positions, per_bar, initial_equity, margin_rate, fee_rate):
    """One pass over the bars, filling ``per_bar`` (2, T): equity and margin load.
    Returns (bad, n, ints[n, 4], floats[n, 5], acc[3, 7]).

    ``bad`` is 1 when a value check failed (the other outputs are then meaningless: a bad value
    only turns arithmetic into NaN/inf; a NaN target ends a run at every bar). ``ints`` holds
    entry_index, exit_index, side, forced; ``floats`` entry_price, exit_price, size, pnl, fees;
    ``acc`` the stats
    rows (all, long, short) as count, wins, pnl, fees, bars, max load, summed load.
    """
    n_bars = prices.shape[0]
    ints = np.empty((_FIRST_CAPACITY, 4), np.int64)
    floats = np.empty((_FIRST_CAPACITY, 5), np.float64)
    equity_out = per_bar[0]
    load_out = per_bar[1]
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

    t = 0
    while t < n_bars:
        p = prices[t]
        q = positions[t]
        good &= q - q == 0.0  # the run's other bars hold this same value
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
                    ints, floats = _record(ints, floats, n, open_index, t, side, 0, avg, p, size,
                                           trade_pnl, trade_fees)
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
        end = _run_end(positions, t, pos)
        if side == 0:
            good &= _flat_run(prices, equity_out, load_out, t, end, initial_equity + realised + 0.0)
        else:
            good &= _held_run(prices, equity_out, load_out, t, end, initial_equity + realised, pos, avg,
                              margin_rate)
            bars = float(end - t)
            bars_all += bars
            if side > 0:
                bars_long += bars
                sum_all, max_all, sum_long, max_long = _sum_and_max(load_out, t, end, sum_all, max_all,
                                                                     sum_long, max_long)
            else:
                bars_short += bars
                sum_all, max_all, sum_short, max_short = _sum_and_max(load_out, t, end, sum_all, max_all,
                                                                       sum_short, max_short)
        t = end

    if side != 0:
        p = prices[n_bars - 1]
        gain = side * (p - avg) * abs(pos)
        trade_pnl += gain
        ints, floats = _record(ints, floats, n, open_index, n_bars - 1, side, 1, avg, p, size, trade_pnl,
                               trade_fees)
        n += 1

    if not good:
        return 1, n, ints, floats, acc
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
    return 0, n, ints[:n], floats[:n], acc
