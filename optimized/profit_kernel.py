"""Profit of a per-bar limit-order strategy for K candidates in one broadcast pass.

Same semantics, names and errors as :mod:`reference.profit_kernel` (the specification). The
candidates lie on a leading axis: every per-bar quantity is a ``(k, T-1)`` tensor built from
``(k, 1)`` parameter columns and ``(1, T-1)`` market rows, so one call does the work of K calls
with a fixed number of torch ops, and one transfer brings the K profits back.

Memory stays bounded: K is cut into chunks of ``chunk_size`` candidates (default: as many as fit
``CHUNK_BUDGET_BYTES`` per temporary), each chunk's profits are written into one result tensor on
the device, which is copied back once at the end.

Devices: ``device=None`` or ``"cpu"`` computes on the CPU; ``"cuda"`` (or ``"cuda:N"``) when
``torch.cuda.is_available()``. The market's series are moved to (device, dtype) once and cached
per market (markets are immutable and hashed by identity). ``dtype`` is float64 by default;
float32 is accepted (mainly for CUDA) and agrees with float64 to about 1e-4 relative to the sum
of |per-bar returns| (see the tests).

Equivalence: per bar, the same float64 operations in the same order as the reference, so every
per-bar return is bit-identical; only the summation order of the per-bar returns may differ
(torch's row-wise reduction of a 2-D tensor versus a 1-D one), so results agree within a few ulps
of the sum of |per-bar returns|.
"""
from __future__ import annotations

import weakref
from typing import Any, Optional, Union

import numpy as np
import torch

from reference.profit_kernel import (  # noqa: F401  (re-exported: same public API)
    DEFAULT_FEE_RATE,
    N_PARAMS,
    PARAM_BOUNDS,
    PARAM_NAMES,
    Market,
    as_params_matrix,
    as_params_vector,
    check_market,
    make_market,
)

#: Bytes allowed per (chunk, T-1) temporary; the kernel holds a handful of them at once.
CHUNK_BUDGET_BYTES = 1 << 20

_SUPPORTED_DTYPES = (torch.float64, torch.float32)

# (market) -> {(device, dtype): rows}; rows are the market series the kernel reads, as (1, T-1).
_ROWS_CACHE: "weakref.WeakKeyDictionary[Market, dict]" = weakref.WeakKeyDictionary()


def resolve_device(device: Union[None, str, torch.device]) -> torch.device:
    """``device`` as a usable ``torch.device``; ``ValueError`` naming ``device`` otherwise."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"device: not a torch device string: {device!r}") from exc
    else:
        raise TypeError(f"device: must be None, a str or a torch.device, got {type(device).__name__}")
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} requested but torch.cuda.is_available() is False")
        index = torch.cuda.current_device() if dev.index is None else dev.index
        if not 0 <= index < torch.cuda.device_count():
            raise ValueError(f"device: {device!r}: no such CUDA device "
                             f"({torch.cuda.device_count()} present)")
        return torch.device("cuda", index)
    raise ValueError(f"device: only 'cpu' and 'cuda' are supported, got {device!r}")


def resolve_dtype(dtype: Optional[torch.dtype]) -> torch.dtype:
    """``dtype`` (None -> float64) if float64 or float32; ``ValueError`` naming ``dtype`` otherwise."""
    if dtype is None:
        return torch.float64
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if dtype not in _SUPPORTED_DTYPES:
        raise ValueError(f"dtype: must be torch.float64 or torch.float32, got {dtype!r}")
    return dtype


def _rows(market: Market, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The market's series as contiguous (1, T-1) rows on (device, dtype), built once per market."""
    per_market = _ROWS_CACHE.get(market)
    if per_market is None:
        per_market = {}
        _ROWS_CACHE[market] = per_market
    key = (device, dtype)
    rows = per_market.get(key)
    if rows is None:
        def row(series: torch.Tensor) -> torch.Tensor:
            return series.to(device=device, dtype=dtype).contiguous().unsqueeze(0)

        rows = {
            "pred_low": row(market.pred_low[:-1]),
            "pred_high": row(market.pred_high[:-1]),
            "next_low": row(market.low[1:]),
            "next_high": row(market.high[1:]),
            "next_close": row(market.close[1:]),
        }
        per_market[key] = rows
    return rows


def _chunk_profits(rows: dict[str, torch.Tensor], cand: torch.Tensor, fee: float) -> torch.Tensor:
    """Profits of the candidates ``cand`` (k, d): the reference's per-bar rules on (k, T-1)."""
    entry_mult = cand[:, 0:1]
    exit_mult = cand[:, 1:2]
    min_edge = cand[:, 2:3]
    next_low = rows["next_low"]
    next_high = rows["next_high"]

    buy_limit = rows["pred_low"] * entry_mult
    sell_limit = rows["pred_high"] * exit_mult
    edge = torch.div(sell_limit, buy_limit)
    edge.sub_(1.0)
    bought = torch.ge(edge, min_edge)
    bought.logical_and_(next_low <= buy_limit)
    took_profit = next_high >= sell_limit
    fill = torch.minimum(buy_limit, next_high, out=buy_limit)
    exit_price = torch.where(took_profit, torch.maximum(sell_limit, next_low, out=sell_limit),
                             rows["next_close"])
    ret = exit_price.mul_(1.0 - fee).div_(fill).sub_(1.0 + fee)
    ret.masked_fill_(bought.logical_not_(), 0.0)
    return ret.sum(dim=1)


def default_chunk_size(n_bars: int, dtype: torch.dtype = torch.float64) -> int:
    """Candidates per chunk so that one (chunk, T-1) temporary fits ``CHUNK_BUDGET_BYTES``."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return max(1, CHUNK_BUDGET_BYTES // (max(1, n_bars - 1) * itemsize))


def profit_batch(market: Market, params: Any, *, device: Union[None, str, torch.device] = None,
                 dtype: Optional[torch.dtype] = None, chunk_size: Optional[int] = None) -> np.ndarray:
    """Profits of ``K`` candidates (``params`` of shape (K, d)) as a float64 array of shape (K,).

    device: None/"cpu" or "cuda[:N]"; dtype: torch.float64 (default) or torch.float32;
    chunk_size: candidates per pass (default from ``CHUNK_BUDGET_BYTES``); results do not depend on it.
    """
    market = check_market(market)
    matrix = as_params_matrix(params)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    if chunk_size is None:
        chunk = default_chunk_size(market.n_bars, dt)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive int or None, got {chunk_size!r}")
    else:
        chunk = int(chunk_size)

    rows = _rows(market, dev, dt)
    cand = torch.from_numpy(matrix).to(device=dev, dtype=dt)
    n = cand.shape[0]
    if n <= chunk:
        out = _chunk_profits(rows, cand, market.fee_rate)
    else:
        out = torch.empty(n, device=dev, dtype=dt)
        for start in range(0, n, chunk):
            out[start:start + chunk] = _chunk_profits(rows, cand[start:start + chunk], market.fee_rate)
    return out.to(device="cpu", dtype=torch.float64).numpy()


def profit(market: Market, params: Any, *, device: Union[None, str, torch.device] = None,
           dtype: Optional[torch.dtype] = None) -> float:
    """Total return of one candidate ``(entry_mult, exit_mult, min_edge)``: the batch path at K = 1."""
    market = check_market(market)
    vector = as_params_vector(params)
    return float(profit_batch(market, vector[None, :], device=device, dtype=dtype)[0])
