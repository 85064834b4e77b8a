"""The asv suite is generated from the registry (plugin pairs included) and runs under asv."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.asv_planted import FAST_REGRESSED, PlantedRepo
from tests.conftest import ROOT


def test_suite_has_one_class_per_pair_with_all_benchmarks(plugin_path):
    sys.path.insert(0, str(ROOT))
    try:
        mod = importlib.reload(importlib.import_module("benchmarks.bench_pairs"))
    finally:
        sys.path.remove(str(ROOT))
    from pairbench.registry import all_pairs

    for pair in all_pairs():
        cls = getattr(mod, mod._class_name(pair.name))
        assert cls.params == [list(pair.sizes)]
        for meth in ("time_reference", "time_optimized", "peakmem_reference", "peakmem_optimized", "track_speedup",
                     "track_cost_ratio", "track_cost_ratio_ci_low", "track_cost_ratio_ci_high",
                     "track_instructions_reference", "track_instructions_optimized"):
            assert callable(getattr(cls, meth))
        assert cls.track_speedup.unit == "x"
        assert cls.track_cost_ratio.unit == cls.track_cost_ratio_ci_high.unit == "ratio"
        assert cls.track_instructions_reference.unit == cls.track_instructions_optimized.unit == "instructions"
    from asv_runner.benchmarks._base import get_setup_cache_key

    keys = [get_setup_cache_key(getattr(mod, mod._class_name(p.name)).setup_cache) for p in all_pairs()]
    assert len(set(keys)) == len(keys), "asv would hand one pair's setup_cache to another"
    demo = mod.DemoMembers()
    cache = demo.setup_cache()
    demo.setup(cache, 100)
    demo.time_reference(cache, 100)
    speedup, lo, hi = cache["timed"][100]
    assert demo.track_speedup(cache, 100) == speedup > 1.0
    assert demo.track_speedup_ci_low(cache, 100) == lo <= speedup <= hi == demo.track_speedup_ci_high(cache, 100)
    # the cost ratio is the same measurement upside down: lower is better, as asv reads it
    ratio = demo.track_cost_ratio(cache, 100)
    assert ratio == pytest.approx(1 / speedup) and ratio < 1.0
    assert demo.track_cost_ratio_ci_low(cache, 100) == pytest.approx(1 / hi)
    assert demo.track_cost_ratio_ci_low(cache, 100) <= ratio <= demo.track_cost_ratio_ci_high(cache, 100)
    assert demo.track_cost_ratio_ci_high(cache, 100) == pytest.approx(1 / lo)


@pytest.mark.slow
def test_asv_runs_a_quick_benchmark_of_the_plugin_pair(plugin_env, tmp_path):
    """`asv run --python=same --quick` against this environment, on the demo plugin's pair."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "benchmarks", work / "benchmarks")
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), results_dir=str(tmp_path / "results"), env_dir=str(tmp_path / "env"),
                html_dir=str(tmp_path / "html"))
    (work / "asv.conf.json").write_text(json.dumps(conf))
    env = dict(plugin_env, HOME=str(tmp_path))
    env["ASV_PYTHONPATH"] = os.pathsep.join([env["ASV_PYTHONPATH"], str(ROOT)])  # this tree's pairbench
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--machine", "testbox"], cwd=work, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([sys.executable, "-m", "asv", "run", "--python=same", "--quick", "--machine", "testbox",
                          "--bench", "DemoMembers.time_optimized", "--bench", "DemoMembers.track_speedup",
                          "--bench", "ConfigCache.track_speedup", "--show-stderr"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bench_pairs.DemoMembers.time_optimized" in out.stdout
    assert "bench_pairs.ConfigCache.track_speedup" in out.stdout
    assert "failed" not in out.stdout, out.stdout
    results = list((tmp_path / "results" / "testbox").glob("*.json"))
    assert results, "asv stored no results"


def _suite():
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.reload(importlib.import_module("benchmarks.bench_pairs"))
    finally:
        sys.path.remove(str(ROOT))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instruction_benchmarks_count_both_sides_at_the_count_size_and_skip_elsewhere():
    from asv_runner.benchmarks.mark import SkipNotImplemented

    from pairbench.count import Job, run_jobs
    from pairbench.registry import find_pair

    mod = _suite()
    pair = find_pair("config_cache")
    size = pair.size_for(count=True)
    bench = mod.ConfigCache()
    ref = bench.track_instructions_reference({}, size)
    opt = bench.track_instructions_optimized({}, size)
    assert ref > 10 * opt > 0, (ref, opt)
    # the figure is the engine's count: counting again gives it again, exactly
    (again,) = run_jobs([Job("config_cache", "optimized", size)])
    assert again.instructions == opt
    other = next(s for s in pair.sizes if s != size)
    with pytest.raises(SkipNotImplemented, match=f"size {size} only"):
        bench.track_instructions_reference({}, other)


def test_instruction_benchmarks_skip_uncounted_pairs_and_missing_valgrind(monkeypatch):
    from asv_runner.benchmarks.mark import SkipNotImplemented

    from pairbench.registry import find_pair

    mod = _suite()
    walltime = find_pair("dedup_store.add_batch")
    assert not walltime.counted
    with pytest.raises(SkipNotImplemented, match="not counted"):
        mod.DedupStoreAddBatch().track_instructions_optimized({}, walltime.size_for(count=True))
    from pairbench import count

    monkeypatch.setattr(count, "run_jobs", lambda jobs, **kw: [
        count.SideCount(j.pair, j.side, j.size, j.tree_label, error="boom") for j in jobs])
    with pytest.raises(RuntimeError, match="counting failed: reference: boom"):
        mod.ConfigCache().track_instructions_reference({}, 4)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(SkipNotImplemented, match="valgrind is not installed"):
        mod.ConfigCache().track_instructions_reference({}, 4)


def _compare_marks(text: str) -> dict[str, str]:
    """``{benchmark row: asv's mark}`` from ``asv compare`` output (``+`` worse, ``-`` better)."""
    marks = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else line.split()
        if cells and "bench_pairs." in cells[-1]:
            marks[cells[-1].split("bench_pairs.", 1)[1]] = cells[0] if cells[0] in ("+", "-", "!", "x", "*") else " "
    return marks


@pytest.mark.slow
def test_asv_marks_a_planted_ratio_regression_worse_and_continuous_logic_fails(tmp_path):
    """Two commits of a repo whose pair's optimized side regresses in the second, each recorded by
    `asv run --python=same --set-commit-hash` on the ratio benchmarks only: `asv compare` marks
    the cost ratio `+` (worse) where it marks the speedup `-` (asv reads every track_ figure as
    lower-is-better), and asv continuous' rule (exit 1 when any benchmark worsened) fails."""
    repo = PlantedRepo(tmp_path)
    bench = r"PlantedSum\.track_(cost_ratio|speedup|instructions_optimized)"
    before = repo.commit("the planted pair")
    repo.record(before, bench)
    after = repo.commit("optimized: sort first (the planted regression)", fast=FAST_REGRESSED)
    repo.record(after, bench)

    out = repo.asv("compare", "--factor", "1.1", "--machine", "testbox", before, after)
    assert out.returncode == 0, out.stderr
    marks = _compare_marks(out.stdout)
    assert marks.get("PlantedSum.track_cost_ratio(3000)") == "+", out.stdout
    assert marks.get("PlantedSum.track_speedup(3000)") == "-", out.stdout  # the misreading it fixes
    # a walltime pair's instruction benchmark is skipped, not failed: no mark, n/a
    assert marks.get("PlantedSum.track_instructions_optimized(3000)") == " ", out.stdout
    assert "n/a" in next(line for line in out.stdout.splitlines() if "track_instructions_optimized" in line)
    continuous = ("import sys\nfrom asv.config import Config\nfrom asv.commands.compare import Compare\n"
                  "worse, better = Compare.print_table(Config.load('asv.conf.json'), sys.argv[1], sys.argv[2], "
                  "factor=1.1, split=False, machine='testbox')\nsys.exit(1 if worse else 0)\n")
    regressed = repo.sh(sys.executable, "-c", continuous, before, after)
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    unchanged = repo.sh(sys.executable, "-c", continuous, before, before)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
