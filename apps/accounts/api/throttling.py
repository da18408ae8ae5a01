"""API throttles on Redis with one round trip per request.

DRF's stock throttles keep a list of timestamps per client in the cache (a read and a
write per request). These use fixed windows and one small Lua script that increments the
window's counter and gives a new one its expiry (one command and one reply: about half
the client time of a pipelined ``INCR`` + ``EXPIRE``, on every API request); the answer
is the same to the caller: 429 with ``Retry-After``.
"""

from __future__ import annotations

import functools
import time

from rest_framework.throttling import SimpleRateThrottle

from tradeflow.memo import lazy_redis

_redis = lazy_redis()
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _count_in_window():
    """The script (EVALSHA, loaded again by redis-py if the server lost it)."""
    return _redis().register_script(_COUNT_IN_WINDOW)


class _WindowThrottle(SimpleRateThrottle):
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"tf:throttle:{ident}:{window}"
        count = _count_in_window()(keys=[key], args=[int(self.duration) + 1])
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return max(1.0, getattr(self, "_wait", self.duration))


class UserRateThrottle(_WindowThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return None


class AnonRateThrottle(_WindowThrottle):
    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return f"anon:{self.get_ident(request)}"
