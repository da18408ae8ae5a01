"""Fixtures for the chart tests: users of several tiers, symbols, API clients, and
``live_stack``: the real app (HTTP + WebSockets) in a daphne subprocess on the test
databases, for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest

from apps.accounts.services import feedkey_create
from apps.accounts.tests.factories import UserFactory
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import es_columns, read_csv

ROOT = Path(__file__).resolve().parents[3]
MD = ["default", "marketdata"]


def page_html(response) -> str:
    """The HTML of a page response. The chart pages stream theirs (apps/charts/streaming.py),
    which can be read only once: kept on the response for the next call."""
    if response.streaming:
        if not hasattr(response, "read_once"):
            response.read_once = b"".join(response.streaming_content).decode()
        return response.read_once
    return response.content.decode()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", subscription_tier="plus")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", subscription_tier="plus")


@pytest.fixture
def free_user(db):
    return UserFactory(username="frugal", subscription_tier="free")


@pytest.fixture
def es(db):
    return symbol_upsert(
        symbol="ESZ5",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        timezone="America/Chicago",
        session="17:00-16:00",
    )[0]


@pytest.fixture
def btc(db):
    return symbol_upsert(
        symbol="BTCUSD", exchange="SIM", asset_type="crypto", tick_size="0.01", is_simulated=True
    )[0]


@pytest.fixture
def hidden_symbol(db):
    return symbol_upsert(
        symbol="SECRET", exchange="X", asset_type="stocks", tick_size="0.01", is_public=False
    )[0]


@pytest.fixture
def api_as(client):
    """``api_as(user)``: a DRF APIClient authenticated with a JWT (the mobile way)."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user):
        api = APIClient()
        token = RefreshToken.for_user(user).access_token
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api

    return make


@pytest.fixture
def es_market(live_stack, shared_data):
    """The real ES trades of the shared data set (2024-07-01 23:58-00:02 UTC) ingested into
    the live stack as ESU4; returns the feed key."""
    _, key = feedkey_create(name="of-feed")
    symbol_upsert(
        symbol="ESU4",
        exchange="CME",
        asset_type="futures",
        tick_size="0.25",
        name="E-mini S&P 500 Sep 2024",
        timezone="America/Chicago",
        session="17:00-16:00",
    )
    rows = read_csv(shared_data / "trades" / "cme_esu4_trades_20240701.csv")
    status, payload = live_stack.post_json(
        "/api/v1/market-data/ticks", orjson.dumps(es_columns(rows)), {"X-API-Key": key}
    )
    assert status == 200, payload
    return key


def layout(*panes, grid=None) -> dict:
    """A layout_config from (symbol, timeframe) pairs."""
    return {
        "grid": grid or len(panes),
        "active": 0,
        "panes": [{"symbol": s, "timeframe": tf, "chart_type": "candles"} for s, tf in panes],
    }


# --- the live stack ----------------------------------------------------------------------


def _db_url(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    scheme = {"django.db.backends.mysql": "mysql"}.get(engine, "postgresql")
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    return (
        f"{scheme}://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:"
        f"{settings_dict.get('PORT')}/{settings_dict['NAME']}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveStack:
    url: str
    port: int
    pid: int

    def post_json(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            self.url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture
def live_stack(transactional_db, redis_client, settings):
    """daphne serving the app (HTTP and /ws/) on a free loopback port, on the test databases.

    Runs ``apps.charts.asgi_static:application``: ``tradeflow.asgi.application`` plus the
    static files (tradeflow/asgi.py serves none, and the chart page needs its JS).
    """
    from django.db import connections

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFLOW_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tradeflow.settings",
        TRADEFLOW_DATABASE_URL=_db_url(connections["default"].settings_dict),
        TRADEFLOW_MARKETDATA_URL=_db_url(connections["marketdata"].settings_dict),
        TRADEFLOW_REDIS_URL=settings.REDIS_URL,
        TRADEFLOW_LOGIN_THROTTLE="false",
        TRADEFLOW_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    port = _free_port()
    logs = ROOT / "var" / "test-artifacts"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / "live_stack.log", "w")  # noqa: SIM115 - closed below (kept for failures)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "apps.charts.asgi_static:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/accounts/login/", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not answer within 60 s")
            time.sleep(0.25)
        yield LiveStack(url=url, port=port, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
