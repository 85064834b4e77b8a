"""A persistent set of trial signatures in one SQLite file: the naive "before" (the specification).

``NoDupeGuard(path, *, timeout=30.0)`` remembers which parameter signatures an optimiser has
already tried, so a duplicate trial can be skipped, across runs and across processes sharing the
file. ``path`` may also be a PostgreSQL URL (``postgresql://``, ``postgres://`` or
``postgresql+psycopg://``): the store is then a table on that server, shared by processes on
several machines, with the same semantics (:mod:`reference._dedup_pg`); any other ``scheme://``
is refused with ``ValueError``.

Semantics (both sides hold to every rule here):

- ``add(sig) -> bool``: record ``sig``; True if it was new, False if it was already there.
- ``seen(sig) -> bool``: whether ``sig`` is recorded. Never writes.
- ``add_batch(sigs) -> int``: record every signature of the iterable ``sigs``; returns how many
  were new. A signature repeated inside the batch is new at most once.
- ``seen_batch(sigs) -> dict[str, bool]``: ``{sig: seen(sig)}`` for every signature of ``sigs``,
  keys in order of first appearance (a repeated signature appears once).
- ``len(guard)``: the number of recorded signatures. ``close()`` (idempotent) and the context
  manager release the store; any other call after ``close()`` raises ``ValueError``.
- Signatures are compared exactly, as Python compares ``str`` (SQLite's BINARY collation on UTF-8).

The file format (shared by both sides, so a file written by one is read by the other): one table
``signatures (sig TEXT PRIMARY KEY NOT NULL)``, see :data:`SCHEMA`. The journal mode is a property
of the file: this side never changes it, so a file it creates uses SQLite's default rollback
journal, and a file the optimized side switched to WAL stays WAL.

Bad input, refused before anything is written:

- ``sig`` not a ``str`` -> ``TypeError`` naming ``sig``; in a batch, naming ``sigs[i]``. The whole
  batch is checked before the first row is written.
- ``sig`` empty, or not encodable as UTF-8 (a lone surrogate) -> ``ValueError``.
- ``sigs`` not an iterable of ``str`` (a bare ``str`` or ``bytes`` included) -> ``TypeError``.
- ``path`` in a folder that does not exist -> ``FileNotFoundError`` naming the path; ``path`` a
  directory -> ``IsADirectoryError``; ``path`` an existing file that is not SQLite ->
  ``sqlite3.DatabaseError`` naming the path; ``":memory:"`` or ``""`` -> ``ValueError`` (a store
  is a file that several connections share).
- ``timeout`` (seconds to wait for another connection's lock) not a finite number >= 0 ->
  ``TypeError`` / ``ValueError``.
- The file locked by another connection for longer than ``timeout`` -> :class:`StoreLockedError`
  naming the path and the timeout.

How this side does it, and why it is slow: a new ``sqlite3`` connection per call, with
``synchronous=FULL`` set explicitly and one commit per ``add`` (on a rollback-journal file every
commit syncs the journal and the database: ~0.7-0.9 ms per row on an ordinary disk).
``add_batch`` and ``seen_batch`` are loops of ``add`` / ``seen``. Because every row is its own
committed transaction, an error or a crash in the middle of ``add_batch`` leaves the rows before
it recorded (the optimized side leaves the store exactly as before the batch).
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
from collections.abc import Iterable
from contextlib import closing, contextmanager
from typing import Any, Iterator

__all__ = ["NoDupeGuard", "StoreLockedError", "SCHEMA", "TABLE", "DEFAULT_TIMEOUT"]

TABLE = "signatures"
SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (sig TEXT PRIMARY KEY NOT NULL)"
DEFAULT_TIMEOUT = 30.0
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StoreLockedError(sqlite3.OperationalError, TimeoutError):
    """Another connection held the store's lock for longer than the guard's ``timeout``."""


# -- input checks shared by both sides ------------------------------------------------------
def is_server_url(path: Any) -> bool:
    """Whether ``path`` is a URL (``scheme://...``, a database server) rather than a file path."""
    return isinstance(path, str) and bool(_URL_LIKE.match(path))


def check_path(path: Any) -> str:
    """Return ``path`` as an absolute string, or raise naming what is wrong with it."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: must be a str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"path: must be a text path, got {type(text).__name__}")
    if text in ("", ":memory:"):
        raise ValueError(f"path: must name a file, got {text!r} (a store is a file shared by connections)")
    full = os.path.abspath(text)
    folder = os.path.dirname(full)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist (path={text!r})")
    if os.path.isdir(full):
        raise IsADirectoryError(f"path: {text!r} is a directory, not a database file")
    return full


def check_timeout(timeout: Any) -> float:
    """Return ``timeout`` as a float of seconds >= 0, or raise naming it."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout: must be a number of seconds, got {type(timeout).__name__}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"timeout: must be a finite number of seconds >= 0, got {timeout!r}")
    return float(timeout)


def check_sig(sig: Any, name: str = "sig") -> str:
    """Return ``sig`` if it is a non-empty, UTF-8-encodable ``str``; else raise naming ``name``."""
    if not isinstance(sig, str):
        raise TypeError(f"{name}: must be a str, got {type(sig).__name__}")
    if not sig:
        raise ValueError(f"{name}: must not be empty")
    if not sig.isascii():
        try:
            sig.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name}: not encodable as UTF-8 ({exc.reason} at {exc.start})") from None
    return sig


def check_sigs(sigs: Any) -> list[str]:
    """Materialise ``sigs`` and check every signature, before anything is written."""
    if isinstance(sigs, (str, bytes, bytearray)) or not isinstance(sigs, Iterable):
        raise TypeError(f"sigs: must be an iterable of str, got {type(sigs).__name__}")
    items = list(sigs)
    for i, sig in enumerate(items):
        check_sig(sig, f"sigs[{i}]")
    return items


def is_locked(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` is SQLite's SQLITE_BUSY / SQLITE_LOCKED ("database is locked")."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def locked_error(path: str, timeout: float, exc: sqlite3.OperationalError) -> StoreLockedError:
    return StoreLockedError(f"dedup store {path!r} stayed locked by another connection for longer "
                            f"than timeout={timeout:g} s ({exc})")


def open_error(path: str, exc: sqlite3.DatabaseError) -> sqlite3.DatabaseError:
    """A clear error for a file SQLite cannot use as a store."""
    return sqlite3.DatabaseError(f"path: {path!r} cannot be used as a dedup store ({exc})")


@contextmanager
def clear_sqlite_errors(path: str, timeout: float) -> Iterator[None]:
    """Re-raise SQLite's lock and not-a-database errors as clear ones naming the store."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise locked_error(path, timeout, exc) from exc
        raise
    except sqlite3.DatabaseError as exc:
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", corruption
            raise open_error(path, exc) from exc
        raise


class GuardLifecycle:
    """What both sides' guards share: the context manager, the repr (``path``, ``timeout``,
    ``_closed`` and ``close()`` come from the guard), and opening the ``server_guard`` class
    (``"module:Class"``) instead when the path is a server URL."""

    path: str
    timeout: float
    _closed: bool
    server_guard: str = ""

    def __new__(cls, path: Any = None, *, timeout: float = DEFAULT_TIMEOUT):
        if cls.server_guard and is_server_url(path):
            from importlib import import_module

            module, _, name = cls.server_guard.partition(":")
            return getattr(import_module(module), name)(path, timeout=timeout)
        return super().__new__(cls)

    def close(self) -> None:  # pragma: no cover - each guard defines its own
        raise NotImplementedError

    def __enter__(self):
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"NoDupeGuard({self.path!r}, timeout={self.timeout:g}) [{state}]"


class NoDupeGuard(GuardLifecycle):
    """The set of signatures stored in the SQLite file ``path``; see the module docstring. A
    server URL opens :class:`reference._dedup_pg.PgNoDupeGuard` instead."""

    server_guard = "reference._dedup_pg:PgNoDupeGuard"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = check_path(path)
        self.timeout = check_timeout(timeout)
        self._closed = False
        with self._connect() as conn, conn:
            self._run(conn, SCHEMA)

    # -- plumbing ----------------------------------------------------------------------------
    def _connect(self) -> closing[sqlite3.Connection]:
        """A fresh connection, per call: the naive pattern this side models."""
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout)
        except sqlite3.OperationalError as exc:
            raise open_error(self.path, exc) from exc
        try:
            self._run(conn, "PRAGMA synchronous=FULL")
        except BaseException:
            conn.close()
            raise
        return closing(conn)

    def _run(self, conn: sqlite3.Connection, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with clear_sqlite_errors(self.path, self.timeout):
            return conn.execute(sql, params)

    # -- public API --------------------------------------------------------------------------
    def add(self, sig: str) -> bool:
        """Record ``sig``; True if it was new. One connection and one commit per call."""
        check_sig(sig)
        with self._connect() as conn:
            cur = self._run(conn, f"INSERT OR IGNORE INTO {TABLE} (sig) VALUES (?)", (sig,))
            try:
                conn.commit()
            except sqlite3.OperationalError as exc:
                if is_locked(exc):
                    raise locked_error(self.path, self.timeout, exc) from exc
                raise
            return cur.rowcount == 1

    def seen(self, sig: str) -> bool:
        """Whether ``sig`` is recorded. One connection per call."""
        check_sig(sig)
        with self._connect() as conn:
            row = self._run(conn, f"SELECT 1 FROM {TABLE} WHERE sig = ?", (sig,)).fetchone()
            return row is not None

    def add_batch(self, sigs: Iterable[str]) -> int:
        """Record every signature of ``sigs`` (checked first); the number that were new."""
        items = check_sigs(sigs)
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        return sum(self.add(sig) for sig in items)

    def seen_batch(self, sigs: Iterable[str]) -> dict[str, bool]:
        """``{sig: seen(sig)}`` for every signature of ``sigs``, in order of first appearance."""
        items = check_sigs(sigs)
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        return {sig: self.seen(sig) for sig in dict.fromkeys(items)}

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(self._run(conn, f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The recorded signatures, in SQLite's key order (a snapshot)."""
        with self._connect() as conn:
            rows = self._run(conn, f"SELECT sig FROM {TABLE} ORDER BY sig").fetchall()
        return iter([row[0] for row in rows])

    def close(self) -> None:
        """Release the store (this side holds no connection between calls). Idempotent."""
        self._closed = True
