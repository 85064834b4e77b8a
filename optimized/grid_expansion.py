"""Grid search spaces, expanded by ``itertools.product``: same configurations, same order.

The reference's docstring is the specification. What is faster:

- ``expand_grid`` flattens the spec once into its leaves (one value list per scalar, list or
  range, in depth-first key order) and a *builder* compiled for this spec's shape,
  ``def build_config(v0, v1, v2): return {'a': v0, 'exit': {'x': v1, 'y': v2}}``: each
  configuration, nested dicts included, is one call building fresh dicts, with no generator
  chain and no partial copies. ``itertools.starmap(builder, itertools.product(*leaves))`` yields
  them lazily, the last leaf fastest: the reference's nested-loop order. (The builder is
  generated source, as ``collections.namedtuple`` does; its only inputs are ``repr()`` of
  ``str`` keys and ``v{i}`` names. Specs nested deeper than ``MAX_SOURCE_DEPTH`` get a builder
  that walks the shape instead.)
- Kept in a list, 100,000 nested configurations cost what holding them costs: fresh memory and
  the garbage collector's passes over the growing list (about half of the time). That floor,
  the same dicts built by one inline dict display each and kept (``benchmarks/bench_floors.py``,
  ``GridExpansionFloor``), is itself only 2.05x [1.85x, 2.27x] faster than the reference
  (``PYTHONPATH=. python scripts/floors.py GridExpansionFloor``), so the issue's 3x is past it;
  this side runs at 1.02x [1.00x, 1.14x] of it. Consumed one at a
  time, the expansion runs about 5.5x faster (pairs ``grid_expansion`` and
  ``grid_expansion.stream``).
- ``grid_size`` multiplies the leaves' counts (a range's from its bounds): O(spec size), no
  configuration built.

Measured (2-core AMD EPYC VM shared with other jobs, 100,000 configurations,
``PYTHONPATH=. python -m pairbench run grid_expansion grid_expansion.stream grid_expansion.size``,
two runs): kept in a list 2.26x [2.07x, 2.44x] and 2.29x [2.07x, 2.59x]; streamed 6.63x [5.94x,
7.16x] and 5.29x [4.74x, 6.31x]; ``grid_size`` 21,843x and 28,542x. Instructions (``pairbench
count grid_expansion``, 10,000 configurations, this branch merged with main's counting): kept
4.20x, streamed 4.89x.

Errors are the reference's, found in the same order (the spec is checked before anything is
yielded).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Iterator

from reference.grid_expansion import (
    RANGE_KEYS,
    SCALARS,
    check_choices,
    unsupported_value,
    _expand_value,
    check_range,
    label,
    range_count,
    range_values,
)

__all__ = ["expand_grid", "grid_size", "range_values", "range_count", "RANGE_KEYS"]


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict) and not (RANGE_KEYS & value.keys())


def _check_key(key: Any, path: tuple[str, ...]) -> None:
    if not isinstance(key, str):
        raise TypeError(f"{label(path)}: key {key!r} must be a str, got {type(key).__name__}")


Shape = list  # [(key, leaf index | Shape)]: one dict of the configurations, in spec order
MAX_SOURCE_DEPTH = 64  # deeper shapes are built by walking (Python's parser nests ~200 brackets)


def _flatten(spec: dict, path: tuple[str, ...], leaves: list[list]) -> Shape:
    """Append the value list of every leaf of ``spec`` to ``leaves`` (depth first, with the
    reference's checks and values) and return the shape of its configurations."""
    shape: Shape = []
    for key, value in spec.items():
        _check_key(key, path)
        here = path + (key,)
        if _is_nested(value):
            shape.append((key, _flatten(value, here, leaves)))
        else:
            leaves.append(_expand_value(value, here))
            shape.append((key, len(leaves) - 1))
    return shape


def _depth(shape: Shape) -> int:
    return 1 + max((_depth(entry) for _, entry in shape if isinstance(entry, list)), default=0)


def _display(shape: Shape) -> str:
    """``{'a': v0, 'exit': {'x': v1}}``: the source of a dict display of ``shape``."""
    parts = (f"{str.__repr__(key)}: {_display(entry) if isinstance(entry, list) else f'v{entry}'}"
             for key, entry in shape)
    return "{" + ", ".join(parts) + "}"


def _builder(shape: Shape, count: int) -> Callable[..., dict]:
    """A function of the leaves' values building one configuration, nested dicts new."""
    if _depth(shape) > MAX_SOURCE_DEPTH:
        def build(*values: Any) -> dict:
            return _walk(shape, values)
        return build
    source = f"def build_config({', '.join(f'v{i}' for i in range(count))}):\n    return {_display(shape)}\n"
    namespace: dict[str, Any] = {"__builtins__": {}}
    # a file name of its own, so profiles and tracebacks say where the frame comes from
    exec(compile(source, "<optimized.grid_expansion builder>", "exec"), namespace)  # noqa: S102
    return namespace["build_config"]


def _walk(shape: Shape, values: tuple) -> dict:
    return {key: _walk(entry, values) if isinstance(entry, list) else values[entry] for key, entry in shape}


def expand_grid(spec: dict) -> Iterator[dict]:
    """Every configuration of ``spec``, last key fastest (see ``reference.grid_expansion``)."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec: must be a dict, got {type(spec).__name__}")
    leaves: list[list] = []
    shape = _flatten(spec, (), leaves)
    return itertools.starmap(_builder(shape, len(leaves)), itertools.product(*leaves))


def _count(value: Any, path: tuple[str, ...]) -> int:
    """How many values one spec value contributes, checked as the reference checks it."""
    if isinstance(value, dict):
        if RANGE_KEYS & value.keys():
            check_range(value, path)
            return range_count(value["low"], value["high"], value["step"])
        return _size(value, path)
    if isinstance(value, (list, tuple)):
        check_choices(value, path)
        return len(value)
    if isinstance(value, SCALARS):
        return 1
    raise unsupported_value(value, path)


def _size(spec: dict, path: tuple[str, ...]) -> int:
    counts = []
    for key, value in spec.items():
        _check_key(key, path)
        counts.append(_count(value, path + (key,)))
    return math.prod(counts)


def grid_size(spec: dict) -> int:
    """The number of configurations of ``spec``, from the counts alone (nothing expanded)."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec: must be a dict, got {type(spec).__name__}")
    return _size(spec, ())
