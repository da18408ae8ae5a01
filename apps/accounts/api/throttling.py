"""API throttles on Redis with one round trip per request.

DRF's stock throttles keep a list of timestamps per client in the cache (a read and a
write per request). These use fixed windows counted by ``tradeflow.windows`` (one Redis
command per request); the answer is the same to the caller: 429 with ``Retry-After``.
"""

from __future__ import annotations

import time

from rest_framework.throttling import SimpleRateThrottle

from tradeflow.memo import lazy_redis
from tradeflow.windows import count_in_window

_redis = lazy_redis()


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
        count = count_in_window(_redis(), key, int(self.duration) + 1)
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
