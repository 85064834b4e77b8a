"""Reference side of the profiling fixture pair: three stages of pure-Python work per call.

Every loop calls a builtin (``abs``) per step: pyinstrument takes its samples at calls, and a
loop that calls nothing lends its time to its neighbours (see profiling.flamediff).

``process(n)`` runs ``parse`` (n steps), ``crunch`` (n steps) and ``tidy`` (4n steps) and returns
their results. The optimized side keeps ``parse`` as is, makes ``crunch`` deliberately slower and
``tidy`` much faster, so the flame diff has one frame of each colour.

``store_rows(conn, rows)`` writes (key, value) rows into table ``kv`` with a commit per row, the
naive store of seed 002: its profile is dominated by ``sqlite3.Connection.commit``.
"""
from __future__ import annotations

import sqlite3


def parse(n: int) -> int:
    total = 0
    for i in range(n):
        total += abs(i * i % 7 - 3)
    return total


def crunch(n: int) -> int:
    total = 0
    for i in range(n):
        total += abs(i * 3 % 11 - 5)
    return total


def tidy(n: int) -> int:
    total = 0
    for i in range(4 * n):
        total += abs(i % 13)
    return total


def reset_state(n: int) -> int:
    """Untimed work before each call: it must never show up in a profile."""
    total = 0
    for i in range(n):
        total += i % 5
    return total


def process(n: int) -> tuple[int, int, int]:
    return parse(n), crunch(n), tidy(n)


def store_rows(conn: sqlite3.Connection, rows: list[tuple[str, str]]) -> int:
    for key, value in rows:
        conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))
        conn.commit()
    return len(rows)
