"""``python -m reference._study_backtest``: one trial's backtest in a fresh Python process.

The "before" of seeds 001/003: every trial pays a new interpreter, its imports, a config load
(``get_default_config``: read, validate, ``model_dump``), the market load, the trade tracker (the
pure-Python loop unless told otherwise), then writes a result file that the parent finds by glob.

Arguments: ``--config PATH --market FILE.npz --results-dir DIR --params JSON --signature SIG``
and the modules to use (``--config-cache``, ``--results-lookup``, ``--trade-tracker``; default
the reference ones: the ablation swaps one at a time). Exit status 0 on success, 2 on bad
arguments; any error is printed on stderr as one line.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Optional, Sequence

import numpy as np

from reference._strategy import Candles, backtest, settings_from


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference._study_backtest",
                                     description="Backtest one trial and write its result file.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--market", required=True, help=".npz with close, high, low")
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--params", required=True, help="the trial's parameters as JSON")
    parser.add_argument("--signature", required=True, help="the trial's parameter signature")
    parser.add_argument("--config-cache", default="reference.config_cache")
    parser.add_argument("--results-lookup", default="reference.results_lookup")
    parser.add_argument("--trade-tracker", default="reference.trade_tracker")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config_cache = importlib.import_module(args.config_cache)
        results_lookup = importlib.import_module(args.results_lookup)
        tracker = importlib.import_module(args.trade_tracker)
        settings = settings_from(config_cache.get_default_config(args.config))
        with np.load(args.market) as data:
            candles = Candles(data["close"], data["high"], data["low"])
        params = json.loads(args.params)
        value, payload = backtest(candles, params, settings, tracker.track_trades)
        payload["signature"] = args.signature
        results_lookup.write_result(args.results_dir, settings.symbol, settings.timeframe, payload)
    except Exception as exc:  # one line for the parent to show
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
