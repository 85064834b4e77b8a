"""The pictures: ``run --plot`` (speedup bars with 95% whiskers on a log axis, and each pair's
cost against size for both sides, log-log) and ``report``'s history of one pair over commits."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Collection, Sequence

from .jsonio import atomic_write_bytes


def plot_run(entries: Sequence[dict], path: str | Path, *, title: str = "pairbench run") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from .render import fmt_ratio

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"plot: expected a .png file name, got {path.name!r}")
    if not entries:
        raise ValueError("plot: no measurements to draw")
    n = len(entries)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(4 * cols, 0.45 * n + 2.5 + 3.0 * rows), layout="constrained")
    grid = fig.add_gridspec(1 + rows, cols, height_ratios=[0.45 * n + 1.5] + [3.0] * rows)

    ax = fig.add_subplot(grid[0, :])
    names = [e["name"] for e in entries]
    ys = list(range(n))[::-1]
    speed = [e["speedup"] if e["speedup"] and math.isfinite(e["speedup"]) else math.nan for e in entries]
    lo = [s - (e["ci_low"] or s) for s, e in zip(speed, entries)]
    hi = [(e["ci_high"] or s) - s for s, e in zip(speed, entries)]
    colors = ["tab:green" if e["equivalent"] else "tab:red" for e in entries]
    ax.barh(ys, speed, xerr=[lo, hi], color=colors, alpha=0.8, capsize=3)
    ax.set_yticks(ys, [f"{nm} @ {e['size']:,}" for nm, e in zip(names, entries)])
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xlabel("speedup, optimized vs reference (median of interleaved ratios, 95% bootstrap CI)")
    ax.set_title(title)
    for y, s, e in zip(ys, speed, entries):
        if math.isfinite(s):
            right = e["ci_high"] if e.get("ci_high") and math.isfinite(e["ci_high"]) else s
            ax.annotate(fmt_ratio(s), (right, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)

    for i, e in enumerate(entries):
        sub = fig.add_subplot(grid[1 + i // cols, i % cols])
        pts = [p for p in e.get("sweep", []) if p.get("reference_s")]
        if not pts:
            pts = [e]
        sizes = [p["size"] for p in pts]
        sub.loglog(sizes, [p["reference_s"] for p in pts], "o--", label=f"reference (slope {e.get('reference_slope') or math.nan:.2f})")
        sub.loglog(sizes, [p["optimized_s"] for p in pts], "s-", label=f"optimized (slope {e.get('optimized_slope') or math.nan:.2f})")
        sub.set_title(e["name"], fontsize=9)
        sub.set_xlabel(e.get("size_unit", "size"), fontsize=8)
        sub.set_ylabel("s per call", fontsize=8)
        sub.legend(fontsize=7)
        sub.tick_params(labelsize=7)
        sub.xaxis.set_minor_formatter(NullFormatter())
        sub.yaxis.set_minor_formatter(NullFormatter())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def size_order(item) -> float:
    """Sort key for ``(size, ...)`` items whose size is a string asv recorded: by number, not text
    (so 1000 comes after 100, not before 30)."""
    try:
        return float(item[0])
    except (TypeError, ValueError):
        return math.inf


def readable_log_axis(axis, unit: str) -> None:
    """Label a log axis in plain figures instead of matplotlib's ``6x10^0``: ratios as ``6x``,
    seconds with SI prefixes (``30 us``), counts with SI prefixes (``1.6 M``)."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, NullFormatter

    if unit == "x":
        fmt = FuncFormatter(lambda v, _pos: f"{v:g}x")
    else:
        fmt = EngFormatter(unit=unit, places=None, sep=" ")
    axis.set_major_formatter(fmt)
    axis.axes.autoscale_view()
    span = axis.get_view_interval()
    # within a decade or so the major ticks are too few to read by: label minor ones too, every
    # one on a short axis (60x-80x shows only 60, 70, 80), else those at 2, 3 and 5 of a decade
    reach = span[1] / span[0] if span[0] > 0 else float("inf")
    if reach < 3:
        axis.set_minor_formatter(fmt)
    elif reach < 30:
        axis.set_minor_formatter(FuncFormatter(
            lambda v, pos: fmt(v, pos) if v > 0 and f"{v:.0e}"[0] in "235" else ""))
    else:
        axis.set_minor_formatter(NullFormatter())


def commit_axis(point_lists) -> dict[str, int]:
    """``{commit: x position}`` of every commit in ``point_lists`` (lists of points, oldest first),
    in the order first seen."""
    xpos: dict[str, int] = {}
    for pts in point_lists:
        for p in pts:
            xpos.setdefault(p.commit, len(xpos))
    return xpos


def label_commits(ax, xpos: dict[str, int]) -> None:
    """The x axis of a history picture: one tick per commit, its short hash, oldest left."""
    ax.set_xticks(range(len(xpos)), [c[:8] for c in xpos], rotation=45, fontsize=7)
    ax.set_xlim(-0.5, len(xpos) - 0.5)
    ax.set_xlabel("commit (oldest left)")


def speedup_whiskers(ax, xpos: dict[str, int], pts, **style):
    """Draw points' tracked speedups at their commits with their 95% intervals as whiskers (none
    where asv recorded no interval); returns matplotlib's errorbar container."""
    sp = [p.speedup for p in pts]
    lo = [max(s - p.ci_low, 0) if math.isfinite(p.ci_low) else 0 for s, p in zip(sp, pts)]
    hi = [max(p.ci_high - s, 0) if math.isfinite(p.ci_high) else 0 for s, p in zip(sp, pts)]
    return ax.errorbar([xpos[p.commit] for p in pts], sp, yerr=[lo, hi], marker="o", capsize=3, **style)


def _drawable(values) -> bool:
    """True when a log axis can show ``values``: at least one is finite and positive."""
    return any(math.isfinite(v) and v > 0 for v in values)


def _say_missing(ax, text: str, *, empty: bool) -> None:
    """Write what was not recorded: across an empty panel, or in the corner of a drawn one."""
    if empty:
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
                color="dimgray", wrap=True)
        ax.set_yticks([])
    else:
        ax.text(0.01, 0.02, text, transform=ax.transAxes, ha="left", va="bottom", fontsize=7, color="dimgray")


def plot_history(name: str, by_size: dict, drops: Sequence[tuple], missing: Collection[str] = ()) -> bytes:
    """PNG bytes: ``name``'s tracked speedup over commits per size (95% interval whiskers; ``drops``
    marked), and both sides' times. ``by_size`` maps a size to its asv ``Point``s, oldest first;
    ``missing`` names the asv benchmarks with no value in the results: a panel with nothing to
    draw says so instead of failing on an empty log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xpos = commit_axis(by_size.values())
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, layout="constrained")
    speedups, times = [], []
    for size, pts in sorted(by_size.items(), key=size_order):
        xs = [xpos[p.commit] for p in pts]
        color = speedup_whiskers(ax1, xpos, pts, label=f"size {size}")[0].get_color()
        speedups += [p.speedup for p in pts]
        for side, style in (("reference", "--o"), ("optimized", "-s")):
            ys = [getattr(p, f"{side}_s") for p in pts]
            if _drawable(ys):
                ax2.plot(xs, ys, style, color=color, label=f"{side} @ {size}")
                times += ys
    for size, p in drops:
        ax1.plot([xpos[p.commit]], [p.speedup], marker="v", color="red", markersize=14, zorder=5)
        ax1.annotate("drop", (xpos[p.commit], p.speedup), xytext=(6, -12), textcoords="offset points", color="red")
    ax1.set_title(f"{name}: tracked speedup over commits (median, bootstrap 95% interval)")
    ax1.set_ylabel("speedup (x)")
    if _drawable(speedups):
        ax1.set_yscale("log")
        readable_log_axis(ax1.yaxis, "x")
        ax1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the lines, not on them
    gaps = [b for b in ("track_speedup", "track_speedup_ci_low", "track_speedup_ci_high") if b in missing]
    if gaps:
        _say_missing(ax1, "not recorded in these asv results: " + ", ".join(gaps), empty=not _drawable(speedups))
    ax2.set_ylabel("seconds per call")
    if _drawable(times):
        ax2.set_yscale("log")
        readable_log_axis(ax2.yaxis, "s")
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    gaps = [b for b in ("time_reference", "time_optimized") if b in missing]
    if gaps:
        _say_missing(ax2, "not recorded in these asv results: " + ", ".join(gaps), empty=not _drawable(times))
    label_commits(ax2, xpos)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
