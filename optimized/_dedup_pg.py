"""The dedup store on a PostgreSQL server: the fast side.

Same API, semantics, errors and table as :mod:`reference._dedup_pg` (read its docstring). What
differs is how the work reaches the server:

- One connection per guard per process, opened in the constructor (so a bad URL or an unreachable
  server fails there), autocommit. After ``fork`` a child opens its own: every call compares
  ``os.getpid()`` with the pid that opened it. The connection the child inherited is parked with
  its socket pointed at ``/dev/null``, so nothing the child does (not even the goodbye message
  libpq sends when a connection is freed) reaches the parent's session.
- Thread-safe: one lock around the connection.
- ``add_batch``: ONE statement, ``INSERT ... SELECT unnest(%s::bytea[]) ON CONFLICT DO NOTHING``,
  whose row count is the number of new signatures. One autocommitted statement is one
  transaction: the batch is all there or not at all, whether the client raises, dies (SIGKILL) or
  the server goes away. The distinct signatures go in sorted, so two batches that overlap lock
  their rows in the same order and never deadlock.
- ``seen_batch``: one ``SELECT sig ... WHERE sig = ANY(%s)`` over the distinct signatures (one
  snapshot).
- A connection found broken (the server restarted) is dropped after the call that found it
  raised :class:`~reference._dedup_pg.StoreUnreachableError`; reads (``seen``, ``seen_batch``,
  ``len``, ``iter``) then retry once on a new connection, writes raise (whether the server
  committed a write it was cut off from cannot be known, and ``add`` must count truthfully); the
  next call reconnects.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, TypeVar

from reference._dedup_pg import (ServerAddress, StoreUnreachableError, connect, encoded, encoded_batch,
                                 ensure_table, server_errors)
from reference.dedup_store import TABLE, check_sig, check_timeout

from optimized.dedup_store import ProcessConnection, checked_sigs

__all__ = ["PgNoDupeGuard"]

T = TypeVar("T")
_INSERT_ONE = f"INSERT INTO {TABLE} (sig) VALUES (%s) ON CONFLICT DO NOTHING"
_INSERT_MANY = f"INSERT INTO {TABLE} (sig) SELECT unnest(%s::bytea[]) ON CONFLICT DO NOTHING"
_SELECT_ONE = f"SELECT 1 FROM {TABLE} WHERE sig = %s"
_SELECT_MANY = f"SELECT sig FROM {TABLE} WHERE sig = ANY(%s::bytea[])"

class PgNoDupeGuard(ProcessConnection):
    """The set of signatures in a PostgreSQL table; one connection per process (module docstring)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.timeout = check_timeout(timeout)
        self.address = ServerAddress(url, self.timeout)
        self.path = self.address.shown
        self._lock = threading.Lock()
        self._conn: Optional[Any] = None
        self._pid = os.getpid()
        self._closed = False
        self._call(ensure_table, retry=False)

    # -- plumbing ----------------------------------------------------------------------------
    def _park(self, conn: Any) -> None:
        """Point an inherited connection's socket at /dev/null, then keep it referenced: the
        goodbye libpq sends when it is freed then goes nowhere, not into the parent's session."""
        try:
            fd = conn.pgconn.socket
            devnull = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)
        except Exception:  # already closed: nothing to protect
            pass
        super()._park(conn)

    @contextmanager
    def _using(self) -> Iterator[Any]:
        """This process's connection (opened if needed), under the lock; a broken one is dropped."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._closed:
                raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
            if self._conn is None:
                self._conn = connect(self.address, self.timeout)
            conn = self._conn
            try:
                with server_errors(self.address, self.timeout):
                    yield conn
            finally:
                if conn.broken or conn.closed:
                    self._conn = None
                    conn.close()

    def _call(self, work: Callable[[Any], T], *, retry: bool) -> T:
        """``work(conn)``; with ``retry``, once more on a new connection when the old one broke."""
        try:
            with self._using() as conn:
                return work(conn)
        except StoreUnreachableError:
            if not retry:
                raise
        with self._using() as conn:
            return work(conn)

    # -- public API --------------------------------------------------------------------------
    def add(self, sig: str) -> bool:
        """Record ``sig``; True if it was new. One autocommitted INSERT on the open connection."""
        data = encoded(check_sig(sig))
        return self._call(lambda conn: conn.execute(_INSERT_ONE, (data,)).rowcount == 1, retry=False)

    def seen(self, sig: str) -> bool:
        """Whether ``sig`` is recorded: one point SELECT on the open connection."""
        data = encoded(check_sig(sig))
        return self._call(lambda conn: conn.execute(_SELECT_ONE, (data,)).fetchone() is not None, retry=True)

    def add_batch(self, sigs: Iterable[str]) -> int:
        """Record every signature of ``sigs`` in one statement; the number that were new."""
        data = sorted(set(encoded_batch(checked_sigs(sigs))))
        if not data:
            with self._using():
                return 0
        return self._call(lambda conn: conn.execute(_INSERT_MANY, (data,)).rowcount, retry=False)

    def seen_batch(self, sigs: Iterable[str]) -> dict[str, bool]:
        """``{sig: seen(sig)}`` in order of first appearance, by one ``= ANY(...)`` query."""
        unique = list(dict.fromkeys(checked_sigs(sigs)))
        data = encoded_batch(unique)
        if not data:
            with self._using():
                return {}
        rows = self._call(lambda conn: conn.execute(_SELECT_MANY, (data,)).fetchall(), retry=True)
        found = {bytes(row[0]).decode("utf-8") for row in rows}
        return {sig: sig in found for sig in unique}

    def __len__(self) -> int:
        return self._call(lambda conn: int(conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]),
                          retry=True)

    def __iter__(self) -> Iterator[str]:
        """The recorded signatures in byte order of their UTF-8 (a snapshot)."""
        rows = self._call(lambda conn: conn.execute(f"SELECT sig FROM {TABLE} ORDER BY sig").fetchall(),
                          retry=True)
        return iter([bytes(row[0]).decode("utf-8") for row in rows])
