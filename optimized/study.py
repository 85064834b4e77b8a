"""The whole pipeline with persistent workers and every optimized component.

Same API, semantics and results as :mod:`reference.study` (read that docstring: the strategy,
the search space, duplicates, the cap at the grid size, storage, resume, ``StudyReport`` and every
error); with ``workers=1`` and the same seed both sides reach the same best value and parameters
with the same duplicates. What changes is how:

- No process per trial: the backtest runs in a persistent worker (:mod:`optimized._study_worker`):
  with ``workers=1`` the calling process itself, which keeps the candles (built once per process
  and market size), the config (``config_cache``: one ``stat`` per trial), the numba tracker
  (compiled or cache-loaded once) and the imports from one call to the next.
- A duplicate is answered from memory: a ``{signature: value}`` cache (signatures from the
  LRU-cached ``param_signature``) filled by each backtest and, on resume, by one ``load_trials``
  pass over the earlier trial files; the shared ``NoDupeGuard`` (one connection per worker: a
  WAL file, or the storage's PostgreSQL server) says which signatures any worker has claimed.
- The value comes back from the function call; the result file is still written (the optimized
  ``write_result``) but never searched for.
- The grid size comes from the optimized ``grid_size`` (no expansion).
- ``workers > 1``: that many spawned processes, each running ``study.optimize`` for its share of
  the trials against the same Optuna storage (the default journal file, or any RDB URL such as
  PostgreSQL), mapping one copy of the candles through ``multiprocessing.shared_memory``. Each
  worker samples with ``TPESampler(seed=seed + index)``. Numbering and the completeness of the
  trials are the storage's (none lost, none numbered twice). With a PostgreSQL storage the
  duplicate store is on the same server, so workers on other machines (:func:`_study_worker.run_worker`
  with the same URL) share it. Two workers drawing the same new parameters at the same moment:
  the first to claim the signature in the store runs the first trial of it; the other is a
  duplicate, backtested again only if the first trial has not completed yet (the rule is in
  :mod:`optimized._study_worker`).

Which module implements each component comes from :data:`reference.study.IMPLEMENTATIONS`.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional

from reference import _strategy as strategy
from reference.study import (COMPONENTS, DEFAULT_STUDY_NAME, TRIALS_DIR, PathLike, Progress, StorageError,
                             StudyReport, Tally, capped, check_arguments, check_space, components_of,
                             dedup_location, finish_report, load_or_create_study, open_storage_in,
                             prepare_workdir, progress_callbacks, quiet_optuna, storage_spec)

from optimized import _study_worker as worker

__all__ = ["run_study", "StudyReport", "StorageError", "COMPONENTS", "components_of"]

_CANDLES: dict[tuple[int, int], strategy.Candles] = {}
POLL_S = 0.25  # how often the parent counts finished trials for the progress callback


def candles_for(n_bars: int) -> strategy.Candles:
    """The market of ``n_bars`` bars, built once per process."""
    key = (n_bars, strategy.MARKET_SEED)
    found = _CANDLES.get(key)
    if found is None:
        found = _CANDLES[key] = strategy.market_candles(n_bars)
        for series in found:
            series.flags.writeable = False
    return found


def run_study(config_path: PathLike, *, n_trials: int, workdir: PathLike, seed: int = 0,
              storage: Optional[PathLike] = None, workers: int = 1,
              space: Optional[Mapping[str, Any]] = None, n_bars: int = strategy.DEFAULT_N_BARS,
              study_name: str = DEFAULT_STUDY_NAME,
              progress: Optional[Progress] = None) -> StudyReport:
    """Run ``n_trials`` trials of the backtest study in persistent workers (module docstring)."""
    started = time.perf_counter()
    config_text, folder = check_arguments(config_path, n_trials, workdir, seed, workers, n_bars, study_name)
    modules = components_of("optimized")
    space = dict(strategy.SPACE if space is None else space)
    size = check_space(space, modules["grid_expansion"])
    spec = storage_spec(storage, folder)
    modules["config_cache"].get_default_config(config_text)  # a bad config fails here, once
    to_run = capped(n_trials, size)
    capped_from = n_trials if to_run < n_trials else None

    with quiet_optuna():
        study = load_or_create_study(open_storage_in(spec, folder), study_name, int(seed))
        prepare_workdir(folder)
        candles = candles_for(n_bars)
        tally = Tally()
        dedup = dedup_location(spec, folder, study_name)
        if workers == 1:
            objective = worker.Objective(modules, config_text, folder, space, candles, tally, dedup)
            try:
                study.optimize(objective, n_trials=to_run, callbacks=progress_callbacks(progress, to_run))
            finally:
                objective.close()
            n_resumed = objective.n_resumed
        else:
            n_resumed = _run_workers(study, tally, modules, config_text=config_text, folder=folder,
                                     spec=spec, dedup=dedup, study_name=study_name, seed=int(seed), space=space,
                                     candles=candles, workers=workers, to_run=to_run, progress=progress)
        report = finish_report(study, tally, n_trials=to_run, capped_from=capped_from, started=started,
                               storage=spec, study_name=study_name, space=space)
        report.n_resumed = n_resumed
        return report


def shares(total: int, workers: int) -> list[int]:
    """``total`` trials split as evenly as possible over ``workers`` (the first ones get one more)."""
    return [total // workers + (i < total % workers) for i in range(workers)]


def _run_workers(study: Any, tally: Tally, modules: Mapping[str, ModuleType], *, config_text: str,
                 folder: Path, spec: str, dedup: tuple[str, str], study_name: str, seed: int, space: dict,
                 candles: strategy.Candles, workers: int, to_run: int,
                 progress: Optional[Progress]) -> int:
    """Spawn the worker processes, share the candles with them, gather their tallies."""
    n_resumed = len(modules["trial_loading"].load_trials(folder / TRIALS_DIR))
    # The store is created here, once: several workers creating a new SQLite file at the same
    # moment can meet SQLITE_BUSY on the switch to WAL, which no busy timeout waits out.
    modules["dedup_store"].NoDupeGuard(dedup[0]).close()
    names = worker.module_names(modules)
    before = _finished(study) if progress else 0
    block = worker.share_candles(candles)
    try:
        tasks = [worker.WorkerTask(index=i, n_trials=share, config_path=config_text, workdir=str(folder),
                                   storage=spec, dedup=dedup, study_name=study_name, seed=seed, space=space,
                                   shm_name=block.name, n_bars=candles.close.shape[0], modules=names)
                 for i, share in enumerate(shares(to_run, workers)) if share > 0]
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=len(tasks), mp_context=context) as pool:
            futures = [pool.submit(worker.run_worker, task) for task in tasks]
            pending = set(futures)
            while pending:
                _, pending = cf.wait(pending, timeout=POLL_S, return_when=cf.FIRST_EXCEPTION)
                if progress:
                    progress(min(to_run, _finished(study) - before), to_run)
                if any(f.done() and f.exception() for f in futures):
                    break
            for future in futures:
                try:
                    result = future.result()  # re-raises a worker's error
                except cf.process.BrokenProcessPool as exc:
                    raise RuntimeError(
                        f"workers: a worker process died before finishing ({exc}); spawned workers "
                        "import the calling program's main module, so a script must guard its "
                        "entry point with `if __name__ == '__main__':`") from exc
                tally.duplicates += result["duplicates"]
                tally.backtests += result["backtests"]
                tally.trials.extend(result["trials"])
    finally:
        block.close()
        block.unlink()
    return n_resumed


def _finished(study: Any) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return len(study.get_trials(deepcopy=False, states=states))
