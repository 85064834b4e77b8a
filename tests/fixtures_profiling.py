"""Fixture pairs for the profiling tests: small, deterministic in cost, not registered.

Tests pass them directly; the py-spy child finds them through ``--pair-module
tests.fixtures_profiling``.

- ``profiling_fixture.compute``: three pure-Python stages; the optimized side keeps ``parse``,
  makes ``crunch`` 6x slower and ``tidy`` ~4x faster (one frame of each flame-diff colour). It is
  stateful: its reset runs ``reset_state`` untimed before every call, which no profile may show.
- ``profiling_fixture.sqlite``: a commit per row (reference) against one ``executemany``
  transaction (optimized), on a throwaway SQLite file with ``synchronous=OFF`` so it stays fast.
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from pairbench.equivalence import assert_equivalent
from pairbench.registry import Bound, Pair, Workload

REFERENCE = "tests.fixture_profiling_reference"
OPTIMIZED = "tests.fixture_profiling_optimized"


def compute_workload(size: int, seed: int) -> Workload:
    return Workload(inputs={"n": size}, description=f"{size} loop steps per stage")


def compute_bind(module, inputs) -> Bound:
    n = inputs["n"]
    return Bound(lambda: module.process(n), reset=lambda: module.reset_state(n))


def check(ref_out, opt_out) -> None:
    assert_equivalent(ref_out, opt_out)


def sqlite_workload(size: int, seed: int) -> Workload:
    folder = tempfile.mkdtemp(prefix="pairbench-fixture-")
    path = Path(folder) / "kv.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    conn.close()
    rows = [(f"key-{seed}-{i}", f"value-{i}") for i in range(size)]
    return Workload(inputs={"path": path, "rows": rows},
                    cleanup=lambda: shutil.rmtree(folder, ignore_errors=True),
                    description=f"{size} rows into a fresh table")


def sqlite_bind(module, inputs) -> Bound:
    conn = sqlite3.connect(inputs["path"])
    conn.execute("PRAGMA synchronous=OFF")
    rows = inputs["rows"]

    def empty() -> None:
        with conn:
            conn.execute("DELETE FROM kv")

    return Bound(lambda: module.store_rows(conn, rows), reset=empty, close=conn.close)


COMPUTE = Pair(
    name="profiling_fixture.compute",
    summary="three pure-Python stages; optimized: one unchanged, one slower, one faster",
    reference=REFERENCE, optimized=OPTIMIZED,
    workload=compute_workload, bind=compute_bind, check=check,
    sizes=(2_000, 20_000), default_size=20_000, quick_size=2_000, floor=1.0,
    size_unit="steps", stateful=True,
)

SQLITE = Pair(
    name="profiling_fixture.sqlite",
    summary="rows into SQLite: a commit per row against one executemany transaction",
    reference=REFERENCE, optimized=OPTIMIZED,
    workload=sqlite_workload, bind=sqlite_bind, check=check,
    sizes=(20, 200), default_size=100, floor=1.0, size_unit="rows", stateful=True,
)

PAIRS = [COMPUTE, SQLITE]
