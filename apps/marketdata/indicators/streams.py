"""Indicator subscriptions: the registry in Redis, and the per-process tail recompute.

Registry (shared by every server process, so counts are global):

* ``tf:ind:sub:{SYMBOL}|{tf}|{spec_id}``: sorted set of client ids, scored by the
  client's lease expiry (epoch seconds). The subscriber count is the number of unexpired
  members. Leases, not bare counters, because a server process that dies cannot clean up
  after its connections: their subscriptions then lapse on their own within
  ``WS_LEASE_S``. Live connections renew their leases every ``WS_RENEW_S``.
* ``tf:ind:specs:{SYMBOL}|{tf}``: the spec ids that have (or recently had) subscribers,
  for ``active_specs`` and monitoring.
* ``tf:ind:client:{client_id}``: hash with ``owner`` (user id), ``channel`` (the
  WebSocket consumer's channel, empty for REST-only clients) and one ``s:SYMBOL|tf|spec``
  field per subscription, so a REST call can attach subscriptions to a live connection
  and anything can clean a client up.

Operations are written once against a pipeline object (redis-py's sync and asyncio
pipelines queue commands the same way); callers ``execute()`` and pass the raw replies to
the matching ``*_result`` helper.

Tail recompute (``TailEngine``, one per process): when a coalesced tick message arrives, the
consumers of this process that subscribe to that (symbol, timeframe) share one
computation of every spec any of them subscribes to, over the last bars only
(``warmup + TAIL_BARS``: the values equal a full-history computation). The newest result
per (symbol, timeframe) is kept, so a consumer that lags behind gets the fresher values
instead of triggering another computation: updates are coalesced exactly like ticks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from channels.db import database_sync_to_async

from apps.marketdata.indicators import service
from apps.marketdata.timeframes import Timeframe

WS_LEASE_S = 90
WS_RENEW_S = 30
REST_LEASE_S = 300
#: Bars at the end of the series an update may report (current + recently closed ones).
TAIL_BARS = 5
CLIENT_PREFIX = "tf:ind:client:"


def sub_key(symbol: str, tf: str, spec_id: str) -> str:
    return f"tf:ind:sub:{symbol}|{tf}|{spec_id}"


def specs_key(symbol: str, tf: str) -> str:
    return f"tf:ind:specs:{symbol}|{tf}"


def client_key(client_id: str) -> str:
    return CLIENT_PREFIX + client_id


def _field(symbol: str, tf: str, spec_id: str) -> str:
    return f"s:{symbol}|{tf}|{spec_id}"


# --- registry (pipeline builders) ------------------------------------------------------------


def queue_register_client(pipe, client_id: str, owner: str, channel: str, lease_s: int) -> None:
    key = client_key(client_id)
    pipe.hset(key, mapping={"owner": owner, "channel": channel})
    pipe.expire(key, lease_s)


def queue_subscribe(
    pipe, client_id: str, symbol: str, tf: str, spec_ids: Iterable[str], lease_s: int
) -> None:
    """ZADD the client to each spec's set (renewing its lease) and read the counts."""
    now = time.time()
    until = now + lease_s
    spec_ids = list(spec_ids)
    for spec_id in spec_ids:
        key = sub_key(symbol, tf, spec_id)
        pipe.zadd(key, {client_id: until})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.expire(key, lease_s * 2)
    if spec_ids:
        pipe.sadd(specs_key(symbol, tf), *spec_ids)
        pipe.hset(
            client_key(client_id),
            mapping={_field(symbol, tf, s): int(until) for s in spec_ids},
        )
    pipe.expire(client_key(client_id), lease_s)


def subscribe_result(replies: list, spec_ids: Iterable[str]) -> dict[str, int]:
    return {s: int(replies[4 * i + 2]) for i, s in enumerate(spec_ids)}


def queue_unsubscribe(pipe, client_id: str, symbol: str, tf: str, spec_ids: Iterable[str]):
    now = time.time()
    spec_ids = list(spec_ids)
    for spec_id in spec_ids:
        key = sub_key(symbol, tf, spec_id)
        pipe.zrem(key, client_id)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
    if spec_ids:
        pipe.hdel(client_key(client_id), *[_field(symbol, tf, s) for s in spec_ids])


def unsubscribe_result(replies: list, spec_ids: Iterable[str]) -> dict[str, int]:
    return {s: int(replies[3 * i + 2]) for i, s in enumerate(spec_ids)}


def queue_counts(pipe, symbol: str, tf: str, spec_ids: Iterable[str]) -> None:
    now = time.time()
    for spec_id in spec_ids:
        pipe.zcount(sub_key(symbol, tf, spec_id), now, "+inf")


def counts_result(replies: list, spec_ids: Iterable[str]) -> dict[str, int]:
    return {s: int(r) for s, r in zip(spec_ids, replies, strict=True)}


def parse_client(raw: dict) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """A client hash -> (meta, [(symbol, tf, spec_id)])."""
    meta, subs = {}, []
    for k, v in raw.items():
        k = k.decode() if isinstance(k, bytes) else k
        v = v.decode() if isinstance(v, bytes) else v
        if k.startswith("s:"):
            symbol, tf, spec_id = k[2:].split("|", 2)
            subs.append((symbol, tf, spec_id))
        else:
            meta[k] = v
    return meta, subs


def queue_drop_client(pipe, client_id: str, subs: Iterable[tuple[str, str, str]]) -> None:
    """Remove every subscription of a client (disconnect, or an expired REST client)."""
    for symbol, tf, spec_id in subs:
        pipe.zrem(sub_key(symbol, tf, spec_id), client_id)
    pipe.delete(client_key(client_id))


# --- sync helpers for the REST side ------------------------------------------------------------


def client_info(client_id: str) -> tuple[dict[str, str], list[tuple[str, str, str]]] | None:
    raw = service.redis_client().hgetall(client_key(client_id))
    return parse_client(raw) if raw else None


def active_specs(symbol: str, tf: str) -> dict[str, int]:
    """Spec id -> live subscriber count, for the (symbol, timeframe)."""
    client = service.redis_client()
    ids = sorted(s.decode() for s in client.smembers(specs_key(symbol, tf)))
    pipe = client.pipeline(transaction=False)
    queue_counts(pipe, symbol, tf, ids)
    counts = counts_result(pipe.execute(), ids)
    return {s: c for s, c in counts.items() if c}


# --- tail recompute shared by the consumers of one process -----------------------------------


@dataclass
class Window:
    """The bars a (symbol, timeframe) stream computes from, kept between ticks so a tick
    re-reads only the bars it touched. ``complete``: it holds every stored bar.
    ``read_at``: when it was last read in full; writes that publish nothing (bulk
    imports) are picked up by the full re-read every ``WINDOW_MAX_AGE_S``."""

    bars: dict[str, np.ndarray]
    complete: bool
    read_at: float = field(default_factory=time.monotonic)


WINDOW_MAX_AGE_S = 300
DELTA_LIMIT = 1000


def _full_window(symbol, tf: Timeframe, need: int) -> Window:
    bars = service.fetch_bars(symbol, tf, need)
    return Window(bars, complete=len(bars["time"]) < need)


def refresh_window(
    symbol, tf: Timeframe, need: int, window: Window | None, since: int | None
) -> Window:
    """``window`` brought up to date after ticks that touched bars from epoch ``since``
    on (``None``: only the newest bar). Falls back to a full read when the window is
    missing or too short, or the change reaches before it or spans ``DELTA_LIMIT`` bars."""
    if (
        window is None
        or not len(window.bars["time"])
        or time.monotonic() - window.read_at > WINDOW_MAX_AGE_S
    ):
        return _full_window(symbol, tf, need)
    times = window.bars["time"]
    if (len(times) < need and not window.complete) or (since is not None and since < times[0]):
        return _full_window(symbol, tf, need)
    k = len(times) - 1 if since is None else int(np.searchsorted(times, since, "right")) - 1
    k = min(k, len(times) - 1)
    fresh = service.fetch_since(symbol, tf, int(times[k]), DELTA_LIMIT)
    if not len(fresh["time"]) or fresh["time"][0] != times[k] or len(fresh["time"]) >= DELTA_LIMIT:
        return _full_window(symbol, tf, need)
    bars = {f: np.concatenate((window.bars[f][:k], fresh[f])) for f in fresh}
    complete = window.complete
    if len(bars["time"]) > need:
        bars = {f: v[len(v) - need :] for f, v in bars.items()}
        complete = False
    return Window(bars, complete, window.read_at)


def tail_values(symbol, tf: Timeframe, items: list, bars: dict) -> tuple[np.ndarray, dict]:
    """Every item's last ``TAIL_BARS`` values over ``bars``; the same as a full-history
    computation (each item is computed over its own warm-up window)."""
    bars = service.add_sessions(symbol, tf, items, dict(bars))
    computed = service.compute_items([(item, TAIL_BARS) for item in items], bars, strict=False)
    n = min(TAIL_BARS, len(bars["time"]))
    times = bars["time"][len(bars["time"]) - n :]
    values = {}
    for result in computed:
        # a short history can leave a spec with fewer points than the shared tail
        values[result.item.id] = {
            k: np.concatenate((np.full(n - len(v), np.nan), v)) for k, v in result.outputs.items()
        }
    return times, values


def window_size(tf: Timeframe, items: Iterable) -> int:
    return max((service.fetch_size(item, TAIL_BARS, tf) for item in items), default=TAIL_BARS)


def compute_tail(symbol, tf: Timeframe, items: list) -> tuple[np.ndarray, dict]:
    """Synchronous, from scratch: read the window and compute every item's tail."""
    window = _full_window(symbol, tf, window_size(tf, items))
    return tail_values(symbol, tf, items, window.bars)


@dataclass
class Tail:
    """The last bars' values of every spec of one (symbol, timeframe) after message
    ``seq``: ``times`` (epoch seconds, oldest first) and per spec id its outputs."""

    seq: int
    times: np.ndarray
    values: dict[str, dict[str, np.ndarray]]


@dataclass
class _Local:
    symbol: Any  # the Symbol row (store reads need its id and session)
    tf: Timeframe
    items: dict[str, list] = field(default_factory=dict)  # spec id -> [item, refcount]
    latest: asyncio.Future | None = None
    latest_seq: int = -1
    window: Window | None = None
    since: int | None = None  # earliest bar start touched since the last computation
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loop: Any = field(default_factory=lambda: _running_loop())


def _step(symbol, tf: Timeframe, items: list, window: Window | None, since: int | None):
    window = refresh_window(symbol, tf, window_size(tf, items), window, since)
    return window, *tail_values(symbol, tf, items, window.bars)


class TailEngine:
    """Process-local: which specs this process's consumers follow, the bar windows they
    compute from, and the newest tail per (symbol, timeframe)."""

    def __init__(self) -> None:
        self._local: dict[tuple[str, str], _Local] = {}
        self._seen: dict[str, int] = {}  # newest broadcast seq noted per symbol

    def add(self, symbol, tf: Timeframe, items: Iterable) -> None:
        local = self._local.get((symbol.symbol, tf.name))
        if local is None or local.loop is not _running_loop():
            # a lock and futures belong to one event loop (tests run one loop per test)
            local = self._local[(symbol.symbol, tf.name)] = _Local(symbol, tf)
        for item in items:
            entry = local.items.setdefault(item.id, [item, 0])
            entry[0] = item  # an edited custom formula replaces the old one
            entry[1] += 1

    def remove(self, symbol: str, tf: str, spec_ids: Iterable[str]) -> None:
        local = self._local.get((symbol, tf))
        if local is None:
            return
        for spec_id in spec_ids:
            entry = local.items.get(spec_id)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del local.items[spec_id]
        if not local.items:
            del self._local[(symbol, tf)]

    def note(self, symbol: str, seq: int, data: dict) -> None:
        """Record what a broadcast touched (once per message, whichever consumer of this
        process sees it first). A gap in ``seq`` means a lost message: read afresh."""
        last = self._seen.get(symbol)
        if last is not None and seq <= last:
            return
        self._seen[symbol] = seq
        gap = last is not None and seq != last + 1
        instant = earliest_instant(data)
        for (code, _), local in self._local.items():
            if code != symbol:
                continue
            if gap:
                local.window = None
            elif instant is not None:
                local.since = instant if local.since is None else min(local.since, instant)

    async def prime(self, symbol: str, tf: str) -> None:
        """Read the window ahead of the first tick (after a subscription)."""
        local = self._local.get((symbol, tf))
        if local is None:
            return
        async with local.lock:
            items = [entry[0] for entry in local.items.values()]
            need = window_size(local.tf, items)
            if local.window is None or len(local.window.bars["time"]) < need:
                local.window = await database_sync_to_async(_full_window)(
                    local.symbol, local.tf, need
                )

    async def tail(self, symbol: str, tf: str, seq: int) -> Tail | None:
        """Values after broadcast ``seq`` (or a newer one already computed)."""
        local = self._local.get((symbol, tf))
        if local is None or not local.items:
            return None
        if local.latest is not None and local.latest_seq >= seq:
            return await asyncio.shield(local.latest)
        local.latest_seq = seq
        local.latest = asyncio.ensure_future(self._compute(local, seq))
        return await asyncio.shield(local.latest)

    async def _compute(self, local: _Local, seq: int) -> Tail:
        async with local.lock:
            items = [entry[0] for entry in local.items.values()]
            since, local.since = local.since, None
            try:
                window, times, values = await database_sync_to_async(_step)(
                    local.symbol, local.tf, items, local.window, since
                )
            except Exception:
                local.window = None  # start afresh next time
                raise
            local.window = window
            return Tail(seq, times, values)


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


engine = TailEngine()


def earliest_instant(data: dict) -> int | None:
    """The earliest moment (epoch s) a broadcast message's trades or bars touch."""
    found = []
    summary = data.get("summary")
    if summary:
        found.append(summary["first"] // 1000)
    for bar in data.get("bars") or ():
        found.append(int(bar["time"]))
    return min(found) if found else None


def touched_indexes(times: np.ndarray, data: dict) -> set[int]:
    """Indexes into ``times`` (bar starts) of the bars a broadcast message changed: the
    range its trades cover and the bars it carries."""
    n = len(times)
    if not n:
        return set()
    instants: list[tuple[int, int]] = []
    summary = data.get("summary")
    if summary:
        instants.append((summary["first"] // 1000, summary["last"] // 1000))
    for bar in data.get("bars") or ():
        start = int(bar["time"])
        instants.append((start, start + max(int(bar.get("res", 1)), 1) - 1))
    out: set[int] = set()
    for first, last in instants:
        lo = max(int(np.searchsorted(times, first, side="right")) - 1, 0)
        hi = int(np.searchsorted(times, last, side="right")) - 1
        if hi >= 0:
            out.update(range(max(lo, hi - TAIL_BARS + 1), hi + 1))
    return out
