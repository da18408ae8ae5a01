"""``/ws/indicators/`` on the real Redis channel layer: subscribe, updates after ingested
ticks (current and closed bars), unsubscribe, ping, auth, counts in Redis, REST attach."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.tests.factories import UserFactory
from apps.marketdata import broadcast, live_auth
from apps.marketdata.analytics.indicators import parse_spec
from apps.marketdata.indicators import service, streams
from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.helpers import close_db, connect_ws, ingest, receive_type
from apps.marketdata.tests.test_indicator_api import make_symbol, minute_bars, store_bars
from apps.marketdata.ticks import TickBatch
from apps.marketdata.timeframes import parse as parse_tf

pytestmark = pytest.mark.django_db(databases=MD, transaction=True)


def live_symbol(code: str):
    """A symbol with 200 one-minute bars up to the minute before the current one."""
    symbol = make_symbol(code, asset_type="crypto")
    now_minute = int(time.time()) // 60 * 60
    store_bars(symbol, minute_bars(200, now_minute - 200 * 60), 60)
    return symbol


def trades(ts_s: float, prices: list[float], prefix: str, step_ns: int = 1000) -> TickBatch:
    n = len(prices)
    return TickBatch.from_columns(
        [int(ts_s * 1e9) + i * step_ns for i in range(n)],
        prices,
        [1.0] * n,
        [1] * n,
        [f"{prefix}{i}" for i in range(n)],
    )


async def connect(user=None) -> WebsocketCommunicator:
    comm = await connect_ws("/ws/indicators/", user)
    welcome = await comm.receive_json_from(timeout=3)
    assert welcome["type"] == "success" and welcome["message"].startswith("Connected")
    comm.client_id = welcome["data"]["client_id"]
    return comm


async def updates(comm, count: int, timeout: float = 5.0) -> list[dict]:
    return [await receive_type(comm, "indicator_update", timeout) for _ in range(count)]


def test_it_streams_updates_after_a_tick_then_stops_after_unsubscribe(redis_client):
    symbol = live_symbol("WSA")
    user = UserFactory()
    specs = ["rsi_14", {"name": "MACD", "params": {"fast": 12, "slow": 26, "signal": 9}}, "SMA_5"]

    async def scenario():
        comm = await connect(user)
        await comm.send_json_to(
            {"action": "subscribe", "symbol": "wsa", "timeframe": "1m", "indicators": specs}
        )
        ok = await receive_type(comm, "success")
        assert ok["message"] == "Subscribed to 3 indicators"
        data = ok["data"]
        assert data["subscriptions"] == ["RSI_14", "MACD_12_26_9", "SMA_5"]
        assert data["subscriber_counts"] == {"RSI_14": 1, "MACD_12_26_9": 1, "SMA_5": 1}
        assert all(isinstance(v, float) for v in data["initial_values"].values())

        now = time.time()
        await ingest(symbol, trades(now, [150.0, 151.0], "a"))
        # the tick opened a new bar: the bar that was current at subscribe time closed
        # (its final values), and the new one has its first values
        received = await updates(comm, 6)
        minute = int(now) // 60 * 60
        closed = [u for u in received if u["closed"]]
        got = [u for u in received if not u["closed"]]
        (closed_time,) = {u["time"] for u in closed}  # the last stored bar
        assert closed_time < minute
        assert {u["indicator_id"] for u in closed} == {"RSI_14", "MACD_12_26_9", "SMA_5"}
        assert {u["indicator_id"] for u in got} == {"RSI_14", "MACD_12_26_9", "SMA_5"}
        for update in got:
            assert update["symbol"] == "WSA" and update["timeframe"] == "1m"
            assert update["time"] == minute
            assert update["candle_time"].endswith("Z") and update["seq"] >= 1
        macd = next(u for u in got if u["indicator_id"] == "MACD_12_26_9")
        assert set(macd["values"]) == {"macd", "signal", "histogram"}
        assert macd["value"] == macd["values"]["macd"]
        # the streamed value is the REST value of the same bar (full warm-up, no drift)
        (rest,) = await sync_to_async(service.series)(
            symbol, parse_tf("1m"), [(parse_spec("RSI_14"), 1)]
        )
        rsi = next(u for u in got if u["indicator_id"] == "RSI_14")
        assert rsi["value"] == pytest.approx(rest.points()[-1]["value"], rel=1e-9)

        await comm.send_json_to({"action": "ping"})
        assert (await receive_type(comm, "pong"))["type"] == "pong"

        await comm.send_json_to(
            {"action": "unsubscribe", "symbol": "WSA", "timeframe": "1m", "indicators": ["RSI_14"]}
        )
        ok = await receive_type(comm, "success")
        assert ok["data"]["unsubscribed"] == ["RSI_14"]
        assert ok["data"]["subscriber_counts"] == {"RSI_14": 0}
        await asyncio.sleep(0.15)  # next broadcast window
        await ingest(symbol, trades(time.time(), [152.0], "b"))
        got = await updates(comm, 2)
        assert {u["indicator_id"] for u in got} == {"MACD_12_26_9", "SMA_5"}

        await comm.send_json_to({"action": "unsubscribe", "symbol": "WSA", "timeframe": "1m"})
        ok = await receive_type(comm, "success")
        assert sorted(ok["data"]["unsubscribed"]) == ["MACD_12_26_9", "SMA_5"]
        await asyncio.sleep(0.15)
        await ingest(symbol, trades(time.time(), [153.0], "c"))
        await asyncio.sleep(0.4)
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()
        await close_db()

    asyncio.run(scenario())
    assert broadcast.flush()


def test_it_sends_the_final_value_of_a_bar_when_it_closes(redis_client):
    symbol = make_symbol("WSB", asset_type="crypto")

    async def scenario():
        comm = await connect(await sync_to_async(UserFactory)())
        base = int(time.time()) - 30
        # ten one-second bars, closes 100 ... 109, the last at base - 1
        await ingest(symbol, trades(base - 10, [100.0 + i for i in range(10)], "h", 10**9))
        await sync_to_async(broadcast.flush)()  # its broadcast must not reach the stream
        await asyncio.sleep(0.15)
        await comm.send_json_to(
            {"action": "subscribe", "symbol": "WSB", "timeframe": "1s", "indicators": ["SMA_2"]}
        )
        await receive_type(comm, "success")
        await ingest(symbol, trades(base + 0.1, [120.0], "x"))
        got = sorted(await updates(comm, 2), key=lambda u: u["time"])
        assert [(u["time"], u["closed"]) for u in got] == [(base - 1, True), (base, False)]
        assert got[0]["value"] == pytest.approx((108.0 + 109.0) / 2)
        await asyncio.sleep(0.15)
        await ingest(symbol, trades(base + 1.2, [130.0], "y"))
        got = sorted(await updates(comm, 2), key=lambda u: u["time"])
        assert [(u["time"], u["closed"]) for u in got] == [(base, True), (base + 1, False)]
        assert got[1]["value"] == pytest.approx((120.0 + 130.0) / 2)
        await comm.disconnect()
        await close_db()

    asyncio.run(scenario())
    assert broadcast.flush()


def test_it_shares_counts_in_redis_and_cleans_up_on_disconnect(redis_client):
    live_symbol("WSC")
    alice, bob = UserFactory(), UserFactory()
    key = streams.sub_key("WSC", "1m", "EMA_9(RSI_14)")

    async def scenario():
        a, b = await connect(alice), await connect(bob)
        message = {
            "action": "subscribe",
            "symbol": "WSC",
            "timeframe": "1m",
            "indicators": ["ema_9:rsi_14"],
        }
        await a.send_json_to(message)
        assert (await receive_type(a, "success"))["data"]["subscriber_counts"] == {
            "EMA_9(RSI_14)": 1
        }
        await b.send_json_to(message)
        assert (await receive_type(b, "success"))["data"]["subscriber_counts"] == {
            "EMA_9(RSI_14)": 2
        }
        assert redis_client.zcard(key) == 2
        assert redis_client.exists(streams.client_key(a.client_id))
        await a.disconnect()
        assert redis_client.zcard(key) == 1
        assert not redis_client.exists(streams.client_key(a.client_id))
        await b.disconnect()
        assert redis_client.zcard(key) == 0
        await close_db()

    asyncio.run(scenario())


def test_it_lets_a_rest_subscription_join_a_live_connection(client, redis_client):
    symbol = live_symbol("WSD")
    user, other = UserFactory(), UserFactory()

    async def scenario():
        comm = await connect(user)

        @sync_to_async
        def rest_subscribe(as_user):
            client.force_login(as_user)
            return client.post(
                "/api/v1/indicators/subscribe",
                {
                    "symbol": "WSD",
                    "timeframe": "1m",
                    "indicators": ["ATR_14"],
                    "client_id": comm.client_id,
                },
                content_type="application/json",
            )

        assert (await rest_subscribe(other)).status_code == 404  # not their connection
        response = await rest_subscribe(user)
        assert response.status_code == 200, response.content
        assert response.json()["expires_in"] is None  # the connection keeps it alive
        ok = await receive_type(comm, "success")
        assert ok["data"]["subscriptions"] == ["ATR_14"]
        await ingest(symbol, trades(time.time(), [140.0], "r"))
        update = await receive_type(comm, "indicator_update")
        assert update["indicator_id"] == "ATR_14"
        await comm.disconnect()
        await close_db()

    asyncio.run(scenario())
    assert broadcast.flush()


def test_it_refuses_unauthenticated_clients_bad_tokens_and_bad_requests(redis_client, monkeypatch):
    from rest_framework_simplejwt.tokens import AccessToken

    live_symbol("WSE")
    make_symbol("WSPRIV", is_public=False)
    user = UserFactory()
    token = str(AccessToken.for_user(user))
    monkeypatch.setattr(live_auth, "AUTH_TIMEOUT_S", 0.3)
    subscribe = {"action": "subscribe", "symbol": "WSE", "indicators": ["RSI_14"]}

    async def scenario():
        anon = await connect()
        await anon.send_json_to(subscribe)
        assert (await receive_type(anon, "error"))["error_code"] == "not_authenticated"
        timed_out = await receive_type(anon, "error")
        assert timed_out["error_code"] == "auth_timeout"
        assert (await anon.receive_output(timeout=2))["type"] == "websocket.close"

        bad = await connect()
        await bad.send_json_to({"action": "auth", "token": "not-a-jwt"})
        assert (await receive_type(bad, "error"))["error_code"] == "invalid_token"
        assert (await bad.receive_output(timeout=2))["type"] == "websocket.close"

        mobile = await connect()
        await mobile.send_json_to({"action": "auth", "token": token})
        assert (await receive_type(mobile, "success"))["data"] == {"user": user.username}
        for message, code in [
            ({**subscribe, "symbol": "WSPRIV"}, "unknown_symbol"),
            ({**subscribe, "indicators": ["RSI_1"]}, "INVALID_INDICATOR"),
            ({**subscribe, "indicators": ["NOPE_3"]}, "INVALID_INDICATOR"),
            ({**subscribe, "indicators": ["CUSTOM_424242"]}, "not_found"),
            ({**subscribe, "indicators": []}, "invalid_message"),
            ({**subscribe, "timeframe": "7m"}, "invalid_timeframe"),
            ({"action": "dance"}, "invalid_action"),
        ]:
            await mobile.send_json_to(message)
            error = await receive_type(mobile, "error")
            assert error["error_code"] == code, (message, error)
        await mobile.send_json_to(subscribe)
        ok = await receive_type(mobile, "success")
        assert ok["data"]["subscriptions"] == ["RSI_14"]
        await asyncio.sleep(0.5)  # past the (shortened) auth deadline: still connected
        await mobile.send_json_to({"action": "ping"})
        assert (await receive_type(mobile, "pong"))["type"] == "pong"
        await mobile.disconnect()
        await close_db()

    asyncio.run(scenario())


def test_it_computes_the_tail_like_a_full_history(redis_client):
    """The stream's short window (warm-up + a few bars) equals the REST full answer."""
    symbol = live_symbol("WSF")
    items = [parse_spec(s) for s in ("EMA_50", "RSI_14", "MACD_12_26_9", "STOCH_14_3_3")]
    times, values = streams.compute_tail(symbol, parse_tf("1m"), items)
    assert len(times) == streams.TAIL_BARS
    payloads = service.series(symbol, parse_tf("1m"), [(i, 200) for i in items])
    for item, payload in zip(items, payloads, strict=True):
        points = payload.points()[-streams.TAIL_BARS :]
        assert [p["time"] for p in points] == times.tolist()
        for name, arr in values[item.id].items():
            key = name if len(values[item.id]) > 1 else "value"
            np.testing.assert_allclose(arr, [p[key] for p in points], rtol=1e-9)


def test_it_rereads_only_the_touched_bars_and_matches_a_full_read(redis_client):
    symbol = live_symbol("WSG")
    tf = parse_tf("1m")
    window = streams.refresh_window(symbol, tf, 150, None, None)
    assert len(window.bars["time"]) == 150 and not window.complete
    last = int(window.bars["time"][-1])
    # a trade in the last stored minute and one opening the next minute
    ingest_ticks(symbol, trades(last + 10, [155.0], "d1"), publish=False)
    ingest_ticks(symbol, trades(last + 70, [156.0], "d2"), publish=False)
    delta = streams.refresh_window(symbol, tf, 150, window, last + 10)
    full = streams.refresh_window(symbol, tf, 150, None, None)
    assert delta.bars["time"][-1] == last + 60 and len(delta.bars["time"]) == 150
    for name in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(delta.bars[name], full.bars[name], err_msg=name)
    # a change before the window, or a window grown stale, is read in full
    older = streams.refresh_window(symbol, tf, 150, delta, int(delta.bars["time"][0]) - 600)
    np.testing.assert_array_equal(older.bars["close"], full.bars["close"])
    assert older.read_at > delta.read_at
