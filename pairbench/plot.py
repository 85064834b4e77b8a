"""The ``run --plot`` picture: speedup bars with 95% whiskers (log axis), and each pair's cost
against size for both sides (log-log), from the JSON entries of a run."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from .jsonio import atomic_write_bytes


def plot_run(entries: Sequence[dict], path: str | Path, *, title: str = "pairbench run") -> Path:
    import io

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
