"""``profile``/``flamediff --profiler callgrind``: instructions instead of time.

The stack rebuilding is checked on a callgrind file written by hand (no valgrind needed); the
rest counts real pairs under valgrind and skips, saying why, where it is missing.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pairbench import callgrind_out
from pairbench.registry import PairbenchError, select
from profiling.callgrind_profile import named, object_files, stacks_of
from profiling.flamediff import flamediff_pair
from profiling.session import profile_pair

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")

#: main (entered before counting began) calls a twice and b once; a calls c; b calls c too
_HAND = """# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

ob=(1) /lib/libx.so
fl=(1) x.c
fn=(1) main
0 100
cfn=(2) a
calls=2 0
0 500
cob=(2) /lib/liby.so
cfn=(3) 0x00000000000010f0
calls=1 0
0 400

fn=(2)
0 300
cfn=(4) c
calls=2 0
0 200

ob=(2)
fn=(3)
0 100
cob=(1)
cfn=(4)
calls=1 0
0 300

fn=(4)
0 500
"""


def _hand_part(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(_HAND)
    return callgrind_out.parse(path)


def test_stacks_rebuilt_from_call_edges_add_up_to_the_region(tmp_path):
    part = named(_hand_part(tmp_path))
    folded = stacks_of(part)
    b = "0x00000000000010f0 [liby.so]"   # a function known only by address is named by its object
    assert folded.total == pytest.approx(1000)
    # c has two callers of different cost: its 500 self instructions are split 200/300 as the edges say
    assert folded.stacks == pytest.approx({("main",): 100, ("main", "a"): 300, ("main", "a", "c"): 200,
                                           ("main", b): 100, ("main", b, "c"): 300})
    assert folded.to_text(scale=1).splitlines()[:2] == [f"main;{b};c 300", "main;a 300"]


def test_object_files_follow_cob_for_one_call_only(tmp_path):
    _hand_part(tmp_path)
    objects = object_files(tmp_path / "callgrind.out")
    assert objects == {"main": "libx.so", "a": "libx.so", "0x00000000000010f0": "liby.so", "c": "libx.so"}


def test_callgrind_is_refused_for_a_bad_size(tmp_path):
    (pair,) = select(["config_cache"])
    with pytest.raises(PairbenchError, match="size: must be a positive integer"):
        profile_pair(pair, profiler="callgrind", size=0, out_dir=tmp_path)
    with pytest.raises(PairbenchError, match="against: comparing two commits needs profiler='callgrind'"):
        flamediff_pair(pair, against="HEAD", out=tmp_path / "d.svg")


@needs_valgrind
@pytest.mark.slow
def test_profile_callgrind_writes_a_callgrind_file_callgrind_annotate_reads(tmp_path):
    (pair,) = select(["config_cache"])
    paths = profile_pair(pair, impl="both", profiler="callgrind", out_dir=tmp_path)
    names = {(p.parent.name, p.name) for p in paths}
    for side in ("reference", "optimized"):
        assert {(side, n) for n in ("callgrind.out", "callgrind.folded", "callgrind.svg",
                                    "callgrind.speedscope.json", "hotspots.md")} <= names
    side_dir = tmp_path / "config_cache" / "optimized"
    part = callgrind_out.parse(side_dir / "callgrind.out")
    ann = subprocess.run(["callgrind_annotate", str(side_dir / "callgrind.out")], capture_output=True, text=True,
                         timeout=120)
    assert ann.returncode == 0, ann.stderr
    total = re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", ann.stdout, re.M)
    assert total and int(total.group(1).replace(",", "")) == part.total("Ir")
    # the folded stacks hold the whole region per call, exactly as the file adds up
    calls = int(re.search(r"([\d,]+) calls in the counted region", (side_dir / "hotspots.md").read_text())
                .group(1).replace(",", ""))
    lines = (side_dir / "callgrind.folded").read_text().splitlines()
    folded_total = sum(int(line.rsplit(" ", 1)[1]) for line in lines)
    # each stack's count per call is rounded to a whole instruction: off by half of one at most
    assert abs(folded_total - part.total("Ir") / calls) <= 0.5 * len(lines)
    hot = (side_dir / "hotspots.md").read_text()
    assert "## Top functions by self instructions" in hot and "## Top functions by inclusive instructions" in hot
    assert "interpreter's C functions" in hot
    assert "(eval loop: Python code)" in hot      # the root frame runs the side's Python code (3.11+)
    assert oct((side_dir / "callgrind.out").stat().st_mode & 0o777) == "0o644"
    assert "optimized.config_cache." in hot        # the Python functions, from cProfile's call counts
    doc = json.loads((side_dir / "callgrind.speedscope.json").read_text())
    assert doc["profiles"][0]["unit"] == "none"
    # speedscope keeps a thousandth of an instruction per stack where the folded file keeps whole ones
    assert abs(sum(doc["profiles"][0]["weights"]) - part.total("Ir") / calls) <= 0.001 * len(lines)
    svg = ET.parse(side_dir / "callgrind.svg").getroot()
    assert "instructions per call" in ET.tostring(svg, encoding="unicode")
    ref = callgrind_out.parse(tmp_path / "config_cache" / "reference" / "callgrind.out")
    assert ref.total("Ir") > part.total("Ir")


@needs_valgrind
@pytest.mark.slow
def test_profile_callgrind_from_the_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pairbench", "profile", "results_lookup", "--profiler", "callgrind",
                           "--impl", "optimized", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    side_dir = tmp_path / "results_lookup" / "optimized"
    assert proc.stdout.split() == [str(side_dir / n) for n in ("callgrind.out", "callgrind.folded", "callgrind.svg",
                                                              "callgrind.speedscope.json", "hotspots.md")]


@needs_valgrind
@pytest.mark.slow
def test_counted_flamediff_is_byte_identical_between_runs_and_colours_exact_differences(tmp_path):
    (pair,) = select(["results_lookup"])
    first = flamediff_pair(pair, profiler="callgrind", out=tmp_path / "a" / "d.svg")
    second = flamediff_pair(pair, profiler="callgrind", out=tmp_path / "b" / "d.svg")
    assert [p.name for p in first] == ["d.svg", "d.folded", "d.md"]
    folded = (tmp_path / "a" / "d.folded").read_bytes()
    assert folded == (tmp_path / "b" / "d.folded").read_bytes()
    rows = [line.rsplit(" ", 2) for line in folded.decode().splitlines()]
    assert all(int(a) >= 0 and int(b) >= 0 for _, a, b in rows)
    ref, opt = sum(int(a) for _, a, _ in rows), sum(int(b) for _, _, b in rows)
    assert ref > 10 * opt > 0          # results_lookup's optimized side runs far fewer instructions
    svg = (tmp_path / "a" / "d.svg").read_text()
    assert "rgb(" in svg and "difference: " in svg and "p = " not in svg   # no significance test
    blue = re.findall(r'fill="rgb\((\d+),\1,255\)"', svg)
    assert blue, "frames with fewer instructions in optimized are blue"
    assert "reference vs optimized (callgrind" in (tmp_path / "a" / "d.md").read_text()


@needs_valgrind
@pytest.mark.slow
def test_counted_flamediff_against_the_same_commit_shows_no_change(tmp_path):
    """The optimized side at HEAD against the optimized side now (this tree, unchanged): every
    frame has the same count, so nothing is coloured."""
    from pairbench import trees

    changed = subprocess.run(["git", "status", "--porcelain", "--", "reference", "optimized", "pairbench/pairs"],
                             cwd=trees.ROOT, capture_output=True, text=True).stdout.strip()
    if changed:
        pytest.skip(f"the pairs differ from HEAD here: {changed.splitlines()[0]}")
    proc = subprocess.run([sys.executable, "-m", "pairbench", "flamediff", "results_lookup", "--profiler", "callgrind",
                           "--against", "HEAD", "--side", "optimized", "--out", str(tmp_path / "d.svg")],
                          cwd=trees.ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    paths = [Path(line) for line in proc.stdout.split()]
    assert paths[0] == tmp_path / "d.svg"
    md = paths[2].read_text()
    assert "optimized at HEAD vs optimized now" in md
    assert "(none: every frame has the same count)" in md, md[:2000]
    rows = [line.rsplit(" ", 2) for line in paths[1].read_text().splitlines()]
    assert rows and all(a == b for _, a, b in rows)


def test_flamediff_against_needs_the_counted_profiler(capsys):
    from pairbench.cli import main

    assert main(["flamediff", "results_lookup", "--against", "HEAD"]) == 2
    assert "--against: comparing two commits needs --profiler callgrind" in capsys.readouterr().err
