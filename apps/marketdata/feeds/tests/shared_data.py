"""Paths of the real market data in ../shared/data (read in place, never copied)."""

from pathlib import Path

DATA = Path(__file__).resolve().parents[4].parent / "shared" / "data"
ES_TRADES = DATA / "trades" / "cme_esu4_trades_20240701.csv"
BINANCE_TRADES = DATA / "trades" / "binance_btcusdt_spot_20240808.csv"
BARS = DATA / "bars"
