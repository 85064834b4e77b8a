"""``pairbench report``, the instruction history: both sides' instructions per call across commits
(asv's ``track_instructions_reference``/``_optimized``), drawn beside the timed speedup.

Counts are exact for a tree and an interpreter build, so the history is a flat line where nothing
changed and a step where something did. A step of the optimized side over the instruction gate's
threshold (``pairbench.instruction_gate.DEFAULT_THRESHOLD``, 2%) is marked as a regression with
its commit; any other step is listed as a change. One PNG per counted pair,
``<Class>.instructions.png``, and an HTML section per pair for ``index.html``.
"""
from __future__ import annotations

import html
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .asv_results import Point, Recorded, _num, by_class_and_size, results_by_size
from .instruction_gate import DEFAULT_THRESHOLD
from .jsonio import atomic_write_bytes
from .plot import commit_axis, label_commits, readable_log_axis, size_order, speedup_whiskers

SIDES = ("reference", "optimized")
_KEY = re.compile(r"^bench_pairs\.(?P<cls>[A-Za-z0-9_]+)\.track_instructions_(?P<side>reference|optimized)$")


@dataclass
class CountPoint(Recorded):
    """Both sides' instructions per call of one pair at one size on one commit."""

    reference: float = math.nan
    optimized: float = math.nan


@dataclass
class Step:
    """A change of one side's count between two consecutive commits."""

    side: str
    old: CountPoint
    new: CountPoint
    threshold: float = DEFAULT_THRESHOLD

    @property
    def growth(self) -> float:
        a, b = getattr(self.old, self.side), getattr(self.new, self.side)
        return b / a - 1 if a > 0 else math.inf

    @property
    def regression(self) -> bool:
        """The optimized side grew by more than the gate's threshold (the gate would FAIL it)."""
        return self.side == "optimized" and self.growth > self.threshold

    def line(self) -> str:
        a, b = getattr(self.old, self.side), getattr(self.new, self.side)
        what = "regression" if self.regression else "change"
        growth = f"{self.growth:+.2%}" if abs(self.growth) >= 1e-4 else f"{self.growth:+.4%}"  # never "-0.00%"
        return (f"{what}: {self.side} {a:,.0f} -> {b:,.0f} instructions per call ({growth}) "
                f"at {self.new.commit[:8]} (after {self.old.commit[:8]})")


def load_counts(results_dir: str | Path, *, machine: Optional[str] = None) -> dict[str, dict[str, list[CountPoint]]]:
    """``{asv class: {size: [CountPoint per commit, oldest first]}}``: the sizes and commits where
    asv recorded a count (skipped sizes, with no count, are left out)."""
    points: dict[tuple[str, str, str], CountPoint] = {}
    for res, m, size, val, _stats, _samples in results_by_size(results_dir, _KEY, machine=machine):
        v = _num(val)
        if not math.isfinite(v):
            continue
        pt = points.setdefault((m["cls"], size, res.commit_hash), CountPoint(res.commit_hash, float(res.date or 0), size))
        setattr(pt, m["side"], v)
    return by_class_and_size(points, results_dir)


def steps(points: list[CountPoint], *, threshold: float = DEFAULT_THRESHOLD) -> list[Step]:
    """Every change of a side's count between consecutive commits (counts are exact: any change
    is a change; :attr:`Step.regression` says which the gate would fail)."""
    found = []
    for old, new in zip(points, points[1:]):
        for side in SIDES:
            a, b = getattr(old, side), getattr(new, side)
            if math.isfinite(a) and math.isfinite(b) and a != b:
                found.append(Step(side, old, new, threshold))
    return found


def draw(name: str, counts: dict[str, list[CountPoint]], speed: dict[str, list[Point]],
         marked: list[Step]) -> bytes:
    """Instructions per call of both sides over commits (left), the timed speedup at the same
    sizes over the same commits (right); regressions marked with their commit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xpos = commit_axis(list(counts.values()) + [speed.get(size, []) for size in counts])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for size, pts in sorted(counts.items(), key=size_order):
        xs = [xpos[p.commit] for p in pts]
        line, = ax1.plot(xs, [p.reference for p in pts], "--o", label=f"reference @ {size}")
        ax1.plot(xs, [p.optimized for p in pts], "-s", color=line.get_color(), label=f"optimized @ {size}")
        sp = [p for p in speed.get(size, []) if p.commit in xpos and math.isfinite(p.speedup)]
        if sp:
            speedup_whiskers(ax2, xpos, sp, color=line.get_color(), label=f"size {size}")
    for st in marked:
        x, y = xpos[st.new.commit], st.new.optimized
        ax1.plot([x], [y], marker="v", color="red", markersize=14, zorder=5)
        ax1.annotate(f"regression {st.growth:+.1%}\nat {st.new.commit[:8]}", (x, y), xytext=(-12, -6),
                     textcoords="offset points", color="red", fontsize=8, ha="right", va="top")
    ax1.set_yscale("log")
    readable_log_axis(ax1.yaxis, "")
    ax1.set_ylabel("instructions per call (callgrind)")
    ax1.set_title(f"{name}: instructions per call over commits")
    ax1.legend(fontsize=7)
    ax2.set_yscale("log")
    readable_log_axis(ax2.yaxis, "x")
    ax2.set_ylabel("speedup (x)")
    ax2.set_title("timed speedup at the counted size (median, 95% interval)")
    if ax2.lines or ax2.containers:
        ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        label_commits(ax, xpos)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def section(cls: str, counts: dict[str, list[CountPoint]], speed: dict[str, list[Point]], out_dir: Path,
            *, threshold: float = DEFAULT_THRESHOLD) -> tuple[str, Path]:
    """The HTML section of one pair's instruction history and its PNG (written)."""
    found = [st for pts in counts.values() for st in steps(pts, threshold=threshold)]
    regressions = [st for st in found if st.regression]
    png = atomic_write_bytes(Path(out_dir) / f"{cls}.instructions.png", draw(cls, counts, speed, regressions))
    why = {(st.new.commit, st.new.size): [] for st in found}
    for st in found:
        why[(st.new.commit, st.new.size)].append(st)
    rows = []
    for size, pts in sorted(counts.items(), key=size_order):
        for p in pts:
            here = why.get((p.commit, p.size), [])
            bad = any(st.regression for st in here)
            rows.append(f"<tr{' class=drop' if bad else ''}><td>{html.escape(size)}</td>"
                        f"<td><code>{p.commit[:10]}</code></td><td>{p.reference:,.0f}</td><td>{p.optimized:,.0f}</td>"
                        f"<td>{html.escape('; '.join(st.line() for st in here)) or 'no change'}</td></tr>")
    summary = ("; ".join(html.escape(st.line()) for st in regressions) if regressions
               else "no regression over the threshold")
    body = (f"<h3>{html.escape(cls)}: instructions per call</h3>"
            f"<p class=instr>{summary}.</p><img src='{png.name}' alt='{html.escape(cls)} instructions'>"
            "<table><tr><th>size</th><th>commit</th><th>reference instr/call</th><th>optimized instr/call</th>"
            "<th>step</th></tr>" + "".join(rows) + "</table>")
    return body, png


def explanation(threshold: float = DEFAULT_THRESHOLD) -> str:
    """The paragraph index.html gives the instruction pictures."""
    return (f"<p>Instruction counts (asv's <code>track_instructions_*</code>, counted under callgrind at each "
            f"pair's count size) repeat exactly for one tree in one environment, so a flat line is no change "
            f"and a step is a change; across asv's runs of different commits a count has moved by up to 0.2% "
            f"with no change to the pair's code. A step where the optimized side grew by more than "
            f"{threshold:.0%} (the instruction gate's threshold) is marked as a regression with its commit.</p>")
