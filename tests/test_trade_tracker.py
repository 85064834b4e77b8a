"""trade_tracker: the same contract held against the reference loop and the numba kernel.

Hand-worked examples pin the rules of ``reference/trade_tracker.py``'s docstring; hypothesis
checks invariants on both sides and that the two sides agree (integer fields equal, floats within
1e-12 relative); bad input is refused alike, naming the argument.
"""
from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimized.trade_tracker as optimized
import reference.trade_tracker as reference
from pairbench.equivalence import assert_equivalent
from pairbench.registry import NotEquivalent, select

SIDES = ("all", "long", "short")
KEYS = ("count", "win_rate", "total_pnl", "total_fees", "bars_held", "max_margin_load", "mean_margin_load")
FLOAT_FIELDS = ("entry_price", "exit_price", "size", "pnl", "fees")
INT_FIELDS = ("entry_index", "exit_index", "side", "forced")


@st.composite
def series(draw, max_bars: int = 40):
    """Prices > 0 and target positions drawn from a small set, so holds, adds, partial closes,
    flips, flat runs and single bars all come up."""
    n = draw(st.integers(1, max_bars))
    prices = draw(st.lists(st.floats(0.5, 1000.0, allow_nan=False), min_size=n, max_size=n))
    levels = st.sampled_from([0.0, 0.0, 1.0, 2.0, 2.5, 5.0, -1.0, -2.0, -3.5, -5.0])
    positions = draw(st.lists(st.one_of(levels, st.floats(-50.0, 50.0)), min_size=n, max_size=n))
    keywords = {"initial_equity": draw(st.floats(1.0, 1e6)),
                "margin_rate": draw(st.sampled_from([0.0, 0.1, 0.25, 1.0])),
                "fee_rate": draw(st.sampled_from([0.0, 1e-4, 1e-3, 0.01]))}
    return np.array(prices), np.array(positions), keywords


def opens(positions: np.ndarray) -> int:
    """Trades expected: bars whose target is non-zero and not on the previous bar's side."""
    prev = np.sign(np.concatenate([[0.0], positions[:-1]]))
    return int(np.sum((positions != 0) & (np.sign(positions) != prev)))


def as_dict(report) -> dict:
    return {"trades": report.trades, "stats": report.stats, "equity": report.equity,
            "margin_load": report.margin_load}


class TrackerContract:
    """Every test here runs against ``mod``: the reference and the optimized module."""

    mod: ModuleType = None  # type: ignore[assignment]

    def track(self, prices, positions, **keywords):
        return self.mod.track_trades(np.asarray(prices, dtype=float), np.asarray(positions, dtype=float),
                                     **keywords)

    # -- hand-worked examples ----------------------------------------------------------------
    def test_long_round_trip_with_fees(self):
        r = self.track([10.0, 12.0, 11.0], [0.0, 2.0, 0.0], initial_equity=1000.0, margin_rate=0.5,
                       fee_rate=0.01)
        assert r.trades.dtype.names == reference.TRADE_DTYPE.names
        (t,) = r.trades.tolist()
        entry, exit_, side, entry_px, exit_px, size, pnl, fees, forced = t
        assert (entry, exit_, side, forced) == (1, 2, 1, 0)
        assert (entry_px, exit_px, size) == (12.0, 11.0, 2.0)
        assert pnl == pytest.approx(-0.24 - 2.0 - 0.22, rel=1e-12)   # entry fee, loss, exit fee
        assert fees == pytest.approx(0.46, rel=1e-12)
        np.testing.assert_allclose(r.equity, [1000.0, 999.76, 997.54], rtol=1e-12)
        np.testing.assert_allclose(r.margin_load, [0.0, 12.0 / 999.76, 0.0], rtol=1e-12)
        s = r.stats
        assert s["all"] == s["long"]
        assert s["all"]["count"] == 1.0 and s["all"]["win_rate"] == 0.0
        assert s["all"]["bars_held"] == 1.0
        assert s["all"]["max_margin_load"] == pytest.approx(12.0 / 999.76, rel=1e-12)
        assert s["all"]["mean_margin_load"] == pytest.approx(12.0 / 999.76, rel=1e-12)
        short = s["short"]
        assert short["count"] == 0.0 and math.isnan(short["win_rate"])
        assert short["total_pnl"] == short["total_fees"] == short["bars_held"] == 0.0
        assert short["max_margin_load"] == short["mean_margin_load"] == 0.0

    def test_short_add_partial_close_flip_and_forced_close(self):
        # bar 0 opens 1 short @100; bar 1 adds 2 @90 (avg 280/3); bar 2 closes 2 of 3 @80
        # (+80/3); bar 3 flips: closes the last unit @85 (+25/3) and opens 2 long @85; bar 4 holds,
        # and the data ends: the long is marked at 95 (+20) without a fee.
        r = self.track([100.0, 90.0, 80.0, 85.0, 95.0], [-1.0, -3.0, -1.0, 2.0, 2.0],
                       initial_equity=1000.0, margin_rate=1.0, fee_rate=0.0)
        short, long_ = r.trades.tolist()
        assert short[:3] == (0, 3, -1) and long_[:3] == (3, 4, 1)
        assert short[3] == pytest.approx(280.0 / 3.0, rel=1e-12)
        assert (short[4], short[5], short[8]) == (85.0, 3.0, 0)
        assert short[6] == pytest.approx(35.0, rel=1e-12) and short[7] == 0.0
        assert long_[3:] == (85.0, 95.0, 2.0, 20.0, 0.0, 1)
        equity = [1000.0, 1010.0, 1040.0, 1035.0, 1055.0]
        loads = [0.1, 270.0 / 1010.0, 80.0 / 1040.0, 170.0 / 1035.0, 190.0 / 1055.0]
        np.testing.assert_allclose(r.equity, equity, rtol=1e-12)
        np.testing.assert_allclose(r.margin_load, loads, rtol=1e-12)
        expect = {
            "all": (2.0, 1.0, 55.0, 5.0, loads[1], sum(loads) / 5),
            "long": (1.0, 1.0, 20.0, 2.0, loads[4], (loads[3] + loads[4]) / 2),
            "short": (1.0, 1.0, 35.0, 3.0, loads[1], sum(loads[:3]) / 3),
        }
        for side, (count, win, pnl, bars, max_load, mean_load) in expect.items():
            got = r.stats[side]
            assert (got["count"], got["win_rate"], got["bars_held"]) == (count, win, bars)
            assert got["total_pnl"] == pytest.approx(pnl, rel=1e-12)
            assert got["max_margin_load"] == pytest.approx(max_load, rel=1e-12)
            assert got["mean_margin_load"] == pytest.approx(mean_load, rel=1e-12)

    def test_single_bar_opens_and_is_closed_at_its_price(self):
        r = self.track([50.0], [3.0], initial_equity=100.0, margin_rate=1.0, fee_rate=0.001)
        assert r.trades.tolist() == [(0, 0, 1, 50.0, 50.0, 3.0, pytest.approx(-0.15), pytest.approx(0.15), 1)]
        assert r.equity[0] == pytest.approx(99.85, rel=1e-12)
        assert r.margin_load[0] == pytest.approx(150.0 / 99.85, rel=1e-12)

    def test_single_flat_bar_has_no_trades(self):
        r = self.track([50.0], [0.0])
        assert r.trades.shape == (0,) and r.trades.dtype == reference.TRADE_DTYPE
        assert r.stats["all"]["count"] == 0.0 and math.isnan(r.stats["all"]["win_rate"])
        assert r.equity.tolist() == [100_000.0] and r.margin_load.tolist() == [0.0]

    def test_flip_at_the_last_bar_records_two_trades(self):
        r = self.track([10.0, 11.0], [1.0, -1.0], fee_rate=0.0)
        assert [t[:3] for t in r.trades.tolist()] == [(0, 1, 1), (1, 1, -1)]
        assert r.trades["forced"].tolist() == [0, 1]
        assert r.trades["pnl"].tolist() == [1.0, 0.0]

    def test_blown_account_has_infinite_load(self):
        r = self.track([10.0, 1.0, 1.0], [-0.0, 10.0, 10.0], initial_equity=50.0, fee_rate=0.0)
        assert r.trades["pnl"].tolist() == [0.0]  # bought at 1, marked at 1
        r = self.track([10.0, 1.0, 1.0], [10.0, 10.0, 10.0], initial_equity=50.0, fee_rate=0.0)
        assert r.equity.tolist() == [50.0, -40.0, -40.0]
        assert r.margin_load[0] == pytest.approx(0.5) and r.margin_load[1:].tolist() == [math.inf] * 2
        assert r.stats["long"]["max_margin_load"] == math.inf

    def test_int_and_list_inputs_convert(self):
        as_floats = self.track([10.0, 11.0, 12.0], [1.0, 2.0, 0.0])
        as_ints = self.mod.track_trades([10, 11, 12], np.array([1, 2, 0], dtype=np.int32))
        assert_equivalent(as_dict(as_floats), as_dict(as_ints))

    def test_inputs_are_not_modified(self):
        prices, positions = np.array([10.0, 11.0, 12.0]), np.array([1.0, -2.0, 0.0])
        self.track(prices, positions)
        assert prices.tolist() == [10.0, 11.0, 12.0] and positions.tolist() == [1.0, -2.0, 0.0]

    # -- bad input -----------------------------------------------------------------------------
    @pytest.mark.parametrize("prices, positions, keywords, error, name", [
        ([1.0, 2.0], [1.0], {}, ValueError, "positions"),
        ([1.0, float("nan")], [1.0, 1.0], {}, ValueError, "prices"),
        ([1.0, 0.0], [1.0, 1.0], {}, ValueError, "prices"),
        ([1.0, -2.0], [1.0, 1.0], {}, ValueError, "prices"),
        ([1.0, float("inf")], [1.0, 1.0], {}, ValueError, "prices"),
        ([[1.0, 2.0]], [[1.0, 1.0]], {}, ValueError, "prices"),
        ([1.0, 2.0], [[1.0, 1.0]], {}, ValueError, "positions"),
        ([], [], {}, ValueError, "prices"),
        (3.0, 1.0, {}, ValueError, "prices"),
        (["a", "b"], [1.0, 1.0], {}, TypeError, "prices"),
        ([1.0, 2.0], [1.0, object()], {}, TypeError, "positions"),
        (np.array([1 + 1j, 2]), [1.0, 1.0], {}, TypeError, "prices"),
        ([1.0, 2.0], [1.0, float("nan")], {}, ValueError, "positions"),
        ([1.0, 2.0], [float("-inf"), 1.0], {}, ValueError, "positions"),
        ([1.0, 2.0], [1.0, 1.0], {"initial_equity": -1.0}, ValueError, "initial_equity"),
        ([1.0, 2.0], [1.0, 1.0], {"initial_equity": 0.0}, ValueError, "initial_equity"),
        ([1.0, 2.0], [1.0, 1.0], {"margin_rate": -0.1}, ValueError, "margin_rate"),
        ([1.0, 2.0], [1.0, 1.0], {"margin_rate": float("nan")}, ValueError, "margin_rate"),
        ([1.0, 2.0], [1.0, 1.0], {"fee_rate": -1e-4}, ValueError, "fee_rate"),
        ([1.0, 2.0], [1.0, 1.0], {"fee_rate": "0.1"}, TypeError, "fee_rate"),
        ([1.0, 2.0], [1.0, 1.0], {"fee_rate": True}, TypeError, "fee_rate"),
    ])
    def test_bad_input_is_refused_naming_the_argument(self, prices, positions, keywords, error, name):
        with pytest.raises(error, match=rf"^{name}: "):
            self.mod.track_trades(prices, positions, **keywords)


class TestReference(TrackerContract):
    mod = reference


class TestOptimized(TrackerContract):
    mod = optimized


# -- properties, on both sides (module-level: hypothesis wants one executor per test) -----------
@pytest.mark.parametrize("mod", [reference, optimized], ids=["reference", "optimized"])
@settings(max_examples=60, deadline=None)
@given(case=series())
def test_invariants(mod, case):
    prices, positions, keywords = case
    r = mod.track_trades(prices, positions, **keywords)
    trades = r.trades
    assert len(trades) == opens(positions)
    assert set(trades["side"].tolist()) <= {1, -1}
    assert np.all(trades["entry_index"] <= trades["exit_index"])
    assert np.all(np.diff(trades["exit_index"]) >= 0)
    assert np.all(trades["size"] > 0) and np.all(trades["fees"] >= 0)
    assert trades["forced"].sum() == (positions[-1] != 0)
    if positions[-1] != 0:
        assert trades["forced"][-1] == 1 and trades["exit_index"][-1] == len(prices) - 1
    assert np.array_equal(trades["exit_price"], prices[trades["exit_index"]])
    # every fill pays fee_rate * |change| * price; the forced close is not a fill
    changes = np.abs(np.diff(np.concatenate([[0.0], positions])))
    scale = 1.0 + float(np.sum(np.abs(positions) * prices))
    assert trades["fees"].sum() == pytest.approx(keywords["fee_rate"] * np.sum(changes * prices), abs=1e-9 * scale)
    assert trades["pnl"].sum() == pytest.approx(r.equity[-1] - keywords["initial_equity"],
                                            abs=1e-9 * (scale + keywords["initial_equity"]))
    assert np.all(r.margin_load >= 0) and np.all(r.margin_load[positions == 0] == 0)
    for side, code in (("long", 1), ("short", -1)):
        assert r.stats[side]["count"] == np.sum(trades["side"] == code)
        assert r.stats[side]["bars_held"] == np.sum(np.sign(positions) == code)
    assert r.stats["all"]["count"] == r.stats["long"]["count"] + r.stats["short"]["count"]
    for side in SIDES:
        assert set(r.stats[side]) >= set(KEYS)
        assert all(isinstance(v, float) for v in r.stats[side].values())


# -- the two sides agree ---------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(series(max_bars=80))
def test_sides_agree(case):
    prices, positions, keywords = case
    ref = reference.track_trades(prices, positions, **keywords)
    opt = optimized.track_trades(prices, positions, **keywords)
    assert_equivalent(as_dict(ref), as_dict(opt), rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_sides_agree_on_workload_series(seed):
    from pairbench.pairs.trade_tracker import make_series

    prices, positions, keywords = make_series(5_000, seed)
    for fees in (keywords, dict(keywords, fee_rate=0.0, initial_equity=5_000.0)):
        ref = reference.track_trades(prices, positions, **fees)
        opt = optimized.track_trades(prices, positions, **fees)
        assert_equivalent(as_dict(ref), as_dict(opt), rtol=1e-12)


def assert_bit_equal(ref, opt) -> None:
    """The two reports agree to the last bit: every array byte for byte, every stat as the same
    float (NaN where the reference has NaN)."""
    assert ref.trades.dtype == opt.trades.dtype and ref.trades.tobytes() == opt.trades.tobytes()
    for name in ("equity", "margin_load"):
        ours, theirs = getattr(ref, name), getattr(opt, name)
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes(), name
    for side in SIDES:
        assert ref.stats[side].keys() == opt.stats[side].keys()
        for key, value in ref.stats[side].items():
            other = opt.stats[side][key]
            assert (math.isnan(value) and math.isnan(other)) or (value == other and
                                                                 math.copysign(1, value) == math.copysign(1, other)), (side, key)


@settings(max_examples=150, deadline=None)
@given(series(max_bars=80))
def test_sides_agree_to_the_last_bit(case):
    prices, positions, keywords = case
    assert_bit_equal(reference.track_trades(prices, positions, **keywords),
                     optimized.track_trades(prices, positions, **keywords))


@pytest.mark.parametrize("seed", range(3))
def test_sides_agree_to_the_last_bit_on_workload_series(seed):
    """Long runs of one position (the kernel's per-run loops) and the pair's own keywords."""
    from pairbench.pairs.trade_tracker import make_series

    prices, positions, keywords = make_series(20_000, seed)
    for fees in (keywords, dict(keywords, fee_rate=0.0, initial_equity=2_000.0)):
        assert_bit_equal(reference.track_trades(prices, positions, **fees),
                         optimized.track_trades(prices, positions, **fees))


@pytest.mark.parametrize("pattern", ["flips", "open_close", "adds"])
def test_many_trades_grow_the_kernels_tables(pattern):
    """Hundreds of trades (the kernel starts with room for a few dozen and doubles): same trades."""
    rng = np.random.default_rng(7)
    n = 3_001
    prices = 50.0 + np.cumsum(rng.normal(0.0, 0.1, n)).clip(-40.0, None)
    if pattern == "flips":
        positions = np.where(np.arange(n) % 2 == 0, 1.0, -2.0)
    elif pattern == "open_close":
        positions = np.where(np.arange(n) % 3 == 0, 0.0, 1.5)
    else:
        positions = np.where(np.arange(n) % 5 == 4, 0.0, 1.0 + np.arange(n) % 5)
    ref = reference.track_trades(prices, positions, fee_rate=1e-3)
    opt = optimized.track_trades(prices, positions, fee_rate=1e-3)
    assert len(ref.trades) > 500
    assert_bit_equal(ref, opt)


def test_a_bad_value_after_many_trades_is_refused_alike():
    """The in-kernel check still reports the first bad bar when the tables have grown."""
    positions = np.where(np.arange(2_000) % 2 == 0, 1.0, -1.0)
    prices = np.full(2_000, 10.0)
    prices[1_500] = -1.0
    for mod in (reference, optimized):
        with pytest.raises(ValueError, match=r"^prices: must be finite and > 0, got .*-1\.0.* at bar 1500$"):
            mod.track_trades(prices, positions)


@settings(max_examples=60, deadline=None)
@given(series(), st.data())
def test_sides_refuse_a_bad_value_alike(case, data):
    """A NaN/inf/non-positive value anywhere: the same error, naming the first bad bar (the
    kernel's in-loop check must also never write past its trade tables)."""
    prices, positions, keywords = case
    which = data.draw(st.sampled_from(["prices", "positions"]))
    target = prices if which == "prices" else positions
    at = data.draw(st.integers(0, len(target) - 1))
    target[at] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf] + ([0.0, -1.0] if which == "prices" else [])))
    errors = []
    for mod in (reference, optimized):
        with pytest.raises(ValueError) as caught:
            mod.track_trades(prices, positions, **keywords)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and errors[0].startswith(f"{which}: ")


# -- the registered pair -----------------------------------------------------------------------------
def test_pair_is_registered_and_its_check_passes_on_its_workload():
    (pair,) = select(["trade_tracker"])
    assert pair.reference == "reference.trade_tracker" and pair.optimized == "optimized.trade_tracker"
    assert pair.gate_size <= pair.default_size and len(pair.sizes) >= 2
    with pair.workload(10_000, 0) as work:
        ref = pair.bind_side("reference", work.inputs)()
        opt = pair.bind_side("optimized", work.inputs)()
    pair.check(ref, opt)
    assert len(ref.trades) >= 3 and set(ref.trades["side"].tolist()) == {1, -1}
    assert 0 < ref.stats["all"]["max_margin_load"] < math.inf


def test_workload_is_deterministic_and_exercises_every_kind_of_fill():
    (pair,) = select(["trade_tracker"])
    a, b = pair.workload(20_000, 3).inputs, pair.workload(20_000, 3).inputs
    assert np.array_equal(a.prices, b.prices) and np.array_equal(a.positions, b.positions)
    pos = a.positions
    prev = np.concatenate([[0.0], pos[:-1]])
    same_side = (pos * prev) > 0
    assert np.any(same_side & (np.abs(pos) > np.abs(prev)))   # adds
    assert np.any(same_side & (np.abs(pos) < np.abs(prev)))   # partial closes
    assert np.any(pos * prev < 0)                              # flips
    assert np.mean(pos == 0) > 0.1                             # rests flat


@pytest.mark.parametrize("perturb", ["pnl", "entry_index", "equity", "stats"])
def test_check_catches_a_perturbed_output(perturb):
    (pair,) = select(["trade_tracker"])
    with pair.workload(10_000, 0) as work:
        ref = pair.bind_side("reference", work.inputs)()
    other = reference.track_trades(work.inputs.prices, work.inputs.positions, **work.inputs.keywords)
    if perturb in ("pnl", "entry_index"):
        other.trades[perturb][3] += 1e-9 if perturb == "pnl" else 1
    elif perturb == "equity":
        other.equity[-1] *= 1 + 1e-10
    else:
        other.stats["short"]["win_rate"] += 0.01
    with pytest.raises(NotEquivalent, match="differ"):
        pair.check(ref, other)


@pytest.mark.slow
def test_one_off_measures_compile_and_cache_load():
    (pair,) = select(["trade_tracker"])
    costs = pair.one_off(optimized)
    assert set(costs) == {"compile (first call, empty numba cache)",
                          "cache load (first call, warm numba cache)", "import (numba and module)"}
    assert all(v > 0 for v in costs.values())
