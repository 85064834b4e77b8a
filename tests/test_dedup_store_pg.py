"""dedup_store on PostgreSQL: the SQLite contract of test_dedup_store run against a server, both sides.

Each store is a fresh schema of the ``postgres_url`` server (``$PAIRBENCH_PG_URL`` or a throwaway
cluster, see ``tests/conftest.py``), named in the URL as libpq's ``options=-csearch_path=...``.
The SQLite-only tests (journal mode, file paths, SQLite triggers and locks) are replaced here by
their server counterparts.
"""
from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from optimized import dedup_store as opt_mod
from reference import dedup_store as ref_mod
from reference._dedup_pg import MAX_SIG_BYTES, StoreUnreachableError
from tests.test_dedup_store import (SIDES, DedupStoreContract, add_chunks, assert_equivalent_on_workload,
                                   make_machine, overlapping)
from pairbench.pairs._pg_server import free_port
from pairbench.registry import select


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Schemas:
    """Fresh schemas of one server, each a store URL; all dropped by ``drop``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.made: dict[str, str] = {}

    def url(self, name: str) -> str:
        if name not in self.made:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(libpq(self.server_url), autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in self.server_url else "?"
            self.made[name] = f"{self.server_url}{sep}options=-csearch_path%3D{schema}"
        return self.made[name]

    def schema(self, name: str) -> str:
        return self.url(name).rsplit("%3D", 1)[1]

    def drop(self) -> None:
        with psycopg.connect(libpq(self.server_url), autocommit=True) as conn:
            for url in self.made.values():
                conn.execute(f"DROP SCHEMA IF EXISTS {url.rsplit('%3D', 1)[1]} CASCADE")


class ServerContract(DedupStoreContract):
    """The SQLite contract with ``open`` on a server schema per store name."""

    @pytest.fixture(autouse=True)
    def _schemas(self, postgres_url: str):
        self.schemas = Schemas(postgres_url)
        yield
        self.schemas.drop()

    def open(self, tmp_path: Path, name: str = "store.sqlite", **kwargs):
        return self.mod.NoDupeGuard(self.schemas.url(name), **kwargs)

    def test_matches_a_set_model(self) -> None:
        new_store = lambda: self.schemas.url(uuid.uuid4().hex)  # noqa: E731
        run_state_machine_as_test(make_machine(self.mod, new_store), settings=settings(
            max_examples=15, stateful_step_count=12, deadline=None))

    def test_unusual_text_round_trips(self, tmp_path: Path) -> None:
        odd = ["nul\x00inside", "é", "e\u0301", "🙂", " ", "x" * MAX_SIG_BYTES, "é" * (MAX_SIG_BYTES // 2)]
        with self.open(tmp_path) as guard:
            assert guard.add_batch(odd) == len(odd)
            assert guard.seen_batch(odd) == dict.fromkeys(odd, True)
            assert guard.seen("nul") is False and guard.seen("e") is False
            assert sorted(guard) == sorted(odd)

    def test_too_long_a_signature_is_refused(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            for call in (guard.add, guard.seen):
                with pytest.raises(ValueError, match=f"sig: {MAX_SIG_BYTES + 1} bytes of UTF-8"):
                    call("x" * (MAX_SIG_BYTES + 1))
            for call in (guard.add_batch, guard.seen_batch):
                with pytest.raises(ValueError, match=r"sigs\[1\]: 2002 bytes"):
                    call(["a", "é" * (MAX_SIG_BYTES // 2 + 1)])
            assert len(guard) == 0

    def test_file_journal_mode(self, tmp_path: Path) -> None:
        """(SQLite only.) On a server: the table both sides share has the documented shape."""
        with self.open(tmp_path) as guard:
            guard.add("a")
        with psycopg.connect(libpq(self.schemas.url("store.sqlite"))) as conn:
            columns = conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_name = 'signatures' AND table_schema = %s",
                                   (self.schemas.schema("store.sqlite"),)).fetchall()
        assert columns == [("sig", "bytea")]

    @pytest.mark.parametrize("other", SIDES, ids=lambda m: m.__name__.split(".")[0])
    def test_interop(self, tmp_path: Path, other: ModuleType) -> None:
        """A table written by this side is read by the other side, and the other way round."""
        with self.open(tmp_path, "mine") as guard:
            guard.add_batch(["a", "b"])
            guard.add("c")
        with other.NoDupeGuard(self.schemas.url("mine")) as guard:
            assert sorted(guard) == ["a", "b", "c"]
            assert guard.add_batch(["c", "d"]) == 1
        with self.open(tmp_path, "mine") as guard:
            assert sorted(guard) == ["a", "b", "c", "d"]

    def test_write_error_mid_batch(self, tmp_path: Path) -> None:
        """A row that fails to insert in the middle of add_batch (a trigger refusing 'boom'): the
        optimized side's one statement is all or nothing; the reference keeps the rows before."""
        with self.open(tmp_path) as guard:
            guard.add("x")
            with psycopg.connect(libpq(self.schemas.url("store.sqlite")), autocommit=True) as conn:
                conn.execute("CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.sig = 'boom'::bytea "
                             "THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
                conn.execute("CREATE TRIGGER poison BEFORE INSERT ON signatures FOR EACH ROW "
                             "EXECUTE FUNCTION poison()")
            with pytest.raises(psycopg.errors.RaiseException, match="poisoned row"):
                guard.add_batch(["a", "b", "boom", "c"])
            expected = ["x"] if self.atomic_batches else ["a", "b", "x"]
            assert sorted(guard) == expected
            assert guard.add_batch(["c", "d"]) == 2  # still usable

    def test_locked_past_timeout_is_a_clear_error(self, tmp_path: Path) -> None:
        """Another transaction inserting the same signature holds its row lock: past ``timeout``
        the guard raises StoreLockedError naming the URL and the timeout."""
        url = self.schemas.url("store.sqlite")
        with self.open(tmp_path, timeout=0.05) as guard:
            guard.add("before")
            blocker = psycopg.connect(libpq(url))
            blocker.execute("INSERT INTO signatures VALUES ('a'::bytea)")  # uncommitted
            try:
                for call in (lambda: guard.add("a"), lambda: guard.add_batch(["a", "b"])):
                    with pytest.raises(self.mod.StoreLockedError) as info:
                        call()
                    assert isinstance(info.value, TimeoutError)
                    assert "127.0.0.1" in str(info.value) or "@" in str(info.value)
                    assert "timeout=0.05" in str(info.value)
            finally:
                blocker.rollback()
                blocker.close()
            assert guard.add_batch(["a", "b"]) == 2
            assert sorted(guard) == ["a", "b", "before"]

    def test_bad_path(self, tmp_path: Path) -> None:
        """Bad URLs: an unknown scheme or a port that is no number -> ValueError; a closed port or
        an unknown host -> StoreUnreachableError naming the host, at once."""
        with pytest.raises(ValueError, match="path: unsupported URL 'mysql'://"):
            self.mod.NoDupeGuard("mysql://localhost/db")
        with pytest.raises(ValueError, match="path: port 'abc' .* is not a number"):
            self.mod.NoDupeGuard("postgresql://localhost:abc/db")
        with pytest.raises(ValueError, match="not a usable PostgreSQL URL"):
            self.mod.NoDupeGuard("postgresql://localhost/db?bogus=1")
        port = free_port()
        with pytest.raises(StoreUnreachableError, match=f"host '127.0.0.1' port {port}") as info:
            self.mod.NoDupeGuard(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/db")
        assert isinstance(info.value, ConnectionError)
        assert "secret" not in str(info.value) and "u:***@" in str(info.value)
        with pytest.raises(StoreUnreachableError, match="host 'no-such-host.invalid'"):
            self.mod.NoDupeGuard("postgresql://no-such-host.invalid/db")

    def test_bad_timeout(self, tmp_path: Path) -> None:
        for bad, error in [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError), (True, TypeError)]:
            with pytest.raises(error, match="timeout: must be"):
                self.open(tmp_path, timeout=bad)


class TestReferenceOnServer(ServerContract):
    mod = ref_mod
    atomic_batches = False
    per_process = 80
    chunk = 20


class TestOptimizedOnServer(ServerContract):
    mod = opt_mod

    def test_one_connection_per_process(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            guard.add_batch(["a", "b"])
            conn = guard._conn
            guard.seen_batch(["a", "z"])
            guard.add("c")
            assert guard._conn is conn and conn.autocommit
            assert conn.execute("SHOW lock_timeout").fetchone()[0] == "30s"

    def test_server_gone_mid_use_raises_then_reconnects(self, tmp_path: Path) -> None:
        """The server ends this guard's session (as a restart does): the next write raises
        StoreUnreachableError (reads reconnect at once), and the guard works again after."""
        with self.open(tmp_path) as guard:
            guard.add("a")
            with psycopg.connect(libpq(self.schemas.url("store.sqlite")), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (guard._conn.info.backend_pid,))
            try:
                result = guard.add_batch(["b", "c"])
            except StoreUnreachableError as exc:
                assert "cannot reach the server" in str(exc)
                result = guard.add_batch(["b", "c"])  # reconnected
            assert result == 2
            assert sorted(guard) == ["a", "b", "c"]


        with self.open(tmp_path, "other") as guard:
            guard.add("a")
            with psycopg.connect(libpq(self.schemas.url("other")), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (guard._conn.info.backend_pid,))
            assert guard.seen_batch(["a", "b"]) == {"a": True, "b": False}  # a read retries once


def _add_own_guard(url: str, worker: int, count: int, chunk: int) -> None:
    with opt_mod.NoDupeGuard(url) as guard:
        add_chunks(guard, overlapping(worker, count), chunk)


@pytest.mark.slow
def test_eight_processes_store_exactly_their_union(pg_store_url: str) -> None:
    """Target of issue 12: 8 processes x 10k overlapping signatures (each its own guard, as on 8
    machines) into one server store: exactly their union, every row once."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_own_guard, args=(pg_store_url, w, 10_000, 1_000)) for w in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    expected = set().union(*(overlapping(w, 10_000) for w in range(8)))
    with opt_mod.NoDupeGuard(pg_store_url) as guard:
        assert len(guard) == len(expected) == 45_000
        assert set(guard) == expected


# -- the registered pairs ----------------------------------------------------------------------
def test_server_pairs_registered_and_equivalent_on_their_workload(postgres_url: str, monkeypatch) -> None:
    from pairbench.pairs import _dedup_store_pg

    def pair_schemas() -> set[str]:
        with psycopg.connect(libpq(postgres_url)) as conn:
            return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pairbench_%'")}

    monkeypatch.setenv("PAIRBENCH_PG_URL", postgres_url)
    before = pair_schemas()
    pairs = {p.name: p for p in select(["dedup_store"]) if p.name in _dedup_store_pg.NAMES}
    assert set(pairs) == set(_dedup_store_pg.NAMES)
    for pair in pairs.values():
        with pair.workload(10, 0) as workload:
            assert "fsync=" in workload.description  # a figure always says which durability it had
        assert_equivalent_on_workload(pair)
    assert pair_schemas() <= before  # the workloads dropped the schemas they made


def test_server_pairs_skipped_with_one_line_where_no_server(monkeypatch, capsys) -> None:
    from pairbench.pairs import _dedup_store_pg

    monkeypatch.setattr(_dedup_store_pg, "unavailable_reason", lambda: "psycopg is not installed")
    assert _dedup_store_pg.pairs_if_server() == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "skipping dedup_store.pg_add_batch, dedup_store.pg_seen_batch" in err[0]
    assert "PAIRBENCH_PG_URL=" in err[0] and "psycopg is not installed" in err[0]
