"""The floors of ``benchmarks/bench_floors.py`` do the work of the side they bound.

Each class's ``setup`` asserts that its floors compute what the optimized side returns (the
configurations, the signatures, the margin-load sums); here every class is set up at its smallest
size and every timed method runs once, so a floor that drifts from its pair fails a test.
"""
from __future__ import annotations

import importlib
import sys

import pytest

from tests.conftest import ROOT


def _floors():
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("benchmarks.bench_floors")
    finally:
        sys.path.remove(str(ROOT))


@pytest.mark.parametrize("name", ["TradeTrackerFloor", "ParamSignatureFloor", "GridExpansionFloor"])
def test_floor_class_sets_up_and_times_the_same_work(name):
    cls = getattr(_floors(), name)
    assert len(cls.params) == 2 and len(cls.param_names) == 1
    size = min(cls.params)
    bench = cls()
    bench.setup(size)
    methods = sorted(m for m in dir(bench) if m.startswith("time_"))
    assert "time_optimized" in methods and "time_reference" in methods
    assert any(m.startswith("time_floor") for m in methods)
    for method in methods:
        getattr(bench, method)(size)


def test_grid_floor_builds_the_configurations_of_the_optimized_side():
    bench = _floors().GridExpansionFloor()
    bench.setup(1_000)
    held = bench.time_floor_hold(1_000)
    assert held == bench.time_optimized(1_000) == bench.time_reference(1_000)
    assert held[0] is not held[1] and held[0]["exit"] is not held[1]["exit"]


def test_signature_floors_sign_as_the_reference():
    bench = _floors().ParamSignatureFloor()
    bench.setup(1_000)
    import reference.param_signature as spec

    expected = [spec.param_signature(p, bench.steps) for p in bench.stream]
    assert bench.time_floor_c(1_000) == bench.time_floor_python(1_000) == expected
