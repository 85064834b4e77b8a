"""Shared fixtures: the demo plugin distribution (a user's own pair, registered by entry point)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_demo"


@pytest.fixture
def plugin_path(monkeypatch):
    """Put the demo plugin distribution (pb_demo + its .dist-info entry point) on sys.path."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    for mod in [m for m in sys.modules if m == "pb_demo" or m.startswith("pb_demo.")]:
        del sys.modules[mod]
    yield PLUGIN_DIR


@pytest.fixture
def plugin_env():
    """Environment for a subprocess that should see the demo plugin (pairbench CLI, asv)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), env.get("PYTHONPATH")]))
    env["ASV_PYTHONPATH"] = str(PLUGIN_DIR)
    return env


# -- a PostgreSQL server (moved here from test_study_storage: the dedup store and crash tests use
# it too) ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway cluster (fsync off) for the session, or None when ``$PAIRBENCH_PG_URL`` names
    the server; skips when neither is possible."""
    from pairbench.pairs._pg_server import ENV_URL, ThrowawayCluster, postgres_bin, unavailable_reason

    if os.environ.get(ENV_URL):
        yield None
        return
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no PostgreSQL server: {reason}")
    cluster = ThrowawayCluster(postgres_bin())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(pg_cluster) -> str:
    """A PostgreSQL database URL: ``$PAIRBENCH_PG_URL``, or the session's throwaway cluster."""
    return pg_cluster.url if pg_cluster is not None else os.environ["PAIRBENCH_PG_URL"]


@pytest.fixture
def pg_store_url(postgres_url: str):
    """``postgres_url`` with a schema of its own (a fresh ``signatures`` table), dropped after."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    libpq = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
