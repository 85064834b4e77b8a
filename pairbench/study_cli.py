"""``pairbench study`` (one study with a progress bar) and the component ablation of the ``study`` pair.

The ablation answers "where does the end-to-end gain come from?": it times the reference pipeline,
then the reference pipeline with ONE component swapped for its optimized twin (each component of
``reference.study.COMPONENTS``, plus the persistent workers: the optimized pipeline with every
reference component), then the optimized pipeline, and gives each swap's share of the gain::

    share = (t_reference - t_swap) / (t_reference - t_optimized)

Every run starts from a fresh workdir with the same seed, so every run must reach the same best
value; the table says whether it did. Shares need not add up to 1: the components interact (a
config cache or a numba tracker is worth nothing in a process that lives for one trial).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from .registry import PairbenchError

PERSISTENT = "persistent workers"
DEFAULT_ABLATION_TRIALS = 20


def default_config(folder: Path) -> str:
    """``folder/config.json`` holding the default config (written when missing)."""
    from reference.config_cache import Config

    path = folder / "config.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(Config().model_dump_json(), encoding="utf-8")
    return os.fspath(path)


# -- ablation --------------------------------------------------------------------------------
def ablation_plan() -> list[tuple[str, Callable[..., Any], dict]]:
    """``(label, run_study, components)`` of every run of the ablation, reference first."""
    import optimized.study as opt
    import reference.study as ref

    reference = ref.components_of("reference")
    optimized = ref.components_of("optimized")
    plan = [("reference", ref.run_study, reference)]
    plan += [(name, ref.run_study, {**reference, name: optimized[name]}) for name in ref.COMPONENTS]
    plan += [(PERSISTENT, opt.run_study, reference), ("optimized", opt.run_study, optimized)]
    return plan


def ablation(config_path: Any, *, n_trials: int, workdir: Any, seed: int = 0, repeats: int = 1,
             n_bars: Optional[int] = None, warmup: bool = True,
             log: Optional[Callable[[str], None]] = None) -> list[dict]:
    """Time the reference pipeline, each single swap, and the optimized pipeline (module doc).

    Returns one dict per run, in plan order: ``component`` (the swapped component, or
    ``"reference"`` / ``"optimized"``), ``seconds`` (median of ``repeats`` runs, interleaved),
    ``runs_s``, ``saved_s`` (vs the reference), ``share`` (of the reference-to-optimized gain),
    ``best_value``, ``same_best`` (equal to the reference run's best value and parameters).
    ``warmup`` runs every configuration once untimed with one trial first (imports, JIT).
    """
    from reference._strategy import DEFAULT_N_BARS

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: must be an int >= 1, got {repeats!r}")
    n_bars = DEFAULT_N_BARS if n_bars is None else n_bars
    log = log or (lambda _line: None)
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    plan = ablation_plan()
    runs = iter(range(10**9))

    def one(run: Callable[..., Any], components: dict, trials: int) -> tuple[float, Any]:
        folder = root / f"run-{next(runs)}"
        try:
            start = time.perf_counter()
            report = run(config_path, n_trials=trials, workdir=folder, seed=seed, n_bars=n_bars,
                         components=components)
            return time.perf_counter() - start, report
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    if warmup:
        for label, run, components in plan:
            one(run, components, 1)
    times: dict[str, list[float]] = {label: [] for label, _, _ in plan}
    reports: dict[str, Any] = {}
    for r in range(repeats):
        order = plan if r % 2 == 0 else plan[::-1]
        for label, run, components in order:
            seconds, report = one(run, components, n_trials)
            times[label].append(seconds)
            reports[label] = report
            log(f"ablation {r + 1}/{repeats}: {label:<20} {seconds:8.2f} s  best {report.best_value:.6f}")

    t_ref = statistics.median(times["reference"])
    t_opt = statistics.median(times["optimized"])
    gain = t_ref - t_opt
    best = reports["reference"]
    rows = []
    for label, _, _ in plan:
        seconds = statistics.median(times[label])
        report = reports[label]
        rows.append({
            "component": label,
            "seconds": seconds,
            "runs_s": times[label],
            "saved_s": t_ref - seconds,
            "share": (t_ref - seconds) / gain if gain else float("nan"),
            "best_value": report.best_value,
            "same_best": report.best_value == best.best_value and report.best_params == best.best_params,
            "n_backtests": report.n_backtests,
        })
    return rows


def format_ablation(rows: list[dict], *, n_trials: Optional[int] = None) -> str:
    """The ablation as a text table (one line per run, then the sum of the single swaps)."""
    head = f"{'swapped in (alone)':<22}{'time':>10}{'saved':>10}{'share of gain':>15}  same best"
    lines = [head, "-" * len(head)]
    singles = 0.0
    for row in rows:
        label = row["component"]
        if label == "reference":
            label = "none (reference)"
        elif label == "optimized":
            label = "all (optimized)"
        else:
            singles += row["share"]
        lines.append(f"{label:<22}{row['seconds']:>9.2f}s{row['saved_s']:>9.2f}s{row['share']:>14.1%}  "
                     f"{'yes' if row['same_best'] else 'NO'}")
    lines.append("-" * len(head))
    lines.append(f"{'sum of single swaps':<22}{'':>20}{singles:>14.1%}")
    ref = next(r for r in rows if r["component"] == "reference")
    opt = next(r for r in rows if r["component"] == "optimized")
    speed = ref["seconds"] / opt["seconds"] if opt["seconds"] else float("inf")
    what = f"{n_trials} trials, " if n_trials else ""
    lines.append(f"end to end: {what}{ref['seconds']:.2f} s -> {opt['seconds']:.2f} s ({speed:.1f}x); "
                 "share = (t_ref - t_swap) / (t_ref - t_opt)")
    return "\n".join(lines)


def ablation_main(args: argparse.Namespace) -> int:
    """``pairbench run study --ablation``: trials from ``--size`` (default 20), repeats from
    ``--samples`` (default 1), optional ``config`` / ``workdir`` / ``bars`` attributes."""
    n_trials = getattr(args, "size", None) or getattr(args, "trials", None) or DEFAULT_ABLATION_TRIALS
    repeats = getattr(args, "samples", None) or 1
    seed = getattr(args, "seed", 0) or 0
    keep = getattr(args, "workdir", None)
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="pairbench-ablation-"))
    quiet = getattr(args, "no_progress", False)
    from reference.study import StorageError

    try:
        config = getattr(args, "config", None) or default_config(root)
        rows = ablation(config, n_trials=n_trials, workdir=root, seed=seed, repeats=repeats,
                        n_bars=getattr(args, "bars", None),
                        log=None if quiet else lambda line: print(line, file=sys.stderr, flush=True))
    except StorageError as exc:
        raise PairbenchError(str(exc)) from exc
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    print(format_ablation(rows, n_trials=n_trials))
    return 0 if all(r["same_best"] for r in rows) else 1


# -- pairbench study ---------------------------------------------------------------------------
def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pairbench study`` (``--seed`` is pairbench's global option)."""
    parser.add_argument("--impl", choices=("reference", "optimized"), default="optimized")
    parser.add_argument("--trials", type=int, default=50, help="trials to run (default 50)")
    parser.add_argument("--storage", help="Optuna storage URL or journal file (default: a journal "
                                          "file in the workdir)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--workdir", help="study folder; rerun on it to resume "
                                          "(default pairbench-out/study-IMPL)")
    parser.add_argument("--config", help="config file (default: the default config, in the workdir)")
    parser.add_argument("--bars", type=int, help="bars of the synthetic market (default 20000)")


def study_main(args: argparse.Namespace) -> int:
    """``pairbench study``: run one study with a progress bar, print the best trial."""
    from importlib import import_module

    from reference._strategy import DEFAULT_N_BARS
    from reference.study import StorageError

    impl = getattr(args, "impl", "optimized")
    workdir = Path(getattr(args, "workdir", None) or f"pairbench-out/study-{impl}")
    n_trials = getattr(args, "trials", 50)
    module = import_module(f"{impl}.study")
    bar = _progress_bar(n_trials, f"study ({impl})", enabled=not getattr(args, "no_progress", False))
    try:
        config = getattr(args, "config", None) or default_config(workdir)
        report = module.run_study(config, n_trials=n_trials, workdir=workdir,
                                  seed=getattr(args, "seed", 0) or 0, storage=getattr(args, "storage", None),
                                  workers=getattr(args, "workers", 1),
                                  n_bars=getattr(args, "bars", None) or DEFAULT_N_BARS,
                                  progress=bar.update if bar else None)
    except StorageError as exc:
        raise PairbenchError(str(exc)) from exc
    finally:
        if bar:
            bar.close()
    params = ", ".join(f"{k}={v}" for k, v in report.best_params.items())
    print(f"best trial: value {report.best_value:.6f} with {params}")
    capped = f" (capped from {report.capped_from})" if report.capped_from else ""
    print(f"{impl}: {report.n_trials} trials{capped} in {report.wall_s:.2f} s: {report.n_duplicates} duplicates, "
          f"{report.n_backtests} backtests; {report.n_total_trials} complete trials in study "
          f"{report.study_name!r} at {report.storage}")
    return 0


class _Bar:
    """A tqdm bar driven by ``(done, total)`` calls from ``run_study``'s progress hook."""

    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def update(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress_bar(total: int, desc: str, *, enabled: bool) -> Optional[_Bar]:
    if not enabled or not isinstance(total, int) or total < 1:
        return None
    return _Bar(total, desc)

