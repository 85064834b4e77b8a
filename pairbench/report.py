"""``pairbench report``: speedup history across commits, drawn from asv's results.

Per pair: the tracked speedup over commits (one line per size, whiskers from the sides'
interquartile ranges) and both sides' times over commits; a commit where the speedup fell
significantly (see :func:`significant_drop`) is marked. One ``index.html`` shows every picture
with the commit hashes and the marked drops.
"""
from __future__ import annotations

import html
import io
import math
from pathlib import Path
from typing import Optional

from .asv_results import Point, load
from .gate import AGAINST_MIN_BAND
from .jsonio import atomic_write_bytes
from .registry import PairbenchError


def significant_drop(old: Point, new: Point, *, alpha: float = 0.01, band: float = AGAINST_MIN_BAND) -> Optional[str]:
    """Why ``new``'s speedup is significantly below ``old``'s, or None.

    The two tracked speedups' 95% intervals lie apart by more than ``band`` (new high under old
    low x (1 - band): runs on different commits are different runs, and drift by a few percent);
    or, where asv recorded time samples on both commits, a one-sided Mann-Whitney U test on the
    ratio samples gives p < alpha and the tracked median fell by more than ``band``.
    """
    (olo, _), (_, nhi) = old.interval, new.interval
    if math.isfinite(olo) and math.isfinite(nhi) and nhi < olo * (1 - band):
        return (f"{old.commit[:8]} -> {new.commit[:8]}: {old.speedup:.3g}x -> {new.speedup:.3g}x, "
                f"intervals apart")
    a, b = old.ratio_samples(), new.ratio_samples()
    if len(a) >= 3 and len(b) >= 3 and new.speedup < old.speedup * (1 - band):
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(b, a, alternative="less").pvalue)
        if p < alpha:
            return (f"{old.commit[:8]} -> {new.commit[:8]}: {old.speedup:.3g}x -> {new.speedup:.3g}x "
                    f"(time samples, Mann-Whitney p={p:.2g})")
    return None


def _plot_pair(name: str, by_size: dict[str, list[Point]], drops: list[tuple[str, Point]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    commits: list[str] = []
    for pts in by_size.values():
        for p in pts:
            if p.commit not in commits:
                commits.append(p.commit)
    xpos = {c: i for i, c in enumerate(commits)}
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, layout="constrained")
    for size, pts in sorted(by_size.items(), key=lambda kv: float(kv[0]) if kv[0] else 0):
        xs = [xpos[p.commit] for p in pts]
        sp = [p.speedup for p in pts]
        lo = [s - p.interval[0] if math.isfinite(p.interval[0]) else 0 for s, p in zip(sp, pts)]
        hi = [p.interval[1] - s if math.isfinite(p.interval[1]) else 0 for s, p in zip(sp, pts)]
        line = ax1.errorbar(xs, sp, yerr=[[max(v, 0) for v in lo], [max(v, 0) for v in hi]], marker="o",
                            capsize=3, label=f"size {size}")
        color = line[0].get_color()
        ax2.plot(xs, [p.reference_s for p in pts], "--o", color=color, label=f"reference @ {size}")
        ax2.plot(xs, [p.optimized_s for p in pts], "-s", color=color, label=f"optimized @ {size}")
    for size, p in drops:
        ax1.plot([xpos[p.commit]], [p.speedup], marker="v", color="red", markersize=14, zorder=5)
        ax1.annotate("drop", (xpos[p.commit], p.speedup), xytext=(6, -12), textcoords="offset points", color="red")
    ax1.set_yscale("log")
    ax1.set_ylabel("speedup (x)")
    ax1.set_title(f"{name}: tracked speedup over commits (median, bootstrap 95% interval)")
    ax1.legend(fontsize=7)
    ax2.set_yscale("log")
    ax2.set_ylabel("seconds per call")
    ax2.legend(fontsize=7, ncol=2)
    ax2.set_xticks(range(len(commits)), [c[:8] for c in commits], rotation=45, fontsize=7)
    ax2.set_xlabel("commit (oldest left)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def build_report(results_dir: str | Path, out_dir: str | Path, *, machine: Optional[str] = None) -> list[Path]:
    """Write ``<Class>.png`` per pair and ``index.html`` into ``out_dir``; return the paths."""
    data = load(results_dir, machine=machine)
    if not data:
        raise PairbenchError(f"--results: no pairbench benchmarks found under {results_dir}")
    out_dir = Path(out_dir)
    if not out_dir.parent.is_dir():
        raise PairbenchError(f"--out: folder {out_dir.parent} does not exist")
    out_dir.mkdir(exist_ok=True)
    written: list[Path] = []
    sections = []
    from . import report_instructions  # the instruction history, drawn beside the speedup

    counts = report_instructions.load_counts(results_dir, machine=machine)
    for cls in sorted(data):
        by_size = data[cls]
        drops = []
        for size, pts in by_size.items():
            for old, new in zip(pts, pts[1:]):
                if significant_drop(old, new):
                    drops.append((size, new))
        png = atomic_write_bytes(out_dir / f"{cls}.png", _plot_pair(cls, by_size, drops))
        written.append(png)
        rows = []
        for size, pts in sorted(by_size.items()):
            for old, new in zip([None] + pts, pts):
                why = significant_drop(old, new) if old is not None else None
                lo, hi = new.interval
                ci = f"[{lo:.3g}, {hi:.3g}]" if math.isfinite(lo) else "-"
                rows.append(f"<tr{' class=drop' if why else ''}><td>{html.escape(size)}</td>"
                            f"<td><code>{new.commit[:10]}</code></td><td>{new.speedup:.3g}x</td><td>{ci}</td>"
                            f"<td>{new.reference_s:.3g}</td><td>{new.optimized_s:.3g}</td>"
                            f"<td>{html.escape(why or '')}</td></tr>")
        sections.append(
            f"<h2>{html.escape(cls)}</h2><img src='{png.name}' alt='{html.escape(cls)}'>"
            "<table><tr><th>size</th><th>commit</th><th>speedup</th><th>95% interval</th>"
            "<th>reference s</th><th>optimized s</th><th>significant drop</th></tr>" + "".join(rows) + "</table>")
        if cls in counts:
            counted_html, counted_png = report_instructions.section(cls, counts[cls], by_size, out_dir)
            sections.append(counted_html)
            written.append(counted_png)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>pairbench history</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:auto} img{max-width:100%} "
            "td,th{padding:2px 8px;text-align:right} tr.drop{background:#fdd}</style></head><body>"
            "<h1>pairbench: speedups across commits</h1><p>From asv results in "
            f"<code>{html.escape(str(results_dir))}</code>. A drop is marked when the ratio samples fell "
            "when the 95% intervals of two consecutive commits lie more than 25% apart, or when asv's recorded "
            "time samples fell (one-sided Mann-Whitney, p&lt;0.01) and the tracked median fell by more than 25%.</p>"
            + (report_instructions.explanation() if counts else "") + "".join(sections) + "</body></html>")
    written.append(atomic_write_bytes(out_dir / "index.html", page.encode()))
    return written
