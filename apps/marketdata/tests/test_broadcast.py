"""The coalescer publishes every bar of a busy symbol, on time, though it only wakes its
pump for a symbol that was not already pending."""

from __future__ import annotations

import threading
import time

import orjson

from apps.marketdata import broadcast
from apps.marketdata.live_hub import channel_for


def one_bar(second: int) -> dict:
    columns = {"ts_ns": (second * 10**9,)}
    return columns | {
        name: (float(second),)
        for name in ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume")
    }


def test_it_sends_every_bar_of_a_busy_symbol_within_an_interval_or_two(redis_client, settings):
    pubsub = redis_client.pubsub()
    pubsub.subscribe(channel_for("BUSY"))
    pubsub.get_message(timeout=1)  # the subscription confirmation
    received: list[tuple[float, dict]] = []
    done = threading.Event()

    def listen():
        while not done.is_set():
            message = pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                body = orjson.loads(message["data"])
                assert list(body) == ["type", "symbol", "seq", "data"]
                assert message["data"] == orjson.dumps(body)  # compact, as orjson writes it
                received.append((time.monotonic(), body))

    listener = threading.Thread(target=listen)
    listener.start()
    sent_at = {}
    try:
        for second in range(40):  # a bar every 10 ms: the symbol is nearly always pending
            sent_at[second] = time.monotonic()
            broadcast.publish_bar("busy", 1, one_bar(second))
            time.sleep(0.01)
        assert broadcast.flush()
        time.sleep(0.3)
    finally:
        done.set()
        listener.join()
        pubsub.close()

    bars = [(at, bar["time"]) for at, message in received for bar in message["data"]["bars"]]
    assert [second for _, second in bars] == list(range(40))
    seqs = [message["seq"] for _, message in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(received) < 20, "bars 10 ms apart are coalesced"
    interval = settings.BROADCAST_INTERVAL_MS / 1000
    # a pump that slept through pending bars would hold them for its idle timeout (1 s)
    assert max(at - sent_at[second] for at, second in bars) < 4 * interval + 0.2


def test_a_closed_gate_holds_the_bars_until_it_opens(redis_client):
    """Another process sent this symbol just now: nothing is lost, nothing jumps ahead."""
    pubsub = redis_client.pubsub()
    pubsub.subscribe(channel_for("GATED"))
    pubsub.get_message(timeout=1)
    redis_client.set(broadcast.GATE_KEY.format(symbol="GATED"), 1, px=400)
    closed_until = time.monotonic() + 0.4
    try:
        for second in range(5):
            broadcast.publish_bar("gated", 1, one_bar(second))
            time.sleep(0.05)
        assert broadcast.flush()
        opened_at = time.monotonic()
        messages = []
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            if message["type"] == "message":
                messages.append(orjson.loads(message["data"]))
    finally:
        pubsub.close()
    assert opened_at >= closed_until - 0.05
    assert [bar["time"] for m in messages for bar in m["data"]["bars"]] == list(range(5))
    assert len(messages) == 1 and messages[0]["symbol"] == "GATED"
