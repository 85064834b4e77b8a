"""Pairs ``grid_expansion`` and ``grid_expansion.size``: a grid search space (seed 001 item 3).

The workload is a spec shaped like a trading optimiser's grid: fixed settings, categorical
choices, float and int ranges, nested sections (``thresholds``, ``exit``, ``risk``, ``fees``).
Its varying parameters' sizes multiply to exactly ``size`` configurations: the prime factors of
``size`` are dealt out over them, so 1,000, 10,000 and 100,000 give grids of the same shape.

``grid_expansion`` times ``list(expand_grid(spec))``: every configuration built and kept, as a
grid sampler that holds its queue does. Keeping 100,000 configurations of five dicts each
(~140 MB) costs both sides the same (fresh memory, garbage-collector passes over the growing
list) and bounds the ratio: ``GridExpansionFloor`` in ``benchmarks/bench_floors.py`` times that
floor (the same dicts built inline and kept) beside both sides. ``grid_expansion.stream`` consumes the same iterator without
keeping it (a sampler dispatching configurations one at a time): the expansion cost alone.
``grid_expansion.size`` times ``grid_size(spec)``: the reference expands the grid to count it
(O(configurations)), the optimized side multiplies counts (O(parameters)).
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from ..equivalence import assert_equivalent
from ..registry import NotEquivalent, Pair, Workload

# (section, name, kind) of the varying parameters, in spec order
_SLOTS = (
    ("", "timeframe", "choice"),
    ("thresholds", "entry_conf", "float"),
    ("thresholds", "exit_conf", "float"),
    ("exit", "trail_atr", "float"),
    ("exit", "max_hold_bars", "int"),
    ("exit", "take_profit_r", "list"),
    ("risk", "risk_pct", "float"),
    ("", "use_htf_filter", "bool"),
)


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return sorted(out, reverse=True)


def _sizes(configs: int) -> list[int]:
    """Sizes of the varying parameters, multiplying to ``configs`` (the bool takes 2 at most)."""
    sizes = [1] * len(_SLOTS)
    for prime in _primes(configs):
        open_slots = [i for i, (_, _, kind) in enumerate(_SLOTS) if kind != "bool" or sizes[i] * prime <= 2]
        slot = min(open_slots, key=lambda i: (sizes[i], i))
        sizes[slot] *= prime
    return sizes


def _values(kind: str, n: int, seed: int) -> Any:
    """A spec value of ``n`` choices of the given kind (a fixed value when ``n`` is 1)."""
    if kind == "choice":
        names = ["15m", "1h", "4h", "1D", "3D", "1W", "1M"] + [f"{k}h" for k in range(2, 1000)]
        return names[seed % 3:seed % 3 + n] if n > 1 else "1h"
    if kind == "bool":
        return [True, False] if n == 2 else False
    if kind == "int":
        return {"low": 12 + seed, "high": 12 + seed + 6 * (n - 1), "step": 6}
    if kind == "list":
        return [round(1.0 + 0.5 * i, 1) for i in range(n)] if n > 1 else 2.0
    low = round(0.05 * (seed % 4 + 1), 2)
    return {"low": low, "high": round(low + 0.05 * (n - 1), 2), "step": 0.05}


def grid_spec(configs: int, seed: int) -> dict[str, Any]:
    """A nested grid spec of exactly ``configs`` configurations, deterministic for the seed."""
    spec: dict[str, Any] = {
        "symbol": "BTC/USDT", "timeframe": None, "warmup_bars": 150,
        "thresholds": {"entry_conf": None, "exit_conf": None, "regime_filter": "volatility"},
        "exit": {"trail_atr": None, "max_hold_bars": None, "take_profit_r": None, "partial_close": False},
        "risk": {"risk_pct": None, "max_positions": 1, "leverage": 2.0},
        "fees": {"maker_bps": 1.0, "taker_bps": 4.0},
        "use_htf_filter": None,
    }
    for (section, name, kind), n in zip(_SLOTS, _sizes(configs)):
        (spec[section] if section else spec)[name] = _values(kind, n, seed)
    return spec


def _workload(size: int, seed: int) -> Workload:
    return Workload(grid_spec(size, seed), description=f"{size} configurations")


def _check_configs(ref: list, opt: list) -> None:
    """Same configurations, same order, same types and key order (compared as orjson bytes;
    a readable diff when they differ)."""
    import orjson

    if orjson.dumps(ref) == orjson.dumps(opt):
        return
    assert_equivalent(ref, opt, what="configurations")
    raise NotEquivalent("configurations differ in key order or in int/float/bool types")


def _check_size(ref: int, opt: int) -> None:
    if ref != opt or type(ref) is not type(opt):
        raise NotEquivalent(f"grid size differs: reference={ref!r} optimized={opt!r}")


def _bind_expand(module: ModuleType, spec: dict) -> Callable[[], Any]:
    expand = module.expand_grid
    return lambda: list(expand(spec))


def _last_of(iterator: Any) -> tuple:
    """``(count, last item)`` of an iterator, consumed in C without keeping the items."""
    import collections

    tail = collections.deque(enumerate(iterator, 1), maxlen=1)
    return tail[0] if tail else (0, None)


def _bind_stream(module: ModuleType, spec: dict) -> Callable[[], Any]:
    expand = module.expand_grid
    return lambda: _last_of(expand(spec))


def _bind_size(module: ModuleType, spec: dict) -> Callable[[], Any]:
    size = module.grid_size
    return lambda: size(spec)


PAIRS = [
    Pair(
        name="grid_expansion",
        summary="expand a nested grid spec to a list of configs: recursive generator copying a dict per level vs product + compiled builder",
        reference="reference.grid_expansion",
        optimized="optimized.grid_expansion",
        workload=_workload,
        bind=_bind_expand,
        check=_check_configs,
        sizes=(1_000, 10_000, 100_000),
        default_size=100_000,
        quick_size=10_000,
        # measured 2.17x [1.99x, 2.28x] at 100,000 on the 2-core VM, 1.78x [1.59x, 2.02x] with
        # the VM loaded (load average 4): the memory both sides spend on the kept configurations
        # bounds it (see grid_expansion.stream). 1.3x sits below that noise, above the 1x of a
        # swapped-in reference
        floor=1.3,
        size_unit="configs",
        # linear work, plus the garbage collector's passes over the growing list: measured 1.28
        # (the reference 1.10) over 1,000..100,000
        max_slope=1.5,
    ),
    Pair(
        name="grid_expansion.stream",
        summary="expand a nested grid spec, consuming each config without keeping it: the expansion cost alone",
        reference="reference.grid_expansion",
        optimized="optimized.grid_expansion",
        workload=_workload,
        bind=_bind_stream,
        check=_check_configs,
        sizes=(1_000, 10_000, 100_000),
        default_size=100_000,
        quick_size=10_000,
        # measured 5.40x [5.27x, 5.45x] at 100,000 on the loaded 2-core VM (6.2x quieter);
        # 3x is well clear of that noise and of a swapped-in reference
        floor=3.0,
        size_unit="configs",
        max_slope=1.2,  # linear in the configurations built
    ),
    Pair(
        name="grid_expansion.size",
        summary="count a grid's configurations: expand and count vs multiply the parameters' counts",
        reference="reference.grid_expansion",
        optimized="optimized.grid_expansion",
        workload=_workload,
        bind=_bind_size,
        check=_check_size,
        sizes=(1_000, 10_000, 100_000),
        default_size=100_000,
        quick_size=10_000,
        # measured ~25,000-30,000x at 100,000 (323-481 ms -> 13-18 us); still hundreds at 1,000:
        # 100x is far below any noise, far above a swapped-in reference
        floor=100.0,
        size_unit="configs",
        # O(parameters): the spec has the same parameters at every size, only wider ranges
        max_slope=0.2,
    ),
]
