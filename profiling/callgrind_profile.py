"""``pairbench profile --profiler callgrind``: one side's counted region in instructions, not time.

The counting engine (:mod:`pairbench.count`) runs the side under valgrind's callgrind and keeps
the counted region (``calls`` calls of the side, after the uncounted build and warm-up calls) as
a callgrind file. From it, in ``<out>/<pair>/<side>/``:

- ``callgrind.out``: the region as callgrind wrote it (KCachegrind/QCachegrind, ``callgrind_annotate``).
- ``callgrind.folded``: stacks rebuilt from callgrind's caller->callee edges (callgrind keeps
  edges, not whole stacks: see :func:`stacks_of`), counts in instructions per call.
- ``callgrind.svg`` and ``callgrind.speedscope.json``: the same stacks drawn.
- ``hotspots.md``: functions by self and inclusive instructions per call, exact (read from the
  file, not from the rebuilt stacks), with their shares of the region; and the Python functions
  the same calls make, with their call counts (cProfile in a child, not under valgrind).

Under callgrind the frames are the interpreter's C functions (``_PyEval_EvalFrameDefault``,
``_PyObject_MakeTpCall``, ``PyDict_GetItem``...), not Python functions: Python code shows as the
interpreter running it. Since Python 3.11 a Python function called from Python runs in its
caller's C frame, so the side's own Python code is charged to the C frame that was running when
counting began (the root of the stacks, often ``_PyObject_MakeTpCall``, the call that switched
counting on): the hot spots say so. The Python functions are named beside them from cProfile's
call counts.
The region also holds the harness's loop around the calls (its cost per call is given; the
count ``pairbench count`` reports has it subtracted).
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from pairbench import callgrind_out
from pairbench.count import Job, SideCount, call_counts, count_size, precompile, run_job
from pairbench.registry import Pair, PairbenchError

from ._io import atomic_move, atomic_write_text
from .collapsed import FoldedStacks, SideProfile
from .speedscope import SpeedscopeRenderer
from .svg import FlameGraphSVG, tree_from_folded

NAME = "callgrind"
EVENT = "Ir"
#: the synthetic root of the rebuilt stacks: whatever ran in frames entered before counting began
_ROOT = ("~", 0, "<counted region>")


def format_instructions(n: float) -> str:
    """Instructions as people read them: 1,234,567 or 12.5 (below 100)."""
    return f"{n:,.0f}" if abs(n) >= 100 else f"{n:.3g}"


_ID = re.compile(r"^\((\d+)\)(?: (.*))?$")


def object_files(path: Path | str) -> dict[str, str]:
    """``{function: the file name of the object it is in}`` from a callgrind file's ``ob=``/``cob=``
    lines (names compressed as ``(id) name`` on first use, as for functions)."""
    objects: dict[str, str] = {}
    fns: dict[str, str] = {}
    out: dict[str, str] = {}
    ob = cob = ""

    def resolve(table: dict[str, str], value: str) -> str:
        m = _ID.match(value)
        if not m:
            return value
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), value)

    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            key, sep, value = line.rstrip("\n").partition("=")
            if not sep:
                continue
            if key == "ob":
                ob = cob = resolve(objects, value)
            elif key == "cob":
                cob = resolve(objects, value)
            elif key == "fn":
                out.setdefault(resolve(fns, value), ob)
                cob = ob
            elif key == "cfn":  # a cob= line names the callee's object for this call only
                out.setdefault(resolve(fns, value), cob)
                cob = ob
    return {fn: os.path.basename(o) for fn, o in out.items() if o and o != "???"}


def named(part: callgrind_out.Part) -> callgrind_out.Part:
    """``part`` with each function callgrind could only name by address (``0x...``, a static
    function without a symbol) named by its object too: ``0x00000000001390f0 [_json...so]``."""
    objects = object_files(part.path)
    rename = {fn: f"{fn} [{objects[fn]}]" for fn in part.self_cost if fn.startswith("0x") and fn in objects}
    if not rename:
        return part

    def r(fn: str) -> str:
        return rename.get(fn, fn)

    return replace(part, self_cost={r(f): c for f, c in part.self_cost.items()},
                   call_cost={(r(a), r(b)): c for (a, b), c in part.call_cost.items()},
                   calls={(r(a), r(b)): n for (a, b), n in part.calls.items()})


class _CNamer:
    """Names a rebuilt frame by its C function (callgrind has no Python frames)."""

    @staticmethod
    def cprofile(_filename: str, _line: int, name: str) -> str:
        return name


def stacks_of(part: callgrind_out.Part, *, event: str = EVENT, min_share: float = 1e-4,
              max_depth: int = 128) -> FoldedStacks:
    """Folded stacks of one callgrind part, in ``event`` counts for the whole part.

    Callgrind records, per function, its self cost and, per caller->callee edge, the inclusive
    cost of those calls; not whole stacks. The stacks are rebuilt the way cProfile's are
    (:meth:`FoldedStacks.from_pstats`: a function splits its cost between itself and its callees
    the same way whoever called it), which is exact for functions with one caller and apportioned
    for the rest; self costs per function stay exact. The roots are the functions running when
    counting began (frames entered before it, such as the loop that calls the side): the cost of a
    function not accounted for by calls into it is charged to the synthetic root. Paths under
    ``min_share`` of the total or deeper than ``max_depth`` stop there, and a recursive edge is not
    followed: their cost stays as self cost of the frame they leave, so the stacks add up to the
    part's total."""
    if event not in part.events:
        raise PairbenchError(f"callgrind: {part.path} has no {event!r} event")
    i = part.events.index(event)
    incl = part.inclusive_of(event)
    incoming: dict[str, int] = {}
    callers: dict[str, dict[tuple, tuple]] = {}
    for (caller, callee), cost in part.call_cost.items():
        if caller == callee or not cost[i]:
            continue
        incoming[callee] = incoming.get(callee, 0) + cost[i]
        n = part.calls.get((caller, callee), 0)
        callers.setdefault(callee, {})[("", 0, caller)] = (n, n, 0.0, float(cost[i]))
    stats: dict[tuple, tuple] = {}
    top = 0
    for fn, costs in part.self_cost.items():
        own = incl.get(fn, 0)
        uncalled = own - incoming.get(fn, 0)
        edges = dict(callers.get(fn, {}))
        if uncalled > 0:
            edges[_ROOT] = (1, 1, 0.0, float(uncalled))
            top += uncalled
        n = sum(e[1] for e in edges.values())
        stats[("", 0, fn)] = (n, n, float(costs[i]), float(own), edges)
    stats[_ROOT] = (1, 1, 0.0, float(top), {})
    return FoldedStacks.from_pstats(stats, root=lambda key: key == _ROOT, namer=_CNamer(),
                                    min_share=min_share, max_depth=max_depth, keep_unfollowed=True)


@dataclass
class CountedProfile(SideProfile):
    """A side's counted region: the folded stacks hold instructions per call (``calls`` = 1)."""

    count: Optional[SideCount] = None
    part: Optional[callgrind_out.Part] = None
    python_calls: dict = field(default_factory=dict)

    @property
    def per_call_region(self) -> float:
        return self.part.total(EVENT) / self.count.calls

    @property
    def harness_per_call(self) -> float:
        return self.count.harness_instructions / self.count.calls


def count_side(pair: Pair, side: str, *, keep: Path, size: Optional[int] = None, seed: int = 0,
               tree: Optional[str] = None, tree_label: str = ".", pair_module: Optional[str] = None,
               python_calls: bool = True) -> CountedProfile:
    """Count ``side`` of ``pair`` once under callgrind, keep its region at ``keep`` (written whole
    or not at all) and read it back; with ``python_calls`` also count its Python calls (cProfile)."""
    size = count_size(pair, size)
    job = Job(pair.name, side, size, seed=seed, tree=tree, tree_label=tree_label, pair_module=pair_module)
    precompile([tree])
    keep = Path(keep)
    keep.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".callgrind.", suffix=".tmp", dir=keep.parent)
    os.close(fd)
    try:
        res = run_job(job, keep=Path(tmp))
        if res.error:
            raise PairbenchError(f"callgrind: counting the {side} side of {pair.name!r} failed: {res.error}")
        part = named(callgrind_out.parse(tmp))
        os.chmod(tmp, 0o644)
        res.callgrind_file = str(atomic_move(tmp, keep))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    part.path = keep
    folded = stacks_of(part).scaled(1.0 / res.calls)
    folded.calls = 1
    calls = call_counts(job, res.calls) if python_calls else {}
    return CountedProfile(pair.name, side, NAME, size, folded, pair.size_unit, res.description,
                          count=res, part=part, python_calls=calls)


def flame_tree(folded: FoldedStacks, *, root_name: str):
    """The drawable tree of per-call instruction stacks, with instruction tooltips."""
    root = tree_from_folded(folded, root_name)
    total = root.value or 1.0
    for node in root.walk():
        node.title = (f"{node.name}\n{format_instructions(node.value)} instructions per call "
                      f"({100 * node.value / total:.1f}%), self {format_instructions(node.self_value)}")
    return root


def write_side(profile: CountedProfile, out_dir: Path) -> list[Path]:
    """The folded stacks, SVG and speedscope file of one counted side (the callgrind file is
    already in ``out_dir``); hotspots.md is written by :class:`CountedHotspots`."""
    out_dir = Path(out_dir)
    title = f"{profile.pair}: {profile.side} (callgrind)"
    svg = FlameGraphSVG(
        title=title,
        subtitle=(f"instructions per call at size {profile.size} {profile.size_unit}; width = share of "
                  f"the counted region; C frames (the root runs the side's Python code)"),
    ).render(flame_tree(profile.folded, root_name=f"{profile.side} call"))
    return [profile.folded.write(out_dir / f"{NAME}.folded", scale=1),
            atomic_write_text(out_dir / f"{NAME}.svg", svg),
            SpeedscopeRenderer(f"{title}, instructions per call", unit="none", scale=1).write(
                profile.folded, out_dir / f"{NAME}.speedscope.json")]


class CountedHotspots:
    """Hot spots of a counted side: functions by self and inclusive instructions, Python calls."""

    def __init__(self, profile: CountedProfile, *, own_prefixes: tuple[str, ...] = (), top: int = 15) -> None:
        self.profile = profile
        self.own_prefixes = tuple(own_prefixes)
        self.top = top
        calls = profile.count.calls
        self.total = profile.part.total(EVENT) / calls
        self.by_self = sorted(((fn, v / calls) for fn, v in profile.part.self_of(EVENT).items()),
                              key=lambda kv: (-kv[1], kv[0]))
        self.by_inclusive = sorted(((fn, v / calls) for fn, v in profile.part.inclusive_of(EVENT).items()),
                                   key=lambda kv: (-kv[1], kv[0]))
        self.python = sorted(profile.python_calls.items(), key=lambda kv: (-kv[1], kv[0]))
        #: the C frames running when counting began: their self cost is the eval loop running Python
        self.roots = {stack[0] for stack in profile.folded.stacks if stack}

    def name(self, fn: str) -> str:
        return f"{fn} (eval loop: Python code)" if fn in self.roots else fn

    def share(self, v: float) -> str:
        return f"{100 * v / self.total:.1f}%" if self.total > 0 else "-"

    def verdict(self) -> str:
        side = self.profile.side
        if not self.by_self:
            return f"callgrind counted nothing in the {side} side's calls"
        fn, v = self.by_self[0]
        line = f"{self.share(v)} of the {side} side's instructions are in {fn} (self)"
        if fn in self.roots:
            line += ", the interpreter running the side's Python code"
        mine = [(name, n) for name, n in self.python if self.own_prefixes and name.startswith(self.own_prefixes[0])]
        if mine:
            line += f"; its most called own Python function is {mine[0][0]} ({mine[0][1]:,.4g} per call)"
        return line

    def markdown(self) -> str:
        p, c = self.profile, self.profile.count
        fmt = format_instructions
        lines = [f"# Hot spots: {p.pair}, {p.side} (callgrind)", "",
                 f"**Where the instructions go:** {self.verdict()}.", "",
                 f"Counted: size {p.size} {p.size_unit}" + (f" ({p.description})" if p.description else "") +
                 f"; {c.calls:,} calls in the counted region, {fmt(self.total)} instructions per call in it: "
                 f"{fmt(c.instructions)} in the side's call and {fmt(p.harness_per_call)} in the harness loop "
                 f"around it (the figure `pairbench count` reports is the first).", "",
                 "Instructions are exact for this tree, interpreter and library build (valgrind's callgrind). "
                 "The frames are the interpreter's C functions, not Python functions. Since Python 3.11 a Python "
                 "function called from Python runs in its caller's C frame, so the side's own Python code is "
                 "charged to the C frame running when counting began, the root of the stacks (marked "
                 "*eval loop: Python code* below); C calls it makes (`PyObject_Vectorcall`, `PyDict_GetItem`, ...) "
                 "are their own frames. The Python functions the same calls run are listed last with their "
                 "call counts (cProfile).", ""]
        for heading, rows, what in (("Top functions by self instructions", self.by_self, "self"),
                                    ("Top functions by inclusive instructions", self.by_inclusive, "inclusive")):
            lines += [f"## {heading}", "", f"| # | function | {what} per call | share |", "| --- | --- | --- | --- |"]
            for i, (fn, v) in enumerate(rows[: self.top], 1):
                lines.append(f"| {i} | `{self.name(fn)}` | {fmt(v)} | {self.share(v)} |")
            lines.append("")
        lines += ["Inclusive counts follow callgrind's call edges; a function in a call cycle (the "
                  "interpreter calling back into itself through C) can pass 100%.", ""]
        if self.python:
            lines += ["## Python functions called (cProfile call counts per call, same workload)", "",
                      "| # | Python function | calls per call |", "| --- | --- | --- |"]
            for i, (fn, n) in enumerate(self.python[: 2 * self.top], 1):
                lines.append(f"| {i} | `{fn}` | {n:,.4g} |")
            lines.append("")
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        return atomic_write_text(Path(path), self.markdown())
