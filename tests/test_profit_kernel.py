"""profit_kernel: the same contract tests against the reference and the optimized side.

Equivalence: hypothesis-drawn candidates inside and on the edges of PARAM_BOUNDS (and outside, in
the allowed ranges); a hand-computed 3-bar market; chunking; bad input; float32 and CUDA
(skipped without a GPU) on the optimized side; the registered pair and its check.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimized.profit_kernel as optimized_mod
import reference.profit_kernel as reference_mod
from pairbench.registry import NotEquivalent, select

RTOL = 1e-12
ATOL = 1e-12
BOUNDS = reference_mod.PARAM_BOUNDS
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def column(low: float, high: float) -> st.SearchStrategy[float]:
    """A parameter value inside [low, high], often exactly on an edge."""
    return st.one_of(st.sampled_from([low, high]),
                     st.floats(low, high, allow_nan=False, allow_infinity=False))


candidate = st.tuples(*(column(lo, hi) for lo, hi in BOUNDS))
candidates = st.lists(candidate, min_size=1, max_size=8).map(lambda rows: np.array(rows, dtype=np.float64))
markets = st.builds(reference_mod.make_market, st.integers(2, 60), st.integers(0, 2**32 - 1))
# one base class runs under two subclasses (PEP 399): hypothesis sees two executors, by design
hyp = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors])


def tiny_market(fee_rate: float = 0.001) -> reference_mod.Market:
    """3 bars; bar t's forecasts target bar t+1 (the last bar's are never used)."""
    return reference_mod.Market(
        close=[100.0, 101.0, 99.0], high=[101.0, 103.0, 100.0], low=[99.0, 98.0, 97.0],
        pred_high=[102.0, 100.5, 100.0], pred_low=[99.0, 98.0, 100.0], fee_rate=fee_rate)


def net(exit_price: float, fill: float, fee: float = 0.001) -> float:
    return exit_price * (1 - fee) / fill - (1 + fee)


# (params, expected profit) on tiny_market(); bar 0 trades on bar 1 (H 103, L 98, C 101),
# bar 1 on bar 2 (H 100, L 97, C 99).
TINY_CASES = [
    # buy 99 fills (98 <= 99), sell 102 hit (103 >= 102); buy 98 fills, sell 100.5 missed: close 99
    ((1.0, 1.0, 0.0), net(102, 99) + net(99, 98)),
    # edges 102/99-1 = 0.0303 and 100.5/98-1 = 0.0255: a 0.028 minimum keeps bar 0 only
    ((1.0, 1.0, 0.028), net(102, 99)),
    # buy limits 97.515 and 96.53 lie under both lows: nothing fills
    ((0.985, 1.0, 0.0), 0.0),
    # buy limits 103.95 and 102.9 lie above the whole bar: they fill at its high (103, 100)
    ((1.05, 1.0, -0.05), net(102, 103) + net(99, 100)),
    # sell limits 91.8 and 90.45 lie under the bar: the take-profit fills at its low (98, 97)
    ((1.0, 0.9, -0.1), net(98, 99) + net(97, 98)),
]


class ProfitKernelContract:
    mod = None

    # -- the hand-computed market ------------------------------------------------------------
    @pytest.mark.parametrize("params, expected", TINY_CASES)
    def test_tiny_market_known_profit(self, params, expected):
        market = tiny_market()
        assert self.mod.profit(market, params) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert self.mod.profit_batch(market, [params])[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)

    def test_tiny_market_without_fees(self):
        got = self.mod.profit(tiny_market(fee_rate=0.0), (1.0, 1.0, 0.0))
        assert got == pytest.approx(102 / 99 - 1 + 99 / 98 - 1, rel=1e-12)

    def test_batch_of_tiny_cases_in_one_call(self):
        params = np.array([p for p, _ in TINY_CASES])
        expected = np.array([e for _, e in TINY_CASES])
        np.testing.assert_allclose(self.mod.profit_batch(tiny_market(), params), expected,
                                   rtol=1e-12, atol=1e-15)

    # -- properties ------------------------------------------------------------------------------
    @hyp
    @given(market=markets, params=candidates)
    def test_batch_matches_single_calls(self, market, params):
        batch = self.mod.profit_batch(market, params)
        assert batch.shape == (len(params),) and batch.dtype == np.float64
        singles = np.array([self.mod.profit(market, row) for row in params])
        np.testing.assert_allclose(batch, singles, rtol=RTOL, atol=ATOL)

    @hyp
    @given(market=markets, params=candidates)
    def test_matches_the_other_side(self, market, params):
        other = optimized_mod if self.mod is reference_mod else reference_mod
        np.testing.assert_allclose(self.mod.profit_batch(market, params),
                                   other.profit_batch(market, params), rtol=RTOL, atol=ATOL)

    @hyp
    @given(market=markets, entry=st.floats(1e-6, 1e6), exit_=st.floats(1e-6, 1e6),
           edge=st.floats(-10.0, 10.0))
    def test_outside_the_box_inside_the_allowed_ranges(self, market, entry, exit_, edge):
        params = np.array([[entry, exit_, edge]])
        got = self.mod.profit_batch(market, params)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, reference_mod.profit_batch(market, params), rtol=RTOL, atol=ATOL)

    def test_input_forms_agree(self):
        market = reference_mod.make_market(50, seed=3)
        rows = [[1.0, 1.01, 0.0], [0.99, 1.0, 0.005]]
        expected = self.mod.profit_batch(market, np.array(rows))
        for form in (rows, tuple(map(tuple, rows)), torch.tensor(rows), np.array(rows, dtype=np.float32).astype(np.float64)):
            np.testing.assert_array_equal(self.mod.profit_batch(market, form), expected)
        assert self.mod.profit(market, torch.tensor(rows[0])) == expected[0]

    def test_repeatable(self):
        market = reference_mod.make_market(300, seed=1)
        params = np.array([[1.0, 1.0, 0.0], [0.99, 1.01, 0.01]])
        np.testing.assert_array_equal(self.mod.profit_batch(market, params),
                                      self.mod.profit_batch(market, params))

    def test_no_trade_gives_exact_zero(self):
        # min_edge above every achievable edge: no bar trades; the profit is +0.0
        got = self.mod.profit_batch(reference_mod.make_market(100), [[1.0, 1.0, 5.0]])
        assert got[0] == 0.0 and not math.copysign(1.0, got[0]) < 0

    # -- bad input -------------------------------------------------------------------------------
    @pytest.mark.parametrize("params, match", [
        (np.ones((2, 2)), "params: must have 3 columns"),
        (np.ones((2, 4)), "params: must have 3 columns"),
        (np.ones(3), "params: must be 2-D"),
        (np.ones((1, 2, 3)), "params: must be 2-D"),
        (np.empty((0, 3)), "params: empty"),
        (np.array([[1.0, np.nan, 0.0]]), "params: must be finite"),
        (np.array([[1.0, 1.0, np.inf]]), "params: must be finite"),
        (np.array([[0.0, 1.0, 0.0]]), "params: entry_mult and exit_mult"),
        (np.array([[1.0, -1.0, 0.0]]), "params: entry_mult and exit_mult"),
        (np.array([[1e7, 1.0, 0.0]]), "params: entry_mult and exit_mult"),
    ])
    def test_bad_params_batch(self, params, match):
        with pytest.raises(ValueError, match=match):
            self.mod.profit_batch(reference_mod.make_market(10), params)

    @pytest.mark.parametrize("params, match", [
        ((1.0, 1.0), "params: must have 3 values"),
        ([[1.0, 1.0, 0.0]], "params: one candidate must be 1-D"),
        ((1.0, float("nan"), 0.0), "params: must be finite"),
    ])
    def test_bad_params_single(self, params, match):
        with pytest.raises(ValueError, match=match):
            self.mod.profit(reference_mod.make_market(10), params)

    def test_params_not_numbers(self):
        with pytest.raises(TypeError, match="params"):
            self.mod.profit_batch(reference_mod.make_market(10), [["a", "b", "c"]])

    @pytest.mark.parametrize("market", [None, {"close": [1.0, 2.0]}, np.ones((10, 5))])
    def test_market_of_wrong_type(self, market):
        with pytest.raises(TypeError, match="market: must be a profit_kernel.Market"):
            self.mod.profit_batch(market, [[1.0, 1.0, 0.0]])
        with pytest.raises(TypeError, match="market"):
            self.mod.profit(market, (1.0, 1.0, 0.0))

    @pytest.mark.parametrize("n_bars, error", [(1, ValueError), (0, ValueError), (-5, ValueError),
                                               (2.5, TypeError), (True, TypeError), ("10", TypeError)])
    def test_bad_n_bars(self, n_bars, error):
        with pytest.raises(error, match="n_bars"):
            self.mod.make_market(n_bars)


class TestReference(ProfitKernelContract):
    mod = reference_mod


class TestOptimized(ProfitKernelContract):
    mod = optimized_mod

    @hyp
    @given(market=markets, params=st.lists(candidate, min_size=1, max_size=40).map(np.array),
           chunk=st.integers(1, 50))
    def test_chunked_equals_unchunked(self, market, params, chunk):
        whole = optimized_mod.profit_batch(market, params, chunk_size=len(params))
        np.testing.assert_array_equal(optimized_mod.profit_batch(market, params, chunk_size=chunk), whole)

    def test_default_chunk_bounds_memory(self):
        rows = optimized_mod.default_chunk_size(2_000)
        assert rows >= 1 and rows * 1_999 * 8 <= optimized_mod.CHUNK_BUDGET_BYTES
        assert optimized_mod.default_chunk_size(10_000_000) == 1

    def test_bit_identical_to_reference_on_the_pair_workload(self):
        from pairbench.pairs.profit_kernel import N_BARS, make_candidates

        market = reference_mod.make_market(N_BARS, seed=0)
        params = make_candidates(64, 0)
        np.testing.assert_array_equal(optimized_mod.profit_batch(market, params),
                                      reference_mod.profit_batch(market, params))

    def test_market_rows_cached_once(self):
        market = reference_mod.make_market(20)
        first = optimized_mod.market_rows(market, torch.device("cpu"), torch.float64)
        assert optimized_mod.market_rows(market, torch.device("cpu"), torch.float64) is first
        assert optimized_mod.market_rows(market, torch.device("cpu"), torch.float32)[0].dtype == torch.float32

    def test_float32_on_cpu_close_to_float64(self):
        # float32 rounds each bar near 1e-7; a bar whose low/high sits within that rounding of a
        # limit may fill differently, moving that candidate by one bar's return (rare).
        from pairbench.pairs.profit_kernel import make_candidates

        market = reference_mod.make_market(300, seed=2)
        params = make_candidates(64, 2)
        wide = optimized_mod.profit_batch(market, params)
        narrow = optimized_mod.profit_batch(market, params, dtype=torch.float32)
        assert narrow.dtype == np.float64
        diff = np.abs(narrow - wide)
        assert diff.max() < 0.1
        assert np.median(diff) < 1e-4

    @pytest.mark.parametrize("device", ["gpu", "tpu", "cuda:x", "", 3])
    def test_bad_device(self, device):
        error = TypeError if not isinstance(device, str) else ValueError
        with pytest.raises(error, match="device"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]], device=device)

    @pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
    def test_cuda_without_a_gpu_is_refused(self):
        with pytest.raises(ValueError, match="device: 'cuda'.*is_available"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]], device="cuda")

    @pytest.mark.parametrize("dtype", [torch.float16, torch.int64, "float8", np.float64])
    def test_bad_dtype(self, dtype):
        with pytest.raises(ValueError, match="dtype"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]], dtype=dtype)

    @pytest.mark.parametrize("chunk", [0, -1, 2.0, True, "8"])
    def test_bad_chunk_size(self, chunk):
        with pytest.raises(ValueError, match="chunk_size"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]], chunk_size=chunk)

    def test_bad_compile_flag(self):
        with pytest.raises(TypeError, match="compile"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]], compile="yes")

    @pytest.mark.slow
    def test_compiled_kernel_matches(self):
        # opt-in torch.compile path: first call compiles (seconds); sums reduce in another order
        market = reference_mod.make_market(500, seed=4)
        from pairbench.pairs.profit_kernel import make_candidates

        params = make_candidates(33, 4)
        np.testing.assert_allclose(optimized_mod.profit_batch(market, params, compile=True),
                                   reference_mod.profit_batch(market, params), rtol=1e-12, atol=1e-12)

    # -- CUDA (skipped without a GPU) --------------------------------------------------------
    @CUDA
    def test_cuda_float64_matches_reference(self):
        market = reference_mod.make_market(500, seed=5)
        from pairbench.pairs.profit_kernel import make_candidates

        params = make_candidates(300, 5)
        got = optimized_mod.profit_batch(market, params, device="cuda")
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_allclose(got, reference_mod.profit_batch(market, params), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(optimized_mod.profit_batch(market, params, device="cuda", chunk_size=7),
                                   got, rtol=1e-12, atol=1e-12)
        assert optimized_mod.profit(market, params[0], device="cuda") == pytest.approx(got[0], rel=1e-12, abs=1e-12)

    @CUDA
    def test_cuda_float32_close_to_float64(self):
        market = reference_mod.make_market(300, seed=2)
        from pairbench.pairs.profit_kernel import make_candidates

        params = make_candidates(64, 2)
        diff = np.abs(optimized_mod.profit_batch(market, params, device="cuda", dtype=torch.float32)
                      - reference_mod.profit_batch(market, params))
        assert diff.max() < 0.1 and np.median(diff) < 1e-4

    @CUDA
    def test_cuda_rows_cached_on_device(self):
        market = reference_mod.make_market(20)
        dev = optimized_mod.resolve_device("cuda")
        rows = optimized_mod.market_rows(market, dev, torch.float64)
        assert rows[0].device.type == "cuda"
        assert optimized_mod.market_rows(market, dev, torch.float64) is rows

    @CUDA
    def test_compile_refused_on_cuda(self):
        with pytest.raises(ValueError, match="compile"):
            optimized_mod.profit_batch(reference_mod.make_market(10), [[1.0, 1.0, 0.0]],
                                       device="cuda", compile=True)


class TestOptimizedBlockPath(TestOptimized):
    """The optimized side with its small-block shortcut off: every call takes the scratch-block
    kernel (float masks, chunks) that large K uses, on the small markets hypothesis draws."""

    @pytest.fixture(autouse=True, scope="class")
    def _blocks_only(self):
        saved = optimized_mod.SMALL_BLOCK
        optimized_mod.SMALL_BLOCK = 0
        yield
        optimized_mod.SMALL_BLOCK = saved


# -- the market and its type (shared by both sides) ----------------------------------------------
def test_make_market_is_deterministic_and_well_formed():
    a, b = reference_mod.make_market(500, seed=7), reference_mod.make_market(500, seed=7)
    for name in ("close", "high", "low", "pred_high", "pred_low"):
        assert torch.equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == torch.float64 and getattr(a, name).shape == (500,)
    assert not torch.equal(a.close, reference_mod.make_market(500, seed=8).close)
    assert bool((a.low <= a.close).all()) and bool((a.close <= a.high).all())
    assert optimized_mod.make_market is reference_mod.make_market
    assert optimized_mod.PARAM_BOUNDS == reference_mod.PARAM_BOUNDS
    assert all(lo < hi for lo, hi in reference_mod.PARAM_BOUNDS) and len(reference_mod.PARAM_BOUNDS) == 3


def test_market_is_frozen_and_copies_its_inputs():
    close = np.array([100.0, 101.0, 102.0])
    market = reference_mod.Market(close, close + 1, close - 1, close + 1, close - 1)
    close[0] = 5.0
    assert market.close[0] == 100.0
    with pytest.raises(AttributeError):
        market.fee_rate = 0.1  # type: ignore[misc]


def test_market_to_copies_and_keeps_results():
    market = reference_mod.make_market(40, seed=9)
    moved = market.to("cpu")
    assert moved is not market and moved.device.type == "cpu" and moved.fee_rate == market.fee_rate
    assert torch.equal(moved.pred_low, market.pred_low)
    params = [[1.0, 1.0, 0.0], [0.99, 1.01, 0.002]]
    for mod in (reference_mod, optimized_mod):
        np.testing.assert_array_equal(mod.profit_batch(moved, params), mod.profit_batch(market, params))


@CUDA
def test_reference_runs_on_a_cuda_market():
    market = reference_mod.make_market(200, seed=6)
    on_gpu = market.to("cuda")
    assert on_gpu.device.type == "cuda"
    params = (1.0, 1.005, 0.001)
    assert reference_mod.profit(on_gpu, params) == pytest.approx(reference_mod.profit(market, params),
                                                                rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError, match="pred_low: on cpu"):
        reference_mod.Market(on_gpu.close, on_gpu.high, on_gpu.low, on_gpu.pred_high, market.pred_low)


@pytest.mark.parametrize("change, error, match", [
    ({name: [100.0] for name in ("close", "high", "low", "pred_high", "pred_low")}, ValueError,
     "close: a market needs at least 2 bars"),
    ({"close": [1.0]}, ValueError, "high: length 3 differs from close's 1"),
    ({"high": [1.0, 2.0, 3.0, 4.0]}, ValueError, "high: length 4 differs"),
    ({"low": [[1.0, 2.0, 3.0]]}, ValueError, "low: must be 1-D"),
    ({"pred_low": [1.0, float("nan"), 1.0]}, ValueError, "pred_low: every price must be finite"),
    ({"pred_high": [1.0, 0.0, 1.0]}, ValueError, "pred_high: every price"),
    ({"close": ["a", "b", "c"]}, TypeError, "close: must be a 1-D array"),
    ({"fee_rate": 1.0}, ValueError, "fee_rate"),
    ({"fee_rate": -0.1}, ValueError, "fee_rate"),
    ({"fee_rate": "0.1"}, ValueError, "fee_rate"),
])
def test_market_rejects_bad_series(change, error, match):
    fields = dict(close=[100.0, 101.0, 102.0], high=[101.0, 102.0, 103.0], low=[99.0, 100.0, 101.0],
                  pred_high=[102.0, 103.0, 103.0], pred_low=[100.0, 101.0, 101.0])
    fields.update(change)
    with pytest.raises(error, match=match):
        reference_mod.Market(**fields)


def test_make_market_rejects_bad_seed():
    with pytest.raises(TypeError, match="seed"):
        reference_mod.make_market(10, seed=1.5)


# -- the registered pair ---------------------------------------------------------------------------
def _pair():
    (pair,) = select(["profit_kernel"])
    return pair


def test_pair_registered_and_check_passes_on_its_workload():
    pair = _pair()
    assert pair.name == "profit_kernel" and pair.default_size == 256 and len(pair.sizes) >= 2
    with pair.workload(16, 0) as work:
        assert work.inputs.params.shape == (16, 3)
        lows, highs = np.asarray(BOUNDS).T
        assert ((work.inputs.params >= lows) & (work.inputs.params <= highs)).all()
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
        pair.check(ref_out, opt_out)
        assert ref_out.shape == (16,)


def test_pair_check_rejects_a_perturbed_output():
    pair = _pair()
    with pair.workload(16, 0) as work:
        ref_out = pair.bind_side("reference", work.inputs)()
    bad = ref_out.copy()
    bad[3] += 1e-9 * max(1.0, abs(bad[3]))
    with pytest.raises(NotEquivalent, match="differ"):
        pair.check(ref_out, bad)




def test_cuda_benchmark_script_prints_its_table_on_the_cpu_and_refuses_a_missing_gpu(capsys):
    """benchmarks/cuda_profit_kernel.py, the table a lent GPU fills in, run on the CPU here."""
    from benchmarks import cuda_profit_kernel as bench

    assert bench.main(["--device", "cpu", "--sizes", "2", "--samples", "3", "--min-sample-ms", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("2 ")]
    assert [r[1] if r[1] == "reference" else f"{r[1]} {r[2]}" for r in rows] == [
        "reference", "optimized float64", "optimized float32"]
    deviation = {r[1] if r[1] == "reference" else r[2]: float(r[-1]) for r in rows}
    assert deviation["reference"] == 0.0 and deviation["float64"] < 1e-9 and deviation["float32"] < 1e-3
    if not torch.cuda.is_available():
        assert bench.main(["--sizes", "2"]) == 2
        assert "no CUDA device" in capsys.readouterr().err
