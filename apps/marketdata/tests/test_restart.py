"""Fault test: PostgreSQL restarts in the middle of a bounded ingest loop. A client that
honours Retry-After (and retries on dropped connections) ends with every trade stored
exactly once: nothing lost, nothing duplicated.

Two faults: a fast restart racing the requests in flight (whatever it hits), then a stop
that the client certainly meets (503 + Retry-After) before PostgreSQL comes back."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg
import pytest
from django.db import connections

from apps.accounts.services import feedkey_create
from apps.marketdata.services import symbol_upsert

ROOT = Path(__file__).resolve().parents[3]
BATCHES, PER_BATCH = 40, 250

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: bytes, key: str) -> tuple[int, dict, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            "/api/v1/market-data/ticks",
            body,
            {"Content-Type": "application/json", "X-API-Key": key},
        )
        response = conn.getresponse()
        payload = response.read()
        retry = int(response.getheader("Retry-After") or 0)
        return response.status, orjson.loads(payload) if payload else {}, retry
    finally:
        conn.close()


def test_it_loses_and_duplicates_nothing_across_a_postgres_restart(tmp_path, redis_client):
    symbol_upsert(symbol="RST", exchange="T", asset_type="crypto", tick_size="0.01")
    _, key = feedkey_create(name="restart")
    default = connections["default"].settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFLOW_")}
    env |= {
        "TRADEFLOW_VAR_DIR": str(tmp_path / "var"),
        "TRADEFLOW_DATABASE_URL": (
            f"mysql://{default['USER']}@{default['HOST']}:{default['PORT']}/{default['NAME']}"
        ),
        "TRADEFLOW_REDIS_URL": os.environ.get("TRADEFLOW_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "TRADEFLOW_LOG_LEVEL": "ERROR",
    }

    def run(*args):
        subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )

    run("-m", "tradeflow.embedded", "up")  # a private PostgreSQL we may restart
    port = _free_port()
    server = None
    try:
        from tradeflow import embedded

        os.environ["TRADEFLOW_VAR_DIR"] = env["TRADEFLOW_VAR_DIR"]
        try:
            pg_host = str(embedded.runtime_dir())
        finally:
            del os.environ["TRADEFLOW_VAR_DIR"]
        run("manage.py", "migrate_marketdata")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
                "--worker-class",
                "gthread",
                "--log-level",
                "error",
                "tradeflow.wsgi:application",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)

        statuses: list[int] = []
        sent_sizes = 0.0
        stopped = False
        for batch in range(BATCHES):
            ids = [f"b{batch}-{i}" for i in range(PER_BATCH)]
            sizes = [float(1 + (batch * PER_BATCH + i) % 7) for i in range(PER_BATCH)]
            start_ns = 1_700_000_000 * 10**9 + batch * PER_BATCH * 10**7
            body = orjson.dumps(
                {
                    "symbol": "RST",
                    "id": ids,
                    "size": sizes,
                    "ts": [start_ns + i * 10**7 for i in range(PER_BATCH)],
                    "price": [100.0 + i % 5 for i in range(PER_BATCH)],
                    "side": ["buy" if i % 2 else "sell" for i in range(PER_BATCH)],
                }
            )
            sent_sizes += sum(sizes)
            if batch == BATCHES // 3:
                restart = subprocess.Popen(
                    [sys.executable, "-m", "tradeflow.embedded", "restart-postgres"],
                    cwd=ROOT,
                    env=env,
                )
            if batch == 2 * BATCHES // 3:
                restart.wait(timeout=60)
                run("-m", "tradeflow.embedded", "stop-postgres")
                stopped = True
            for _attempt in range(60):  # bounded retries
                try:
                    status, _, retry = _post(port, body, key)
                except (ConnectionError, http.client.HTTPException, OSError):
                    status, retry = -1, 1
                statuses.append(status)
                if status == 200:
                    break
                assert status in (503, -1), (batch, status)
                if stopped:  # the client has met the outage: bring PostgreSQL back
                    run("-m", "tradeflow.embedded", "up")
                    stopped = False
                time.sleep(min(retry or 1, 3))
            else:
                pytest.fail("the server never recovered")
        assert restart.returncode == 0
        assert 503 in statuses  # the outage was met, answered 503, and retried

        with psycopg.connect(host=pg_host, user="postgres", dbname="tradeflow_md") as conn:
            count, distinct, total = conn.execute(
                "SELECT count(*), count(DISTINCT trade_id), sum(size) FROM md_ticks"
            ).fetchone()
            bar_volume = conn.execute("SELECT sum(volume) FROM md_bars WHERE res = 60").fetchone()[
                0
            ]
        assert count == distinct == BATCHES * PER_BATCH
        assert total == pytest.approx(sent_sizes)
        assert bar_volume == pytest.approx(sent_sizes)  # rollups lost nothing either
        assert statuses.count(200) == BATCHES
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        run("-m", "tradeflow.embedded", "down")
