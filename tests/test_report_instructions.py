"""``pairbench report``: the instruction history beside the timed speedup, steps and regressions."""
from __future__ import annotations

import math
import shutil

import pytest

from pairbench.instruction_gate import DEFAULT_THRESHOLD
from pairbench.report_instructions import CountPoint, load_counts, steps


def _pts(*pairs):
    return [CountPoint(f"{i:x}" * 40, float(i), "100", reference=r, optimized=o) for i, (r, o) in enumerate(pairs)]


def test_a_flat_history_has_no_step_and_growth_over_the_gate_threshold_is_a_regression():
    assert steps(_pts((1000, 100), (1000, 100), (1000, 100))) == []
    found = steps(_pts((1000, 100), (1000, 103), (1000, 103), (1000, 104), (1200, 104)))
    assert [(s.side, round(s.growth, 4), s.regression) for s in found] == [
        ("optimized", 0.03, True),             # +3% > the gate's 2%
        ("optimized", round(104 / 103 - 1, 4), False),   # +1%: a change, not a regression
        ("reference", 0.2, False)]             # the reference is the baseline: a change
    assert DEFAULT_THRESHOLD == 0.02
    assert found[0].line().startswith("regression: optimized 100 -> 103 instructions per call (+3.00%) at 11111111")
    # a fall is never a regression
    assert not steps(_pts((1000, 100), (1000, 50)))[0].regression
    # a size asv skipped (no count recorded) makes no step
    assert steps(_pts((1000, 100), (math.nan, math.nan), (1000, 100))) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_report_draws_a_flat_line_then_a_step_marked_with_its_commit(tmp_path):
    from pairbench.report import build_report
    from tests.asv_planted import FAST_REGRESSED, PlantedRepo

    repo = PlantedRepo(tmp_path, counting="instructions")
    # the times too, so the timed picture beside the counts has both sides' times
    bench = r"PlantedSum\.(track_speedup|track_instructions|time_)"
    first = repo.commit("the planted pair")
    repo.record(first, bench)
    second = repo.commit("nothing the pair runs changes")
    repo.record(second, bench)
    third = repo.commit("optimized: sort first (the planted regression)", fast=FAST_REGRESSED)
    repo.record(third, bench)

    pts = load_counts(repo.results)["PlantedSum"]["3000"]
    assert [p.commit for p in pts] == [first, second, third]
    assert pts[0].optimized == pts[1].optimized and pts[0].reference == pts[1].reference   # flat: exact
    found = steps(pts)
    assert [s.new.commit for s in found if s.regression] == [third]
    assert not any(s.new.commit == second for s in found)

    out = tmp_path / "report"
    written = build_report(repo.results, out)
    assert out / "PlantedSum.instructions.png" in written
    assert (out / "PlantedSum.instructions.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "index.html").read_text()
    assert "PlantedSum: instructions per call" in page
    assert f"regression: optimized" in page and f"at {third[:8]}" in page
    assert page.count("class=drop") >= 1
