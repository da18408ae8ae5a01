"""Fixed-window request counters in Redis, one command per request: the API throttles
(``apps/accounts/api/throttling.py``) and the ingestion rate limit per feed key
(``apps/marketdata/api/auth.py``).

One small Lua script increments the window's counter and gives a new counter its expiry
(one command and one reply, about half the client time of a pipelined INCR + EXPIRE).
It goes over a connection taken from a small stack of idle ones kept here (made with the
client's own connection settings) and put back after the reply: redis-py's pool, retry
and health-check layers cost more CPU than the command itself (about 0.1 ms of a 0.6 ms
Sierra Chart bar POST). The stack holds at most as many connections as requests ever ran
at once, whatever the threads: under daphne each request runs on a thread of its own, so
connections per thread would pile up. Anything unusual (a lost connection, a Redis that
forgot the script) goes through the client's usual path, retries included.
"""

from __future__ import annotations

import functools
import os
from collections import deque

import redis

_COUNT_IN_WINDOW = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _script(client: redis.Redis):
    """The script for ``client`` (EVALSHA; redis-py loads it again if the server lost it)."""
    return client.register_script(_COUNT_IN_WINDOW)


@functools.cache
def _idle(client: redis.Redis) -> deque:
    """Idle ``(pid, connection)`` pairs for ``client``'s server (``deque`` pop and append
    are atomic: no lock needed)."""
    return deque()


def _take(client: redis.Redis):
    """An idle connection of this process, or a new one (outside the client's pool)."""
    idle = _idle(client)
    pid = os.getpid()
    while idle:
        try:
            owner, connection = idle.pop()
        except IndexError:  # another thread took the last one
            break
        if owner == pid:  # one inherited through fork belongs to the parent: dropped
            return connection
    pool = client.connection_pool
    return pool.connection_class(**pool.connection_kwargs)


def count_in_window(client: redis.Redis, key: str, ttl_seconds: int, amount: int = 1) -> int:
    """Add ``amount`` to the counter ``key`` (made with a ``ttl_seconds`` expiry); its new
    value."""
    script = _script(client)
    connection = _take(client)
    args = [ttl_seconds, amount]
    try:
        connection.send_command("EVALSHA", script.sha, 1, key, *args, check_health=False)
        count = int(connection.read_response())
    except redis.exceptions.NoScriptError:
        count = None
    except (redis.ConnectionError, redis.TimeoutError):
        connection.disconnect()  # dropped, not put back
        return int(script(keys=[key], args=args))
    _idle(client).append((os.getpid(), connection))
    return count if count is not None else int(script(keys=[key], args=args))
