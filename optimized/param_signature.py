"""Canonical signature of a parameter dict, cached: the same strings as ``reference.param_signature``.

Same API and semantics as the reference (its docstring is the specification). What is faster:

- A bounded LRU (``functools.lru_cache``: C, thread-safe in CPython, never above ``maxsize``
  entries) keyed on an exact, cheap key: ``orjson.dumps(params)`` (and of ``steps``). orjson
  writes few types, each alike only where the spec signs alike (a tuple as a list, an Enum as
  its value, a UUID as its string); everything else it could write (subclasses, dates,
  dataclasses) is refused. ``None``, NaN and inf all write ``null``, so a key holding ``null`` is
  not used. Params without such a key get a *frozen* one, ``(items, types)`` per level, the types
  keeping ``True``/``1``/``1.0`` apart. Equal keys always sign alike; keys that differ may still
  sign alike (key order, ``1`` vs ``1.0``): that is only a cache miss.
- The miss path writes the canonical text with a *plan*: for each shape of params (its keys at
  every level), from the shape's second sight on, a straight-line function compiled for it
  (generated source, as ``collections.namedtuple``; keys enter only as ``repr`` of plain str)
  reads each slot, looks a float's canonical text up in the slot's memo (rounded to its step
  once per distinct value) and joins the pieces in sorted key order, each written as ``json``
  writes it (``encode_basestring_ascii``, ``int.__repr__``, ``float.__repr__``). A value the plan
  was not built for (a list, an Enum, a subclass, a NaN) falls back to one generic pass
  (``_Canon``) and ``orjson.dumps(OPT_SORT_KEYS)`` (``json.JSONEncoder`` where orjson's text
  would differ: a float under 1e-4, non-ASCII text, an int past 64 bits). The bytes are hashed
  once.
- ``step_decimals`` is ``lru_cache``d; the rounding table of each distinct ``steps`` is built
  once.

Measured on the 2-core AMD EPYC VM, shared with other jobs (10,000 signatures, 30% repeats,
``PYTHONPATH=. python -m pairbench run param_signature --size 10000``): 4.04x [3.84x, 4.52x] and
5.36x [4.30x, 6.27x] (it was 3.5-3.6x); all misses (``param_signature.cold``) 4.2-5.4x. The
issue's 10x is past the floor here: ``PYTHONPATH=. python scripts/floors.py ParamSignatureFloor``
(``benchmarks/bench_floors.py``) times the orjson key plus, per first sight, SHA-256 of the
sorted text, with each float normalised through a memo (``floor_python``: 7.99x [7.02x, 8.94x]
over the reference; 5.68x-6.08x on a quiet machine) or with the params handed over already
normalised (``floor_c``, not reachable: 7.83x [7.30x, 9.97x]); this side runs at 0.93x [0.90x,
0.97x] and 0.97x [0.93x, 1.13x] of ``floor_python`` on a quiet machine (1.59x beside other heavy
work; 1.11x by instructions under callgrind: 49.2k against 44.2k per signature). Instructions
(``pairbench count param_signature``, 1,000 signatures, this branch merged with main's
counting): 6.56x (4.82x before); all misses 5.35x (3.85x before).

Failed calls are never cached, so errors are those of the reference, in its order.
``SignatureCache(maxsize)`` gives a private cache; the module functions share one of
``DEFAULT_MAXSIZE`` entries (``cache_info()``, ``cache_clear()``).
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import uuid
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Optional

import orjson

from reference.param_signature import _check_steps, _path_label
from reference.param_signature import step_decimals as _reference_step_decimals

__all__ = ["param_signature", "step_decimals", "canonical_json", "SignatureCache", "cache_info",
           "cache_clear", "DEFAULT_MAXSIZE"]

DEFAULT_MAXSIZE = 5000

_KEY_OPTIONS = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                | orjson.OPT_PASSTHROUGH_DATACLASS)
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_quote = json.encoder.encode_basestring_ascii  # json's own writer of a str (C)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256
_isfinite = math.isfinite


@lru_cache(maxsize=1024, typed=True)
def step_decimals(step: float) -> int:
    """Decimals of ``step``'s shortest decimal form (0.05 -> 2, 1e-3 -> 3, 1 -> 0); cached."""
    return _reference_step_decimals(step)


# -- keys -------------------------------------------------------------------------------------
def _freeze(value: Any, path: str) -> Any:
    """A hashable exact stand-in for ``value``; raises the reference's TypeError on a bad type."""
    cls = type(value)
    if cls is float or (isinstance(value, float) and not isinstance(value, Enum)):
        if not _isfinite(value):  # reported here, in the reference's order of keys
            raise ValueError(f"{_path_label(path)}: must be finite, got {value!r}")
        return float(value)
    if cls in _SCALAR_TYPES:
        return value
    if isinstance(value, Enum):
        return _freeze(value.value, path)
    if isinstance(value, dict):
        return _freeze_dict(value, path)
    if isinstance(value, (list, tuple)):
        return tuple([_freeze(item, path) for item in value]), tuple(map(_kind, value))
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{_path_label(path)}: unsupported value type {cls.__name__} "
                    f"(expected None, bool, int, float, str, dict, list, tuple, Enum or UUID)")


def _kind(value: Any) -> type:
    """The type a value is signed as (subclasses as their base, an Enum as its value's)."""
    cls = type(value)
    if cls in _SCALAR_TYPES:
        return cls
    if isinstance(value, Enum):
        return _kind(value.value)
    for base in (bool, int, float, str, dict, list, tuple):
        if isinstance(value, base):
            return base
    return str if isinstance(value, uuid.UUID) else cls


def _freeze_dict(d: dict, path: str) -> tuple:
    items = []
    for key, item in d.items():
        if not isinstance(key, str):
            raise TypeError(f"{_path_label(path)}: key {key!r} must be a str, got {type(key).__name__}")
        items.append((str(key), _freeze(item, f"{path}.{key}" if path else key)))
    return tuple(items), tuple(map(_kind, d.values()))


def _params_key(params: Any) -> Optional[bytes]:
    """orjson's bytes of ``params`` where they are an exact key, else None.

    orjson writes few types, and each alike only where the spec signs alike (a tuple as a list,
    an Enum as its value, a UUID as its string); the rest (subclasses, dates, dataclasses) is
    refused. ``null`` is not used: ``None``, NaN and inf all write it.
    """
    if type(params) is not dict:
        return None
    try:
        key = _dumps(params, None, _KEY_OPTIONS)  # a type it does not write raises TypeError
    except TypeError:
        return None
    # bytes.find, not ``in``: ``in`` first tries the operand as an int and formats an error
    return None if key.find(b"null") >= 0 else key


def _slow_key(params: Any, steps: Optional[Mapping]) -> tuple:
    """The frozen key: ``(frozen params, frozen steps)``. Raises the reference's errors, in its
    order (params not a dict, then steps, then the params' content)."""
    if not isinstance(params, dict):
        raise TypeError(f"params: must be a dict, got {type(params).__name__}")
    steps_key = None
    if steps is not None:
        _check_steps(steps)
        steps_key = tuple(steps.items()), tuple(map(type, steps.values()))
    return _freeze_dict(params, ""), steps_key


# -- the canonical text ---------------------------------------------------------------------
class _Rounder(dict):
    """Memo ``{float: canonical value}`` of one stepped path: grid values repeat across trials."""

    __slots__ = ("digits",)
    LIMIT = 4096  # distinct values kept per path

    def __init__(self, digits: int) -> None:
        super().__init__()
        self.digits = digits


class _Places(dict):
    """``{key: _Rounder}`` of the stepped paths at one nesting level, keys relative to it.

    The root holds every step path as written (a top-level key may itself contain a dot); the
    level under key ``k`` holds the paths that start with ``"k."``, without that prefix.
    """

    __slots__ = ("_children", "plans")

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self._children: dict[str, _Places] = {}
        self.plans: dict[tuple, Callable[[dict], dict]] = {}  # shape of params -> compiled plan

    def sub(self, key: str) -> "_Places":
        child = self._children.get(key)
        if child is None:
            head = key + "."
            child = _Places({path[len(head):]: r for path, r in self.items() if path.startswith(head)})
            self._children[key] = child
        return child


_NO_STEPS = _Places()
_PLACES: dict[bytes, _Places] = {}  # orjson bytes of a valid steps mapping -> its places
_PLACES_MAX = 256


def _steps_key(steps: Optional[Mapping]) -> Optional[bytes]:
    """orjson's bytes of ``steps``: an exact key for it (None when there are none, or when orjson
    cannot write it). No invalid steps writes the bytes of a valid one: a bool writes ``true``,
    a string, object or ``null`` (None, NaN) is no number, an Enum writes its value (the spec's
    meaning of an Enum step), an int subclass its int."""
    if steps is None:
        return None
    try:
        return _dumps(steps)
    except TypeError:
        return None


def _places(steps: Optional[Mapping], steps_key: Optional[bytes]) -> _Places:
    """The rounding table of ``steps`` (validated once per distinct ``steps_key``)."""
    if steps is None:
        return _NO_STEPS
    table = _PLACES.get(steps_key) if steps_key is not None else None
    if table is None:
        checked = _check_steps(steps)
        table = _Places({path: _Rounder(step_decimals(step)) for path, step in checked.items()})
        if steps_key is not None:
            if len(_PLACES) >= _PLACES_MAX:
                _PLACES.clear()
            _PLACES[steps_key] = table
    return table


class _Canon:
    """One normalisation pass (keys are already known to be str: the cache key checked them).

    ``small`` records a float under 1e-4 in magnitude, where orjson's text differs from json's.
    """

    __slots__ = ("small",)

    def __init__(self) -> None:
        self.small = False

    def dict_(self, d: dict, places: _Places, prefix: str) -> dict:
        """The canonical form of dict ``d`` at key path ``prefix`` (``""`` or ending in a dot)."""
        out = dict(d)  # then replace what normalisation changes
        for key, value in d.items():
            cls = type(value)
            if cls is float:
                rounder = places.get(key)
                if rounder is not None:
                    canon = rounder.get(value)
                    out[key] = self.round_(rounder, value, prefix + key) if canon is None else canon
                elif not _isfinite(value):
                    raise ValueError(f"{_path_label(prefix + key)}: must be finite, got {value!r}")
                elif value.is_integer():
                    out[key] = int(value)
                elif -1e-4 < value < 1e-4:
                    self.small = True
            elif cls is dict:
                out[key] = self.dict_(value, places.sub(key), f"{prefix}{key}.")
            elif cls is not str and cls is not int and cls is not bool and value is not None:
                out[key] = self.value(value, places, key, prefix)
        return out

    def round_(self, rounder: _Rounder, value: float, path: str) -> Any:
        """``round(value, digits)``, an int when integral; remembered unless it is small."""
        if not _isfinite(value):
            raise ValueError(f"{_path_label(path)}: must be finite, got {value!r}")
        canon = round(value, rounder.digits)
        if canon.is_integer():
            canon = int(canon)
        elif -1e-4 < canon < 1e-4:
            self.small = True
            return canon
        if len(rounder) >= rounder.LIMIT:
            rounder.clear()
        rounder[value] = canon
        return canon

    def value(self, value: Any, places: _Places, key: str, prefix: str) -> Any:
        """The canonical form of any value found under ``key`` of a dict at ``prefix``."""
        if isinstance(value, dict):
            return self.dict_(value, places.sub(key), f"{prefix}{key}.")
        if isinstance(value, (list, tuple)):
            return [self.value(item, places, key, prefix) for item in value]
        if isinstance(value, Enum):
            return self.value(value.value, places, key, prefix)
        if isinstance(value, float):
            value = float(value)
            rounder = places.get(key)
            if rounder is not None:
                canon = rounder.get(value)
                return self.round_(rounder, value, prefix + key) if canon is None else canon
            if not _isfinite(value):
                raise ValueError(f"{_path_label(prefix + key)}: must be finite, got {value!r}")
            if value.is_integer():
                return int(value)
            if -1e-4 < value < 1e-4:
                self.small = True
            return value
        if type(value) in _SCALAR_TYPES:
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        raise TypeError(f"{_path_label(prefix + key)}: unsupported value type {type(value).__name__} "
                        f"(expected None, bool, int, float, str, dict, list, tuple, Enum or UUID)")


# -- compiled plans: one straight-line writer of the canonical text per shape of params ----------
class _Fallback(Exception):
    """The plan does not fit these params (a type or key it was not built for): use ``_Canon``."""


def _plain_canon(value: float) -> Any:
    """The canonical value of a finite unstepped float: an int when integral."""
    return int(value) if value.is_integer() else value


class _Memo(dict):
    """``{float: canonical JSON text}`` of one slot of a plan; a miss computes and keeps it."""

    __slots__ = ("digits",)

    def __init__(self, digits: Optional[int]) -> None:
        super().__init__()
        self.digits = digits

    def fill(self, value: float) -> str:
        if not _isfinite(value):
            raise _Fallback  # _Canon raises the reference's error, in its order
        canon = _plain_canon(value if self.digits is None else round(value, self.digits))
        text = _ENCODER.encode(canon)
        if len(self) >= _Rounder.LIMIT:
            self.clear()
        self[value] = text
        return text


_SLOT_CHECKS = {  # the branch of one value type: the built-in json writes each so
    float: ("type(v) is float", "{slot} = {memo}.get(v)\n{pad}if {slot} is None:\n{pad}    {slot} = {memo}.fill(v)"),
    str: ("type(v) is str", "{slot} = _quote(v)"),
    int: ("type(v) is int", "{slot} = _int_text(v)"),
    bool: ("type(v) is bool", "{slot} = 'true' if v else 'false'"),
    type(None): ("v is None", "{slot} = 'null'"),
}


def _compile_plan(params: dict, places: _Places) -> Callable[[dict], str]:
    """A function that writes the canonical text of params of exactly this shape (the same keys
    at every level; per slot a float, str, int, bool or None, or a dict where it was one), keys
    sorted at every level, each value as ``json`` writes it. Anything else raises ``_Fallback``
    (or ``KeyError``). Keys enter the source only as ``repr`` of plain-str text pieces."""
    names: dict[str, Any] = {"_Fallback": _Fallback, "_quote": _quote, "_int_text": int.__repr__,
                             "dict": dict, "type": type, "len": len, "float": float}
    lines = ["def plan(d0):"]

    def level(d: dict, places: _Places, var: str, pad: str) -> list:
        """Emit the lines reading dict ``var``; return its text as pieces (literals and names)."""
        slots = {}
        for key, value in d.items():
            key = str.__str__(key)
            number = len(names)
            names[f"_{number}"] = None  # reserve the number
            if type(value) is dict:
                sub = f"d{number}"
                lines.append(f"{pad}{sub} = {var}[{key!r}]")
                lines.append(f"{pad}if type({sub}) is not dict or len({sub}) != {len(value)}:")
                lines.append(f"{pad}    raise _Fallback")
                slots[key] = level(value, places.sub(key), sub, pad)
                continue
            slot, memo = f"c{number}", f"m{number}"
            rounder = places.get(key)
            names[memo] = _Memo(None if rounder is None else rounder.digits)
            first = type(value) if type(value) in _SLOT_CHECKS else float
            lines.append(f"{pad}v = {var}[{key!r}]")
            for kind in [first] + [k for k in _SLOT_CHECKS if k is not first]:
                test, body = _SLOT_CHECKS[kind]
                lines.append(f"{pad}{'if' if kind is first else 'elif'} {test}:")
                lines.append(f"{pad}    " + body.format(slot=slot, memo=memo, pad=pad + "    "))
            lines.append(f"{pad}else:\n{pad}    raise _Fallback")
            slots[key] = [slot]
        pieces = ["{"]
        for i, key in enumerate(sorted(slots)):
            pieces.append(("," if i else "") + _quote(key) + ":")
            pieces.extend(slots[key])
        pieces.append("}")
        return pieces

    pieces = level(params, places, "d0", "    ")
    merged: list = []  # adjacent literals joined; names stay names
    for piece in pieces:
        is_name = piece[:1] == "c" and piece[1:].isdigit()
        if not is_name and merged and not isinstance(merged[-1], tuple):
            merged[-1] += piece
        else:
            merged.append((piece,) if is_name else piece)
    parts = ", ".join(p[0] if isinstance(p, tuple) else repr(p) for p in merged)
    lines.append(f"    return ''.join(({parts},))")
    exec("\n".join(lines), names)  # noqa: S102 - only repr() literals and generated names
    return names["plan"]


_PLANS_MAX = 64  # shapes kept per steps table
_UNSEEN = object()


def _planned_text(params: dict, places: _Places) -> Optional[str]:
    """The canonical text of ``params`` by the plan of its shape; None where no plan fits."""
    plans = places.plans
    shape = tuple(params)
    plan = plans.get(shape, _UNSEEN)
    if plan is _UNSEEN:  # first sight of a shape: no compile yet (a stream of one-off shapes
        if len(plans) >= _PLANS_MAX:  # would pay exec on every call)
            plans.clear()
        plans[shape] = None
        return None
    if plan is None:
        plan = plans[shape] = _compile_plan(params, places)
    try:
        return plan(params)
    except (_Fallback, KeyError):
        return None


def _canonical_bytes(params: dict, steps: Optional[Mapping], steps_key: Optional[bytes]) -> bytes:
    """The canonical JSON text of ``params`` (keys already checked) as ASCII bytes."""
    places = _places(steps, steps_key)
    text = _planned_text(params, places)
    if text is not None:
        return text.encode("ascii")
    canon = _Canon()
    normalised = canon.dict_(params, places, "")
    if not canon.small:
        try:
            text = _dumps(normalised, option=_SORT_KEYS)
        except TypeError:  # an int past 64 bits, a lone surrogate, a str subclass: json copes
            pass
        else:
            if text.isascii() and text.find(b"\x7f") < 0:
                return text
    return _ENCODER.encode(normalised).encode("ascii")


# -- the cache ------------------------------------------------------------------------------
class _Pending(threading.local):
    """The call being answered, per thread: ``lru_cache`` hands the miss path only the key."""

    call: tuple = (None, None, None)  # params, steps, steps' key


class SignatureCache:
    """A bounded, thread-safe LRU of parameter signatures (``maxsize`` entries at most)."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize: must be an int >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._pending = pending = _Pending()

        def sign_pending(params_key: Any, steps_key: Any) -> str:
            """The miss path: the keys were made from ``pending``'s params and steps."""
            return _sha256(_canonical_bytes(*pending.call)).hexdigest()

        self._cached = lru_cache(maxsize=maxsize)(sign_pending)

    def signature(self, params: dict, steps: Optional[Mapping] = None) -> str:
        """Same as :func:`param_signature`, answered from this cache when it can."""
        params_key = _params_key(params)
        steps_key = None if steps is None else _steps_key(steps)
        self._pending.call = (params, steps, steps_key)
        if params_key is not None and (steps_key is not None or steps is None):
            return self._cached(params_key, steps_key)
        return self._cached(_slow_key(params, steps), None)

    __call__ = signature

    def cache_info(self):
        """``functools`` cache statistics: hits, misses, maxsize, currsize."""
        return self._cached.cache_info()

    def cache_clear(self) -> None:
        self._cached.cache_clear()


_DEFAULT = SignatureCache(DEFAULT_MAXSIZE)


def param_signature(params: dict, steps: Optional[Mapping] = None) -> str:
    """SHA-256 hex digest of the canonical JSON of ``params`` (see ``reference.param_signature``)."""
    return _DEFAULT.signature(params, steps)


def canonical_json(params: dict, steps: Optional[Mapping] = None) -> str:
    """The canonical JSON text that :func:`param_signature` hashes (not cached)."""
    steps_key = _steps_key(steps)
    if _params_key(params) is None or (steps_key is None and steps is not None):
        _slow_key(params, steps)  # raises what the reference raises before signing
    return _canonical_bytes(params, steps, steps_key).decode("ascii")


def cache_info():
    """Statistics of the shared signature cache."""
    return _DEFAULT.cache_info()


def cache_clear() -> None:
    """Empty the shared signature cache."""
    _DEFAULT.cache_clear()
