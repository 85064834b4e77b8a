"""The profiling package: each profiler on a pair writes its files, named after the side's own
functions; folded stacks, the SVG renderer, speedscope, hot spots and the one-line errors."""
from __future__ import annotations

import cProfile
import json
import pstats
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pairbench.registry import Pair, PairbenchError, Workload, select
from profiling import runner
from profiling.collapsed import FoldedStacks, SideProfile
from profiling.frames import FrameNamer, builtin_name
from profiling.hotspots import Hotspots
from profiling.session import profile_pair, profile_side
from profiling.speedscope import SpeedscopeRenderer
from profiling.svg import FlameGraphSVG, fit_label, tree_from_folded, write_flamegraph
from tests.fixtures_profiling import COMPUTE, REFERENCE, SQLITE

SVG_NS = "{http://www.w3.org/2000/svg}"
REF_FUNCS = [f"{REFERENCE}.{name}" for name in ("process", "parse", "crunch", "tidy")]
SMALL = 5_000


def frame_titles(svg_path: Path) -> list[str]:
    root = ET.parse(svg_path).getroot()
    return [g.find(f"{SVG_NS}title").text for g in root.iter(f"{SVG_NS}g")]


def assert_reference_names(paths: list[Path], *suffixes: str) -> None:
    """Every file named by ``suffixes`` holds the reference's own function names."""
    for suffix in suffixes:
        chosen = [p for p in paths if p.name.endswith(suffix)]
        assert chosen, f"no {suffix} written: {[p.name for p in paths]}"
        text = chosen[0].read_text(encoding="utf-8")
        for func in ("parse", "crunch", "tidy"):
            assert func in text, f"{func} missing from {chosen[0].name}"


# -- each profiler on the fixture pair ------------------------------------------------------------
def test_pyinstrument_writes_html_speedscope_svg_and_hotspots(tmp_path):
    paths = profile_pair(COMPUTE, impl="reference", profiler="pyinstrument", size=SMALL,
                         out_dir=tmp_path, min_samples=600)
    side_dir = tmp_path / "profiling_fixture.compute" / "reference"
    names = sorted(p.name for p in paths)
    assert names == sorted(["pyinstrument.html", "pyinstrument.speedscope.json", "pyinstrument.folded",
                            "pyinstrument.svg", "hotspots.md"])
    assert all(p.parent == side_dir and p.stat().st_size > 0 for p in paths)
    assert_reference_names(paths, ".html", ".speedscope.json", ".folded", ".svg", "hotspots.md")
    folded = FoldedStacks.read(side_dir / "pyinstrument.folded")
    frames = {f for stack in folded.stacks for f in stack}
    assert set(REF_FUNCS) <= frames
    # the untimed reset and the harness never show: stacks start at the bound call
    assert not any("reset_state" in f or "profiling.runner" in f for f in frames)
    assert {stack[0] for stack in folded.stacks} == {"tests.fixtures_profiling.compute_bind.<locals>.<lambda>"}
    doc = json.loads((side_dir / "pyinstrument.speedscope.json").read_text())
    assert doc["$schema"].startswith("https://www.speedscope.app/")
    hot = (side_dir / "hotspots.md").read_text()
    assert "Where the time goes:" in hot and "of reference time is in" in hot


def test_cprofile_writes_prof_and_derived_folded_stacks(tmp_path):
    paths = profile_pair(COMPUTE, impl="both", profiler="cprofile", size=SMALL, out_dir=tmp_path,
                         min_samples=100)
    ref_paths = [p for p in paths if p.parent.name == "reference"]
    assert {p.name for p in ref_paths} == {"cprofile.prof", "cprofile.folded", "cprofile.svg",
                                           "cprofile.speedscope.json", "hotspots.md"}
    assert {p.parent.name for p in paths} == {"reference", "optimized"}
    prof = next(p for p in ref_paths if p.suffix == ".prof")
    funcs = {key[2] for key in pstats.Stats(str(prof)).stats}
    assert {"parse", "crunch", "tidy", "process"} <= funcs
    assert_reference_names(ref_paths, ".folded", ".svg", "hotspots.md")
    # the optimized side's files hold its own helper, which the reference has not
    opt_folded = next(p for p in paths if p.parent.name == "optimized" and p.suffix == ".folded")
    assert "tests.fixture_profiling_optimized.tidy_fast_helper" in opt_folded.read_text()


def test_cprofile_verdict_counts_calls_per_item_on_a_sqlite_pair(tmp_path):
    paths = profile_pair(SQLITE, impl="reference", profiler="cprofile", size=40, out_dir=tmp_path,
                         min_samples=100)
    hot = next(p for p in paths if p.name == "hotspots.md").read_text()
    verdict = next(line for line in hot.splitlines() if line.startswith("**Where the time goes"))
    # the top self frame is one of SQLite's C methods, called once per row
    assert "sqlite3.Connection." in verdict and "1 call per row" in verdict, verdict
    assert "| calls per call |" in hot


def test_pyinstrument_loops_until_enough_samples_landed_in_long_c_calls(tmp_path):
    # SQLite calls are long C calls: pyinstrument samples at most once per call, so the time
    # target alone would fall short of the samples asked for
    profile, _paths = profile_side(SQLITE, "reference", profiler="pyinstrument", size=40,
                                   out_dir=tmp_path, min_samples=300)
    assert profile.folded.samples >= 300
    assert any(f.startswith("sqlite3.Connection.") for f in profile.folded.self_times())


def test_pyspy_writes_svg_speedscope_and_raw_stacks(tmp_path):
    paths = profile_pair(COMPUTE, impl="reference", profiler="py-spy", size=SMALL, out_dir=tmp_path,
                         min_samples=600)
    assert {p.name for p in paths} == {"py-spy.raw.txt", "py-spy.folded", "py-spy.svg",
                                       "py-spy.speedscope.json", "hotspots.md"}
    assert_reference_names(paths, ".raw.txt", ".folded", ".svg", ".speedscope.json", "hotspots.md")
    folded = FoldedStacks.read(next(p for p in paths if p.suffix == ".folded"))
    frames = {f for stack in folded.stacks for f in stack}
    assert set(REF_FUNCS) <= frames and not any("reset_state" in f for f in frames)
    hot = next(p for p in paths if p.name == "hotspots.md").read_text()
    assert "Hottest lines" in hot  # py-spy keeps the line the top frame was running


def test_pyspy_child_errors_come_back_as_one_line(tmp_path):
    with pytest.raises(PairbenchError, match=r"^py-spy child: --pair-module: cannot import") as err:
        profile_pair(COMPUTE, impl="reference", profiler="py-spy", size=SMALL, out_dir=tmp_path,
                     min_samples=10, pair_module="tests.no_such_fixture_module")
    assert "\n" not in str(err.value)


def _fake_pyspy(tmp_path: Path, message: str, code: int = 1) -> str:
    script = tmp_path / "fake-py-spy"
    script.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_pyspy_that_cannot_attach_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRBENCH_PY_SPY", _fake_pyspy(
        tmp_path, "Error: Failed to open process 1234: Operation not permitted (os error 1)"))
    with pytest.raises(PairbenchError, match="py-spy cannot attach") as err:
        profile_pair(COMPUTE, impl="reference", profiler="py-spy", size=100, out_dir=tmp_path / "out")
    assert "ptrace" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out" / "profiling_fixture.compute" / "reference" / "hotspots.md").exists()


def test_pyspy_other_failure_and_missing_executable(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRBENCH_PY_SPY", _fake_pyspy(tmp_path, "Error: something odd", code=3))
    with pytest.raises(PairbenchError, match=r"py-spy failed \(exit 3\): Error: something odd"):
        profile_pair(COMPUTE, impl="reference", profiler="py-spy", size=100, out_dir=tmp_path)
    monkeypatch.setenv("PAIRBENCH_PY_SPY", str(tmp_path / "nowhere" / "py-spy"))
    with pytest.raises(PairbenchError, match="py-spy could not be started"):
        profile_pair(COMPUTE, impl="reference", profiler="py-spy", size=100, out_dir=tmp_path)



def test_pyspy_is_found_beside_the_interpreter_without_the_venv_on_path(tmp_path, monkeypatch):
    # `.venv/bin/pairbench` run with the venv not activated: py-spy sits beside sys.executable only
    from profiling import pyspy

    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    beside = Path(_fake_pyspy(bindir, "unused"))
    beside.rename(bindir / "py-spy")
    monkeypatch.delenv("PAIRBENCH_PY_SPY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pyspy.sys, "executable", str(bindir / "python"))
    assert pyspy.find_pyspy() == str(bindir / "py-spy")
    # the environment variable still wins; with neither, the error says how to install it
    monkeypatch.setenv("PAIRBENCH_PY_SPY", "/somewhere/py-spy")
    assert pyspy.find_pyspy() == "/somewhere/py-spy"
    monkeypatch.delenv("PAIRBENCH_PY_SPY")
    (bindir / "py-spy").unlink()
    with pytest.raises(PairbenchError, match=r"py-spy is not installed \(pip install py-spy\)"):
        pyspy.find_pyspy()

# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"profiler": "perf"}, r"profiler: unknown 'perf' \(choose from pyinstrument, py-spy, cprofile, callgrind\)"),
    ({"impl": "fast"}, "impl: must be one of both, reference, optimized"),
    ({"size": 0}, "size: must be a positive integer"),
    ({"size": 2.5}, "size: must be a positive integer"),
    ({"duration": -1.0}, "duration: must be a positive number"),
    ({"min_samples": 0}, "min_samples: must be a positive integer"),
    ({"rate": 0}, "rate: must be an integer from 1 to 10000"),
])
def test_bad_arguments_are_refused_by_name(tmp_path, kwargs, match):
    with pytest.raises(PairbenchError, match=match):
        profile_pair(COMPUTE, out_dir=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_not_a_pair_is_refused(tmp_path):
    with pytest.raises(PairbenchError, match="pair: expected a pairbench Pair, got str"):
        profile_pair("profiling_fixture.compute", out_dir=tmp_path)


def _broken_workload(size, seed):
    return Workload(inputs=size)


def _broken_bind(module, inputs):
    def call():
        raise ValueError("inputs: something the pair did not expect\nsecond line")
    return call


def test_a_side_that_raises_is_one_line(tmp_path):
    broken = Pair(name="broken", summary="raises", reference="tests.fixture_profiling_reference",
                  optimized="tests.fixture_profiling_optimized", workload=_broken_workload,
                  bind=_broken_bind, check=lambda a, b: None, sizes=(1, 2), default_size=1, floor=1.0)
    with pytest.raises(PairbenchError) as err:
        profile_pair(broken, impl="reference", out_dir=tmp_path)
    assert str(err.value) == ("pair 'broken': the reference side raised ValueError: inputs: "
                              "something the pair did not expect")


# -- a real registered pair, when one has landed ------------------------------------------------
@pytest.mark.parametrize("profiler", ["pyinstrument", "cprofile", "py-spy"])
def test_each_profiler_on_a_registered_pair(tmp_path, profiler):
    pairs = [p for p in select() if p.source == "builtin"]
    if not pairs:
        pytest.skip("no built-in pair registered yet")
    pair = next((p for p in pairs if p.name.startswith("config_cache")), pairs[0])
    size = pair.quick_size or min(pair.sizes)
    paths = profile_pair(pair, impl="reference", profiler=profiler, size=size, out_dir=tmp_path,
                         duration=0.3)
    folded = FoldedStacks.read(next(p for p in paths if p.suffix == ".folded"))
    frames = {f for stack in folded.stacks for f in stack}
    assert any(f.startswith(pair.reference + ".") for f in frames), sorted(frames)[:20]
    assert "Where the time goes:" in next(p for p in paths if p.name == "hotspots.md").read_text()


# -- folded stacks ---------------------------------------------------------------------------------
def test_folded_text_round_trips_in_microseconds():
    folded = FoldedStacks({("a", "b"): 0.002, ("a",): 0.0005, ("a", "c;d"): 0.0000004})
    text = folded.to_text()
    assert text.splitlines() == ["a;b 2000", "a 500"]  # a sub-microsecond stack is dropped
    back = FoldedStacks.parse(text)
    assert back.stacks == pytest.approx({("a", "b"): 0.002, ("a",): 0.0005})
    assert back.self_times() == pytest.approx({"b": 0.002, "a": 0.0005})
    assert back.total_times() == pytest.approx({"a": 0.0025, "b": 0.002})
    with pytest.raises(ValueError, match="line 2 has no count"):
        FoldedStacks.parse("a;b 1\na;b\n")


def test_below_cuts_stacks_at_the_marker_and_per_call_divides():
    m = runner.MARKER
    folded = FoldedStacks({("main", m, "f", "g"): 3.0, ("main", "reset"): 5.0, ("main", m): 1.0,
                           ("main", m, "f"): 1.0}, calls=4)
    cut = folded.below(m)
    assert cut.stacks == {("f", "g"): 3.0, ("f",): 1.0}
    assert cut.per_call().stacks == {("f", "g"): 0.75, ("f",): 0.25}


def _heavy(n):
    return sum(range(n))


def _light_caller():
    return _heavy(10)


def _heavy_caller():
    return _heavy(200_000)


def _program():
    for _ in range(5):
        _light_caller()
        _heavy_caller()


def test_from_pstats_splits_a_shared_callee_by_caller():
    prof = cProfile.Profile()
    prof.runcall(_program)
    stats = pstats.Stats(prof).stats
    folded = FoldedStacks.from_pstats(stats, root=lambda key: key[2] == "_program")
    mod = __name__
    stacks = folded.stacks
    via_heavy = sum(t for s, t in stacks.items() if s[:2] == (f"{mod}._heavy_caller", f"{mod}._heavy"))
    via_light = sum(t for s, t in stacks.items() if s[:2] == (f"{mod}._light_caller", f"{mod}._heavy"))
    assert via_heavy > 100 * via_light > 0
    assert folded.total_times()[f"{mod}._heavy"] == pytest.approx(via_heavy + via_light)
    assert folded.call_counts[f"{mod}._heavy"] == 10
    assert folded.total == pytest.approx(stats[next(k for k in stats if k[2] == "_program")][3], rel=0.05)


def test_frame_names_are_module_and_qualname():
    assert builtin_name("<method 'commit' of 'sqlite3.Connection' objects>") == "sqlite3.Connection.commit"
    assert builtin_name("<built-in method time.sleep>") == "time.sleep"
    namer = FrameNamer()
    import sqlite3  # noqa: F401  (loaded, so its C types can be found)

    assert namer.pyinstrument("Connection.commit\x00<built-in>\x000") == "sqlite3.Connection.commit"
    assert namer.pyinstrument("sorted\x00<built-in>\x000") == "builtins.sorted"
    line = _light_caller.__code__.co_firstlineno
    assert namer.cprofile(__file__, line, "_light_caller") == f"{__name__}._light_caller"
    code = FoldedStacks.to_text.__code__  # cProfile's co_name 'to_text' resolves to its class
    assert namer.cprofile(code.co_filename, code.co_firstlineno, "to_text") == \
        "profiling.collapsed.FoldedStacks.to_text"
    assert namer.module_of("<frozen importlib._bootstrap>") == "importlib._bootstrap"


def test_prof2svg_converts_a_prof_file_from_a_named_root(tmp_path):
    from profiling.prof2svg import convert_prof, main

    prof = cProfile.Profile()
    prof.runcall(_program)
    prof.dump_stats(tmp_path / "run.prof")
    paths = convert_prof(tmp_path / "run.prof", root="_program", out_dir=tmp_path / "out")
    assert [p.name for p in paths] == ["run.folded", "run.svg", "run.hotspots.md"]
    folded = FoldedStacks.read(paths[0])
    assert {s[0] for s in folded.stacks} == {f"{__name__}._light_caller", f"{__name__}._heavy_caller"}
    ET.parse(paths[1])
    assert "of _program time is in" in paths[2].read_text()
    with pytest.raises(PairbenchError, match="root: no function named 'nope'"):
        convert_prof(tmp_path / "run.prof", root="nope")
    (tmp_path / "bad.prof").write_text("not a profile")
    assert main([str(tmp_path / "bad.prof")]) == 2


# -- renderers -----------------------------------------------------------------------------------
def test_svg_flamegraph_parses_and_every_frame_has_a_tooltip(tmp_path):
    folded = FoldedStacks({("main", "reference.x.slow"): 0.006, ("main", "reference.x.fast"): 0.002,
                           ("main",): 0.002, ("main", "tiny"): 1e-9}, calls=2)
    path = write_flamegraph(folded, tmp_path / "f.svg", title="t <&>", highlight=("reference.x.",),
                            root_name="reference call")
    titles = frame_titles(path)
    assert titles[0].startswith("reference call\n5 ms per call (100.0%)")
    assert any(t.startswith("reference.x.slow\n3 ms per call (60.0%)") for t in titles)
    assert not any(t.startswith("tiny") for t in titles)  # narrower than a pixel: left out
    assert "left out" in path.read_text()


def test_labels_shorten_to_their_tail():
    assert fit_label("reference.dedup_store.NoDupeGuard.add", 40) == "reference.dedup_store.NoDupeGuard.add"
    assert fit_label("reference.dedup_store.NoDupeGuard.add", 16) == "NoDupeGuard.add"
    assert fit_label("reference.dedup_store.NoDupeGuard.add", 2) == ""
    svg = FlameGraphSVG(title="x").render(tree_from_folded(FoldedStacks({("a",): 1.0})))
    ET.fromstring(svg)


def test_speedscope_weights_add_up_to_the_total():
    folded = FoldedStacks({("a", "b"): 0.003, ("a",): 0.001})
    doc = json.loads(SpeedscopeRenderer("p").render(folded))
    prof = doc["profiles"][0]
    assert prof["type"] == "sampled" and prof["unit"] == "microseconds"
    assert sum(prof["weights"]) == pytest.approx(4000)
    names = [f["name"] for f in doc["shared"]["frames"]]
    assert [[names[i] for i in s] for s in prof["samples"]] == [["a"], ["a", "b"]]


# -- hot spots -------------------------------------------------------------------------------------
def test_verdict_names_the_frame_its_share_kind_and_calls_per_item():
    bind = "pairbench.pairs.dedup_store.bind.<locals>.<lambda>"
    add = "reference.dedup_store.NoDupeGuard.add"
    folded = FoldedStacks({(bind, add, "sqlite3.Connection.commit"): 0.72,
                           (bind, add, "sqlite3.Connection.execute"): 0.18, (bind, add): 0.10},
                          calls=10, call_counts={"sqlite3.Connection.commit": 10_000,
                                                 "sqlite3.Connection.execute": 10_000, add: 10_000})
    profile = SideProfile("dedup_store.add_batch", "reference", "cprofile", 1000, folded, "rows")
    hot = Hotspots(profile, own_prefixes=("reference.dedup_store.",))
    assert hot.verdict() == ("72% of reference time is in sqlite3.Connection.commit "
                             "(I/O: SQLite commit; 1 call per row)")
    md = hot.markdown()
    assert "| 1 | `sqlite3.Connection.commit` | 72 ms | 72.0% | 1,000.0 |" in md
    assert md.index("Top frames by self time") < md.index("Top frames by total time")
    own = Hotspots(SideProfile("p", "reference", "py-spy", 5, FoldedStacks({(bind, add): 1.0}, calls=1)),
                   own_prefixes=("reference.dedup_store.",))
    assert own.verdict() == f"100% of reference time is in {add} (the reference side's own Python code)"
