"""Read callgrind's output files: the totals of a dumped part, and its costs per function.

The format (valgrind's "Callgrind Format Specification"): header lines (``events:``,
``positions:``, ``desc: Trigger: ...``), then cost lines under ``fn=`` (names compressed as
``(id) name`` on first use, ``(id)`` after). A cost line right after ``calls=`` is the inclusive
cost of that call, charged to the caller's inclusive cost but not to its self cost.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


@dataclass
class Part:
    """One dumped part: its trigger, event names, totals and per-function costs (event vectors)."""

    path: Path
    trigger: str
    events: list[str]
    totals: list[int]
    self_cost: dict = field(default_factory=dict)       # function -> [cost per event]
    call_cost: dict = field(default_factory=dict)       # (caller, callee) -> [inclusive cost per event]
    calls: dict = field(default_factory=dict)           # (caller, callee) -> call count

    def total(self, event: str = "Ir") -> int:
        return self.totals[self.events.index(event)] if event in self.events else 0

    def self_of(self, event: str = "Ir") -> dict[str, int]:
        i = self.events.index(event)
        return {fn: c[i] for fn, c in self.self_cost.items() if c[i]}

    def inclusive_of(self, event: str = "Ir") -> dict[str, int]:
        """Self cost plus the inclusive cost of every call to another function (a recursive call
        into itself is already in its self cost and is not added twice)."""
        i = self.events.index(event)
        out = {fn: c[i] for fn, c in self.self_cost.items()}
        for (caller, callee), c in self.call_cost.items():
            if caller != callee:
                out[caller] = out.get(caller, 0) + c[i]
        return {fn: v for fn, v in out.items() if v}


def parse(path: Path | str) -> Part:
    """Parse one callgrind output file (one part)."""
    path = Path(path)
    names: dict[str, dict[str, str]] = defaultdict(dict)
    events: list[str] = []
    totals: Optional[list[int]] = None
    trigger = ""
    n_pos = 1
    self_cost: dict[str, list[int]] = {}
    call_cost: dict[tuple[str, str], list[int]] = {}
    calls: dict[tuple[str, str], int] = {}
    fn = cfn = None
    pending_call = False

    def resolve(kind: str, value: str) -> str:
        m = _NAMED.match(value)
        if not m:
            return value
        ident, name = m.group(1), m.group(2)
        table = names["fn" if kind in ("fn", "cfn") else kind]
        if name is not None:
            table[ident] = name
        return table.get(ident, value)

    def add(target: dict, key, costs: list[int]) -> None:
        row = target.get(key)
        if row is None:
            target[key] = row = [0] * len(events)
        for i, c in enumerate(costs):
            row[i] += c

    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            c0 = line[0]
            if c0.isdigit() or c0 in "+-*":
                if fn is None or not events:
                    continue
                parts = line.split()
                costs = [int(x) for x in parts[n_pos:n_pos + len(events)]]
                costs += [0] * (len(events) - len(costs))
                if pending_call:
                    add(call_cost, (fn, cfn), costs)
                    pending_call = False
                else:
                    add(self_cost, fn, costs)
                continue
            key, _, value = line.partition("=")
            if key == "fn":
                fn = resolve("fn", value)
            elif key == "cfn":
                cfn = resolve("fn", value)
            elif key == "calls":
                pending_call = True
                calls[(fn, cfn)] = calls.get((fn, cfn), 0) + int(value.split()[0])
            elif key in ("ob", "cob", "fl", "fi", "fe", "cfi", "cfl"):
                resolve({"cob": "ob", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl"}.get(key, key), value)
            elif line.startswith("events:"):
                events = line.split(":", 1)[1].split()
            elif line.startswith("positions:"):
                n_pos = len(line.split(":", 1)[1].split())
            elif line.startswith("desc: Trigger:"):
                trigger = line.split("Trigger:", 1)[1].strip()
            elif line.startswith("totals:") or line.startswith("summary:"):
                totals = [int(x) for x in line.split(":", 1)[1].split()]
    if totals is None:
        totals = [sum(c[i] for c in self_cost.values()) for i in range(len(events))]
    totals += [0] * (len(events) - len(totals))
    return Part(path, trigger, events, totals, self_cost, call_cost, calls)


def parts(base: Path | str) -> list[Path]:
    """The numbered part files ``base.1``, ``base.2``, ... that dumps wrote, in order."""
    base = Path(base)
    found = []
    for p in base.parent.glob(base.name + ".*"):
        suffix = p.name[len(base.name) + 1:]
        if suffix.isdigit():
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def last_part_total(base: Path | str, event: str = "Ir") -> int:
    """The ``event`` total of the newest part (read from its header: no per-function parse)."""
    files = parts(base)
    if not files:
        raise FileNotFoundError(f"no callgrind part next to {base}")
    events: list[str] = []
    with open(files[-1], encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("events:"):
                events = line.split(":", 1)[1].split()
            elif line.startswith("summary:") or line.startswith("totals:"):
                values = [int(x) for x in line.split(":", 1)[1].split()]
                return values[events.index(event)] if event in events else 0
    raise ValueError(f"{files[-1]}: no summary line")


def by_trigger(base: Path | str) -> dict[str, Path]:
    """``{trigger name: part file}`` of the parts named by ``DUMP_STATS_AT`` requests."""
    out = {}
    for p in parts(base):
        with open(p, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("desc: Trigger:"):
                    trig = line.split("Trigger:", 1)[1].strip()
                    if trig.startswith("Client Request: "):
                        out[trig[len("Client Request: "):]] = p
                    break
                if line.startswith("fn="):
                    break
    return out
