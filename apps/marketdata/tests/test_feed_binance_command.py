"""``manage.py feed binance`` against a local fake Binance server (127.0.0.1 only) that
sends the shared BTCUSDT trades in Binance's combined-stream format."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.marketdata.feeds.tests.test_binance import FakeBinance, load_trades, trade_message
from apps.marketdata.models import Symbol
from apps.marketdata.store.db import connection
from apps.marketdata.tests.conftest import MD

pytestmark = pytest.mark.django_db(databases=MD)


@contextmanager
def fake_binance(script):
    """The feeds tests' fake server on its own thread and event loop (the command runs
    its stream on another loop, in the test's thread)."""
    ready = threading.Event()
    box: dict = {}

    async def main():
        box["stop"] = asyncio.Event()
        async with FakeBinance(script) as fake:
            box["fake"], box["loop"] = fake, asyncio.get_running_loop()
            ready.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5), "the fake server did not start"
    try:
        yield box["fake"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


def feed(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("feed", "binance", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored(symbol_id: int) -> tuple:
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(size), 0), count(*) FILTER (WHERE side = -1), "
            "count(*) FILTER (WHERE side = 1), count(*) FILTER (WHERE inferred) "
            "FROM md_ticks WHERE symbol_id = %s",
            [symbol_id],
        )
        n, volume, sells, buys, inferred = cursor.fetchone()
    return n, round(volume, 8), sells, buys, inferred


def test_it_ingests_binance_trades_across_a_reconnect(btc):
    rows = load_trades()
    btc_rows, eth_rows = rows[:150], rows[150:200]
    future = dict(rows[200], trade_time_ms=str(int(time.time() * 1000) + 2 * 86_400_000))

    async def script(index, ws):
        if index == 0:
            for row in btc_rows[:100]:
                await ws.send(trade_message(row))
            await ws.send("not json")
            await ws.close(1001, "going away")
        else:  # the reconnect overlaps the last 20 trades (skipped by id)
            for row in btc_rows[80:]:
                await ws.send(trade_message(row))
            await ws.send(trade_message(future))  # a clock far ahead: dropped, not fatal
            await ws.send(json.dumps({"result": None, "id": 1}))
            for row in eth_rows:
                await ws.send(trade_message(row, symbol="ETHUSDT"))

    with fake_binance(script) as fake:
        out, err = feed(
            "btcusdt", "ETHUSDT", "--url", fake.url, "--create", "--max-messages", "201",
            "--duration", "8", "--flush-interval", "0.05",
        )  # fmt: skip
    assert fake.paths == ["/stream?streams=btcusdt@trade/ethusdt@trade"] * 2

    eth = Symbol.objects.get(symbol="ETHUSDT", exchange="BINANCE")
    assert eth.asset_type == "crypto" and str(eth.tick_size.normalize()) == "0.01"
    assert "created ETHUSDT on BINANCE" in out
    for symbol_id, sent in ((btc.id, btc_rows), (eth.id, eth_rows)):
        sells = sum(r["is_buyer_maker"] == "True" for r in sent)  # the buyer rested: a sale
        volume = round(sum(float(r["qty"]) for r in sent), 8)
        assert stored(symbol_id) == (len(sent), volume, sells, len(sent) - sells, 0)
    assert "201 trades received over 2 connection(s)" in out
    assert "20 repeated ids skipped, 1 bad messages, 1 reconnects" in out
    assert "200 stored, 0 already present, 1 invalid dropped" in out
    assert "more than 1 day in the future" in err


def test_it_stops_after_the_duration(btc):
    rows = load_trades()[:5]

    async def script(index, ws):
        for row in rows:
            await ws.send(trade_message(row))
        await ws.wait_closed()  # then silence

    with fake_binance(script) as fake:
        started = time.monotonic()
        out, _ = feed("BTCUSDT", "--url", fake.url, "--duration", "1")
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5
    assert stored(btc.id)[0] == 5
    assert "5 stored" in out


def test_it_stops_cleanly_on_sigint(btc):
    rows = load_trades()[:5]

    async def script(index, ws):
        for row in rows:
            await ws.send(trade_message(row))
        await ws.wait_closed()

    def ignore(*_):  # never let the signal interrupt pytest itself
        pass

    previous = signal.signal(signal.SIGINT, ignore)
    try:
        with fake_binance(script) as fake:
            timer = threading.Timer(0.7, os.kill, (os.getpid(), signal.SIGINT))
            started = time.monotonic()
            timer.start()
            out, _ = feed("BTCUSDT", "--url", fake.url, "--duration", "10")
            elapsed = time.monotonic() - started
            timer.join()
        assert signal.getsignal(signal.SIGINT) is ignore
    finally:
        signal.signal(signal.SIGINT, previous)
    assert elapsed < 3 and stored(btc.id)[0] == 5 and "5 stored" in out


def test_it_needs_known_symbols_and_a_websocket_url(btc):
    with pytest.raises(CommandError, match=r"unknown symbol 'ETHUSDT'.*--create"):
        feed("BTCUSDT", "ETHUSDT", "--url", "ws://127.0.0.1:9")
    assert not Symbol.objects.filter(symbol="ETHUSDT").exists()
    with pytest.raises(CommandError, match="must be a ws:// or wss:// URL"):
        feed("BTCUSDT", "--url", "http://127.0.0.1:9")
    with pytest.raises(CommandError, match="gave up after 1 reconnects"):
        feed("BTCUSDT", "--url", "ws://127.0.0.1:9", "--max-reconnects", "1", "--duration", "5")
