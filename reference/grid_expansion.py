"""Grid search spaces: expand a spec into every configuration it describes.

The naive reference, shaped like seed 001's ``_expand_dict``: a recursive generator that copies
the partial configuration (``dict(current)``) at every level; ``grid_size`` counts by expanding.

A spec
------
A ``dict`` with ``str`` keys; each value is one of

- a **scalar** (``None``, ``bool``, ``int``, ``float``, ``str``): a fixed value;
- a **list or tuple** of scalars: the choices, in order (empty: refused);
- a **range** ``{"low": a, "high": b, "step": s}`` (exactly these three keys; a dict with any
  of them is a range): numbers (not ``bool``), finite, ``s > 0``, ``a <= b``. It holds
  ``n = floor((b - a) / s + 1e-9) + 1`` values ``a + i * s`` for ``i = 0 .. n-1``, so ``b`` is
  included when it lies on the step grid up to a billionth of a step (``n = (b - a) // s + 1``
  exactly when all three are ints). When ``a`` and ``s`` are ints the values are ints; otherwise floats
  rounded to ``max(decimals(a), decimals(s))`` decimals, ``decimals`` counting the decimals of
  a number's shortest repr (``0.05 -> 2``, ``1e-3 -> 3``, ``1.5 -> 1``, ``2 -> 0``); so
  ``{"low": 0, "high": 0.3, "step": 0.1}`` gives ``0.0, 0.1, 0.2, 0.3``;
- a **nested spec** (any other dict, ``{}`` included): expanded the same way, recursively; its
  configurations become the values of that key (``{}`` gives ``{}``).

Order and independence
----------------------
``expand_grid(spec)`` yields the configurations in the order of a nested loop over the keys in
spec order, the last key varying fastest; a nested spec's keys take its place in that order
(depth first). Every configuration is a new dict, nested dicts included: changing one never
changes another, nor the spec. The spec is read and validated when ``expand_grid`` is called,
before anything is yielded (its choices and range values are listed then, so a range's memory
is O(its values)); changing the spec afterwards does not change what is yielded.

``grid_size(spec)`` is the number of configurations (``1`` for ``{}``).

Bad input (a ``TypeError`` or ``ValueError`` naming the path, e.g. ``spec['risk']['stop']``):
``spec`` not a dict, a non-``str`` key, an empty list, a list holding a non-scalar, a range
with a missing or extra key, a non-number or non-finite bound, a step <= 0, ``low > high``,
a value of another type.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Iterator

__all__ = ["expand_grid", "grid_size", "range_values", "range_count", "RANGE_KEYS"]

RANGE_KEYS = frozenset({"low", "high", "step"})
SCALARS = (type(None), bool, int, float, str)
TOLERANCE = 1e-9  # of a step: how far under a grid point ``high`` may fall and still count


def label(path: tuple[str, ...]) -> str:
    """``spec['a']['b']`` for the key path ``("a", "b")``."""
    return "spec" + "".join(f"[{key!r}]" for key in path)


def decimals(number: float) -> int:
    """Decimals in the shortest repr of a finite number: 0.05 -> 2, 1e-3 -> 3, 1.5 -> 1, 2 -> 0."""
    exact = Decimal(repr(float(number))) if isinstance(number, float) else Decimal(int(number))
    return max(0, -int(exact.normalize().as_tuple().exponent))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_choices(choices: list | tuple, path: tuple[str, ...]) -> None:
    """A list of choices must be non-empty and hold scalars only."""
    if not choices:
        raise ValueError(f"{label(path)}: empty list of choices")
    for index, choice in enumerate(choices):
        if not isinstance(choice, SCALARS):
            raise TypeError(f"{label(path)}[{index}]: a choice must be None, bool, int, float or str, "
                            f"got {type(choice).__name__}")


def unsupported_value(value: Any, path: tuple[str, ...]) -> TypeError:
    """The error for a spec value that is none of the four kinds."""
    return TypeError(f"{label(path)}: unsupported spec value {type(value).__name__} (expected a scalar, "
                     f"a list of choices, a low/high/step range or a nested dict)")


def check_range(spec: dict, path: tuple[str, ...]) -> None:
    """Refuse a malformed range with an error naming its path."""
    if set(spec) != RANGE_KEYS:
        missing = sorted(RANGE_KEYS - set(spec))
        extra = sorted(map(repr, set(spec) - RANGE_KEYS))
        what = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                       f"unexpected {', '.join(extra)}" if extra else ""]))
        raise ValueError(f"{label(path)}: a range needs exactly low, high and step ({what})")
    for key in ("low", "high", "step"):
        value = spec[key]
        if not _is_number(value):
            raise TypeError(f"{label(path + (key,))}: must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{label(path + (key,))}: must be finite, got {value!r}")
    if spec["step"] <= 0:
        raise ValueError(f"{label(path + ('step',))}: must be > 0, got {spec['step']!r}")
    if spec["low"] > spec["high"]:
        raise ValueError(f"{label(path)}: low {spec['low']!r} is above high {spec['high']!r}")


def range_values(low: float, high: float, step: float) -> list:
    """The values of a (valid) range, as the module docstring defines them."""
    count = range_count(low, high, step)
    if isinstance(low, int) and isinstance(step, int):
        return [low + i * step for i in range(count)]
    places = max(decimals(low), decimals(step))
    return [round(low + i * step, places) for i in range(count)]


def range_count(low: float, high: float, step: float) -> int:
    """How many values a (valid) range holds."""
    if isinstance(low, int) and isinstance(step, int) and isinstance(high, int):
        return (high - low) // step + 1
    return math.floor((high - low) / step + TOLERANCE) + 1


def _expand_value(value: Any, path: tuple[str, ...]) -> Any:
    """The choices of one spec value: a list of values, or a nested spec's configurations."""
    if isinstance(value, dict):
        if RANGE_KEYS & set(value):
            check_range(value, path)
            return range_values(value["low"], value["high"], value["step"])
        return list(_expand_dict(value, path))
    if isinstance(value, (list, tuple)):
        check_choices(value, path)
        return list(value)
    if isinstance(value, SCALARS):
        return [value]
    raise unsupported_value(value, path)


def _expand_dict(spec: dict, path: tuple[str, ...] = ()) -> Iterator[dict]:
    """Seed 001's recursive expansion: a copy of the partial configuration at every level."""
    items = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise TypeError(f"{label(path)}: key {key!r} must be a str, got {type(key).__name__}")
        items.append((key, _expand_value(value, path + (key,))))

    def _recurse(idx: int, current: dict) -> Iterator[dict]:
        if idx >= len(items):
            yield current
            return
        key, values = items[idx]
        for value in values:
            next_config = dict(current)  # a new dict at every level
            next_config[key] = value
            yield from _recurse(idx + 1, next_config)

    return _recurse(0, {})


def _fresh(config: dict) -> dict:
    """``config`` with its nested dicts copied: nested configurations are shared among the
    configurations ``_expand_dict`` yields (one list of them per nested spec)."""
    return {key: _fresh(value) if isinstance(value, dict) else value for key, value in config.items()}


def expand_grid(spec: dict) -> Iterator[dict]:
    """Every configuration of ``spec``, last key fastest (see the module docstring)."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec: must be a dict, got {type(spec).__name__}")
    configs = _expand_dict(spec)  # validates the whole spec now (nested specs are expanded now)
    nested = any(isinstance(v, dict) and not (RANGE_KEYS & set(v)) for v in spec.values())
    return map(_fresh, configs) if nested else configs


def grid_size(spec: dict) -> int:
    """The number of configurations of ``spec``, counted by expanding it."""
    return sum(1 for _ in expand_grid(spec))
