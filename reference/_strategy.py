"""The backtest that the ``study`` pair optimises: rules shared by both sides (private helper).

Both ``reference.study`` (in a subprocess per trial) and ``optimized.study`` (in persistent
workers) run :func:`backtest` with their own config loader, trade tracker and result writer, so
the same parameters give the same value, to the last bit, on either side.

Strategy: a moving-average crossover with a stop, on the close/high/low of
``profit_kernel.make_market(n_bars, MARKET_SEED)``.

- ``signal[t] = sign(ma_fast[t] - ma_slow[t])`` (simple moving averages of the close over
  ``fast`` / ``slow`` bars, from bar ``max(fast, slow) - 1`` on; 0 before and where they are
  equal). Without ``strategy.allow_short`` in the config a negative signal is 0 (flat).
- A *regime* is a maximal run of bars with one signal. A regime of signal ``s != 0`` starting at
  bar ``a`` enters at ``close[a]`` with ``units = risk.max_position_pct * initial_capital /
  close[a]`` and holds ``s * units`` until its *stop*: the first bar ``t > a`` of the regime whose
  low (long) falls to ``close[a] * (1 - stop)`` or whose high (short) rises to
  ``close[a] * (1 + stop)``; from that bar to the regime's end the position is 0 (filled at the
  close of the stop bar: the tracker fills every change at the bar's close).
- The positions go to ``track_trades(close, positions, initial_equity=initial_capital,
  margin_rate=1 / risk.max_leverage, fee_rate=backtest.commission_pct)``; the objective is
  ``stats["all"]["total_pnl"]`` rounded to 1e-6 (a cent's ten-thousandth: the rounding makes the
  value independent of the last bits of any tracker that agrees with the reference to 1e-12).

Search space: :data:`SPACE` in the ``grid_expansion`` spec format (``low``/``high``/``step``
ranges, lists of choices, fixed scalars; nested specs are not used), so the space is a finite
grid of ``grid_size(space)`` points. :func:`suggest` asks Optuna for exactly the grid's values (a
range's count and int/float rule are grid_expansion's), and a float is rounded as grid_expansion
rounds its values (:func:`canonical_params`) before it is used or signed, so a grid point has
one value and one signature whatever float noise the sampler adds.
"""
from __future__ import annotations

import math
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

#: The default search space: 10 x 9 x 10 = 900 grid points.
SPACE: dict[str, Any] = {
    "fast": {"low": 2, "high": 20, "step": 2},
    "slow": {"low": 20, "high": 100, "step": 10},
    "stop": {"low": 0.01, "high": 0.10, "step": 0.01},
}
DEFAULT_N_BARS = 20_000   # hourly bars: a bit over two years
MARKET_SEED = 7           # the synthetic market is the same on every run
SYMBOL_FORBIDDEN = "/\\*?[]\0"


class Settings(NamedTuple):
    """What the backtest takes from the config."""

    symbol: str
    timeframe: str
    initial_equity: float
    margin_rate: float
    fee_rate: float
    position_fraction: float
    allow_short: bool


class Candles(NamedTuple):
    close: np.ndarray
    high: np.ndarray
    low: np.ndarray


def market_candles(n_bars: int, seed: int = MARKET_SEED) -> Candles:
    """The synthetic market as float64 numpy arrays (imports torch through ``profit_kernel``)."""
    from reference.profit_kernel import make_market

    market = make_market(n_bars, seed)
    return Candles(*(np.ascontiguousarray(getattr(market, name).cpu().numpy(), dtype=np.float64)
                     for name in Candles._fields))


def settings_from(cfg: Mapping[str, Any]) -> Settings:
    """The backtest settings of a dumped config (first symbol, data timeframe)."""
    symbol = "".join(c for c in str(cfg["symbols"][0]["symbol"]) if c not in SYMBOL_FORBIDDEN) or "SYMBOL"
    timeframe = cfg["data"]["timeframe"]
    timeframe = timeframe.value if isinstance(timeframe, Enum) else str(timeframe)
    return Settings(
        symbol=symbol,
        timeframe=timeframe,
        initial_equity=float(cfg["backtest"]["initial_capital"]),
        margin_rate=1.0 / float(cfg["risk"]["max_leverage"]),
        fee_rate=float(cfg["backtest"]["commission_pct"]),
        position_fraction=float(cfg["risk"]["max_position_pct"]),
        allow_short=bool(cfg["strategy"]["allow_short"]),
    )


# -- parameters ------------------------------------------------------------------------------
RANGE_KEYS = frozenset({"low", "high", "step"})
TOLERANCE = 1e-9  # grid_expansion's: how far under a grid point ``high`` may fall and still count


def decimals(number: float) -> int:
    """Decimals of a number's shortest repr (0.05 -> 2, 1e-3 -> 3, 5 -> 0), as grid_expansion counts."""
    exact = Decimal(repr(float(number))) if isinstance(number, float) else Decimal(int(number))
    return max(0, -int(exact.normalize().as_tuple().exponent))


def is_range(spec: Any) -> bool:
    return isinstance(spec, Mapping) and bool(RANGE_KEYS & set(spec))


def is_int_range(spec: Mapping[str, Any]) -> bool:
    """grid_expansion's rule: a range's values are ints when ``low`` and ``step`` are ints."""
    return all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("low", "step"))


def range_count(spec: Mapping[str, Any]) -> int:
    """How many values a (valid) range holds (grid_expansion's rule)."""
    low, high, step = spec["low"], spec["high"], spec["step"]
    if all(isinstance(v, int) for v in (low, high, step)):
        return (high - low) // step + 1
    return math.floor((high - low) / step + TOLERANCE) + 1


def range_places(spec: Mapping[str, Any]) -> int:
    """Decimals a float range's values are rounded to (grid_expansion's rule)."""
    return max(decimals(spec["low"]), decimals(spec["step"]))


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Ask an Optuna trial for one point of the (validated) grid ``space``: a range with
    ``suggest_int`` or a stepped ``suggest_float`` over exactly its grid values, a list with
    ``suggest_categorical``; a scalar is fixed."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if is_range(spec):
            low, step, last = spec["low"], spec["step"], range_count(spec) - 1
            if is_int_range(spec):
                params[name] = trial.suggest_int(name, low, low + last * step, step=step)
            else:  # the last grid value rounded, so Optuna finds the range divisible by the step
                high = round(low + last * step, range_places(spec))
                params[name] = trial.suggest_float(name, float(low), float(high), step=float(step))
        elif isinstance(spec, (list, tuple)):
            params[name] = trial.suggest_categorical(name, list(spec))
        else:
            params[name] = spec
    return params


def canonical_params(params: Mapping[str, Any], space: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every float of a float range rounded as grid_expansion rounds its values,
    so a grid point has one value whatever float noise the sampler adds."""
    out = dict(params)
    for name, spec in space.items():
        value = out.get(name)
        if is_range(spec) and not is_int_range(spec) and isinstance(value, float):
            out[name] = round(value, range_places(spec))
    return out


# -- the backtest ----------------------------------------------------------------------------
def moving_average(close: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average over ``window`` bars; NaN for the first ``window - 1`` bars."""
    out = np.full(close.shape[0], np.nan)
    if 1 <= window <= close.shape[0]:
        sums = np.concatenate(([0.0], np.cumsum(close)))
        out[window - 1:] = (sums[window:] - sums[:-window]) / window
    return out


def positions(candles: Candles, params: Mapping[str, Any], settings: Settings) -> np.ndarray:
    """Target positions (units) of the crossover-with-stop strategy (rules in the module doc)."""
    close, high, low = candles
    n = close.shape[0]
    fast, slow, stop = int(params["fast"]), int(params["slow"]), float(params["stop"])
    diff = moving_average(close, fast) - moving_average(close, slow)
    signal = np.where(np.isnan(diff), 0.0, np.sign(diff))
    if not settings.allow_short:
        signal[signal < 0] = 0.0
    starts = np.concatenate(([0], np.flatnonzero(np.diff(signal) != 0) + 1))
    regime = np.repeat(np.arange(starts.size), np.diff(np.append(starts, n)))
    entry = close[starts][regime]
    hit = (((signal > 0) & (low <= entry * (1.0 - stop)))
           | ((signal < 0) & (high >= entry * (1.0 + stop))))
    hit[starts] = False
    bars = np.arange(n)
    first_hit = np.minimum.reduceat(np.where(hit, bars, n), starts)
    stopped = bars >= first_hit[regime]
    units = settings.position_fraction * settings.initial_equity / entry
    return np.where(stopped, 0.0, signal * units)


def score(report: Any) -> float:
    """The objective: total P&L of every trade, rounded to 1e-6."""
    return round(float(report.stats["all"]["total_pnl"]), 6)


def backtest(candles: Candles, params: Mapping[str, Any], settings: Settings,
             track_trades: Callable[..., Any]) -> tuple[float, dict]:
    """Run the strategy; return ``(value, payload)``, the payload being the result file's content."""
    report = track_trades(candles.close, positions(candles, params, settings),
                          initial_equity=settings.initial_equity, margin_rate=settings.margin_rate,
                          fee_rate=settings.fee_rate)
    value = score(report)
    stats = report.stats["all"]
    payload = {
        "params": dict(params),
        "value": value,
        "n_trades": int(stats["count"]),
        "total_fees": float(stats["total_fees"]),
        "max_margin_load": float(stats["max_margin_load"]) if math.isfinite(stats["max_margin_load"]) else None,
    }
    return value, payload
