"""Binance trade stream client against a local fake server (127.0.0.1 only, never the
real endpoint) that replays the shared BTCUSDT trades in Binance's message format."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from decimal import Decimal

import numpy as np
import pytest
from websockets.asyncio.server import serve

from apps.marketdata.feeds import (
    BinanceTradeStream,
    FeedFormatError,
    parse_trade_message,
)
from apps.marketdata.feeds.binance import stream_url
from apps.marketdata.ticks import BUY, SELL

from .shared_data import BINANCE_TRADES

NO_PROXY = {"proxy": None, "open_timeout": 2, "close_timeout": 1}


def load_trades():
    with open(BINANCE_TRADES, newline="") as fh:
        return list(csv.DictReader(fh))


def trade_message(row, symbol="BTCUSDT", trade_id=None):
    """One combined-stream frame exactly as Binance sends it (prices as 8-dp strings)."""
    return json.dumps(
        {
            "stream": f"{symbol.lower()}@trade",
            "data": {
                "e": "trade",
                "E": int(row["event_time_ms"]),
                "s": symbol,
                "t": int(trade_id if trade_id is not None else row["trade_id"]),
                "p": f"{Decimal(row['price']):.8f}",
                "q": f"{Decimal(row['qty']):.8f}",
                "T": int(row["trade_time_ms"]),
                "m": row["is_buyer_maker"] == "True",
                "M": True,
            },
        }
    )


class FakeBinance:
    """``websockets.serve`` on 127.0.0.1:0. ``script(connection_index, ws)`` decides what
    each connection gets; requested paths are recorded."""

    def __init__(self, script):
        self.script = script
        self.paths: list[str] = []
        self.closed = asyncio.Event()

    async def handler(self, ws):
        index = len(self.paths)
        self.paths.append(ws.request.path)
        try:
            await self.script(index, ws)
        finally:
            await ws.wait_closed()
            self.closed.set()

    async def __aenter__(self):
        self.server = await serve(self.handler, "127.0.0.1", 0).__aenter__()
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), 5)


class Collector:
    def __init__(self):
        self.batches = []

    async def __call__(self, symbol, batch):  # an async on_batch
        self.batches.append((symbol, batch))

    def column(self, name, symbol=None):
        parts = [getattr(b, name) for s, b in self.batches if symbol in (None, s)]
        return np.concatenate(parts) if parts else np.array([])


# ---------------------------------------------------------------------------- parsing


def test_it_parses_trade_messages_wrapped_or_bare():
    row = load_trades()[0]
    wrapped = json.loads(trade_message(row))
    trade = parse_trade_message(wrapped)
    assert trade == (
        "BTCUSDT",
        int(row["trade_time_ms"]) * 1_000_000,
        61837.63,
        0.02,
        SELL,  # is_buyer_maker True: the aggressor sold
        row["trade_id"],
    )
    bare = dict(wrapped["data"], m=False)
    assert parse_trade_message(bare).side == BUY
    assert parse_trade_message({"result": None, "id": 1}) is None
    assert parse_trade_message({"stream": "x@aggTrade", "data": {"e": "aggTrade"}}) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"p": "abc"}, "bad trade message"),
        ({"m": "false"}, "'m' must be a boolean"),
        ({"T": "1723161255342"}, "'T' must be integer milliseconds"),
        ({"t": None}, "'t' must be an integer trade id"),
    ],
)
def test_it_rejects_malformed_trades(change, message):
    data = json.loads(trade_message(load_trades()[0]))["data"]
    with pytest.raises(FeedFormatError, match=message):
        parse_trade_message(dict(data, **change))
    with pytest.raises(FeedFormatError, match="without 'q'"):
        parse_trade_message({k: v for k, v in data.items() if k != "q"})


def test_it_builds_the_combined_stream_url():
    assert (
        stream_url("ws://127.0.0.1:9/", ["BTCUSDT", "ethusdt"])
        == "ws://127.0.0.1:9/stream?streams=btcusdt@trade/ethusdt@trade"
    )
    with pytest.raises(ValueError, match="no symbols"):
        stream_url("ws://127.0.0.1:9", [])


def test_it_backs_off_exponentially_with_jitter():
    stream = BinanceTradeStream(
        "ws://127.0.0.1:9", ["BTCUSDT"], print, backoff_initial=0.5, backoff_max=8,
        rng=random.Random(1),
    )  # fmt: skip
    for attempt, ceiling in enumerate([0.5, 1, 2, 4, 8, 8]):
        delays = [stream.backoff_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


# ---------------------------------------------------------------------------- live client


def test_it_delivers_every_trade_exactly_once_across_forced_disconnects():
    rows = load_trades()
    n = len(rows)
    assert n == 9757

    async def script(index, ws):
        if index == 0:  # a graceful close from the server mid-stream
            for row in rows[:4000]:
                await ws.send(trade_message(row))
            await ws.close(1001, "going away")
        elif index == 1:  # reconnect: overlaps the last 50, then the TCP link just dies
            for row in rows[3950:6000]:
                await ws.send(trade_message(row))
            await asyncio.sleep(0.1)
            ws.transport.abort()
        else:  # replays from before the drop, then stays idle
            for row in rows[5000:]:
                await ws.send(trade_message(row))
            await ws.wait_closed()

    async def main():
        async with FakeBinance(script) as fake:
            collect = Collector()
            stream = BinanceTradeStream(
                fake.url,
                ["BTCUSDT"],
                collect,
                flush_interval=0.05,
                max_batch=500,
                max_messages=n,
                backoff_initial=0.05,
                connect_kwargs=NO_PROXY,
            )
            stats = await asyncio.wait_for(stream.run(), timeout=20)
            return fake, collect, stats

    fake, collect, stats = asyncio.run(main())
    assert fake.paths == ["/stream?streams=btcusdt@trade"] * 3
    assert stats.connections == 3 and stats.reconnects == 2
    assert stats.trades == n and stats.duplicates >= 50
    assert {s for s, _ in collect.batches} == {"BTCUSDT"}
    assert max(len(b) for _, b in collect.batches) <= 500

    ids = collect.column("trade_id").tolist()
    assert ids == [r["trade_id"] for r in rows]  # all, once, in order
    assert collect.column("side").tolist() == [
        SELL if r["is_buyer_maker"] == "True" else BUY for r in rows
    ]
    assert collect.column("price").tolist() == [float(r["price"]) for r in rows]
    assert collect.column("size").tolist() == [float(r["qty"]) for r in rows]
    assert collect.column("ts_ns").tolist() == [int(r["trade_time_ms"]) * 10**6 for r in rows]


def test_it_batches_per_symbol_and_accepts_a_plain_callback():
    rows = load_trades()[:300]

    async def script(index, ws):
        await ws.send(json.dumps({"result": None, "id": 1}))  # not a trade: ignored
        await ws.send("not json")  # logged and skipped
        for i, row in enumerate(rows):
            await ws.send(trade_message(row))
            await ws.send(trade_message(row, "ETHUSDT", trade_id=1_000_000 + i))
        await ws.wait_closed()

    batches = []

    def on_batch(symbol, batch):  # a plain function
        batches.append((symbol, batch))

    async def main():
        async with FakeBinance(script) as fake:
            stream = BinanceTradeStream(
                fake.url, ["BTCUSDT", "ETHUSDT"], on_batch, flush_interval=0.05, max_batch=64,
                max_messages=600, connect_kwargs=NO_PROXY,
            )  # fmt: skip
            stats = await asyncio.wait_for(stream.run(), timeout=10)
            return fake, stats

    fake, stats = asyncio.run(main())
    assert fake.paths == ["/stream?streams=btcusdt@trade/ethusdt@trade"]
    assert stats.trades == 600 and stats.bad_messages == 1 and stats.messages == 602
    assert all(0 < len(b) <= 64 for _, b in batches)
    eth = [i for s, b in batches if s == "ETHUSDT" for i in b.trade_id]
    btc = [i for s, b in batches if s == "BTCUSDT" for i in b.trade_id]
    assert eth == [str(1_000_000 + i) for i in range(300)]
    assert btc == [r["trade_id"] for r in rows]


def test_it_flushes_and_closes_cleanly_when_cancelled():
    rows = load_trades()[:25]

    async def script(index, ws):
        for row in rows:
            await ws.send(trade_message(row))
        await ws.wait_closed()

    async def main():
        async with FakeBinance(script) as fake:
            collect = Collector()
            stream = BinanceTradeStream(
                fake.url, ["BTCUSDT"], collect, flush_interval=30, max_batch=1000,
                connect_kwargs=NO_PROXY,
            )  # fmt: skip
            task = asyncio.create_task(stream.run())
            for _ in range(200):  # until all 25 are buffered (the flush interval is long)
                await asyncio.sleep(0.01)
                if stream.stats.trades == 25:
                    break
            assert collect.batches == []
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
            await asyncio.wait_for(fake.closed.wait(), 5)  # the server saw the close
            return collect

    collect = asyncio.run(main())
    assert len(collect.column("trade_id")) == 25  # buffered trades were delivered


def test_it_stops_after_a_time_limit_and_on_stop():
    async def idle(index, ws):
        await ws.wait_closed()

    async def main():
        async with FakeBinance(idle) as fake:
            loop = asyncio.get_running_loop()
            timed = BinanceTradeStream(
                fake.url, ["BTCUSDT"], Collector(), stop_after=0.3, connect_kwargs=NO_PROXY
            )
            started = loop.time()
            await asyncio.wait_for(timed.run(), 5)
            elapsed = loop.time() - started

            stopped = BinanceTradeStream(
                fake.url, ["BTCUSDT"], Collector(), connect_kwargs=NO_PROXY
            )
            loop.call_later(0.2, stopped.stop)
            stats = await asyncio.wait_for(stopped.run(), 5)
            return elapsed, stats

    elapsed, stats = asyncio.run(main())
    assert 0.25 <= elapsed < 3
    assert stats.connections == 1 and stats.trades == 0


def test_it_gives_up_after_max_reconnects_when_nothing_listens():
    async def main():
        async with FakeBinance(lambda i, ws: ws.wait_closed()) as fake:
            url = fake.url
        # the server is closed now: connections to its port are refused
        stream = BinanceTradeStream(
            url, ["BTCUSDT"], Collector(), backoff_initial=0.01, max_reconnects=2,
            connect_kwargs=NO_PROXY,
        )  # fmt: skip
        with pytest.raises(ConnectionError, match="gave up after 2 reconnects"):
            await asyncio.wait_for(stream.run(), 5)
        return stream.stats

    stats = asyncio.run(main())
    assert stats.connections == 0 and stats.reconnects == 2
    assert "refused" in stats.last_error.lower() or "errno" in stats.last_error.lower()
