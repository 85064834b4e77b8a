"""``pairbench report``: speedup history across commits, drawn from asv's results.

Per pair: the tracked speedup over commits (one line per size, whiskers from its bootstrap 95%
interval) and both sides' times over commits; a commit where the speedup fell significantly (see
:func:`significant_drop`) is marked. One ``index.html`` shows every picture with the commit
hashes and the marked drops. Results that hold only some of a pair's benchmarks (``asv run
--bench track_speedup``) are drawn as far as they go, and the page says which are missing.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Optional

from .asv_results import Point, load
from .gate import AGAINST_MIN_BAND
from .jsonio import atomic_write_bytes
from .plot import plot_history, size_order
from .registry import PairbenchError
from .render import fmt_ratio, fmt_time
from .significance import speedup_drop


def significant_drop(old: Point, new: Point, *, alpha: float = 0.01, band: float = AGAINST_MIN_BAND) -> Optional[str]:
    """Why ``new``'s speedup is significantly below ``old``'s, or None.

    The two tracked speedups' 95% intervals lie apart by more than ``band`` (new high under old
    low x (1 - band): runs on different commits are different runs, and drift by a few percent);
    or, where asv recorded time samples on both commits, a one-sided Mann-Whitney U test on the
    ratio samples gives p < alpha and the tracked median fell by more than ``band``
    (:func:`pairbench.significance.speedup_drop`, the test ``gate --against`` uses too).
    """
    drop = speedup_drop(old.speedup, old.ci_low, old.ratio_samples(), new.speedup, new.ci_high,
                        new.ratio_samples(), band=band, alpha=alpha)
    if drop is None:
        return None
    how = ", intervals apart" if drop.how == "intervals" else f" (time samples, Mann-Whitney p={drop.p:.2g})"
    return f"{old.commit[:8]} -> {new.commit[:8]}: {old.speedup:.3g}x -> {new.speedup:.3g}x{how}"


#: what each asv benchmark of a pair holds, as read into a Point
_RECORDED = {"track_speedup": "speedup", "track_speedup_ci_low": "ci_low", "track_speedup_ci_high": "ci_high",
             "time_reference": "reference_s", "time_optimized": "optimized_s"}


def missing_benchmarks(by_size: dict[str, list[Point]]) -> list[str]:
    """The asv benchmarks of one pair with no value on any commit or size (e.g. every ``time_``
    one after ``asv run --bench track_speedup``)."""
    pts = [p for ps in by_size.values() for p in ps]
    return [bench for bench, attr in _RECORDED.items()
            if not any(math.isfinite(getattr(p, attr)) for p in pts)]


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
        # why each point's speedup dropped from the commit before it (tested once per pair of points)
        why_dropped = {(size, i): significant_drop(old, new)
                       for size, pts in by_size.items() for i, (old, new) in enumerate(zip(pts, pts[1:]), 1)}
        drops = [(size, by_size[size][i]) for (size, i), why in why_dropped.items() if why]
        missing = missing_benchmarks(by_size)
        png = atomic_write_bytes(out_dir / f"{cls}.png", plot_history(cls, by_size, drops, missing))
        written.append(png)
        rows = []
        for size, pts in sorted(by_size.items(), key=size_order):
            for i, new in enumerate(pts):
                why = why_dropped.get((size, i))
                lo, hi = new.interval
                ci = f"[{fmt_ratio(lo)}, {fmt_ratio(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else "-"
                rows.append(f"<tr{' class=drop' if why else ''}><td>{html.escape(size)}</td>"
                            f"<td><code>{new.commit[:10]}</code></td><td>{fmt_ratio(new.speedup)}</td><td>{ci}</td>"
                            f"<td>{fmt_time(new.reference_s)}</td><td>{fmt_time(new.optimized_s)}</td>"
                            f"<td>{html.escape(why or '')}</td></tr>")
        note = ""
        if missing:
            note = ("<p class=missing>Not recorded in these results: "
                    + ", ".join(f"<code>{b}</code>" for b in missing)
                    + f" (<code>asv run --bench {html.escape(cls)}</code> records every benchmark of this pair).</p>")
        sections.append(
            f"<h2>{html.escape(cls)}</h2>{note}<img src='{png.name}' alt='{html.escape(cls)}'>"
            "<table><tr><th>size</th><th>commit</th><th>speedup</th><th>95% interval</th>"
            "<th>reference</th><th>optimized</th><th>significant drop</th></tr>" + "".join(rows) + "</table>")
        if cls in counts:
            counted_html, counted_png = report_instructions.section(cls, counts[cls], by_size, out_dir)
            sections.append(counted_html)
            written.append(counted_png)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>pairbench history</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:auto} img{max-width:100%} "
            "td,th{padding:2px 8px;text-align:right} tr.drop{background:#fdd} p.missing{color:#a50}</style></head><body>"
            "<h1>pairbench: speedups and instruction counts across commits</h1><p>From asv results in "
            f"<code>{html.escape(str(results_dir))}</code>. A drop is marked "
            "when the 95% intervals of two consecutive commits lie more than 25% apart, or when asv's recorded "
            "time samples fell (one-sided Mann-Whitney, p&lt;0.01) and the tracked median fell by more than 25%.</p>"
            + (report_instructions.explanation() if counts else "") + "".join(sections) + "</body></html>")
    written.append(atomic_write_bytes(out_dir / "index.html", page.encode()))
    return written
