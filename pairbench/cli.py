"""The ``pairbench`` command line. Errors print as one line (set PAIRBENCH_DEBUG=1 for tracebacks)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .registry import PairbenchError, all_pairs, select

EPILOG = """\
examples:
  pairbench list
  pairbench run                          every pair, built-in data, full sweep
  pairbench run dedup_store --quick      one component, fewer samples, smaller sizes
  pairbench run --json out.json --plot out.png
  pairbench gate --quick                 the wall-clock regression gate
  pairbench count config_cache           instructions per call of both sides (callgrind)
  pairbench gate --instructions --against HEAD~1 --markdown gate.md --junit gate.xml
  pairbench profile dedup_store.add_batch --impl reference --profiler pyinstrument
  pairbench flamediff dedup_store.add_batch --out diff.svg
  pairbench study --impl optimized --trials 200 --workers 2
  pairbench run study --ablation --size 20
"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pairbench", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Naive/optimized pairs, proven equivalent, timed side by side (interleaved; "
                    "median speedup with a bootstrap 95%% interval), profiled, and gated.")
    parser.add_argument("--threads", type=_positive, default=1,
                        help="thread count pinned for numpy/torch/numba pools (default 1, printed with results)")
    parser.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("list", help="list the registered pairs (built-in and plugins)")

    p = sub.add_parser("run", help="measure pairs side by side and print the table")
    p.add_argument("names", nargs="*", metavar="NAME", help="pair names or component prefixes (default: all)")
    p.add_argument("--size", type=_positive, help="measure this size only (no sweep)")
    p.add_argument("--quick", action="store_true", help="quick sizes and fewer samples (< 1 minute for all pairs)")
    p.add_argument("--samples", type=_positive, help="interleaved samples at the main size (default 15, quick 5)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw speedups and cost-vs-size curves")
    p.add_argument("--ablation", action="store_true",
                   help="with the study pair: swap one component at a time into the reference pipeline "
                        "and print each one's share of the end-to-end gain (--size = trials)")
    p.add_argument("--no-progress", action="store_true", help="no progress output")

    p = sub.add_parser("gate", help="regression gate: exit 1 when a pair is slower than its floor or differs",
                       description="Wall-clock gate (default): each pair's interleaved speedup interval must sit at or "
                                   "above its floor. --instructions: counted pairs are judged by instructions per call "
                                   "under callgrind (floor on the instruction ratio; with --against, the optimized side "
                                   "may not grow by more than --threshold), walltime pairs by the wall-clock gate.")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--instructions", action="store_true",
                   help="the deterministic gate: count instructions under valgrind's callgrind")
    p.add_argument("--threshold", type=float, default=0.02, metavar="FRACTION",
                   help="with --instructions --against: largest growth of the optimized side allowed (default 0.02)")
    p.add_argument("--accept", action="append", default=[], metavar="NAME",
                   help="with --instructions: this pair's growth is intended (also: a 'Pairbench-Accept: NAME "
                        "reason' line in a commit message since REV)")
    p.add_argument("--size", type=_positive, help="with --instructions: count at this size (default: each pair's count size)")
    p.add_argument("--jobs", type=_positive, help="with --instructions: children counted at once (default: CPU count)")
    p.add_argument("--quick", action="store_true", help="fewer samples at the same gate size")
    p.add_argument("--samples", type=_positive, help="interleaved samples per pair (default 15, quick 7)")
    p.add_argument("--calibrate", action="store_true",
                   help="run A/A comparisons (each side against itself) and store each pair's noise band")
    p.add_argument("--noise", default=".pairbench/noise.json", metavar="FILE",
                   help="noise bands written by --calibrate and read by the gate (default %(default)s)")
    p.add_argument("--against", metavar="REV",
                   help="wall-clock: also fail on a significant drop from REV's asv results; --instructions: "
                        "count REV's tree in the same job and fail on growth over --threshold")
    p.add_argument("--results", default=".asv/results", metavar="DIR", help="asv results for the wall-clock --against")
    p.add_argument("--no-complexity", action="store_true", help="skip the growth-class (slope) check")
    p.add_argument("--markdown", metavar="FILE.md", help="also write the verdicts as a Markdown table")
    p.add_argument("--junit", metavar="FILE.xml", help="also write the verdicts as JUnit XML")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("count", help="instructions per call of both sides under valgrind's callgrind",
                       description="Count instructions per call of each counted pair's reference and optimized "
                                   "side under callgrind (deterministic: the same count every run), with the "
                                   "instruction ratio and, with --time or --run-json, the wall-clock speedup beside it.")
    p.add_argument("names", nargs="*", metavar="NAME", help="pair names or component prefixes (default: all)")
    p.add_argument("--size", type=_positive, help="count at this size (default: each pair's count size)")
    p.add_argument("--json", metavar="FILE", help="write the counts as JSON")
    p.add_argument("--cache-sim", action="store_true",
                   help="also simulate caches and estimate cycles (L1 hit 1, LL hit 5, RAM 30)")
    p.add_argument("--time", action="store_true", help="also time each pair at the count size (interleaved, 7 samples)")
    p.add_argument("--run-json", metavar="FILE", help="read wall-clock speedups from a pairbench run JSON")
    p.add_argument("--jobs", type=_positive, help="children counted at once (default: CPU count)")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("profile", help="profile one side or both of a pair as flamegraphs")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--impl", choices=("reference", "optimized", "both"), default="both",
                   help="which side to profile (default both)")
    p.add_argument("--profiler", choices=("pyinstrument", "py-spy", "cprofile", "callgrind"), default="pyinstrument",
                   help="callgrind: the counted region of `pairbench count`, by instructions, plus callgrind.out "
                        "(default pyinstrument)")
    p.add_argument("--size", type=_positive, help="workload size (default: the pair's default size; callgrind: its count size)")
    p.add_argument("--samples", type=_positive, default=1000, help="profiler samples to collect (default 1000)")
    p.add_argument("--duration", type=float, help="profile for this many seconds instead of a sample count")
    p.add_argument("--rate", type=_positive, default=1000, help="py-spy sampling rate in Hz (default 1000)")
    p.add_argument("--out", default="pairbench-out/profile", metavar="DIR",
                   help="output folder; each side's files go to DIR/NAME/SIDE/ (default pairbench-out/profile)")

    p = sub.add_parser("flamediff", help="differential flamegraph of reference vs optimized (or one side at two commits)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--size", type=_positive)
    p.add_argument("--runs", type=_positive, default=5, help="profiles per side (default 5, at least 4; sampled profilers)")
    p.add_argument("--profiler", choices=("pyinstrument", "cprofile", "callgrind"), default="pyinstrument",
                   help="callgrind: one counted run per side, frames coloured by their exact instruction difference")
    p.add_argument("--against", metavar="REV",
                   help="with --profiler callgrind: compare --side at commit REV with --side now")
    p.add_argument("--side", choices=("reference", "optimized"), default="optimized",
                   help="the side compared across commits with --against (default optimized)")
    p.add_argument("--out", metavar="FILE.svg", help="output SVG (default pairbench-out/flamediff/NAME.svg)")
    p.add_argument("--png", metavar="FILE.png", help="also draw the diff as a PNG")

    p = sub.add_parser("study", help="run one Optuna study end to end (reference or optimized pipeline)")
    from .pairs._study_cli import add_study_arguments

    add_study_arguments(p)

    p = sub.add_parser("report", help="draw speedup and instruction history from asv results",
                       description="Draw each pair's tracked speedup, both sides' times and (for counted pairs) "
                                   "both sides' instructions per call across the commits asv recorded; marks "
                                   "significant speedup drops and instruction steps over the gate's threshold. "
                                   "Writes index.html plus one PNG per picture.")
    p.add_argument("--results", default=".asv/results", metavar="DIR",
                   help="asv's results folder (default: .asv/results)")
    p.add_argument("--out", default="pairbench-out/report", metavar="DIR",
                   help="folder for index.html and the PNGs; its parent must exist (default: pairbench-out/report)")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    from .render import fmt_ratio, table

    pairs = all_pairs()
    rows = [(p.name, f"{p.default_size:,} {p.size_unit}", ",".join(f"{s:,}" for s in p.sizes),
             fmt_ratio(p.floor), "" if p.source == "builtin" else p.source, p.summary) for p in pairs]
    print(table(("pair", "default size", "sweep", "floor", "plugin", "what"), rows))
    print(f"\n{len(pairs)} pairs")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .run import RunSettings, print_report, run_pairs, save

    if args.ablation:
        if [n for n in args.names if n != "study"] or not args.names:
            raise PairbenchError("--ablation: name the study pair only (pairbench run study --ablation)")
        from .pairs._study_cli import ablation_main

        return ablation_main(args)
    from .gate_reports import check_output

    check_output(args.json, "--json")
    check_output(args.plot, "--plot")
    pairs = select(args.names)
    settings = RunSettings.for_mode(args.quick, args.samples)
    doc = run_pairs(pairs, size=args.size, quick=args.quick, seed=args.seed, settings=settings,
                    progress=not args.no_progress)
    print_report(doc)
    for path in save(doc, args.json, args.plot):
        print(f"wrote {path}")
    return 0 if all(e["equivalent"] for e in doc["pairs"]) else 1


def cmd_gate(args: argparse.Namespace) -> int:
    from . import gate_reports as reports
    from .gate import GateOptions, against_history, calibrate, load_noise, run_gate, save_calibration

    reports.check_output(args.markdown, "--markdown")
    reports.check_output(args.junit, "--junit")
    try:
        pairs = select(args.names)
    except PairbenchError as exc:
        print(f"ERROR {exc}")
        return 2
    if args.calibrate:
        doc = calibrate(pairs, quick=args.quick, seed=args.seed, samples=args.samples,
                        progress=not args.no_progress)
        print(f"wrote {save_calibration(doc, args.noise)}")
        return 0 if len(doc["pairs"]) >= len(pairs) else 2
    noise = load_noise(args.noise)
    if args.instructions:
        from .instruction_gate import InstructionGateOptions, check_threshold, run_instruction_gate

        opts = InstructionGateOptions(
            threshold=check_threshold(args.threshold), against=args.against, accept=tuple(args.accept),
            size=args.size, seed=args.seed, parallel=args.jobs,
            walltime=GateOptions(quick=args.quick, seed=args.seed, samples=args.samples, noise=noise,
                                 complexity=not args.no_complexity))
        code, verdicts = run_instruction_gate(pairs, opts, progress=not args.no_progress)
        title = "pairbench instruction gate" + (f" against {args.against}" if args.against else "")
    else:
        against, points = against_history(pairs, args.against, args.results) if args.against else (None, {})
        opts = GateOptions(quick=args.quick, seed=args.seed, samples=args.samples, noise=noise,
                           complexity=not args.no_complexity, against=against, against_points=points)
        code, verdicts = run_gate(pairs, options=opts, progress=not args.no_progress)
        title = "pairbench gate" + (f" against {args.against}" if args.against else "")
    for report, path in ((reports.MarkdownReport(), args.markdown), (reports.JUnitReport(), args.junit)):
        if path:
            print(f"wrote {reports.write(report, verdicts, path, title)}")
    return code


def cmd_count(args: argparse.Namespace) -> int:
    from . import counting
    from .gate_reports import check_output
    from .jsonio import write_json

    check_output(args.json, "--json")
    if args.run_json and not os.path.isfile(args.run_json):
        raise PairbenchError(f"--run-json: {args.run_json} does not exist")
    pairs = select(args.names)
    results = counting.count_pairs(pairs, size=args.size, seed=args.seed, cache_sim=args.cache_sim,
                                   parallel=args.jobs, progress=not args.no_progress)
    counting.add_wall(results, run_json=args.run_json, time_now=args.time, seed=args.seed,
                      progress=not args.no_progress)
    print(counting.render(results))
    if args.json:
        print(f"wrote {write_json(args.json, counting.document(results, cache_sim=args.cache_sim))}")
    return 0 if not any(r.error for r in results) else 2


def cmd_profile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from profiling.session import profile_pair

    from .progress import Progress

    _check_out_dir(args.out, "--out")
    (pair,) = _one(args.name)
    with Progress(0, "profiling") as bar:
        paths = profile_pair(pair, impl=args.impl, profiler=args.profiler, size=args.size, out_dir=Path(args.out),
                             min_samples=args.samples, duration=args.duration, seed=args.seed, rate=args.rate,
                             progress=bar.tick)
    for path in paths:
        print(path)
    return 0


def cmd_flamediff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from profiling.flamediff import flamediff_pair

    from .progress import Progress

    from .gate_reports import check_output

    check_output(args.out, "--out")
    check_output(args.png, "--png")
    if args.against and args.profiler != "callgrind":
        raise PairbenchError("--against: comparing two commits needs --profiler callgrind (exact counts)")
    (pair,) = _one(args.name)
    out = Path(args.out) if args.out else None
    with Progress(0, "flamediff") as bar:
        paths = flamediff_pair(pair, size=args.size, runs=args.runs, out=out, profiler=args.profiler,
                               seed=args.seed, png=Path(args.png) if args.png else None, progress=bar.tick,
                               against=args.against, side=args.side)
    for path in paths:
        print(path)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .pairs._study_cli import study_main

    return study_main(args)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    _check_out_dir(args.out, "--out")
    for path in build_report(args.results, args.out):
        print(path)
    return 0


def _check_out_dir(path: str, option: str) -> None:
    """An output folder is made by the command, but the folder above it must exist already."""
    from pathlib import Path

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PairbenchError(f"{option}: {path} is a file, not a folder")
    if not p.exists() and not p.parent.is_dir():
        raise PairbenchError(f"{option}: folder {p.parent} does not exist")


def _one(name: str):
    pairs = [p for p in select([name]) if p.name == name] or select([name])
    if len(pairs) != 1:
        raise PairbenchError(f"{name!r} matches {len(pairs)} pairs ({', '.join(p.name for p in pairs)}); name one")
    return pairs


COMMANDS = {"list": cmd_list, "run": cmd_run, "gate": cmd_gate, "count": cmd_count, "profile": cmd_profile,
            "flamediff": cmd_flamediff, "study": cmd_study, "report": cmd_report}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .machine import fix_threads

    fix_threads(args.threads)  # before numpy/torch/numba load, so their pools start pinned
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("pairbench: interrupted", file=sys.stderr)
        return 130
    except (PairbenchError, OSError, ValueError, TypeError, ImportError, RuntimeError) as exc:
        if os.environ.get("PAIRBENCH_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"pairbench: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
