"""Publishing after commit, coalescing and seq, and the /ws/market/ consumer, on the real
Redis channel layer."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.tests.factories import UserFactory
from apps.marketdata import broadcast
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.helpers import connect_ws, ingest, receive_type
from apps.marketdata.ticks import TickBatch

pytestmark = pytest.mark.django_db(databases=MD, transaction=True)


def trades(start_ns: int, n: int, prefix: str, step_ns: int = 1_000_000) -> TickBatch:
    ts = [start_ns + i * step_ns for i in range(n)]
    return TickBatch.from_columns(
        ts,
        [100.0 + i % 3 for i in range(n)],
        [1.0] * n,
        [1 if i % 2 else -1 for i in range(n)],
        [f"{prefix}{i}" for i in range(n)],
    )


async def connect(user=None) -> WebsocketCommunicator:
    return await connect_ws("/ws/market/", user)


def test_it_delivers_coalesced_ticks_with_increasing_seq(redis_client):
    symbol = symbol_upsert(symbol="LIVE1", exchange="T", asset_type="crypto", tick_size="0.01")[0]
    user = UserFactory()

    async def scenario():
        comm = await connect(user)
        await comm.send_json_to({"action": "subscribe", "symbols": ["live1"], "timeframe": "1m"})
        assert (await receive_type(comm, "subscribed"))["symbols"] == ["LIVE1"]
        start = time.time_ns() - 10**9
        for i in range(5):  # five commits within well under 100 ms
            await ingest(symbol, trades(start + i * 10**7, 4, f"b{i}-"))
        first = await receive_type(comm, "tick")
        summary_total = first["data"]["summary"]["count"]
        seqs = [first["seq"]]
        while summary_total < 20:
            message = await receive_type(comm, "tick")
            seqs.append(message["seq"])
            summary_total += message["data"]["summary"]["count"]
        assert summary_total == 20
        assert len(seqs) < 5, "five commits inside 100 ms must be coalesced"
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert first["data"]["trades"]["p"][0] == 100.0
        await comm.send_json_to({"action": "ping"})
        assert (await receive_type(comm, "pong"))["type"] == "pong"
        await comm.send_json_to({"action": "unsubscribe", "symbols": ["LIVE1"]})
        await receive_type(comm, "unsubscribed")
        await ingest(symbol, trades(start + 10**9, 3, "after-"))
        await asyncio.sleep(0.4)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    asyncio.run(scenario())
    assert broadcast.flush()


def test_it_announces_bar_closes_for_the_subscribed_timeframe(redis_client):
    symbol = symbol_upsert(symbol="LIVE2", exchange="T", asset_type="crypto", tick_size="0.01")[0]

    async def scenario():
        comm = await connect(await sync_to_async(UserFactory)())
        await comm.send_json_to({"action": "subscribe", "symbols": ["LIVE2"], "timeframe": "1s"})
        await receive_type(comm, "subscribed")
        base = (time.time_ns() // 10**9 - 5) * 10**9
        await ingest(symbol, trades(base + 100_000_000, 2, "x"))
        await receive_type(comm, "tick")
        await asyncio.sleep(0.15)
        await ingest(symbol, trades(base + 1_200_000_000, 2, "y"))
        closed = await receive_type(comm, "bar")
        assert closed["data"] == {"time": base // 10**9, "closed": True}
        assert closed["timeframe"] == "1s"
        await comm.disconnect()

    asyncio.run(scenario())


def test_it_refuses_anonymous_and_private_subscriptions(redis_client, settings):
    symbol_upsert(
        symbol="PRIV", exchange="T", asset_type="stocks", tick_size="0.01", is_public=False
    )
    symbol_upsert(symbol="PUB", exchange="T", asset_type="stocks", tick_size="0.01")

    async def scenario():
        anon = await connect()
        await anon.send_json_to({"action": "subscribe", "symbols": ["PUB"]})
        assert (await receive_type(anon, "error"))["error_code"] == "not_authenticated"
        await anon.disconnect()

        user = await sync_to_async(UserFactory)()
        comm = await connect(user)
        await comm.send_json_to({"action": "subscribe", "symbols": ["PRIV", "NOPE"]})
        errors = [await receive_type(comm, "error"), await receive_type(comm, "error")]
        assert {e["error_code"] for e in errors} == {"unknown_symbol"}
        await comm.send_json_to({"action": "subscribe", "symbols": ["PUB"], "timeframe": "7m"})
        assert (await receive_type(comm, "error"))["error_code"] == "invalid_timeframe"
        await comm.send_json_to({"action": "dance"})
        assert (await receive_type(comm, "error"))["error_code"] == "invalid_action"
        await comm.disconnect()

    asyncio.run(scenario())
    settings.ALLOW_ANONYMOUS_MARKET_DATA = True

    async def anonymous_allowed():
        anon = await connect()
        await anon.send_json_to({"action": "subscribe", "symbols": ["PUB", "PRIV"]})
        assert (await receive_type(anon, "subscribed"))["symbols"] == ["PUB"]
        await anon.disconnect()

    asyncio.run(anonymous_allowed())


def test_it_authenticates_mobile_clients_with_a_jwt_message(redis_client):
    from rest_framework_simplejwt.tokens import AccessToken

    user = UserFactory()
    token = str(AccessToken.for_user(user))

    async def scenario():
        comm = await connect()
        await comm.send_json_to({"action": "auth", "token": token})
        assert (await receive_type(comm, "authenticated"))["user"] == user.username
        await comm.disconnect()
        bad = await connect()
        await bad.send_json_to({"action": "auth", "token": "not-a-jwt"})
        assert (await receive_type(bad, "error"))["error_code"] == "invalid_token"
        assert (await bad.receive_output(timeout=2))["type"] == "websocket.close"

    asyncio.run(scenario())
