"""Pairs of ``dedup_store``: batch insert and batch lookup of trial signatures, in SQLite and on PostgreSQL.

Seed 002 claims 332x for "SQLite batch insert (1000 ops)" and 58x for "batch lookup (100 ops)";
these pairs time the same operations. Each side works on its own store file: the reference in
SQLite's default rollback journal with ``synchronous=FULL``, the optimized side in WAL with
``synchronous=NORMAL`` (see the two modules' docstrings). Opening a store is a one-off cost,
measured by ``one_off`` and kept out of the timed calls.

``dedup_store.pg_add_batch`` / ``pg_seen_batch`` time the same calls on a PostgreSQL store
(:mod:`pairbench.pairs._dedup_store_pg`); they are registered only where a server can be had.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import sqlite3
import tempfile
import time
from types import ModuleType
from typing import Any, Callable

from pairbench.equivalence import assert_equivalent
from pairbench.registry import Bound, NotEquivalent, Pair, Workload

PREFILLED = 10_000  # signatures already in the store that seen_batch queries
_SIDECARS = ("", "-wal", "-shm", "-journal")
_store_names = itertools.count()


def signatures(count: int, seed: int, *, salt: str = "") -> list[str]:
    """``count`` distinct, deterministic signatures shaped like the real ones (sha256 hex)."""
    return [hashlib.sha256(f"{salt}{seed}:{i}".encode()).hexdigest() for i in range(count)]


def _remove_store(path: str) -> None:
    for suffix in _SIDECARS:
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def _new_store_path(folder: str, module: ModuleType) -> str:
    return os.path.join(folder, f"{module.__name__}-{next(_store_names)}.sqlite")


def _workload_dir() -> tuple[str, Callable[[], None]]:
    folder = tempfile.mkdtemp(prefix="pairbench-dedup-")
    return folder, lambda: shutil.rmtree(folder, ignore_errors=True)


# -- dedup_store.add_batch ------------------------------------------------------------------
def add_batch_workload(size: int, seed: int) -> Workload:
    folder, cleanup = _workload_dir()
    return Workload({"dir": folder, "sigs": signatures(size, seed)}, cleanup=cleanup,
                    description=f"{size} new signatures into an empty store")


class _FreshStore:
    """A store that ``reset`` replaces with a new, empty file (untimed) before every timed call."""

    def __init__(self, module: ModuleType, folder: str) -> None:
        self.module, self.folder = module, folder
        self.guard: Any = None
        self.reset()

    def reset(self) -> None:
        self.close()
        self.guard = self.module.NoDupeGuard(_new_store_path(self.folder, self.module))

    def add_batch(self, sigs: list[str]) -> tuple[int, int]:
        return self.guard.add_batch(sigs), len(self.guard)

    def close(self) -> None:
        if self.guard is not None:
            guard, self.guard = self.guard, None
            guard.close()
            _remove_store(guard.path)


def bind_add_batch(module: ModuleType, inputs: dict) -> Bound:
    store = _FreshStore(module, inputs["dir"])
    sigs = inputs["sigs"]
    return Bound(lambda: store.add_batch(sigs), reset=store.reset, close=store.close)


def check_add_batch(ref: tuple[int, int], opt: tuple[int, int]) -> None:
    """Same number of new signatures and the same number of rows in the store afterwards."""
    assert_equivalent(list(ref), list(opt), what="(new signatures, rows in store)")


# -- dedup_store.seen_batch -----------------------------------------------------------------
def seen_batch_workload(size: int, seed: int) -> Workload:
    """A store of PREFILLED signatures (rollback journal, as SQLite makes it) and ``size``
    queries, half of them stored, in a seeded random order."""
    from reference.dedup_store import SCHEMA, TABLE

    folder, cleanup = _workload_dir()
    stored = signatures(PREFILLED, seed)
    rng = random.Random(seed)
    present = rng.sample(stored, size // 2)
    queries = present + signatures(size - len(present), seed, salt="absent:")
    rng.shuffle(queries)
    base = os.path.join(folder, "prefilled.sqlite")
    with sqlite3.connect(base) as conn:
        conn.execute(SCHEMA)
        conn.executemany(f"INSERT INTO {TABLE} (sig) VALUES (?)", zip(stored))
    conn.close()
    return Workload({"dir": folder, "base": base, "queries": queries}, cleanup=cleanup,
                    description=f"{size} lookups ({len(present)} present) in {PREFILLED} signatures")


def bind_seen_batch(module: ModuleType, inputs: dict) -> Bound:
    """Each side queries its own copy of the prefilled file (the optimized side turns its copy
    to WAL on opening)."""
    path = _new_store_path(inputs["dir"], module)
    shutil.copyfile(inputs["base"], path)
    guard = module.NoDupeGuard(path)
    queries = inputs["queries"]

    def close() -> None:
        guard.close()
        _remove_store(path)

    return Bound(lambda: guard.seen_batch(queries), close=close)


def check_seen_batch(ref: dict[str, bool], opt: dict[str, bool]) -> None:
    """Same answer for every signature, keys in the same order."""
    assert_equivalent(ref, opt, what="seen_batch result")
    if list(ref) != list(opt):
        first = next(i for i, (a, b) in enumerate(zip(ref, opt)) if a != b)
        raise NotEquivalent(f"seen_batch result: key order differs first at position {first}: "
                            f"reference={list(ref)[first]!r} optimized={list(opt)[first]!r}")


# -- one-off cost ---------------------------------------------------------------------------
def open_cost(module: ModuleType, repeats: int = 5) -> dict[str, float]:
    """Median seconds to open a store: a new file (connect, journal mode, create the table) and
    an existing one (connect, journal mode, find the table)."""
    folder, cleanup = _workload_dir()
    new, existing = [], []
    try:
        for _ in range(repeats):
            path = _new_store_path(folder, module)
            start = time.perf_counter()
            module.NoDupeGuard(path).close()
            new.append(time.perf_counter() - start)
            start = time.perf_counter()
            module.NoDupeGuard(path).close()
            existing.append(time.perf_counter() - start)
    finally:
        cleanup()
    return {"open new store": sorted(new)[len(new) // 2],
            "open existing store": sorted(existing)[len(existing) // 2]}


# Floors: far above 1x (the ratio when the optimized side is swapped for the reference) and far
# below what was measured on the 2-core dev VM (ext4). add_batch's speedup is the reference's
# fsyncs: ~470x @100 and 530-660x @1000 on a quiet disk, thousands when other processes load the
# disk, and ~90-110x with the store on tmpfs (fsync free): a floor of 30 holds on any disk.
# seen_batch does not depend on fsync (~85-100x @100 on ext4 and tmpfs alike): floor 20.
PAIRS = [
    Pair(
        name="dedup_store.add_batch",
        summary="add_batch of N new signatures into an empty SQLite store: commit per row vs one "
                "WAL transaction",
        reference="reference.dedup_store",
        optimized="optimized.dedup_store",
        workload=add_batch_workload,
        bind=bind_add_batch,
        check=check_add_batch,
        sizes=(10, 100, 1000),
        default_size=1000,
        quick_size=100,
        gate_size=100,  # the reference takes ~0.1 s per call here (~0.9 s at 1000)
        floor=30.0,
        stateful=True,  # every timed call starts from a fresh, empty store (reset, untimed)
        counting="walltime",
        counting_note="its cost is fsync per commit, in the kernel and the disk, which callgrind cannot see",
        size_unit="signatures",
        max_slope=1.2,
        one_off=open_cost,
        tags=("sqlite", "io"),
    ),
    Pair(
        name="dedup_store.seen_batch",
        summary="seen_batch of N signatures (half present) against 10k stored: a connection per "
                "lookup vs chunked IN (...) on one connection",
        reference="reference.dedup_store",
        optimized="optimized.dedup_store",
        workload=seen_batch_workload,
        bind=bind_seen_batch,
        check=check_seen_batch,
        sizes=(10, 100, 1000),
        default_size=100,
        quick_size=100,
        floor=20.0,
        size_unit="signatures",
        max_slope=1.2,
        one_off=open_cost,
        tags=("sqlite", "io"),
    ),
]


def _server_pairs() -> list[Pair]:
    """The PostgreSQL pairs, or none (with one line on stderr saying how to enable them)."""
    from pairbench.pairs import _dedup_store_pg

    return _dedup_store_pg.pairs_if_server()


PAIRS += _server_pairs()
