"""Fixed-window request counters in Redis, one command per request: the API throttles
(``apps/accounts/api/throttling.py``) and the ingestion rate limit per feed key
(``apps/marketdata/api/auth.py``).

One small Lua script increments the window's counter and gives a new counter its expiry
(one command and one reply, about half the client time of a pipelined INCR + EXPIRE).
"""

from __future__ import annotations

import functools

import redis

_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _script(client: redis.Redis):
    """The script for ``client`` (EVALSHA; redis-py loads it again if the server lost it)."""
    return client.register_script(_COUNT_IN_WINDOW)


def count_in_window(client: redis.Redis, key: str, ttl_seconds: int) -> int:
    """Add one to the counter ``key`` (made with a ``ttl_seconds`` expiry); its new value."""
    return int(_script(client)(keys=[key], args=[ttl_seconds]))
