"""Run one side of a pair in a loop until a profiler has enough to show.

Every timed call goes through :func:`pairbench_timed_call`, a marker frame: the stacks a profiler
records are cut to what runs below it (:meth:`profiling.collapsed.FoldedStacks.below`), which
drops the workload setup, the untimed ``reset`` before each call and the profiler's own frames.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator, Optional

from pairbench.registry import Bound, Pair, PairbenchError
from pairbench.sides import SIDES, Sides, one_line

#: default sampling interval of the sampling profilers (1 ms, pyinstrument's and 1000 Hz py-spy's)
DEFAULT_INTERVAL_S = 0.001


def pairbench_timed_call(call: Callable[[], Any]) -> Any:
    """The marker frame: every profiled call of a side runs inside it, and nothing else does."""
    return call()


MARKER = f"{__name__}.{pairbench_timed_call.__qualname__}"


@dataclass
class LoopStats:
    """What a loop did: timed calls, seconds inside them, and seconds overall (resets included)."""

    calls: int
    timed_s: float
    wall_s: float


def resolve_size(pair: Pair, size: Optional[int]) -> int:
    """``size`` or the pair's default size; anything but a positive integer is refused."""
    if size is None:
        return pair.default_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PairbenchError(f"size: must be a positive integer, got {size!r}")
    return size


def check_side(side: str) -> str:
    if side not in SIDES:
        raise PairbenchError(f"impl: must be 'reference', 'optimized' or 'both', got {side!r}")
    return side


def target_seconds(*, min_samples: int, duration: Optional[float],
                   interval_s: float = DEFAULT_INTERVAL_S) -> float:
    """Seconds of timed calls to aim for: ``duration``, or ``min_samples`` sampling intervals."""
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
            raise PairbenchError(f"duration: must be a positive number of seconds, got {duration!r}")
        return float(duration)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise PairbenchError(f"min_samples: must be a positive integer, got {min_samples!r}")
    return min_samples * interval_s


@contextmanager
def bound_side(pair: Pair, side: str, size: int, seed: int = 0) -> Iterator[Sides]:
    """The pair's workload at (size, seed) with ``side`` bound and called once untimed (warm-up);
    closed on exit. A failure to build, bind or run raises :class:`PairbenchError` naming the step."""
    check_side(side)
    with Sides(pair, size, seed, sides=(side,)) as sides:
        sides.first_call(side)
        yield sides


def loop(bound: Bound, *, target_s: float, min_calls: int = 1, max_calls: Optional[int] = None,
         around: Optional[Callable[[], ContextManager]] = None, pair: str = "", side: str = "",
         ) -> LoopStats:
    """Call ``bound`` through the marker until ``target_s`` seconds were spent inside the calls.

    ``reset`` runs before each call, outside the timer; ``around`` (a context-manager factory) is
    entered around each timed call (cProfile enables itself there). At least ``min_calls`` calls,
    at most ``max_calls``.
    """
    call, reset = bound.call, bound.reset
    calls, timed = 0, 0.0
    start = time.perf_counter()
    try:
        while calls < min_calls or timed < target_s:
            if max_calls is not None and calls >= max_calls:
                break
            if reset is not None:
                reset()
            if around is None:
                t0 = time.perf_counter()
                pairbench_timed_call(call)
                timed += time.perf_counter() - t0
            else:
                with around():
                    t0 = time.perf_counter()
                    pairbench_timed_call(call)
                    timed += time.perf_counter() - t0
            calls += 1
    except Exception as exc:
        raise PairbenchError(f"pair {pair!r}: the {side} side raised {one_line(exc)}") from exc
    return LoopStats(calls=calls, timed_s=timed, wall_s=time.perf_counter() - start)
