"""The command line end to end, on the demo plugin pair: list, run (table, JSON, PNG), gate, errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pairbench.cli import main


def pb(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "pairbench", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_list_shows_builtin_and_plugin_pairs(plugin_env):
    out = pb("list", env=plugin_env)
    assert out.returncode == 0, out.stderr
    assert "demo.members" in out.stdout and "pb_demo.pairs" in out.stdout


def test_run_writes_table_json_and_png(plugin_env, tmp_path):
    js, png = tmp_path / "r.json", tmp_path / "r.png"
    out = pb("run", "demo", "--quick", "--json", str(js), "--plot", str(png), env=plugin_env)
    assert out.returncode == 0, out.stderr
    assert "speedup [95% CI]" in out.stdout and "demo.members" in out.stdout
    doc = json.loads(js.read_text())
    assert set(doc) >= {"machine", "pairs"}
    (entry,) = doc["pairs"]
    for key in ("name", "size", "reference_s", "optimized_s", "speedup", "ci_low", "ci_high", "equivalent", "one_off_s"):
        assert key in entry
    assert entry["name"] == "demo.members" and entry["equivalent"] is True
    assert entry["ci_low"] <= entry["speedup"] <= entry["ci_high"]
    assert entry["reference_s"] > entry["optimized_s"] > 0
    assert len(entry["sweep"]) >= 2 and entry["reference_slope"] > entry["optimized_slope"]
    assert doc["machine"]["threads"]["OMP_NUM_THREADS"] == "1"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gate_passes_the_plugin_pair(plugin_env):
    out = pb("gate", "demo", "--quick", "--no-progress", env=plugin_env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("PASS  demo.members")


@pytest.mark.parametrize("argv, needle", [
    (["run", "no_such_pair"], "no pair named 'no_such_pair'"),
    (["run", "--size", "0"], "expected a positive integer"),
    (["run", "--plot", "/no/such/folder/x.png", "demo", "--quick"], "does not exist"),
    (["--threads", "0", "list"], "expected a positive integer"),
])
def test_bad_arguments_are_one_line_errors(plugin_env, argv, needle):
    out = pb(*argv, env=plugin_env)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_gate_with_unknown_pair_exits_2(plugin_env):
    out = pb("gate", "nope", "--quick", env=plugin_env)
    assert out.returncode == 2 and "no pair named 'nope'" in out.stdout


def test_help_lists_every_command():
    out = pb("--help")
    for cmd in ("list", "run", "gate", "profile", "flamediff", "report"):
        assert cmd in out.stdout


def test_main_returns_exit_codes_in_process(plugin_path, capsys):
    assert main(["list"]) == 0
    assert "demo.members" in capsys.readouterr().out
