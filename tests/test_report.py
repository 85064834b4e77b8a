"""``pairbench report``: history pictures and index.html from real asv results; drop marking."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from pairbench.asv_results import Point, load
from pairbench.plot import plot_history
from pairbench.report import build_report, missing_benchmarks, significant_drop
from tests.conftest import ROOT


def _pt(commit, speedup, lo, hi, ref=(), opt=()):
    return Point(commit * 40, 0.0, "100", speedup=speedup, ci_low=lo, ci_high=hi,
                 reference_samples=list(ref), optimized_samples=list(opt))


def test_drop_needs_separated_intervals_or_significant_samples():
    assert significant_drop(_pt("a", 30, 28, 32), _pt("b", 15, 14, 16))
    assert significant_drop(_pt("a", 30, 20, 40), _pt("b", 25, 18, 33)) is None
    # narrow intervals a few percent apart: between-run drift, not a drop
    assert significant_drop(_pt("a", 58.9, 58.0, 59.5), _pt("b", 57.9, 57.0, 57.8)) is None
    old = _pt("a", 30, 10, 50, ref=[30, 31, 29, 30, 32], opt=[1, 1, 1, 1, 1])
    new = _pt("b", 15, 5, 35, ref=[15, 16, 14, 15, 15], opt=[1, 1, 1, 1, 1])
    assert "Mann-Whitney" in significant_drop(old, new)
    assert significant_drop(new, old) is None  # a rise is never a drop


def _asv_results(tmp, commits, bench):
    """asv results of ``bench`` (a regex of the demo plugin pair's benchmarks) on ``commits``."""
    import os

    from tests.conftest import PLUGIN_DIR

    work = tmp / "suite"
    shutil.copytree(ROOT / "benchmarks", work / "benchmarks")
    conf = json.loads((ROOT / "asv.conf.json").read_text())
    conf.update(repo=str(ROOT), results_dir=str(tmp / "results"), env_dir=str(tmp / "env"), html_dir=str(tmp / "html"))
    (work / "asv.conf.json").write_text(json.dumps(conf))
    env = dict(os.environ, HOME=str(tmp), ASV_PYTHONPATH=str(PLUGIN_DIR))
    subprocess.run(["asv", "machine", "--yes", "--machine", "box"], cwd=work, env=env, check=True, capture_output=True)
    for commit in commits:
        out = subprocess.run(["asv", "run", "--python=same", "--machine", "box", "--set-commit-hash", commit,
                              "--bench", bench, "--record-samples", "-a", "repeat=3", "-a", "processes=1",
                              "-a", "warmup_time=0"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    return tmp / "results"


def _last_commits(n):
    return subprocess.run(["git", "rev-list", f"-{n}", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split()[::-1]


@pytest.fixture(scope="module")
def asv_history(tmp_path_factory):
    """Two commits' asv results for the demo plugin pair, recorded with samples."""
    commits = _last_commits(2)
    # the timed benchmarks only: the report's instruction history has its own test
    return _asv_results(tmp_path_factory.mktemp("asvhist"), commits, r"DemoMembers\.(time_|track_speedup)"), commits


@pytest.mark.slow
def test_report_from_real_asv_results(asv_history, tmp_path):
    results, commits = asv_history
    data = load(results)
    pts = data["DemoMembers"]["1000"]
    assert [p.commit for p in pts] == commits
    for p in pts:
        assert p.ci_low <= p.speedup <= p.ci_high and p.reference_s > p.optimized_s
        assert len(p.ratio_samples()) == 3
    written = build_report(results, tmp_path / "report")
    names = {p.name for p in written}
    assert {"DemoMembers.png", "index.html"} <= names
    page = (tmp_path / "report" / "index.html").read_text()
    for c in commits:
        assert c[:10] in page
    assert (tmp_path / "report" / "DemoMembers.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_gate_against_a_recorded_commit(asv_history, plugin_env):
    results, commits = asv_history
    out = subprocess.run(["pairbench", "gate", "demo", "--quick", "--no-progress", "--against", commits[-1],
                          "--results", str(results)], capture_output=True, text=True, env=plugin_env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"no significant drop vs {commits[-1][:8]}" in out.stdout


def test_report_without_results_is_a_clear_error(tmp_path):
    from pairbench.registry import PairbenchError

    with pytest.raises(PairbenchError, match="--results"):
        build_report(tmp_path / "missing", tmp_path / "out")


def _history(**fields):
    """Two commits of one size, each Point holding only ``fields`` (the rest not recorded)."""
    return {"100": [Point(c * 40, 0.0, "100", **fields) for c in "ab"]}


@pytest.mark.parametrize("fields, missing", [
    ({"speedup": 30.0, "ci_low": 28.0, "ci_high": 32.0}, ["time_reference", "time_optimized"]),
    ({"reference_s": 1e-3, "optimized_s": 1e-4}, ["track_speedup", "track_speedup_ci_low", "track_speedup_ci_high"]),
    ({"speedup": 30.0, "reference_s": 1e-3}, ["track_speedup_ci_low", "track_speedup_ci_high", "time_optimized"]),
])
def test_history_draws_what_is_there_and_names_what_is_missing(fields, missing):
    by_size = _history(**fields)
    assert missing_benchmarks(by_size) == missing
    assert plot_history("Demo", by_size, [], missing)[:4] == b"\x89PNG"


@pytest.mark.slow
def test_report_on_track_only_results_says_what_is_missing(tmp_path):
    # `asv run --bench track_speedup`: no time_ benchmarks; the report used to die on the empty log axis
    results = _asv_results(tmp_path / "asv", _last_commits(1), "DemoMembers.track_speedup")
    written = build_report(results, tmp_path / "report")
    assert (tmp_path / "report" / "DemoMembers.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Not recorded in these results: <code>time_reference</code>, <code>time_optimized</code>" in page
    assert "nan" not in page.lower()
    assert {p.name for p in written} == {"DemoMembers.png", "index.html"}


def test_sizes_sort_by_number_and_log_axes_read_as_plain_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pairbench.plot import readable_log_axis, size_order

    assert [s for s, _ in sorted({"1000": 0, "30": 0, "100": 0}.items(), key=size_order)] == ["30", "100", "1000"]
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.5, 5.2])
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis, "x")
    fig.canvas.draw()
    major = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    minor = [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]
    assert "1x" in major and set(minor) >= {"2x", "3x", "5x"} and "4x" not in minor
    ax.set_yscale("linear")
    ax.plot([0, 1], [3e-5, 2e-4])
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis, "s")
    fig.canvas.draw()
    assert "100 µs" in [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)
    # a short axis (60x-82x) holds no major tick and none at 2, 3 or 5: every minor tick is labelled
    fig, ax = plt.subplots()
    ax.plot([0, 1], [62, 80])
    ax.set_yscale("log")
    ax.set_ylim(60, 82)
    readable_log_axis(ax.yaxis, "x")
    fig.canvas.draw()
    assert {"60x", "70x", "80x"} <= {t.get_text() for t in ax.get_yticklabels(minor=True)}
    plt.close(fig)
