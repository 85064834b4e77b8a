"""The asv suite is generated from the registry (plugin pairs included) and runs under asv."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys

import pytest

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
        for meth in ("time_reference", "time_optimized", "peakmem_reference", "peakmem_optimized", "track_speedup"):
            assert callable(getattr(cls, meth))
        assert cls.track_speedup.unit == "x"
    from asv_runner.benchmarks._base import get_setup_cache_key

    keys = [get_setup_cache_key(getattr(mod, mod._class_name(p.name)).setup_cache) for p in all_pairs()]
    assert len(set(keys)) == len(keys), "asv would hand one pair's setup_cache to another"
    demo = mod.DemoMembers()
    cache = demo.setup_cache()
    demo.setup(cache, 100)
    demo.time_reference(cache, 100)
    speedup, lo, hi = cache[100]
    assert demo.track_speedup(cache, 100) == speedup > 1.0
    assert demo.track_speedup_ci_low(cache, 100) == lo <= speedup <= hi == demo.track_speedup_ci_high(cache, 100)


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
    subprocess.run(["asv", "machine", "--yes", "--machine", "testbox"], cwd=work, env=env, check=True,
                   capture_output=True)
    out = subprocess.run(["asv", "run", "--python=same", "--quick", "--machine", "testbox",
                          "--bench", "DemoMembers.time_optimized", "--bench", "DemoMembers.track_speedup",
                          "--bench", "ConfigCache.track_speedup", "--show-stderr"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bench_pairs.DemoMembers.time_optimized" in out.stdout
    assert "bench_pairs.ConfigCache.track_speedup" in out.stdout
    assert "failed" not in out.stdout, out.stdout
    results = list((tmp_path / "results" / "testbox").glob("*.json"))
    assert results, "asv stored no results"
