"""Gate results for CI systems: a Markdown table (a pull request's page, a job summary) and
JUnit XML (one testcase per pair, a FAIL as a ``<failure>`` with its reason), one class per
format, both fed the verdicts of either gate (wall-clock or instructions)."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

from .jsonio import atomic_write_bytes
from .render import fmt_interval, fmt_ratio


def _figure(v) -> str:
    """The gate's figure for a verdict: the instruction ratio, or the timed speedup interval."""
    if hasattr(v, "figure"):
        return v.figure()
    ms = getattr(v, "measurement", None)
    if ms is not None and ms.samples:
        return fmt_interval(ms.speedup, ms.ci_low, ms.ci_high)
    return "-"


def _growth(v) -> str:
    g = getattr(v, "growth", None)
    return f"{g:+.2%}" if g is not None and math.isfinite(g) else ""


class MarkdownReport:
    """A Markdown table: status, pair, figure, floor, size, change against the base, reason."""

    suffix = ".md"

    def render(self, verdicts: Sequence, title: str) -> str:
        icon = {"PASS": "✅", "NEW": "🆕", "ACCEPTED": "☑️", "NOISE": "〰️", "FAIL": "❌", "ERROR": "⚠️"}
        lines = [f"### {title}", "", "| | pair | figure | floor | size | change | reason |",
                 "|---|---|---:|---:|---:|---:|---|"]
        for v in verdicts:
            reason = v.reason.replace("|", "\\|")
            where = "".join(f"<br>{w.replace('|', '/')}" for w in getattr(v, "where", []))
            lines.append(f"| {icon.get(v.status, '')} {v.status} | `{v.name}` | {_figure(v)} | "
                         f"{fmt_ratio(v.floor)} | {v.size:,} | {_growth(v)} | {reason}{where} |")
        counts = {}
        for v in verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
        lines += ["", ", ".join(f"{n} {s.lower()}" for s, n in counts.items()) or "no pair judged", ""]
        return "\n".join(lines)


class JUnitReport:
    """JUnit XML: one ``<testcase>`` per pair; FAIL is a ``<failure>``, ERROR an ``<error>``."""

    suffix = ".xml"

    def render(self, verdicts: Sequence, title: str) -> str:
        suite = ET.Element("testsuite", name=title, tests=str(len(verdicts)),
                           failures=str(sum(v.status == "FAIL" for v in verdicts)),
                           errors=str(sum(v.status == "ERROR" for v in verdicts)))
        for v in verdicts:
            case = ET.SubElement(suite, "testcase", classname=title, name=v.name)
            text = "\n".join([f"{v.status} {v.name} {_figure(v)} floor {fmt_ratio(v.floor)} @{v.size:,}",
                              v.reason, *getattr(v, "where", [])])
            if v.status == "FAIL":
                ET.SubElement(case, "failure", message=v.reason.splitlines()[0] if v.reason else "FAIL").text = text
            elif v.status == "ERROR":
                ET.SubElement(case, "error", message=v.reason.splitlines()[0] if v.reason else "ERROR").text = text
            else:
                ET.SubElement(case, "system-out").text = text
        ET.indent(suite)
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write(report, verdicts: Sequence, path: str | Path, title: str) -> Path:
    """Render ``verdicts`` with ``report`` and write the file atomically."""
    return atomic_write_bytes(path, report.render(verdicts, title).encode("utf-8"))


def check_output(path: str | None, option: str) -> None:
    """Before any work: an output file's folder must exist (one line naming the option)."""
    from .registry import PairbenchError

    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise PairbenchError(f"{option}: {path} is a folder, not a file")
    if not p.parent.is_dir():
        raise PairbenchError(f"{option}: folder {p.parent} does not exist")
