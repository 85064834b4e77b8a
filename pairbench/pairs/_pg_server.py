"""A PostgreSQL server for the pairs and tests that need one: ``$PAIRBENCH_PG_URL`` or a throwaway cluster.

A throwaway cluster is ``initdb`` + ``pg_ctl`` of the newest PostgreSQL found (on ``PATH``, else
Debian's ``/usr/lib/postgresql/N/bin``) in a temporary folder, on a free local port, run as the
``postgres`` user when we are root (PostgreSQL refuses root). ``durable=True`` keeps the server's
default durability (``fsync=on``: what the pairs measure); the tests' clusters run ``fsync=off``.

Command line (``scripts/pg_throwaway.sh`` calls it; standard library only, so it runs before any
virtualenv exists)::

    url=$(python3 -m pairbench.pairs._pg_server start DIR [--durable])   # prints the URL
    python3 -m pairbench.pairs._pg_server stop DIR
"""
from __future__ import annotations

import atexit
import glob
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

ENV_URL = "PAIRBENCH_PG_URL"
HOW_TO_ENABLE = (f"set {ENV_URL}=postgresql://USER@HOST:PORT/DB, or install the PostgreSQL server "
                 f"(initdb, pg_ctl; e.g. apt-get install postgresql) and psycopg (pip install "
                 f"'pairbench[postgres]')")


def postgres_bin() -> Optional[Path]:
    """The folder of ``initdb`` / ``pg_ctl``: on PATH, else Debian's newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb") and shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent

    def version(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayCluster:
    """A PostgreSQL cluster in ``root`` (a new temporary folder by default)."""

    def __init__(self, bindir: Path, root: Optional[Path] = None, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        # as root the server runs as postgres, who must reach the folder: not under a private
        # temporary folder (a test's), but /tmp, which every user may pass through
        base = "/tmp" if self.user and os.path.isdir("/tmp") else None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="pairbench-pg-", dir=base))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if self.user:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *argv: str) -> None:
        """Run a server program (as ``postgres`` when root); a failure raises with the server log."""
        command = [os.fspath(self.bindir / argv[0]), *argv[1:]]
        if self.user:
            command = (["runuser", "-u", self.user, "--", *command] if shutil.which("runuser")
                       else ["su", self.user, "-s", "/bin/sh", "-c", shlex.join(command)])
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def pg_ctl(self, action: str, *extra: str) -> None:
        """``pg_ctl ACTION`` on this cluster (``restart -m immediate`` crashes and restarts it)."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off"
        self.run("pg_ctl", "-D", os.fspath(self.data), "-o", options, "-l", os.fspath(self.log),
                 "-w", "-t", "60", action, *extra)

    def start(self) -> str:
        """initdb and start; returns the SQLAlchemy URL of the ``postgres`` database."""
        self.run("initdb", "-D", os.fspath(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.pg_ctl("start")
        return self.url

    def stop(self) -> None:
        """Stop the server (immediately) and remove the folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.run("pg_ctl", "-D", os.fspath(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# -- the pairs' server ------------------------------------------------------------------------
_started: list[ThrowawayCluster] = []


def unavailable_reason() -> Optional[str]:
    """Why no server can be had here (cheap: no server is started), or None when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if os.environ.get(ENV_URL):
        return None
    if postgres_bin() is None:
        return f"{ENV_URL} is not set and no PostgreSQL server binaries were found"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return f"{ENV_URL} is not set and, as root, there is no `postgres` user to run a server"
    return None


def server_url() -> str:
    """``$PAIRBENCH_PG_URL``, else a durable throwaway cluster started once per process (stopped
    at exit)."""
    given = os.environ.get(ENV_URL)
    if given:
        return given
    if not _started:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError(f"no PostgreSQL server: {HOW_TO_ENABLE}")
        cluster = ThrowawayCluster(bindir, durable=True)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        atexit.register(cluster.stop)
        _started.append(cluster)
    return _started[0].url


def main(argv: list[str]) -> int:
    usage = "usage: python -m pairbench.pairs._pg_server start DIR [--durable] | stop DIR"
    if len(argv) < 2 or argv[0] not in ("start", "stop"):
        print(usage, file=sys.stderr)
        return 2
    action, folder = argv[0], Path(argv[1]).resolve()
    if action == "stop":
        bindir = postgres_bin()
        if folder.exists() and bindir is not None:
            ThrowawayCluster(bindir, folder).stop()
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    bindir = postgres_bin()
    if bindir is None:
        print("pg_throwaway: no PostgreSQL server binaries found", file=sys.stderr)
        return 3
    cluster = ThrowawayCluster(bindir, folder, durable="--durable" in argv[2:])
    try:
        print(cluster.start())
    except Exception as exc:
        print(f"pg_throwaway: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
