"""Canonical signature of a parameter dict: the naive reference (recomputed on every call).

``param_signature(params, steps=None) -> str`` is the SHA-256 (lowercase hex) of the canonical
JSON text of ``params``. Two parameter sets get the same signature exactly when they describe the
same trial, so a duplicate-trial store can key on it.

Canonical form
--------------
- ``params`` is a ``dict`` with ``str`` keys. Values may be ``None``, ``bool``, ``int``, ``float``,
  ``str``, a nested ``dict`` (``str`` keys, same rules, any depth), or a ``list``/``tuple`` of such
  values (a tuple is written as a list, so ``(1, 2)`` and ``[1, 2]`` sign alike). Subclasses of
  ``int``/``float``/``str``/``dict``/``list``/``tuple`` are taken as their base type. An
  :class:`enum.Enum` member stands for its ``value`` (then these rules apply to the value), a
  :class:`uuid.UUID` for its canonical string ``str(uuid)``.
- Keys are sorted (by code point) at every level; key order of the input never matters.
- A float is rounded to the decimals of its step when ``steps`` names one (see below), then
  normalised: a float with an integral value becomes that int, so ``1.0``, ``1`` and ``-0.0``/``0``
  sign alike (``1e20`` signs as the int ``100000000000000000000``). Other floats are written in
  Python's shortest round-trip form (``repr``). ``bool`` stays ``true``/``false``, never ``1``/``0``.
- Text is compact JSON (``separators=(",", ":")``), ASCII only (other characters as ``\\uXXXX``),
  ``sort_keys=True``; the signature is ``sha256(text.encode("ascii")).hexdigest()``.

Steps
-----
``steps`` maps a key path to the step of that parameter's grid: the top-level key (``"lr"``) or a
dotted path into nested dicts (``"exit.trail"`` for ``params["exit"]["trail"]``). Floats at that
path, and floats inside a list/tuple at that path, are rounded with ``round(value,
step_decimals(step))`` before normalisation, so ``0.30000000000000004`` with step ``0.1`` signs
as ``0.3``. Ints are never changed by a step. Steps for absent paths are ignored.

``step_decimals(step) -> int`` is the number of decimals of the step's shortest decimal form,
computed with :class:`decimal.Decimal`: ``0.05 -> 2``, ``1e-3 -> 3``, ``0.5 -> 1``, ``1 -> 0``,
``1.0 -> 0``, ``1000 -> 0``, ``0.1 + 0.2 -> 17``.

Errors
------
- ``params`` not a dict: ``TypeError`` naming ``params``.
- a non-``str`` key: ``TypeError`` naming the path to it (``params['exit']: key 3 ...``).
- a NaN or infinite float: ``ValueError`` naming the key path.
- a value of another type (set, bytes, datetime, numpy scalar, ...): ``TypeError`` naming the key path.
- ``steps`` not a mapping, a non-``str`` step key, a step that is not a finite number > 0 (an
  ``int`` or ``float``, not a ``bool``; an Enum member counts as its value):
  ``TypeError``/``ValueError`` naming ``steps[...]``.
"""
from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Optional

__all__ = ["param_signature", "step_decimals", "canonical_json"]


def step_decimals(step: float) -> int:
    """Decimals of ``step``'s shortest decimal form (0.05 -> 2, 1e-3 -> 3, 1 -> 0)."""
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise TypeError(f"step: must be a number, got {type(step).__name__}")
    if not math.isfinite(step) or step <= 0:
        raise ValueError(f"step: must be a finite number > 0, got {step!r}")
    exact = Decimal(repr(float(step))) if isinstance(step, float) else Decimal(int(step))
    exponent = exact.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _path_label(path: str) -> str:
    return f"params[{path!r}]" if path else "params"


def _check_steps(steps: Optional[Mapping]) -> dict[str, float]:
    if steps is None:
        return {}
    if not isinstance(steps, Mapping):
        raise TypeError(f"steps: must be a mapping of key path -> step, got {type(steps).__name__}")
    table = {}
    for key, step in steps.items():
        if isinstance(step, Enum):
            step = step.value
        if not isinstance(key, str):
            raise TypeError(f"steps[{key!r}]: key path must be a str, got {type(key).__name__}")
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise TypeError(f"steps[{key!r}]: step must be a number, got {type(step).__name__}")
        if not math.isfinite(step) or step <= 0:
            raise ValueError(f"steps[{key!r}]: step must be a finite number > 0, got {step!r}")
        table[key] = step
    return table


def _canonical_float(value: float, path: str, steps: dict[str, float]) -> Any:
    if not math.isfinite(value):
        raise ValueError(f"{_path_label(path)}: must be finite, got {value!r}")
    step = steps.get(path)
    if step is not None:
        value = round(value, step_decimals(step))  # decimals recomputed on every call
    if value.is_integer():
        return int(value)
    return value


def _canonical(value: Any, path: str, steps: dict[str, float]) -> Any:
    """The normalised JSON-ready form of ``value`` found at key ``path``."""
    if isinstance(value, Enum):
        return _canonical(value.value, path, steps)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _canonical_float(float(value), path, steps)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{_path_label(path)}: key {key!r} must be a str, got {type(key).__name__}")
            out[key] = _canonical(item, f"{path}.{key}" if path else key, steps)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(item, path, steps) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{_path_label(path)}: unsupported value type {type(value).__name__} "
                    f"(expected None, bool, int, float, str, dict, list, tuple, Enum or UUID)")


def canonical_json(params: dict, steps: Optional[Mapping] = None) -> str:
    """The canonical JSON text that :func:`param_signature` hashes."""
    if not isinstance(params, dict):
        raise TypeError(f"params: must be a dict, got {type(params).__name__}")
    table = _check_steps(steps)
    canonical = _canonical(params, "", table)
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def param_signature(params: dict, steps: Optional[Mapping] = None) -> str:
    """SHA-256 hex digest of the canonical JSON of ``params`` (see the module docstring)."""
    return hashlib.sha256(canonical_json(params, steps).encode("ascii")).hexdigest()
