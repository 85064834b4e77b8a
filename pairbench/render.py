"""Plain-text rendering of measurements: human units and aligned tables."""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def fmt_time(seconds: float) -> str:
    """Seconds in the unit that keeps three significant digits readable (ns, µs, ms, s)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x >= 100:
        return f"{x:.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    return f"{x:.2f}x"


def fmt_interval(speedup: float, lo: float, hi: float) -> str:
    if not math.isfinite(speedup):
        return "-"
    return f"{fmt_ratio(speedup)} [{fmt_ratio(lo)}, {fmt_ratio(hi)}]"


def fmt_slope(x: float) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Sequence[bool] | None = None) -> str:
    """An aligned text table with a rule under the header."""
    rows = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r)]
    right = right or [False] * len(headers)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if ra else c.ljust(w) for c, w, ra in zip(cells, widths, right)).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


RUN_HEADERS = ("pair", "size", "reference", "optimized", "speedup [95% CI]", "equiv", "one-off",
               "slope ref", "slope opt")


def run_row(entry: dict) -> list[str]:
    """One row of the ``pairbench run`` table from a JSON pair entry."""
    return [
        entry["name"],
        f"{entry['size']:,} {entry.get('size_unit', '')}".strip(),
        fmt_time(entry["reference_s"]),
        fmt_time(entry["optimized_s"]),
        fmt_interval(entry["speedup"], entry["ci_low"], entry["ci_high"]),
        "yes" if entry["equivalent"] else "NO",
        fmt_time(entry["one_off_s"]),
        fmt_slope(entry.get("reference_slope", math.nan)),
        fmt_slope(entry.get("optimized_slope", math.nan)),
    ]


def run_table(entries: Iterable[dict]) -> str:
    return table(RUN_HEADERS, (run_row(e) for e in entries),
                 right=(False, True, True, True, True, False, True, True, True))
