"""grid_expansion: one contract for both sides (PEP 399), then the pairs.

``GridContract`` runs against the reference and the optimized module: order, values, ranges,
independence of the configurations, errors. Hypothesis checks that both sides expand any spec to
the same configurations (same types, same key order) and agree on its size.
"""
from __future__ import annotations

import math
from types import ModuleType

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimized import grid_expansion as optimized_mod
from pairbench.registry import NotEquivalent, select
from reference import grid_expansion as reference_mod

SIDES = {"reference": reference_mod, "optimized": optimized_mod}

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=False, allow_infinity=False, width=32) | st.text(max_size=4))
keys = st.text(alphabet=st.sampled_from("abvx0_'\"\\\né."), min_size=1, max_size=3)
float_ranges = st.builds(
    lambda low, n, step, off: {"low": low, "high": round(low + (n - 1) * step + off, 6), "step": step},
    st.sampled_from([0, 0.0, 0.1, -0.33, 1.25, 5]), st.integers(1, 4),
    st.sampled_from([0.05, 0.1, 0.25, 0.5, 1e-3, 2.5]), st.sampled_from([0.0, 1e-12, -1e-12, 0.01]))
int_ranges = st.builds(lambda low, n, step: {"low": low, "high": low + (n - 1) * step, "step": step},
                       st.integers(-5, 5), st.integers(1, 4), st.integers(1, 3))
leaf_specs = (scalars | st.lists(scalars, min_size=1, max_size=3) | st.tuples(scalars, scalars)
              | float_ranges | int_ranges)
specs = st.recursive(
    st.dictionaries(keys, leaf_specs, max_size=4),
    lambda inner: st.dictionaries(keys, leaf_specs | inner, max_size=4),
    max_leaves=8,
)


def as_bytes(configs: list) -> bytes:
    """Configurations with their types and key order (orjson keeps both)."""
    return orjson.dumps(configs)


class GridContract:
    """The semantics both sides share (see reference/grid_expansion.py)."""

    mod: ModuleType

    def expand(self, spec) -> list:
        return list(self.mod.expand_grid(spec))

    # -- order and values ---------------------------------------------------------------------
    def test_last_key_varies_fastest_and_nested_keys_take_their_place(self) -> None:
        spec = {"a": [1, 2], "n": {"x": ["p", "q"], "fixed": 0}, "b": [True, False]}
        got = self.expand(spec)
        assert [(c["a"], c["n"]["x"], c["b"]) for c in got] == [
            (a, x, b) for a in (1, 2) for x in ("p", "q") for b in (True, False)]
        assert all(list(c) == ["a", "n", "b"] and list(c["n"]) == ["x", "fixed"] for c in got)
        assert all(c["n"]["fixed"] == 0 for c in got)

    def test_scalars_are_fixed_and_tuples_are_choices(self) -> None:
        assert self.expand({"s": "BTC", "n": None, "f": 1.5, "t": ("x", "y")}) == [
            {"s": "BTC", "n": None, "f": 1.5, "t": "x"}, {"s": "BTC", "n": None, "f": 1.5, "t": "y"}]

    def test_empty_specs(self) -> None:
        assert self.expand({}) == [{}] and self.mod.grid_size({}) == 1
        assert self.expand({"e": {}, "a": 1}) == [{"e": {}, "a": 1}] and self.mod.grid_size({"e": {}}) == 1

    @pytest.mark.parametrize("rng, values", [
        ({"low": 0, "high": 0.3, "step": 0.1}, [0.0, 0.1, 0.2, 0.3]),
        ({"low": 0.33, "high": 0.7, "step": 0.1}, [0.33, 0.43, 0.53, 0.63]),
        ({"low": 0.0, "high": 1.0, "step": 0.25}, [0.0, 0.25, 0.5, 0.75, 1.0]),
        ({"low": -0.5, "high": 0.5, "step": 0.5}, [-0.5, 0.0, 0.5]),
        ({"low": 1, "high": 10, "step": 3}, [1, 4, 7, 10]),
        ({"low": 1, "high": 9, "step": 3}, [1, 4, 7]),
        ({"low": -3, "high": -0.5, "step": 1}, [-3, -2, -1]),
        ({"low": 2, "high": 2, "step": 5}, [2]),
        ({"low": 1, "high": 2, "step": 0.5}, [1.0, 1.5, 2.0]),
        ({"low": 0, "high": 0.3 - 1e-12, "step": 0.1}, [0.0, 0.1, 0.2, 0.3]),  # within 1e-9 steps
        ({"low": 0, "high": 0.3 - 1e-6, "step": 0.1}, [0.0, 0.1, 0.2]),  # not within
        ({"low": 0, "high": 2e-3, "step": 1e-3}, [0.0, 0.001, 0.002]),
    ])
    def test_ranges(self, rng, values) -> None:
        got = [c["r"] for c in self.expand({"r": rng})]
        assert got == values and [type(v) for v in got] == [type(v) for v in values]
        assert self.mod.grid_size({"r": rng}) == len(values)

    def test_decimals(self) -> None:
        assert [reference_mod.decimals(x) for x in (0.05, 1e-3, 1.5, 2, 0, -0.25, 1e-7)] == [2, 3, 1, 0, 0, 2, 7]

    # -- independence -------------------------------------------------------------------------
    def test_configurations_are_independent_of_each_other_and_of_the_spec(self) -> None:
        spec = {"a": [1, 2, 3], "n": {"x": {"deep": [1, 2]}, "y": 0}, "f": {"k": 1}}
        configs = self.expand(spec)
        dicts = [d for c in configs for d in (c, c["n"], c["n"]["x"], c["f"])]
        assert len({id(d) for d in dicts}) == len(dicts)
        configs[0]["n"]["y"] = 99
        configs[0]["f"]["k"] = 99
        configs[0]["n"]["x"]["deep"] = 99
        assert all(c["n"]["y"] == 0 and c["f"]["k"] == 1 for c in configs[1:])
        assert spec == {"a": [1, 2, 3], "n": {"x": {"deep": [1, 2]}, "y": 0}, "f": {"k": 1}}
        again = self.expand(spec)
        assert again[0]["n"]["y"] == 0

    def test_expansion_is_lazy_and_checks_the_spec_up_front(self) -> None:
        it = self.mod.expand_grid({"a": {"low": 0, "high": 10**5, "step": 1}, "b": [1, 2]})
        assert next(it) == {"a": 0, "b": 1} and next(it) == {"a": 0, "b": 2}
        with pytest.raises(ValueError, match="empty list"):
            self.mod.expand_grid({"a": [1], "b": []})  # raised by the call, before any next()

    def test_the_spec_is_read_when_called(self) -> None:
        spec = {"a": [1, 2], "n": {"b": [3, 4]}}
        it = self.mod.expand_grid(spec)
        spec["a"].append(9)
        spec["n"]["b"] = [0]
        spec["z"] = 5
        assert list(it) == [{"a": a, "n": {"b": b}} for a in (1, 2) for b in (3, 4)]

    # -- bad input ------------------------------------------------------------------------------
    @pytest.mark.parametrize("bad", [None, [("a", [1])], "a", 3])
    def test_spec_not_a_dict(self, bad) -> None:
        for fn in (self.mod.expand_grid, self.mod.grid_size):
            with pytest.raises(TypeError, match="^spec: must be a dict"):
                fn(bad)

    @pytest.mark.parametrize("spec, error, where", [
        ({1: [1]}, TypeError, r"^spec: key 1 must be a str"),
        ({"a": {"b": {None: 1}}}, TypeError, r"^spec\['a'\]\['b'\]: key None must be a str"),
        ({"a": []}, ValueError, r"^spec\['a'\]: empty list of choices"),
        ({"n": {"a": ()}}, ValueError, r"^spec\['n'\]\['a'\]: empty list"),
        ({"a": [1, [2]]}, TypeError, r"^spec\['a'\]\[1\]: a choice must be None, bool, int, float or str"),
        ({"a": [{"x": 1}]}, TypeError, r"^spec\['a'\]\[0\]: a choice must be"),
        ({"a": {"low": 0, "high": 1}}, ValueError, r"^spec\['a'\]: a range needs exactly low, high and step \(missing step\)"),
        ({"a": {"low": 0, "high": 1, "step": 1, "x": 2}}, ValueError, r"unexpected 'x'"),
        ({"a": {"step": 1}}, ValueError, r"missing high, low"),
        ({"a": {"low": "0", "high": 1, "step": 1}}, TypeError, r"^spec\['a'\]\['low'\]: must be a number, got str"),
        ({"a": {"low": 0, "high": True, "step": 1}}, TypeError, r"^spec\['a'\]\['high'\]: must be a number, got bool"),
        ({"a": {"low": 0, "high": math.nan, "step": 1}}, ValueError, r"^spec\['a'\]\['high'\]: must be finite"),
        ({"a": {"low": 0, "high": 1, "step": math.inf}}, ValueError, r"^spec\['a'\]\['step'\]: must be finite"),
        ({"a": {"low": 0, "high": 1, "step": 0}}, ValueError, r"^spec\['a'\]\['step'\]: must be > 0, got 0"),
        ({"a": {"low": 0, "high": 1, "step": -0.1}}, ValueError, r"^spec\['a'\]\['step'\]: must be > 0"),
        ({"n": {"a": {"low": 2, "high": 1, "step": 1}}}, ValueError, r"^spec\['n'\]\['a'\]: low 2 is above high 1"),
        ({"a": {1, 2}}, TypeError, r"^spec\['a'\]: unsupported spec value set"),
        ({"a": b"x"}, TypeError, r"^spec\['a'\]: unsupported spec value bytes"),
        ({"a": [1], "b": [], "c": {"low": 1, "high": 0, "step": 1}}, ValueError, r"^spec\['b'\]"),  # first in order
    ])
    def test_bad_specs_name_the_path(self, spec, error, where) -> None:
        for fn in (self.mod.expand_grid, self.mod.grid_size):
            with pytest.raises(error, match=where):
                fn(spec)

    # -- generated ----------------------------------------------------------------------------
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(specs)
    def test_same_configurations_and_size_as_the_reference(self, spec) -> None:
        expected = list(reference_mod.expand_grid(spec))
        got = self.expand(spec)
        assert as_bytes(got) == as_bytes(expected)
        assert self.mod.grid_size(spec) == len(expected)


class TestReference(GridContract):
    mod = reference_mod


class TestOptimized(GridContract):
    mod = optimized_mod


# -- optimized side ----------------------------------------------------------------------------------
def test_grid_size_does_not_expand() -> None:
    spec = {"a": {"low": 0, "high": 10**6 - 1, "step": 1}, "b": {"low": 0.0, "high": 99.99, "step": 0.01},
            "n": {"c": list(range(100))}}
    assert optimized_mod.grid_size(spec) == 10**6 * 10_000 * 100


def test_keys_that_are_not_identifiers_and_many_or_deep_leaves() -> None:
    spec = {"a'b": [1, 2], 'x"y': {"\\": 3, "\n": [4, 5]}, "é": None, "v0": True, "": {"": [""]}}
    deep: dict = {"top": [1, 2]}
    level = deep
    for i in range(150):  # deeper than Python's parser nests brackets: built by walking
        level["n"] = {"x": [i, -i] if i % 50 == 0 else i}
        level = level["n"]
    wide = {f"k{i}": [i, i + 1] if i < 3 else i for i in range(400)}
    for spec_ in (spec, deep, wide):
        assert as_bytes(list(optimized_mod.expand_grid(spec_))) == as_bytes(list(reference_mod.expand_grid(spec_)))


# -- the pairs ------------------------------------------------------------------------------------
def _pair(name: str):
    return next(p for p in select(["grid_expansion"]) if p.name == name)


@pytest.mark.parametrize("name", ["grid_expansion", "grid_expansion.stream", "grid_expansion.size"])
def test_pairs_are_registered_and_check_passes_on_their_workload(name) -> None:
    pair = _pair(name)
    assert pair.default_size == 100_000 and 100_000 in pair.sizes
    with pair.workload(1_000, 0) as work:
        assert reference_mod.grid_size(work.inputs) == 1_000
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
        pair.check(ref_out, opt_out)


def test_checks_reject_perturbed_outputs() -> None:
    with _pair("grid_expansion").workload(1_000, 0) as work:
        ref = list(reference_mod.expand_grid(work.inputs))
    check = _pair("grid_expansion").check
    swapped = ref[:10] + [ref[11], ref[10]] + ref[12:]
    with pytest.raises(NotEquivalent, match=r"\$\[10\]"):
        check(ref, swapped)
    retyped = [dict(c) for c in ref]
    retyped[3]["warmup_bars"] = 150.0
    with pytest.raises(NotEquivalent, match="types"):
        check(ref, retyped)
    reordered = [dict(reversed(list(c.items()))) for c in ref]
    with pytest.raises(NotEquivalent, match="key order"):
        check(ref, reordered)
    with pytest.raises(NotEquivalent, match="grid size differs"):
        _pair("grid_expansion.size").check(1000, 999)
    with pytest.raises(NotEquivalent):
        _pair("grid_expansion.stream").check((1000, ref[-1]), (999, ref[-1]))


@pytest.mark.parametrize("size", [1, 7, 97, 1_000, 1_024, 10_000, 100_000])
def test_workload_has_exactly_size_configurations(size) -> None:
    with _pair("grid_expansion").workload(size, 3) as a, _pair("grid_expansion").workload(size, 3) as b:
        assert a.inputs == b.inputs
        assert optimized_mod.grid_size(a.inputs) == size
