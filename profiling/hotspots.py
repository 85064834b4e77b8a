"""Hot spots of one profile: the top frames by self and by total time, and a one-line verdict.

The verdict is the analysis a performance report does by hand (seed 004: "86% cumulative in
scipy.optimize.direct", "torch.clip 11.7%"), done by the tool: the frame with the most self time,
its share, what kind of work it is (I/O, SQLite, JSON, pydantic, torch, the interpreter running
the side's own code...) and, where the profiler counts calls (cProfile), how often it runs per
item of the workload: "72% of reference time is in sqlite3.Connection.commit (I/O: SQLite commit;
1 call per signature)".
"""
from __future__ import annotations

import linecache
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ._io import atomic_write_text
from .collapsed import SideProfile
from .svg import format_seconds

#: (pattern on the frame name, kind of work); the first match wins
CATEGORIES: Sequence[tuple[str, str]] = (
    (r"^sqlite3\..*\.commit$", "I/O: SQLite commit"),
    (r"^sqlite3\..*\.(execute|executemany|executescript)$", "SQLite statements"),
    (r"^sqlite3\.", "SQLite"),
    (r"^(posix|os|nt)\.(fsync|fdatasync|sync)$", "I/O: fsync"),
    (r"^(posix|os|nt)\.(scandir|listdir|stat|lstat|walk)$|^(glob|fnmatch)\.|^pathlib\..*\.(glob|rglob|iterdir)$",
     "filesystem: directory scan and stat"),
    (r"^(_io|io)\.|^builtins\.open$|^(posix|os|nt)\.(read|write|open|close|replace|rename|unlink)$",
     "I/O: file read/write"),
    (r"^(json|_json|orjson)\.", "JSON encode/decode"),
    (r"^(tomllib|tomli|_toml)", "TOML parsing"),
    (r"^(pydantic|pydantic_core)\.", "pydantic validation"),
    (r"^torch\.", "torch ops"),
    (r"^numpy\.", "numpy"),
    (r"^numba\.", "numba"),
    (r"^scipy\.optimize", "the scipy optimizer"),
    (r"^scipy\.", "scipy"),
    (r"^optuna\.", "optuna"),
    (r"^copy\.", "copying (deepcopy)"),
    (r"^(hashlib|_hashlib|_sha|_md5|_blake2)", "hashing"),
    (r"^time\.sleep$|^select\.|^_thread\..*acquire$|^threading\.", "waiting (sleep, locks)"),
    (r"^(subprocess|_posixsubprocess|multiprocessing)\.", "subprocesses"),
    (r"^(importlib|_frozen_importlib)", "imports"),
    (r"^builtins\.(sorted|list\.sort)$", "sorting"),
)


@dataclass
class FrameStat:
    frame: str
    seconds_per_call: float
    share: float
    calls_per_call: Optional[float] = None


@dataclass
class LineStat:
    frame: str
    filename: str
    lineno: int
    seconds_per_call: float
    share: float

    @property
    def source(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno}"


def _singular(unit: str) -> str:
    return unit[:-1] if unit.endswith("s") and len(unit) > 1 else unit


class Hotspots:
    """The hot spots of a :class:`SideProfile` (times per timed call when the call count is known)."""

    def __init__(self, profile: SideProfile, *, own_prefixes: Sequence[str] = (), top: int = 15) -> None:
        """``own_prefixes``: module prefixes of the pair's code, the profiled side's first (its
        frames are "the side's own Python code"; the others', e.g. helpers the optimized side
        imports from the reference, are named by module)."""
        self.profile = profile
        self.own_prefixes = tuple(own_prefixes)
        self.top = top
        folded = profile.folded
        self.calls = folded.calls
        divide = folded.calls if folded.calls > 0 else 1
        self.total_s = folded.total / divide
        total = folded.total or 1.0
        counts = folded.call_counts

        def stats(times: dict[str, float]) -> list[FrameStat]:
            rows = [FrameStat(f, t / divide, t / total,
                              counts[f] / divide if f in counts and folded.calls > 0 else None)
                    for f, t in times.items()]
            rows.sort(key=lambda r: (-r.seconds_per_call, r.frame))
            return rows

        self.by_self = stats(folded.self_times())
        self.by_total = stats(folded.total_times())
        per_line: dict[tuple[str, str, int], float] = defaultdict(float)
        for (stack, filename, lineno), t in folded.lines.items():
            per_line[(stack[-1], filename, lineno)] += t
        self.by_line = sorted((LineStat(f, fn, ln, t / divide, t / total)
                               for (f, fn, ln), t in per_line.items()),
                              key=lambda r: (-r.seconds_per_call, r.frame, r.lineno))

    def category(self, frame: str) -> str:
        for pattern, kind in CATEGORIES:
            if re.search(pattern, frame):
                return kind
        for i, prefix in enumerate(self.own_prefixes):
            if frame.startswith(prefix):
                return (f"the {self.profile.side} side's own Python code" if i == 0
                        else f"Python code of {prefix.rstrip('.')}")
        return f"{frame.split('.', 1)[0]} code"

    def _calls_note(self, row: FrameStat) -> str:
        if row.calls_per_call is None or row.calls_per_call <= 0:
            return ""
        per_call = row.calls_per_call
        size = self.profile.size
        per_item = per_call / size if size else 0
        unit = _singular(self.profile.size_unit)
        if per_item >= 0.98 and abs(per_item - round(per_item)) < 0.02 * per_item:
            n = round(per_item)
            return f"; {'1 call' if n == 1 else f'{n} calls'} per {unit}"
        if abs(per_call - 1) < 0.02:
            return "; once per timed call"
        return f"; {per_call:,.0f} calls per timed call"

    def _line_note(self, row: FrameStat) -> str:
        """The hottest line of a Python frame, when the profiler recorded lines."""
        mine = [ln for ln in self.by_line if ln.frame == row.frame]
        if not mine or row.seconds_per_call <= 0:
            return ""
        hot = mine[0]
        share = hot.seconds_per_call / row.seconds_per_call
        src = f" `{hot.source}`" if hot.source else ""
        return f"; hottest line {hot.where}{src}, {100 * share:.0f}% of it"

    def verdict(self) -> str:
        """One line: where the time goes."""
        side = self.profile.side
        if not self.by_self or self.total_s <= 0:
            return f"No samples landed in the {side}'s timed call: profile longer (--duration)."
        top = self.by_self[0]
        line = (f"{100 * top.share:.0f}% of {side} time is in {top.frame} "
                f"({self.category(top.frame)}{self._calls_note(top)}{self._line_note(top)})")
        # the biggest subtree under the entry frames, when it tells more than the top self frame
        entry_depth = [r for r in self.by_total if r.share < 0.995]
        if entry_depth and top.share < 0.5:
            sub = entry_depth[0]
            if sub.frame != top.frame and sub.share >= 0.3:
                line += f"; {100 * sub.share:.0f}% is under {sub.frame}"
        return line

    def markdown(self) -> str:
        p = self.profile
        f = p.folded
        lines = [f"# Hot spots: {p.pair}, {p.side} ({p.profiler})", "",
                 f"**Where the time goes:** {self.verdict()}.", ""]
        facts = []
        if p.size > 0:
            facts.append(f"size {p.size} {p.size_unit}" + (
                f" ({p.description})" if p.description and p.description != f"{p.size} {p.size_unit}" else ""))
        if f.calls:
            facts.append(f"{f.calls:,} timed calls, {format_seconds(self.total_s)} per call")
        if f.samples:
            facts.append(f"{f.samples:,} samples")
        facts.append(f"{format_seconds(f.total)} profiled")
        lines += ["Profiled: " + "; ".join(facts) + ".", "",
                  "Times are per timed call of the side (the workload setup and untimed resets are "
                  "left out); frames are `module.qualname`; shares are of the time inside the timed call.",
                  ""]
        with_calls = any(r.calls_per_call is not None for r in self.by_total)
        for heading, rows, what in (("Top frames by self time", self.by_self, "self"),
                                    ("Top frames by total time", self.by_total, "total")):
            lines += [f"## {heading}", ""]
            head = f"| # | frame | {what} per call | share |" + (" calls per call |" if with_calls else "")
            lines += [head, "|" + " --- |" * (head.count("|") - 1)]
            for i, r in enumerate(rows[: self.top], 1):
                row = (f"| {i} | `{r.frame}` | {format_seconds(r.seconds_per_call)} | "
                       f"{100 * r.share:.1f}% |")
                if with_calls:
                    row += f" {r.calls_per_call:,.1f} |" if r.calls_per_call is not None else " |"
                lines.append(row)
            lines.append("")
        if self.by_line:
            lines += ["## Hottest lines (self time by the line the top frame was running)", "",
                      "| # | frame | line | source | self per call | share |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for i, r in enumerate(self.by_line[: self.top], 1):
                src = r.source.replace("|", "\\|")
                lines.append(f"| {i} | `{r.frame}` | {r.where} | `{src}` | "
                             f"{format_seconds(r.seconds_per_call)} | {100 * r.share:.1f}% |")
            lines.append("")
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        return atomic_write_text(Path(path), self.markdown())
