"""Profit of a per-bar limit-order strategy for K candidates in one broadcast pass.

Same semantics, names and errors as :mod:`reference.profit_kernel` (the specification). The
candidates lie on a leading axis: every per-bar quantity is a ``(k, T-1)`` tensor built from
``(k, 1)`` parameter columns and ``(1, T-1)`` market rows, so one call does the work of K reference
calls with a fixed number of torch ops, and one transfer brings the K profits back.

How it stays fast on a CPU (each op is a pass over a (k, T-1) block, so passes are what cost):

- candidates are cut into chunks of ``chunk_size`` (default: one (chunk, T-1) block fits
  ``CHUNK_BUDGET_BYTES``; on the 2-core EPYC dev VM (1 MiB L2 per core, 32 MiB L3) blocks of
  256 KiB-1 MiB ran within noise of each other, 4 MiB blocks 1.5x slower); five scratch blocks are
  allocated once per call and every op writes into them (``out=`` / in-place);
- masks are float 0/1 blocks (torch's comparisons into a float ``out=`` are vectorized, its bool
  comparisons, ``where`` and ``masked_fill`` run several times slower); selecting by a mask is a
  product and a sum, exact because one factor is 0 or 1 and one term is 0;
- a block of at most ``SMALL_BLOCK`` elements (K <= 4 at 2,000 bars), where the ~4 us fixed cost
  of each op outweighs its pass, takes the fewest-ops path instead (bool masks, no scratch).

Equivalence: per bar, the same float64 operations in the same order as the reference, so every
per-bar return is bit-identical; the row sums reduce in the same order as the reference's 1-D
sums (checked bit-for-bit by the tests at the pair's sizes); the check allows rtol 1e-12 so a
different reduction order on other builds would still pass.

Devices and dtypes: ``device=None``/``"cpu"`` or ``"cuda[:N]"`` (when ``torch.cuda.is_available()``).
The market's rows are moved to (device, dtype) once and cached per market (markets are immutable
and hashed by identity). float64 by default; float32 is accepted (meant for CUDA): per-bar
rounding near 1e-7, and a bar whose low or high lies within float32 rounding of a limit may fill
differently than in float64, which moves that candidate's profit by that bar's return (a few
hundredths at most on make_market data); results always come back as float64 numpy.

``compile=True`` (CPU only) runs a ``torch.compile(dynamic=True)``-fused kernel instead: one
vectorized loop, no temporaries. Measured on the dev VM, 1 thread, 2,000 bars, steady state: 3.4x
faster than the eager path at K = 256, 6.5x at 4096, 1.8x at 16, none at 1; but the first call
compiles for 6.5 s with a warm inductor cache and 7.5 s (quiet machine) to 32 s (busy) with a
cold one, and K = 1 compiles once more (0.2-4 s). Its sums reduce in another order (within
~1e-15 relative of the reference). Off by default: one DIRECT run makes tens of batch calls of
K ~ 10-100, saving well under 0.1 s against seconds of compile. If compiling fails (no C++
compiler), it warns once and runs eager.

Measured speedup: **7.04x [6.98x, 7.18x]** at 256 candidates, 2,000 bars, float64, CPU, 1 thread
(16.4 ms -> 2.31 ms per batch); 0.93x at K = 1, 5.07x at 16, 8.74x at 4096. Reproduce:
``pairbench run profit_kernel --size 256`` (median of 15 interleaved per-sample ratios, bootstrap
95% interval; the figure is the README's, ``docs/results/run.json``, 2-core AMD EPYC VM).
"""
from __future__ import annotations

import threading
import warnings
import weakref
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from reference.profit_kernel import (  # noqa: F401  (re-exported: same public API)
    DEFAULT_FEE_RATE,
    MULT_RANGE,
    N_PARAMS,
    PARAM_BOUNDS,
    PARAM_NAMES,
    PRICE_RANGE,
    Market,
    as_params_matrix,
    as_params_vector,
    check_market,
    make_market,
)

#: Bytes of one (chunk, T-1) scratch block; the eager kernel uses five (~2.5 MiB at the default).
CHUNK_BUDGET_BYTES = 512 * 1024

#: Blocks of at most this many (candidate, bar) elements take the fewest-ops path.
SMALL_BLOCK = 8192

_SUPPORTED_DTYPES = (torch.float64, torch.float32)
_ROW_NAMES = ("pred_low", "pred_high", "next_low", "next_high", "next_close")

# market -> {(device, dtype): rows}; rows: the series the kernel reads, as contiguous (1, T-1).
_ROWS_CACHE: "weakref.WeakKeyDictionary[Market, dict]" = weakref.WeakKeyDictionary()
_ROWS_LOCK = threading.Lock()
_COMPILED: dict[str, Any] = {}
_COMPILE_LOCK = threading.Lock()


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


def resolve_dtype(dtype: Union[None, str, torch.dtype]) -> torch.dtype:
    """``dtype`` (None -> float64) if float64 or float32 (or their names); ``ValueError`` otherwise."""
    if dtype is None:
        return torch.float64
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if dtype not in _SUPPORTED_DTYPES:
        raise ValueError(f"dtype: must be torch.float64 or torch.float32, got {dtype!r}")
    return dtype


def _resolve_chunk(chunk_size: Optional[int], n_bars: int, dtype: torch.dtype) -> int:
    if chunk_size is None:
        return default_chunk_size(n_bars, dtype)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive int or None, got {chunk_size!r}")
    return int(chunk_size)


def default_chunk_size(n_bars: int, dtype: torch.dtype = torch.float64) -> int:
    """Candidates per chunk so that one (chunk, T-1) block fits ``CHUNK_BUDGET_BYTES``."""
    itemsize = torch.finfo(dtype).bits // 8
    return max(1, CHUNK_BUDGET_BYTES // (max(1, n_bars - 1) * itemsize))


def market_rows(market: Market, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """The market's series as contiguous (1, T-1) rows on (device, dtype), moved once per market:
    ``pred_low[:-1], pred_high[:-1], low[1:], high[1:], close[1:]``."""
    key = (device, dtype)
    with _ROWS_LOCK:
        per_market = _ROWS_CACHE.setdefault(market, {})
        rows = per_market.get(key)
    if rows is None:
        series = (market.pred_low[:-1], market.pred_high[:-1], market.low[1:], market.high[1:],
                  market.close[1:])
        rows = tuple(s.to(device=device, dtype=dtype).contiguous().unsqueeze(0) for s in series)
        with _ROWS_LOCK:
            rows = per_market.setdefault(key, rows)
    return rows


def _eager_chunk(rows: tuple[torch.Tensor, ...], cand: torch.Tensor, fee: float,
                 scratch: list[torch.Tensor], out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The profits of ``cand`` (k, d), the reference's rules on (k, T-1) blocks, into ``out``.

    ``scratch`` holds five (>= k, T-1) blocks; every op writes into one of them.
    """
    pred_low, pred_high, next_low, next_high, next_close = rows
    k = cand.shape[0]
    if k == scratch[0].shape[0]:
        buy, sell, work, bought, flag = scratch
    else:
        buy, sell, work, bought, flag = (block[:k] for block in scratch)

    torch.mul(pred_low, cand[:, 0:1], out=buy)                 # buy_limit
    torch.mul(pred_high, cand[:, 1:2], out=sell)               # sell_limit
    torch.div(sell, buy, out=work).sub_(1.0)                   # edge
    torch.ge(work, cand[:, 2:3], out=bought)                   # edge >= min_edge      (0/1)
    bought.mul_(torch.ge(buy, next_low, out=flag))             # and low[t+1] <= buy   (0/1)

    torch.lt(next_high, sell, out=work).mul_(next_close)       # close[t+1] if no take-profit, else 0
    torch.ge(next_high, sell, out=flag)                        # took_profit           (0/1)
    torch.maximum(sell, next_low, out=sell)                    # take-profit price
    exit_price = torch.addcmul(work, sell, flag, out=work)     # exactly one term is non-zero
    fill = torch.minimum(buy, next_high, out=buy)

    ret = exit_price.mul_(1.0 - fee).div_(fill).sub_(1.0 + fee).mul_(bought)
    return torch.sum(ret, dim=1, out=out)


def _small_block(rows: tuple[torch.Tensor, ...], cand: torch.Tensor, fee: float) -> torch.Tensor:
    """The same rules for a block so small that per-op overhead, not memory passes, dominates:
    the fewest ops (bool masks and ``where``, as in the reference), no scratch blocks."""
    pred_low, pred_high, next_low, next_high, next_close = rows
    buy = pred_low * cand[:, 0:1]
    sell = pred_high * cand[:, 1:2]
    bought = torch.div(sell, buy).sub_(1.0) >= cand[:, 2:3]
    bought.logical_and_(next_low <= buy)
    exit_price = torch.where(next_high >= sell, torch.maximum(sell, next_low), next_close)
    ret = exit_price.mul_(1.0 - fee).div_(torch.minimum(buy, next_high)).sub_(1.0 + fee)
    return torch.where(bought, ret, 0.0).sum(dim=1)


def _fused_kernel(pred_low: torch.Tensor, pred_high: torch.Tensor, next_low: torch.Tensor,
                  next_high: torch.Tensor, next_close: torch.Tensor, cand: torch.Tensor,
                  keep: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """The same rules as one expression, for ``torch.compile`` to fuse into a single loop.

    ``keep`` = 1 - fee and ``cost`` = 1 + fee are 0-d tensors so a new fee causes no recompile.
    """
    buy = pred_low * cand[:, 0:1]
    sell = pred_high * cand[:, 1:2]
    bought = ((sell / buy - 1.0) >= cand[:, 2:3]).to(buy.dtype) * (buy >= next_low).to(buy.dtype)
    took = (next_high >= sell).to(buy.dtype)
    exit_price = took * torch.maximum(sell, next_low) + (1.0 - took) * next_close
    ret = exit_price * keep / torch.minimum(buy, next_high) - cost
    return (ret * bought).sum(dim=1)


def _compiled_kernel() -> Optional[Callable[..., torch.Tensor]]:
    """The ``torch.compile``-d fused kernel (dynamic shapes), or None if compiling is impossible."""
    with _COMPILE_LOCK:
        if "kernel" not in _COMPILED:
            _COMPILED["kernel"] = torch.compile(_fused_kernel, dynamic=True)
        return _COMPILED["kernel"]


def _run_compiled(rows: tuple[torch.Tensor, ...], cand: torch.Tensor, fee: float) -> Optional[torch.Tensor]:
    kernel = _compiled_kernel()
    if kernel is None:
        return None
    keep = torch.tensor(1.0 - fee, dtype=cand.dtype)
    cost = torch.tensor(1.0 + fee, dtype=cand.dtype)
    try:
        return kernel(*rows, cand, keep, cost)
    except Exception as exc:  # noqa: BLE001 - any backend failure (no compiler...) falls back to eager
        with _COMPILE_LOCK:
            _COMPILED["kernel"] = None
        warnings.warn(f"profit_kernel: torch.compile failed ({type(exc).__name__}: {exc}); "
                      "using the eager kernel", RuntimeWarning, stacklevel=3)
        return None


def profit_batch(market: Market, params: Any, *, device: Union[None, str, torch.device] = None,
                 dtype: Union[None, str, torch.dtype] = None, chunk_size: Optional[int] = None,
                 compile: bool = False) -> np.ndarray:
    """Profits of ``K`` candidates (``params`` of shape (K, d)) as a float64 array of shape (K,).

    device: None/"cpu" or "cuda[:N]"; dtype: torch.float64 (default) or torch.float32;
    chunk_size: candidates per pass (default from ``CHUNK_BUDGET_BYTES``; results do not depend
    on it); compile: use the ``torch.compile``-fused CPU kernel (see the module docstring).
    """
    market = check_market(market)
    matrix = as_params_matrix(params)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    chunk = _resolve_chunk(chunk_size, market.n_bars, dt)
    if not isinstance(compile, bool):
        raise TypeError(f"compile: must be a bool, got {type(compile).__name__}")
    if compile and dev.type != "cpu":
        raise ValueError(f"compile: the compiled kernel runs on the CPU only, not {dev}")

    rows = market_rows(market, dev, dt)
    cand = torch.from_numpy(matrix).to(device=dev, dtype=dt)
    n = cand.shape[0]
    out = None
    if compile:
        out = _run_compiled(rows, cand, market.fee_rate)
    if out is None and n * rows[0].shape[1] <= SMALL_BLOCK:
        out = _small_block(rows, cand, market.fee_rate)
    if out is None:
        block = (min(chunk, n), rows[0].shape[1])
        scratch = [torch.empty(block, device=dev, dtype=dt) for _ in range(5)]
        if n <= chunk:
            out = _eager_chunk(rows, cand, market.fee_rate, scratch)
        else:
            out = torch.empty(n, device=dev, dtype=dt)
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                _eager_chunk(rows, cand[start:stop], market.fee_rate, scratch, out[start:stop])
    if out.device.type != "cpu" or out.dtype != torch.float64:
        out = out.to(device="cpu", dtype=torch.float64)  # the one transfer back
    result = out.numpy()
    result += 0.0  # -0.0 (a sum of masked-out zeros) becomes 0.0, as in the reference
    return result


def profit(market: Market, params: Any, *, device: Union[None, str, torch.device] = None,
           dtype: Union[None, str, torch.dtype] = None) -> float:
    """Total return of one candidate ``(entry_mult, exit_mult, min_edge)``: the batch path at K = 1."""
    market = check_market(market)
    vector = as_params_vector(params)
    return float(profit_batch(market, vector[None, :], device=device, dtype=dtype)[0])
