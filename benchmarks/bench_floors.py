"""Floors (issue 13): the least the job of a pair can cost here, timed beside its optimized side.

Each class times one pair's reference and optimized sides and the floor of its job on the same
workload (``scripts/floors.py`` times them interleaved and prints the ratios with intervals). A floor
does the part of the work no implementation can skip, by the cheapest means at hand, and keeps
nothing the pair's output does not need; ``setup`` checks that it computes what the optimized
side returns, so the two are timed on the same work. ``time_optimized / time_floor_*`` says how
close the side is to what this machine allows:

- ``TradeTrackerFloor``: the per-bar memory traffic (read prices and positions, write equity
  and margin load into a fresh numpy block) and, on top, the margin-load sums added in bar order by the
  tracker's own loop (a chain of dependent float additions: bit-equal results forbid reordering
  them);
- ``ParamSignatureFloor``: per signature the cache key (orjson) and, for each first sight,
  SHA-256 of the canonical text; ``c`` with the params already normalised (orjson with sorted
  keys; not reachable: params arrive raw), ``python`` normalising each float through a memo
  of its canonical value (one lookup per value, a new dict per level);
- ``GridExpansionFloor``: holding the configurations: every one built by one inline dict display
  (no call per configuration) from ``itertools.product`` over the leaves' values, kept in a list.
"""
import hashlib
import importlib
import itertools
from functools import partial

import numpy as np


class TradeTrackerFloor:
    """``optimized.trade_tracker.track_trades`` against the memory traffic of its per-bar arrays."""

    params = [100_000, 1_000_000]
    param_names = ["bars"]
    timeout = 300.0

    def setup(self, bars):
        from numba import njit

        import optimized.trade_tracker as tracker
        from optimized._trade_tracker_nb import _sum_and_max
        from pairbench.pairs.trade_tracker import make_series

        series = make_series(bars, 0)
        self.prices, self.positions, self.keywords = series.prices, series.positions, series.keywords
        self.track = tracker.track_trades
        self.reference = importlib.import_module("reference.trade_tracker").track_trades
        self.traffic = njit(nogil=True)(_traffic)
        self.traffic_and_sums = partial(njit(nogil=True)(_traffic_and_sums), sum_and_max=_sum_and_max)
        report = self.track(self.prices, self.positions, **self.keywords)
        self.loads = report.margin_load
        # the floor adds the loads in bar order as the tracker does (a flat bar's 0.0 adds nothing)
        prices, loads, total, top = self.traffic_and_sums(self.prices, self.loads, np.empty((2, bars)))
        held = report.stats["all"]
        assert np.array_equal(loads, self.loads) and np.array_equal(prices, self.prices)
        assert (total / held["bars_held"], top) == (held["mean_margin_load"], held["max_margin_load"])
        self.traffic(self.prices, self.positions, np.empty((2, bars)))  # compiled here, not timed

    def time_reference(self, bars):
        self.reference(self.prices, self.positions, **self.keywords)

    def time_optimized(self, bars):
        self.track(self.prices, self.positions, **self.keywords)

    def time_floor_traffic(self, bars):
        self.traffic(self.prices, self.positions, np.empty((2, bars)))

    def time_floor_traffic_and_ordered_sums(self, bars):
        self.traffic_and_sums(self.prices, self.loads, np.empty((2, bars)))


def _traffic(a, b, out):
    """Read two float64 arrays, write ``out``'s two rows (a fresh block, as the tracker's)."""
    for t in range(a.shape[0]):
        out[0, t] = a[t] + b[t]
        out[1, t] = a[t] * b[t]
    return out[0], out[1]


def _traffic_and_sums(prices, loads, out, sum_and_max):
    """Copy both series into ``out``'s rows, then add the loads in order into two sums (all bars
    and one side) with their maxima by the tracker's own loop: returns (prices, loads, sum, max)."""
    for t in range(prices.shape[0]):
        out[0, t] = prices[t]
        out[1, t] = loads[t]
    total, top, side, side_top = sum_and_max(out[1], 0, prices.shape[0], 0.0, 0.0, 0.0, 0.0)
    return out[0], out[1], total if total == side else -1.0, top if top == side_top else -1.0


class ParamSignatureFloor:
    """``optimized.param_signature`` on a stream with 30% repeats against canonical JSON + SHA-256."""

    params = [1_000, 10_000]
    param_names = ["signatures"]

    def setup(self, signatures):
        import orjson

        import optimized.param_signature as signer
        import reference.param_signature as spec
        from pairbench.pairs.param_signature import DUPLICATE_RATE, STEPS, param_stream

        self.stream = param_stream(signatures, 0, DUPLICATE_RATE)
        self.steps = dict(STEPS)
        self.signer = signer
        self.reference = spec.param_signature
        self.normalised = [orjson.loads(spec.canonical_json(p, STEPS)) for p in self.stream]
        self.digits = {path: spec.step_decimals(step) for path, step in STEPS.items()}
        expected = [spec.param_signature(p, STEPS) for p in self.stream]
        assert self.time_floor_c(signatures) == self.time_floor_python(signatures) == expected
        signer.cache_clear()
        assert [signer.param_signature(p, STEPS) for p in self.stream] == expected

    def time_reference(self, signatures):
        sign, steps = self.reference, self.steps
        for params in self.stream:
            sign(params, steps)

    def time_optimized(self, signatures):
        self.signer.cache_clear()
        sign, steps = self.signer.param_signature, self.steps
        for params in self.stream:
            sign(params, steps)

    def time_floor_c(self, signatures):
        import orjson

        dumps, sort, sha = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256
        seen = {}
        out = []
        for params, normal in zip(self.stream, self.normalised):
            key = dumps(params)
            sig = seen.get(key)
            if sig is None:
                sig = seen[key] = sha(dumps(normal, option=sort)).hexdigest()
            out.append(sig)
        return out

    def time_floor_python(self, signatures):
        import orjson

        dumps, sort, sha = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.sha256
        tables: dict = {}  # key path prefix -> {key: {float: canonical value}}
        digits = self.digits

        def normalise(level, prefix):
            table = tables.get(prefix)
            if table is None:
                table = tables[prefix] = {}
            out = {}
            for key, value in level.items():
                if type(value) is float:
                    memo = table.get(key)
                    if memo is None:
                        memo = table[key] = {}
                    canon = memo.get(value)
                    if canon is None:
                        places = digits.get(prefix + key)
                        canon = value if places is None else round(value, places)
                        canon = memo[value] = int(canon) if canon.is_integer() else canon
                    out[key] = canon
                elif type(value) is dict:
                    out[key] = normalise(value, prefix + key + ".")
                else:
                    out[key] = value
            return out

        seen = {}
        out = []
        for params in self.stream:
            key = dumps(params)
            sig = seen.get(key)
            if sig is None:
                sig = seen[key] = sha(dumps(normalise(params, ""), option=sort)).hexdigest()
            out.append(sig)
        return out


class GridExpansionFloor:
    """``list(expand_grid(spec))`` against building and holding the same configurations."""

    params = [10_000, 100_000]
    param_names = ["configs"]
    timeout = 300.0

    def setup(self, configs):
        import optimized.grid_expansion as grid
        from pairbench.pairs.grid_expansion import grid_spec
        from reference.grid_expansion import range_values

        self.spec = grid_spec(configs, 0)
        self.expand = grid.expand_grid
        self.reference = importlib.import_module("reference.grid_expansion").expand_grid

        def choices(value):
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return range_values(value["low"], value["high"], value["step"])
            return [value]

        s = self.spec
        self.leaves = [choices(v) for v in (
            s["symbol"], s["timeframe"], s["warmup_bars"],
            s["thresholds"]["entry_conf"], s["thresholds"]["exit_conf"], s["thresholds"]["regime_filter"],
            s["exit"]["trail_atr"], s["exit"]["max_hold_bars"], s["exit"]["take_profit_r"],
            s["exit"]["partial_close"], s["risk"]["risk_pct"], s["risk"]["max_positions"],
            s["risk"]["leverage"], s["fees"]["maker_bps"], s["fees"]["taker_bps"], s["use_htf_filter"])]
        assert self.time_floor_hold(configs) == list(self.expand(self.spec))

    def time_reference(self, configs):
        return list(self.reference(self.spec))

    def time_optimized(self, configs):
        return list(self.expand(self.spec))

    def time_floor_hold(self, configs):
        return [{"symbol": v0, "timeframe": v1, "warmup_bars": v2,
                 "thresholds": {"entry_conf": v3, "exit_conf": v4, "regime_filter": v5},
                 "exit": {"trail_atr": v6, "max_hold_bars": v7, "take_profit_r": v8, "partial_close": v9},
                 "risk": {"risk_pct": v10, "max_positions": v11, "leverage": v12},
                 "fees": {"maker_bps": v13, "taker_bps": v14}, "use_htf_filter": v15}
                for v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15
                in itertools.product(*self.leaves)]
