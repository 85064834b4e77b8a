"""The differential flame graph: side-neutral alignment, the rank test's colours, the layout of
frames only one side has, the difffolded file, and the fixture pair end to end."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pairbench.registry import PairbenchError
from profiling.collapsed import FoldedStacks
from profiling.flamediff import GREY, build_diff, flamediff_pair, rank_test, side_neutral, smallest_p
from tests.fixtures_profiling import COMPUTE

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_frames(path: Path) -> dict[str, dict]:
    """``{frame name: {"fill", "title", "hatched", "width"}}`` from a flame diff SVG."""
    out = {}
    for g in ET.parse(path).getroot().iter(f"{SVG_NS}g"):
        title = g.find(f"{SVG_NS}title").text
        rects = g.findall(f"{SVG_NS}rect")
        out[title.splitlines()[0]] = {"fill": rects[0].get("fill"), "title": title,
                                      "hatched": len(rects) > 1, "width": float(rects[0].get("width"))}
    return out


def hue(fill: str) -> str:
    if fill == GREY:
        return "grey"
    r, g, b = (int(v) for v in re.findall(r"\d+", fill))
    return "red" if r > b else "blue"


# -- the fixture pair, end to end ------------------------------------------------------------------
@pytest.mark.slow
def test_fixture_pair_slower_frame_is_red_unchanged_grey_faster_blue(tmp_path):
    # alpha 0.001: an unchanged frame turns colour by chance at most 1 time in 1000, so `parse`
    # (the same code on both sides) must be grey in every attempt. Noise only ever greys a frame
    # out (a neighbour stalling one run of a loaded 2-core machine), so the changed frames get up
    # to three attempts to show their colour; 10 runs per side keep p < 0.001 even with 8 of the
    # 100 pairs of runs inverted.
    alias = "profiling_fixture"
    for attempt in range(3):
        paths = flamediff_pair(COMPUTE, size=5_000, runs=10, min_samples=60, alpha=0.001,
                               out=tmp_path / "diff.svg", png=tmp_path / "diff.png")
        frames = svg_frames(tmp_path / "diff.svg")
        assert hue(frames[f"{alias}.parse"]["fill"]) == "grey", frames[f"{alias}.parse"]["title"]
        if hue(frames[f"{alias}.crunch"]["fill"]) == "red" and hue(frames[f"{alias}.tidy"]["fill"]) == "blue":
            break
    else:
        pytest.fail("crunch (6x slower) / tidy (4x faster) not red / blue in 3 attempts:\n"
                    + frames[f"{alias}.crunch"]["title"] + "\n" + frames[f"{alias}.tidy"]["title"])
    assert [p.name for p in paths] == ["diff.svg", "diff.folded", "diff.md", "diff.png"]
    # frames from both sides, aligned under one side-neutral name
    assert {f"{alias}.process", f"{alias}.parse", f"{alias}.crunch", f"{alias}.tidy",
            f"{alias}.tidy_fast_helper"} <= set(frames)
    assert not any(name.startswith("tests.fixture_profiling_") for name in frames)
    helper = frames[f"{alias}.tidy_fast_helper"]
    assert helper["hatched"] and not frames[f"{alias}.tidy"]["hatched"]  # only the optimized side has it
    title = frames[f"{alias}.crunch"]["title"]
    assert re.search(r"reference: .+ per call", title) and re.search(r"optimized: .+ per call", title)
    assert re.search(r"p = [0-9.e-]+ \(Mann-Whitney U, 10 runs per side\): slower in optimized", title)
    rows = (tmp_path / "diff.folded").read_text().splitlines()
    assert rows and all(re.fullmatch(r"\S.* \d+ \d+", row) for row in rows)
    assert any(row.endswith(" 0 " + row.split()[-1]) and "tidy_fast_helper" in row for row in rows)
    assert (tmp_path / "diff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "`profiling_fixture.crunch`" in (tmp_path / "diff.md").read_text()


# -- building blocks, deterministic ----------------------------------------------------------------
def _runs(values: dict[tuple, list[float]]) -> list[FoldedStacks]:
    n = len(next(iter(values.values())))
    return [FoldedStacks({stack: v[i] for stack, v in values.items() if v[i] > 0}) for i in range(n)]


def test_build_diff_colours_tests_and_widths():
    ref = _runs({("main", "slow"): [1.0, 1.1, 0.9, 1.05, 0.95],
                 ("main", "same"): [2.0, 2.2, 1.9, 2.1, 2.05],
                 ("main", "gone"): [0.5, 0.5, 0.6, 0.55, 0.5]})
    opt = _runs({("main", "slow"): [3.0, 3.2, 2.9, 3.1, 3.05],
                 ("main", "same"): [2.1, 1.95, 2.15, 2.0, 1.9],
                 ("main", "new"): [0.4, 0.45, 0.4, 0.42, 0.41]})
    diff = build_diff("p", ref, opt, size=10, profiler="test")
    by = {f.stack: f for f in diff.frames}
    assert hue(diff.colour(by[("main", "slow")])) == "red"
    assert hue(diff.colour(by[("main", "same")])) == "grey"
    assert hue(diff.colour(by[("main", "gone")])) == "blue" and by[("main", "gone")].only_reference
    assert by[("main", "new")].only_optimized and hue(diff.colour(by[("main", "new")])) == "red"
    assert by[("main", "slow")].p_value == pytest.approx(smallest_p(5))
    tree = diff.tree()
    main = tree.children["main"]
    # widths: the reference's mean time; the optimized-only frame at its own time, its parent widened
    assert main.children["slow"].value == pytest.approx(1.0)
    assert main.children["new"].value == pytest.approx(0.416) and main.children["new"].hatched
    assert main.value == pytest.approx(1.0 + 2.05 + 0.53 + 0.416)
    assert tree.value == pytest.approx(main.value)
    lines = diff.difffolded().splitlines()
    assert "main;slow 1000000000 3050000000" in lines
    assert "main;new 0 416000000" in lines and "main;gone 530000000 0" in lines
    svg = diff.svg()
    ET.fromstring(svg)


def test_small_change_below_min_change_stays_grey_even_when_consistent():
    ref = _runs({("a",): [1.00, 1.01, 1.02, 1.03, 1.04]})
    opt = _runs({("a",): [1.05, 1.06, 1.07, 1.08, 1.09]})
    diff = build_diff("p", ref, opt, size=1, profiler="test", min_change=0.10)
    frame = next(f for f in diff.frames if f.stack == ("a",))
    assert frame.p_value < 0.01 and diff.colour(frame) == GREY
    assert hue(build_diff("p", ref, opt, size=1, profiler="t", min_change=0.0).colour(frame)) == "red"


def test_rank_test_gives_exact_p_and_one_for_all_equal_rows():
    ref = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [1, 3, 5, 7, 9]], dtype=float)
    opt = np.array([[6, 7, 8, 9, 10], [0, 0, 0, 0, 0], [2, 4, 6, 8, 10]], dtype=float)
    p = rank_test(ref, opt)
    assert p[0] == pytest.approx(2 / 252) and p[1] == 1.0 and 0.5 < p[2] <= 1.0


def test_side_neutral_folds_the_side_prefixes():
    fold = side_neutral(COMPUTE)
    assert fold("tests.fixture_profiling_reference.parse") == "profiling_fixture.parse"
    assert fold("tests.fixture_profiling_optimized.parse") == "profiling_fixture.parse"
    assert fold("reference.dedup_store.check_sigs") == "dedup_store.check_sigs"
    assert fold("sqlite3.Connection.execute") == "sqlite3.Connection.execute"


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"runs": 3}, r"runs: with 3 runs per side the rank test can never reach p < 0.05; use at least 4"),
    ({"runs": 0}, "runs: must be a positive integer"),
    ({"profiler": "py-spy"}, "profiler: flamediff runs in-process, choose from pyinstrument, cprofile"),
    ({"size": -1}, "size: must be a positive integer"),
    ({"alpha": 1.5}, "alpha: must be between 0 and 1"),
    ({"min_change": 1.0}, r"min_change: must be in \[0, 1\)"),
    ({"out": Path("diff.png")}, "out: must name an .svg file"),
])
def test_bad_arguments_are_refused_by_name(tmp_path, kwargs, match):
    kwargs.setdefault("out", tmp_path / "d.svg")
    with pytest.raises(PairbenchError, match=match):
        flamediff_pair(COMPUTE, **kwargs)
    assert not (tmp_path / "d.svg").exists()
