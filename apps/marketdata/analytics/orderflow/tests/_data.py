"""Loaders for the real trade files in ../shared/data (never copied into the repo)."""

from __future__ import annotations

import csv
from collections import defaultdict
from functools import cache
from pathlib import Path

import numpy as np

from apps.marketdata.analytics.orderflow import footprint_from_trades, parse_sides

# tests -> orderflow -> analytics -> marketdata -> apps -> /work/main; shared/ sits beside it.
PROJECT_ROOT = Path(__file__).resolve().parents[5]
DATA = PROJECT_ROOT.parent / "shared" / "data"
ES_TRADES = DATA / "trades" / "cme_esu4_trades_20240701.csv"
ES_BARS = DATA / "bars" / "cme_es_nq_1m_20240701.csv"
BTC_TRADES = DATA / "trades" / "binance_btcusdt_spot_20240808.csv"


@cache
def es_trades() -> dict[str, np.ndarray]:
    with ES_TRADES.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "ts_ns": np.array([int(r["ts_event_ns"]) for r in rows], dtype=np.int64),
        "price": np.array([float(r["price"]) for r in rows]),
        "size": np.array([float(r["size"]) for r in rows]),
        "code": np.array([r["aggressor_side"] for r in rows]),
        "side": parse_sides([r["aggressor_side"] for r in rows]),
    }


@cache
def es_bars() -> dict[int, dict[str, float]]:
    """Databento's own ESU4 1-minute bars keyed by epoch seconds."""
    from datetime import datetime

    out = {}
    with ES_BARS.open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["symbol"] != "ESU4":
                continue
            t = int(datetime.fromisoformat(r["ts_event"]).timestamp())
            out[t] = {k: float(r[k]) for k in ("open", "high", "low", "close", "volume")}
    return out


@cache
def btc_trades() -> dict[str, np.ndarray]:
    with BTC_TRADES.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "ts_ns": np.array([int(r["trade_time_ms"]) * 1_000_000 for r in rows], dtype=np.int64),
        "price": np.array([float(r["price"]) for r in rows]),
        "size": np.array([float(r["qty"]) for r in rows]),
        "code": np.array([r["aggressor_side"] for r in rows]),
        "side": parse_sides([r["aggressor_side"] for r in rows]),
    }


def minute_rows(ts_ns, price, size, side, row_size) -> tuple[dict[str, list], dict]:
    """What the store keeps of trades: 1-minute footprint rows as columns (``bar_ts``,
    ``price``, ``bid_volume``, ``ask_volume``, ``trades``), and that 1-minute footprint."""
    fp = footprint_from_trades(ts_ns, price, size, side, timeframe=60, row_size=row_size)
    cols = defaultdict(list)
    for bar in fp["bars"]:
        for lv in bar["levels"]:
            cols["bar_ts"].append(bar["time"])
            for key in ("price", "bid_volume", "ask_volume", "trades"):
                cols[key].append(lv[key])
    return cols, fp
