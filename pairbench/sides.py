"""One mechanism for "build the workload, bind a side, make the untimed first call, wrap its errors".

The timing engine, the asv suite, the profilers, the flamediff and the instruction counter all
hold a pair's sides through :class:`Sides`, so a pair that fails to build, bind or run reads the
same everywhere (``pair 'x': binding the optimized side failed: ValueError: ...``), and the
``stateful`` flag is checked wherever a side is bound.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Optional

from .registry import Bound, Pair, PairbenchError, Workload

SIDES = ("reference", "optimized")


class SideError(PairbenchError):
    """One side of a pair raised while being built, bound or called (the pair could not run)."""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how every side failure is reported."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check_side(side: str) -> str:
    if side not in SIDES:
        raise PairbenchError(f"side: must be 'reference' or 'optimized', got {side!r}")
    return side


class Sides:
    """A pair's workload at ``(size, seed)`` with the chosen sides bound to it.

    A context manager: on exit every binding's ``close`` runs, then the workload's cleanup. Any
    failure while building or binding closes what was made before the error goes on.
    """

    def __init__(self, pair: Pair, size: int, seed: int = 0, sides: Iterable[str] = SIDES) -> None:
        self.pair = pair
        self.size = size
        self.bound: dict[str, Bound] = {}
        self.workload: Optional[Workload] = None
        chosen = tuple(check_side(s) for s in sides)
        try:
            self.workload = pair.workload(size, seed)
        except PairbenchError:
            raise
        except Exception as exc:
            raise SideError(f"pair {pair.name!r}: building the workload at size {size} failed: "
                            f"{one_line(exc)}") from exc
        try:
            for side in chosen:
                self.bound[side] = self._bind(side)
        except BaseException:
            self.close()
            raise

    def _bind(self, side: str) -> Bound:
        pair = self.pair
        try:
            bound = pair.bind_side(side, self.workload.inputs)
        except PairbenchError:
            raise
        except Exception as exc:
            raise SideError(f"pair {pair.name!r}: binding the {side} side failed: {one_line(exc)}") from exc
        has_reset = bound.reset is not None
        if has_reset != pair.stateful:
            if bound.close is not None:
                bound.close()
            raise PairbenchError(
                f"pair {pair.name!r}: its {side} binding {'has' if has_reset else 'has no'} reset "
                f"but the pair says stateful={pair.stateful}; set stateful={has_reset}")
        return bound

    @property
    def description(self) -> str:
        return self.workload.description if self.workload is not None else ""

    def call(self, side: str, fn: Callable[[Bound], Any]) -> Any:
        """``fn(bound side)``, with anything the side raises turned into a :class:`SideError`."""
        try:
            return fn(self.bound[side])
        except (PairbenchError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise SideError(f"pair {self.pair.name!r}: the {side} side raised {one_line(exc)}") from exc

    def first_call(self, side: str) -> tuple[Any, float]:
        """The untimed first call (reset first when stateful): its output and its seconds.

        It pays one-off costs (a JIT compile, a cold cache) before anything is timed or counted.
        """
        def once(bound: Bound) -> tuple[Any, float]:
            if bound.reset is not None:
                bound.reset()
            t0 = time.perf_counter()
            out = bound.call()
            return out, time.perf_counter() - t0

        return self.call(side, once)

    def close(self) -> None:
        bound, self.bound = self.bound, {}
        try:
            for b in bound.values():
                if b.close is not None:
                    b.close()
        finally:
            if self.workload is not None:
                self.workload.close()

    def __enter__(self) -> "Sides":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
