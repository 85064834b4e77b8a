"""``pairbench gate --instructions``: the deterministic gate.

For each counted pair at its count size, in one job:

* both sides' outputs are equivalent (checked in this process, on the counted workload);
* the instruction ratio (reference / optimized instructions per call) is at or above the pair's
  instruction floor;
* with ``--against REV``: REV's optimized side is counted too (a worktree of REV, same
  environment, same number of calls), and the optimized side's instructions per call may not grow
  by more than ``threshold`` (default 2%). A pair REV lacks is reported NEW, not failed. A growth
  that a commit since REV declared intended (``Pairbench-Accept: NAME reason`` in its message),
  or that ``--accept NAME`` names, is ACCEPTED.

A FAIL says where the instructions went: the C functions whose self instructions per call changed
most (callgrind's per-function costs) and the Python functions whose calls per call changed (a
separate cProfile pass, uncounted: call counts are deterministic too). Walltime pairs are judged by
the wall-clock gate (:func:`pairbench.gate.judge`) in the same run.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

from . import count as c
from . import trees
from .gate import ERROR, EXIT_ERROR, FAIL, PASS, GateOptions, exit_code, judge
from .measure import check_equivalent
from .progress import Progress
from .registry import Pair, PairbenchError
from .render import fmt_ratio
from .sides import Sides
from .counting import fmt_count

NEW, ACCEPTED = "NEW", "ACCEPTED"
DEFAULT_THRESHOLD = 0.02


@dataclass
class InstructionVerdict:
    """The instruction gate's judgement of one pair."""

    name: str
    status: str
    reason: str
    floor: float
    size: int
    ratio: float = math.nan
    reference: Optional[float] = None          # instructions per call
    optimized: Optional[float] = None
    base_optimized: Optional[float] = None     # REV's optimized side
    growth: Optional[float] = None             # optimized vs REV, a fraction
    where: list = field(default_factory=list)  # lines naming what changed
    measure: str = "instructions"

    @property
    def passed(self) -> bool:
        return self.status in (PASS, NEW, ACCEPTED)

    def figure(self) -> str:
        return f"{fmt_ratio(self.ratio)} instr" if math.isfinite(self.ratio) else "-"

    def line(self) -> str:
        growth = f"{self.growth:+.2%}" if self.growth is not None else ""
        head = (f"{self.status:<8} {self.name:<28} {self.figure():>14}  floor {fmt_ratio(self.floor):>6}"
                f"  @{self.size:,}  {growth:>8}  {self.reason}")
        return head + "".join(f"\n           {w}" for w in self.where)


def check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 10:
        raise PairbenchError(f"--threshold: must be a fraction above 0 (0.02 = 2%), got {threshold!r}")
    return float(threshold)


def equivalence_error(pair: Pair, size: int, seed: int) -> Optional[str]:
    """None when both sides agree on the counted workload, else the check's first line."""
    with Sides(pair, size, seed) as sides:
        ref, _ = sides.first_call("reference")
        opt, _ = sides.first_call("optimized")
        error = check_equivalent(pair, ref, opt)
    return error.splitlines()[0] if error else None


def top_changes(base: dict, head: dict, n: int = 3) -> list[tuple[str, float, float]]:
    """The ``n`` keys whose values changed most: ``(key, base, head)``."""
    keys = set(base) | set(head)
    changed = [(k, base.get(k, 0.0), head.get(k, 0.0)) for k in keys
               if abs(head.get(k, 0.0) - base.get(k, 0.0)) > 1e-9]
    changed.sort(key=lambda t: (-abs(t[2] - t[1]), t[0]))
    return changed[:n]


def where_it_went(pair: Pair, head: c.SideCount, base: c.SideCount, *, base_tree: Optional[str],
                  head_tree: Optional[str] = None, seed: int = 0) -> list[str]:
    """Lines naming the functions whose instructions and calls per call changed most."""
    lines = []
    fns = top_changes(base.functions, head.functions)
    if fns:
        lines.append("instructions: " + ", ".join(f"{k} {fmt_count(b)} -> {fmt_count(h)}" for k, b, h in fns))
    calls = min(head.calls, base.calls, 16) or 1
    try:
        head_calls = c.call_counts(c.Job(pair.name, "optimized", head.size, seed=seed, tree=head_tree), calls)
        base_calls = c.call_counts(c.Job(pair.name, "optimized", head.size, seed=seed, tree=base_tree), calls)
    except PairbenchError as exc:
        lines.append(f"calls: not counted ({exc})")
        return lines
    changed = top_changes(base_calls, head_calls, 4)
    if changed:
        lines.append("calls: " + ", ".join(f"{k}: {b:g} -> {h:g} calls per call" for k, b, h in changed))
    else:
        lines.append("calls: every Python function is called as often as before")
    return lines


@dataclass(frozen=True)
class InstructionGateOptions:
    threshold: float = DEFAULT_THRESHOLD
    against: Optional[str] = None       # a revision; its tree is counted in the same job
    accept: tuple = ()                  # pair names whose growth is intended
    size: Optional[int] = None
    seed: int = 0
    parallel: Optional[int] = None
    plant: dict = field(default_factory=dict)   # pair name -> fraction (proving the gate only)
    head_tree: Optional[str] = None     # count this tree as HEAD instead of this checkout
    recount_identical: bool = False     # count REV even where its pairs are HEAD's (A/A proofs)
    walltime: GateOptions = field(default_factory=lambda: GateOptions(quick=True))


def run_instruction_gate(pairs: Sequence[Pair], options: Optional[InstructionGateOptions] = None, *,
                         stream=None, progress: bool = True) -> tuple[int, list]:
    """Count, judge and print every pair; returns (exit code, verdicts)."""
    stream = stream or sys.stdout
    opts = options or InstructionGateOptions()
    check_threshold(opts.threshold)
    if not pairs:
        print("ERROR no pair selected", file=stream)
        return EXIT_ERROR, []
    c.valgrind_path()
    base_tree = base_commit = None
    accepted: dict[str, str] = {}
    if opts.against:
        folder, base_commit = trees.tree_of(opts.against)
        base_tree = str(folder)
        accepted = trees.accepted_pairs(base_commit)
    for name in opts.accept:
        accepted.setdefault(name, "--accept")
    if base_tree and opts.head_tree is None:
        opts = dataclasses.replace(opts, head_tree=str(trees.snapshot()))
    # REV's pairs byte-identical to HEAD's (a commit that changed only docs or the harness): one
    # count of a pair's optimized side serves both trees, as both are counted by this harness in
    # this environment; a planted pair (proving the gate) is counted in each
    identical = bool(base_tree) and trees.same_pairs(base_tree, opts.head_tree or trees.ROOT)
    shared = {p.name for p in pairs
              if p.counted and identical and not opts.recount_identical and not opts.plant.get(p.name)}
    counted = [p for p in pairs if p.counted]
    walltime = [p for p in pairs if not p.counted]
    label = base_commit[:8] if base_commit else None

    jobs = [c.Job(p.name, "optimized", c.count_size(p, opts.size), seed=opts.seed, tree=opts.head_tree,
                  plant=opts.plant.get(p.name, 0.0)) for p in counted]
    # the references first (the longest jobs), then HEAD's optimized sides, then REV's
    jobs = [dataclasses.replace(j, side="reference", plant=0.0) for j in jobs] + jobs
    if base_tree:  # after every HEAD job: REV's side shares HEAD's slot, and would wait for it
        jobs += [c.Job(p.name, "optimized", c.count_size(p, opts.size), seed=opts.seed, tree=base_tree,
                       tree_label=label) for p in counted if p.name not in shared]
    verdicts: list = []
    with Progress(len(jobs) + len(counted) + len(walltime), "instruction gate", enabled=progress) as bar:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as background:  # children count while this process
            counting = background.submit(  # checks equivalence (it waits on them anyway)
                c.run_jobs, jobs, parallel=opts.parallel,
                on_done=lambda j, s: bar.tick(f"{j.pair} {j.side}@{j.tree_label} {s.seconds:.0f}s"))
            equivalence = {p.name: _equivalence_or_error(p, c.count_size(p, opts.size), opts.seed) for p in counted}
            results = counting.result()
        by = {(j.pair, j.side, j.tree_label): (j, s) for j, s in zip(jobs, results)}
        if shared:
            _emit(bar, f"{label}'s {', '.join(t + '/' for t in trees.TREE_PARTS)} are identical to this "
                       f"checkout's: one count of each optimized side serves both", stream)
            for name in shared:
                by[(name, "optimized", label)] = by[(name, "optimized", ".")]
        # REV counted with another number of calls than HEAD: count it again with HEAD's
        for p in counted:
            head = by[(p.name, "optimized", ".")][1]
            if base_tree and head.ok:
                bj, bs = by[(p.name, "optimized", label)]
                if bs.ok and bs.calls != head.calls:
                    again = dataclasses.replace(bj, calls=head.calls)
                    by[(p.name, "optimized", label)] = (again, c.run_job(again))
        for p in counted:
            v = _judge(p, by, opts, label, base_tree, accepted, equivalence[p.name], shared=p.name in shared)
            bar.tick(p.name)
            verdicts.append(v)
            _emit(bar, v.line(), stream)
        for p in walltime:
            v = judge(p, opts.walltime)
            v.reason = f"walltime pair ({p.counting_note or 'timed only'}): {v.reason}"
            bar.tick(p.name)
            verdicts.append(v)
            _emit(bar, v.line(), stream)
    code = exit_code([_as_exit_status(v) for v in verdicts])
    counts = {s: sum(v.status == s for v in verdicts) for s in (PASS, NEW, ACCEPTED, FAIL, ERROR)}
    print(f"instruction gate: {counts[PASS]} pass, {counts[NEW]} new, {counts[ACCEPTED]} accepted, "
          f"{counts[FAIL]} fail, {counts[ERROR]} error (threshold {opts.threshold:.1%}"
          + (f" against {label}" if label else "") + f") -> exit {code}", file=stream)
    return code, verdicts


def _emit(bar: Progress, line: str, stream) -> None:
    if bar.bar is not None:
        bar.bar.write(line, file=stream)
    else:
        print(line, file=stream, flush=True)


class _Status:
    def __init__(self, status: str) -> None:
        self.status = status


def _as_exit_status(v) -> _Status:
    return _Status(PASS if v.status in (NEW, ACCEPTED) else v.status)


def _equivalence_or_error(pair: Pair, size: int, seed: int) -> tuple[Optional[str], Optional[str]]:
    """``(check's first line or None, error or None)`` of the equivalence check."""
    try:
        return equivalence_error(pair, size, seed), None
    except PairbenchError as exc:
        return None, str(exc)


def _judge(p: Pair, by: dict, opts: InstructionGateOptions, label: Optional[str], base_tree: Optional[str],
           accepted: dict, equivalence: tuple[Optional[str], Optional[str]], *,
           shared: bool = False) -> InstructionVerdict:
    """One pair's verdict from the counts in ``by`` (REV's under ``label``; ``shared``: REV's pairs
    are HEAD's, and one count served both)."""
    size = c.count_size(p, opts.size)
    floor = p.instruction_floor_or_default
    ref = by[(p.name, "reference", ".")][1]
    opt = by[(p.name, "optimized", ".")][1]
    v = InstructionVerdict(p.name, PASS, "", floor, size)
    for s in (ref, opt):
        if not s.ok:
            v.status, v.reason = ERROR, f"could not count the {s.side} side: {s.error}"
            return v
    v.reference, v.optimized = ref.instructions, opt.instructions
    v.ratio = ref.instructions / opt.instructions if opt.instructions > 0 else math.inf
    eq, eq_error = equivalence
    if eq_error:
        v.status, v.reason = ERROR, f"could not check equivalence: {eq_error}"
        return v
    if eq:
        v.status, v.reason = FAIL, f"not equivalent: {eq}"
        return v
    problems: list[str] = []
    notes = [f"equivalent; {fmt_count(opt.instructions)} instr/call (ref {fmt_count(ref.instructions)})"]
    if v.ratio < floor:
        v.status = FAIL
        problems.append(f"regression: instruction ratio {fmt_ratio(v.ratio)} is under the floor {fmt_ratio(floor)}")
    if label is not None:
        base = by[(p.name, "optimized", label)][1]
        if not base.ok:
            if "no pair named" in (base.error or ""):
                if v.status == PASS:
                    v.status = NEW
                notes.append(f"not in {label}: nothing to compare")
            else:
                v.status = ERROR
                problems.append(f"could not count {label}: {base.error}")
        else:
            v.base_optimized = base.instructions
            v.growth = opt.instructions / base.instructions - 1
            grew = v.growth > opts.threshold
            if grew and p.name in accepted:
                if v.status == PASS:
                    v.status = ACCEPTED
                notes.append(f"grew {v.growth:+.2%} vs {label}, accepted ({accepted[p.name]})")
            elif grew:
                v.status = FAIL
                problems.append(f"regression: optimized side {fmt_count(base.instructions)} -> "
                                f"{fmt_count(opt.instructions)} instr/call ({v.growth:+.2%} vs {label}, "
                                f"threshold {opts.threshold:.0%})")
                v.where = where_it_went(p, opt, base, base_tree=base_tree, head_tree=opts.head_tree,
                                        seed=opts.seed)
            else:
                notes.append(f"{v.growth:+.3%} vs {label}" + (" (identical code)" if shared else ""))
    reasons = problems + notes
    v.reason = "; ".join(reasons)
    return v
