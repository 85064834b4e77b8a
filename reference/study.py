"""The whole pipeline, the naive way: an Optuna study whose every trial is a fresh Python process.

``run_study(config_path, *, n_trials, workdir, seed=0, storage=None, workers=1) -> StudyReport``
runs ``n_trials`` trials of an Optuna study (``TPESampler(seed=seed)``, maximising) of the
backtest in :mod:`reference._strategy` (a moving-average crossover with a stop on the synthetic
market of ``profit_kernel.make_market``) and reports the best trial. This module is the
specification; ``optimized.study`` is held to the same results.

Per trial (the "before" of seeds 000-003, with every reference component):

1. ``params`` = one point of the finite grid ``space`` (default :data:`reference._strategy.SPACE`,
   in the ``grid_expansion`` spec format), asked of the trial with ``suggest_int`` / stepped
   ``suggest_float`` / ``suggest_categorical``; floats rounded as grid_expansion rounds them.
2. ``sig = param_signature(params)``. If the ``NoDupeGuard`` store has seen ``sig`` (in
   this run or an earlier one on the same workdir), the trial is a *duplicate*: its value is
   looked up by signature in the trial files, reloaded with ``load_trials`` (every file, every
   time). Only when no trial file holds it is the duplicate backtested.
3. Otherwise a new ``python -m reference._study_backtest`` process loads the config
   (``get_default_config``), the market (an ``.npz`` the parent wrote), computes the positions,
   tracks the trades (``track_trades``) and writes a result file (``write_result``); the parent
   finds the newest result by glob (``find_latest_result``) and reads its value.
4. The trial is saved as a trial file (``save_trial``: number, params, value, state, and
   ``user_attrs`` ``signature`` / ``duplicate``), then its signature is added to the store.

Semantics both sides share:

- ``n_trials`` above the size of the grid (``grid_size(space)``) is capped to it with a
  ``UserWarning`` naming both numbers (more trials than points can only repeat points); below
  it, the cap changes nothing.
- ``storage``: ``None`` = an Optuna journal file ``workdir/optuna-journal.log``; a ``str`` with
  ``://`` = an Optuna RDB storage URL (``sqlite:///...``, ``postgresql+psycopg://...``); any
  other ``str`` or ``os.PathLike`` = a journal file at that path. The study is named
  ``study_name`` and is loaded if it exists: calling ``run_study`` again on the same workdir and
  storage *resumes*: ``n_trials`` more trials, numbered on from the last, with the store and the
  trial files of the earlier run (so an earlier point is a duplicate).
- ``StudyReport``: ``best_params`` / ``best_value`` of the whole study (earlier runs included),
  ``n_trials`` run by this call, ``n_duplicates`` among them, ``n_backtests`` (trials that ran a
  backtest), ``trials`` (``number``, ``params``, ``value``, ``duplicate`` of this call's trials,
  by number; ``backtested`` too), ``n_total_trials`` (complete trials in the study), ``n_resumed`` (trial files of
  earlier runs found at the start, read with ``load_trials``), ``capped_from`` (the
  ``n_trials`` asked for when capped, else None), ``wall_s``, ``storage``, ``study_name``.
- ``workers > 1``: here Optuna threads (``n_jobs``). The glob cannot tell two concurrent writers'
  results apart (the "newest" file may be another trial's), so the backtest-and-lookup step is
  serialised; workers overlap only the rest. The result found is checked against the trial's
  signature all the same.
- With ``workers=1`` and the same seed, both sides reach the same ``best_value`` and
  ``best_params`` with the same duplicates (same sampler seed and same objective values, so the
  same TPE path).

Which module implements each component is read from :data:`IMPLEMENTATIONS` (``side ->
{component: module name}``) when a run starts; the subprocess is told the module names of
``config_cache``, ``results_lookup`` and ``trade_tracker``. ``space``, ``n_bars`` (market length),
``study_name`` and ``progress`` (a ``(done, total)`` callable) are keywords.

The duplicate store: ``workdir/dedup.sqlite``; with a PostgreSQL storage URL, a table on that
same server (:func:`dedup_location`), so that every worker of the study, on any machine, answers
the others' duplicates. Its keys are then ``"<study_name>/<signature>"``: studies sharing a
database keep apart.

Bad input (refused before anything is written): ``config_path`` missing -> ``FileNotFoundError``
naming it (a malformed config -> the config loader's ``ConfigError``); ``n_trials`` / ``workers``
/ ``n_bars`` not an int (``TypeError``) or < 1 (< 2 bars) -> ``ValueError`` naming them; ``seed``
not an int -> ``TypeError``; ``workdir`` not a folder -> ``NotADirectoryError`` (a missing one is
created); a bad ``space`` -> the ``grid_expansion`` error naming ``spec[...]`` (empty list, step
0, low > high, a range missing a key), a nested spec or an empty space -> ``ValueError`` naming
``space``; ``storage`` of another type ->
``TypeError``; a storage that cannot be opened (unreachable server, bad URL) -> one-line
:class:`StorageError` naming ``storage``, within :data:`CONNECT_TIMEOUT_S` seconds.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Mapping, Optional, Union

import numpy as np

from reference import _strategy as strategy

__all__ = ["run_study", "StudyReport", "StorageError", "COMPONENTS", "components_of"]

#: The components the pipeline is made of (each a module under ``reference/`` and ``optimized/``).
COMPONENTS = ("config_cache", "results_lookup", "dedup_store", "trade_tracker", "param_signature",
              "trial_loading", "grid_expansion")
#: The module implementing each component, per pipeline, read when a run starts.
IMPLEMENTATIONS: dict[str, dict[str, str]] = {
    side: {name: f"{side}.{name}" for name in COMPONENTS} for side in ("reference", "optimized")}
#: Those the per-trial subprocess uses (passed to it by module name).
SUBPROCESS_COMPONENTS = ("config_cache", "results_lookup", "trade_tracker")

DEFAULT_STUDY_NAME = "pairbench"
JOURNAL_FILE = "optuna-journal.log"
TRIALS_DIR = "trials"
RESULTS_DIR = "results"
GUARD_FILE = "dedup.sqlite"
MARKET_FILE = "market.npz"
CONNECT_TIMEOUT_S = 5  # seconds a database server may take to answer a connection

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], None]


class StorageError(RuntimeError):
    """The Optuna storage could not be opened (unreachable server, bad URL, missing driver)."""


@dataclass
class StudyReport:
    """The outcome of one ``run_study`` call (see the module docstring for each field)."""

    best_params: dict
    best_value: float
    n_trials: int
    n_duplicates: int
    n_backtests: int = 0
    trials: list = field(default_factory=list)
    n_total_trials: int = 0
    n_resumed: int = 0
    capped_from: Optional[int] = None
    wall_s: float = 0.0
    storage: str = ""
    study_name: str = DEFAULT_STUDY_NAME


# -- components ------------------------------------------------------------------------------
def components_of(side: str) -> dict[str, ModuleType]:
    """Every component module of the ``side`` pipeline (``"reference"`` / ``"optimized"``), as
    :data:`IMPLEMENTATIONS` names them."""
    return {name: import_module(IMPLEMENTATIONS[side][name]) for name in COMPONENTS}


# -- input checks (shared with the optimized side) ---------------------------------------------
def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def check_arguments(config_path: Any, n_trials: Any, workdir: Any, seed: Any, workers: Any,
                    n_bars: Any, study_name: Any) -> tuple[str, Path]:
    """Refuse bad arguments naming them; return the config path and the (created) workdir."""
    if not isinstance(config_path, (str, os.PathLike)):
        raise TypeError(f"config_path: must be a path, got {type(config_path).__name__}")
    config_text = os.fspath(config_path)
    if not os.path.isfile(config_text):
        if os.path.isdir(config_text):
            raise IsADirectoryError(errno.EISDIR, "config_path: is a directory, expected a config file",
                                    config_text)
        raise FileNotFoundError(errno.ENOENT, "config_path: config file not found", config_text)
    _check_int("n_trials", n_trials, 1)
    _check_int("workers", workers, 1)
    _check_int("n_bars", n_bars, 2)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: must be an int, got {type(seed).__name__}")
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name: must be a non-empty str, got {study_name!r}")
    if not isinstance(workdir, (str, os.PathLike)):
        raise TypeError(f"workdir: must be a path, got {type(workdir).__name__}")
    folder = Path(workdir)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "workdir: not a directory", os.fspath(folder))
    return config_text, folder


def check_space(space: Any, grid_expansion: ModuleType) -> int:
    """Validate ``space`` (a stepped grid spec); return its number of points."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space: must be a non-empty dict of parameter specs, got {space!r}")
    size = int(grid_expansion.grid_size(space))  # its errors name spec[...]: empty list, step 0, ...
    for name, spec in space.items():
        if isinstance(spec, Mapping) and not strategy.is_range(spec):
            raise ValueError(f"space[{name!r}]: nested specs are not supported by the study")
    return size


def capped(n_trials: int, size: int) -> int:
    """``n_trials``, or the grid size with a warning when more trials than points are asked."""
    if n_trials > size:
        warnings.warn(f"n_trials={n_trials} exceeds the {size} points of the parameter space; "
                      f"capping to {size} trials", UserWarning, stacklevel=3)
        return size
    return n_trials


# -- storage ---------------------------------------------------------------------------------
def storage_spec(storage: Any, workdir: Path) -> str:
    """The storage as text: a URL (``://``) or the path of a journal file."""
    if storage is None:
        return os.fspath(workdir / JOURNAL_FILE)
    if isinstance(storage, (str, os.PathLike)) and not isinstance(storage, bytes):
        text = os.fspath(storage)
        if isinstance(text, str) and text:
            return text
    raise TypeError(f"storage: must be an Optuna storage URL or a journal file path, got {storage!r}")


def _masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(spec: str) -> Any:
    """An Optuna storage for ``spec``; failures become one-line :class:`StorageError`."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if "://" not in spec:
        try:
            return JournalStorage(JournalFileBackend(spec))
        except Exception as exc:
            raise StorageError(f"storage: cannot open journal file {spec!r}: {_one_line(exc)}") from None
    shown = _masked(spec)
    try:
        from sqlalchemy.engine import make_url

        backend = make_url(spec).get_backend_name()
    except Exception as exc:
        raise StorageError(f"storage: not a storage URL: {shown!r} ({_one_line(exc)})") from None
    engine_kwargs: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        # pre-ping: a pooled connection that a server restart killed is replaced, not used
        engine_kwargs.update(connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, pool_pre_ping=True)
    try:
        return optuna.storages.RDBStorage(spec, engine_kwargs=engine_kwargs)
    except Exception as exc:
        raise StorageError(f"storage: cannot open {shown!r}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def with_cause(exc: BaseException) -> str:
    """``Type: first line`` of ``exc``, and of its root cause when that is another exception."""
    def line(e: BaseException) -> str:
        text = next((part.strip() for part in str(e).splitlines() if part.strip()), "")
        return f"{type(e).__name__}: {text}" if text else type(e).__name__

    root = exc
    while (root.__cause__ or root.__context__) is not None:
        root = root.__cause__ or root.__context__
    return line(exc) if root is exc else f"{line(exc)} (cause: {line(root)})"


@contextlib.contextmanager
def quiet_optuna(level: Optional[int] = None) -> Iterator[None]:
    """Optuna's per-trial INFO lines off (or everything under ``level``) while a study runs
    (restored afterwards)."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING if level is None else level)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def dedup_location(spec: str, workdir: Path, study_name: str) -> tuple[str, str]:
    """Where the duplicate store lives and the prefix of its keys: the storage's own PostgreSQL
    server (keys ``"<study_name>/"``...) or the SQLite file ``workdir/dedup.sqlite`` (no prefix)."""
    from reference._dedup_pg import SCHEMES

    if spec.startswith(SCHEMES):
        return spec, f"{study_name}/"
    return os.fspath(workdir / GUARD_FILE), ""


def open_storage_in(spec: str, workdir: Path) -> Any:
    """Open the storage and create ``workdir``: a server first (an unreachable one leaves no
    folder behind), a journal file after its folder exists."""
    if "://" in spec:
        storage = open_storage(spec)
        workdir.mkdir(parents=True, exist_ok=True)
        return storage
    workdir.mkdir(parents=True, exist_ok=True)
    return open_storage(spec)


def load_or_create_study(storage: Any, study_name: str, seed: int) -> Any:
    import optuna

    return optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                               sampler=optuna.samplers.TPESampler(seed=seed), load_if_exists=True)


# -- trials ----------------------------------------------------------------------------------
def trial_record(trial: Any, params: dict, sig: str, value: float, duplicate: bool) -> dict:
    """The trial file of a finished trial (the ``trial_loading`` format)."""
    start = getattr(trial, "datetime_start", None)
    return {
        "number": trial.number,
        "params": params,
        "value": value,
        "state": "COMPLETE",
        "user_attrs": {"signature": sig, "duplicate": duplicate},
        "datetime_start": start.isoformat() if start else None,
        "datetime_complete": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
    }


def value_by_signature(trials: Mapping[str, dict], sig: str) -> Optional[float]:
    """The value of a complete trial file whose signature is ``sig`` (None when there is none)."""
    for record in trials.values():
        attrs = record.get("user_attrs") or {}
        if attrs.get("signature") == sig and record.get("state") == "COMPLETE" and record.get("value") is not None:
            return float(record["value"])
    return None


def values_by_signature(trials: Mapping[str, dict]) -> dict[str, float]:
    """``{signature: value}`` of every complete trial file."""
    out: dict[str, float] = {}
    for record in trials.values():
        sig = (record.get("user_attrs") or {}).get("signature")
        if isinstance(sig, str) and record.get("state") == "COMPLETE" and record.get("value") is not None:
            out.setdefault(sig, float(record["value"]))
    return out


class Tally:
    """Counters of one run and the records of its trials (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.duplicates = 0
        self.backtests = 0
        self.trials: list[dict] = []

    def count(self, number: int, params: dict, value: float, duplicate: bool, backtested: bool) -> None:
        with self.lock:
            self.duplicates += duplicate
            self.backtests += backtested
            self.trials.append({"number": number, "params": params, "value": value, "duplicate": duplicate,
                                "backtested": backtested})


def finish_report(study: Any, tally: Tally, *, n_trials: int, capped_from: Optional[int], started: float,
                  storage: str, study_name: str, space: Mapping[str, Any]) -> StudyReport:
    """The :class:`StudyReport` of a study after this call's trials."""
    import optuna

    best = study.best_trial
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return StudyReport(
        best_params=strategy.canonical_params(best.params, space),
        best_value=float(best.value),
        n_trials=n_trials,
        n_duplicates=tally.duplicates,
        n_backtests=tally.backtests,
        trials=sorted(tally.trials, key=lambda t: t["number"]),
        n_total_trials=len(complete),
        capped_from=capped_from,
        wall_s=time.perf_counter() - started,
        storage=storage,
        study_name=study_name,
    )


def progress_callbacks(progress: Optional[Progress], total: int) -> list:
    """Optuna callbacks reporting ``(done, total)`` to ``progress`` after each trial."""
    if progress is None:
        return []
    done = [0]
    lock = threading.Lock()

    def callback(study: Any, trial: Any) -> None:
        with lock:
            done[0] += 1
            progress(done[0], total)

    return [callback]


# -- the reference pipeline -------------------------------------------------------------------
class _Objective:
    """One trial: suggest, sign, check the store, backtest in a new process, save the trial file."""

    def __init__(self, modules: dict[str, ModuleType], config_path: str, workdir: Path,
                 space: Mapping[str, Any], settings: strategy.Settings, tally: Tally,
                 dedup: tuple[str, str]) -> None:
        self.modules = modules
        self.config_path = config_path
        self.space = space
        self.settings = settings
        self.tally = tally
        self.trials_dir = workdir / TRIALS_DIR
        self.results_dir = workdir / RESULTS_DIR
        self.market_path = workdir / MARKET_FILE
        location, self.key_prefix = dedup
        self.guard = modules["dedup_store"].NoDupeGuard(location)
        self.backtest_lock = threading.Lock()

    def close(self) -> None:
        self.guard.close()

    def __call__(self, trial: Any) -> float:
        m = self.modules
        params = strategy.canonical_params(strategy.suggest(trial, self.space), self.space)
        sig = m["param_signature"].param_signature(params)
        value: Optional[float] = None
        duplicate = self.guard.seen(self.key_prefix + sig)
        if duplicate:  # answer from the trial files, reloaded
            value = value_by_signature(m["trial_loading"].load_trials(self.trials_dir), sig)
        backtested = value is None
        if backtested:
            value = self.backtest(params, sig)
        m["trial_loading"].save_trial(self.trials_dir, trial_record(trial, params, sig, value, duplicate))
        self.guard.add(self.key_prefix + sig)
        self.tally.count(trial.number, params, value, duplicate, backtested)
        return value

    def backtest(self, params: dict, sig: str) -> float:
        """Run ``python -m reference._study_backtest`` and read the newest result file."""
        m = self.modules
        command = [sys.executable, "-m", "reference._study_backtest",
                   "--config", self.config_path, "--market", os.fspath(self.market_path),
                   "--results-dir", os.fspath(self.results_dir), "--params", json.dumps(params),
                   "--signature", sig]
        for name in SUBPROCESS_COMPONENTS:
            command += [f"--{name.replace('_', '-')}", m[name].__name__]
        with self.backtest_lock:
            done = subprocess.run(command, capture_output=True, text=True, env=_child_env())
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise RuntimeError(f"backtest of {params} failed (exit {done.returncode}): {tail}")
            path = m["results_lookup"].find_latest_result(self.results_dir, self.settings.symbol,
                                                          self.settings.timeframe)
            with open(path, encoding="utf-8") as fh:
                result = json.load(fh)
        if result.get("signature") != sig:
            raise RuntimeError(f"results_lookup: the newest result {os.fspath(path)!r} belongs to another "
                               f"trial (signature {result.get('signature')!r}, expected {sig!r})")
        return float(result["value"])


def _child_env() -> dict[str, str]:
    """The environment of a backtest process: this checkout first on the import path."""
    root = os.fspath(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def prepare_workdir(workdir: Path) -> None:
    for sub in (TRIALS_DIR, RESULTS_DIR):
        (workdir / sub).mkdir(parents=True, exist_ok=True)


def run_study(config_path: PathLike, *, n_trials: int, workdir: PathLike, seed: int = 0,
              storage: Optional[PathLike] = None, workers: int = 1,
              space: Optional[Mapping[str, Any]] = None, n_bars: int = strategy.DEFAULT_N_BARS,
              study_name: str = DEFAULT_STUDY_NAME,
              progress: Optional[Progress] = None) -> StudyReport:
    """Run ``n_trials`` trials of the backtest study, one subprocess per backtest (module doc)."""
    started = time.perf_counter()
    config_text, folder = check_arguments(config_path, n_trials, workdir, seed, workers, n_bars, study_name)
    modules = components_of("reference")
    space = dict(strategy.SPACE if space is None else space)
    size = check_space(space, modules["grid_expansion"])
    spec = storage_spec(storage, folder)
    settings = strategy.settings_from(modules["config_cache"].get_default_config(config_text))
    to_run = capped(n_trials, size)

    with quiet_optuna():
        study = load_or_create_study(open_storage_in(spec, folder), study_name, int(seed))
        prepare_workdir(folder)
        np.savez(folder / MARKET_FILE, **strategy.market_candles(n_bars)._asdict())
        resumed = modules["trial_loading"].load_trials(folder / TRIALS_DIR)  # the earlier trials
        tally = Tally()
        objective = _Objective(modules, config_text, folder, space, settings, tally,
                               dedup_location(spec, folder, study_name))
        try:
            study.optimize(objective, n_trials=to_run, n_jobs=workers,
                           callbacks=progress_callbacks(progress, to_run))
        finally:
            objective.close()
        report = finish_report(study, tally, n_trials=to_run,
                               capped_from=n_trials if to_run < n_trials else None, started=started,
                               storage=spec, study_name=study_name, space=space)
        report.n_resumed = len(resumed)
        return report
