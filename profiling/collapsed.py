"""Folded ("collapsed") stacks: the one data model every profiler is converted into.

A :class:`FoldedStacks` maps each distinct stack (root first, frames named ``module.qualname`` by
:mod:`profiling.frames`) to the *self* time, in seconds, spent with exactly that stack. The text
form is Brendan Gregg's: one line per stack, ``frame;frame;frame COUNT``; pairbench writes COUNT
as integer microseconds, so files from the three profilers add up in the same unit.

Converters: :meth:`FoldedStacks.from_pyinstrument` (its sample records, exact per sample),
:meth:`FoldedStacks.from_pyspy_raw` (py-spy ``-f raw`` output, samples / rate),
:meth:`FoldedStacks.from_pstats` (cProfile: derived from the call graph, approximately; see there).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from ._io import atomic_write_text
from .frames import FrameNamer

Stack = tuple[str, ...]

#: the text form's unit: counts are microseconds
MICROSECONDS = 1e6

_PYSPY_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def _clean(frame: str) -> str:
    """A frame name safe in the folded text form (no ';', no newline, no trailing space)."""
    return frame.replace(";", ":").replace("\n", " ").strip() or "?"


@dataclass
class FoldedStacks:
    """Self time in seconds per distinct stack (root first).

    calls: the number of timed calls these stacks cover (0: unknown), so times can be divided
        into time per call. samples: how many samples a sampling profiler took (0: none, e.g.
        cProfile). call_counts: calls per frame name, where the profiler counts them (cProfile).
        lines: self time by (stack, file, line) of the line the top frame was running, where
        the profiler knows it (pyinstrument, py-spy), for the hot spots' "hottest lines".
    """

    stacks: dict[Stack, float] = field(default_factory=dict)
    calls: int = 0
    samples: int = 0
    call_counts: dict[str, float] = field(default_factory=dict)
    lines: dict[tuple[Stack, str, int], float] = field(default_factory=dict)

    # -- summaries ---------------------------------------------------------------------------
    @property
    def total(self) -> float:
        return float(sum(self.stacks.values()))

    def self_times(self) -> dict[str, float]:
        """Seconds each frame spent on top of the stack (its own code)."""
        out: dict[str, float] = defaultdict(float)
        for stack, t in self.stacks.items():
            if stack:
                out[stack[-1]] += t
        return dict(out)

    def total_times(self) -> dict[str, float]:
        """Seconds each frame was anywhere on the stack (a recursive frame counts once per stack)."""
        out: dict[str, float] = defaultdict(float)
        for stack, t in self.stacks.items():
            for frame in set(stack):
                out[frame] += t
        return dict(out)

    # -- transformations -----------------------------------------------------------------------
    def map_frames(self, fn: Callable[[str], Optional[str]]) -> "FoldedStacks":
        """Rename every frame with ``fn`` (``None`` drops the frame); equal stacks merge."""
        out: dict[Stack, float] = defaultdict(float)
        for stack, t in self.stacks.items():
            renamed = tuple(n for n in (fn(f) for f in stack) if n is not None)
            if renamed:
                out[renamed] += t
        counts: dict[str, float] = defaultdict(float)
        for frame, n in self.call_counts.items():
            new = fn(frame)
            if new is not None:
                counts[new] += n
        lines: dict[tuple[Stack, str, int], float] = defaultdict(float)
        for (stack, filename, lineno), t in self.lines.items():
            renamed = tuple(n for n in (fn(f) for f in stack) if n is not None)
            if renamed:
                lines[(renamed, filename, lineno)] += t
        return replace(self, stacks=dict(out), call_counts=dict(counts), lines=dict(lines))

    def below(self, marker: str) -> "FoldedStacks":
        """Only the stacks that pass through ``marker``, cut to the frames called from it.

        The runner calls each timed call through a marker function, so this drops the profiler's
        own frames, the workload setup and the untimed resets in one step.
        """
        def cut(stack: Stack) -> Stack:
            return stack[stack.index(marker) + 1:] if marker in stack else ()

        out: dict[Stack, float] = defaultdict(float)
        for stack, t in self.stacks.items():
            rest = cut(stack)
            if rest:
                out[rest] += t
        lines: dict[tuple[Stack, str, int], float] = defaultdict(float)
        for (stack, filename, lineno), t in self.lines.items():
            rest = cut(stack)
            if rest:
                lines[(rest, filename, lineno)] += t
        return replace(self, stacks=dict(out), lines=dict(lines))

    def scaled(self, factor: float) -> "FoldedStacks":
        return replace(self, stacks={s: t * factor for s, t in self.stacks.items()},
                       call_counts={f: n * factor for f, n in self.call_counts.items()},
                       lines={k: t * factor for k, t in self.lines.items()})

    def per_call(self) -> "FoldedStacks":
        """Seconds per timed call (and calls per timed call); needs ``calls``."""
        if self.calls <= 0:
            raise ValueError("calls: unknown, cannot normalise to time per call")
        return replace(self.scaled(1.0 / self.calls), calls=1)

    # -- text form -----------------------------------------------------------------------------
    def to_text(self, *, scale: float = MICROSECONDS) -> str:
        """Folded text, counts in integer microseconds (``scale`` x the stored value: 1 for
        stacks that hold instruction counts), heaviest stacks first; empty counts dropped."""
        lines = []
        for stack, t in sorted(self.stacks.items(), key=lambda kv: (-kv[1], kv[0])):
            count = round(t * scale)
            if count > 0 and stack:
                lines.append(";".join(_clean(f) for f in stack) + f" {count}")
        return "\n".join(lines) + ("\n" if lines else "")

    def write(self, path: Path, *, scale: float = MICROSECONDS) -> Path:
        return atomic_write_text(Path(path), self.to_text(scale=scale))

    @classmethod
    def parse(cls, text: str, *, unit: float = 1.0 / MICROSECONDS) -> "FoldedStacks":
        """Folded text (``a;b;c COUNT`` per line) to stacks; each count is multiplied by ``unit``.

        Lines without a numeric count are refused with their line number.
        """
        out: dict[Stack, float] = defaultdict(float)
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip()
            if not line:
                continue
            stack_text, _, count_text = line.rpartition(" ")
            try:
                count = float(count_text)
            except ValueError:
                raise ValueError(f"folded stacks: line {lineno} has no count: {raw[:80]!r}") from None
            frames = tuple(f for f in stack_text.split(";") if f) if stack_text.strip() else ()
            if frames:
                out[frames] += count * unit
        return cls(stacks=dict(out))

    @classmethod
    def read(cls, path: Path, *, unit: float = 1.0 / MICROSECONDS) -> "FoldedStacks":
        return cls.parse(Path(path).read_text(encoding="utf-8"), unit=unit)

    # -- converters ------------------------------------------------------------------------------
    @classmethod
    def from_pyinstrument(cls, session: Any, namer: Optional[FrameNamer] = None) -> "FoldedStacks":
        """A pyinstrument ``Session``: each frame record is one sample with its measured time."""
        namer = namer or FrameNamer()
        names: dict[str, str] = {}
        out: dict[Stack, float] = defaultdict(float)
        lines: dict[tuple[Stack, str, int], float] = defaultdict(float)
        for identifiers, t in session.frame_records:
            stack = []
            for ident in identifiers:
                if ident not in names:
                    names[ident] = _clean(namer.pyinstrument(ident))
                stack.append(names[ident])
            key = tuple(stack)
            out[key] += float(t)
            where = _pyinstrument_line(identifiers[-1]) if identifiers else None
            if where is not None:
                lines[(key, *where)] += float(t)
        return cls(stacks=dict(out), samples=len(session.frame_records), lines=dict(lines))

    @classmethod
    def from_pyspy_raw(cls, text: str, *, rate: int, namer: Optional[FrameNamer] = None) -> "FoldedStacks":
        """py-spy ``record -f raw`` output (frames ``qualname (file:line)``), each sample 1/rate s.

        Frames are named by function (py-spy gives qualnames); the line of the top frame is kept
        in ``lines``.
        """
        if rate <= 0:
            raise ValueError(f"rate: must be > 0, got {rate}")
        namer = namer or FrameNamer()
        names: dict[str, str] = {}
        out: dict[Stack, float] = defaultdict(float)
        lines: dict[tuple[Stack, str, int], float] = defaultdict(float)
        samples = 0
        for frames, count in _parse_counts(text):
            samples += int(count)
            stack = []
            for frame in frames:
                if frame not in names:
                    m = _PYSPY_FRAME.match(frame)
                    names[frame] = _clean(namer.python(m["file"], 0, m["name"], qualified=True)
                                          if m else frame)
                stack.append(names[frame])
            if stack:
                key = tuple(stack)
                out[key] += count / rate
                m = _PYSPY_FRAME.match(frames[-1])
                if m:
                    lines[(key, m["file"], int(m["line"]))] += count / rate
        return cls(stacks=dict(out), samples=samples, lines=dict(lines))

    @classmethod
    def from_pstats(cls, stats: Mapping, *, root: Callable[[tuple], bool],
                    namer: Optional[FrameNamer] = None, min_share: float = 1e-6,
                    max_depth: int = 256, keep_unfollowed: bool = False) -> "FoldedStacks":
        """Folded stacks derived from a cProfile call graph (``pstats.Stats(...).stats``).

        cProfile keeps, per function, its own and cumulative time and, per caller edge, the time
        spent in calls from that caller; it does not keep whole stacks. The stacks are rebuilt
        from the roots (the functions ``root(key)`` picks) down: a path that reaches function f
        with time T gives f the self time T * tottime(f) / cumtime(f), and each callee g the time
        T * cumtime(f -> g) / cumtime(f). That is gprof's assumption: a function splits its time
        between itself and its callees the same way whoever called it. It is exact when each
        function has one caller, and approximate when a function is called from several places
        with different costs. Recursive edges are not followed (cProfile's cumtime already holds
        them); paths under ``min_share`` of the total or deeper than ``max_depth`` stop there.
        With ``keep_unfollowed`` the time of an edge not followed (recursive, or under
        ``min_share``) stays as self time of the frame it leaves, so the stacks add up to the
        roots' total: right where a caller's cumulative time includes its recursive calls'
        (callgrind's inclusive costs), wrong for cProfile's.
        """
        namer = namer or FrameNamer()
        children: dict[tuple, dict[tuple, float]] = defaultdict(dict)
        for callee, (_cc, _nc, _tt, _ct, callers) in stats.items():
            for caller, edge in callers.items():
                children[caller][callee] = float(edge[3])
        names: dict[tuple, str] = {}

        def name(key: tuple) -> str:
            if key not in names:
                names[key] = _clean(namer.cprofile(*key))
            return names[key]

        roots = [k for k in stats if root(k)]
        out: dict[Stack, float] = defaultdict(float)
        grand = sum(float(stats[r][3]) for r in roots) or 1.0
        floor = grand * min_share

        def walk(key: tuple, t: float, path: tuple, keys: frozenset) -> None:
            ct = float(stats[key][3])
            tt = float(stats[key][2])
            kids = {g: c for g, c in children.get(key, {}).items() if g not in keys and g in stats}
            if ct <= 0 or len(path) >= max_depth:
                out[path] += t
                return
            scale = t / ct
            own = tt
            if keep_unfollowed:
                own += sum(c for g, c in children.get(key, {}).items() if g not in kids)
            for g, edge_ct in kids.items():
                sub = edge_ct * scale
                if sub >= floor and sub > 0:
                    walk(g, sub, path + (name(g),), keys | {g})
                elif keep_unfollowed:
                    own += edge_ct
            out[path] += own * scale

        for r in roots:
            for g, edge_ct in children.get(r, {}).items():
                if g in stats and edge_ct > 0:
                    walk(g, edge_ct, (name(g),), frozenset({r, g}))
        counts: dict[str, float] = defaultdict(float)
        for key, (_cc, nc, *_rest) in stats.items():
            if not root(key):
                counts[name(key)] += nc
        stacks = {s: t for s, t in out.items() if s and t > 0}
        return cls(stacks=stacks, call_counts=dict(counts))


def _pyinstrument_line(identifier: str) -> Optional[tuple[str, int]]:
    """(file, line) a pyinstrument leaf frame was running, or None (C functions, no line)."""
    main, *attrs = identifier.split("\x01")
    parts = main.split("\x00")
    if len(parts) < 2 or parts[1] in ("<built-in>", "<thread>"):
        return None
    for a in attrs:
        if a.startswith("l") and a[1:].isdigit():
            return parts[1], int(a[1:])
    return None


def _parse_counts(text: str) -> Iterable[tuple[list[str], float]]:
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        stack_text, _, count_text = line.rpartition(" ")
        try:
            count = float(count_text)
        except ValueError:
            continue
        frames = [f for f in stack_text.split(";") if f]
        yield frames, count


@dataclass
class SideProfile:
    """One side of one pair under one profiler: the stacks below the timed call, and their context."""

    pair: str
    side: str
    profiler: str
    size: int
    folded: FoldedStacks
    size_unit: str = "items"
    description: str = ""

    @property
    def title(self) -> str:
        return f"{self.pair} {self.side} ({self.profiler}, size {self.size})"
