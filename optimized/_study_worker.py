"""Persistent study workers: the objective that runs in-process, and the worker-process entry point.

A worker (the calling process when ``workers=1``, a spawned process each otherwise) keeps for the
whole study what the reference pays per trial: the imported modules, the candles (with several
workers, one copy in ``multiprocessing.shared_memory`` that every worker maps), the parsed config
(``config_cache``), the compiled trade tracker (numba, compiled or cache-loaded once), one open
``NoDupeGuard`` and a ``{signature: value}`` cache that answers duplicate parameters without a
backtest (primed from the trial files of earlier runs on resume).

Processes coordinate only through the Optuna storage (which hands out trial numbers) and the
shared signature store (on the storage's server when that is PostgreSQL), so a worker on another
machine with the same storage URL and its own copy of the candles joins the same study in the
same way (:func:`run_worker`).

The rule for parameters drawn by several workers at once: a new signature is *claimed* with one
atomic ``guard.add`` before anything is computed, so exactly one trial per signature, across all
workers and machines, is its first (``duplicate=False``); every other trial of it is a duplicate.
A duplicate's value comes from this worker's memory, else from a complete trial of the study
with the same parameters (another worker's, read from the storage), else (its first trial is
still running, or died) from a backtest of its own: the backtest is deterministic, so the value
is the same. A parameter set is thus backtested again only by a worker that draws it while its
first evaluation is still running.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module
from multiprocessing import shared_memory
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Optional

import numpy as np

from reference import _strategy as strategy
from reference.study import (COMPONENTS, RESULTS_DIR, TRIALS_DIR, Tally, open_storage, quiet_optuna,
                             trial_record, values_by_signature, with_cause)


class Objective:
    """One trial without a new process: sign, claim the signature in the shared store, answer a
    duplicate from memory or the study, else backtest here (the rule: module docstring)."""

    def __init__(self, modules: Mapping[str, ModuleType], config_path: str, workdir: Path,
                 space: Mapping[str, Any], candles: strategy.Candles, tally: Tally,
                 dedup: tuple[str, str]) -> None:
        self.modules = modules
        self.config_path = config_path
        self.space = space
        self.candles = candles
        self.tally = tally
        self.trials_dir = workdir / TRIALS_DIR
        self.results_dir = workdir / RESULTS_DIR
        location, self.key_prefix = dedup
        self.guard = modules["dedup_store"].NoDupeGuard(location)
        earlier = modules["trial_loading"].load_trials(self.trials_dir)  # a resume's trial files
        self.values = values_by_signature(earlier)
        self.n_resumed = len(earlier)
        self._cfg: Any = None
        self._settings: Optional[strategy.Settings] = None
        self._signature = modules["param_signature"].param_signature
        self._save_trial = modules["trial_loading"].save_trial

    def settings(self) -> strategy.Settings:
        """The backtest settings of the config (re-derived only when the loader hands a new dict)."""
        cfg = self.modules["config_cache"].get_default_config(self.config_path)
        if cfg is not self._cfg:
            self._cfg, self._settings = cfg, strategy.settings_from(cfg)
        return self._settings

    def __call__(self, trial: Any) -> float:
        params = strategy.canonical_params(strategy.suggest(trial, self.space), self.space)
        sig = self._signature(params)
        value = self.values.get(sig)
        duplicate = value is not None or not self.claim(self.key_prefix + sig)
        if value is None and duplicate:
            value = self.value_in_study(trial, params)
        backtested = value is None
        if backtested:
            value = self.backtest(params, sig)
        self.values[sig] = value
        self._save_trial(self.trials_dir, trial_record(trial, params, sig, value, duplicate))
        self.tally.count(trial.number, params, value, duplicate, backtested)
        return value

    def claim(self, key: str) -> bool:
        """``guard.add(key)``, once more on a new connection if the server went away under it (a
        restart). Should the lost first try have been committed, the retry calls this trial a
        duplicate of itself: it then finds no value and backtests, as a first trial would."""
        try:
            return self.guard.add(key)
        except ConnectionError:
            return self.guard.add(key)

    def value_in_study(self, trial: Any, params: dict) -> Optional[float]:
        """The value of a complete trial of the study with these parameters (another worker's)."""
        import optuna

        for other in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if other.value is not None and strategy.canonical_params(other.params, self.space) == params:
                return float(other.value)
        return None

    def backtest(self, params: dict, sig: str) -> float:
        settings = self.settings()
        value, payload = strategy.backtest(self.candles, params, settings,
                                           self.modules["trade_tracker"].track_trades)
        payload["signature"] = sig
        self.modules["results_lookup"].write_result(self.results_dir, settings.symbol, settings.timeframe,
                                                    payload)
        return value

    def close(self) -> None:
        self.guard.close()


# -- candles in shared memory ------------------------------------------------------------------
def share_candles(candles: strategy.Candles) -> shared_memory.SharedMemory:
    """One shared block holding close, high, low (rows of a (3, T) float64 array)."""
    n = candles.close.shape[0]
    block = shared_memory.SharedMemory(create=True, size=3 * n * 8)
    rows = np.ndarray((3, n), dtype=np.float64, buffer=block.buf)
    for i, series in enumerate(candles):
        rows[i] = series
    del rows
    return block


def attach_candles(name: str, n_bars: int) -> tuple[shared_memory.SharedMemory, strategy.Candles]:
    """Map the shared block ``name``: candles as read-only views, no copy."""
    block = shared_memory.SharedMemory(name=name)
    rows = np.ndarray((3, n_bars), dtype=np.float64, buffer=block.buf)
    rows.flags.writeable = False
    return block, strategy.Candles(rows[0], rows[1], rows[2])


# -- worker processes --------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerTask:
    """What a worker process needs (picklable: module names, not modules)."""

    index: int
    n_trials: int
    config_path: str
    workdir: str
    storage: str
    dedup: tuple  # (store location, key prefix): reference.study.dedup_location
    study_name: str
    seed: int
    space: dict
    shm_name: str
    n_bars: int
    modules: tuple  # ((component, module name), ...)


def run_worker(task: WorkerTask, candles: Optional[strategy.Candles] = None) -> dict:
    """Join the study in ``task.storage`` and run ``task.n_trials`` trials of it.

    Candles come from the shared block ``task.shm_name`` unless given (a worker on another
    machine builds its own with ``reference._strategy.market_candles``). Returns the counters and
    the trials run.
    """
    block = None
    if candles is None:
        block, candles = attach_candles(task.shm_name, task.n_bars)
    try:
        tally = _optimize(task, candles)
    finally:
        del candles
        if block is not None:
            try:
                block.close()
            except BufferError:  # a view still alive (a traceback holds it): the exit unmaps it
                pass
    return {"duplicates": tally.duplicates, "backtests": tally.backtests, "trials": tally.trials,
            "pid": os.getpid()}


def _optimize(task: WorkerTask, candles: strategy.Candles) -> Tally:
    """Run the worker's trials; an error that stops it comes back as one line naming its cause
    (a worker's exception crosses to the parent without its chain of causes)."""
    import optuna

    modules = {name: import_module(mod) for name, mod in task.modules}
    tally = Tally()
    with quiet_optuna(optuna.logging.ERROR):  # the parent reports a failure once, in one line
        try:
            study = optuna.load_study(study_name=task.study_name, storage=open_storage(task.storage),
                                      sampler=optuna.samplers.TPESampler(seed=task.seed + task.index))
            objective = Objective(modules, task.config_path, Path(task.workdir), task.space, candles, tally,
                                  tuple(task.dedup))
            try:
                study.optimize(objective, n_trials=task.n_trials)
            finally:
                objective.close()
        except Exception as exc:
            raise RuntimeError(f"worker {task.index} stopped: {with_cause(exc)}") from None
    return tally



def module_names(modules: Mapping[str, ModuleType]) -> tuple:
    return tuple((name, modules[name].__name__) for name in COMPONENTS)
