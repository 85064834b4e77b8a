"""study: the whole pipeline on both sides (PEP 399: one contract, run against each module).

A reference trial is a new Python process (~0.5-1 s), so the studies here are tiny: small grids,
few trials, a short market. Storage scale-out (4 processes, PostgreSQL) is in test_study_storage.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import time
import warnings
from pathlib import Path
from types import ModuleType

import optuna
import pytest

from optimized import study as opt_mod
from pairbench.registry import NotEquivalent, PairbenchError, select
from reference import _strategy as strategy
from reference import grid_expansion
from reference import study as ref_mod
from reference.config_cache import Config, ConfigError

SIDES = [ref_mod, opt_mod]
N_BARS = 1500
TINY = {"fast": {"low": 4, "high": 8, "step": 2}, "slow": [20, 40], "stop": {"low": 0.02, "high": 0.03, "step": 0.01}}
ONE_POINT = {"fast": [6], "slow": [30], "stop": [0.02]}


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(Config().model_dump_json(), encoding="utf-8")
    return os.fspath(path)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_picks(space: dict, seed: int, n: int) -> list[dict]:
    """The first ``n`` (< 10: TPE's random start-up) points TPESampler(seed) picks in ``space``."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), direction="maximize")
    picks = []
    for _ in range(n):
        trial = study.ask()
        picks.append(strategy.canonical_params(strategy.suggest(trial, space), space))
        study.tell(trial, 0.0)
    return picks


def seed_with_repeats(space: dict, n: int) -> tuple[int, int]:
    """A sampler seed whose first ``n`` picks repeat a point, and how many distinct points they hold."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for seed in range(200):
        distinct = {json.dumps(p, sort_keys=True) for p in first_picks(space, seed, n)}
        if len(distinct) < n:
            return seed, len(distinct)
    raise AssertionError("no seed repeats a point")  # pragma: no cover


@pytest.mark.parametrize("mod", SIDES, ids=["reference", "optimized"])
class TestContract:
    """The same rules, run against each side."""

    def test_runs_and_reports(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        report = mod.run_study(config, n_trials=3, workdir=tmp_path / "w", seed=0, space=TINY, n_bars=N_BARS)
        assert report.n_trials == 3 and report.n_total_trials == 3 and report.capped_from is None
        assert [t["number"] for t in report.trials] == [0, 1, 2]
        best = max(report.trials, key=lambda t: t["value"])
        assert report.best_value == best["value"] and report.best_params == best["params"]
        assert report.n_backtests == 3 - report.n_duplicates
        assert len(list((tmp_path / "w" / "trials").glob("*.json"))) == 3
        assert len(list((tmp_path / "w" / "results").glob("*.json"))) == report.n_backtests
        grid = list(grid_expansion.expand_grid(TINY))
        assert all(t["params"] in grid for t in report.trials)  # exactly the grid's values

    def test_duplicates_counted_and_answered_from_the_store(self, mod: ModuleType, config: str,
                                                            tmp_path: Path) -> None:
        space = {"fast": [4, 6, 8], "slow": [20], "stop": [0.02]}
        seed, distinct = seed_with_repeats(space, 3)
        report = mod.run_study(config, n_trials=3, workdir=tmp_path / "w", seed=seed, space=space, n_bars=N_BARS)
        assert report.n_duplicates == 3 - distinct
        assert report.n_backtests == distinct < report.n_trials
        values = {json.dumps(t["params"], sort_keys=True): t["value"] for t in report.trials if not t["duplicate"]}
        for t in report.trials:  # a duplicate gets exactly the value its backtest gave
            assert t["value"] == values[json.dumps(t["params"], sort_keys=True)]

    def test_resume_continues_numbering_and_reuses_trials(self, mod: ModuleType, config: str,
                                                          tmp_path: Path) -> None:
        first = mod.run_study(config, n_trials=1, workdir=tmp_path / "w", space=ONE_POINT, n_bars=N_BARS)
        again = mod.run_study(config, n_trials=1, workdir=tmp_path / "w", space=ONE_POINT, n_bars=N_BARS)
        assert [t["number"] for t in again.trials] == [1]
        assert again.n_total_trials == 2 and again.n_resumed == 1
        assert again.n_duplicates == 1 and again.n_backtests == 0  # answered from the earlier trial
        assert again.best_value == first.best_value == again.trials[0]["value"]

    def test_capping_warns_naming_both_numbers(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        space = {"fast": [4, 6], "slow": [20], "stop": [0.02]}
        with pytest.warns(UserWarning, match=r"n_trials=5 .* 2 points"):
            report = mod.run_study(config, n_trials=5, workdir=tmp_path / "w", space=space, n_bars=N_BARS)
        assert report.n_trials == 2 and report.capped_from == 5

    def test_no_warning_within_the_grid(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report = mod.run_study(config, n_trials=1, workdir=tmp_path / "w", space=TINY, n_bars=N_BARS)
        assert report.capped_from is None

    def test_sqlite_url_storage(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'optuna.db'}"
        report = mod.run_study(config, n_trials=1, workdir=tmp_path / "w", storage=url, space=ONE_POINT,
                               n_bars=N_BARS, study_name="s1")
        assert report.storage == url
        assert len(optuna.load_study(study_name="s1", storage=url).trials) == 1

    # -- bad input: refused before anything is written -------------------------------------------
    def test_missing_config(self, mod: ModuleType, tmp_path: Path) -> None:
        missing = tmp_path / "nope.json"
        with pytest.raises(FileNotFoundError, match="config_path") as info:
            mod.run_study(missing, n_trials=1, workdir=tmp_path / "w")
        assert info.value.filename == os.fspath(missing)
        assert not (tmp_path / "w").exists()

    def test_malformed_config(self, mod: ModuleType, tmp_path: Path) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text('{"risk": {"max_leverage": -1}}', encoding="utf-8")
        with pytest.raises(ConfigError, match="max_leverage"):
            mod.run_study(bad, n_trials=1, workdir=tmp_path / "w")
        assert not (tmp_path / "w").exists()

    @pytest.mark.parametrize("kwargs, error, name", [
        ({"n_trials": 0}, ValueError, "n_trials"),
        ({"n_trials": -3}, ValueError, "n_trials"),
        ({"n_trials": 2.5}, TypeError, "n_trials"),
        ({"n_trials": True}, TypeError, "n_trials"),
        ({"workers": 0}, ValueError, "workers"),
        ({"workers": "2"}, TypeError, "workers"),
        ({"seed": "x"}, TypeError, "seed"),
        ({"n_bars": 1}, ValueError, "n_bars"),
        ({"storage": 42}, TypeError, "storage"),
        ({"space": {"fast": []}}, ValueError, "fast"),
        ({"space": {"fast": {"low": 2, "high": 8, "step": 0}}}, ValueError, "step"),
        ({"space": {"fast": {"low": 9, "high": 8, "step": 1}}}, ValueError, "low"),
        ({"space": {"fast": {"inner": [1, 2]}}}, ValueError, "nested"),
        ({"space": {}}, ValueError, "space"),
    ])
    def test_bad_arguments(self, mod: ModuleType, config: str, tmp_path: Path, kwargs: dict,
                           error: type, name: str) -> None:
        args = {"n_trials": 1, "workdir": tmp_path / "w", **kwargs}
        with pytest.raises(error, match=name):
            mod.run_study(config, **args)
        assert not (tmp_path / "w").exists()

    def test_workdir_that_is_a_file(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        with pytest.raises(NotADirectoryError, match="workdir"):
            mod.run_study(config, n_trials=1, workdir=config)

    def test_unreachable_storage_fails_fast_with_one_line(self, mod: ModuleType, config: str,
                                                          tmp_path: Path) -> None:
        url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{closed_port()}/nothing"
        start = time.perf_counter()
        with pytest.raises(mod.StorageError, match=r"^storage: cannot open") as info:
            mod.run_study(config, n_trials=1, workdir=tmp_path / "w", storage=url)
        assert time.perf_counter() - start < ref_mod.CONNECT_TIMEOUT_S + 5
        assert not (tmp_path / "w").exists()
        message = str(info.value)
        assert "\n" not in message and "secret" not in message and "127.0.0.1" in message

    def test_unknown_storage_scheme(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        with pytest.raises(mod.StorageError, match="storage"):
            mod.run_study(config, n_trials=1, workdir=tmp_path / "w", storage="nosuchdb://host/x")

    def test_unknown_component(self, mod: ModuleType, config: str, tmp_path: Path) -> None:
        from pairbench.pairs._study_cli import implementations

        pipeline = mod.__name__.split(".")[0]
        with pytest.raises(ValueError, match="components"):
            with implementations(pipeline, {"nope": "os"}):
                mod.run_study(config, n_trials=1, workdir=tmp_path / "w")


@pytest.mark.slow
def test_both_sides_reach_the_same_best_through_the_tpe_phase(config: str, tmp_path: Path) -> None:
    """12 trials: 10 random start-up trials, then TPE proper; duplicates included (12-point grid)."""
    reports = {}
    for mod in SIDES:
        with pytest.warns(UserWarning, match="capping"):
            reports[mod] = mod.run_study(config, n_trials=14, workdir=tmp_path / mod.__name__, seed=1,
                                         space=TINY, n_bars=N_BARS)
    ref, opt = reports[ref_mod], reports[opt_mod]
    assert ref.n_trials == opt.n_trials == 12
    assert opt.best_value == ref.best_value and opt.best_params == ref.best_params
    assert [(t["params"], t["value"], t["duplicate"]) for t in opt.trials] == \
        [(t["params"], t["value"], t["duplicate"]) for t in ref.trials]
    assert opt.n_duplicates == ref.n_duplicates > 0 and opt.n_backtests == ref.n_backtests


@pytest.mark.slow
def test_mixed_components_reach_the_same_best(config: str, tmp_path: Path) -> None:
    """The optimized pipeline with every reference component, and the reference one with the
    optimized tracker and lookup in its subprocess (what the ablation runs)."""
    from pairbench.pairs._study_cli import implementations

    base = opt_mod.run_study(config, n_trials=3, workdir=tmp_path / "a", seed=2, space=TINY, n_bars=N_BARS)
    with implementations("optimized", {name: f"reference.{name}" for name in ref_mod.COMPONENTS}):
        assert opt_mod.components_of("optimized")["trade_tracker"].__name__ == "reference.trade_tracker"
        persistent = opt_mod.run_study(config, n_trials=3, workdir=tmp_path / "b", seed=2, space=TINY,
                                       n_bars=N_BARS)
    assert opt_mod.components_of("optimized")["trade_tracker"].__name__ == "optimized.trade_tracker"
    with implementations("reference", {"trade_tracker": "optimized.trade_tracker",
                                       "results_lookup": "optimized.results_lookup"}):
        swapped = ref_mod.run_study(config, n_trials=3, workdir=tmp_path / "c", seed=2, space=TINY,
                                    n_bars=N_BARS)
    for other in (persistent, swapped):
        assert [t["value"] for t in other.trials] == [t["value"] for t in base.trials]


@pytest.mark.slow
def test_reference_with_worker_threads(config: str, tmp_path: Path) -> None:
    report = ref_mod.run_study(config, n_trials=3, workdir=tmp_path / "w", workers=2, space=TINY, n_bars=N_BARS)
    assert sorted(t["number"] for t in report.trials) == [0, 1, 2] and report.n_total_trials == 3


def test_optimized_pipeline_keeps_the_market_between_studies(config: str, tmp_path: Path) -> None:
    opt_mod.run_study(config, n_trials=1, workdir=tmp_path / "a", space=ONE_POINT, n_bars=N_BARS)
    candles = opt_mod.candles_for(N_BARS)
    opt_mod.run_study(config, n_trials=1, workdir=tmp_path / "b", space=ONE_POINT, n_bars=N_BARS)
    assert opt_mod.candles_for(N_BARS) is candles and not candles.close.flags.writeable


def test_shares_split_trials_evenly() -> None:
    assert opt_mod.shares(100, 4) == [25, 25, 25, 25]
    assert opt_mod.shares(7, 3) == [3, 2, 2]
    assert opt_mod.shares(2, 4) == [1, 1, 0, 0]


# -- strategy rules ------------------------------------------------------------------------------
def test_suggest_covers_exactly_the_grid() -> None:
    space = {"a": {"low": 0.015, "high": 0.05, "step": 0.01}, "b": {"low": 2, "high": 9.5, "step": 3},
             "c": ["x", None, 2.5], "d": 7}
    grid = list(grid_expansion.expand_grid(space))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(sampler=optuna.samplers.BruteForceSampler(seed=0))
    seen: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(strategy.canonical_params(strategy.suggest(trial, space), space))
        return 0.0

    study.optimize(objective)  # brute force stops once every point has been tried
    key = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    assert sorted(map(key, seen)) == sorted(map(key, grid))


def test_default_space_is_asked_without_optuna_adjusting_it() -> None:
    """Optuna warns (and drops the last value) when a stepped range is not divisible by its step."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = strategy.suggest(study.ask(), strategy.SPACE)
    assert set(params) == set(strategy.SPACE)
    assert grid_expansion.grid_size(strategy.SPACE) == 900


def test_positions_follow_the_stop_rule() -> None:
    import numpy as np

    close = np.array([10.0, 11, 12, 13, 14, 15, 14, 13, 12, 11])
    low = close * 0.999
    candles = strategy.Candles(close, close * 1.001, low)
    settings = strategy.Settings("S", "1h", 1000.0, 0.5, 0.0, 1.0, True)
    pos = strategy.positions(candles, {"fast": 1, "slow": 3, "stop": 0.05}, settings)
    assert np.all(pos[:2] == 0)  # no slow average yet
    assert np.all(pos[2:6] == 1000.0 / 12)  # long from bar 2's close
    assert np.all(pos[6:] == -1000.0 / 14)  # fast under slow from bar 6: short at 14, never stopped
    low[4] = 11.3  # a wick under 12 * (1 - 0.05): the long regime's stop
    stopped = strategy.positions(candles, {"fast": 1, "slow": 3, "stop": 0.05}, settings)
    assert np.all(stopped[2:4] == 1000.0 / 12) and np.all(stopped[4:6] == 0)  # flat until the regime ends
    assert np.all(stopped[6:] == -1000.0 / 14)
    no_short = strategy.positions(candles, {"fast": 1, "slow": 3, "stop": 0.5}, settings._replace(allow_short=False))
    assert np.all(no_short[2:6] == 1000.0 / 12) and np.all(no_short[6:] == 0)


# -- the pair ------------------------------------------------------------------------------------
def test_pair_registered_and_check_passes_on_its_workload() -> None:
    [pair] = select(["study"])
    assert pair.stateful and pair.reference == "reference.study" and pair.optimized == "optimized.study"
    with pair.workload(1, 0) as work:
        outputs = []
        for side in ("reference", "optimized"):
            bound = pair.bind_side(side, work.inputs)
            try:
                bound.reset()
                outputs.append(bound())
            finally:
                bound.close()
        pair.check(*outputs)
        with pytest.raises(NotEquivalent, match="best_value"):
            pair.check(outputs[0], dataclasses.replace(outputs[1], best_value=outputs[1].best_value + 1.0))
        with pytest.raises(NotEquivalent, match="best_params"):
            pair.check(outputs[0], dataclasses.replace(outputs[1], best_params={"fast": -1}))


# -- command line ----------------------------------------------------------------------------------
def test_study_main_prints_the_best_trial(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from pairbench.pairs._study_cli import study_main

    args = argparse.Namespace(impl="optimized", trials=2, storage=None, workers=1, workdir=str(tmp_path / "w"),
                              seed=0, config=None, bars=N_BARS, no_progress=True, study_name="named")
    assert study_main(args) == 0
    out = capsys.readouterr().out
    assert "best trial: value" in out and "2 trials" in out and "study 'named'" in out
    assert (tmp_path / "w" / "config.json").exists()


def test_study_main_storage_error_is_one_line(tmp_path: Path) -> None:
    from pairbench.pairs._study_cli import study_main

    args = argparse.Namespace(impl="optimized", trials=1, workers=1, workdir=str(tmp_path / "w"), seed=0,
                              storage=f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/x",
                              config=None, bars=N_BARS, no_progress=True)
    with pytest.raises(PairbenchError, match="^storage: cannot open"):
        study_main(args)


@pytest.mark.slow
def test_ablation_table(config: str, tmp_path: Path) -> None:
    from pairbench.pairs._study_cli import PERSISTENT, ablation, format_ablation

    rows = ablation(config, n_trials=1, workdir=tmp_path / "abl", seed=0, n_bars=N_BARS, warmup=False)
    swaps = [r["component"] for r in rows if r["mode"] == "swap"]
    reverts = [r["component"] for r in rows if r["mode"] == "revert"]
    assert swaps == reverts == [*ref_mod.COMPONENTS, PERSISTENT]
    assert [r["mode"] for r in rows].count("reference") == [r["mode"] for r in rows].count("optimized") == 1
    assert all(r["same_best"] for r in rows)
    assert rows[0]["mode"] == "reference" and rows[0]["share"] == 0.0
    assert next(r for r in rows if r["mode"] == "optimized")["share"] == 1.0
    table = format_ablation(rows, n_trials=1)
    assert all(name in table for name in ref_mod.COMPONENTS) and "share" in table and "lost" in table
