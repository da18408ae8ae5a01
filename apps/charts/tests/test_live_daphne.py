"""``/ws/market/`` on the real daphne, as browsers use it (session cookie, origin check):
every client gets the same broadcast bytes, written as pre-built frames
(``tradeflow.ws_direct``), in ``seq`` order, and a bar-close announcement (sent through
ASGI) arrives between the last trade of the old bar and the first of the new one."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from websockets.asyncio.client import connect

from apps.accounts.services import feedkey_create
from apps.accounts.tests.factories import UserFactory, session_key_for
from apps.charts.tests.conftest import MD
from apps.charts.tests.test_browser import make_symbol, post_ticks

pytestmark = pytest.mark.django_db(databases=MD, transaction=True)

NS = 1_000_000_000
CLIENTS = 40


def test_many_browsers_get_the_same_frames_in_order(live_stack):
    _, key = feedkey_create(name="daphne-feed")
    make_symbol("DAPH", 100.0)
    cookie = {"Cookie": f"sessionid={session_key_for(UserFactory())}"}
    minute = (time.time_ns() // (60 * NS) - 3) * 60 * NS
    # three messages in one minute (apart by more than the 100 ms coalescing), then one in
    # the next minute, which closes the first bar
    posts = [[(minute + k * NS, 100 + k, 1.0, "buy")] for k in range(3)]
    posts.append([(minute + 61 * NS, 105.0, 2.0, "sell")])

    async def client(ready: asyncio.Event, gate: asyncio.Event, out: list):
        async with connect(
            f"ws://127.0.0.1:{live_stack.port}/ws/market/",
            additional_headers=cookie,
            origin=f"http://127.0.0.1:{live_stack.port}",
        ) as ws:
            await ws.send(orjson.dumps({"action": "subscribe", "symbols": ["DAPH"]}).decode())
            assert orjson.loads(await ws.recv())["type"] == "subscribed"
            ready.set()
            await gate.wait()
            while len([m for m in out if '"tick"' in m]) < len(posts):
                out.append(await asyncio.wait_for(ws.recv(), 10))

    async def scenario():
        gate = asyncio.Event()
        readies = [asyncio.Event() for _ in range(CLIENTS)]
        received: list[list[str]] = [[] for _ in range(CLIENTS)]
        tasks = [
            asyncio.create_task(client(r, gate, out))
            for r, out in zip(readies, received, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        gate.set()
        for ticks in posts:
            await asyncio.to_thread(post_ticks, live_stack, key, "DAPH", ticks)
            await asyncio.sleep(0.25)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return received

    received = asyncio.run(scenario())
    assert all(r == received[0] for r in received)  # the same bytes, in the same order
    messages = [orjson.loads(text) for text in received[0]]
    assert [m["type"] for m in messages] == ["tick", "tick", "tick", "bar", "tick"]
    ticks = [m for m in messages if m["type"] == "tick"]
    seqs = [m["seq"] for m in ticks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [m["data"]["trades"]["p"] for m in ticks] == [[100.0], [101.0], [102.0], [105.0]]
    assert messages[3]["data"] == {"time": minute // NS, "closed": True}
