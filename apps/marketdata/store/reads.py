"""Reads from the market-data store.

Bars at any timeframe come from the coarsest stored resolution that divides it (a 5m
chart reads 1-minute rollups, a 4h chart hourly ones), aggregated in SQL. Daily and
weekly bars group by the symbol's trading session in its time zone: a CME session that
opens Sunday 17:00 America/Chicago is Monday's bar and starts at that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from apps.marketdata.store import sql
from apps.marketdata.store.db import connection
from apps.marketdata.timeframes import Timeframe
from tradeflow.memo import TTLMemo

MAX_BARS = 20_000
DAILY = 86_400  # the chart keeps at most 20k bars per series (DESIGN)
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)

COLUMNS = ("ts", *sql.BAR_VALUES)  # the order of sql.BAR_COLUMNS

# Aggregate source rows into buckets. {bucket} is one of the two allow-listed
# expressions below; every other value is a bound parameter. The bucket is computed once
# per row and the grouping is on it (not on its epoch), so the aggregate reads the rows in
# the window's (bucket, ts) order without sorting them again: a quarter less time for
# daily bars from hourly ones.
_AGGREGATE = """
SELECT extract(epoch FROM bucket)::bigint AS b,
       (array_agg(open ORDER BY ts))[1], max(high), min(low),
       (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(bid_volume),
       sum(ask_volume), sum(trades)::bigint,
       greatest(0, max(before + delta_high)), least(0, min(before + delta_low)),
       count(*) AS source_rows
FROM (
    SELECT s.*, coalesce(sum(ask_volume - bid_volume) OVER (
               PARTITION BY bucket ORDER BY ts
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM (SELECT r.*, {bucket} AS bucket FROM ({source}) r) s
) w
GROUP BY bucket ORDER BY bucket
"""
INTRADAY_BUCKET = (
    "date_bin(make_interval(secs => %(tf)s), ts, timestamptz '1970-01-01 00:00:00+00')"
)
# The trading date of a row: local time minus the session start, plus one day when the
# session wraps past midnight (so the session opening Sunday evening is Monday's).
TRADING_DATE = (
    "(((ts AT TIME ZONE %(sess_tz)s) - %(sess_start)s::interval) + %(sess_wrap)s::interval)::date"
)
DAY_BUCKET = f"((({TRADING_DATE}) - %(sess_wrap)s::interval + %(sess_start)s::interval) AT TIME ZONE %(sess_tz)s)"
WEEK_BUCKET = (
    f"((date_trunc('week', {TRADING_DATE})::date - %(sess_wrap)s::interval "
    "+ %(sess_start)s::interval) AT TIME ZONE %(sess_tz)s)"
)

AGGREGATE_INTRADAY = _AGGREGATE.format(bucket=INTRADAY_BUCKET, source=sql.SOURCE_BARS_DESC)
AGGREGATE_DAY = _AGGREGATE.format(bucket=DAY_BUCKET, source=sql.SOURCE_BARS_DESC)
AGGREGATE_WEEK = _AGGREGATE.format(bucket=WEEK_BUCKET, source=sql.SOURCE_BARS_DESC)


@dataclass(frozen=True)
class Session:
    """A symbol's trading session: local start time, whether it wraps midnight, zone."""

    tz: str
    start: timedelta  # offset of the session start from local midnight
    wraps: bool

    @classmethod
    def of(cls, symbol) -> Session:
        start = timedelta(hours=symbol.session_start.hour, minutes=symbol.session_start.minute)
        end = timedelta(hours=symbol.session_end.hour, minutes=symbol.session_end.minute)
        # 00:00-00:00 is a 24-hour session starting at midnight (crypto): no wrap.
        return cls(tz=symbol.timezone, start=start, wraps=bool(start) and end <= start)

    def params(self) -> dict:
        return {
            "sess_tz": self.tz,
            "sess_start": self.start,
            "sess_wrap": timedelta(days=1) if self.wraps else timedelta(0),
        }

    def hour_aligned(self) -> bool:
        """Can hourly rollups (UTC-aligned) be grouped into this session's days?"""
        from zoneinfo import ZoneInfo

        offset = datetime.now(ZoneInfo(self.tz)).utcoffset() or timedelta(0)
        return (self.start + offset) % timedelta(hours=1) == timedelta(0)


# Rows of md_series are only ever added (a new kind of data), so a remembered list can only
# lack a resolution that appeared since. ``bar_rows`` asks again when the list cannot serve
# a timeframe at all; otherwise a stale list plans from a finer resolution than it could
# (the same bars, read from more rows) for at most this long. A symbol without data yet is
# asked again every time. (At 2 s, every symbol's next bars request after the expiry paid
# one more query: a few percent of all requests, right in the p95.)
RESOLUTION_CACHE_SECONDS = 60.0
_resolution_cache: TTLMemo[int, list[int]] = TTLMemo(RESOLUTION_CACHE_SECONDS, remember_empty=False)


def _stored_resolutions(symbol_id: int) -> list[int]:
    with connection().cursor() as cursor:
        cursor.execute(sql.SERIES_FOR_SYMBOL, {"symbol_id": symbol_id})
        return [row[0] for row in cursor.fetchall()]


def resolutions(symbol_id: int, *, fresh: bool = False) -> list[int]:
    """Stored resolutions of a symbol. They change only when a new kind of data arrives,
    so the answer is memoised per process (``RESOLUTION_CACHE_SECONDS``)."""
    return _resolution_cache.get(symbol_id, _stored_resolutions, fresh=fresh)


def forget_resolutions(symbol_id: int | None = None) -> None:
    """Drop memoised resolutions (after a write in this process, or in tests)."""
    if symbol_id is None:
        _resolution_cache.clear()
    else:
        _resolution_cache.forget(symbol_id)


def source_resolution(available: list[int], tf: Timeframe, session: Session | None) -> int | None:
    """The coarsest stored resolution that divides the timeframe (and, for session bars,
    nests inside the session's boundaries)."""
    if tf.is_session:
        hourly_ok = session is not None and session.hour_aligned()
        candidates = [
            r for r in available if r <= 3600 and (r < 3600 or hourly_ok) and 3600 % r == 0
        ]
        if not candidates and DAILY in available:
            return DAILY  # only daily bars were stored (an imported daily OHLCV file)
    else:
        candidates = [r for r in available if tf.seconds % r == 0]
    return max(candidates) if candidates else None


def _rows_to_columns(rows: list[tuple]) -> dict[str, np.ndarray]:
    """Rows (epoch seconds first; the SQL converts, parsing timestamps in Python is slow)
    -> numpy columns, with ``time`` (int64 epoch s) and ``ts`` (UTC datetimes)."""
    if not rows:
        empty = {name: np.array([]) for name in COLUMNS}
        return empty | {"ts": np.array([], dtype=object), "time": np.array([], dtype=np.int64)}
    # Every column is numeric and NOT NULL: one 2-D conversion, transposed so that each
    # column is contiguous (TA-Lib wants that); epoch seconds are exact in a float64.
    table = np.array(rows, dtype=np.float64).T.copy()
    times = table[0].astype(np.int64)
    out = {
        "time": times,
        "ts": np.array([datetime.fromtimestamp(t, tz=UTC) for t in times.tolist()], dtype=object),
    }
    for i, name in enumerate(COLUMNS[1:], start=1):
        out[name] = table[i]
    return out


def fetch_rows(query: str, params: dict) -> list[tuple]:
    """Rows of a read on the market-data connection, in psycopg's binary format with
    server-side parameters.

    Django's cursor binds parameters client-side: every call sends the whole statement to
    be parsed and planned again, and every value comes back as text parsed in Python.
    psycopg's own cursor on the same connection binds server-side, so psycopg prepares a
    statement it has run a few times (``prepare_threshold``), and binary results hand
    integers and floats over without text parsing: about 0.3 ms less per 500 bars, a
    quarter of the bars API's database time. Django's wrapper still opens the connection,
    runs its health check and maps database errors."""
    with connection().cursor() as wrapper, connection().wrap_database_errors:
        cursor = psycopg.Cursor(wrapper.cursor.connection)
        return cursor.execute(query, params, binary=True).fetchall()


@dataclass(frozen=True)
class BarsPlan:
    """The one SQL statement that answers a bars request, and how to trim its rows
    (``trim``): aggregated rows come oldest first, stored bars newest first."""

    query: str
    params: dict
    aggregated: bool
    limit: int


# Stored bars served as they are, newest first as the index reads them: putting 5,000 of
# them in time order is a list reversal in ``trim``, where a SQL sort cost PostgreSQL
# about a third of the query.
SIMPLE_BARS = sql.source_bars_desc(f"extract(epoch FROM ts)::bigint, {', '.join(sql.BAR_VALUES)}")


def plan_bars(
    symbol,
    tf: Timeframe,
    available: list[int],
    *,
    limit: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> BarsPlan | None:
    session = Session.of(symbol)
    res = source_resolution(available, tf, session)
    if res is None:
        return None
    limit = max(1, min(limit, MAX_BARS))
    per_bar = max(1, tf.seconds // res)
    params = {
        "symbol_id": symbol.id,
        "res": res,
        "tf": tf.seconds,
        "start": start or FAR_PAST,
        "end": end or FAR_FUTURE,
        # one extra bar's worth of rows: the oldest bucket may be cut short
        "n": (limit + 1) * per_bar,
    }
    if tf.is_session and res == DAILY:
        # Stored daily bars already are sessions: serve them (1d) or group them by week (1w)
        # on their own dates.
        if tf.name == "1d":
            return BarsPlan(SIMPLE_BARS, params, False, limit)
        params |= {
            "sess_tz": "UTC",
            "sess_start": timedelta(0),
            "sess_wrap": timedelta(0),
            "n": (limit + 1) * 7,
        }
        return BarsPlan(AGGREGATE_WEEK, params, True, limit)
    if tf.is_session:
        params |= session.params()
        params["n"] *= 2  # sessions have gaps (weekends, breaks); trimmed to `limit` after
        return BarsPlan(AGGREGATE_WEEK if tf.name == "1w" else AGGREGATE_DAY, params, True, limit)
    if res == tf.seconds:
        return BarsPlan(SIMPLE_BARS, params, False, limit)
    return BarsPlan(AGGREGATE_INTRADAY, params, True, limit)


def trim(plan: BarsPlan, rows: list[tuple]) -> list[tuple]:
    """The plan's rows as the newest ``limit`` bars, oldest first."""
    if not plan.aggregated:
        return rows[: plan.limit][::-1]
    if rows:
        # When the row limit was reached the oldest bucket may be missing rows: drop it.
        if sum(row[-1] for row in rows) >= plan.params["n"]:
            rows = rows[1:]
        rows = [row[:-1] for row in rows]
    return rows[-plan.limit :]


def bar_rows(
    symbol, tf: Timeframe, *, limit: int, start: datetime | None = None, end: datetime | None = None
) -> list[tuple]:
    """The newest ``limit`` bars in ``[start, end)``, oldest first, as row tuples
    ``(epoch s, *sql.BAR_VALUES)`` (floats, ``trades`` an int): the bars API serialises
    these directly."""
    plan = plan_bars(symbol, tf, resolutions(symbol.id), limit=limit, start=start, end=end)
    if plan is None:  # the memo may predate the first rows this timeframe can come from
        available = resolutions(symbol.id, fresh=True)
        plan = plan_bars(symbol, tf, available, limit=limit, start=start, end=end)
    if plan is None:
        return []
    return trim(plan, fetch_rows(plan.query, plan.params))


def bars(
    symbol, tf: Timeframe, *, limit: int, start: datetime | None = None, end: datetime | None = None
) -> dict[str, np.ndarray]:
    """The newest ``limit`` bars in ``[start, end)``, oldest first, as numpy columns."""
    return _rows_to_columns(bar_rows(symbol, tf, limit=limit, start=start, end=end))


def last_trade(symbol_id: int) -> tuple[datetime, float] | None:
    """The newest stored trade (time, price), or None."""
    with connection().cursor() as cursor:
        cursor.execute(sql.LAST_TICK_BEFORE, {"symbol_id": symbol_id, "ts": FAR_FUTURE})
        row = cursor.fetchone()
    return None if row is None else (row[2], float(row[0]))
