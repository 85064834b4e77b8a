"""dedup_store: the same contract run against the reference and the optimized NoDupeGuard."""
from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from optimized import dedup_store as opt_mod
from pairbench.registry import NotEquivalent, select
from reference import dedup_store as ref_mod

SIDES = [ref_mod, opt_mod]
# Few letters make collisions (duplicates) common; free text brings unicode, NUL, long strings.
SIGS = st.one_of(st.text(alphabet="ab", min_size=1, max_size=3), st.text(min_size=1, max_size=6))


def make_machine(mod: ModuleType, new_store: Optional[Callable[[], str]] = None) -> type[RuleBasedStateMachine]:
    """A state machine driving a guard of ``mod`` against a Python set; each run on a new SQLite
    file, or on ``new_store()`` (a server store's URL) when given."""

    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.folder = None if new_store else tempfile.mkdtemp(prefix="dedup-sm-")
            self.path = new_store() if new_store else os.path.join(self.folder, "store.sqlite")
            self.guard = mod.NoDupeGuard(self.path)
            self.model: set[str] = set()

        @rule(sig=SIGS)
        def add(self, sig: str) -> None:
            assert self.guard.add(sig) is (sig not in self.model)
            self.model.add(sig)

        @rule(sig=SIGS)
        def seen(self, sig: str) -> None:
            assert self.guard.seen(sig) is (sig in self.model)

        @rule(sigs=st.lists(SIGS, max_size=8))
        def add_batch(self, sigs: list[str]) -> None:
            assert self.guard.add_batch(iter(sigs)) == len(set(sigs) - self.model)
            self.model.update(sigs)

        @rule(sigs=st.lists(SIGS, max_size=8))
        def seen_batch(self, sigs: list[str]) -> None:
            expected = {sig: sig in self.model for sig in sigs}
            got = self.guard.seen_batch(sigs)
            assert got == expected and list(got) == list(expected)

        @rule(side=st.sampled_from(SIDES))
        def reopen(self, side: ModuleType) -> None:
            """Close and reopen the file, with either side: the format is shared."""
            self.guard.close()
            self.guard = side.NoDupeGuard(self.path)

        @invariant()
        def same_rows(self) -> None:
            assert len(self.guard) == len(self.model)

        def teardown(self) -> None:
            assert set(self.guard) == self.model
            assert list(self.guard) == sorted(self.model, key=lambda s: s.encode())  # bytes of UTF-8
            self.guard.close()
            if self.folder:
                shutil.rmtree(self.folder, ignore_errors=True)

    return StoreMachine


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    return mode


def add_poison_trigger(path: Path) -> None:
    """A trigger that fails any insert of 'boom': a write error in the middle of a batch."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TRIGGER poison BEFORE INSERT ON signatures WHEN NEW.sig = 'boom' "
                     "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
    conn.close()


def add_chunks(guard, sigs: list[str], chunk: int) -> None:
    for start in range(0, len(sigs), chunk):
        guard.add_batch(sigs[start:start + chunk])


def overlapping(worker: int, count: int) -> list[str]:
    """Worker w adds count signatures starting at w*count/2: each overlaps its neighbours by half."""
    first = worker * count // 2
    return [f"sig-{i:06d}" for i in range(first, first + count)]


class DedupStoreContract:
    """Every test here runs against both sides."""

    mod: ModuleType = None  # type: ignore[assignment]
    atomic_batches: bool = True      # a failed add_batch leaves the store as before it
    new_file_journal: str = "wal"    # the journal mode of a file this side creates
    # 4 processes x this many signatures each. The reference commits every row with
    # synchronous=FULL (~1 ms each on a quiet disk, 10+ ms on a busy one, serialised on one write
    # lock): 4 x 10k would take 40 s or more, so it runs 4 x 80; the optimized side runs the full
    # 4 x 10k (~0.15 s).
    per_process: int = 10_000
    chunk: int = 500

    def open(self, tmp_path: Path, name: str = "store.sqlite", **kwargs):
        return self.mod.NoDupeGuard(tmp_path / name, **kwargs)

    # -- behaviour ---------------------------------------------------------------------------
    def test_matches_a_set_model(self) -> None:
        run_state_machine_as_test(make_machine(self.mod), settings=settings(
            max_examples=15, stateful_step_count=12, deadline=None))

    def test_add_seen_and_len(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            assert guard.seen("a") is False
            assert guard.add("a") is True
            assert guard.add("a") is False
            assert guard.seen("a") is True
            assert len(guard) == 1

    def test_batch_counts_a_repeated_signature_once(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            guard.add("old")
            assert guard.add_batch(["new", "old", "new", "other", "other"]) == 2
            assert sorted(guard) == ["new", "old", "other"]

    def test_seen_batch_keeps_first_appearance_order(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            guard.add_batch(["b", "d"])
            got = guard.seen_batch(["d", "a", "b", "d", "c", "a"])
            assert list(got.items()) == [("d", True), ("a", False), ("b", True), ("c", False)]

    def test_empty_batches_and_any_iterable(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            assert guard.add_batch([]) == 0
            assert guard.seen_batch(()) == {}
            assert guard.add_batch(s for s in ("x", "y")) == 2
            assert guard.add_batch({"y", "z"}) == 1
            assert guard.seen_batch(iter(["z", "w"])) == {"z": True, "w": False}

    def test_unusual_text_round_trips(self, tmp_path: Path) -> None:
        odd = ["nul\x00inside", "é", "e\u0301", "🙂", " ", "x" * 10_000]
        with self.open(tmp_path) as guard:
            assert guard.add_batch(odd) == len(odd)
            assert guard.seen_batch(odd) == dict.fromkeys(odd, True)
            assert guard.seen("nul") is False and guard.seen("e") is False
            assert sorted(guard) == sorted(odd)

    def test_persists_after_close(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            guard.add_batch(["a", "b"])
        with self.open(tmp_path) as guard:
            assert guard.seen_batch(["a", "b", "c"]) == {"a": True, "b": True, "c": False}

    def test_file_journal_mode(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            guard.add("a")
        assert journal_mode(tmp_path / "store.sqlite") == self.new_file_journal

    @pytest.mark.parametrize("other", SIDES, ids=lambda m: m.__name__.split(".")[0])
    def test_interop(self, tmp_path: Path, other: ModuleType) -> None:
        """A file written by this side is read by the other side, and the other way round."""
        with self.open(tmp_path, "mine.sqlite") as guard:
            guard.add_batch(["a", "b"])
            guard.add("c")
        with other.NoDupeGuard(tmp_path / "mine.sqlite") as guard:
            assert sorted(guard) == ["a", "b", "c"]
            assert guard.add_batch(["c", "d"]) == 1
        with other.NoDupeGuard(tmp_path / "theirs.sqlite") as guard:
            guard.add_batch(["x", "y"])
        with self.open(tmp_path, "theirs.sqlite") as guard:
            assert guard.seen_batch(["x", "y", "z"]) == {"x": True, "y": True, "z": False}
            assert guard.add("z") is True
            assert len(guard) == 3
        with self.open(tmp_path, "mine.sqlite") as guard:
            assert sorted(guard) == ["a", "b", "c", "d"]

    def test_shared_by_threads(self, tmp_path: Path) -> None:
        count = min(self.per_process, 2_000)
        with self.open(tmp_path) as guard:
            threads = [threading.Thread(target=add_chunks, args=(guard, overlapping(w, count), self.chunk))
                       for w in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            expected = set().union(*(overlapping(w, count) for w in range(4)))
            assert set(guard) == expected

    @pytest.mark.slow  # forks 4 processes; the reference side takes seconds on a busy disk
    def test_shared_by_processes(self, tmp_path: Path) -> None:
        """4 forked processes add overlapping signatures through one guard opened (and used) in
        the parent: the store ends up exactly their union."""
        ctx = multiprocessing.get_context("fork")
        with self.open(tmp_path) as guard:
            guard.add("opened-in-parent")
            workers = [ctx.Process(target=add_chunks, args=(guard, overlapping(w, self.per_process), self.chunk))
                       for w in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(120)
            assert [w.exitcode for w in workers] == [0, 0, 0, 0]
            expected = set().union(*(overlapping(w, self.per_process) for w in range(4)))
            assert set(guard) == expected | {"opened-in-parent"}
            assert len(guard) == len(expected) + 1

    # -- failures in the middle of a batch -----------------------------------------------------
    def test_raising_iterable_writes_nothing(self, tmp_path: Path) -> None:
        def sigs() -> Iterator[str]:
            yield "a"
            yield "b"
            raise RuntimeError("producer failed")

        with self.open(tmp_path) as guard:
            guard.add("x")
            with pytest.raises(RuntimeError, match="producer failed"):
                guard.add_batch(sigs())
            assert list(guard) == ["x"]

    def test_write_error_mid_batch(self, tmp_path: Path) -> None:
        """A row that fails to insert in the middle of add_batch. The optimized side rolls the
        whole batch back; the reference commits row by row, so it keeps the rows before the
        failure: a documented difference (the reference cannot do better with a commit per row)."""
        with self.open(tmp_path) as guard:
            guard.add("x")
            add_poison_trigger(tmp_path / "store.sqlite")
            with pytest.raises(sqlite3.IntegrityError, match="poisoned row"):
                guard.add_batch(["a", "b", "boom", "c"])
            expected = ["x"] if self.atomic_batches else ["a", "b", "x"]
            assert sorted(guard) == expected
            assert guard.add_batch(["c", "d"]) == 2  # still usable

    def test_locked_past_timeout_is_a_clear_error(self, tmp_path: Path) -> None:
        with self.open(tmp_path, timeout=0.05) as guard:
            guard.add("before")
            blocker = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                for call in (lambda: guard.add("a"), lambda: guard.add_batch(["a", "b"])):
                    with pytest.raises(self.mod.StoreLockedError) as info:
                        call()
                    assert isinstance(info.value, TimeoutError)
                    assert isinstance(info.value, sqlite3.OperationalError)
                    assert str(tmp_path / "store.sqlite") in str(info.value)
                    assert "timeout=0.05" in str(info.value)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert guard.add_batch(["a", "b"]) == 2
            assert sorted(guard) == ["a", "b", "before"]

    # -- bad input -----------------------------------------------------------------------------
    @pytest.mark.parametrize("bad, error, message", [
        (3, TypeError, "sig: must be a str, got int"),
        (b"abc", TypeError, "sig: must be a str, got bytes"),
        (None, TypeError, "sig: must be a str, got NoneType"),
        ("", ValueError, "sig: must not be empty"),
        ("\ud800", ValueError, "sig: not encodable as UTF-8"),
    ])
    def test_bad_signature(self, tmp_path: Path, bad: object, error: type, message: str) -> None:
        with self.open(tmp_path) as guard:
            for call in (guard.add, guard.seen):
                with pytest.raises(error, match=message):
                    call(bad)
            for call in (guard.add_batch, guard.seen_batch):
                with pytest.raises(error, match=message.replace("sig:", r"sigs\[2\]:")):
                    call(["a", "b", bad, "c"])
            assert len(guard) == 0  # the valid signatures before the bad one were not written

    @pytest.mark.parametrize("bad", ["abc", b"abc", 42, None])
    def test_bad_batch(self, tmp_path: Path, bad: object) -> None:
        with self.open(tmp_path) as guard:
            for call in (guard.add_batch, guard.seen_batch):
                with pytest.raises(TypeError, match="sigs: must be an iterable of str"):
                    call(bad)
            assert len(guard) == 0

    def test_bad_path(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="path: folder .*missing.* does not exist"):
            self.mod.NoDupeGuard(tmp_path / "missing" / "store.sqlite")
        with pytest.raises(IsADirectoryError, match="path: .* is a directory"):
            self.mod.NoDupeGuard(tmp_path)
        for bad in ("", ":memory:"):
            with pytest.raises(ValueError, match="path: must name a file"):
                self.mod.NoDupeGuard(bad)
        with pytest.raises(TypeError, match="path: must be a str or os.PathLike"):
            self.mod.NoDupeGuard(3)
        junk = tmp_path / "junk.txt"
        junk.write_text("not a database " * 500)
        with pytest.raises(sqlite3.DatabaseError, match="junk.txt.* cannot be used as a dedup store"):
            self.mod.NoDupeGuard(junk)
        assert not (tmp_path / "missing").exists()

    @pytest.mark.parametrize("bad, error", [(-1, ValueError), (math.nan, ValueError), (math.inf, ValueError),
                                            ("1", TypeError), (True, TypeError)])
    def test_bad_timeout(self, tmp_path: Path, bad: object, error: type) -> None:
        with pytest.raises(error, match="timeout: must be"):
            self.open(tmp_path, timeout=bad)
        assert not (tmp_path / "store.sqlite").exists()

    def test_use_after_close(self, tmp_path: Path) -> None:
        guard = self.open(tmp_path)
        guard.add("a")
        guard.close()
        guard.close()  # idempotent
        for call in (lambda: guard.add("b"), lambda: guard.seen("a"), lambda: guard.add_batch(["b"]),
                     lambda: guard.seen_batch(["a"]), lambda: len(guard), lambda: guard.__enter__()):
            with pytest.raises(ValueError, match="is closed"):
                call()
        with self.open(tmp_path) as reopened:
            assert list(reopened) == ["a"]


class TestReference(DedupStoreContract):
    mod = ref_mod
    atomic_batches = False
    new_file_journal = "delete"
    per_process = 80
    chunk = 20


class TestOptimized(DedupStoreContract):
    mod = opt_mod

    def test_connection_settings(self, tmp_path: Path) -> None:
        with self.open(tmp_path) as guard:
            conn = guard._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.one_of(st.text(max_size=4), st.integers(), st.none(), st.binary(max_size=2),
                              st.sampled_from(["\ud800", "ok", "é"]))))
    def test_fast_batch_check_agrees_with_the_reference_check(self, sigs: list) -> None:
        def outcome(check):
            try:
                return check(iter(sigs))
            except (TypeError, ValueError) as exc:
                return type(exc), str(exc)

        assert outcome(opt_mod.checked_sigs) == outcome(ref_mod.check_sigs)

    def test_forked_child_opens_its_own_connection(self, tmp_path: Path) -> None:
        """SQLite connections must not cross a fork: a child re-opens, leaving the parent's alone."""
        with self.open(tmp_path) as guard:
            guard.add("parent")
            inherited = guard._conn

            def child() -> None:
                guard.add("child")
                os._exit(0 if guard._conn is not inherited and guard._pid == os.getpid() else 3)

            process = multiprocessing.get_context("fork").Process(target=child)
            process.start()
            process.join(60)
            assert process.exitcode == 0
            assert guard._conn is inherited  # the parent keeps its connection
            assert sorted(guard) == ["child", "parent"]

    def test_seen_batch_chunks_under_the_variable_limit(self, tmp_path: Path) -> None:
        sigs = [f"s{i}" for i in range(25)]
        with self.open(tmp_path) as guard:
            guard.add_batch(sigs[::2])
            guard._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 4)  # read on every call
            assert opt_mod.variable_limit(guard._conn) == 4
            got = guard.seen_batch(sigs + ["s0"])
            assert got == {s: i % 2 == 0 for i, s in enumerate(sigs)}

    def test_crash_mid_batch_leaves_store_as_before(self, tmp_path: Path) -> None:
        """A process that dies (os._exit) in the middle of add_batch's transaction: SQLite
        discards the uncommitted rows, the store is exactly as before the batch."""
        path = tmp_path / "store.sqlite"

        def crash_mid_batch() -> None:
            guard = opt_mod.NoDupeGuard(path)
            guard.add_batch(["kept-1", "kept-2"])
            guard._conn.create_function("die", 0, lambda: os._exit(7))
            guard._conn.execute("CREATE TEMP TRIGGER crash BEFORE INSERT ON main.signatures "
                                "WHEN NEW.sig = 'boom' BEGIN SELECT die(); END")
            guard.add_batch(["lost-1", "lost-2", "boom", "lost-3"])
            os._exit(0)  # not reached

        child = multiprocessing.get_context("fork").Process(target=crash_mid_batch)
        child.start()
        child.join(60)
        assert child.exitcode == 7
        with self.open(tmp_path) as guard:
            assert sorted(guard) == ["kept-1", "kept-2"]


# -- the registered pairs ----------------------------------------------------------------------
def assert_equivalent_on_workload(pair) -> None:
    """Both sides of ``pair`` bound on its workload at size 20, each called twice (with resets):
    repeatable, and equivalent by the pair's check; its one-off costs are opening costs."""
    with pair.workload(20, 3) as workload:
        bounds = [pair.bind_side(side, workload.inputs) for side in ("reference", "optimized")]
        try:
            outputs = []
            for bound in bounds:
                for _ in range(2):  # repeatable: the second call measures the same thing
                    if bound.reset is not None:
                        bound.reset()
                    outputs.append(bound())
            assert outputs[0] == outputs[1] and outputs[2] == outputs[3]
            pair.check(outputs[0], outputs[2])
        finally:
            for bound in bounds:
                if bound.close is not None:
                    bound.close()
    assert pair.stateful == (bounds[0].reset is not None)
    for label, seconds in pair.one_off(pair.module("optimized")).items():
        assert "open" in label and 0 < seconds < 5


def test_pairs_registered_and_equivalent_on_their_workload() -> None:
    pairs = {p.name: p for p in select(["dedup_store"]) if not p.name.startswith("dedup_store.pg_")}
    assert set(pairs) == {"dedup_store.add_batch", "dedup_store.seen_batch"}
    for pair in pairs.values():
        assert_equivalent_on_workload(pair)


def test_add_batch_check_catches_a_difference() -> None:
    pair = select(["dedup_store.add_batch"])[0]
    pair.check((20, 20), (20, 20))
    with pytest.raises(NotEquivalent, match="new signatures"):
        pair.check((20, 20), (19, 20))
    with pytest.raises(NotEquivalent, match="rows in store"):
        pair.check((20, 20), (20, 21))


def test_seen_batch_check_catches_a_difference() -> None:
    pair = select(["dedup_store.seen_batch"])[0]
    with pair.workload(10, 0) as workload:
        bound = pair.bind_side("reference", workload.inputs)
        ref = bound()
        bound.close()
    assert sum(ref.values()) == 5
    pair.check(ref, dict(ref))
    flipped = dict(ref)
    key = next(iter(flipped))
    flipped[key] = not flipped[key]
    with pytest.raises(NotEquivalent, match=key):
        pair.check(ref, flipped)
    reordered = dict(reversed(list(ref.items())))
    with pytest.raises(NotEquivalent, match="key order"):
        pair.check(ref, reordered)


def _open_new_store_and_add(path: str, i: int) -> None:
    with opt_mod.NoDupeGuard(path) as guard:
        guard.add_batch([f"w{i}-{k}" for k in range(50)])


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Several processes creating the same new store race on the switch to WAL; SQLite answers
    SQLITE_BUSY at once there, so the optimized side retries up to its timeout."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(5):
        path = str(tmp_path / f"race{trial}.sqlite")
        procs = [ctx.Process(target=_open_new_store_and_add, args=(path, i)) for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        with opt_mod.NoDupeGuard(path) as guard:
            assert len(guard) == 200
