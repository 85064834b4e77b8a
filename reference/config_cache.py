"""Default-config loading, the naive way: read, validate and dump the whole file on every call.

This is the "before" of seed report 001 (``runner.py`` loading the default config for every trial)
and the specification that ``optimized.config_cache`` is held to.

``get_default_config(path) -> dict``
    Read the config file at ``path``, validate it into :class:`Config`, return
    ``Config.model_dump()`` (a new plain dict of plain dicts/lists/scalars; enum fields hold
    :class:`Timeframe` members). Every call reads and validates the file again, so the caller may
    mutate what it gets.

The file format follows the suffix: ``.toml`` (any case) is TOML read with :mod:`tomllib`; any
other suffix is JSON (UTF-8, or UTF-16/32 as detected by :func:`json.loads` on bytes; NaN and
Infinity tokens parse but fail validation, every float field is finite). ``Config().model_dump_json()``
is a valid config file; a field left out takes its default; an unknown field is an error.

Errors (both sides raise the same types; messages start with the argument's name):
- ``path`` not a ``str`` or ``os.PathLike[str]`` (bytes included): ``TypeError``;
- ``path`` empty or holding a NUL byte: ``ValueError``;
- no file at ``path`` (or a parent that isn't a directory): ``FileNotFoundError`` (``filename`` is
  the path);
- ``path`` a directory: ``IsADirectoryError``; another non-regular file (FIFO, device):
  ``ConfigError``; unreadable: the ``OSError`` of ``open`` (``PermissionError``...);
- malformed JSON/TOML: ``ConfigError`` (a ``ValueError``) naming the path, line and column;
- a value the schema refuses: ``ConfigError`` naming the path and each offending field as a dotted
  location (``risk.stop_loss.atr_multiple``, ``symbols[2].weight``, ``(root)`` for the document).

``thaw(cfg)`` returns a mutable deep copy (here simply ``copy.deepcopy``); ``clear_cache()`` is a
no-op (this side caches nothing). Both exist so the two sides share one API.
"""
from __future__ import annotations

import copy
import errno
import json
import os
import stat
import tomllib
from enum import Enum
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "Config", "ConfigError", "Timeframe", "get_default_config", "thaw", "clear_cache",
    "MetaConfig", "DataConfig", "FeaturesConfig", "StrategyConfig", "RegimeFilterConfig",
    "RiskConfig", "StopLossConfig", "TakeProfitConfig", "ExecutionConfig", "FeeConfig",
    "RetryConfig", "OptimizerConfig", "ParamRange", "BacktestConfig", "WalkForwardConfig",
    "MonteCarloConfig", "LoggingConfig", "OutputConfig", "SymbolConfig", "SymbolOverrides",
]


class ConfigError(ValueError):
    """A config file that cannot be parsed or does not match :class:`Config`."""


class Timeframe(str, Enum):
    """Bar timeframes the data layer knows."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"


class _Section(BaseModel):
    """Base of every section: unknown keys are errors, floats must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# -- sections ----------------------------------------------------------------------------------
class MetaConfig(_Section):
    name: str = "genesis-default"
    version: int = Field(3, ge=1)
    description: str = "Default configuration for the strategy optimiser"
    tags: list[str] = Field(default_factory=lambda: ["default", "crypto"])


class DataConfig(_Section):
    source: Literal["csv", "parquet", "ccxt", "sqlite"] = "parquet"
    data_dir: str = "data/candles"
    cache_dir: str = "data/cache"
    timeframe: Timeframe = Timeframe.H1
    start_date: str = "2021-01-01"
    end_date: str = "2024-12-31"
    timezone: str = "UTC"
    warmup_bars: int = Field(200, ge=0)
    max_gap_bars: int = Field(3, ge=0)
    fill_method: Literal["ffill", "drop", "interpolate"] = "ffill"
    adjust_splits: bool = False
    drop_weekends: bool = False
    min_volume: float = Field(0.0, ge=0)
    price_precision: int = Field(8, ge=0, le=18)
    volume_precision: int = Field(4, ge=0, le=18)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "DataConfig":
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date!r} is before start_date {self.start_date!r}")
        return self


class FeaturesConfig(_Section):
    ema_periods: list[int] = Field(default_factory=lambda: [8, 21, 55, 200])
    rsi_period: int = Field(14, ge=2)
    rsi_overbought: float = Field(70.0, gt=0, lt=100)
    rsi_oversold: float = Field(30.0, gt=0, lt=100)
    atr_period: int = Field(14, ge=1)
    bb_period: int = Field(20, ge=2)
    bb_std: float = Field(2.0, gt=0)
    macd_fast: int = Field(12, ge=1)
    macd_slow: int = Field(26, ge=2)
    macd_signal: int = Field(9, ge=1)
    volume_ma_period: int = Field(20, ge=1)
    normalize: bool = True
    normalization: Literal["zscore", "minmax", "robust", "none"] = "zscore"
    lookback_window: int = Field(96, ge=1)
    use_log_returns: bool = True
    lag_features: list[int] = Field(default_factory=lambda: [1, 2, 3, 5, 8])
    fractional_diff_d: float = Field(0.4, ge=0, le=1)

    @model_validator(mode="after")
    def _macd_fast_below_slow(self) -> "FeaturesConfig":
        if self.macd_fast >= self.macd_slow:
            raise ValueError(f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})")
        return self


class RegimeFilterConfig(_Section):
    enabled: bool = True
    method: Literal["adx", "volatility", "trend_slope", "hmm"] = "adx"
    lookback: int = Field(50, ge=1)
    threshold: float = 25.0
    allowed_regimes: list[str] = Field(default_factory=lambda: ["trending", "volatile"])


class StrategyConfig(_Section):
    name: str = "mean_reversion_v2"
    entry_threshold: float = 0.65
    exit_threshold: float = 0.35
    min_hold_bars: int = Field(2, ge=0)
    max_hold_bars: int = Field(96, ge=1)
    allow_short: bool = True
    position_sizing: Literal["fixed", "volatility", "kelly"] = "volatility"
    fixed_fraction: float = Field(0.1, gt=0, le=1)
    kelly_fraction: float = Field(0.25, gt=0, le=1)
    volatility_target: float = Field(0.15, gt=0)
    signal_smoothing: int = Field(3, ge=1)
    confirmation_bars: int = Field(1, ge=0)
    regime_filter: RegimeFilterConfig = Field(default_factory=RegimeFilterConfig)


class StopLossConfig(_Section):
    enabled: bool = True
    kind: Literal["fixed", "atr", "trailing"] = "atr"
    pct: float = Field(0.02, gt=0, lt=1)
    atr_multiple: float = Field(2.5, gt=0)
    trail_activation_pct: float = Field(0.01, ge=0)


class TakeProfitConfig(_Section):
    enabled: bool = True
    pct: float = Field(0.04, gt=0)
    reward_risk_ratio: float = Field(2.0, gt=0)
    partial_exit_fraction: float = Field(0.5, ge=0, le=1)


class RiskConfig(_Section):
    max_position_pct: float = Field(0.2, gt=0, le=1)
    max_leverage: float = Field(3.0, ge=1, le=100)
    max_drawdown_pct: float = Field(0.25, gt=0, le=1)
    daily_loss_limit_pct: float = Field(0.05, gt=0, le=1)
    max_open_trades: int = Field(5, ge=1)
    max_correlated_positions: int = Field(2, ge=1)
    risk_free_rate: float = 0.02
    var_confidence: float = Field(0.95, gt=0, lt=1)
    stop_loss: StopLossConfig = Field(default_factory=StopLossConfig)
    take_profit: TakeProfitConfig = Field(default_factory=TakeProfitConfig)


class FeeConfig(_Section):
    maker_bps: float = 2.0
    taker_bps: float = 5.5
    funding_rate_8h: float = 0.0001


class RetryConfig(_Section):
    max_attempts: int = Field(3, ge=1)
    backoff_s: float = Field(0.5, ge=0)
    backoff_factor: float = Field(2.0, ge=1)


class ExecutionConfig(_Section):
    exchange: str = "binance"
    order_type: Literal["market", "limit"] = "limit"
    slippage_bps: float = Field(3.0, ge=0)
    latency_ms: int = Field(120, ge=0)
    partial_fills: bool = True
    limit_offset_bps: float = 1.5
    min_order_size: float = Field(10.0, ge=0)
    lot_size: float = Field(0.001, gt=0)
    post_only: bool = False
    fees: FeeConfig = Field(default_factory=FeeConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)


class ParamRange(_Section):
    """One searched parameter: uniform (or log-uniform) on [low, high], optionally stepped."""

    low: float
    high: float
    step: Optional[float] = Field(None, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _low_below_high(self) -> "ParamRange":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


def _default_search_space() -> dict[str, ParamRange]:
    return {
        "strategy.entry_threshold": ParamRange(low=0.5, high=0.9, step=0.05),
        "strategy.exit_threshold": ParamRange(low=0.1, high=0.5, step=0.05),
        "risk.stop_loss.atr_multiple": ParamRange(low=1.0, high=4.0, step=0.25),
        "features.rsi_period": ParamRange(low=7, high=28, step=1),
        "risk.max_leverage": ParamRange(low=1.0, high=10.0, log=True),
    }


class OptimizerConfig(_Section):
    n_trials: int = Field(200, ge=1)
    timeout_s: Optional[int] = Field(None, ge=1)
    sampler: Literal["tpe", "random", "cmaes", "grid", "qmc"] = "tpe"
    pruner: Literal["median", "hyperband", "successive_halving", "none"] = "median"
    seed: int = 42
    n_jobs: int = Field(1, ge=1)
    direction: Literal["maximize", "minimize"] = "maximize"
    objective: Literal["sharpe", "sortino", "calmar", "total_return", "profit_factor"] = "sharpe"
    storage: Optional[str] = None
    study_name: str = "genesis"
    n_startup_trials: int = Field(20, ge=0)
    multivariate: bool = True
    min_trades: int = Field(30, ge=0)
    search_space: dict[str, ParamRange] = Field(default_factory=_default_search_space)


class WalkForwardConfig(_Section):
    enabled: bool = False
    train_bars: int = Field(2000, ge=1)
    test_bars: int = Field(500, ge=1)
    step_bars: int = Field(500, ge=1)
    anchored: bool = False


class MonteCarloConfig(_Section):
    enabled: bool = False
    n_runs: int = Field(1000, ge=1)
    block_size: int = Field(20, ge=1)
    confidence: float = Field(0.95, gt=0, lt=1)


class BacktestConfig(_Section):
    initial_capital: float = Field(10_000.0, gt=0)
    commission_pct: float = Field(0.00055, ge=0)
    benchmark: str = "BTC/USDT"
    compounding: bool = True
    reinvest_pct: float = Field(1.0, ge=0, le=1)
    close_open_at_end: bool = True
    walk_forward: WalkForwardConfig = Field(default_factory=WalkForwardConfig)
    monte_carlo: MonteCarloConfig = Field(default_factory=MonteCarloConfig)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    file: Optional[str] = None
    rotate_mb: int = Field(50, ge=1)
    backup_count: int = Field(5, ge=0)
    json_lines: bool = False
    log_trades: bool = False
    progress_bar: bool = True


class OutputConfig(_Section):
    results_dir: str = "results/backtests"
    save_trades: bool = True
    save_equity_curve: bool = True
    report_format: Literal["json", "html", "csv"] = "json"
    float_precision: int = Field(6, ge=0, le=17)


class SymbolOverrides(_Section):
    """Per-symbol values that replace the strategy/risk defaults (None: keep the default)."""

    entry_threshold: Optional[float] = None
    exit_threshold: Optional[float] = None
    max_position_pct: Optional[float] = Field(None, gt=0, le=1)
    max_leverage: Optional[float] = Field(None, ge=1, le=100)


class SymbolConfig(_Section):
    symbol: str = "BTC/USDT"
    exchange: str = "binance"
    timeframe: Timeframe = Timeframe.H1
    enabled: bool = True
    weight: float = Field(1.0, ge=0, le=1)
    min_notional: float = Field(10.0, ge=0)
    tick_size: float = Field(0.01, gt=0)
    lot_size: float = Field(0.00001, gt=0)
    max_spread_bps: float = Field(10.0, ge=0)
    session_hours: list[int] = Field(default_factory=lambda: list(range(24)))
    overrides: SymbolOverrides = Field(default_factory=SymbolOverrides)


class Config(_Section):
    """The whole optimiser configuration; every field has a default."""

    meta: MetaConfig = Field(default_factory=MetaConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    symbols: list[SymbolConfig] = Field(default_factory=lambda: [SymbolConfig()])


# -- loading -----------------------------------------------------------------------------------
def check_path(path: Any) -> str:
    """``path`` as a ``str``, or the ``TypeError``/``ValueError`` the API promises for it."""
    if isinstance(path, str):
        text = path
    elif isinstance(path, os.PathLike):
        text = os.fspath(path)
        if not isinstance(text, str):
            raise TypeError(f"path: expected str or os.PathLike[str], got a PathLike of {type(text).__name__}")
    else:
        raise TypeError(f"path: expected str or os.PathLike[str], got {type(path).__name__}")
    if not text:
        raise ValueError("path: must not be empty")
    if "\0" in text:
        raise ValueError(f"path: contains a NUL byte: {text!r}")
    return text


def not_found(path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, "path: config file not found", path)


def check_regular(path: str, mode: int) -> None:
    """Refuse a directory or another non-regular file at ``path``."""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "path: is a directory, expected a config file", path)
    if not stat.S_ISREG(mode):
        raise ConfigError(f"path: {path!r} is not a regular file")


def is_toml(path: str) -> bool:
    return os.path.splitext(path)[1].lower() == ".toml"


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def schema_error(path: str, exc: ValidationError) -> ConfigError:
    """A :class:`ConfigError` naming the path and every field the schema refused."""
    problems = [f"{_location(e['loc'])}: {e['msg']} (got {e.get('input')!r:.60})" for e in exc.errors()]
    return ConfigError(f"path: {path!r}: invalid config, {len(problems)} error(s): " + "; ".join(problems))


def parse(path: str, raw: bytes) -> Config:
    """Parse and validate the bytes of the config file ``path`` (the format from its suffix)."""
    try:
        if is_toml(path):
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"path: {path!r}: malformed JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"path: {path!r}: malformed TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"path: {path!r}: not valid text at byte {exc.start}: {exc.reason}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise schema_error(path, exc) from exc


def get_default_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, validate and dump the config at ``path``; a new plain dict every call."""
    text = check_path(path)
    try:
        mode = os.stat(text).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise not_found(text) from None
    check_regular(text, mode)
    with open(text, "rb") as fh:
        raw = fh.read()
    return parse(text, raw).model_dump()


def thaw(cfg: Any) -> Any:
    """A mutable deep copy of a config returned by :func:`get_default_config`."""
    return copy.deepcopy(cfg)


def clear_cache() -> None:
    """Nothing to clear: this side reads the file on every call."""
