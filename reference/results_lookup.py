"""Backtest result files: write one per run, find the newest for a (symbol, timeframe).

This is the naive "before" of seed 001 item 2: the newest result is found with
``sorted(results_dir.glob(f"{symbol}_{timeframe}_*.json"))[-1]``, a scan of the whole folder on
every call (O(files in the folder)).

Semantics (the specification both sides follow):

* ``write_result(results_dir, symbol, timeframe, payload) -> Path`` serialises ``payload`` (a dict)
  with ``json.dumps(payload, allow_nan=False)`` and writes it to
  ``results_dir / f"{symbol}_{timeframe}_{stamp}.json"``, where ``stamp`` is the UTC time of the
  write as ``%Y%m%dT%H%M%S%fZ`` (fixed width, so names of one key sort by time). The file appears
  whole or not at all (written to a hidden ``.tmp`` file in the same folder, then renamed); a temp
  file never matches ``*.json``. The path returned is ``Path(results_dir) / name``.
* ``find_latest_result(results_dir, symbol, timeframe) -> Path`` returns the last of the sorted
  names matching the glob above, as ``Path(results_dir) / name``.
* Bad input, refused before anything touches the disk, each error naming the argument:
  ``symbol`` / ``timeframe`` not a str -> TypeError; empty, or containing a path separator, a glob
  metacharacter (``* ? [ ]``) or a NUL -> ValueError. ``results_dir`` missing -> FileNotFoundError
  (the writer never creates it); not a folder -> NotADirectoryError. ``payload`` not a dict or not
  JSON-serialisable -> TypeError; holding NaN or infinity -> ValueError. No result for the key ->
  FileNotFoundError naming the symbol and timeframe.

Known flaws of this naive version, fixed by ``optimized.results_lookup`` and documented by tests:

* Two writes of one key in the same microsecond get the same name: the second replaces the first.
* The glob is not an exact match: ``BTC`` / ``1h`` also matches ``BTC_1h_raw_<stamp>.json`` (and,
  as ``r`` sorts after digits, returns it), and ``BTC`` / ``USD_1h`` cannot be told from
  ``BTC_USD`` / ``1h`` (both write ``BTC_USD_1h_<stamp>.json``).
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]

STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
"""UTC time of a write, fixed width (e.g. ``20240102T030405123456Z``), sorts as the time does."""

FORBIDDEN_CHARS = frozenset("/\\*?[]\0") | frozenset(c for c in (os.sep, os.altsep) if c)
"""Characters refused in a symbol or timeframe: path separators, glob metacharacters, NUL."""


def _utc_now() -> datetime:
    """The clock of the writer (tests replace it to force two writes into one microsecond)."""
    return datetime.now(timezone.utc)


def check_key(symbol: Any, timeframe: Any) -> None:
    """Refuse a symbol or timeframe that is not a non-empty str free of separators and globs."""
    for arg, value in (("symbol", symbol), ("timeframe", timeframe)):
        if not isinstance(value, str):
            raise TypeError(f"{arg}: must be a str, got {type(value).__name__}")
        if not value:
            raise ValueError(f"{arg}: must not be empty")
        bad = sorted(FORBIDDEN_CHARS.intersection(value))
        if bad:
            raise ValueError(f"{arg}: {value!r} contains {''.join(bad)!r}; path separators, glob "
                             "metacharacters (* ? [ ]) and NUL are not allowed")


def check_results_dir(results_dir: PathLike) -> Path:
    """Return ``results_dir`` as a Path; refuse one that is missing or is not a folder."""
    try:
        path = Path(results_dir)
    except TypeError:
        raise TypeError(f"results_dir: must be a path, got {type(results_dir).__name__}") from None
    if not path.exists():
        raise FileNotFoundError(f"results_dir: no such folder: {str(path)!r}")
    if not path.is_dir():
        raise NotADirectoryError(f"results_dir: not a folder: {str(path)!r}")
    return path


def serialise_payload(payload: Any) -> bytes:
    """The bytes written for ``payload``: strict JSON (no NaN/infinity), UTF-8."""
    if not isinstance(payload, dict):
        raise TypeError(f"payload: must be a dict, got {type(payload).__name__}")
    try:
        text = json.dumps(payload, allow_nan=False)
    except TypeError as exc:
        raise TypeError(f"payload: not JSON-serialisable: {exc}") from None
    except ValueError as exc:  # NaN/infinity, or a circular reference
        raise ValueError(f"payload: not valid JSON: {exc}") from None
    return text.encode("utf-8")


def format_stamp(moment: datetime) -> str:
    """``moment`` in UTC as ``STAMP_FORMAT``."""
    return moment.astimezone(timezone.utc).strftime(STAMP_FORMAT)


def no_result_error(symbol: str, timeframe: str, results_dir: Path) -> FileNotFoundError:
    """The error raised when ``results_dir`` holds no result for (symbol, timeframe)."""
    return FileNotFoundError(f"no result for symbol={symbol!r} timeframe={timeframe!r} "
                             f"in results_dir {str(results_dir)!r}")


def write_result(results_dir: PathLike, symbol: str, timeframe: str, payload: dict) -> Path:
    """Write ``payload`` as ``{symbol}_{timeframe}_{stamp}.json`` in ``results_dir``; return its path."""
    check_key(symbol, timeframe)
    data = serialise_payload(payload)
    folder = check_results_dir(results_dir)
    path = folder / f"{symbol}_{timeframe}_{format_stamp(_utc_now())}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # same stamp, same name: the earlier file is lost
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def find_latest_result(results_dir: PathLike, symbol: str, timeframe: str) -> Path:
    """The newest result of (symbol, timeframe): the last sorted name matching the glob."""
    check_key(symbol, timeframe)
    folder = check_results_dir(results_dir)
    matches = sorted(folder.glob(f"{symbol}_{timeframe}_*.json"))
    if not matches:
        raise no_result_error(symbol, timeframe, folder)
    return matches[-1]
