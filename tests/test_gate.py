"""The regression gate: passes good pairs, fails planted regressions naming the pair, exit codes."""
from __future__ import annotations

import io


from pairbench.gate import EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, FAIL, PASS, run_gate
from pairbench.registry import NotEquivalent, select


def _gate(pairs, **kw):
    buf = io.StringIO()
    code, verdicts = run_gate(pairs, quick=True, stream=buf, progress=False, **kw)
    return code, verdicts, buf.getvalue()


def test_gate_passes_an_intact_pair(plugin_path):
    code, (v,), out = _gate(select(["demo.members"]))
    assert code == EXIT_OK and v.status == PASS and "PASS  demo.members" in out


def test_optimized_swapped_for_reference_fails_naming_the_pair(plugin_path):
    (pair,) = select(["demo.members"])
    code, (v,), out = _gate([pair.with_sides(optimized=pair.reference)])
    assert code == EXIT_REGRESSION and v.status == FAIL
    assert "FAIL  demo.members" in out and "under the floor" in out


def test_builtin_pair_swapped_for_its_reference_fails():
    """The same planted regression on a real built-in pair."""
    (pair,) = select(["results_lookup"])
    code, (v,), out = _gate([pair.with_sides(optimized=pair.reference)], samples=5)
    assert code == EXIT_REGRESSION and f"FAIL  {pair.name}" in out


def test_a_mismatch_fails_with_the_diff(plugin_path):
    import dataclasses

    (pair,) = select(["demo.members"])

    def check(a, b):
        raise NotEquivalent("output differs:\n  $: reference=3 optimized=4")

    code, (v,), out = _gate([dataclasses.replace(pair, check=check)])
    assert code == EXIT_REGRESSION and "not equivalent" in out and "reference=3 optimized=4" in out


def test_an_error_is_not_a_regression_of_another_pair(plugin_path):
    import dataclasses

    (pair,) = select(["demo.members"])
    broken = dataclasses.replace(pair, name="demo.broken", optimized="pb_demo.no_such_module")
    code, verdicts, out = _gate([pair, broken])
    assert [v.status for v in verdicts] == [PASS, "ERROR"]
    assert code == EXIT_ERROR and "could not run" in out


def test_no_pair_selected_exits_2():
    code, verdicts, out = _gate([])
    assert code == EXIT_ERROR and verdicts == []
