"""``pairbench study`` (one study with a progress bar) and the component ablation of the ``study`` pair.

The ablation answers "where does the end-to-end gain come from?": it times the reference pipeline,
then the reference pipeline with ONE component swapped for its optimized twin (each component of
``reference.study.COMPONENTS``, plus the persistent workers: the optimized pipeline with every
reference component), then the optimized pipeline, and gives each swap's share of the gain::

    share = (t_reference - t_swap) / (t_reference - t_optimized)

and, the other way round, the optimized pipeline with ONE component reverted to the reference
(the persistent workers reverted: the subprocess pipeline with every optimized component), and
the share of the gain each revert loses, ``(t_revert - t_optimized) / (t_reference - t_optimized)``.

Each configuration runs ``reference.study.run_study`` or ``optimized.study.run_study`` with some
entries of :data:`reference.study.IMPLEMENTATIONS` pointed at the other side's modules for the
length of the run (:func:`implementations`): the pipelines themselves know nothing of the ablation.

Every run starts from a fresh workdir with the same seed, so every run must reach the same best
value; the table says whether it did. Shares need not add up to 1: the components interact (a
config cache or a numba tracker is worth nothing in a process that lives for one trial, and a
fast tracker is worth a lot once the interpreter no longer dominates).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Optional

from pairbench.progress import Progress
from pairbench.registry import PairbenchError

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
@contextmanager
def implementations(pipeline: str, modules: Mapping[str, str]) -> Iterator[None]:
    """For the ``with`` block, the ``pipeline`` side (``"reference"`` / ``"optimized"``) builds
    each component named in ``modules`` from that module name instead (restored afterwards)."""
    from reference.study import COMPONENTS, IMPLEMENTATIONS

    unknown = sorted(set(modules) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"components: unknown component(s) {', '.join(unknown)}; "
                         f"known: {', '.join(COMPONENTS)}")
    table = IMPLEMENTATIONS[pipeline]
    saved = dict(table)
    table.update(modules)
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


class Run(NamedTuple):
    """One configuration of the ablation: the ``pipeline`` whose ``run_study`` runs, built with
    ``modules`` (``{component: module name}``, every component)."""

    component: str  # the component swapped / reverted, or "reference" / "optimized"
    mode: str       # "reference", "swap", "optimized" or "revert"
    pipeline: str   # "reference" or "optimized"
    modules: dict

    def run_study(self, *args: Any, **kwargs: Any) -> Any:
        with implementations(self.pipeline, self.modules):
            return import_module(f"{self.pipeline}.study").run_study(*args, **kwargs)


def ablation_plan() -> list[Run]:
    """Every configuration of the ablation: the reference, each single swap into it (the
    persistent workers last), the optimized pipeline, then each single revert out of it."""
    from reference.study import COMPONENTS

    reference = {name: f"reference.{name}" for name in COMPONENTS}
    optimized = {name: f"optimized.{name}" for name in COMPONENTS}
    plan = [Run("reference", "reference", "reference", reference)]
    plan += [Run(name, "swap", "reference", {**reference, name: optimized[name]}) for name in COMPONENTS]
    plan += [Run(PERSISTENT, "swap", "optimized", reference),
             Run("optimized", "optimized", "optimized", optimized)]
    plan += [Run(name, "revert", "optimized", {**optimized, name: reference[name]}) for name in COMPONENTS]
    plan += [Run(PERSISTENT, "revert", "reference", optimized)]
    return plan


def ablation(config_path: Any, *, n_trials: int, workdir: Any, seed: int = 0, repeats: int = 1,
             n_bars: Optional[int] = None, warmup: bool = True, reverts: bool = True,
             log: Optional[Callable[[str], None]] = None) -> list[dict]:
    """Time the reference pipeline, each single swap, and the optimized pipeline (module doc).

    With ``reverts`` also each single revert: the optimized pipeline with ONE component (or the
    persistent workers) back to the reference, whose cost ``(t_revert - t_opt) / (t_ref - t_opt)``
    is the share of the gain lost without it.

    Returns one dict per configuration, in plan order: ``component`` (the component, or
    ``"reference"`` / ``"optimized"``), ``mode`` (``"reference"``, ``"swap"``, ``"optimized"``,
    ``"revert"``), ``seconds`` (median of ``repeats`` runs, the configurations interleaved,
    alternating direction), ``runs_s``, ``saved_s`` (``t_ref - seconds``), ``share``
    (``saved_s / (t_ref - t_opt)``: the share of the gain a swap gives; for a revert, one minus
    the share it loses), ``best_value``, ``same_best`` (equal to the reference's best value and
    parameters), ``n_backtests``. ``warmup`` first runs every configuration once, untimed, with
    one trial (imports, JIT, candles).
    """
    from reference._strategy import DEFAULT_N_BARS

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: must be an int >= 1, got {repeats!r}")
    n_bars = DEFAULT_N_BARS if n_bars is None else n_bars
    log = log or (lambda _line: None)
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    plan = [r for r in ablation_plan() if reverts or r.mode != "revert"]
    counter = iter(range(10**9))

    def one(run: Run, trials: int) -> tuple[float, Any]:
        folder = root / f"run-{next(counter)}"
        try:
            start = time.perf_counter()
            report = run.run_study(config_path, n_trials=trials, workdir=folder, seed=seed, n_bars=n_bars)
            return time.perf_counter() - start, report
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    if warmup:
        for run in plan:
            one(run, 1)
    times: list[list[float]] = [[] for _ in plan]
    reports: list[Any] = [None] * len(plan)
    for r in range(repeats):
        order = list(enumerate(plan))
        for i, run in (order if r % 2 == 0 else order[::-1]):
            seconds, reports[i] = one(run, n_trials)
            times[i].append(seconds)
            log(f"ablation {r + 1}/{repeats}: {run.mode:<9} {run.component:<20} {seconds:8.2f} s  "
                f"best {reports[i].best_value:.6f}")

    medians = [statistics.median(t) for t in times]
    t_ref = medians[[r.mode for r in plan].index("reference")]
    t_opt = medians[[r.mode for r in plan].index("optimized")]
    gain = t_ref - t_opt
    best = reports[0]
    return [{
        "component": run.component,
        "mode": run.mode,
        "seconds": medians[i],
        "runs_s": times[i],
        "saved_s": t_ref - medians[i],
        "share": (t_ref - medians[i]) / gain if gain else float("nan"),
        "best_value": reports[i].best_value,
        "same_best": reports[i].best_value == best.best_value and reports[i].best_params == best.best_params,
        "n_backtests": reports[i].n_backtests,
    } for i, run in enumerate(plan)]


def format_ablation(rows: list[dict], *, n_trials: Optional[int] = None) -> str:
    """The ablation as text: the single swaps into the reference, then the single reverts out of
    the optimized pipeline; ``+-`` is half the range of the repeated runs (the noise)."""
    ref = next(r for r in rows if r["mode"] == "reference")
    opt = next(r for r in rows if r["mode"] == "optimized")
    gain = ref["seconds"] - opt["seconds"]

    def line(label: str, row: dict, figure: float) -> str:
        spread = (max(row["runs_s"]) - min(row["runs_s"])) / 2
        return (f"{label:<22}{row['seconds']:>9.2f}s +-{spread:>6.2f}s{figure:>12.1%}  "
                f"{'yes' if row['same_best'] else 'NO'}")

    head = f"{'':<22}{'time':>10}{'':>10}{'':>12}  same best"
    out = ["swapped alone into the reference pipeline: share of the gain = (t_ref - t) / (t_ref - t_opt)",
           f"{'component':<22}{'time':>10}{'noise':>10}{'share':>12}  same best", "-" * len(head)]
    out.append(line("none (reference)", ref, 0.0))
    singles = 0.0
    for row in rows:
        if row["mode"] == "swap":
            singles += row["share"]
            out.append(line(row["component"], row, row["share"]))
    out.append(line("all (optimized)", opt, 1.0))
    out.append(f"{'sum of single swaps':<42}{singles:>12.1%}")
    reverted = [r for r in rows if r["mode"] == "revert"]
    if reverted:
        out += ["", "reverted alone in the optimized pipeline: share lost = (t - t_opt) / (t_ref - t_opt)",
                f"{'component':<22}{'time':>10}{'noise':>10}{'lost':>12}  same best", "-" * len(head)]
        for row in reverted:
            lost = (row["seconds"] - opt["seconds"]) / gain if gain else float("nan")
            out.append(line(row["component"], row, lost))
    speed = ref["seconds"] / opt["seconds"] if opt["seconds"] else float("inf")
    what = f"{n_trials} trials, " if n_trials else ""
    out += ["", f"end to end: {what}{ref['seconds']:.2f} s -> {opt['seconds']:.2f} s ({speed:.1f}x)"]
    return "\n".join(out)


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
    """The options of ``pairbench study``. ``--seed`` (sampler seed) is also accepted after the
    command; it then overrides pairbench's global ``--seed``."""
    parser.add_argument("--impl", choices=("reference", "optimized"), default="optimized")
    parser.add_argument("--trials", type=int, default=50, help="trials to run (default 50)")
    parser.add_argument("--storage", help="Optuna storage URL or journal file (default: a journal "
                                          "file in the workdir)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--study-name",
                        help="the study in the storage (default pairbench); machines sharing a storage URL "
                             "and a study name run one study, with one duplicate store")
    parser.add_argument("--workdir", help="study folder; rerun on it to resume "
                                          "(default pairbench-out/study-IMPL)")
    parser.add_argument("--config", help="config file (default: the default config, in the workdir)")
    parser.add_argument("--bars", type=int, help="bars of the synthetic market (default 20000)")
    parser.add_argument("--seed", type=int, default=argparse.SUPPRESS, help="sampler seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def study_main(args: argparse.Namespace) -> int:
    """``pairbench study``: run one study with a progress bar, print the best trial."""
    from reference._strategy import DEFAULT_N_BARS
    from reference.study import DEFAULT_STUDY_NAME, StorageError, with_cause

    impl = getattr(args, "impl", "optimized")
    workdir = Path(getattr(args, "workdir", None) or f"pairbench-out/study-{impl}")
    n_trials = getattr(args, "trials", 50)
    module = import_module(f"{impl}.study")
    with Progress(n_trials, f"study ({impl})", enabled=not getattr(args, "no_progress", False)) as bar:
        try:
            config = getattr(args, "config", None) or default_config(workdir)
            report = module.run_study(config, n_trials=n_trials, workdir=workdir,
                                      seed=getattr(args, "seed", 0) or 0, storage=getattr(args, "storage", None),
                                      workers=getattr(args, "workers", 1),
                                      study_name=getattr(args, "study_name", None) or DEFAULT_STUDY_NAME,
                                      n_bars=getattr(args, "bars", None) or DEFAULT_N_BARS,
                                      progress=trial_ticks(bar) if bar.bar is not None else None)
        except StorageError as exc:
            raise PairbenchError(str(exc)) from exc
        except (OSError, ValueError, TypeError, ImportError, RuntimeError):
            raise  # the command line shows these in one line
        except Exception as exc:  # the storage's own (a server that went away): one line too
            raise PairbenchError(f"study stopped: {with_cause(exc)}") from exc
    params = ", ".join(f"{k}={v}" for k, v in report.best_params.items())
    print(f"best trial: value {report.best_value:.6f} with {params}")
    capped = f" (capped from {report.capped_from})" if report.capped_from else ""
    print(f"{impl}: {report.n_trials} trials{capped} in {report.wall_s:.2f} s: {report.n_duplicates} duplicates, "
          f"{report.n_backtests} backtests; {report.n_total_trials} complete trials in study "
          f"{report.study_name!r} at {report.storage}")
    return 0


def trial_ticks(bar: Progress) -> Callable[[int, int], None]:
    """``run_study``'s ``(done, total)`` progress hook as ticks of ``bar``, one per finished trial."""
    shown = [0]

    def update(done: int, total: int) -> None:
        for _ in range(done - shown[0]):
            bar.tick(f"{done}/{total} trials")
        shown[0] = max(shown[0], done)

    return update
