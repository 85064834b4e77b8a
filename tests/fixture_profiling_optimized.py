"""Optimized side of the profiling fixture pair: ``parse`` unchanged, ``crunch`` deliberately 6x
slower (the same result, computed six times), ``tidy`` through a helper only this side has,
about 4x cheaper. ``store_rows`` writes all rows in one transaction."""
from __future__ import annotations

import sqlite3


def parse(n: int) -> int:
    total = 0
    for i in range(n):
        total += abs(i * i % 7 - 3)
    return total


def crunch(n: int) -> int:
    for _ in range(6):
        total = 0
        for i in range(n):
            total += abs(i * 3 % 11 - 5)
    return total


def tidy_fast_helper(n: int) -> int:
    full, rest = divmod(4 * n, 13)
    total = full * sum(range(13)) + sum(range(rest))
    # some Python work, so the helper gets samples of its own in every run
    for i in range(n):
        total += 0 * abs(i % 13)
    return total


def tidy(n: int) -> int:
    return tidy_fast_helper(n)


def reset_state(n: int) -> int:
    total = 0
    for i in range(n):
        total += i % 5
    return total


def process(n: int) -> tuple[int, int, int]:
    return parse(n), crunch(n), tidy(n)


def store_rows(conn: sqlite3.Connection, rows: list[tuple[str, str]]) -> int:
    with conn:
        conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
    return len(rows)
