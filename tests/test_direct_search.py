"""direct_search: the same tests against both sides, plus exact reproduction of scipy's run.

The reference is ``scipy.optimize.direct`` (one point per call); the optimized side is our own
DIRECT that evaluates each iteration's points in one batch and retraces scipy's run, so beyond
the shared behaviour tests the two must return the same ``x``, ``fun``, ``nfev``, ``nit``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimized.direct_search as optimized_side
import reference.direct_search as reference_side
from pairbench.registry import NotEquivalent, select
from pairbench.pairs._testfunctions import FUNCTIONS, plateau, sphere

SIDES = [pytest.param(reference_side, id="reference"), pytest.param(optimized_side, id="optimized")]


def same_run(a, b) -> bool:
    return (np.array_equal(a.x, b.x) and a.fun == b.fun and a.nfev == b.nfev and a.nit == b.nit
            and a.status == b.status and a.message == b.message and a.success == b.success)


def describe(r) -> str:
    return f"x={r.x!r} fun={r.fun!r} nfev={r.nfev} nit={r.nit} status={r.status}"


class Spy:
    """A ``fun_batch`` that records the batch sizes it was called with."""

    def __init__(self, fun):
        self.fun, self.sizes = fun, []

    def __call__(self, X):
        self.sizes.append(X.shape[0])
        return self.fun(X)


# -- quality and result fields, both sides ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_reaches_known_minimum_within_0_01_percent(name):
    """Both sides stop on f_min_rtol=1e-4 (0.01 %) and the batched one spends the same budget."""
    tf = FUNCTIONS[name]
    ref = reference_side.minimize(tf.fun, tf.bounds, f_min=tf.f_min, maxfun=20_000)
    opt = optimized_side.minimize(tf.fun, tf.bounds, f_min=tf.f_min, maxfun=20_000)
    for r in (ref, opt):
        assert r.status == 3 and r.success, describe(r)
        assert (r.fun - tf.f_min) / abs(tf.f_min) <= 1e-4
    assert opt.nfev <= 1.1 * ref.nfev
    assert same_run(ref, opt), f"{describe(ref)} != {describe(opt)}"


@pytest.mark.parametrize("mod", SIDES)
def test_result_fields_and_bounds(mod):
    tf = FUNCTIONS["branin"]
    r = mod.minimize(tf.fun, tf.bounds, maxfun=200)
    assert isinstance(r.x, np.ndarray) and r.x.shape == (2,) and r.x.dtype == np.float64
    assert isinstance(r.fun, float) and r.fun == pytest.approx(float(tf.fun(r.x[None])[0]))
    assert isinstance(r.nfev, int) and r.nfev > 200          # maxfun is checked per iteration
    assert isinstance(r.nit, int) and r.nit >= 2
    assert r.success is False and r.status == 1 and "maxfun=200" in r.message
    low, high = np.array(tf.bounds).T
    assert np.all(low <= r.x) and np.all(r.x <= high)


@pytest.mark.parametrize("mod", SIDES)
def test_locally_biased_false_and_tolerance_stop(mod):
    tf = FUNCTIONS["six_hump_camel"]
    r = mod.minimize(tf.fun, tf.bounds, locally_biased=False, maxfun=5000, len_tol=1e-3)
    assert r.status == 5 and r.success and "len_tol=0.001" in r.message
    assert r.fun <= tf.f_min + 1e-3


@pytest.mark.parametrize("mod", SIDES)
def test_nan_is_read_as_inf(mod):
    """A NaN is never the best point; a box where the objective is NaN almost everywhere still
    yields the few finite values, and an all-NaN objective ends with fun = inf."""
    def holey(X):
        values = sphere(X)
        return np.where(X[:, 0] > 0.25, values, np.nan)

    r = mod.minimize(holey, [(-1.0, 1.0), (-1.0, 1.0)], maxfun=300)
    assert math.isfinite(r.fun) and r.x[0] > 0.25
    r = mod.minimize(lambda X: np.full(X.shape[0], np.nan), [(0.0, 1.0)], maxfun=30)
    assert r.fun == math.inf and r.status == 1


# -- the optimized side batches --------------------------------------------------------------------
def test_optimized_calls_fun_batch_once_per_iteration():
    tf = FUNCTIONS["hartmann3"]
    spy = Spy(tf.fun)
    r = optimized_side.minimize(spy, tf.bounds, maxfun=300)
    assert spy.sizes[0] == 2 * 3 + 1                    # the centre and its 2d neighbours
    assert len(spy.sizes) == r.nit                      # then one per iteration (scipy counts
                                                        # the start as iteration 1)
    assert sum(spy.sizes) == r.nfev
    assert max(spy.sizes) > 1 and np.mean(spy.sizes) > 4
    ref_spy = Spy(tf.fun)
    reference_side.minimize(ref_spy, tf.bounds, maxfun=300)
    assert set(ref_spy.sizes) == {1} and len(ref_spy.sizes) == r.nfev


# -- exact reproduction of scipy's run ------------------------------------------------------------
EXACT_CASES = [
    ("branin", dict(maxfun=500)),
    ("branin", dict(maxfun=501, locally_biased=False)),
    ("goldstein_price", dict(maxfun=300, eps=0.0)),
    ("six_hump_camel", dict(maxfun=400, eps=-1e-4)),                  # Jones' eps update
    ("hartmann3", dict(maxfun=400, eps=1e-2, locally_biased=False)),
    ("hartmann6", dict(maxfun=600)),
    ("hartmann6", dict(maxfun=600, locally_biased=False, eps=-1e-3)),
    ("shekel5", dict(maxfun=500, locally_biased=False)),
    ("shekel10", dict(maxfun=400, eps=0.0, len_tol=0.0, vol_tol=0.0)),
    ("shekel7", dict(maxfun=10_000, maxiter=7)),                        # stop on maxiter
    ("goldstein_price", dict(maxfun=10_000, maxiter=1)),                # no iteration at all
]


@pytest.mark.parametrize("name,kwargs", EXACT_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EXACT_CASES)])
def test_same_run_as_scipy(name, kwargs):
    tf = FUNCTIONS[name]
    ref = reference_side.minimize(tf.fun, tf.bounds, **kwargs)
    opt = optimized_side.minimize(tf.fun, tf.bounds, **kwargs)
    assert same_run(ref, opt), f"{describe(ref)} != {describe(opt)}"


@pytest.mark.parametrize("locally_biased", [True, False])
def test_same_run_as_scipy_with_many_ties(locally_biased):
    """A staircase objective: most values tie exactly, so the order of equal values in scipy's
    lists decides which rectangle is divided; NaN holes on top."""
    def holey_plateau(X):
        return np.where(X[:, 1] > 1.2, np.nan, plateau(X))

    for fun in (plateau, holey_plateau):
        for maxfun in (150, 700):
            args = (fun, [(-1.0, 2.0), (-1.5, 1.7), (0.0, 1.0)])
            ref = reference_side.minimize(*args, maxfun=maxfun, locally_biased=locally_biased)
            opt = optimized_side.minimize(*args, maxfun=maxfun, locally_biased=locally_biased)
            assert same_run(ref, opt), f"{describe(ref)} != {describe(opt)}"


def test_documented_difference_when_scipy_gives_up_on_ties():
    """scipy's original DIRECT can hold 5000 chosen rectangles; past that (near-ties within
    1e-13 pile up at the optimum) it stops with status -6 and returns as ``x`` the last point it
    evaluated, not the best one (``fun`` is the best value). The optimized side stops at the
    same place with the same ``fun``, ``nfev``, ``nit`` and status, and returns the best point."""
    kwargs = dict(maxfun=10**6, maxiter=60, len_tol=0.0, vol_tol=0.0, eps=0.0, locally_biased=False)
    evaluated = []

    def spy(X):
        evaluated.append(X[-1].copy())
        return sphere(X)

    ref = reference_side.minimize(spy, [(-1.0, 1.3)], **kwargs)
    opt = optimized_side.minimize(sphere, [(-1.0, 1.3)], **kwargs)
    assert ref.status == opt.status == -6
    assert (ref.fun, ref.nfev, ref.nit, ref.message) == (opt.fun, opt.nfev, opt.nit, opt.message)
    assert np.array_equal(ref.x, evaluated[-1])                       # scipy: the last point
    assert sphere(opt.x[None])[0] < sphere(ref.x[None])[0]            # ours: the best one
    assert sphere(opt.x[None])[0] == pytest.approx(opt.fun, abs=1e-20)


def test_optimized_does_not_size_its_store_by_maxfun():
    """A huge budget (scipy would allocate ~1 GiB) costs nothing until points are sampled."""
    r = optimized_side.minimize(sphere, [(-1.0, 1.0)] * 2, maxfun=10**9, maxiter=10**8, len_tol=1e-3)
    assert r.status == 5 and r.nfev < 1000


def quadratic(centre: np.ndarray, scale: np.ndarray):
    def fun(X):
        total = np.zeros(X.shape[0])
        for j in range(X.shape[1]):
            total = total + scale[j] * (X[:, j] - centre[j]) ** 2
        return total
    return fun


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dim=st.integers(1, 4), locally_biased=st.booleans(),
       maxfun=st.integers(1, 300), eps=st.sampled_from([1e-4, 0.0, -1e-4, 0.05]))
def test_random_boxes_and_quadratics(data, dim, locally_biased, maxfun, eps):
    """Random boxes and random convex quadratics: both sides end inside the box, at the same
    point with the same value (the optimized side is exactly as good as scipy's)."""
    floats = st.floats(-1e3, 1e3, allow_nan=False)
    low = np.array(data.draw(st.lists(floats, min_size=dim, max_size=dim)))
    width = np.array(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=dim, max_size=dim)))
    high = low + width
    centre = low + width * np.array(data.draw(st.lists(st.floats(-0.5, 1.5), min_size=dim, max_size=dim)))
    scale = np.array(data.draw(st.lists(st.floats(0.0, 10.0), min_size=dim, max_size=dim)))
    bounds = list(zip(low, high))
    fun = quadratic(centre, scale)
    ref = reference_side.minimize(fun, bounds, maxfun=maxfun, locally_biased=locally_biased, eps=eps)
    opt = optimized_side.minimize(fun, bounds, maxfun=maxfun, locally_biased=locally_biased, eps=eps)
    for r in (ref, opt):
        assert np.all(low <= r.x) and np.all(r.x <= high)
    assert opt.fun <= ref.fun
    assert same_run(ref, opt), f"{describe(ref)} != {describe(opt)}"


# -- bad input ------------------------------------------------------------------------------------
GOOD_BOUNDS = [(0.0, 1.0), (-1.0, 1.0)]


@pytest.mark.parametrize("mod", SIDES)
@pytest.mark.parametrize("bounds,fragment", [
    ([(1.0, 0.0), (0.0, 1.0)], "lower bound must be below"),
    ([(0.5, 0.5)], "lower bound must be below"),
    ([(0.0, 1.0, 2.0)], "(low, high) pairs"),
    ([], "(low, high) pairs"),
    ([[(0.0, 1.0)]], "(low, high) pairs"),
    ([(0.0, np.inf)], "finite"),
    ([(0.0, np.nan)], "finite"),
    ("0,1", "(low, high)"),
])
def test_bad_bounds(mod, bounds, fragment):
    with pytest.raises(ValueError, match="bounds") as err:
        mod.minimize(sphere, bounds)
    assert fragment in str(err.value)


@pytest.mark.parametrize("mod", SIDES)
@pytest.mark.parametrize("kwargs,name", [
    (dict(maxfun=0), "maxfun"), (dict(maxfun=-5), "maxfun"), (dict(maxfun=10.5), "maxfun"),
    (dict(maxfun=True), "maxfun"), (dict(maxiter=0), "maxiter"),
    (dict(locally_biased="yes"), "locally_biased"), (dict(eps=math.nan), "eps"),
    (dict(len_tol=2.0), "len_tol"), (dict(vol_tol=-1.0), "vol_tol"),
    (dict(f_min_rtol=1.5), "f_min_rtol"), (dict(f_min=math.nan), "f_min"),
])
def test_bad_settings(mod, kwargs, name):
    with pytest.raises(ValueError, match=name):
        mod.minimize(sphere, GOOD_BOUNDS, **kwargs)


@pytest.mark.parametrize("mod", SIDES)
def test_fun_batch_not_callable(mod):
    with pytest.raises(TypeError, match="fun_batch"):
        mod.minimize("sphere", GOOD_BOUNDS)


@pytest.mark.parametrize("mod", SIDES)
@pytest.mark.parametrize("bad", [
    lambda X: np.zeros((X.shape[0], 1)),           # (m, 1)
    lambda X: np.zeros(X.shape[0] + 1),            # too many values
    lambda X: 0.0,                                 # a scalar
    lambda X: ["a"] * X.shape[0],                  # not numbers
])
def test_fun_batch_wrong_output(mod, bad):
    with pytest.raises(ValueError, match="fun_batch"):
        mod.minimize(bad, GOOD_BOUNDS, maxfun=20)


# -- the pairs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,size", [("direct_search.profit", 300), ("direct_search.overhead", 120)])
def test_pair_registered_and_check_passes(name, size):
    (pair,) = select([name])
    with pair.workload(size, 0) as work:
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
    pair.check(ref_out, opt_out)


def test_check_rejects_a_perturbed_result():
    (pair,) = select(["direct_search.overhead"])
    with pair.workload(120, 0) as work:
        ref_out = pair.bind_side("reference", work.inputs)()
        opt_out = pair.bind_side("optimized", work.inputs)()
    for field, change in (("fun", lambda v: v + 1e-9), ("nfev", lambda v: v + 2),
                          ("x", lambda v: v + np.array([0.0, 1e-12]))):
        bad = dict(opt_out)
        bad[field] = change(opt_out[field])
        with pytest.raises(NotEquivalent, match=field):
            pair.check(ref_out, type(opt_out)(bad))
