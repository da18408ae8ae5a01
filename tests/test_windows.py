"""The fixed-window counter (tradeflow/windows.py) on the real Redis: exact under threads,
and still exact after Redis forgets the script or drops the connection."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import redis
from django.conf import settings

from tradeflow import windows
from tradeflow.windows import count_in_window


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def test_it_counts_exactly_from_many_threads(redis_client):
    counter = client()
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: count_in_window(counter, "tf:test:w", 30), range(400)))
    assert sorted(counts) == list(range(1, 401))
    assert 0 < redis_client.ttl("tf:test:w") <= 30


def test_it_counts_on_after_redis_forgets_the_script(redis_client):
    counter = client()
    assert count_in_window(counter, "tf:test:w", 30) == 1
    redis_client.script_flush()
    assert count_in_window(counter, "tf:test:w", 30) == 2
    assert count_in_window(counter, "tf:test:w", 30) == 3


def test_it_counts_on_after_redis_drops_the_connection(redis_client):
    counter = client()
    assert count_in_window(counter, "tf:test:w", 30) == 1
    ((_, own),) = windows._idle(counter)  # only this connection: the server is shared
    own.send_command("CLIENT", "ID")
    redis_client.client_kill_filter(_id=own.read_response())
    assert count_in_window(counter, "tf:test:w", 30) == 2
    assert count_in_window(counter, "tf:test:w", 30) == 3


def test_short_lived_threads_reuse_connections(redis_client):
    """daphne runs each request on a new thread: connections must not pile up per thread
    (a client capped at 4 connections would refuse the fifth)."""
    counter = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, max_connections=4)
    for _ in range(200):
        thread = threading.Thread(target=count_in_window, args=(counter, "tf:test:w", 30))
        thread.start()
        thread.join()
    assert int(redis_client.get("tf:test:w")) == 200
    assert len(windows._idle(counter)) == 1
