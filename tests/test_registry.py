"""The pair registry: built-ins, plugin discovery, selection, and the Pair contract."""
from __future__ import annotations

import pytest

from pairbench.registry import Bound, Pair, PairbenchError, Workload, all_pairs, builtin_pairs, select


def _pair(**kw):
    base = dict(name="x", summary="s", reference="a", optimized="b", workload=lambda n, s: Workload(n),
                bind=lambda m, i: (lambda: i), check=lambda a, b: None, sizes=(10, 1), default_size=10,
                floor=1.5)
    base.update(kw)
    return Pair(**base)


def test_builtin_pairs_have_both_sides_and_sane_fields():
    pairs = builtin_pairs()
    assert pairs, "no built-in pair registered"
    for p in pairs:
        assert p.reference.startswith("reference.") and p.optimized.startswith("optimized.")
        assert p.reference.split(".", 1)[1] == p.optimized.split(".", 1)[1]
        assert p.default_size >= 1 and len(p.sizes) >= 2 and p.floor > 0
        assert p.summary and "\n" not in p.summary


def test_plugin_pair_is_discovered(plugin_path):
    names = [p.name for p in all_pairs()]
    assert "demo.members" in names
    demo = select(["demo"])[0]
    assert demo.source == "pb_demo.pairs"


def test_select_by_component_prefix_and_unknown_name(plugin_path):
    assert [p.name for p in select(["demo"])] == ["demo.members"]
    with pytest.raises(PairbenchError, match="no pair named 'nope'"):
        select(["nope"])


def test_pair_validates_its_fields():
    assert _pair().sizes == (1, 10)
    with pytest.raises(PairbenchError, match="sizes"):
        _pair(sizes=())
    with pytest.raises(PairbenchError, match="floor"):
        _pair(floor=0)
    with pytest.raises(PairbenchError, match="sizes"):
        _pair(sizes=(0, 5))


def test_sizes_for_run_quick_and_gate():
    p = _pair(sizes=(1, 10, 100), default_size=100, quick_size=10, gate_size=100)
    assert p.size_for() == 100 and p.size_for(quick=True) == 10
    assert p.size_for(gate=True) == 100 and p.size_for(gate=True, quick=True) == 100
    assert p.sweep_sizes(quick=True) == (1, 10)


def test_bind_side_wraps_plain_callables_and_rejects_others():
    p = _pair(reference="json", optimized="json")
    b = p.bind_side("reference", 42)
    assert isinstance(b, Bound) and b() == 42 and b.reset is None
    with pytest.raises(PairbenchError, match="side"):
        p.bind_side("fast", 1)
    bad = _pair(reference="json", optimized="json", bind=lambda m, i: 3)
    with pytest.raises(PairbenchError, match="callable"):
        bad.bind_side("optimized", 1)


def test_workload_cleanup_runs_once():
    calls = []
    with Workload(1, cleanup=lambda: calls.append(1)) as wl:
        pass
    wl.close()
    assert calls == [1]


def test_scratch_folder_workload_is_removed_on_close_and_on_a_failed_build():
    import os

    with Workload.in_scratch_folder("pb-test-", lambda folder: folder, "d") as wl:
        assert os.path.isdir(wl.inputs) and wl.description == "d"
    assert not os.path.exists(wl.inputs)
    made = []

    def broken(folder):
        made.append(folder)
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        Workload.in_scratch_folder("pb-test-", broken)
    assert made and not os.path.exists(made[0])
