"""Any cProfile ``.prof`` (``asv profile -o``, ``python -m cProfile -o``) to pairbench's outputs.

    python -m profiling.prof2svg ref.prof [--root time_reference] [--out DIR]

writes ``DIR/<stem>.folded``, ``DIR/<stem>.svg`` and ``DIR/<stem>.hotspots.md`` (default DIR: the
.prof's folder). The stacks are rebuilt from the call graph as for ``pairbench profile --profiler
cprofile`` (see :meth:`profiling.collapsed.FoldedStacks.from_pstats`), starting at the functions
named ``--root`` (for an asv benchmark: its method, e.g. ``time_reference``), or at the functions
nobody called when no root is given.
"""
from __future__ import annotations

import argparse
import pstats
import sys
from pathlib import Path
from typing import Optional, Sequence

from pairbench.registry import PairbenchError

from .collapsed import FoldedStacks, SideProfile
from .hotspots import Hotspots
from .svg import write_flamegraph


def convert_prof(prof: Path, *, root: Optional[str] = None, out_dir: Optional[Path] = None) -> list[Path]:
    """Folded stacks, SVG flame graph and hot spots of a ``.prof`` file; returns the paths."""
    prof = Path(prof)
    try:
        stats = pstats.Stats(str(prof)).stats
    except (OSError, EOFError, ValueError, TypeError) as exc:
        raise PairbenchError(f"prof: cannot read {str(prof)!r} as a cProfile file: {exc}") from exc

    def is_root(key: tuple) -> bool:
        return key[2] == root if root else not stats[key][4]

    roots = [k for k in stats if is_root(k)]
    if not roots:
        raise PairbenchError(f"root: no function named {root!r} in {prof.name}")
    calls = int(sum(stats[k][1] for k in roots)) if root else 0
    # a root's own children only: a pseudo-root frame would hide which root each stack came from
    folded = FoldedStacks.from_pstats(stats, root=is_root)
    folded.calls = calls
    if not folded.stacks:
        raise PairbenchError(f"prof: no time recorded below {root or 'the roots'} in {prof.name}")
    out_dir = Path(out_dir) if out_dir is not None else prof.parent
    stem = prof.stem
    title = f"{stem}: below {root}" if root else stem
    profile = SideProfile(stem, root or "program", "cprofile", 0, folded, "items")
    return [folded.write(out_dir / f"{stem}.folded"),
            write_flamegraph(folded, out_dir / f"{stem}.svg", title=title,
                             subtitle="time per call of the root" if calls else "total time",
                             root_name=root or "all"),
            Hotspots(profile).write(out_dir / f"{stem}.hotspots.md")]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m profiling.prof2svg", description=__doc__.splitlines()[0])
    ap.add_argument("prof", type=Path)
    ap.add_argument("--root", help="function name whose calls the stacks start from (e.g. time_reference)")
    ap.add_argument("--out", type=Path, help="output folder (default: the .prof's folder)")
    args = ap.parse_args(argv)
    try:
        for path in convert_prof(args.prof, root=args.root, out_dir=args.out):
            print(path)
    except PairbenchError as exc:
        print(f"prof2svg: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
