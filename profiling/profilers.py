"""The three profilers behind ``pairbench profile``: each runs one side and writes its files.

Every profiler yields the same :class:`~profiling.collapsed.SideProfile` (folded stacks cut to the
timed call, with the number of calls), so the SVG, the hot spots and the flame diff never care
which profiler made them. What each writes, in ``<out>/<pair>/<side>/``:

- pyinstrument: ``pyinstrument.html`` and ``pyinstrument.speedscope.json`` (pyinstrument's own
  renderers), ``pyinstrument.folded``, ``pyinstrument.svg``.
- py-spy: ``py-spy.raw.txt`` (the recording as py-spy wrote it), ``py-spy.folded``,
  ``py-spy.svg``, ``py-spy.speedscope.json``.
- cprofile: ``cprofile.prof`` (open with pstats or snakeviz), ``cprofile.folded`` (derived from
  the call graph, see :meth:`FoldedStacks.from_pstats`), ``cprofile.svg``,
  ``cprofile.speedscope.json``.
- callgrind: instructions, not time (see :mod:`profiling.callgrind_profile`): ``callgrind.out``
  (KCachegrind, callgrind_annotate), ``callgrind.folded``, ``callgrind.svg``,
  ``callgrind.speedscope.json``, at the pair's count size.
"""
from __future__ import annotations

import copy
import cProfile
import os
import pstats
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from pairbench.registry import Bound, Pair, PairbenchError

from . import pyspy, runner
from ._io import atomic_move, atomic_write_text
from .collapsed import FoldedStacks, SideProfile
from .frames import FrameNamer
from .speedscope import SpeedscopeRenderer
from .svg import write_flamegraph

_RUNNER_FILE = os.path.realpath(runner.__file__)


def _is_marker_key(key: tuple) -> bool:
    return key[2] == runner.pairbench_timed_call.__name__ and os.path.realpath(key[0]) == _RUNNER_FILE


def _is_marker_identifier(ident: str) -> bool:
    name, _, rest = ident.partition("\x00")
    return name == runner.pairbench_timed_call.__name__ and \
        os.path.realpath(rest.split("\x00", 1)[0]) == _RUNNER_FILE


class Profiler:
    """Runs one side of a pair under a profiler; ``profile`` returns the profile and the files."""

    name = ""
    #: seconds per sample, to turn ``min_samples`` into a duration
    interval_s = runner.DEFAULT_INTERVAL_S

    def collect(self, pair: Pair, side: str, size: int, *, seed: int, target_s: float,
                workdir: Path) -> tuple[SideProfile, list[Path]]:
        raise NotImplementedError

    def size_for(self, pair: Pair, size: Optional[int]) -> int:
        """The size profiled: ``size``, else the pair's default size."""
        return runner.resolve_size(pair, size)

    def hotspots(self, profile: SideProfile, *, own_prefixes: tuple[str, ...] = ()):
        """The hot spots of a profile this profiler made (``.verdict()``, ``.write(path)``)."""
        from .hotspots import Hotspots

        return Hotspots(profile, own_prefixes=own_prefixes)

    def profile(self, pair: Pair, side: str, size: int, *, seed: int, target_s: float,
                out_dir: Path) -> tuple[SideProfile, list[Path]]:
        """Profile, then write the common files (folded stacks, SVG, speedscope) beside the own ones."""
        profile, paths = self.collect(pair, side, size, seed=seed, target_s=target_s, workdir=out_dir)
        if not profile.folded.stacks:
            raise PairbenchError(f"{self.name}: no samples landed in the {side} side's timed calls "
                                 f"of {pair.name!r}; profile longer (--duration)")
        module = getattr(pair, side)
        folded_path = profile.folded.write(out_dir / f"{self.name}.folded")
        svg_path = write_flamegraph(
            profile.folded, out_dir / f"{self.name}.svg", title=f"{pair.name}: {side} ({self.name})",
            subtitle=f"time per call at size {size} {pair.size_unit}; width = share of the call; "
                     f"{module} frames in blue-green",
            highlight=(module + ".",), root_name=f"{side} call")
        out = paths + [folded_path, svg_path]
        if not any(p.name.endswith(".speedscope.json") for p in out):
            out.append(SpeedscopeRenderer(profile.title).write(
                profile.folded, out_dir / f"{self.name}.speedscope.json"))
        return profile, out


class InProcessProfiler(Profiler):
    """A profiler that runs in this process around an already bound side (flamediff reuses it)."""

    def sample(self, bound: Bound, *, target_s: float, pair: str = "", side: str = ""
               ) -> tuple[FoldedStacks, object]:
        raise NotImplementedError

    def run(self, pair: Pair, side: str, size: int, *, seed: int, target_s: float
            ) -> tuple[SideProfile, object]:
        """Build the workload, bind ``side``, call it once untimed (warm-up), then sample it."""
        with runner.bound_side(pair, side, size, seed) as sides:
            folded, raw = self.sample(sides.bound[side], target_s=target_s, pair=pair.name, side=side)
            description = sides.description
        profile = SideProfile(pair.name, side, self.name, size, folded, pair.size_unit, description)
        return profile, raw


class PyinstrumentProfiler(InProcessProfiler):
    """pyinstrument in this process, wall-clock, sampling every ``interval_s``."""

    name = "pyinstrument"

    def __init__(self, interval_s: float = runner.DEFAULT_INTERVAL_S, *, min_samples: int = 0,
                 max_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self.min_samples = min_samples
        self.max_s = max_s

    def sample(self, bound: Bound, *, target_s: float, pair: str = "", side: str = ""
               ) -> tuple[FoldedStacks, object]:
        """Loop an already bound side under pyinstrument: stacks below the marker (with the call
        count) and the pyinstrument session cut to the timed calls.

        pyinstrument samples at the first call or return after each interval, so a side that
        sits in long C calls (a commit waiting on fsync) yields fewer samples than seconds /
        interval: with ``min_samples`` set, the loop goes on until that many samples landed in
        the timed calls, or until ``max(max_s, 10 * target_s)`` seconds of calls.
        """
        from pyinstrument import Profiler as PyiProfiler

        prof = PyiProfiler(interval=self.interval_s, async_mode="disabled")
        calls, timed, remaining = 0, 0.0, target_s
        cap = max(self.max_s, 10 * target_s)
        while True:
            prof.start()
            try:
                stats = runner.loop(bound, target_s=remaining, pair=pair, side=side)
            finally:
                session = prof.stop()  # pyinstrument combines it with the previous sessions
            calls += stats.calls
            timed += stats.timed_s
            cut = _cut_session(session, timed)
            got = cut.sample_count
            if got >= self.min_samples or timed >= cap:
                break
            per_second = got / timed if got and timed > 0 else 1.0 / self.interval_s
            remaining = min(cap - timed, 1.1 * (self.min_samples - got) / per_second)
        folded = FoldedStacks.from_pyinstrument(cut, FrameNamer()).below(runner.MARKER)
        folded.calls = calls
        return folded, cut

    def collect(self, pair, side, size, *, seed, target_s, workdir):
        from pyinstrument.renderers import HTMLRenderer, SpeedscopeRenderer as PyiSpeedscope

        profile, session = self.run(pair, side, size, seed=seed, target_s=target_s)
        paths = [atomic_write_text(workdir / "pyinstrument.html", HTMLRenderer().render(session)),
                 atomic_write_text(workdir / "pyinstrument.speedscope.json",
                                   PyiSpeedscope(show_all=True).render(session))]
        return profile, paths


def _cut_session(session, timed_s: float):
    """The session with only the samples inside the timed calls, each stack rooted at the marker."""
    records = []
    for stack, t in session.frame_records:
        for i, ident in enumerate(stack):
            if _is_marker_identifier(ident):
                records.append((stack[i:], t))
                break
    cut = copy.copy(session)
    cut.frame_records = records
    cut.sample_count = len(records)
    cut.duration = timed_s
    return cut


class CProfileProfiler(InProcessProfiler):
    """cProfile in this process, enabled only around each timed call (deterministic, with overhead)."""

    name = "cprofile"

    def sample(self, bound: Bound, *, target_s: float, pair: str = "", side: str = ""
               ) -> tuple[FoldedStacks, cProfile.Profile]:
        """Loop an already bound side under cProfile: derived stacks below the marker and the profile."""
        prof = cProfile.Profile()

        @contextmanager
        def enabled() -> Iterator[None]:
            prof.enable()
            try:
                yield
            finally:
                prof.disable()

        stats = runner.loop(bound, target_s=target_s, around=enabled, pair=pair, side=side)
        prof.create_stats()
        folded = FoldedStacks.from_pstats(pstats.Stats(prof).stats, root=_is_marker_key,
                                          namer=FrameNamer())
        folded.calls = stats.calls
        return folded, prof

    def collect(self, pair, side, size, *, seed, target_s, workdir):
        profile, prof = self.run(pair, side, size, seed=seed, target_s=target_s)
        workdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cprofile.", suffix=".tmp", dir=workdir)
        os.close(fd)
        try:
            prof.dump_stats(tmp)
            os.chmod(tmp, 0o644)
            path = atomic_move(tmp, workdir / "cprofile.prof")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return profile, [path]


class PySpyProfiler(Profiler):
    """py-spy sampling a child process at ``rate`` Hz (see :mod:`profiling.pyspy`)."""

    name = "py-spy"

    def __init__(self, rate: int = 1000, pair_module: Optional[str] = None) -> None:
        self.rate = rate
        self.interval_s = 1.0 / rate
        self.pair_module = pair_module

    def collect(self, pair, side, size, *, seed, target_s, workdir):
        rec = pyspy.record(pair, side, size, seconds=target_s, seed=seed, rate=self.rate,
                           pair_module=self.pair_module)
        namer = FrameNamer(rec.module_files)
        folded = FoldedStacks.from_pyspy_raw(rec.raw, rate=rec.rate, namer=namer).below(runner.MARKER)
        folded.samples = int(round(folded.total * rec.rate))
        folded.calls = rec.calls
        raw_path = atomic_write_text(workdir / "py-spy.raw.txt", rec.raw)
        return SideProfile(pair.name, side, self.name, size, folded, pair.size_unit,
                           rec.description), [raw_path]


class CallgrindProfiler(Profiler):
    """One counted run under valgrind's callgrind (:mod:`pairbench.count`): instructions per call,
    exact, at the pair's count size; no sampling, so ``min_samples``/``duration`` do not apply."""

    name = "callgrind"

    def __init__(self, pair_module: Optional[str] = None) -> None:
        self.pair_module = pair_module

    def size_for(self, pair: Pair, size: Optional[int]) -> int:
        from pairbench.count import count_size

        return count_size(pair, size)

    def profile(self, pair, side, size, *, seed, target_s, out_dir):
        from pairbench.count import valgrind_path

        from .callgrind_profile import count_side, write_side

        valgrind_path()
        profile = count_side(pair, side, keep=Path(out_dir) / "callgrind.out", size=size, seed=seed,
                             pair_module=self.pair_module)
        return profile, [Path(profile.count.callgrind_file), *write_side(profile, out_dir)]

    def hotspots(self, profile, *, own_prefixes=()):
        from .callgrind_profile import CountedHotspots

        return CountedHotspots(profile, own_prefixes=own_prefixes)


PROFILER_NAMES = ("pyinstrument", "py-spy", "cprofile", "callgrind")


def make_profiler(name: str, *, rate: int = 1000, pair_module: Optional[str] = None,
                  min_samples: int = 0) -> Profiler:
    """The profiler called ``name`` sampling at ``rate`` Hz (pyinstrument: every 1/rate s, going
    on until ``min_samples`` samples landed); an unknown name is a one-line error listing the
    known ones."""
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10_000:
        raise PairbenchError(f"rate: must be an integer from 1 to 10000 samples per second, got {rate!r}")
    if name == "pyinstrument":
        return PyinstrumentProfiler(1.0 / rate, min_samples=min_samples)
    if name == "cprofile":
        return CProfileProfiler()
    if name == "py-spy":
        return PySpyProfiler(rate=rate, pair_module=pair_module)
    if name == "callgrind":
        return CallgrindProfiler(pair_module=pair_module)
    raise PairbenchError(f"profiler: unknown {name!r} (choose from {', '.join(PROFILER_NAMES)})")
