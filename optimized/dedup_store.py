"""A persistent set of trial signatures in one SQLite file: the fast side.

Same API, semantics, errors and file format as :mod:`reference.dedup_store` (read its docstring:
it is the specification); a PostgreSQL URL opens :mod:`optimized._dedup_pg`'s store. What differs
is how the work reaches SQLite:

- One connection per guard per process, opened in the constructor (so a bad path fails there) and
  re-opened after ``fork``: every call compares ``os.getpid()`` with the pid that opened it, and a
  child process opens its own connection (SQLite connections must not cross a fork). The
  connection the child inherited is parked, never used nor closed by the child.
- Thread-safe: one lock around the connection (opened with ``check_same_thread=False``).
- WAL journal (``PRAGMA journal_mode=WAL``, a lasting property of the file; the reference side
  reads WAL files too) and ``synchronous=NORMAL``. What NORMAL risks, exactly: in WAL mode a commit
  is appended to the WAL without an fsync; the WAL is synced at checkpoints. A power loss or an OS
  crash can therefore roll back the last transactions committed before it (the store comes back
  as it was at an earlier commit: a signature recorded just before the crash may be missing, so at
  worst a trial is run again), but it never corrupts the database. An application crash
  (exception, ``kill -9``, ``os._exit``) loses nothing committed: the WAL is in the OS's page
  cache. ``synchronous=FULL`` would add one fsync per commit to close that window.
- ``add_batch``: the whole batch is checked first (the usual all-ASCII batch at C speed), then written with ``INSERT OR IGNORE`` through
  ``executemany`` in ONE transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); any exception in
  between (a constraint, a full disk, a ``KeyboardInterrupt``) rolls it back, and a process that
  dies mid-batch leaves an uncommitted transaction that SQLite discards: the store is exactly as
  before the batch, or (once ``COMMIT`` returned) as after it, never half.
- ``seen_batch``: ``SELECT sig ... WHERE sig IN (?, ?, ...)`` over the distinct signatures, in
  chunks of at most the connection's own variable limit
  (``conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)``, read on every call, not hard-coded);
  several chunks are read inside one read transaction, so the answer is one snapshot.
- Several processes share one file with nothing lost: writers serialise on SQLite's write lock
  (``BEGIN IMMEDIATE`` takes it up front, so two writers never deadlock upgrading a read lock),
  waiting up to ``timeout`` seconds (SQLite's busy timeout); readers never wait for writers in
  WAL mode. A lock held past ``timeout`` raises :class:`StoreLockedError` naming the path and the
  timeout.

The one-off cost of opening a store (connect, switch to WAL, create the table) is paid in the
constructor; pairbench reports it apart from the per-call times.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

from reference.dedup_store import (DEFAULT_TIMEOUT, SCHEMA, TABLE, GuardLifecycle, StoreLockedError,
                                   check_path, check_sig, check_sigs, check_timeout, clear_sqlite_errors,
                                   is_locked, open_error)

__all__ = ["NoDupeGuard", "StoreLockedError", "SCHEMA", "TABLE", "DEFAULT_TIMEOUT"]

_INSERT = f"INSERT OR IGNORE INTO {TABLE} (sig) VALUES (?)"
_SELECT_ONE = f"SELECT 1 FROM {TABLE} WHERE sig = ?"
# SQLite's compile-time default before 3.32; used only where Python cannot read the limit (< 3.11).
_FALLBACK_VARIABLE_LIMIT = 999

# Connections a forked child inherited from its parent: kept referenced so that the child never
# closes (nor uses) them; closing would run SQLite's close-time WAL work on the parent's behalf.
_INHERITED_AFTER_FORK: list[Any] = []
_STR_ONLY = frozenset({str})


def checked_sigs(sigs: object) -> list[str]:
    """:func:`check_sigs` with a C-speed path for the usual batch (exact ``str``, non-empty,
    ASCII); any other batch goes through ``check_sigs``, which accepts or names the bad item."""
    if isinstance(sigs, (str, bytes, bytearray)) or not isinstance(sigs, Iterable):
        return check_sigs(sigs)  # raises the TypeError naming sigs
    items = list(sigs)
    if set(map(type, items)) <= _STR_ONLY and all(items) and "".join(items).isascii():
        return items
    return check_sigs(items)


def variable_limit(conn: sqlite3.Connection) -> int:
    """The most ``?`` parameters one statement of ``conn`` may have."""
    getlimit = getattr(conn, "getlimit", None)
    if getlimit is None:  # Python 3.10
        return _FALLBACK_VARIABLE_LIMIT
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


class ProcessConnection(GuardLifecycle):
    """What the optimized guards share: one connection per process (``_conn``, opened by the
    guard), under a lock, set aside after ``fork`` (the child opens its own), closed by ``close``."""

    _conn: Any
    _lock: threading.Lock
    _pid: int

    def _park(self, conn: Any) -> None:
        """Keep a connection inherited across ``fork`` referenced, never used nor closed here."""
        _INHERITED_AFTER_FORK.append(conn)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock, and a connection of its own on next use."""
        self._lock = threading.Lock()
        if self._conn is not None:
            self._park(self._conn)
            self._conn = None
        self._pid = os.getpid()

    def close(self) -> None:
        """Close this process's connection. Idempotent; later calls raise ``ValueError``."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class NoDupeGuard(ProcessConnection):
    """The set of signatures stored in the SQLite file ``path``; see the module docstring. A
    server URL opens :class:`optimized._dedup_pg.PgNoDupeGuard` instead."""

    server_guard = "optimized._dedup_pg:PgNoDupeGuard"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = check_path(path)
        self.timeout = check_timeout(timeout)
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()
        self._closed = False
        with self._using():
            pass

    # -- plumbing ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        """Connect, set NORMAL sync, switch the file to WAL, make sure the table exists."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise open_error(self.path, exc) from exc
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # first: the switch to WAL then syncs less
            self._retry_while_busy(conn, "PRAGMA journal_mode=WAL")
            self._retry_while_busy(conn, SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _retry_while_busy(self, conn: sqlite3.Connection, sql: str) -> None:
        """Run ``sql``, retrying up to ``timeout`` while another process holds the file: when
        several processes open a new store at once, the switch to WAL can report SQLITE_BUSY at
        once instead of waiting on the busy handler."""
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """This process's connection, under the lock; SQLite errors turned into clear ones."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._closed:
                raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
            with clear_sqlite_errors(self.path, self.timeout):
                if self._conn is None:
                    self._conn = self._open()
                yield self._conn

    # -- public API --------------------------------------------------------------------------
    def add(self, sig: str) -> bool:
        """Record ``sig``; True if it was new. One autocommitted INSERT OR IGNORE."""
        check_sig(sig)
        with self._using() as conn:
            return conn.execute(_INSERT, (sig,)).rowcount == 1

    def seen(self, sig: str) -> bool:
        """Whether ``sig`` is recorded: one point SELECT on the open connection."""
        check_sig(sig)
        with self._using() as conn:
            return conn.execute(_SELECT_ONE, (sig,)).fetchone() is not None

    def add_batch(self, sigs: Iterable[str]) -> int:
        """Record every signature of ``sigs`` in one transaction; the number that were new."""
        items = checked_sigs(sigs)
        with self._using() as conn:
            if not items:
                return 0
            conn.execute("BEGIN IMMEDIATE")
            try:
                added = conn.executemany(_INSERT, zip(items)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return added

    def seen_batch(self, sigs: Iterable[str]) -> dict[str, bool]:
        """``{sig: seen(sig)}`` in order of first appearance, by chunked ``IN (...)`` queries."""
        unique = list(dict.fromkeys(checked_sigs(sigs)))
        found: set[str] = set()
        with self._using() as conn:
            chunk = variable_limit(conn)
            several = len(unique) > chunk
            if several:
                conn.execute("BEGIN")  # one snapshot for all the chunks
            try:
                for start in range(0, len(unique), chunk):
                    part = unique[start:start + chunk]
                    sql = f"SELECT sig FROM {TABLE} WHERE sig IN ({','.join('?' * len(part))})"
                    found.update(row[0] for row in conn.execute(sql, part))
            finally:
                if several and conn.in_transaction:
                    conn.execute("COMMIT")
        return {sig: sig in found for sig in unique}

    def __len__(self) -> int:
        with self._using() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The recorded signatures, in SQLite's key order (a snapshot)."""
        with self._using() as conn:
            rows = conn.execute(f"SELECT sig FROM {TABLE} ORDER BY sig").fetchall()
        return iter([row[0] for row in rows])
