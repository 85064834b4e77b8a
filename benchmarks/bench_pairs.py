"""The asv suite, generated from the pair registry: one class per pair, parametrised by size.

Each class has ``time_reference``/``time_optimized`` (one call of that side), ``peakmem_*`` and
``track_speedup`` (pairbench's in-process interleaved ratio, unit "x") with its bootstrap 95%
interval as ``track_speedup_ci_low``/``_ci_high``: the three read one measurement per size, taken
once per class in ``setup_cache``, so the interval belongs to the median.

asv reads every ``track_`` figure as lower-is-better (it has no higher-is-better flag), so a
falling speedup shows in ``asv compare`` as an improvement. ``track_cost_ratio`` (optimized time /
reference time, unit "ratio", with ``_ci_low``/``_ci_high``) is the same measurement the right way
up: a regression raises it, and ``asv continuous`` fails on it. For counted pairs
(``counting="instructions"``) ``track_instructions_reference``/``_optimized`` are both sides'
instructions per call under callgrind (:mod:`pairbench.count`), exact for a tree and an
interpreter build, so a step in them is a real change. They are counted only at the pair's count
size (``pair.size_for(count=True)``), the size the instruction gate compares: counting both sides
there took 5-60 s per pair (4.6 min for the 13 counted pairs, on a shared 2-core machine), and the
larger sizes cost up to 10x more each (grid_expansion at 100,000 runs 10x the instructions of
10,000). At the other sizes, for pairs that are not counted and where valgrind is missing, they
are skipped (asv's ``SkipNotImplemented``, shown as n/a); a count that fails fails them. Each
side is counted in its own benchmark, so ``asv run --bench time_`` pays nothing for counting.
Pairs registered by other
distributions (entry-point group ``pairbench.pairs``) get classes too: adding a pair needs no edit
here. Workloads are built once per process and size; pairs whose calls need a fresh state
(``stateful``) take one call per sample with the reset done, untimed, in ``setup``.
"""
import atexit
import re
import sys
import types

from pairbench.registry import all_pairs

_LIVE = {}  # (pair name, size) -> Sides (the workload and both sides bound, first calls made)


def _close_all():
    for sides in _LIVE.values():
        sides.close()
    _LIVE.clear()


atexit.register(_close_all)


def _sides(pair, size):
    """Both sides of ``pair`` bound at ``size``, built once per process; the first call of each
    (JIT compile, cold caches) is made here, outside the timings."""
    key = (pair.name, size)
    if key not in _LIVE:
        from pairbench.sides import SIDES, Sides

        sides = Sides(pair, size, 0)
        try:
            for side in SIDES:
                sides.first_call(side)
        except BaseException:
            sides.close()
            raise
        _LIVE[key] = sides
    return _LIVE[key].bound


class _PairBenchmark:
    """Base of the generated classes; ``pair`` is set on each subclass."""

    pair = None
    timeout = 600.0

    def setup_cache(self):
        from pairbench.measure import measure

        out = {"timed": {}}
        for size in self.pair.sizes:
            ms = measure(self.pair, size, samples=7, max_time_s=10.0)
            out["timed"][size] = (ms.speedup, ms.ci_low, ms.ci_high)
        return out

    def setup(self, cache, size):
        self._bound = _sides(self.pair, size)
        for b in self._bound.values():
            if b.reset is not None:
                b.reset()

    def time_reference(self, cache, size):
        self._bound["reference"].call()

    def time_optimized(self, cache, size):
        self._bound["optimized"].call()

    def peakmem_reference(self, cache, size):
        self._bound["reference"].call()

    def peakmem_optimized(self, cache, size):
        self._bound["optimized"].call()

    def track_speedup(self, cache, size):
        return cache["timed"][size][0]

    def track_speedup_ci_low(self, cache, size):
        return cache["timed"][size][1]

    def track_speedup_ci_high(self, cache, size):
        return cache["timed"][size][2]

    track_speedup.unit = track_speedup_ci_low.unit = track_speedup_ci_high.unit = "x"

    # optimized time / reference time: the speedup's reciprocal, so its interval's ends swap
    def track_cost_ratio(self, cache, size):
        return 1.0 / cache["timed"][size][0]

    def track_cost_ratio_ci_low(self, cache, size):
        return 1.0 / cache["timed"][size][2]

    def track_cost_ratio_ci_high(self, cache, size):
        return 1.0 / cache["timed"][size][1]

    track_cost_ratio.unit = track_cost_ratio_ci_low.unit = track_cost_ratio_ci_high.unit = "ratio"

    def track_instructions_reference(self, cache, size):
        return _instructions(self.pair, size, "reference")

    def track_instructions_optimized(self, cache, size):
        return _instructions(self.pair, size, "optimized")

    track_instructions_reference.unit = track_instructions_optimized.unit = "instructions"


def _skip(why):
    try:
        from asv_runner.benchmarks.mark import SkipNotImplemented
    except ImportError:  # older asv: a NotImplementedError raised by the benchmark is a skip
        SkipNotImplemented = NotImplementedError
    raise SkipNotImplemented(why)


def _plugin_module(pair):
    """The module holding a plugin pair's ``PAIRS`` (None for a built-in pair), with the folder it
    is imported from put on ``PYTHONPATH``: asv puts a plugin on this process's ``sys.path`` only,
    and the counting child finds its pair by importing that module."""
    import importlib.util
    import os

    if pair.source == "builtin":
        return None
    spec = importlib.util.find_spec(pair.source.split(".")[0])
    if spec is not None and (spec.submodule_search_locations or spec.origin):
        # a package's folder, or a lone module's file: the folder above it is the one to import from
        folder = os.path.dirname(list(spec.submodule_search_locations or [spec.origin])[0])
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if folder not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [folder, *paths]))
    return pair.source


def _instructions(pair, size, side):
    """``side``'s instructions per call at ``size`` (pairbench's counting engine, in a child under
    callgrind), counted here, in the benchmark that reports it, so that a run of the other
    benchmarks pays nothing for counting. Skipped (asv's ``SkipNotImplemented``, shown n/a) for
    a pair that is not counted, where valgrind is missing and at sizes other than the pair's count
    size; a count that fails fails the benchmark: a broken count is not a skip."""
    if not getattr(pair, "counted", False):
        _skip(f"{pair.name} is not counted (counting={getattr(pair, 'counting', '?')!r})")
    from pairbench.count import Job, count_size, run_jobs, valgrind_path
    from pairbench.registry import PairbenchError

    try:
        valgrind_path()
    except PairbenchError as exc:
        _skip(str(exc))
    counted_at = count_size(pair)
    if size != counted_at:
        _skip(f"counted at size {counted_at} only")
    (count,) = run_jobs([Job(pair.name, side, size, pair_module=_plugin_module(pair))])
    if count.error:
        raise RuntimeError(f"counting failed: {side}: {count.error}")
    return count.instructions


def _class_name(pair_name):
    # kept here (not imported) so this suite also runs against commits older than the helper
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", pair_name) if part)


def _own_setup_cache(class_name):
    """A copy of ``setup_cache`` that asv files under its own key: asv keys cached setup results
    by the function's module and first line, which every generated class would otherwise share
    (and hand one pair's measurements to another)."""
    module_name = f"{__name__}.{class_name}"
    module = sys.modules.get(module_name) or types.ModuleType(module_name)
    module.__file__ = __file__
    sys.modules[module_name] = module
    base = _PairBenchmark.setup_cache
    func = types.FunctionType(base.__code__, base.__globals__, base.__name__, base.__defaults__, base.__closure__)
    func.__module__ = module_name
    func.__qualname__ = f"{class_name}.setup_cache"
    return func


def _suite_classes():
    classes = {}
    for pair in all_pairs():
        attrs = {
            "pair": pair,
            "params": [list(pair.sizes)],
            "param_names": [pair.size_unit],
            "__doc__": f"{pair.name}: {pair.summary}",
            "setup_cache": _own_setup_cache(_class_name(pair.name)),
        }
        if pair.stateful:
            attrs.update(number=1, repeat=(3, 10, 20.0), warmup_time=0)
        classes[_class_name(pair.name)] = type(_class_name(pair.name), (_PairBenchmark,), attrs)
    return classes


globals().update(_suite_classes())
