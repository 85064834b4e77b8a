"""Crash safety with real kills: SIGKILL in the middle of ``add_batch``, and a PostgreSQL crash-restart under a study.

A process that dies runs no ``except`` nor ``finally``: what survives is what the store had
committed. The optimized guard writes a batch as one transaction (SQLite: ``BEGIN IMMEDIATE`` ...
``COMMIT``; PostgreSQL: one autocommitted statement), so a writer killed at any moment leaves
whole batches only; the SQLite file passes ``PRAGMA integrity_check``. (The reference side
commits row by row by design, so only its integrity, not whole batches, would hold; it is not
tested here.)
"""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from optimized import dedup_store as opt_mod

KILLS = 20
BATCH = 5_000
ROOT = Path(__file__).resolve().parent.parent


def batch(k: int) -> list[str]:
    return [f"b{k:04d}-{i:06d}" for i in range(BATCH)]


def _write_batches(location: str, first: int, pipe) -> None:
    """The writer: announce batch k, add it, say it is done, go on to k + 1, until killed."""
    guard = opt_mod.NoDupeGuard(location)
    k = first
    while True:
        pipe.send(("start", k))
        guard.add_batch(batch(k))
        pipe.send(("done", k))
        k += 1


def drained(receive) -> list[tuple[str, int]]:
    """Every message left in a pipe whose writer is dead."""
    out = []
    try:
        while receive.poll():
            out.append(receive.recv())
    except EOFError:
        pass
    return out


def batch_counts(location: str) -> Counter:
    with opt_mod.NoDupeGuard(location) as guard:
        return Counter(sig.split("-", 1)[0] for sig in guard)


def kill_writers(location: str, settle) -> dict:
    """KILLS rounds: a forked writer is SIGKILLed at a random moment inside a batch (after it has
    announced its second one); after each round the store holds whole batches only."""
    ctx = multiprocessing.get_context("fork")
    with opt_mod.NoDupeGuard(location) as guard:
        guard.add_batch(batch(0))
        start = time.perf_counter()
        guard.add_batch(batch(1))
        per_batch = time.perf_counter() - start
    rng = random.Random(12)
    next_batch, before_commit, inside = 2, 0, 0
    for _ in range(KILLS):
        receive, send = ctx.Pipe(duplex=False)
        writer = ctx.Process(target=_write_batches, args=(location, next_batch, send))
        writer.start()
        send.close()
        announced = [receive.recv() for _ in range(3)]  # start, done, start: the second batch is under way
        time.sleep(rng.uniform(0, 0.8 * per_batch))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(30)
        assert writer.exitcode == -signal.SIGKILL
        announced += drained(receive)  # what it announced before it died
        settle()
        counts = batch_counts(location)
        assert set(counts.values()) == {BATCH}, f"a partial batch: {counts}"
        what, last = announced[-1]
        inside += what == "start"  # killed inside add_batch(batch(last))
        assert all(f"b{k:04d}" in counts for k in range(next_batch, last))  # done before the last: whole
        before_commit += f"b{last:04d}" not in counts
        next_batch = last + 1
    print(f"{location}: {inside} of {KILLS} kills inside add_batch, {before_commit} before its commit "
          f"({per_batch * 1e3:.0f} ms a batch)")
    return {"inside add_batch": inside, "before the commit": before_commit}


def test_sigkill_mid_batch_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"

    def integrity() -> None:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()

    outcome = kill_writers(os.fspath(path), integrity)
    assert outcome["inside add_batch"] >= KILLS * 3 // 4  # the kills did land mid-batch


def test_sigkill_mid_batch_on_postgresql(pg_store_url: str) -> None:
    import psycopg

    def no_statement_running() -> None:
        """A server finishes the statement of a client it lost: wait for it before looking."""
        libpq = pg_store_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(libpq, autocommit=True) as conn:
            for _ in range(500):
                busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                                    "AND datname = current_database() AND state = 'active' "
                                    "AND query LIKE 'INSERT INTO signatures%%'").fetchone()[0]
                if not busy:
                    return
                time.sleep(0.01)

    outcome = kill_writers(pg_store_url, no_statement_running)
    assert outcome["inside add_batch"] >= KILLS * 3 // 4


# -- a PostgreSQL crash-restart under a running 2-worker study -----------------------------------
@pytest.mark.slow
def test_server_restart_under_a_running_study(tmp_path: Path) -> None:
    """``pg_ctl restart -m immediate`` (a crash and recovery) while 2 workers run a study whose
    storage and duplicate store are on that server: the study either finishes after reconnecting
    or stops with one clear line; every trial complete before the restart is still complete,
    with its value."""
    import psycopg

    from pairbench.pairs._pg_server import ThrowawayCluster, postgres_bin, unavailable_reason

    if unavailable_reason() or postgres_bin() is None:
        pytest.skip("needs PostgreSQL server binaries (a cluster of its own to restart)")
    cluster = ThrowawayCluster(postgres_bin())
    url = cluster.start()
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    n_trials = 150
    try:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        study = subprocess.Popen(
            [sys.executable, "-m", "pairbench", "study", "--impl", "optimized", "--trials", str(n_trials),
             "--workers", "2", "--storage", url, "--workdir", os.fspath(tmp_path / "w"), "--bars", "5000",
             "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def complete() -> dict[int, float]:
            try:
                with psycopg.connect(libpq, connect_timeout=2) as conn:
                    rows = conn.execute("SELECT t.number, v.value FROM trials t JOIN trial_values v "
                                        "ON v.trial_id = t.trial_id WHERE t.state = 'COMPLETE'").fetchall()
                return dict(rows)
            except psycopg.Error:  # tables not made yet
                return {}

        deadline = time.monotonic() + 120
        while len(before := complete()) < 10:
            assert study.poll() is None, f"the study ended before the restart: {study.communicate()}"
            assert time.monotonic() < deadline, "the study did not get going"
            time.sleep(0.05)
        cluster.pg_ctl("restart", "-m", "immediate")
        out, err = study.communicate(timeout=300)
        after = complete()
        lost = {n: v for n, v in before.items() if after.get(n) != v}
        assert not lost, f"trials complete before the restart lost or changed: {lost}"
        if study.returncode == 0:
            assert f"{n_trials} trials" in out and len(after) >= n_trials
        else:
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("pairbench: "), err
        print(f"restart after {len(before)} trials: exit {study.returncode}, {len(after)} complete; {err.strip()}")
    finally:
        cluster.stop()
