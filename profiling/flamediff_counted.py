"""``pairbench flamediff --profiler callgrind``: the exact instruction difference of every frame.

A sampled profile is noisy, so the timed flame diff (:mod:`profiling.flamediff`) takes several
runs per side and a rank test per frame. Instruction counts are not noisy: one counted run per
side (:func:`profiling.callgrind_profile.count_side`, at the pair's count size) gives each frame's
instructions per call, and the difference is the difference: no test. Two comparisons:

- reference vs optimized (this checkout);
- ``against=REV``: one side at commit REV (its ``reference``/``optimized``/``pairs``, made by
  :func:`pairbench.trees.tree_of`) vs the same side now (:func:`pairbench.trees.snapshot`, a tree
  of the same shape, so the two are counted from paths of one length).

Every frame whose rounded instructions per call differ is coloured: red where the second (the
optimized side, or now) runs more instructions, blue where fewer, deeper the bigger the relative
change; grey where the count is the same. The frames are callgrind's C functions, stacks rebuilt
from its call edges (see :func:`profiling.callgrind_profile.stacks_of`). Files: the SVG, beside
it ``<name>.folded`` (``stack count_a count_b``, integer instructions per call, the format of
``difffolded.pl``) and ``<name>.md`` (the changed frames); the same tree gives the same files.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Optional

from pairbench.registry import Pair, PairbenchError

from .callgrind_profile import count_side, format_instructions
from .collapsed import _clean
from .flamediff import DiffFrame, FlameDiff, build_diff
from .svg import FlameGraphSVG

Progress = Optional[Callable[[str], None]]


class CountedDiff(FlameDiff):
    """A flame diff of two counted runs: values are instructions per call, differences exact.
    ``labels`` name the two sides compared (``reference``/``optimized``, or ``REV``/``now``)."""

    labels: tuple[str, str] = ("reference", "optimized")

    @staticmethod
    def _counts(f: DiffFrame) -> tuple[int, int]:
        return round(f.ref_mean), round(f.opt_mean)

    def significant(self, f: DiffFrame) -> bool:
        """Any change of the rounded count (the colouring of :class:`FlameDiff` follows it)."""
        a, b = self._counts(f)
        return a != b

    def verdict(self, f: DiffFrame) -> str:
        a, b = self._counts(f)
        first, second = self.labels
        if a == b:
            return "same count"
        where = (f" (only in {second})" if f.only_optimized else f" (only in {first})" if f.only_reference else "")
        return f"{'more' if b > a else 'fewer'} instructions in {second}{where}"

    def tooltip(self, f: DiffFrame) -> str:
        a, b = self._counts(f)
        first, second = self.labels
        return "\n".join([
            f.name,
            f"{first}: {format_instructions(f.ref_mean)} instructions per call "
            f"(self {format_instructions(float(f.ref_self.mean()))})",
            f"{second}: {format_instructions(f.opt_mean)} instructions per call "
            f"(self {format_instructions(float(f.opt_self.mean()))})",
            f"difference: {b - a:+,} ({100 * f.change:+.1f}% of the larger): {self.verdict(f)}"])

    def subtitle(self) -> str:
        first, second = self.labels
        return (f"width: {first}'s instructions per call (size {self.size}); red: more in {second}, blue: "
                f"fewer (deeper: bigger change); grey: same count; hatched: only in {second}; exact")

    def tree(self):
        root = super().tree()
        root.name = f"{self.pair}: instructions per call"
        return root

    def title(self) -> str:
        first, second = self.labels
        return f"flamediff {self.pair}: {first} vs {second} (callgrind instructions)"

    def svg(self) -> str:
        return FlameGraphSVG(title=self.title(), subtitle=self.subtitle()).render(self.tree())

    def difffolded(self) -> str:
        """``stack count_a count_b`` per full stack; counts: self instructions per call, rounded."""
        rows = []
        for f in self.frames:
            a, b = round(float(f.ref_self.mean())), round(float(f.opt_self.mean()))
            if f.stack and (a > 0 or b > 0):
                rows.append((max(a, b), ";".join(_clean(x) for x in f.stack), a, b))
        rows.sort(key=lambda row: (-row[0], row[1]))
        return "".join(f"{stack} {a} {b}\n" for _, stack, a, b in rows)

    def markdown(self) -> str:
        first, second = self.labels
        changed = [f for f in self.frames if f.stack and self.significant(f)]
        changed.sort(key=lambda f: (-abs(f.opt_mean - f.ref_mean), f.stack))
        a, b = self._counts(self.root)
        lines = [f"# flamediff: {self.pair}, {first} vs {second} (callgrind)", "",
                 f"Size {self.size}; one counted run per side; instructions per call of the counted region "
                 f"(the harness loop included, the same on both). Whole region: {first} {a:,}, {second} {b:,} "
                 f"({b - a:+,}).", "",
                 "Frames whose instructions per call changed, largest change first (inclusive counts; "
                 "stacks rebuilt from callgrind's call edges):", "",
                 f"| frame | {first} | {second} | difference | change | depth |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for f in changed[:40]:
            fa, fb = self._counts(f)
            lines.append(f"| `{f.name}` | {fa:,} | {fb:,} | {fb - fa:+,} | {100 * f.change:+.1f}% | {len(f.stack)} |")
        if not changed:
            lines.append("| (none: every frame has the same count) | | | | | |")
        return "\n".join(lines) + "\n"


def counted_diff(pair: Pair, *, size: Optional[int] = None, against: Optional[str] = None,
                 side: str = "optimized", seed: int = 0, pair_module: Optional[str] = None,
                 progress: Progress = None) -> CountedDiff:
    """Count the two sides compared (see the module docstring) and merge them into a diff."""
    from pairbench import trees
    from pairbench.count import count_size, valgrind_path
    from pairbench.sides import check_side

    valgrind_path()
    size = count_size(pair, size)
    if against is None:
        runs = [("reference", None, ".", "reference"), ("optimized", None, ".", "optimized")]
    else:
        check_side(side)
        folder, commit = trees.tree_of(against)
        now = trees.snapshot()
        runs = [(side, str(folder), commit[:12], f"{side} at {against}"), (side, str(now), ".", f"{side} now")]
    folded = []
    with tempfile.TemporaryDirectory(prefix="pairbench-flamediff-") as tmp:
        for i, (which, tree, label, name) in enumerate(runs):
            if progress is not None:
                progress(f"{pair.name}: counting {name} under callgrind")
            prof = count_side(pair, which, keep=Path(tmp) / f"callgrind.out.{i}", size=size, seed=seed,
                              tree=tree, tree_label=label, pair_module=pair_module, python_calls=False)
            folded.append(prof.folded)
    base = build_diff(pair.name, [folded[0]], [folded[1]], size=size, profiler="callgrind", alpha=1.0,
                      min_change=0.0)
    diff = CountedDiff(**{k: getattr(base, k) for k in ("pair", "size", "runs", "profiler", "alpha",
                                                         "min_change", "root", "frames")})
    diff.labels = (runs[0][3], runs[1][3])
    return diff


def write_counted_diff(diff: CountedDiff, out: Path, *, png: Optional[Path] = None) -> list[Path]:
    """The SVG at ``out``, the ``.folded`` and ``.md`` beside it, and ``png`` when given."""
    from ._io import atomic_write_text

    if out.suffix.lower() != ".svg":
        raise PairbenchError(f"out: must name an .svg file, got {str(out)!r}")
    paths = [atomic_write_text(out, diff.svg()),
             atomic_write_text(out.with_suffix(".folded"), diff.difffolded()),
             atomic_write_text(out.with_suffix(".md"), diff.markdown())]
    if png is not None:
        from .png import write_png

        paths.append(write_png(diff.tree(), Path(png), title=diff.title(), subtitle=diff.subtitle()))
    return paths
