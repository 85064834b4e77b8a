"""The pair registry: what a pair is, and where pairs come from.

Built-in pairs live one module each under ``pairbench/pairs/`` and expose ``PAIRS`` (a list of
:class:`Pair`). Other distributions add theirs through the entry-point group ``pairbench.pairs``;
an entry point may load a :class:`Pair`, a list of them, a module with ``PAIRS``, or a zero-argument
callable returning any of those. Nothing else in pairbench needs editing when a pair is added.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Callable, Iterable, Optional, Sequence

ENTRY_POINT_GROUP = "pairbench.pairs"
COUNTING_KINDS = ("instructions", "walltime")


class PairbenchError(Exception):
    """An error the command line reports as one line (bad selection, bad option, broken plugin)."""


class NotEquivalent(AssertionError):
    """Raised by a pair's equivalence check; the message is a readable diff of the two outputs."""


@dataclass
class Workload:
    """The inputs of one pair at one size and seed, plus how to clean up what building them made.

    ``inputs`` is handed to the pair's ``bind`` for each side. ``cleanup`` (if any) removes
    temporary files; use the workload as a context manager so it always runs.
    """

    inputs: Any
    cleanup: Optional[Callable[[], None]] = None
    description: str = ""

    @classmethod
    def in_scratch_folder(cls, prefix: str, build: Callable[[str], Any], description: str = "") -> "Workload":
        """A workload built by ``build(folder)`` in a new temporary folder, which its cleanup
        removes; a build that fails removes the folder before the error goes on."""
        import shutil
        import tempfile
        from functools import partial

        folder = tempfile.mkdtemp(prefix=prefix)
        cleanup = partial(shutil.rmtree, folder, ignore_errors=True)
        try:
            inputs = build(folder)
        except BaseException:
            cleanup()
            raise
        return cls(inputs, cleanup=cleanup, description=description)

    def close(self) -> None:
        if self.cleanup is not None:
            fn, self.cleanup = self.cleanup, None
            fn()

    def __enter__(self) -> "Workload":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bound:
    """A zero-argument call of one side, ready to time.

    ``reset`` (optional) runs, untimed, before every timed call: use it when a call changes state
    that the next call must not see (a store that must start empty). ``close`` runs once at the end.
    """

    __slots__ = ("call", "reset", "close")

    def __init__(self, call: Callable[[], Any], reset: Optional[Callable[[], None]] = None,
                 close: Optional[Callable[[], None]] = None) -> None:
        self.call = call
        self.reset = reset
        self.close = close

    def __call__(self) -> Any:
        return self.call()


def _as_bound(obj: Any) -> Bound:
    if isinstance(obj, Bound):
        return obj
    if callable(obj):
        return Bound(obj)
    raise PairbenchError(f"bind must return a callable or a Bound, got {type(obj).__name__}")


@dataclass(frozen=True)
class Pair:
    """One performance claim: a reference and an optimized implementation of the same API.

    reference / optimized: dotted module names (imported lazily, so ``pairbench list`` stays fast).
    workload: ``(size, seed) -> Workload``, deterministic for a given (size, seed).
    bind: ``(module, inputs) -> callable | Bound``: the timed call of that side on those inputs.
    check: ``(reference_output, optimized_output) -> None``; raises :class:`NotEquivalent` with a
        readable diff when the outputs differ.
    sizes: the sizes swept to fit the growth slope; ``default_size`` is the size ``run`` reports.
    floor: the speedup the gate holds: FAIL when the 95% interval's lower bound is under it.
    quick_size: the size ``run --quick`` reports (default: default_size).
    gate_size: the size at which ``gate`` holds ``floor`` (default: default_size); ``gate --quick``
        takes fewer samples at the same size, never a smaller size, so the floor keeps its meaning.
    max_slope: optional growth class of the optimized side, as the largest log-log slope allowed
        over ``sizes`` (0 = constant, 1 = linear); the gate checks it.
    one_off: optional ``(module) -> {label: seconds}`` measuring one-off costs (a JIT compile)
        that the first timed call cannot show on its own.
    stateful: True when ``bind`` returns a :class:`Bound` with a ``reset`` (each timed call needs
        fresh state). The asv suite then takes one call per sample with the reset in ``setup``;
        the engine refuses a pair whose binding disagrees with this flag.
    counting: ``"instructions"`` (default): the pair is also counted under callgrind and the
        instruction gate holds it; ``"walltime"``: only timed, for pairs whose cost callgrind
        cannot see (the kernel, the disk, other processes); say why in ``counting_note``.
    count_size: the size counted under callgrind (default: quick_size, else default_size);
        callgrind runs code 50-100x slower, so a smaller size keeps counting in minutes.
    instruction_floor: the instruction ratio (reference / optimized instructions per call) the
        instruction gate holds (default: ``floor``).
    """

    name: str
    summary: str
    reference: str
    optimized: str
    workload: Callable[[int, int], Workload]
    bind: Callable[[ModuleType, Any], Any]
    check: Callable[[Any, Any], None]
    sizes: tuple[int, ...]
    default_size: int
    floor: float
    size_unit: str = "items"
    quick_size: Optional[int] = None
    gate_size: Optional[int] = None
    max_slope: Optional[float] = None
    one_off: Optional[Callable[[ModuleType], dict]] = None
    stateful: bool = False
    counting: str = "instructions"
    counting_note: str = ""
    count_size: Optional[int] = None
    instruction_floor: Optional[float] = None
    tags: tuple[str, ...] = ()
    source: str = field(default="builtin", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise PairbenchError("pair name must be a non-empty string")
        if not self.sizes:
            raise PairbenchError(f"pair {self.name!r}: sizes must not be empty")
        if any((not isinstance(s, int)) or s < 1 for s in self.sizes):
            raise PairbenchError(f"pair {self.name!r}: sizes must be positive integers")
        if self.floor <= 0:
            raise PairbenchError(f"pair {self.name!r}: floor must be > 0")
        if self.counting not in COUNTING_KINDS:
            raise PairbenchError(f"pair {self.name!r}: counting must be one of {', '.join(COUNTING_KINDS)}, "
                                 f"got {self.counting!r}")
        if self.instruction_floor is not None and self.instruction_floor <= 0:
            raise PairbenchError(f"pair {self.name!r}: instruction_floor must be > 0")
        object.__setattr__(self, "sizes", tuple(sorted(set(self.sizes))))

    # -- sizes -------------------------------------------------------------------------------
    @property
    def counted(self) -> bool:
        """True when the pair is counted under callgrind (``counting="instructions"``)."""
        return self.counting == "instructions"

    @property
    def instruction_floor_or_default(self) -> float:
        return self.instruction_floor if self.instruction_floor is not None else self.floor

    def size_for(self, *, quick: bool = False, gate: bool = False, count: bool = False) -> int:
        if count:
            return self.count_size or self.quick_size or self.default_size
        if gate:
            return self.gate_size or self.default_size
        if quick and self.quick_size:
            return self.quick_size
        return self.default_size

    def sweep_sizes(self, *, quick: bool = False) -> tuple[int, ...]:
        """The sizes a run sweeps: all of them, or in quick mode those up to the quick size."""
        if not quick:
            return self.sizes
        top = self.size_for(quick=True)
        picked = tuple(s for s in self.sizes if s <= top)
        return picked if len(picked) >= 2 else tuple(self.sizes[:2])

    # -- sides -------------------------------------------------------------------------------
    def module(self, side: str) -> ModuleType:
        if side not in ("reference", "optimized"):
            raise PairbenchError(f"side must be 'reference' or 'optimized', got {side!r}")
        return importlib.import_module(getattr(self, side))

    def bind_side(self, side: str, inputs: Any) -> Bound:
        return _as_bound(self.bind(self.module(side), inputs))

    def with_sides(self, *, reference: Optional[str] = None, optimized: Optional[str] = None) -> "Pair":
        """A copy with one side swapped (tests use it to plant a regression)."""
        return dataclasses.replace(self, reference=reference or self.reference,
                                   optimized=optimized or self.optimized)


# -- discovery -------------------------------------------------------------------------------
def _pairs_of(obj: Any, origin: str) -> list[Pair]:
    if isinstance(obj, Pair):
        return [obj]
    if isinstance(obj, ModuleType):
        found = getattr(obj, "PAIRS", None)
        if found is None:
            raise PairbenchError(f"{origin}: module {obj.__name__} has no PAIRS list")
        return _pairs_of(list(found), origin)
    if isinstance(obj, (list, tuple)):
        out: list[Pair] = []
        for item in obj:
            out.extend(_pairs_of(item, origin))
        return out
    if callable(obj):
        return _pairs_of(obj(), origin)
    raise PairbenchError(f"{origin}: expected a Pair, a list of pairs, a module or a callable, "
                         f"got {type(obj).__name__}")


def builtin_pairs() -> list[Pair]:
    """Every pair defined by a module of ``pairbench.pairs``, in module-name order."""
    from . import pairs as pkg

    out: list[Pair] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        out.extend(_pairs_of(mod, f"pairbench.pairs.{info.name}"))
    return out


def plugin_pairs() -> list[Pair]:
    """Pairs registered by other distributions under the ``pairbench.pairs`` entry-point group.

    A plugin that fails to load is reported with a warning and skipped, so one broken plugin
    never hides the other pairs.
    """
    out: list[Pair] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point {ep.name!r} ({ep.value})"
        try:
            found = _pairs_of(ep.load(), origin)
        except Exception as exc:  # a broken plugin must not take the tool down
            warnings.warn(f"pairbench: skipping {origin}: {exc}", RuntimeWarning, stacklevel=2)
            continue
        out.extend(dataclasses.replace(p, source=ep.value) for p in found)
    return out


def all_pairs() -> list[Pair]:
    """Built-in pairs then plugin pairs; a duplicate name is an error naming both sources."""
    seen: dict[str, Pair] = {}
    for p in builtin_pairs() + plugin_pairs():
        if p.name in seen:
            raise PairbenchError(f"pair {p.name!r} is defined twice ({seen[p.name].source} and {p.source})")
        seen[p.name] = p
    return list(seen.values())


def asv_class_name(pair_name: str) -> str:
    """The asv class name of a pair: ``dedup_store.add_batch`` -> ``DedupStoreAddBatch``."""
    import re

    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", pair_name) if part)


def select(names: Sequence[str] = (), pairs: Optional[Iterable[Pair]] = None) -> list[Pair]:
    """Pairs matching ``names``: an exact name, or a component prefix (``dedup_store`` selects
    ``dedup_store.add_batch`` and ``dedup_store.seen_batch``). No names selects every pair."""
    available = list(all_pairs() if pairs is None else pairs)
    if not names:
        return available
    chosen: list[Pair] = []
    for name in names:
        hits = [p for p in available if p.name == name or p.name.startswith(name + ".")]
        if not hits:
            known = ", ".join(p.name for p in available) or "none"
            raise PairbenchError(f"no pair named {name!r} (known: {known})")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def find_pair(name: str, pair_module: Optional[str] = None) -> Pair:
    """The pair called exactly ``name``: among ``pair_module``'s ``PAIRS`` (fixture pairs in
    tests), or among every registered pair. Child processes rebuild their pair with it."""
    if pair_module:
        try:
            mod = importlib.import_module(pair_module)
        except ImportError as exc:
            raise PairbenchError(f"--pair-module: cannot import {pair_module!r}: {exc}") from exc
        found = getattr(mod, "PAIRS", None)
        if found is None:
            raise PairbenchError(f"--pair-module: module {pair_module!r} has no PAIRS list")
        candidates = select([name], pairs=list(found))
    else:
        candidates = select([name])
    exact = [p for p in candidates if p.name == name]
    if not exact:
        raise PairbenchError(f"no pair named exactly {name!r}")
    return exact[0]
