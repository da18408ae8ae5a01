"""The newest bars of a chart, with their closed part remembered: what the chart page
embeds (``apps/charts/views.py``).

Opening a chart reads its newest 5,000 bars. All but the last few are closed: they change
only when data arrives late or is backfilled into their buckets, which live feeds do
rarely and imports and Sierra Chart history do in bulk. So this process remembers, per
(symbol, timeframe, count), the bars older than an *edge* and reads from PostgreSQL only
the bars from the edge on (a handful), then joins the two. The first candle of the chart
page no longer waits for 5,000 rows on a machine where the browser competes for the CPU.

The edge is the start of the timeframe's bucket that holds ``now - HORIZON_S``. Every
write (``store/writes.py``) that reaches further back than ``now - HORIZON_S`` replaces the
symbol's *history token* in Redis, after it commits. A reader compares the token it read
before reading the rows with the token of its remembered bars, and reads everything again
when they differ. That is correct because:

* a write newer than ``now - HORIZON_S`` lands in a bucket at or after every edge taken
  before it (edges only move forward), so the short read from the edge sees it;
* a write older than that has the token replaced after its commit (within ``FLUSH_S``),
  so the next read, which reads the token first, misses the memo. A read that raced the
  commit may remember old rows under the old token, which the new token invalidates. A
  page rendered in those few milliseconds shows what a page rendered just before the
  write would have shown.

Decisions, written down here:

* Intraday timeframes only. Session bars (1d, 1w) have bucket edges in the symbol's time
  zone and the bars are few: they are read whole, as before.
* Only this page's first bars use it. The bars API keeps reading PostgreSQL every time:
  it is what clients re-sync from after a ``seq`` gap, and it must show a late write the
  moment it commits, not once the token is replaced.
* Writers and readers are assumed to share a clock within ``HORIZON_S / 2`` (one host, or
  NTP). Remembered bars also expire after ``TTL_S``, which bounds what a lost token
  update (Redis down at the moment of the write) can leave stale.
* When Redis cannot answer, the bars are read whole: slower, never stale.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import redis

from apps.marketdata.store import reads
from apps.marketdata.timeframes import Timeframe
from tradeflow.memo import TTLMemo, lazy_redis

logger = logging.getLogger(__name__)
T = TypeVar("T")

HORIZON_S = 15 * 60
TTL_S = 120.0
HISTORY_KEY = "tf:md:history:{symbol_id}"
TOKEN_TTL_S = 24 * 3600  # a token is remembered far longer than any memo entry

FLUSH_S = 0.02

_redis = lazy_redis()
_pending: set[int] = set()  # symbols whose token is to be replaced
_lock = threading.Lock()
_wake = threading.Event()
_flusher: threading.Thread | None = None
atexit.register(lambda: flush())


class ClosedBars:
    """Remembered rows before an edge (oldest first), and what callers made of them
    (``derive``): the chart page keeps their encoded, compressed columns here, so an
    unchanged closed part is encoded once (``apps/charts/embedded.py``)."""

    __slots__ = ("_derived", "rows")

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self._derived: dict = {}

    def derive(self, key, make: Callable[[list[tuple]], T]) -> T:
        """``make(rows)``, made once per ``key`` for these rows (two threads racing may
        both make it: the same value)."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = make(self.rows)
            return value


# (symbol id, timeframe, count) -> [token, edge in epoch seconds, ClosedBars before the
# edge]; a list, so that trimming the closed part in place keeps the entry's expiry.
# 5,000 rows take about 2 MB, and the chart page's encoding of them about 0.4 MB more: at
# most 32 charts are remembered (then all are dropped).
_memo: TTLMemo[tuple[int, str, int], list] = TTLMemo(TTL_S, max_entries=32)


def note_write(symbol_id: int, oldest_ts: float) -> None:
    """Call after a write to ``symbol_id`` reaching back to ``oldest_ts`` (epoch seconds)
    has committed: a write into buckets that readers may remember has the symbol's token
    replaced, by this process's flusher thread within ``FLUSH_S`` (off the request path:
    a Redis round trip per Sierra Chart history bar cost a fifth of the POST)."""
    if oldest_ts >= time.time() - HORIZON_S:
        return
    global _flusher
    with _lock:
        first = not _pending
        _pending.add(symbol_id)
        if _flusher is None or not _flusher.is_alive():  # none yet, or lost to a fork
            _flusher = threading.Thread(target=_flush_loop, name="closed-bars", daemon=True)
            _flusher.start()
    if first:
        _wake.set()


def flush() -> None:
    """Replace the tokens of every symbol noted so far, now (the flusher does this every
    ``FLUSH_S``; commands that exit get it from ``atexit``)."""
    with _lock:
        symbol_ids = sorted(_pending)
        _pending.clear()
    if not symbol_ids:
        return
    try:
        with _redis().pipeline(transaction=False) as pipe:
            for symbol_id in symbol_ids:
                pipe.set(
                    HISTORY_KEY.format(symbol_id=symbol_id), secrets.token_bytes(8), ex=TOKEN_TTL_S
                )
            pipe.execute()
    except redis.RedisError:
        # The writes stand; remembered bars of these symbols may be stale for up to TTL_S.
        logger.warning("closed bars: history tokens of symbols %s not replaced", symbol_ids)


def _flush_loop() -> None:
    while True:
        _wake.wait()
        time.sleep(FLUSH_S)  # more writes gather meanwhile
        _wake.clear()  # before taking them: a note after this wakes the next round
        flush()


def _token(symbol_id: int) -> bytes | None:
    """The symbol's history token, made if there is none (a flushed Redis starts over
    with a new one, so nothing remembered before survives it); None without Redis."""
    key = HISTORY_KEY.format(symbol_id=symbol_id)
    try:
        client = _redis()
        token = client.get(key)
        if token is None:
            client.set(key, secrets.token_bytes(8), ex=TOKEN_TTL_S, nx=True)
            token = client.get(key)
        return token
    except redis.RedisError:
        logger.warning("closed bars: Redis unavailable; reading bars of symbol %s whole", symbol_id)
        return None


def edge(tf: Timeframe, now: float) -> int:
    """The start of the ``tf`` bucket holding ``now - HORIZON_S`` (epoch-aligned, as the
    store's intraday buckets are)."""
    return int(now - HORIZON_S) // tf.seconds * tf.seconds


def newest_bar_rows(symbol, tf: Timeframe, limit: int) -> list[tuple]:
    """``reads.bar_rows(symbol, tf, limit=limit)``, the closed part from this process's
    memo when it is still valid."""
    closed, recent = newest_bar_parts(symbol, tf, limit)
    return closed.rows + recent


def newest_bar_parts(symbol, tf: Timeframe, limit: int) -> tuple[ClosedBars, list[tuple]]:
    """``newest_bar_rows`` in two parts: the remembered closed rows (empty when nothing
    is remembered: session timeframes, no Redis) and the rows read now. Together they
    are the newest ``limit`` rows, oldest first."""
    if tf.is_session:
        return ClosedBars([]), reads.bar_rows(symbol, tf, limit=limit)
    # the edge from a clock read before the token and the rows: a write that commits after
    # the rows were read noted a later time, so it either lands at or after this edge or
    # replaces the token
    start = edge(tf, time.time())
    token = _token(symbol.id)
    if token is None:
        return ClosedBars([]), reads.bar_rows(symbol, tf, limit=limit)
    key = (symbol.id, tf.name, limit)
    remembered = _memo.peek(key)
    if remembered is not None and remembered[0] == token:
        _, since, closed = remembered
        recent = reads.bar_rows(
            symbol, tf, limit=limit, start=datetime.fromtimestamp(since, tz=UTC)
        )
        surplus = len(closed.rows) + len(recent) - limit
        if surplus > 0:  # new bars since: the oldest remembered ones fall out of the count
            closed = ClosedBars(closed.rows[surplus:])
            remembered[2] = closed
            recent = recent[-limit:]
        return closed, recent
    rows = reads.bar_rows(symbol, tf, limit=limit)
    split = bisect.bisect_left(rows, start, key=lambda row: row[0])
    closed = ClosedBars(rows[:split])
    _memo.put(key, [token, start, closed])
    return closed, rows[split:]
