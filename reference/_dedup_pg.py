"""The dedup store on a PostgreSQL server, the naive way: what a literal port of the SQLite reference does.

``NoDupeGuard("postgresql://user@host:port/db")`` (also ``postgres://`` and the SQLAlchemy form
``postgresql+psycopg://`` that Optuna storage URLs use) returns a :class:`PgNoDupeGuard`: the same
API, semantics and errors as the SQLite store of :mod:`reference.dedup_store`, kept in one table of
the database that every client of the URL shares, so workers on several machines answer each
other's duplicates. psycopg 3 is the client, imported only when a URL is opened.

The table (shared by both sides): ``signatures (sig bytea PRIMARY KEY)``, in the first schema of
the connection's ``search_path`` (a libpq ``?options=-csearch_path%3Dname`` in the URL picks
another one). A signature is stored as its UTF-8 bytes: ``bytea`` compares bytes exactly, holds a
NUL (``text`` cannot) and orders as SQLite's BINARY collation does, so both backends agree on
equality and on ``iter`` order whatever the database's encoding and collation.

Differences a server brings, the same on both sides:

- ``timeout`` is PostgreSQL's ``lock_timeout`` (a row another transaction is inserting is locked
  until it commits); a lock held longer raises :class:`~reference.dedup_store.StoreLockedError`
  naming the URL (password hidden) and the timeout. Connecting waits at most
  :data:`CONNECT_TIMEOUT_S` seconds.
- An unreachable server (refused, unknown host, timed out) or one that goes away during a call
  raises :class:`StoreUnreachableError` (a ``ConnectionError``) naming the host and port.
- A bad URL (a port that is not a number, an unknown query parameter) -> ``ValueError`` naming it.
- A signature longer than :data:`MAX_SIG_BYTES` bytes of UTF-8 -> ``ValueError`` (a btree key
  must fit in a third of a page); real signatures are 64-character hex digests.

How this side does it: a new connection per call (autocommit), one statement per signature,
batches as loops of single calls. As on SQLite, every row is its own transaction: a batch that
fails or dies in the middle leaves the rows before it recorded.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from reference.dedup_store import (TABLE, GuardLifecycle, StoreLockedError, check_sig, check_sigs,
                                   check_timeout)

__all__ = ["PgNoDupeGuard", "StoreUnreachableError", "ServerAddress", "PG_SCHEMA", "SCHEMES",
           "MAX_SIG_BYTES", "CONNECT_TIMEOUT_S"]

PG_SCHEMA = f"CREATE TABLE IF NOT EXISTS {TABLE} (sig bytea PRIMARY KEY)"
MAX_SIG_BYTES = 2000  # PostgreSQL's btree refuses keys over ~2700 bytes (a third of an 8 kB page)
CONNECT_TIMEOUT_S = 5
SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")  # a URL opening a server store


class StoreUnreachableError(ConnectionError):
    """The database server of a dedup store could not be reached, or went away during a call."""


class ServerAddress:
    """A checked PostgreSQL URL: the libpq conninfo to connect with and the text to show."""

    def __init__(self, url: str, timeout: float) -> None:
        scheme = next((s for s in SCHEMES if url.startswith(s)), None)
        if scheme is None:
            raise ValueError(f"path: unsupported URL {url.split('://')[0]!r}:// (a dedup store URL is "
                             f"postgresql://, postgres:// or postgresql+psycopg://; a path means SQLite)")
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        libpq_url = "postgresql://" + url[len(scheme):]
        try:
            params = conninfo_to_dict(libpq_url)
        except ProgrammingError as exc:
            raise ValueError(f"path: not a usable PostgreSQL URL {mask(url)!r}: {exc}") from None
        port = str(params.get("port", "5432"))
        if not all(part.isdigit() for part in port.split(",")):
            raise ValueError(f"path: port {port!r} of {mask(url)!r} is not a number")
        self.host = params.get("host") or params.get("hostaddr") or "localhost (unix socket)"
        self.port = port
        self.shown = mask(url)
        lock_ms = max(1, round(timeout * 1000))  # 0 would mean "wait forever" to PostgreSQL
        options = f"{params.pop('options', '')} -c lock_timeout={lock_ms}".strip()
        self.conninfo = make_conninfo(**params, options=options, connect_timeout=CONNECT_TIMEOUT_S)


def mask(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def encoded(sig: str, name: str = "sig") -> bytes:
    """The stored form of a checked signature; too long a key is refused naming ``name``."""
    data = sig.encode("utf-8")
    if len(data) > MAX_SIG_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes of UTF-8, over the {MAX_SIG_BYTES} a "
                         f"PostgreSQL store takes")
    return data


def encoded_batch(items: list[str]) -> list[bytes]:
    """Every signature of a checked batch encoded (too long a one refused naming ``sigs[i]``)."""
    return [encoded(sig, f"sigs[{i}]") for i, sig in enumerate(items)]


@contextmanager
def server_errors(address: ServerAddress, timeout: float) -> Iterator[None]:
    """psycopg's errors as clear ones naming the store: a lock timeout, a server out of reach."""
    import psycopg
    from psycopg import errors

    try:
        yield
    except errors.LockNotAvailable as exc:
        raise StoreLockedError(f"dedup store {address.shown!r}: a row stayed locked by another "
                               f"connection for longer than timeout={timeout:g} s ({first_line(exc)})") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnreachableError(f"dedup store {address.shown!r}: cannot reach the server at host "
                                    f"{address.host!r} port {address.port} ({first_line(exc)})") from exc


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def connect(address: ServerAddress, timeout: float) -> Any:
    """A new autocommit connection (errors translated by the caller's :func:`server_errors`)."""
    import psycopg

    with server_errors(address, timeout):
        return psycopg.connect(address.conninfo, autocommit=True)


def ensure_table(conn: Any) -> None:
    """Create the table unless it exists (two clients creating it at once: the loser finds it)."""
    from psycopg import errors

    try:
        conn.execute(PG_SCHEMA)
    except (errors.UniqueViolation, errors.DuplicateTable):
        pass  # another connection created it between the check and the create


class PgNoDupeGuard(GuardLifecycle):
    """The set of signatures in a PostgreSQL table; a connection per call (module docstring)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.timeout = check_timeout(timeout)
        self.address = ServerAddress(url, self.timeout)
        self.path = self.address.shown
        self._closed = False
        with self._connected() as conn:
            ensure_table(conn)

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        """A fresh connection for one call, closed after it; errors made clear."""
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        conn = connect(self.address, self.timeout)
        try:
            with server_errors(self.address, self.timeout):
                yield conn
        finally:
            conn.close()

    def add(self, sig: str) -> bool:
        """Record ``sig``; True if it was new. One connection and one autocommitted INSERT."""
        data = encoded(check_sig(sig))
        with self._connected() as conn:
            cur = conn.execute(f"INSERT INTO {TABLE} (sig) VALUES (%s) ON CONFLICT DO NOTHING", (data,))
            return cur.rowcount == 1

    def seen(self, sig: str) -> bool:
        """Whether ``sig`` is recorded. One connection per call."""
        data = encoded(check_sig(sig))
        with self._connected() as conn:
            return conn.execute(f"SELECT 1 FROM {TABLE} WHERE sig = %s", (data,)).fetchone() is not None

    def add_batch(self, sigs: Iterable[str]) -> int:
        """Record every signature of ``sigs`` (checked first), one ``add`` each."""
        items = check_sigs(sigs)
        encoded_batch(items)
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        return sum(self.add(sig) for sig in items)

    def seen_batch(self, sigs: Iterable[str]) -> dict[str, bool]:
        """``{sig: seen(sig)}`` in order of first appearance, one ``seen`` each."""
        items = check_sigs(sigs)
        encoded_batch(items)
        if self._closed:
            raise ValueError(f"NoDupeGuard({self.path!r}) is closed")
        return {sig: self.seen(sig) for sig in dict.fromkeys(items)}

    def __len__(self) -> int:
        with self._connected() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The recorded signatures in byte order of their UTF-8 (SQLite's BINARY order; a snapshot)."""
        with self._connected() as conn:
            rows = conn.execute(f"SELECT sig FROM {TABLE} ORDER BY sig").fetchall()
        return iter([bytes(row[0]).decode("utf-8") for row in rows])

    def close(self) -> None:
        """Release the store (this side holds no connection between calls). Idempotent."""
        self._closed = True
