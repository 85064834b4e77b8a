"""Default-config loading, cached: one ``os.stat`` per call while the file is unchanged.

Same API and results as :mod:`reference.config_cache` (read that docstring for the schema, the file
formats and every error), with three differences in how, none in what:

Cache and invalidation
    Entries are keyed by the absolute path (``os.path.abspath``; symlinks are not resolved, which
    would cost an ``lstat`` per component, and correctness does not hang on the key: an entry is
    served only when the file now at ``path`` has its stamp). Every call stats the file; an entry
    is served only when the stamp ``(st_mtime_ns, st_ctime_ns, st_size, st_ino, st_dev)`` is the
    one its bytes were read under. Size and inode catch an atomic replace on a filesystem that
    keeps mtime to the second; ctime, which no ``os.utime`` can set back, catches an in-place
    rewrite of the same size whose mtime was restored.
    A change within one timestamp tick of the last read would keep the stamp (git's "racy clean"
    problem), so an entry is *trusted* only when its bytes were read more than a window after the
    file's ctime (0.1 s, or 2 s where ctime has whole seconds only); until then each call re-reads
    the bytes and compares them with the cached ones (still no parse). A file still changing after
    three reads is parsed and returned uncached. A failure (missing file, bad JSON, schema) is never
    cached and drops the path's entry. At most ``MAX_ENTRIES`` paths are kept (oldest dropped).
    Clock steps backwards or timestamps from a skewed network server are out of scope.

Threads
    A hit reads one dict slot (an immutable entry swapped in whole), with no lock. Misses take one
    lock, re-stat, and read the file through one descriptor, stamping it with ``fstat`` before and
    after the read; a writer that replaces the file atomically (``os.replace``) is never seen torn,
    so every thread gets a whole config, old or new.

Read-only results, chosen by measurement
    Handing every caller the cached dict would let one caller's mutation change the next caller's
    config, so a hit must either copy or hand out something immutable. Measured interleaved at the
    default workload (4 symbols, ~240 leaves; 2-core EPYC VM under load, so the ratios are the
    robust figures, absolute times ran 2x high), each as "a reference call costs N of these":
    ``copy.deepcopy`` of the dump 1.2x (it nearly costs a whole reload); a hand-written dict/list
    copy 3.9x; ``orjson.loads`` of cached JSON 10.6x (and it would turn the Timeframe enums into
    str); ``os.stat`` alone 90x; a hit with no copy 58-69x. A hit plus any copy stays under ~10x,
    so results are read-only: :class:`FrozenDict` / :class:`FrozenList`, subclasses of
    ``dict``/``list`` (``isinstance(x, dict)`` holds, ``==`` the reference's plain dict, ``json``
    and ``orjson`` serialise them), nested all the way down, the leaves being immutable scalars,
    enums and tuples. Every mutating method raises ``TypeError`` saying how to get a mutable copy:
    :func:`thaw` or ``copy.deepcopy`` (plain dicts and lists all the way down), ``dict(cfg)`` /
    ``cfg.copy()`` (shallow). Pickling gives plain dicts and lists. This guards against mistakes,
    not malice: ``dict.__setitem__(cfg, k, v)`` still bypasses it.

Measured speedup: **53.3x [52.8x, 54.4x]** at 4 symbols (123 us -> 2.29 us per call); 43.7x at 1
symbol, 258x at 64. Reproduce: ``pairbench run config_cache --size 4`` (median of 15 interleaved
per-sample ratios, bootstrap 95% interval; the figure is the README's, ``docs/results/run.json``,
2-core AMD EPYC VM, threads pinned to 1).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, NoReturn

from pydantic import ValidationError

# The schema (the very same classes) and the error rules are the reference's.
from reference.config_cache import (  # noqa: F401  (section models re-exported)
    BacktestConfig, Config, ConfigError, DataConfig, ExecutionConfig, FeaturesConfig, FeeConfig,
    LoggingConfig, MetaConfig, MonteCarloConfig, OptimizerConfig, OutputConfig, ParamRange,
    RegimeFilterConfig, RetryConfig, RiskConfig, StopLossConfig, StrategyConfig, SymbolConfig,
    SymbolOverrides, TakeProfitConfig, Timeframe, WalkForwardConfig,
    check_path, check_regular, is_toml, not_found, parse,
)
from reference.config_cache import __all__ as _REFERENCE_ALL

__all__ = list(_REFERENCE_ALL) + ["FrozenDict", "FrozenList", "MAX_ENTRIES"]

#: most paths kept in the cache; the oldest entry goes first
MAX_ENTRIES = 64
#: a file whose ctime is this close to the moment it was read may change again unseen in one tick
_RACY_WINDOW_NS = 100_000_000
_RACY_WINDOW_COARSE_NS = 2_000_000_000
_READ_ATTEMPTS = 3
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


# -- read-only containers ----------------------------------------------------------------------
def _read_only(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(
        f"this {type(self).__name__} from get_default_config() is read-only because every caller "
        "shares it; for a mutable copy use optimized.config_cache.thaw(cfg) or copy.deepcopy(cfg)"
    )


class FrozenDict(dict):
    """A ``dict`` whose mutating methods raise ``TypeError``; copies and pickles are plain dicts."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "FrozenDict":
        self = dict.__new__(cls)
        dict.__init__(self, *args, **kwargs)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # filled by __new__; re-init is a no-op
        pass

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        return _deepcopy(self, memo)

    def __reduce__(self) -> tuple:
        return (dict, (dict(self),))


class FrozenList(list):
    """A ``list`` whose mutating methods raise ``TypeError``; copies and pickles are plain lists."""

    __slots__ = ()

    def __new__(cls, *args: Any) -> "FrozenList":
        self = list.__new__(cls)
        list.__init__(self, *args)
        return self

    def __init__(self, *args: Any) -> None:  # filled by __new__; re-init (which clears) is a no-op
        pass

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        return _deepcopy(self, memo)

    def __reduce__(self) -> tuple:
        return (list, (list(self),))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList([_freeze(v) for v in value])
    if isinstance(value, tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, bytearray)):  # the schema has none; refuse to hand one out shared
        raise TypeError(f"cannot freeze a {type(value).__name__} in a config")
    return value


def thaw(cfg: Any) -> Any:
    """A mutable deep copy (plain dicts and lists) of a config returned by :func:`get_default_config`."""
    if isinstance(cfg, dict):
        return {k: thaw(v) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [thaw(v) for v in cfg]
    if isinstance(cfg, tuple):
        return tuple(thaw(v) for v in cfg)
    return cfg


def _deepcopy(value: Any, memo: dict) -> Any:
    out = thaw(value)  # a config is a tree of immutable leaves: no sharing to preserve inside it
    memo[id(value)] = out
    return out


# -- the cache ---------------------------------------------------------------------------------
class _Entry:
    """What one path's file held when read: its stamp, raw bytes and frozen dump. Never mutated."""

    __slots__ = ("stamp", "raw", "value", "trusted")

    def __init__(self, stamp: tuple, raw: bytes, value: Any, trusted: bool) -> None:
        self.stamp = stamp
        self.raw = raw
        self.value = value
        self.trusted = trusted


_CACHE: dict[str, _Entry] = {}
_LOCK = threading.Lock()


def _stamp(st: os.stat_result) -> tuple:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


def _settled(stamp: tuple, read_started_ns: int) -> bool:
    """True when no later change can keep ``stamp``: the read began a window after the ctime."""
    ctime = stamp[1]
    window = _RACY_WINDOW_COARSE_NS if ctime % 1_000_000_000 == 0 else _RACY_WINDOW_NS
    return read_started_ns - ctime > window


def _validate(text: str, raw: bytes) -> Config:
    """``model_validate_json`` on the bytes; on any refusal, the reference's path gives the same
    error (or, where pydantic's parser is stricter than :mod:`json`, the same result)."""
    if not is_toml(text):
        try:
            return Config.model_validate_json(raw)
        except ValidationError:
            pass
    return parse(text, raw)


def _read(text: str) -> tuple[tuple, bytes, int]:
    """One consistent read: (stamp, bytes, time the read began); raises the API's errors."""
    for _ in range(_READ_ATTEMPTS):
        started = time.time_ns()
        try:
            fd = os.open(text, _O_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            raise not_found(text) from None
        try:
            before = os.fstat(fd)
            check_regular(text, before.st_mode)  # before reading: a FIFO opened O_NONBLOCK reads empty
            fh = open(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
        with fh:
            raw = fh.read()
            stamp = _stamp(os.fstat(fd))
        if stamp == _stamp(before):
            return stamp, raw, started
    return (), raw, started  # still changing: an empty stamp never matches, so nothing is cached


def _refresh(key: str, text: str) -> Any:
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is not None and entry.trusted:  # another thread may have refreshed it meanwhile
            try:
                if entry.stamp == _stamp(os.stat(text)):
                    return entry.value
            except OSError:
                pass  # the read below raises the API's error
        try:
            stamp, raw, started = _read(text)
            if entry is not None and entry.raw == raw:
                value = entry.value  # same bytes (touched, or a racy entry re-checked): no parse
            else:
                value = _freeze(_validate(text, raw).model_dump())
        except BaseException:
            _CACHE.pop(key, None)
            raise
        if stamp:
            _CACHE.pop(key, None)  # re-insert at the end: eviction drops the least recently read
            _CACHE[key] = _Entry(stamp, raw, value, _settled(stamp, started))
            while len(_CACHE) > MAX_ENTRIES:
                del _CACHE[next(iter(_CACHE))]
        return value


def _absolute(text: str) -> str:
    try:
        return os.path.abspath(text)
    except OSError:  # the working directory is gone; the stat below reports the missing file
        return text


def get_default_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated config at ``path`` as a read-only dict, cached until the file changes."""
    if type(path) is str and path and "\0" not in path:
        text = path
    else:
        text = check_path(path)
    key = text if text[0] == "/" else _absolute(text)
    try:
        st = os.stat(text)
    except (FileNotFoundError, NotADirectoryError):
        _CACHE.pop(key, None)
        raise not_found(text) from None
    entry = _CACHE.get(key)
    if (entry is not None and entry.trusted
            and entry.stamp == (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)):
        return entry.value
    return _refresh(key, text)


def clear_cache() -> None:
    """Forget every cached config (the next call of each path reads its file again)."""
    with _LOCK:
        _CACHE.clear()
