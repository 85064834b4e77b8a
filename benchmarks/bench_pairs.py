"""The asv suite, generated from the pair registry: one class per pair, parametrised by size.

Each class has ``time_reference``/``time_optimized`` (one call of that side), ``peakmem_*`` and
``track_speedup`` (pairbench's in-process interleaved ratio, unit "x") with its bootstrap 95%
interval as ``track_speedup_ci_low``/``_ci_high``: the three read one measurement per size, taken
once per class in ``setup_cache``, so the interval belongs to the median. Pairs registered by other
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

        out = {}
        for size in self.pair.sizes:
            ms = measure(self.pair, size, samples=7, max_time_s=10.0)
            out[size] = (ms.speedup, ms.ci_low, ms.ci_high)
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
        return cache[size][0]

    def track_speedup_ci_low(self, cache, size):
        return cache[size][1]

    def track_speedup_ci_high(self, cache, size):
        return cache[size][2]

    track_speedup.unit = track_speedup_ci_low.unit = track_speedup_ci_high.unit = "x"


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
