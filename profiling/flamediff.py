"""``pairbench flamediff``: a differential flame graph of a pair's reference against its optimized side.

How it is made:

1. One workload; both sides bound to it and called once untimed (warm-up). Then each side is
   profiled ``runs`` times (pyinstrument by default, or cProfile), the sides alternating and the
   order of each round flipped (ABBA), every run looped to ``min_samples`` intervals of timed calls.
   pyinstrument takes each sample at the first function call or return after its 1 ms tick, so
   a loop that calls nothing and lasts less than a tick lends its time to its neighbours; for
   such code use ``profiler="cprofile"`` (exact attribution, but its per-call overhead inflates
   frames that make many small calls, on both sides alike).
2. Each run is normalised to time per call, and its frames are made side-neutral: a frame of the
   pair's reference or optimized module, or of any ``reference.``/``optimized.`` module, loses that
   prefix (``reference.dedup_store.NoDupeGuard.add`` and ``optimized.dedup_store.NoDupeGuard.add``
   both become ``dedup_store.NoDupeGuard.add``), so shared callees (sqlite3, json, torch ops) and
   same-named functions line up.
3. Every frame of the merged tree (a frame is a stack prefix) has R inclusive times per call on
   each side. A two-sided Mann-Whitney U rank test (``scipy.stats.mannwhitneyu``) compares them.
   A frame is coloured only when p < ``alpha`` *and* the means differ by at least ``min_change``
   (relative to the larger): red when the optimized side spends more time there, blue when less,
   deeper the bigger the change; grey otherwise. The effect threshold keeps the many frames that
   did not change from lighting up on the 1-in-20 chance a rank test gives them.
4. Width is the reference's mean time per call. A frame that only the optimized side has (its
   reference time is 0 in every run) is drawn at its optimized time, hatched; its ancestors widen
   by that much so it fits, which is the only place a width is not the reference's time (the
   tooltip always gives both sides' times). Frames only the reference has are drawn as usual
   (and come out blue when their absence is significant).

Files: the SVG; beside it ``<name>.folded``, the diff in ``difffolded.pl`` format
(``stack count_ref count_opt``, counts in integer nanoseconds per call, the mean over runs of each
stack's self time), readable by ``flamegraph.pl`` and other viewers; ``<name>.md``, the changed
frames in a table; and, when asked, a PNG of the same picture.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from pairbench.registry import Pair, PairbenchError
from pairbench.sides import Sides

from . import runner
from ._io import atomic_write_text
from .collapsed import FoldedStacks, Stack, _clean
from .profilers import CProfileProfiler, InProcessProfiler, PyinstrumentProfiler
from .session import check_pair, pair_dir_name
from .svg import FlameGraphSVG, Node, format_seconds

Progress = Optional[Callable[[str], None]]
DEFAULT_OUT_DIR = Path("pairbench-out/flamediff")
GREY = "rgb(208,208,208)"
DIFF_PROFILERS = ("pyinstrument", "cprofile", "callgrind")


def side_neutral(pair: Pair) -> Callable[[str], str]:
    """Frame renaming that folds the side's module prefix away (see the module docstring)."""
    alias = pair.name.split(".")[0]
    prefixes = [(pair.reference + ".", alias + "."), (pair.optimized + ".", alias + "."),
                ("reference.", ""), ("optimized.", "")]

    def fold(frame: str) -> str:
        for prefix, repl in prefixes:
            if frame.startswith(prefix):
                return repl + frame[len(prefix):]
        return frame

    return fold


@dataclass
class DiffFrame:
    """One frame of the merged tree: per-run inclusive and self seconds per call of each side."""

    stack: Stack
    ref: np.ndarray
    opt: np.ndarray
    ref_self: np.ndarray
    opt_self: np.ndarray
    p_value: float = 1.0
    children: list["DiffFrame"] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.stack[-1] if self.stack else "all"

    @property
    def ref_mean(self) -> float:
        return float(self.ref.mean())

    @property
    def opt_mean(self) -> float:
        return float(self.opt.mean())

    @property
    def only_optimized(self) -> bool:
        return not np.any(self.ref > 0) and bool(np.any(self.opt > 0))

    @property
    def only_reference(self) -> bool:
        return not np.any(self.opt > 0) and bool(np.any(self.ref > 0))

    @property
    def change(self) -> float:
        """(optimized - reference) / the larger of the two means: -1 (gone) .. +1 (new)."""
        big = max(self.ref_mean, self.opt_mean)
        return (self.opt_mean - self.ref_mean) / big if big > 0 else 0.0


@dataclass
class FlameDiff:
    """The merged, tested tree of one flame diff (``root.stack == ()`` is the whole call)."""

    pair: str
    size: int
    runs: int
    profiler: str
    alpha: float
    min_change: float
    root: DiffFrame
    frames: list[DiffFrame]

    def significant(self, f: DiffFrame) -> bool:
        return f.p_value < self.alpha and abs(f.change) >= self.min_change

    def colour(self, f: DiffFrame) -> str:
        if not self.significant(f):
            return GREY
        depth = 0.35 + 0.65 * min(1.0, abs(f.change))
        pale = round(225 * (1 - depth))
        return f"rgb(255,{pale},{pale})" if f.change > 0 else f"rgb({pale},{pale},255)"

    def verdict(self, f: DiffFrame) -> str:
        if f.only_optimized:
            where = "only in optimized"
        elif f.only_reference:
            where = "only in reference"
        else:
            where = ""
        if not self.significant(f):
            word = "no significant difference"
        else:
            word = "slower in optimized" if f.change > 0 else "faster in optimized"
        return f"{word}{' (' + where + ')' if where else ''}"

    def tooltip(self, f: DiffFrame) -> str:
        ratio = (f"{f.ref_mean / f.opt_mean:.3g}x faster" if f.opt_mean > 0 and f.ref_mean >= f.opt_mean
                 else f"{f.opt_mean / f.ref_mean:.3g}x slower" if f.ref_mean > 0 and f.opt_mean > 0 else "")
        lines = [f.name,
                 f"reference: {format_seconds(f.ref_mean)} per call (self {format_seconds(float(f.ref_self.mean()))})",
                 f"optimized: {format_seconds(f.opt_mean)} per call (self {format_seconds(float(f.opt_self.mean()))})",
                 f"change: {100 * f.change:+.0f}%" + (f", {ratio}" if ratio else ""),
                 f"p = {f.p_value:.3g} (Mann-Whitney U, {self.runs} runs per side): {self.verdict(f)}"]
        return "\n".join(lines)

    # -- layout --------------------------------------------------------------------------------
    def tree(self) -> Node:
        """The drawable tree: widths per the module docstring, colours, tooltips, hatching."""

        def build(f: DiffFrame) -> Node:
            node = Node(f.name if f.stack else f"{self.pair}: time per call")
            for c in f.children:
                child = build(c)
                node.children[child.name] = child
            kids = sum(c.value for c in node.children.values())
            if f.only_optimized:
                own, own_self = f.opt_mean, float(f.opt_self.mean())
            else:
                own, own_self = f.ref_mean, float(f.ref_self.mean())
            node.value = max(own, own_self + kids)
            node.self_value = own_self
            node.fill = self.colour(f)
            node.title = self.tooltip(f)
            node.hatched = f.only_optimized
            return node

        return build(self.root)

    def subtitle(self) -> str:
        return (f"width: reference time per call (size {self.size}); red: more time in optimized, "
                f"blue: less (Mann-Whitney U p<{self.alpha:g} over {self.runs} {self.profiler} runs "
                f"per side, change >= {100 * self.min_change:.0f}%); grey: no significant "
                f"difference; hatched: only in optimized")

    def svg(self) -> str:
        return FlameGraphSVG(title=f"flamediff {self.pair}: reference vs optimized",
                             subtitle=self.subtitle()).render(self.tree())

    def difffolded(self) -> str:
        """``stack count_ref count_opt`` per full stack; counts: mean self nanoseconds per call."""
        rows = []
        for f in self.frames:
            r = round(float(f.ref_self.mean()) * 1e9)
            o = round(float(f.opt_self.mean()) * 1e9)
            if f.stack and (r > 0 or o > 0):
                rows.append((max(r, o), ";".join(_clean(x) for x in f.stack), r, o))
        rows.sort(key=lambda row: (-row[0], row[1]))
        return "".join(f"{stack} {r} {o}\n" for _, stack, r, o in rows)

    def markdown(self) -> str:
        changed = [f for f in self.frames if f.stack and self.significant(f)]
        changed.sort(key=lambda f: -abs(f.opt_mean - f.ref_mean))
        total = self.root
        lines = [f"# flamediff: {self.pair}", "",
                 f"Size {self.size}; {self.runs} {self.profiler} runs per side; times are means per call. "
                 f"Whole call: reference {format_seconds(total.ref_mean)}, optimized "
                 f"{format_seconds(total.opt_mean)} (p = {total.p_value:.3g}).", "",
                 f"Frames whose time changed (p < {self.alpha:g} and at least "
                 f"{100 * self.min_change:.0f}%), largest absolute change first:", "",
                 "| frame | reference | optimized | change | p | depth |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for f in changed[:40]:
            lines.append(f"| `{f.name}` | {format_seconds(f.ref_mean)} | {format_seconds(f.opt_mean)} | "
                         f"{100 * f.change:+.0f}% | {f.p_value:.3g} | {len(f.stack)} |")
        if not changed:
            lines.append("| (none) | | | | | |")
        return "\n".join(lines) + "\n"


def rank_test(ref: np.ndarray, opt: np.ndarray) -> np.ndarray:
    """Two-sided Mann-Whitney U p-values, row by row (rows: frames, columns: runs).

    Up to 20 runs per side the p-value is exact (scipy's exact null distribution of U); rows
    where all 2R values are equal (a frame absent from every run) get p = 1.
    """
    from scipy.stats import mannwhitneyu

    p = np.ones(ref.shape[0])
    varied = ~np.all(np.concatenate([ref, opt], axis=1) == ref[:, :1], axis=1)
    if np.any(varied):
        with np.errstate(all="ignore"):
            # exact for the handful of runs a flame diff takes; the normal approximation beyond
            method = "exact" if ref.shape[1] <= 20 else "auto"
            res = mannwhitneyu(ref[varied], opt[varied], alternative="two-sided", axis=1, method=method)
        p[varied] = np.nan_to_num(np.asarray(res.pvalue, dtype=float), nan=1.0)
    return p


def smallest_p(runs: int) -> float:
    """The smallest two-sided p-value the exact rank test can give with ``runs`` per side."""
    return 2.0 / math.comb(2 * runs, runs)


def build_diff(pair: str, ref_runs: list[FoldedStacks], opt_runs: list[FoldedStacks], *, size: int,
               profiler: str, alpha: float = 0.05, min_change: float = 0.10) -> FlameDiff:
    """Merge per-call, side-neutral runs of both sides into a tested :class:`FlameDiff`."""
    runs = len(ref_runs)
    if runs != len(opt_runs) or runs < 1:
        raise ValueError("ref_runs, opt_runs: need the same number of runs (>= 1) per side")
    incl: dict[Stack, np.ndarray] = defaultdict(lambda: np.zeros((2, runs)))
    own: dict[Stack, np.ndarray] = defaultdict(lambda: np.zeros((2, runs)))
    for s, side_runs in enumerate((ref_runs, opt_runs)):
        for r, folded in enumerate(side_runs):
            for stack, t in folded.stacks.items():
                own[stack][s, r] += t
                for k in range(len(stack) + 1):
                    incl[stack[:k]][s, r] += t
    stacks = sorted(incl)
    ref = np.array([incl[k][0] for k in stacks])
    opt = np.array([incl[k][1] for k in stacks])
    pvals = rank_test(ref, opt)
    frames: dict[Stack, DiffFrame] = {}
    zero = np.zeros(runs)
    for i, k in enumerate(stacks):
        o = own.get(k)
        frames[k] = DiffFrame(k, ref[i], opt[i], o[0] if o is not None else zero,
                              o[1] if o is not None else zero, float(pvals[i]))
    for k, f in frames.items():
        if k:
            frames[k[:-1]].children.append(f)
    return FlameDiff(pair, size, runs, profiler, alpha, min_change, frames[()], list(frames.values()))


def _diff_profiler(name: str) -> InProcessProfiler:
    if name == "pyinstrument":
        return PyinstrumentProfiler()
    if name == "cprofile":
        return CProfileProfiler()
    raise PairbenchError(f"profiler: flamediff runs in-process, choose from {', '.join(DIFF_PROFILERS)}, "
                         f"got {name!r}")


def collect_runs(pair: Pair, *, size: int, runs: int, target_s: float, profiler: InProcessProfiler,
                 seed: int = 0, progress: Progress = None) -> tuple[list[FoldedStacks], list[FoldedStacks]]:
    """Profile each side ``runs`` times on one workload, alternating ABBA; per-call, side-neutral."""
    fold = side_neutral(pair)
    out: dict[str, list[FoldedStacks]] = {"reference": [], "optimized": []}
    with Sides(pair, size, seed) as sides:
        for side in runner.SIDES:
            sides.first_call(side)
        for r in range(runs):
            order = runner.SIDES if r % 2 == 0 else runner.SIDES[::-1]
            for side in order:
                if progress is not None:
                    progress(f"{pair.name}: {side} run {r + 1}/{runs}")
                folded, _ = profiler.sample(sides.bound[side], target_s=target_s, pair=pair.name, side=side)
                if not folded.stacks:
                    raise PairbenchError(f"{profiler.name}: no samples in the {side} side's timed calls "
                                         f"of {pair.name!r}; use a longer --duration")
                out[side].append(folded.per_call().map_frames(fold))
    return out["reference"], out["optimized"]


def flamediff_pair(pair: Pair, *, size: Optional[int] = None, runs: int = 5, out: Optional[Path] = None,
                   profiler: str = "pyinstrument", min_samples: int = 500, duration: Optional[float] = None,
                   seed: int = 0, alpha: float = 0.05, min_change: float = 0.10,
                   png: Optional[Path] = None, progress: Progress = None, against: Optional[str] = None,
                   side: str = "optimized") -> list[Path]:
    """Write the differential flame graph of ``pair`` (reference vs optimized) and return the paths:
    the SVG (``out``, default ``pairbench-out/flamediff/<pair>.svg``), the difffolded file and the
    markdown table beside it, and ``png`` when given. Each of the ``runs`` runs per side lasts
    ``min_samples`` sampling intervals (1 ms) of timed calls, or ``duration`` seconds.

    ``profiler="callgrind"``: one counted run per side instead, every frame coloured by its exact
    instruction difference (:mod:`profiling.flamediff_counted`; ``runs``, ``alpha``,
    ``min_change``, ``min_samples`` and ``duration`` do not apply); with ``against=REV`` it
    compares ``side`` at commit REV with ``side`` now."""
    check_pair(pair)
    if profiler == "callgrind":
        from .flamediff_counted import counted_diff, write_counted_diff

        out = Path(out) if out is not None else DEFAULT_OUT_DIR / f"{pair_dir_name(pair.name)}.svg"
        if out.suffix.lower() != ".svg":
            raise PairbenchError(f"out: must name an .svg file, got {str(out)!r}")
        # the folder first: a new entry in the checkout (pairbench-out/) moves the counts made after it
        out.parent.mkdir(parents=True, exist_ok=True)
        diff = counted_diff(pair, size=size, against=against, side=side, seed=seed, progress=progress)
        return write_counted_diff(diff, out, png=Path(png) if png is not None else None)
    if against is not None:
        raise PairbenchError("against: comparing two commits needs profiler='callgrind' (exact counts)")
    size = runner.resolve_size(pair, size)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise PairbenchError(f"runs: must be a positive integer, got {runs!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise PairbenchError(f"alpha: must be between 0 and 1, got {alpha!r}")
    if smallest_p(runs) >= alpha:
        need = next(r for r in range(runs, 64) if smallest_p(r) < alpha)
        raise PairbenchError(f"runs: with {runs} runs per side the rank test can never reach "
                             f"p < {alpha:g}; use at least {need}")
    if not (isinstance(min_change, (int, float)) and 0 <= min_change < 1):
        raise PairbenchError(f"min_change: must be in [0, 1), got {min_change!r}")
    prof = _diff_profiler(profiler)
    target = runner.target_seconds(min_samples=min_samples, duration=duration, interval_s=prof.interval_s)
    out = Path(out) if out is not None else DEFAULT_OUT_DIR / f"{pair_dir_name(pair.name)}.svg"
    if out.suffix.lower() != ".svg":
        raise PairbenchError(f"out: must name an .svg file, got {str(out)!r}")
    ref_runs, opt_runs = collect_runs(pair, size=size, runs=runs, target_s=target, profiler=prof,
                                      seed=seed, progress=progress)
    diff = build_diff(pair.name, ref_runs, opt_runs, size=size, profiler=profiler, alpha=alpha,
                      min_change=min_change)
    paths = [atomic_write_text(out, diff.svg()),
             atomic_write_text(out.with_suffix(".folded"), diff.difffolded()),
             atomic_write_text(out.with_suffix(".md"), diff.markdown())]
    if png is not None:
        from .png import write_png

        paths.append(write_png(diff.tree(), Path(png), title=f"flamediff {pair.name}: reference vs optimized",
                               subtitle=diff.subtitle()))
    return paths
