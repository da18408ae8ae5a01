"""Fixtures for market-data tests: symbols, feed keys and an HTTP client with a key."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from apps.accounts.services import feedkey_create
from apps.accounts.tests.factories import UserFactory
from apps.marketdata.services import symbol_upsert

MD = ["default", "marketdata"]


@pytest.fixture
def es(db):
    symbol, _ = symbol_upsert(
        symbol="ESU4",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        timezone="America/Chicago",
        session="17:00-16:00",
    )
    return symbol


@pytest.fixture
def btc(db):
    symbol, _ = symbol_upsert(
        symbol="BTCUSDT",
        exchange="BINANCE",
        asset_type="crypto",
        tick_size="0.01",
        timezone="UTC",
        session="00:00-00:00",
    )
    return symbol


@pytest.fixture
def feed_key(db):
    _, key = feedkey_create(name="test-feed")
    return key


@pytest.fixture
def reader(client):
    """The test client, logged in as a plain user (who may read public market data)."""
    client.force_login(UserFactory())
    return client


@pytest.fixture
def api(client, feed_key, redis_client):
    """POST JSON with the feed key."""

    def post(path: str, body, **headers):
        import orjson

        return client.post(
            path,
            orjson.dumps(body),
            content_type="application/json",
            HTTP_X_API_KEY=feed_key,
            **headers,
        )

    return post


def read_csv(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def es_trades(shared_data) -> list[dict]:
    return read_csv(shared_data / "trades" / "cme_esu4_trades_20240701.csv")


@pytest.fixture(scope="session")
def btc_trades(shared_data) -> list[dict]:
    return read_csv(shared_data / "trades" / "binance_btcusdt_spot_20240808.csv")


def es_columns(rows: list[dict]) -> dict:
    """The ES file as the column form of the ticks endpoint (N = unknown side)."""
    sides = {"B": "buy", "A": "sell", "N": None}
    return {
        "symbol": "ESU4",
        "ts": [int(r["ts_event_ns"]) for r in rows],
        "price": [float(r["price"]) for r in rows],
        "size": [float(r["size"]) for r in rows],
        "side": [sides[r["aggressor_side"]] for r in rows],
        # CME's sequence numbers a packet, not a trade: fills of one aggressor share it
        "id": [f"{r['sequence']}:{r['ts_event_ns']}" for r in rows],
    }


def btc_rows(rows: list[dict]) -> list[dict]:
    return [
        {
            "ts": int(r["trade_time_ms"]) * 1_000_000,
            "price": float(r["price"]),
            "size": float(r["qty"]),
            "side": "sell" if r["aggressor_side"] == "S" else "buy",
            "id": r["trade_id"],
        }
        for r in rows
    ]
