"""param_signature: one contract for both sides (PEP 399), the cache, the pairs.

``SignatureContract`` runs against the reference and the optimized module. Hypothesis checks
that both sides give the same canonical text and signature for any params (and steps), and that
a cache hit never answers for different params (``None`` vs NaN, ``True`` vs ``1``).
"""
from __future__ import annotations

import datetime
import enum
import hashlib
import math
import threading
import uuid
from collections import OrderedDict
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimized import param_signature as optimized_mod
from pairbench.registry import NotEquivalent, select
from reference import param_signature as reference_mod


class Color(enum.Enum):
    RED = "red"
    HALF = 0.5


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    """A str subclass: signs as its str."""


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False)  # near the exponent switch
           | st.text(max_size=6))
keys = st.text(alphabet=st.sampled_from("abcxyz._é\x7f\u2603"), min_size=1, max_size=4)
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
param_dicts = st.dictionaries(keys, values, max_size=6)
step_values = st.sampled_from([0.05, 0.001, 0.5, 1, 0.25, 1e-6, 0.1 + 0.2, 2.5, 10])


def key_paths(params: dict, prefix: str = "") -> list[str]:
    """Every key path of ``params`` (nested dicts as dotted paths)."""
    out = []
    for key, value in params.items():
        path = f"{prefix}{key}"
        out.append(path)
        if isinstance(value, dict):
            out.extend(key_paths(value, path + "."))
    return out


@st.composite
def params_and_steps(draw):
    params = draw(param_dicts)
    paths = key_paths(params)
    chosen = draw(st.lists(st.sampled_from(paths), max_size=4)) if paths else []
    steps = {path: draw(step_values) for path in chosen} if draw(st.booleans()) else None
    return params, steps


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class SignatureContract:
    """The semantics both sides share (see reference/param_signature.py)."""

    mod: ModuleType

    def sign(self, params, steps=None):
        return self.mod.param_signature(params, steps)

    # -- the canonical form -------------------------------------------------------------------
    def test_signature_is_sha256_of_the_compact_sorted_json(self) -> None:
        params = {"b": 2, "a": 0.5, "c": {"z": True, "y": None}, "d": [1, "x"]}
        text = '{"a":0.5,"b":2,"c":{"y":null,"z":true},"d":[1,"x"]}'
        assert self.mod.canonical_json(params) == text
        assert self.sign(params) == sha(text)
        assert self.mod.param_signature(params) == sha(text)  # DESIGN's one-argument call

    def test_key_order_never_matters(self) -> None:
        a = {"x": 1, "y": {"p": 0.25, "q": "s"}, "z": [1, 2]}
        b = {"z": [1, 2], "y": {"q": "s", "p": 0.25}, "x": 1}
        assert self.sign(a) == self.sign(b)

    @pytest.mark.parametrize("same", [1.0, 1, -0.0 + 1, Level.LOW])
    def test_integral_floats_sign_as_ints(self, same) -> None:
        assert self.sign({"a": same}) == self.sign({"a": 1})
        assert self.sign({"a": -0.0}) == self.sign({"a": 0}) == self.sign({"a": 0.0})
        assert self.mod.canonical_json({"a": 1e20}) == '{"a":100000000000000000000}'

    def test_bools_are_not_ints(self) -> None:
        assert self.sign({"a": True}) != self.sign({"a": 1})
        assert self.sign({"a": False}) != self.sign({"a": 0})
        assert self.sign({"a": None}) != self.sign({"a": 0})

    def test_tuples_sign_as_lists_and_subclasses_as_their_base(self) -> None:
        assert self.sign({"a": (1, 2.0)}) == self.sign({"a": [1, 2]})
        assert self.sign({Name("k"): Name("v")}) == self.sign({"k": "v"})
        assert self.sign(OrderedDict(k=[OrderedDict(x=1)])) == self.sign({"k": [{"x": 1}]})

    def test_enum_signs_as_its_value_and_uuid_as_its_string(self) -> None:
        assert self.sign({"c": Color.RED, "h": Color.HALF}) == self.sign({"c": "red", "h": 0.5})
        u = uuid.UUID(int=12345)
        assert self.sign({"id": u}) == self.sign({"id": str(u)})

    def test_non_ascii_and_control_text_is_escaped(self) -> None:
        assert self.mod.canonical_json({"é": "\u2603\x7f\n"}) == '{"\\u00e9":"\\u2603\\u007f\\n"}'

    def test_small_and_large_floats_use_python_repr(self) -> None:
        assert self.mod.canonical_json({"a": 1e-05, "b": 0.00012, "c": 123456.789}) == (
            '{"a":1e-05,"b":0.00012,"c":123456.789}')

    def test_big_ints_are_exact(self) -> None:
        assert self.mod.canonical_json({"a": 2**80, "b": -(2**70)}) == f'{{"a":{2**80},"b":{-(2**70)}}}'

    # -- steps --------------------------------------------------------------------------------
    @pytest.mark.parametrize("step, decimals", [(0.05, 2), (1e-3, 3), (0.5, 1), (1, 0), (1.0, 0),
                                                (1000, 0), (0.25, 2), (1e-7, 7), (0.1 + 0.2, 17)])
    def test_step_decimals(self, step, decimals) -> None:
        assert self.mod.step_decimals(step) == decimals

    @pytest.mark.parametrize("bad", [0, -0.1, math.nan, math.inf, True, "0.1", None])
    def test_step_decimals_refuses_non_steps(self, bad) -> None:
        with pytest.raises((TypeError, ValueError), match="step"):
            self.mod.step_decimals(bad)

    def test_floats_round_to_their_steps_decimals(self) -> None:
        steps = {"a": 0.1, "n.b": 0.05, "l": 0.5}
        raw = {"a": 0.1 + 0.2, "n": {"b": 0.35000000000000003}, "l": [2.5000000001, 1.0], "c": 0.1 + 0.2}
        assert self.mod.canonical_json(raw, steps) == '{"a":0.3,"c":0.30000000000000004,"l":[2.5,1],"n":{"b":0.35}}'
        assert self.sign(raw, steps) == self.sign({"a": 0.3, "n": {"b": 0.35}, "l": [2.5, 1], "c": 0.1 + 0.2})

    def test_rounding_to_an_integer_gives_an_int(self) -> None:
        assert self.mod.canonical_json({"a": 2.9999999}, {"a": 0.5}) == '{"a":3}'
        assert self.mod.canonical_json({"a": -0.0001}, {"a": 0.01}) == '{"a":0}'

    def test_steps_never_change_ints_and_absent_paths_are_ignored(self) -> None:
        assert self.sign({"a": 7}, {"a": 0.5, "missing": 0.1}) == self.sign({"a": 7})

    def test_dotted_top_level_key_and_nested_path_share_a_step(self) -> None:
        steps = {"a.b": 0.1}
        assert self.mod.canonical_json({"a.b": 0.12, "a": {"b": 0.16}}, steps) == '{"a":{"b":0.2},"a.b":0.1}'

    def test_enum_step_counts_as_its_value(self) -> None:
        class Step(enum.Enum):
            FINE = 0.05
        assert self.sign({"a": 0.1 + 0.2}, {"a": Step.FINE}) == self.sign({"a": 0.3})

    # -- bad input ------------------------------------------------------------------------------
    @pytest.mark.parametrize("bad", [None, [("a", 1)], "a=1", 3])
    def test_params_not_a_dict(self, bad) -> None:
        with pytest.raises(TypeError, match=r"^params: must be a dict"):
            self.sign(bad)

    @pytest.mark.parametrize("params, where", [({1: "x"}, r"^params: key 1"),
                                               ({"a": {2.5: 1}}, r"^params\['a'\]: key 2.5"),
                                               ({"a": [{"b": {None: 1}}]}, r"^params\['a.b'\]: key None")])
    def test_non_str_keys(self, params, where) -> None:
        with pytest.raises(TypeError, match=where):
            self.sign(params)

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
    @pytest.mark.parametrize("wrap", [lambda v: {"x": v}, lambda v: {"n": {"x": v}}, lambda v: {"x": [1, v]}])
    def test_non_finite_floats_name_the_key(self, bad, wrap) -> None:
        with pytest.raises(ValueError, match=r"params\['(x|n\.x)'\]: must be finite"):
            self.sign(wrap(bad))
        with pytest.raises(ValueError, match="must be finite"):
            self.sign(wrap(bad), {"x": 0.1, "n.x": 0.1})

    @pytest.mark.parametrize("bad", [{1, 2}, b"bytes", 1 + 2j, object(), frozenset()])
    def test_unsupported_types_name_the_key(self, bad) -> None:
        with pytest.raises(TypeError, match=r"params\['k.v'\]: unsupported value type"):
            self.sign({"k": {"v": bad}})

    @pytest.mark.parametrize("steps, error, where", [
        ([("a", 0.1)], TypeError, r"^steps: must be a mapping"),
        ({"a": 0}, ValueError, r"^steps\['a'\]"), ({"a": -1.0}, ValueError, r"^steps\['a'\]"),
        ({"a": math.nan}, ValueError, r"^steps\['a'\]"), ({"a": True}, TypeError, r"^steps\['a'\]"),
        ({"a": "0.1"}, TypeError, r"^steps\['a'\]"), ({"a": None}, TypeError, r"^steps\['a'\]"),
        ({"a": [0.1]}, TypeError, r"^steps\['a'\]"), ({1: 0.1}, TypeError, r"^steps\[1\]"),
    ])
    def test_bad_steps_name_steps(self, steps, error, where) -> None:
        with pytest.raises(error, match=where):
            self.sign({"a": 0.5}, steps)

    def test_bad_steps_are_reported_before_bad_params(self) -> None:
        with pytest.raises(ValueError, match=r"^steps\['a'\]"):
            self.sign({"a": math.nan}, {"a": -1})

    # -- failures are never remembered as answers ---------------------------------------------
    def test_a_valid_call_never_answers_for_an_invalid_one(self) -> None:
        self.sign({"a": None, "b": 1})
        with pytest.raises(ValueError, match="must be finite"):
            self.sign({"a": math.nan, "b": 1})
        self.sign({"a": 0.5}, {"a": 1})
        with pytest.raises(TypeError, match="steps"):
            self.sign({"a": 0.5}, {"a": True})
        self.sign({"when": "2024-01-02"})
        with pytest.raises(TypeError, match="unsupported value type date"):
            self.sign({"when": datetime.date(2024, 1, 2)})

    def test_repeated_calls_agree(self) -> None:
        params = {"a": 0.1 + 0.2, "n": {"x": [1, 2.5]}}
        first = self.sign(params, {"a": 0.1})
        assert all(self.sign(dict(params), {"a": 0.1}) == first for _ in range(3))

    # -- generated ----------------------------------------------------------------------------
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(params_and_steps())
    def test_same_text_and_signature_as_the_reference(self, case) -> None:
        params, steps = case
        expected_text = reference_mod.canonical_json(params, steps)
        assert self.mod.canonical_json(params, steps) == expected_text
        assert self.sign(params, steps) == sha(expected_text)
        assert self.sign(params, steps) == sha(expected_text)  # a second time: from the cache

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(param_dicts, st.randoms(use_true_random=False))
    def test_any_key_order_signs_alike(self, params, rnd) -> None:
        items = list(params.items())
        rnd.shuffle(items)
        assert self.sign(dict(items)) == self.sign(params)


class TestReference(SignatureContract):
    mod = reference_mod


class TestOptimized(SignatureContract):
    mod = optimized_mod


# -- the cache (optimized side) -------------------------------------------------------------------
def test_cache_is_bounded() -> None:
    cache = optimized_mod.SignatureCache(maxsize=8)
    for i in range(100):
        assert cache.signature({"i": i}) == reference_mod.param_signature({"i": i})
        assert cache.cache_info().currsize <= 8
    assert cache.cache_info().currsize == 8
    cache.cache_clear()
    assert cache.cache_info().currsize == 0


def test_cache_hits_repeats_and_reports() -> None:
    cache = optimized_mod.SignatureCache(maxsize=100)
    params = {"a": 0.1 + 0.2, "n": {"b": [1, 2]}}
    cache.signature(params, {"a": 0.1})
    cache.signature(dict(params), {"a": 0.1})
    info = cache.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (1, 1, 100)
    optimized_mod.cache_clear()
    optimized_mod.param_signature(params)
    assert optimized_mod.cache_info().currsize == 1
    assert optimized_mod.cache_info().maxsize == optimized_mod.DEFAULT_MAXSIZE


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_cache_refuses_a_bad_maxsize(bad) -> None:
    with pytest.raises(ValueError, match="maxsize"):
        optimized_mod.SignatureCache(bad)


LOOKALIKES = [None, math.nan, math.inf, True, False, 1, 1.0, 0, -0.0, "null", "1", Color.RED, "red",
              Color.HALF, 0.5, Level.LOW, uuid.UUID(int=7), str(uuid.UUID(int=7)), (1,), [1], {"x": 1},
              {"x": True}, [True], datetime.date(2024, 1, 2), "2024-01-02", Name("red"), 2**64, 2**64 + 0.0]


def outcome(sign, params, steps=None):
    """The signature, or the kind of error raised."""
    try:
        return sign(params, steps)
    except (TypeError, ValueError) as exc:
        return type(exc).__name__


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LOOKALIKES), st.sampled_from(LOOKALIKES),
                          st.sampled_from([None, {"a": 0.5}, {"a": True}, {"a": 1}, {"a": Color.HALF}])),
                min_size=1, max_size=12))
def test_cache_never_answers_for_a_lookalike(calls) -> None:
    """Values that compare or serialise alike (None/NaN, True/1, an Enum and its value) share a
    cache entry only where the reference signs them alike."""
    cache = optimized_mod.SignatureCache(maxsize=16)
    for a, b, steps in calls:
        params = {"a": a, "n": {"b": b}}
        assert outcome(cache.signature, params, steps) == outcome(reference_mod.param_signature, params, steps)


PLAN_VALUES = st.one_of(scalars, st.sampled_from(LOOKALIKES), st.floats(-1e-3, 1e-3),
                        st.lists(scalars, max_size=2), st.dictionaries(keys, scalars, max_size=2))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(PLAN_VALUES, PLAN_VALUES, PLAN_VALUES), min_size=2, max_size=6),
       st.sampled_from([None, {"a": 0.05}, {"n.x": 0.5, "a": 1}, {"n.x": 0.001}]))
def test_compiled_plan_of_a_shape_writes_the_reference_text(rows, steps) -> None:
    """From a shape's second sight on, its text comes from a compiled plan: any values (floats
    small, integral, stepped; bools; None; a list or dict where the plan saw a scalar) still give
    the reference's text and errors, the plan falling back where its slots do not fit."""
    for a, x, y in rows:
        params = {"a": a, "n": {"x": x, "y": y}}
        assert outcome(optimized_mod.canonical_json, params, steps) == outcome(
            reference_mod.canonical_json, params, steps)


def test_a_plan_is_compiled_on_the_second_sight_of_a_shape() -> None:
    places = optimized_mod._places(None, None)
    params = {"plan_probe": 0.5, "plan_nested": {"k": 2.0}}
    shape = tuple(params)
    optimized_mod.canonical_json(params)
    assert places.plans.get(shape, "absent") is None  # seen once: written by the generic path
    assert optimized_mod.canonical_json(dict(params, plan_probe=1.0)) == '{"plan_nested":{"k":2},"plan_probe":1}'
    assert callable(places.plans[shape])


def test_threads_hammering_one_cache_get_the_reference_strings() -> None:
    from pairbench.pairs.param_signature import STEPS, param_stream

    stream = param_stream(300, seed=3, duplicate_rate=0.5)
    expected = [reference_mod.param_signature(p, STEPS) for p in stream]
    cache = optimized_mod.SignatureCache(maxsize=64)  # small: evictions race with lookups
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            order = stream[index:] + stream[:index]
            got = [cache.signature(p, STEPS) for p in order]
            results[index] = got[len(stream) - index:] + got[:len(stream) - index]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(got == expected for got in results.values()) and len(results) == 8
    assert cache.cache_info().currsize <= 64


# -- the pairs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["param_signature", "param_signature.cold"])
def test_pair_is_registered_and_check_passes_on_its_workload(name) -> None:
    (pair,) = [p for p in select(["param_signature"]) if p.name == name]
    assert pair.stateful and pair.default_size == 10_000
    with pair.workload(200, 0) as work:
        stream, steps = work.inputs
        ref, opt = pair.bind_side("reference", work.inputs), pair.bind_side("optimized", work.inputs)
        opt.reset()
        ref_out, opt_out = ref(), opt()
        pair.check(ref_out, opt_out)
        assert len(ref_out) == 200
        repeats = 200 - len(set(ref_out))
        assert (repeats > 30) == (name == "param_signature")
        with pytest.raises(NotEquivalent, match="reference="):
            pair.check(ref_out, opt_out[:5] + ["0" * 64] + opt_out[6:])
