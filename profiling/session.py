"""``pairbench profile``: profile one or both sides of a pair and write what a session needs.

For each side, into ``<out_dir>/<pair>/<side>/``: the profiler's own files (see
:mod:`profiling.profilers`), folded stacks, an SVG flame graph, a speedscope file, and
``hotspots.md`` (top frames by self and total time, and the one-line verdict).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

from pairbench.registry import Pair, PairbenchError

from . import runner
from .collapsed import SideProfile
from .profilers import make_profiler

Progress = Optional[Callable[[str], None]]
IMPLS = ("both", "reference", "optimized")
DEFAULT_OUT_DIR = Path("pairbench-out/profile")


def pair_dir_name(name: str) -> str:
    """A pair name as a folder name (dots stay, path separators and odd characters do not)."""
    return re.sub(r"[^\w.\-]+", "_", name).strip(".") or "pair"


def sides_of(impl: str) -> tuple[str, ...]:
    if impl not in IMPLS:
        raise PairbenchError(f"impl: must be one of {', '.join(IMPLS)}, got {impl!r}")
    return runner.SIDES if impl == "both" else (impl,)


def check_pair(pair: object) -> Pair:
    if not isinstance(pair, Pair):
        raise PairbenchError(f"pair: expected a pairbench Pair, got {type(pair).__name__}")
    return pair


def own_prefixes(pair: Pair, side: str) -> tuple[str, ...]:
    """The pair's module prefixes, the profiled side's first."""
    other = "optimized" if side == "reference" else "reference"
    return (getattr(pair, side) + ".", getattr(pair, other) + ".")


def profile_side(pair: Pair, side: str, *, profiler: str = "pyinstrument", size: Optional[int] = None,
                 out_dir: Path = DEFAULT_OUT_DIR, min_samples: int = 1000,
                 duration: Optional[float] = None, seed: int = 0, rate: int = 1000,
                 pair_module: Optional[str] = None) -> tuple[SideProfile, list[Path]]:
    """Profile one side; returns its :class:`SideProfile` and the files written (hotspots.md last)."""
    check_pair(pair)
    runner.check_side(side)
    make_profiler(profiler, rate=rate)  # refuses a bad name or rate first
    target = runner.target_seconds(min_samples=min_samples, duration=duration, interval_s=1.0 / rate)
    prof = make_profiler(profiler, rate=rate, pair_module=pair_module,
                         min_samples=0 if duration is not None else min_samples)
    size = prof.size_for(pair, size)
    side_dir = Path(out_dir) / pair_dir_name(pair.name) / side
    side_dir.mkdir(parents=True, exist_ok=True)
    profile, paths = prof.profile(pair, side, size, seed=seed, target_s=target, out_dir=side_dir)
    hot = prof.hotspots(profile, own_prefixes=own_prefixes(pair, side))
    paths.append(hot.write(side_dir / "hotspots.md"))
    return profile, paths


def profile_pair(pair: Pair, *, impl: str = "both", profiler: str = "pyinstrument",
                 size: Optional[int] = None, out_dir: Path = DEFAULT_OUT_DIR, min_samples: int = 1000,
                 duration: Optional[float] = None, seed: int = 0, rate: int = 1000,
                 pair_module: Optional[str] = None, progress: Progress = None) -> list[Path]:
    """Profile ``impl`` ("both", "reference" or "optimized") of ``pair`` with ``profiler``
    ("pyinstrument", "py-spy", "cprofile" or "callgrind") and return the paths written, side by side.
    callgrind counts instructions in one run per side at the pair's count size (``size`` when
    given); ``min_samples``, ``duration`` and ``rate`` do not apply to it.

    Each side is looped on the workload at ``size`` (default: the pair's default size) until
    ``min_samples`` sampling intervals (1/rate s each) of timed calls ran, or for ``duration``
    seconds when given. ``pair_module``: the module whose PAIRS holds the pair, for the py-spy
    child (found by itself for pairs defined in a module with PAIRS). ``progress`` gets one line
    per step. Anything a user can get wrong raises :class:`PairbenchError` with one line.
    """
    check_pair(pair)
    sides = sides_of(impl)
    prof = make_profiler(profiler, rate=rate)  # refuse a bad profiler before any work
    prof.size_for(pair, size)
    runner.target_seconds(min_samples=min_samples, duration=duration)
    written: list[Path] = []
    for side in sides:
        if progress is not None:
            progress(f"{pair.name}: profiling the {side} side with {profiler}")
        profile, paths = profile_side(pair, side, profiler=profiler, size=size, out_dir=out_dir,
                                      min_samples=min_samples, duration=duration, seed=seed,
                                      rate=rate, pair_module=pair_module)
        written.extend(paths)
        if progress is not None:
            verdict = prof.hotspots(profile, own_prefixes=own_prefixes(pair, side)).verdict()
            progress(f"{pair.name} {side}: {verdict}")
    return written
