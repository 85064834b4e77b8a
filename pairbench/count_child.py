"""The process the instruction counter starts under callgrind: one side of one pair, counted.

    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no ... \\
        python -m pairbench.count_child SLOT/job.json

The job comes in a file at a path of fixed length, not on the command line: the size of the
arguments and the environment moves the stack, and with it the instruction counts of the
code counted (alignment), so every child gets arguments and an environment of the same shape.

Outside the counted region (valgrind running uninstrumented): build the workload, bind the side,
make the first calls (imports, JIT compiles, cold caches). Then instrumentation starts and two
regions are counted and dumped as parts of the callgrind output: ``probe`` (one call), then
``main`` (``calls`` calls, chosen from the probe so the region holds at least ``--target``
instructions). Collection is on only inside the side's calls: a stateful pair's reset runs with
collection off. The harness's own cost inside the region (the loop and the collection toggles)
is counted the same way on an empty call, ``harness``, and subtracted by the parent.

A job's ``tree`` counts another checkout (a ``git worktree`` of a commit): its ``reference``,
``optimized`` and ``pairbench/pairs`` are imported in place of this one's, with this
environment's packages and this harness. ``plant`` (a fraction; for proving the gate only) slows
the side deterministically by that fraction of its own count: the region repeats
``round(plant x calls)`` extra calls, or where that rounds to none (a few big calls), each call
runs an empty loop fitted to the fraction first.

With ``cprofile`` the child runs the same calls under cProfile instead (no valgrind): Python call counts per
call, which are as deterministic as instruction counts. The result JSON holds ``calls`` and
``description``, or ``{"error": "one line"}`` (exit 2).
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence


def use_tree(tree: Path) -> None:
    """Import ``reference``, ``optimized`` and the built-in pairs from ``tree`` instead of here.

    pairbench's own modules stay this checkout's; one that only ``tree`` has (moved since) is
    still found there, so an older commit's pair modules import.
    """
    import pairbench
    import pairbench.pairs

    for name in ("reference", "optimized"):
        init = tree / name / "__init__.py"
        if not init.is_file():
            raise FileNotFoundError(f"tree: {tree} has no {name}/__init__.py")
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(tree / name)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    pairbench.pairs.__path__[:] = [str(tree / "pairbench" / "pairs")]
    pairbench.__path__.append(str(tree / "pairbench"))


#: what a job file may leave out
JOB_DEFAULTS = {"seed": 0, "tree": None, "pair_module": None, "target": 2e7, "calls": None, "warmup": 2,
                "plant": 0.0, "temp": None, "cprofile": False}


def deterministic_temp_names(folder: str) -> None:
    """Temporary files and folders get the same names in every run, under ``folder``.

    Their names are hashed as strings (a config cache keyed by path, a dict of files), and
    with random names the dict probes, and so the counts, differ from run to run.
    """
    import random
    import tempfile

    os.makedirs(folder, exist_ok=True)
    tempfile.tempdir = folder
    names = tempfile._RandomNameSequence()
    names._rng, names._rng_pid = random.Random(0), os.getpid()
    tempfile._name_sequence = names


def _burn(n: int) -> None:
    for _ in range(n):
        pass


def planted(call: Callable[[], object], fraction: float, counted: Callable[..., int], calls: int
            ) -> Callable[[], None]:
    """``call`` with deterministic extra work worth ``fraction`` of its own instructions: an
    empty loop whose length is fitted (the cost is a line in the loop's length: fixed wrapper
    cost plus a cost per turn) to what it adds over ``calls`` calls, the region that will be
    counted (the extra garbage collections included)."""
    def per_call(fn: Callable[[], object]) -> float:
        return (counted(fn, calls) - counted(lambda: None, calls)) / calls

    own = per_call(call)
    want = fraction * own
    points = []  # (loop length, instructions added per call): the secant method on a line
    n = max(1, int(want / 60))
    for _ in range(3):
        points.append((n, per_call(lambda n=n: (_burn(n), call())) - own))
        if len(points) == 1:
            n *= 2
            continue
        (n0, a0), (n1, a1) = points[-2], points[-1]
        slope = (a1 - a0) / (n1 - n0) if n1 != n0 else a1 / max(n1, 1)
        n = max(1, int(round(n1 + (want - a1) / max(slope, 1e-9))))
    return lambda: (_burn(n), call())


def jit_compiled() -> int:
    """How many numba functions of the sides compiled in this process instead of loading numba's
    cache. A process that compiled is left with another heap than one that loaded (0.2% seen in
    the counted calls), so the parent counts such a job again, with the cache warm."""
    if "numba" not in sys.modules:
        return 0
    from numba.core.dispatcher import Dispatcher

    misses = 0
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("reference", "optimized") or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher):
                misses += sum(value.stats.cache_misses.values())
    return misses


def calls_for(probe: int, target: float) -> int:
    """How many calls make a region of ``target`` instructions, as a power of two (so nearby
    probe counts choose the same number: the per-call figure amortises the interpreter's
    periodic work, a garbage collection every few hundred allocations, over the calls)."""
    calls = max(1, min(1 << 17, int(-(-target // max(probe, 1)))))
    return 1 << (calls - 1).bit_length()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pairbench.count_child", description=__doc__.splitlines()[0])
    ap.add_argument("job", help="the job file (JSON): pair, side, size, seed, result, and optional tree, "
                                "pair_module, target, warmup, plant, temp, cprofile, calls")
    job = json.loads(Path(ap.parse_args(argv).job).read_text())
    args = argparse.Namespace(**{**JOB_DEFAULTS, **job})
    try:
        doc = _run(args)
    except BaseException as exc:  # anything reaches the parent as one line
        if isinstance(exc, KeyboardInterrupt):
            raise
        from pairbench.sides import one_line

        _write(args.result, {"error": str(exc).splitlines()[0] if str(exc).strip() else one_line(exc)})
        return 2
    _write(args.result, doc)
    return 0


def _write(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)


def _run(args: argparse.Namespace) -> dict:
    from pairbench.machine import fix_threads

    fix_threads(1)
    if args.temp:
        deterministic_temp_names(args.temp)
    if args.tree:
        use_tree(Path(args.tree))
    from pairbench.sides import Sides

    from pairbench.registry import find_pair

    pair = find_pair(args.pair, args.pair_module)
    with Sides(pair, args.size, args.seed, sides=(args.side,)) as sides:
        bound = sides.bound[args.side]
        for _ in range(max(1, args.warmup)):
            sides.first_call(args.side)
        call, reset = bound.call, bound.reset
        if args.cprofile:
            return _cprofile(sides, args)
        from . import callgrind as cg

        if not cg.running_on_valgrind():
            raise RuntimeError("count_child: not running under valgrind")
        gc.collect()
        cg.start_instrumentation()

        def counted(fn: Callable[[], None], n: int = 1, name: Optional[str] = None) -> int:
            """Count ``n`` calls of ``fn`` (reset before each, uncounted) as one dumped part.

            Every region starts from the same garbage-collector state: all that exists is
            collected and frozen (the collector stops visiting it), so a region's collections
            visit only what its calls made, whatever ran before it."""
            gc.collect()
            gc.freeze()
            cg.zero_stats()
            if reset is None:  # one collection window around the loop: the least harness cost
                cg.toggle_collect()
                for _ in range(n):
                    fn()
                cg.toggle_collect()
            else:
                for _ in range(n):
                    reset()
                    cg.toggle_collect()
                    fn()
                    cg.toggle_collect()
            cg.dump_stats(name)
            return _last_total()

        probe = sides.call(args.side, lambda b: counted(call, 1, "probe"))
        calls = args.calls or calls_for(probe, args.target)
        extra = round(args.plant * calls)
        if args.plant and not extra:  # one call is too big to repeat a fraction of: extra work
            call = sides.call(args.side, lambda b: planted(b.call, args.plant, counted, calls))
        if calls == 1 and not args.plant:  # the probe was that one call: no need to make it again
            main = "probe"
        else:
            main = "main"
            sides.call(args.side, lambda b: counted(call, calls + extra, main))
        counted(lambda: None, calls + extra, "harness")
        return {"calls": calls, "description": sides.description, "main_part": main,
                "jit_compiled": jit_compiled()}


def _last_total() -> int:
    """The total of the part callgrind just dumped (the child reads its own output)."""
    path = os.environ.get("PAIRBENCH_CALLGRIND_OUT")
    if not path:
        raise RuntimeError("count_child: PAIRBENCH_CALLGRIND_OUT is not set")
    from .callgrind_out import last_part_total

    return last_part_total(path)


def _cprofile(sides, args: argparse.Namespace) -> dict:
    import cProfile
    import pstats

    from profiling.frames import FrameNamer

    bound = sides.bound[args.side]
    calls = args.calls or 1
    prof = cProfile.Profile()
    for _ in range(calls):
        if bound.reset is not None:
            bound.reset()
        prof.enable()
        bound.call()
        prof.disable()
    prof.create_stats()
    namer = FrameNamer()
    counts: dict[str, float] = {}
    for (filename, line, name), (cc, nc, *_rest) in pstats.Stats(prof).stats.items():
        label = namer.cprofile(filename, line, name)
        counts[label] = counts.get(label, 0) + nc / calls
    counts.pop(namer.cprofile("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>"), None)
    return {"calls": calls, "description": sides.description, "call_counts": counts}


if __name__ == "__main__":
    sys.exit(main())
