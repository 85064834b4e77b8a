"""Pair ``study``: the whole pipeline end to end, an Optuna study of N backtest trials.

Reference: every trial a new ``python -m reference._study_backtest`` process (imports, config
load, market load, pure-Python trade tracker, result file found by glob), duplicates answered by
reloading the trial files. Optimized: persistent in-process worker, every optimized component,
duplicates answered from memory. Each timed call runs ``run_study`` on a fresh, empty workdir (the
``reset`` makes it, untimed), so every call runs the same N trials from trial 0; the check
compares the best value (1e-9 relative), the best parameters, the trial count and the duplicates.

A reference trial costs ~0.25-1 s (mostly the new interpreter's imports), so the sizes stay small
here; the 200-trial figure is ``pairbench run study --size 200 --samples 3`` (2-core VM, quiet:
33.1 s -> 1.61 s, 20.3x [20.3x, 20.8x]; under load 28.6x [23.9x, 33.5x]). Where the gain comes
from: ``pairbench.pairs._study_cli.ablation`` (nearly all of it is the persistent worker).
"""
from __future__ import annotations

import itertools
import os
import shutil
from types import ModuleType
from typing import Any

from pairbench.equivalence import assert_equivalent
from pairbench.registry import Bound, Pair, Workload

N_BARS = 20_000  # the market of every trial (hourly bars, a bit over two years)
_workdirs = itertools.count()


def workload(size: int, seed: int) -> Workload:
    """A default config file in a temporary folder; ``size`` trials, sampler seed ``seed``."""
    from reference.config_cache import Config

    def build(folder: str) -> dict:
        config = os.path.join(folder, "config.json")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write(Config().model_dump_json())
        return {"dir": folder, "config": config, "n_trials": size, "seed": seed, "n_bars": N_BARS}

    return Workload.in_scratch_folder("pairbench-study-", build,
                                      f"{size} trials, {N_BARS}-bar market, fresh workdir per call")


class _FreshStudy:
    """``run_study`` on a new, empty workdir each timed call (the reset makes it, untimed)."""

    def __init__(self, module: ModuleType, inputs: dict) -> None:
        self.module, self.inputs = module, inputs
        self.workdir: str | None = None

    def reset(self) -> None:
        self.close()
        self.workdir = os.path.join(self.inputs["dir"], f"{self.module.__name__}-{next(_workdirs)}")

    def call(self) -> Any:
        if self.workdir is None:
            self.reset()
        i = self.inputs
        return self.module.run_study(i["config"], n_trials=i["n_trials"], workdir=self.workdir,
                                     seed=i["seed"], n_bars=i["n_bars"])

    def close(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def bind(module: ModuleType, inputs: dict) -> Bound:
    study = _FreshStudy(module, inputs)
    return Bound(study.call, reset=study.reset, close=study.close)


def outcome(report: Any) -> dict:
    """What both sides must agree on."""
    return {"best_params": report.best_params, "n_trials": report.n_trials,
            "n_duplicates": report.n_duplicates}


def check(ref: Any, opt: Any) -> None:
    """Same best value (1e-9 relative), best parameters, trial count and duplicate count."""
    assert_equivalent(ref.best_value, opt.best_value, rtol=1e-9, what="best_value")
    assert_equivalent(outcome(ref), outcome(opt), what="study outcome")


# Sizes: a reference trial is a new interpreter (~0.25-0.5 s here), and the engine makes >= 6
# calls per side and size, so `run --quick` sweeps 1 and 2 trials (~10 s) and the full sweep tops
# out at 25 (past TPE's 10 random start-up trials). Floor: measured 35x [13x, 38x] at the gate
# size (2 trials: two interpreters against two in-process trials, both sides paying the same
# fsync'ed journal storage and study creation) on the loaded 2-core VM; 3x stays far below the
# interval's low end, and a swapped-in reference (1x) fails it.
PAIRS = [
    Pair(
        name="study",
        summary="N trials of an Optuna backtest study end to end: a subprocess per trial + reference "
                "components vs persistent worker + optimized components",
        reference="reference.study",
        optimized="optimized.study",
        workload=workload,
        bind=bind,
        check=check,
        sizes=(1, 2, 10, 25),
        default_size=25,
        quick_size=2,
        gate_size=2,
        floor=3.0,
        stateful=True,
        counting="walltime",
        counting_note="the reference runs a new Python process per trial, which callgrind does not follow",
        size_unit="trials",
        tags=("optuna", "subprocess", "end-to-end"),
    ),
]
