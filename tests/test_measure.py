"""The measurement engine: statistics, interleaving, one-off cost, equivalence before timing."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pairbench import measure as m
from pairbench.equivalence import assert_equivalent, differences
from pairbench.registry import Bound, NotEquivalent, Pair, PairbenchError, Workload


@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=40))
@settings(max_examples=40, deadline=None)
def test_median_ci_brackets_the_median(values):
    med, lo, hi = m.median_ci(values)
    assert med == pytest.approx(float(np.median(values)))
    assert lo <= med <= hi
    assert min(values) - 1e-9 <= lo and hi <= max(values) + 1e-9


def test_median_ci_rejects_empty():
    with pytest.raises(ValueError, match="values"):
        m.median_ci([])


@pytest.mark.parametrize("slope", [0.0, 0.5, 1.0, 2.0])
def test_loglog_slope_recovers_power_laws(slope):
    sizes = [10, 100, 1000, 10000]
    assert m.loglog_slope(sizes, [3e-6 * s**slope for s in sizes]) == pytest.approx(slope, abs=1e-9)
    assert math.isnan(m.loglog_slope([5], [1.0]))


def _sleepy_pair(ref_s, opt_s, *, check=None, log=None, reset=False):
    """A pair whose sides sleep for known times, logging the order of calls."""
    log = log if log is not None else []

    def bind(mod, inputs):
        delay = ref_s if mod.__name__ == "json" else opt_s
        name = "ref" if mod.__name__ == "json" else "opt"

        def call():
            log.append(name)
            time.sleep(delay)
            return inputs

        if reset:
            return Bound(call, reset=lambda: log.append(name + "-reset"))
        return call

    return Pair(name="sleepy", summary="sleeps", reference="json", optimized="pickle",
                workload=lambda size, seed: Workload(size), bind=bind,
                check=check or (lambda a, b: assert_equivalent(a, b)), sizes=(1, 2), default_size=1,
                floor=1.0, stateful=reset)


def test_measure_finds_a_known_ratio_and_interleaves():
    log = []
    res = m.measure(_sleepy_pair(0.004, 0.001, log=log), samples=6, min_sample_s=0.003, warmup_s=0.0)
    assert res.equivalent and res.samples == 6
    assert 2.0 < res.speedup < 6.0 and res.ci_low <= res.speedup <= res.ci_high
    # after the first (one-off) call of each side, sides alternate in ABBA blocks
    timed = log[-(6 * (res.reference_calls_per_sample + res.optimized_calls_per_sample)):]
    firsts = [timed[0]]
    for a, b in zip(timed, timed[1:]):
        if a != b:
            firsts.append(b)
    assert firsts.count("ref") >= 3 and firsts.count("opt") >= 3


def test_measure_resets_untimed_before_every_call():
    log = []
    m.measure(_sleepy_pair(0.001, 0.001, log=log, reset=True), samples=3, min_sample_s=0.001, warmup_s=0.0)
    calls = [x for x in log if not x.endswith("reset")]
    assert log.count("ref-reset") == calls.count("ref") and log.count("opt-reset") == calls.count("opt")


def test_stateful_flag_must_match_the_binding():
    p = _sleepy_pair(0.0, 0.0, reset=True)
    import dataclasses

    with pytest.raises(PairbenchError, match="stateful"):
        m.measure(dataclasses.replace(p, stateful=False), samples=3)


def test_different_outputs_are_reported_not_timed_when_asked():
    def check(a, b):
        raise NotEquivalent("output differs:\n  $: reference=1 optimized=2")

    res = m.measure(_sleepy_pair(0.0, 0.0, check=check), samples=3, time_if_different=False)
    assert not res.equivalent and res.samples == 0 and "reference=1" in res.equivalence_error


def test_a_side_that_raises_is_a_side_error_naming_pair_and_side():
    def bind(mod, inputs):
        def call():
            if mod.__name__ == "pickle":
                raise RuntimeError("boom")
            return 1
        return call

    p = Pair(name="broken", summary="s", reference="json", optimized="pickle",
             workload=lambda n, s: Workload(n), bind=bind, check=lambda a, b: None, sizes=(1, 2),
             default_size=1, floor=1.0)
    with pytest.raises(m.SideError, match="pair 'broken': the optimized side raised RuntimeError: boom"):
        m.measure(p, samples=3)


def test_sweep_fits_slopes_over_sizes():
    def bind(mod, n):
        per = 2e-5 if mod.__name__ == "json" else 2e-6
        return lambda: time.sleep(per * n)

    p = Pair(name="lin", summary="s", reference="json", optimized="pickle", workload=lambda n, s: Workload(n),
             bind=bind, check=lambda a, b: None, sizes=(10, 100), default_size=100, floor=1.0)
    sw = m.sweep(p, 100, p.sizes, samples=3, sweep_samples=3, min_sample_s=0.002)
    assert [pt.size for pt in sw.points] == [10, 100]
    assert 0.4 < sw.reference_slope < 1.3
    assert sw.as_dict()["sweep"][1]["size"] == 100


def test_differences_are_readable():
    ref = {"a": 1, "b": [1.0, 2.0], "c": np.array([1, 2, 3])}
    opt = {"a": 1, "b": [1.0, 2.5], "c": np.array([1, 2, 4]), "d": 0}
    diffs = differences(ref, opt)
    assert "$['b'][1]: reference=2.0 optimized=2.5" in diffs
    assert any("$['c']: 1 of 3 elements differ" in d for d in diffs)
    assert any("only in optimized" in d for d in diffs)
    assert differences(1.0, 1.0 + 1e-13, rtol=1e-12) == []
    with pytest.raises(NotEquivalent, match="reference=2.0"):
        assert_equivalent(ref, opt)
