"""The counting engine and the instruction gate: exact counts, planted slowdowns caught, A/A silent.

Counts are exact, so they are compared exactly (or within 0.01%), never with a wall-clock
tolerance. Counting runs under valgrind: these tests skip, saying why, where it is missing.
"""
from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pairbench import callgrind, callgrind_out, count as c, trees
from pairbench.gate_reports import JUnitReport, MarkdownReport
from pairbench.instruction_gate import InstructionGateOptions, run_instruction_gate
from pairbench.registry import PairbenchError, all_pairs, select

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
COUNTED = [p.name for p in all_pairs() if p.counted]
#: cheap counted pairs (a few seconds under callgrind) for the repeated and planted runs in CI;
#: `python scripts/instruction_proof.py` runs every counted pair (README: the table)
CHEAP = ["config_cache", "results_lookup", "trial_loading"]


# -- client requests and the output format (no valgrind needed) --------------------------------------
def test_client_requests_answer_the_default_outside_valgrind():
    assert callgrind.running_on_valgrind() is False
    assert callgrind.request(callgrind.RUNNING_ON_VALGRIND, default=7) == 7


SAMPLE = textwrap.dedent("""\
    version: 1
    creator: callgrind-3.19.0
    desc: Trigger: Client Request: main
    positions: line
    events: Ir
    summary: 1000
    ob=(1) /bin/python
    fl=(1) a.c
    fn=(1) outer
    1 100
    cfl=(1)
    cfn=(2) inner
    calls=3 1
    2 600
    3 50
    fn=(2)
    4 600
    fn=(3) self_recursive
    5 250
    cfn=(3)
    calls=1 5
    5 40
    totals: 1000
    """)


def test_parser_splits_self_and_inclusive_costs(tmp_path):
    path = tmp_path / "callgrind.out.1"
    path.write_text(SAMPLE)
    part = callgrind_out.parse(path)
    assert part.trigger == "Client Request: main"
    assert part.total("Ir") == 1000
    assert part.self_of("Ir") == {"outer": 150, "inner": 600, "self_recursive": 250}
    assert part.inclusive_of("Ir") == {"outer": 750, "inner": 600, "self_recursive": 250}
    assert part.calls[("outer", "inner")] == 3
    assert callgrind_out.by_trigger(tmp_path / "callgrind.out") == {"main": path}
    assert callgrind_out.last_part_total(tmp_path / "callgrind.out") == 1000


def test_cycle_model_weights_hits_and_misses():
    ev = {"Ir": 1000, "Dr": 300, "Dw": 100, "I1mr": 10, "D1mr": 20, "D1mw": 10, "ILmr": 2, "DLmr": 3, "DLmw": 1}
    # L1 hits 1400-40, LL hits 40-6, RAM 6
    assert c.estimated_cycles(ev) == (1400 - 40) * 1 + (40 - 6) * 5 + 6 * 30
    assert c.estimated_cycles({"Ir": 5}) is None


def test_missing_valgrind_is_one_line_and_exit_2(monkeypatch, capsys):
    from pairbench import cli

    monkeypatch.setattr(c.shutil, "which", lambda name: None)
    assert cli.main(["count", "config_cache", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("pairbench: error: valgrind is not installed: instruction counting needs it "
                   "(Debian/Ubuntu: apt-get install valgrind)")


def test_bad_threshold_names_the_option(capsys):
    from pairbench import cli

    assert cli.main(["gate", "--instructions", "--threshold", "0", "config_cache"]) == 2
    assert "--threshold: must be a fraction above 0" in capsys.readouterr().err


def test_every_pair_declares_how_it_is_measured():
    for p in all_pairs():
        assert p.counting in ("instructions", "walltime")
        if not p.counted:
            assert p.counting_note, f"{p.name}: a walltime pair says why in counting_note"
    assert len(COUNTED) >= 11


# -- counting -----------------------------------------------------------------------------------------
@needs_valgrind
@pytest.mark.slow
@pytest.mark.parametrize("name", ["config_cache"])   # across trees, for every cheap pair: the A/A test
def test_the_same_count_repeated_is_the_same(name):
    pair = select([name])[0]
    size = pair.size_for(count=True)
    jobs = [c.Job(name, "optimized", size)] * 3
    runs = c.run_jobs(jobs)
    assert all(r.ok for r in runs), [r.error for r in runs]
    values = [r.instructions for r in runs]
    assert max(values) - min(values) <= 1e-4 * min(values), values
    assert runs[0].calls > 1 and runs[0].instructions > 1000


@needs_valgrind
@pytest.mark.slow
def test_count_cli_writes_the_documented_json(tmp_path):
    out = tmp_path / "count.json"
    proc = subprocess.run([sys.executable, "-m", "pairbench", "count", "config_cache", "study", "--json", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert {"machine", "pairs"} <= set(doc)
    by = {e["name"]: e for e in doc["pairs"]}
    cc = by["config_cache"]
    for key in ("name", "size", "reference_instructions", "optimized_instructions", "instruction_ratio", "counting"):
        assert key in cc
    assert cc["counting"] == "instructions"
    assert cc["instruction_ratio"] == pytest.approx(cc["reference_instructions"] / cc["optimized_instructions"])
    assert cc["instruction_ratio"] > 10
    assert by["study"]["counting"] == "walltime" and by["study"]["optimized_instructions"] is None
    assert "walltime:" in proc.stdout


# -- the gate: planted slowdowns caught, A/A silent ------------------------------------------------------
def _gate(names, **kw):
    opts = InstructionGateOptions(against="HEAD", parallel=2, **kw)
    return run_instruction_gate(select(names), opts, progress=False, stream=open("/dev/null", "w"))


@needs_valgrind
@pytest.mark.slow
def test_planted_slowdowns_of_3_10_and_100_percent_are_caught():
    """One gate run, each cheap pair slowed by one of the three amounts (every counted pair at
    every amount: scripts/instruction_proof.py, table in the README)."""
    plant = dict(zip(CHEAP, (0.03, 0.10, 1.0)))
    code, verdicts = _gate(CHEAP, plant=plant)
    assert code == 1
    for v in verdicts:
        assert v.status == "FAIL", v.line()
        assert v.growth == pytest.approx(plant[v.name], rel=0.15), v.line()
        assert v.reason.startswith("regression: optimized side")
        assert any(w.startswith("instructions: ") for w in v.where), v.line()
        assert any(w.startswith("calls: ") for w in v.where), v.line()


@needs_valgrind
@pytest.mark.slow
def test_the_same_tree_against_itself_passes_with_no_change_at_all(tmp_path):
    code, verdicts = _gate(CHEAP, recount_identical=True)   # both trees counted, each in its own child
    assert code == 0, "\n".join(v.line() for v in verdicts)
    for v in verdicts:
        assert v.status == "PASS"
        assert v.growth == 0.0, v.line()          # exact: the same code counts the same
        assert v.ratio >= v.floor
    md, xml = MarkdownReport().render(verdicts, "t"), JUnitReport().render(verdicts, "t")
    assert md.count("| ✅ PASS |") == len(CHEAP)
    suite = ET.fromstring(xml)
    assert suite.get("tests") == str(len(CHEAP)) and suite.get("failures") == "0"


def test_trees_with_the_same_pairs_code_have_one_digest(tmp_path):
    for name in ("a", "b"):
        for part in trees.TREE_PARTS:
            (tmp_path / name / part).mkdir(parents=True)
            (tmp_path / name / part / "m.py").write_text("x = 1\n")
    (tmp_path / "b" / "optimized" / "__pycache__").mkdir()
    (tmp_path / "b" / "optimized" / "__pycache__" / "m.nbi").write_bytes(b"numba's cache")
    (tmp_path / "b" / "README.md").write_text("docs are not the pairs' code")
    assert trees.same_pairs(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "optimized" / "m.py").write_text("x = 1  # one byte more or less is another tree\n")
    assert not trees.same_pairs(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "optimized" / "m.py").write_text("x = 1\n")
    (tmp_path / "b" / "pairbench" / "pairs" / "new.py").write_text("")
    assert not trees.same_pairs(tmp_path / "a", tmp_path / "b")


@needs_valgrind
@pytest.mark.slow
def test_a_rev_whose_pairs_are_identical_is_not_counted_again(tmp_path, monkeypatch):
    """A commit that changed no pair's code (docs, the harness): REV's counts are HEAD's, so the
    gate counts each optimized side once and says so."""
    head, _ = trees.tree_of("HEAD")
    copy = tmp_path / head.name
    shutil.copytree(head, copy, ignore=shutil.ignore_patterns("__pycache__"))
    counted = []
    real = c.run_jobs
    monkeypatch.setattr(c, "run_jobs", lambda jobs, **kw: (counted.extend(jobs), real(jobs, **kw))[1])
    out = io.StringIO()
    code, (v,) = run_instruction_gate(select(["config_cache"]), InstructionGateOptions(
        against="HEAD", head_tree=str(copy), parallel=2), progress=False, stream=out)
    assert code == 0 and v.status == "PASS" and v.growth == 0.0, v.line()
    assert "vs " in v.reason and "(identical code)" in v.reason
    assert [(j.side, j.tree_label) for j in counted] == [("reference", "."), ("optimized", ".")]
    assert "are identical to this checkout's: one count of each optimized side serves both" in out.getvalue()


@needs_valgrind
@pytest.mark.slow
def test_an_accepted_growth_passes_and_says_so():
    code, (v,) = _gate(["config_cache"], plant={"config_cache": 0.10}, accept=("config_cache",))
    assert code == 0
    assert v.status == "ACCEPTED" and "accepted (--accept)" in v.reason


@needs_valgrind
@pytest.mark.slow
def test_fail_names_the_python_function_called_more(tmp_path):
    """A real regression in a copy of the tree: the optimized config cache validates twice."""
    from pairbench import trees

    head = trees.snapshot()
    planted = tmp_path / head.name   # same path shape as the trees it is compared with
    shutil.copytree(head, planted)
    mod = planted / "optimized" / "config_cache.py"
    src = mod.read_text()
    assert "def get_default_config(" in src
    src += textwrap.dedent("""

        _original_get_default_config = get_default_config


        def get_default_config(path=None):
            _original_get_default_config(path)
            return _original_get_default_config(path)
        """)
    mod.write_text(src)
    opts = InstructionGateOptions(against="HEAD", head_tree=str(planted), parallel=2)
    code, (v,) = run_instruction_gate(select(["config_cache"]), opts, progress=False,
                                      stream=open("/dev/null", "w"))
    assert code == 1 and v.status == "FAIL"
    assert v.growth > 0.5
    calls = [w for w in v.where if w.startswith("calls: ")]
    assert calls and "optimized.config_cache.get_default_config" in calls[0], v.where
