"""The per-process live hub: one Redis subscription per symbol however many clients, the
same bytes to every client, cleanup, and isolation from bad messages, on real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from apps.accounts.tests.factories import UserFactory
from apps.marketdata import broadcast, live_hub
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.helpers import close_db, connect_ws, ingest, receive_type
from apps.marketdata.tests.test_live import trades

pytestmark = pytest.mark.django_db(databases=MD, transaction=True)


def numsub(redis_client, symbol: str) -> int:
    ((_, count),) = redis_client.pubsub_numsub(live_hub.channel_for(symbol))
    return count


def test_many_clients_share_one_subscription_and_get_the_same_bytes(redis_client):
    symbol = symbol_upsert(symbol="HUB1", exchange="T", asset_type="crypto", tick_size="0.01")[0]

    async def scenario():
        user = await sync_to_async(UserFactory)()
        comms = [await connect_ws("/ws/market/", user) for _ in range(3)]
        for comm in comms:
            await comm.send_json_to({"action": "subscribe", "symbols": ["HUB1"]})
            await receive_type(comm, "subscribed")
        assert numsub(redis_client, "HUB1") == 1  # one pub/sub subscription for all three

        # a malformed message on the channel is dropped; the next real one still arrives
        redis_client.publish(live_hub.channel_for("HUB1"), b"not json")
        await ingest(symbol, trades(time.time_ns() - 10**9, 3, "hub-"))
        texts = [await comm.receive_from(timeout=3) for comm in comms]
        assert len(set(texts)) == 1 and '"type":"tick"' in texts[0]
        assert '"count":3' in texts[0]

        await comms[0].disconnect()
        assert numsub(redis_client, "HUB1") == 1  # the others still listen
        for comm in comms[1:]:
            await comm.send_json_to({"action": "unsubscribe", "symbols": ["HUB1"]})
            await receive_type(comm, "unsubscribed")
        assert numsub(redis_client, "HUB1") == 0  # the last one out unsubscribes
        for comm in comms[1:]:
            await comm.disconnect()
        await close_db()

    asyncio.run(scenario())
    assert broadcast.flush()


def test_channels_are_namespaced_by_redis_database(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/3"
    assert live_hub.channel_for("es") == "tf:3:live:ES"
    settings.REDIS_URL = "unix:///tmp/redis.sock?db=5"
    assert live_hub.channel_for("ES") == "tf:5:live:ES"
