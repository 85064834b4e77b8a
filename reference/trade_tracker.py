"""Trade tracking from a target-position series: a plain Python loop over bars (the "before").

``track_trades(prices, positions, *, initial_equity=100_000.0, margin_rate=0.25, fee_rate=0.0005)``
returns a :class:`TradeReport`. This module is the specification; ``optimized.trade_tracker`` is
held to every rule below (integer fields equal, floats within 1e-12 relative).

Inputs
------
- ``prices``: shape (T,), T >= 1, numeric (bool, integer or float; converted to float64), every
  value finite and > 0.
- ``positions``: shape (T,), numeric (converted to float64), every value finite: the signed
  target position in units (> 0 long, < 0 short, 0 or -0.0 flat) held after bar t, filled at
  ``prices[t]``. Before bar 0 the position is 0. The inputs are never modified.
- ``initial_equity``: finite, > 0. ``margin_rate``: finite, >= 0. ``fee_rate``: finite, >= 0.

Fills (at bar t, price p, held position ``pos`` -> target ``q``; a fill of ``u`` units costs the
fee ``fee_rate * u * p``)
- ``q == pos``: nothing happens (no fill, no fee).
- ``pos == 0, q != 0``: a trade opens: side ``sign(q)``, entry_index t, average entry price p,
  size ``|q|``; its pnl starts at minus the entry fee.
- same sign, ``|q| > |pos|`` (add): the trade's average entry price becomes the size-weighted mean
  ``(avg * |pos| + p * (|q| - |pos|)) / |q|``; the fee is charged to the trade's pnl.
- same sign, ``|q| < |pos|`` (partial close): the closed ``|pos| - |q|`` units realise
  ``side * (p - avg) * (|pos| - |q|)`` minus the fee into the trade's pnl; the average entry price
  is unchanged and the trade stays open (one record per trade; its pnl accumulates).
- ``q == 0`` (close): all ``|pos|`` units realise ``side * (p - avg) * |pos|`` minus the fee; the
  trade is recorded with exit_index t and exit_price p.
- sign flip: first a close of all ``|pos|`` units (fee on ``|pos|`` units) recorded at bar t, then
  a new trade of the opposite side opens at bar t with ``|q|`` units (fee on ``|q|`` units).
- After the last bar, a trade still open is closed at the last bar's price *without a fee* (it is
  a mark to market, not a fill), recorded with exit_index T-1 and ``forced = 1``; it is counted in
  the stats like any other trade. So ``trades["pnl"].sum() == equity[-1] - initial_equity`` (up to
  rounding).

Trade records (``TradeReport.trades``, a structured array in the order the trades close)
``entry_index`` int64, ``exit_index`` int64, ``side`` int8 (+1 long, -1 short), ``entry_price``
(the average entry price at the final close), ``exit_price`` (the price at ``exit_index``, the final
close; partial closes are folded into ``pnl``), ``size`` (the largest number of units held during
the trade), ``pnl`` (realised P&L of every close net of every fee of the trade), ``fees`` (the fees
of the trade's fills), ``forced`` int8 (1 when closed by the end of the data).

Per bar (after bar t's fill)
- ``equity[t] = initial_equity + realised + pos_t * (p_t - avg_t)``, where ``realised`` is every
  closed unit's P&L minus every fee up to and including bar t (0 unrealised when flat).
- ``margin_load[t] = |pos_t| * p_t * margin_rate / equity[t]``; 0.0 when flat; ``inf`` when a
  position is held with ``equity[t] <= 0`` (the account is blown).

Stats (``TradeReport.stats``: ``{"all" | "long" | "short": {...}}``, every value a float)
- ``count``: number of trades of that side; ``win_rate``: share of them with ``pnl > 0``, NaN when
  the count is 0 (undefined, not a 0% win rate); ``total_pnl`` and ``total_fees``: sums of the
  trades' ``pnl`` / ``fees`` in record order (0.0 when none).
- ``bars_held``: bars t whose position after the fill has that side (any non-zero for "all");
  ``max_margin_load`` / ``mean_margin_load``: max / mean of ``margin_load`` over those bars (the
  mean summed in bar order), 0.0 when there is none (no margin was used).

Errors (each message starts with the argument's name)
- ``TypeError``: an array that is not numeric (strings, objects not convertible to float64,
  complex), a non-numeric keyword.
- ``ValueError``: not 1-D, empty, ``prices`` and ``positions`` of different lengths, a price that
  is NaN, infinite or <= 0, a position that is NaN or infinite, a keyword out of its range.
Values so large that notionals overflow float64 are not checked; the results are then inf/NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TRADE_DTYPE", "TradeReport", "track_trades"]

TRADE_DTYPE = np.dtype([
    ("entry_index", np.int64),
    ("exit_index", np.int64),
    ("side", np.int8),
    ("entry_price", np.float64),
    ("exit_price", np.float64),
    ("size", np.float64),
    ("pnl", np.float64),
    ("fees", np.float64),
    ("forced", np.int8),
])

SIDES = ("all", "long", "short")


@dataclass(frozen=True)
class TradeReport:
    """Trades (structured array of ``TRADE_DTYPE``), stats per side, and per-bar equity and load."""

    trades: np.ndarray
    stats: dict[str, dict[str, float]]
    equity: np.ndarray
    margin_load: np.ndarray


# -- input checks (shared with the optimized side, so both refuse bad input alike) -------------
def as_series(name: str, values: Any) -> np.ndarray:
    """``values`` as a contiguous 1-D, non-empty float64 array; shape and dtype errors name ``name``."""
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: must be numeric, got values not convertible to float64 ({exc})") from None
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: must be numeric (float64), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: must not be empty")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_keywords(initial_equity: Any, margin_rate: Any, fee_rate: Any) -> tuple[float, float, float]:
    """The three keywords as floats, each checked against its range."""
    out = []
    for name, value, low_ok in (("initial_equity", initial_equity, False),
                                ("margin_rate", margin_rate, True),
                                ("fee_rate", fee_rate, True)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: must be a real number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value) or value < 0.0 or (value == 0.0 and not low_ok):
            rule = "> 0" if not low_ok else ">= 0"
            raise ValueError(f"{name}: must be finite and {rule}, got {value!r}")
        out.append(value)
    return out[0], out[1], out[2]


def check_values(prices: np.ndarray, positions: np.ndarray) -> None:
    """Raise naming the first bad value: prices must be finite and > 0, positions finite."""
    bad = np.flatnonzero(~(np.isfinite(prices) & (prices > 0.0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"prices: must be finite and > 0, got {prices[i]!r} at bar {i}")
    bad = np.flatnonzero(~np.isfinite(positions))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"positions: must be finite, got {positions[i]!r} at bar {i}")


def check_shapes(prices: Any, positions: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both series converted, and of one length."""
    prices = as_series("prices", prices)
    positions = as_series("positions", positions)
    if prices.shape != positions.shape:
        raise ValueError(f"positions: length {positions.size} differs from prices' length {prices.size}")
    return prices, positions


def validate_inputs(prices: Any, positions: Any, initial_equity: Any, margin_rate: Any,
                    fee_rate: Any) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Every input check, in the order the errors are reported."""
    prices, positions = check_shapes(prices, positions)
    equity, margin, fee = check_keywords(initial_equity, margin_rate, fee_rate)
    check_values(prices, positions)
    return prices, positions, equity, margin, fee


# -- the tracker -------------------------------------------------------------------------------
def side_stats(trades: np.ndarray, loads: list[float], held_sides: list[int], side: int) -> dict[str, float]:
    """Stats of the trades of ``side`` (0: all) and of the bars holding that side."""
    count = 0
    wins = 0
    total_pnl = 0.0
    total_fees = 0.0
    for record in trades.tolist():
        if side == 0 or record[2] == side:
            count += 1
            wins += record[6] > 0.0
            total_pnl += record[6]
            total_fees += record[7]
    bars = 0
    max_load = 0.0
    sum_load = 0.0
    for load, held in zip(loads, held_sides):
        if held != 0 and (side == 0 or held == side):
            bars += 1
            sum_load += load
            if load > max_load:
                max_load = load
    return {
        "count": float(count),
        "win_rate": wins / count if count else math.nan,
        "total_pnl": total_pnl,
        "total_fees": total_fees,
        "bars_held": float(bars),
        "max_margin_load": max_load,
        "mean_margin_load": sum_load / bars if bars else 0.0,
    }


def track_trades(prices: Any, positions: Any, *, initial_equity: float = 100_000.0,
                 margin_rate: float = 0.25, fee_rate: float = 0.0005) -> TradeReport:
    """Split a target-position series into trades and report P&L, equity and margin load (see module doc)."""
    prices, positions, initial_equity, margin_rate, fee_rate = validate_inputs(
        prices, positions, initial_equity, margin_rate, fee_rate)

    records: list[tuple] = []
    equity_per_bar: list[float] = []
    load_per_bar: list[float] = []
    held_sides: list[int] = []

    pos = 0.0            # signed units held
    avg = 0.0            # average entry price of the open trade
    realised = 0.0       # closed P&L minus fees, whole account
    side = 0             # side of the open trade (0: flat)
    entry_index = 0
    size = 0.0           # largest |pos| of the open trade
    trade_pnl = 0.0
    trade_fees = 0.0

    for t, (p, q) in enumerate(zip(prices.tolist(), positions.tolist())):
        if q != pos:
            held = abs(pos)
            target = abs(q)
            new_side = 1 if q > 0.0 else (-1 if q < 0.0 else 0)
            if side != 0 and new_side == side:
                if target > held:                       # add: move the average entry
                    fee = fee_rate * (target - held) * p
                    avg = (avg * held + p * (target - held)) / target
                    if target > size:
                        size = target
                else:                                   # partial close
                    fee = fee_rate * (held - target) * p
                    gain = side * (p - avg) * (held - target)
                    trade_pnl += gain
                    realised += gain
                trade_pnl -= fee
                trade_fees += fee
                realised -= fee
            else:
                if side != 0:                           # close (then maybe open the other side)
                    fee = fee_rate * held * p
                    gain = side * (p - avg) * held
                    trade_pnl += gain - fee
                    trade_fees += fee
                    realised += gain - fee
                    records.append((entry_index, t, side, avg, p, size, trade_pnl, trade_fees, 0))
                    side = 0
                if new_side != 0:                       # open
                    fee = fee_rate * target * p
                    side = new_side
                    entry_index = t
                    avg = p
                    size = target
                    trade_pnl = -fee
                    trade_fees = fee
                    realised -= fee
            pos = q
        equity = initial_equity + realised + (pos * (p - avg) if side != 0 else 0.0)
        if side == 0:
            load = 0.0
        elif equity > 0.0:
            load = abs(pos) * p * margin_rate / equity
        else:
            load = math.inf
        equity_per_bar.append(equity)
        load_per_bar.append(load)
        held_sides.append(side)

    if side != 0:                                       # mark the open trade to the last price
        p = float(prices[-1])
        gain = side * (p - avg) * abs(pos)
        trade_pnl += gain
        records.append((entry_index, len(prices) - 1, side, avg, p, size, trade_pnl, trade_fees, 1))

    trades = np.array(records, dtype=TRADE_DTYPE)
    stats = {name: side_stats(trades, load_per_bar, held_sides, code)
             for name, code in zip(SIDES, (0, 1, -1))}
    return TradeReport(trades=trades, stats=stats,
                       equity=np.array(equity_per_bar, dtype=np.float64),
                       margin_load=np.array(load_per_bar, dtype=np.float64))
