"""Profit of a per-bar limit-order strategy, one candidate at a time (the naive side: seed 004).

This module IS the specification of the ``profit_kernel`` pair.

Market
    :class:`Market` holds ``T >= 2`` bars as float64 torch tensors of shape ``(T,)``, all on one
    device (the CPU, unless built from tensors elsewhere, e.g. by ``market.to("cuda")``; the rules
    run where the market lies):
    ``close``, ``high``, ``low`` (what happened) and ``pred_high``, ``pred_low`` (forecasts the
    strategy trades on: ``pred_high[t]`` / ``pred_low[t]`` are made at the close of bar ``t`` and
    forecast bar ``t + 1``'s high / low), plus ``fee_rate``, the fee charged on each side of a
    trade as a fraction of its notional. Every price lies in :data:`PRICE_RANGE` (finite, > 0);
    ``low <= close <= high`` is not required (hand-made markets may break it; the rules below
    never assume it); ``0 <= fee_rate < 1``. :func:`make_market` builds a deterministic synthetic
    one.

Parameters
    ``params = (entry_mult, exit_mult, min_edge)``, one candidate; :data:`PARAM_BOUNDS` gives the
    search box. Values outside the box are allowed (the rules stay defined) as long as they are
    finite and both multipliers lie in :data:`MULT_RANGE`. With these ranges every intermediate
    below is finite in float64 and in float32 (prices and limits > 0), so the rules never meet
    inf or NaN.

Rules, for every bar ``t = 0 .. T-2`` independently (bar ``T-1`` has no next bar: no order)::

    buy_limit[t]  = pred_low[t]  * entry_mult
    sell_limit[t] = pred_high[t] * exit_mult
    edge[t]       = sell_limit[t] / buy_limit[t] - 1
    bought[t]     = (edge[t] >= min_edge) and (low[t+1] <= buy_limit[t])
    fill[t]       = min(buy_limit[t], high[t+1])       # a limit above the whole bar fills at its high
    took_profit[t]= high[t+1] >= sell_limit[t]
    exit[t]       = max(sell_limit[t], low[t+1]) if took_profit[t] else close[t+1]
    ret[t]        = exit[t] * (1 - fee_rate) / fill[t] - (1 + fee_rate)   if bought[t] else 0
    profit        = sum over t of ret[t]

``ret`` is the return on one unit of capital put into the bar's trade, net of the entry fee
(``fee_rate`` of the buy notional) and the exit fee (``fee_rate`` of the sell notional). Within the
next bar the buy is assumed to happen before the sell can fill (the bar's intrabar path is not
known). Each ``ret[t]`` is computed in float64 with exactly the operations and order written above;
the profit is torch's float64 sum of ``ret`` over the bars.

Functions
    ``profit(market, params) -> float``: one candidate, several small torch ops and one ``.item()``
    (the shape of seed 004's kernel, called once per candidate by scipy's DIRECT).
    ``profit_batch(market, params) -> ndarray[K]``: ``params`` of shape ``(K, d)``; a loop over
    :func:`profit`.

Errors (``TypeError`` / ``ValueError``, message naming the argument): ``market`` not a
:class:`Market`; ``params`` of the wrong ndim or width, empty, with NaN/inf values, or with a
multiplier outside MULT_RANGE; ``n_bars < 2`` or not an int; series of the wrong shape, length,
device or range, or a bad ``fee_rate``, given to :class:`Market`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

#: Search box of each parameter column: (entry_mult, exit_mult, min_edge).
PARAM_BOUNDS: tuple[tuple[float, float], ...] = (
    (0.98, 1.02),  # entry_mult: buy limit = predicted low * entry_mult
    (0.98, 1.02),  # exit_mult: sell limit = predicted high * exit_mult
    (0.0, 0.02),   # min_edge: trade a bar only if sell_limit / buy_limit - 1 >= min_edge
)
PARAM_NAMES: tuple[str, ...] = ("entry_mult", "exit_mult", "min_edge")
#: Allowed prices (inclusive): wide enough for any traded asset, narrow enough that no
#: product or ratio of the rules overflows or underflows, even in float32.
PRICE_RANGE: tuple[float, float] = (1e-12, 1e12)
#: Allowed entry_mult / exit_mult values (inclusive); the search box is far inside.
MULT_RANGE: tuple[float, float] = (1e-6, 1e6)
N_PARAMS = len(PARAM_BOUNDS)
DEFAULT_FEE_RATE = 0.0005

_SERIES = ("close", "high", "low", "pred_high", "pred_low")


@dataclass(frozen=True, eq=False)
class Market:
    """T bars of prices and next-bar forecasts as float64 tensors, and the per-side fee rate.

    The constructor accepts anything ``torch.as_tensor`` takes (lists, numpy arrays, tensors),
    copies it into float64 tensors (on the CPU; tensors keep their device, which must be the same
    for all five series) and validates; equality and hashing are by identity, so an optimized
    implementation can cache per-market data.
    """

    close: torch.Tensor
    high: torch.Tensor
    low: torch.Tensor
    pred_high: torch.Tensor
    pred_low: torch.Tensor
    fee_rate: float = DEFAULT_FEE_RATE

    def __post_init__(self) -> None:
        length = None
        device = None
        for name in _SERIES:
            value = getattr(self, name)
            try:
                if isinstance(value, torch.Tensor):
                    tensor = value.detach().to(dtype=torch.float64).clone()
                else:
                    tensor = torch.as_tensor(value, dtype=torch.float64, device="cpu").clone()
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"{name}: must be a 1-D array of prices, got {type(value).__name__}") from exc
            if device is None:
                device = tensor.device
            elif tensor.device != device:
                raise ValueError(f"{name}: on {tensor.device}, but close is on {device}")
            if tensor.ndim != 1:
                raise ValueError(f"{name}: must be 1-D, got shape {tuple(tensor.shape)}")
            if length is None:
                length = tensor.shape[0]
            elif tensor.shape[0] != length:
                raise ValueError(f"{name}: length {tensor.shape[0]} differs from close's {length}")
            low, high = PRICE_RANGE
            if not bool(((tensor >= low) & (tensor <= high)).all()):
                raise ValueError(f"{name}: every price must be finite and in [{low:g}, {high:g}]")
            object.__setattr__(self, name, tensor)
        if length is not None and length < 2:
            raise ValueError(f"close: a market needs at least 2 bars, got {length}")
        fee = self.fee_rate
        if isinstance(fee, bool) or not isinstance(fee, (int, float)) or not (0.0 <= float(fee) < 1.0):
            raise ValueError(f"fee_rate: must be a number in [0, 1), got {fee!r}")
        object.__setattr__(self, "fee_rate", float(fee))

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    @property
    def device(self) -> torch.device:
        return self.close.device

    def to(self, device: Any) -> "Market":
        """A copy of this market on ``device`` (e.g. ``"cuda"``, to run the reference on a GPU)."""
        return Market(**{name: getattr(self, name).to(device) for name in _SERIES}, fee_rate=self.fee_rate)


def make_market(n_bars: int, seed: int = 0, *, fee_rate: float = DEFAULT_FEE_RATE) -> Market:
    """A deterministic synthetic market of ``n_bars`` bars (same (n_bars, seed) -> same market).

    Close follows a geometric random walk (1% daily volatility) from 100; each bar's high/low
    extend beyond its open and close by |N(0, 0.5%)|; the forecasts are the true next-bar high/low
    times (1 + N(0, 0.4%)) (the last bar forecasts its own high/low: it has no next bar, and no
    order is placed on it).
    """
    if isinstance(n_bars, bool) or not isinstance(n_bars, (int, np.integer)):
        raise TypeError(f"n_bars: must be an int, got {type(n_bars).__name__}")
    if n_bars < 2:
        raise ValueError(f"n_bars: must be >= 2 (a trade needs a next bar), got {n_bars}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: must be an int, got {type(seed).__name__}")
    rng = np.random.default_rng(int(seed))
    n = int(n_bars)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.005, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.005, n)))
    target_high = np.concatenate((high[1:], high[-1:]))
    target_low = np.concatenate((low[1:], low[-1:]))
    pred_high = target_high * (1.0 + rng.normal(0.0, 0.004, n))
    pred_low = target_low * (1.0 + rng.normal(0.0, 0.004, n))
    return Market(close=close, high=high, low=low, pred_high=pred_high, pred_low=pred_low,
                  fee_rate=fee_rate)


def check_market(market: Any) -> Market:
    """Return ``market`` if it is a :class:`Market`, else raise ``TypeError`` naming it."""
    if not isinstance(market, Market):
        raise TypeError(f"market: must be a profit_kernel.Market (see make_market), got {type(market).__name__}")
    return market


def as_params_matrix(params: Any) -> np.ndarray:
    """``params`` as a float64 (K, d) numpy array, validated: 2-D, K >= 1, d columns, finite,
    multipliers > 0. Raises ``TypeError`` / ``ValueError`` naming ``params``."""
    if isinstance(params, torch.Tensor):
        params = params.detach().cpu().numpy()
    try:
        arr = np.asarray(params, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"params: must be a (K, {N_PARAMS}) array of numbers") from exc
    if arr.ndim != 2:
        raise ValueError(f"params: must be 2-D (K, {N_PARAMS}), got shape {arr.shape}")
    if arr.shape[1] != N_PARAMS:
        raise ValueError(f"params: must have {N_PARAMS} columns {PARAM_NAMES}, got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise ValueError("params: empty (K = 0); pass at least one candidate")
    _check_values(arr)
    return arr


def as_params_vector(params: Any) -> np.ndarray:
    """One candidate as a float64 (d,) numpy array, validated like :func:`as_params_matrix`."""
    if isinstance(params, torch.Tensor):
        params = params.detach().cpu().numpy()
    try:
        arr = np.asarray(params, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"params: must be a sequence of {N_PARAMS} numbers {PARAM_NAMES}") from exc
    if arr.ndim != 1:
        raise ValueError(f"params: one candidate must be 1-D ({N_PARAMS},), got shape {arr.shape}")
    if arr.shape[0] != N_PARAMS:
        raise ValueError(f"params: must have {N_PARAMS} values {PARAM_NAMES}, got {arr.shape[0]}")
    _check_values(arr[None, :])
    return arr


def _check_values(arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"params: must be finite, got {arr[bad]} at {bad}")
    low, high = MULT_RANGE
    if not ((arr[:, :2] >= low) & (arr[:, :2] <= high)).all():
        raise ValueError(f"params: entry_mult and exit_mult must lie in [{low:g}, {high:g}]")


def profit(market: Market, params: Sequence[float]) -> float:
    """Total return of one candidate ``(entry_mult, exit_mult, min_edge)`` over ``market``."""
    market = check_market(market)
    entry_mult, exit_mult, min_edge = (float(v) for v in as_params_vector(params))
    fee = market.fee_rate

    next_close = market.close[1:]
    next_high = market.high[1:]
    next_low = market.low[1:]
    buy_limit = market.pred_low[:-1] * entry_mult
    sell_limit = market.pred_high[:-1] * exit_mult

    edge = sell_limit / buy_limit - 1.0
    bought = torch.logical_and(edge >= min_edge, next_low <= buy_limit)
    fill = torch.clamp(buy_limit, max=next_high)
    took_profit = next_high >= sell_limit
    exit_price = torch.where(took_profit, torch.clamp(sell_limit, min=next_low), next_close)
    ret = exit_price * (1.0 - fee) / fill - (1.0 + fee)
    per_bar = torch.where(bought, ret, torch.zeros_like(ret))
    return per_bar.sum().item()


def profit_batch(market: Market, params: Any) -> np.ndarray:
    """Profits of ``K`` candidates (``params`` of shape (K, d)) as a float64 array of shape (K,)."""
    market = check_market(market)
    matrix = as_params_matrix(params)
    return np.array([profit(market, row) for row in matrix], dtype=np.float64)

