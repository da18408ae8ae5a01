"""Per-process memos: short-lived caches of hot reads, and lazily made Redis clients.

The hot paths (feed-key and JWT authentication, symbol and stored-resolution lookups) would
otherwise query a database on every bar or API call. A ``TTLMemo`` remembers an answer for a
few seconds, so an edit elsewhere shows up within that time.

Every memo registers itself; the root ``conftest.py`` calls ``clear_all()`` between tests so
that rows of a rolled-back test transaction never leak into the next test.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import redis
from django.conf import settings

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_registry: weakref.WeakSet[TTLMemo] = weakref.WeakSet()


class TTLMemo(Generic[K, V]):
    """``key -> value`` remembered for ``seconds`` (monotonic clock) in this process.

    The whole memo is dropped once it holds more than ``max_entries`` (when given): the
    keys are few in practice, and the bound only stops a flood of distinct keys (say,
    wrong API keys) from growing it without end.
    """

    def __init__(
        self, seconds: float, *, max_entries: int | None = None, remember_empty: bool = True
    ):
        self.seconds = seconds
        self.max_entries = max_entries
        # False: a falsy answer (no data yet) is asked again next time instead of remembered
        self.remember_empty = remember_empty
        self._entries: dict[K, tuple[float, V]] = {}
        _registry.add(self)

    def get(self, key: K, load: Callable[[K], V], *, fresh: bool = False) -> V:
        """The remembered value of ``key``, or ``load(key)`` (remembered) when there is none,
        it is older than ``seconds``, or ``fresh`` is asked for. What ``load`` raises is
        not remembered."""
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit and not fresh and now - hit[0] < self.seconds:
            return hit[1]
        value = load(key)
        if self.remember_empty or value:
            self.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        """The remembered value of ``key`` if it is younger than ``seconds``, else None."""
        hit = self._entries.get(key)
        if hit and time.monotonic() - hit[0] < self.seconds:
            return hit[1]
        return None

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` from now on."""
        if self.max_entries is not None and len(self._entries) > self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def clear_all() -> None:
    """Empty every memo of this process (tests)."""
    for memo in list(_registry):
        memo.clear()


def lazy_redis() -> Callable[[], redis.Redis]:
    """A function that returns this process's synchronous Redis client for one module,
    made on first use (settings are read then, not at import) with short timeouts: the
    callers (rate limits, throttles, the indicator cache) must not hang a request."""
    client: redis.Redis | None = None

    def get() -> redis.Redis:
        nonlocal client
        if client is None:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            )
        return client

    return get
