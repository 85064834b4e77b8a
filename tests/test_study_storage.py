"""study scale-out on Optuna's own storage: 4 worker processes x 25 trials, nothing lost.

Against a real PostgreSQL server and against the journal file. The ``postgres_url`` fixture
(``tests/conftest.py``) uses ``$PAIRBENCH_PG_URL`` when it is set (a SQLAlchemy URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/pairbench``); otherwise it starts a throwaway
cluster (:mod:`pairbench.pairs._pg_server`, fsync off) for the session and removes it at the end.
It skips only when no server can be had.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import optuna
import pytest

from optimized import study as opt_mod
from pairbench.pairs._pg_server import free_port
from reference.config_cache import Config
from reference.dedup_store import NoDupeGuard
from reference.param_signature import param_signature
from reference.study import open_storage

N_BARS = 300  # a cheap objective: the test is about the storage, not the backtest
WORKERS, PER_WORKER = 4, 25
SPACE_120 = {"fast": [4, 6, 8, 10, 12], "slow": [20, 30, 40, 50],
             "stop": {"low": 0.01, "high": 0.06, "step": 0.01}}  # 120 points: TPE repeats some


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(Config().model_dump_json(), encoding="utf-8")
    return os.fspath(path)


def assert_none_lost(storage: str, study_name: str, report, expected: int) -> None:
    """Exactly ``expected`` complete trials, numbered 0..expected-1 once each, all reported."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == expected
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(expected))
    assert report.n_trials == expected and report.n_total_trials == expected
    assert sorted(t["number"] for t in report.trials) == list(range(expected))
    assert report.n_backtests + report.n_duplicates >= expected  # a racing duplicate may be backtested
    assert report.best_value == max(t.value for t in trials)


def assert_each_point_evaluated_once_but_for_races(storage: str, study_name: str, report) -> None:
    """The rule of optimized._study_worker: one first trial per parameter set (the one that
    claimed its signature); a duplicate is backtested again only if it started before the first
    trial completed; every trial of a parameter set has the same value."""
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    groups: dict[str, list[dict]] = {}
    for trial in report.trials:
        groups.setdefault(json.dumps(trial["params"], sort_keys=True), []).append(trial)
    for key, trials in groups.items():
        firsts = [t for t in trials if not t["duplicate"]]
        assert len(firsts) == 1, f"{key}: {len(firsts)} first trials"
        assert firsts[0]["backtested"]
        assert len({t["value"] for t in trials}) == 1
        first_done = by_number[firsts[0]["number"]].datetime_complete
        for again in (t for t in trials if t["duplicate"] and t["backtested"]):
            assert by_number[again["number"]].datetime_start < first_done, \
                f"{key}: trial {again['number']} backtested a point completed before it started"


@pytest.mark.slow
def test_four_workers_on_postgresql(postgres_url: str, config: str, tmp_path: Path) -> None:
    """4 worker processes x 25 trials, Optuna storage and duplicate store on the same server:
    100 finished trials numbered once each, each parameter set evaluated once but for races."""
    name = f"scale-{uuid.uuid4().hex[:8]}"
    report = opt_mod.run_study(config, n_trials=WORKERS * PER_WORKER, workdir=tmp_path / "w",
                               storage=postgres_url, workers=WORKERS, n_bars=N_BARS, study_name=name,
                               space=SPACE_120)
    assert_none_lost(postgres_url, name, report, WORKERS * PER_WORKER)
    assert len(list((tmp_path / "w" / "trials").glob("*.json"))) == WORKERS * PER_WORKER
    assert report.n_duplicates > 0  # the small space makes TPE draw points again
    assert_each_point_evaluated_once_but_for_races(postgres_url, name, report)
    assert not (tmp_path / "w" / "dedup.sqlite").exists()  # the store is on the server
    with NoDupeGuard(postgres_url) as guard:
        keys = {key for key in guard if key.startswith(f"{name}/")}
    assert keys == {f"{name}/{param_signature(t['params'])}" for t in report.trials}


@pytest.mark.slow
def test_four_workers_on_the_journal_file(config: str, tmp_path: Path) -> None:
    report = opt_mod.run_study(config, n_trials=WORKERS * PER_WORKER, workdir=tmp_path / "w",
                               workers=WORKERS, n_bars=N_BARS)
    assert report.storage == os.fspath(tmp_path / "w" / "optuna-journal.log")
    assert_none_lost(report.storage, report.study_name, report, WORKERS * PER_WORKER)


@pytest.mark.slow
def test_workers_resume_on_postgresql(postgres_url: str, config: str, tmp_path: Path) -> None:
    """A second run with workers continues the numbering and reuses the first run's trials."""
    name = f"resume-{uuid.uuid4().hex[:8]}"
    space = {"fast": [4, 6], "slow": [20, 30], "stop": [0.02]}
    first = opt_mod.run_study(config, n_trials=4, workdir=tmp_path / "w", storage=postgres_url, workers=2,
                              n_bars=N_BARS, study_name=name, space=space)
    second = opt_mod.run_study(config, n_trials=4, workdir=tmp_path / "w", storage=postgres_url, workers=2,
                               n_bars=N_BARS, study_name=name, space=space)
    assert sorted(t["number"] for t in second.trials) == [4, 5, 6, 7]
    earlier = {json.dumps(t["params"], sort_keys=True): t["value"] for t in first.trials}
    assert second.n_resumed == 4  # the first run's trial files
    for trial in second.trials:  # a point of the first run is a duplicate, with the first run's value
        key = json.dumps(trial["params"], sort_keys=True)
        if key in earlier:
            assert trial["duplicate"] and trial["value"] == earlier[key]
    assert second.best_value >= first.best_value


def test_closed_postgres_port_is_a_quick_one_line_error(config: str, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/pairbench"
    with pytest.raises(opt_mod.StorageError, match="^storage: cannot open"):
        opt_mod.run_study(config, n_trials=4, workdir=tmp_path / "w", storage=url, workers=2)
