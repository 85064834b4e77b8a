"""Pairs ``dedup_store.pg_add_batch`` and ``dedup_store.pg_seen_batch``: the dedup store on PostgreSQL.

The same calls as the SQLite pairs of :mod:`pairbench.pairs.dedup_store`, on a server store:
the reference opens a connection per signature and autocommits one statement each; the optimized
side sends one statement per batch on the connection it keeps (see :mod:`reference._dedup_pg`
and :mod:`optimized._dedup_pg`). The server is ``$PAIRBENCH_PG_URL`` or a throwaway cluster that
pairbench starts with PostgreSQL's default durability (``fsync=on``: every autocommitted
statement of the reference waits for a WAL flush); the workload's description says which
``fsync`` the server ran with, so a figure always carries it.

Each side works in a schema of its own, made when it is bound and dropped by the workload's cleanup.
``pg_add_batch`` empties its table (``TRUNCATE``, untimed) before every timed call;
``pg_seen_batch`` queries one table of PREFILLED signatures that both sides share.

Registered only where a server can be had (:func:`pairbench.pairs._pg_server.unavailable_reason`:
cheap, starts nothing); otherwise one line on stderr says why and how to enable them, and ``run``
/ ``gate`` go on without them. The cost is in the server process and its fsyncs, which an
instruction counter in the client cannot see: these pairs are timed by the wall clock.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from types import ModuleType
from typing import Any

from pairbench.pairs._pg_server import HOW_TO_ENABLE, server_url, unavailable_reason
from pairbench.registry import Bound, Pair, Workload

NAMES = ("dedup_store.pg_add_batch", "dedup_store.pg_seen_batch")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(_libpq(url), autocommit=True)


def _schema_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


class _Schemas:
    """Schemas of one server made for a workload; ``drop`` removes them (quietly if the server
    is already gone, as at interpreter exit)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.names: list[str] = []
        with _admin(url) as conn:
            self.fsync = conn.execute("SHOW fsync").fetchone()[0]
            self.version = conn.execute("SHOW server_version").fetchone()[0].split()[0]

    def new(self, label: str) -> str:
        """A new schema; returns the store URL whose ``signatures`` table lives in it."""
        name = f"pairbench_{label}_{uuid.uuid4().hex[:8]}"
        with _admin(self.url) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        self.names.append(name)
        return _schema_url(self.url, name)

    def describe(self) -> str:
        return f"PostgreSQL {self.version}, fsync={self.fsync}"

    def drop(self) -> None:
        try:
            with _admin(self.url) as conn:
                for name in self.names:
                    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        except Exception:  # the server went first (atexit order): its folder goes with it
            pass
        self.names.clear()


# -- dedup_store.pg_add_batch ----------------------------------------------------------------
def add_batch_workload(size: int, seed: int) -> Workload:
    from pairbench.pairs.dedup_store import signatures

    schemas = _Schemas(server_url())
    return Workload({"schemas": schemas, "sigs": signatures(size, seed)}, cleanup=schemas.drop,
                    description=f"{size} new signatures into an empty store ({schemas.describe()})")


def bind_add_batch(module: ModuleType, inputs: dict) -> Bound:
    """The side's guard on a schema of its own; ``reset`` empties the table (untimed)."""
    url = inputs["schemas"].new("add")
    guard = module.NoDupeGuard(url)
    sigs = inputs["sigs"]

    def reset() -> None:
        with _admin(url) as conn:
            conn.execute("TRUNCATE signatures")

    return Bound(lambda: (guard.add_batch(sigs), len(guard)), reset=reset, close=guard.close)


# -- dedup_store.pg_seen_batch ---------------------------------------------------------------
def seen_batch_workload(size: int, seed: int) -> Workload:
    """PREFILLED signatures in one table both sides query; ``size`` queries, half present."""
    from pairbench.pairs.dedup_store import PREFILLED, signatures

    schemas = _Schemas(server_url())
    url = schemas.new("seen")
    stored = signatures(PREFILLED, seed)
    rng = random.Random(seed)
    present = rng.sample(stored, size // 2)
    queries = present + signatures(size - len(present), seed, salt="absent:")
    rng.shuffle(queries)
    try:
        from optimized._dedup_pg import PgNoDupeGuard

        with PgNoDupeGuard(url, timeout=30.0) as guard:
            guard.add_batch(stored)
    except BaseException:
        schemas.drop()
        raise
    return Workload({"url": url, "queries": queries}, cleanup=schemas.drop,
                    description=f"{size} lookups ({len(present)} present) in {PREFILLED} signatures "
                                f"({schemas.describe()})")


def bind_seen_batch(module: ModuleType, inputs: dict) -> Bound:
    guard = module.NoDupeGuard(inputs["url"])
    queries = inputs["queries"]
    return Bound(lambda: guard.seen_batch(queries), close=guard.close)


# -- one-off cost -----------------------------------------------------------------------------
def open_cost(module: ModuleType, repeats: int = 5) -> dict[str, float]:
    """Median seconds to open a server store (connect, create the table if missing)."""
    schemas = _Schemas(server_url())
    try:
        url = schemas.new("open")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            module.NoDupeGuard(url).close()
            times.append(time.perf_counter() - start)
    finally:
        schemas.drop()
    return {"open server store": statistics.median(times)}


def pairs_if_server() -> list[Pair]:
    """The two pairs where a server can be had; else none, and one line on stderr saying how."""
    from pairbench.pairs.dedup_store import check_add_batch, check_seen_batch

    reason = unavailable_reason()
    if reason:
        print(f"pairbench: skipping {', '.join(NAMES)}: no PostgreSQL server ({reason}); to enable: "
              f"{HOW_TO_ENABLE}", file=sys.stderr)
        return []
    common = dict(reference="reference.dedup_store", optimized="optimized.dedup_store",
                  sizes=(10, 100, 1000), default_size=1000, quick_size=100, gate_size=100,
                  size_unit="signatures", max_slope=1.2, one_off=open_cost,
                  tags=("postgresql", "io", "server"), counting="walltime",
                  counting_note="its cost is in the server process (a backend per connection, the WAL "
                                "flush of each commit), out of sight of callgrind in the client")
    return [
        Pair(name=NAMES[0],
             summary="add_batch of N new signatures into an empty PostgreSQL store: a connection and "
                     "an autocommitted INSERT per row vs one INSERT ... SELECT unnest(...)",
             workload=add_batch_workload, bind=bind_add_batch, check=check_add_batch,
             floor=FLOORS[NAMES[0]], stateful=True, **common),
        Pair(name=NAMES[1],
             summary="seen_batch of N signatures (half present) against 10k stored on PostgreSQL: a "
                     "connection per lookup vs one = ANY(...) query",
             workload=seen_batch_workload, bind=bind_seen_batch, check=check_seen_batch,
             floor=FLOORS[NAMES[1]], **common),
    ]


# Floors (held at the gate size, 100), far above 1x and far below what the 2-core dev VM measured
# there under load: pg_add_batch 146x [116x, 159x] (fsync on) and 151x [118x, 158x] (fsync off:
# the reference's cost is mostly a new connection, ~3-9 ms, per row); pg_seen_batch 465x
# [378x, 700x] and 430x [386x, 462x]. At 1000: 421x [233x, 497x] / 400x [372x, 674x] and
# 657x [550x, 849x] / 771x [522x, 1280x] (fsync on, two runs each).
FLOORS = {NAMES[0]: 30.0, NAMES[1]: 60.0}
