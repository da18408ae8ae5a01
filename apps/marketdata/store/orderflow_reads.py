"""Reads for the order-flow API: footprint rows, minute bars, ticks, profile aggregates.

Everything here returns numpy columns, never Python rows: results come back through
``COPY (query) TO STDOUT (FORMAT binary)`` and are parsed as one structured numpy array
(the mirror image of ``copybuf``), so no Python object is made per value, and the
COPY's row messages are taken from libpq directly (``_copy_out``). Measured on the
footprint benchmark this is faster than psycopg's C-level binary ``fetchall`` of the same
rows (which still leaves tuples to convert), column ``array_agg`` or one packed ``bytea``.
Aggregation happens in SQL wherever it shrinks what crosses the wire.
Times come back as epoch seconds (int64); prices and volumes as float64.

Price rows: where a query buckets prices itself (``row_size`` larger than the stored price
grid), it uses the library's rule (``analytics.orderflow._core.row_index``) written in SQL:
``q = price / row_size``; ``q`` within 1e-9 (or 1e-14 relative) of an integer is that
integer, else ``floor(q)``. PostgreSQL's float8 division and ``round`` (half to even, like
numpy's) are IEEE, so SQL and numpy put every price in the same row; the SQL returns the
integer row, the caller turns it into a price with ``row_price``.

Session ranges: a symbol's trading date D is its session's date as daily bars assign it
(``reads.Session``, ``reads.TRADING_DATE``); a session that wraps midnight (CME
17:00-16:00 Chicago) runs from D-1 17:00 to D 16:00 local time, 00:00-00:00 is 24 hours.

SQL constants follow ``store/sql.py``: bound ``%(name)s`` parameters (merged client-side by
psycopg for COPY, which takes no server-side parameters); the only formatted parts are the
allow-listed row expressions below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import pq

from apps.marketdata.store.db import connection
from apps.marketdata.store.reads import DAY_BUCKET, TRADING_DATE, WEEK_BUCKET, Session

PG_EPOCH_S = 946_684_800  # PostgreSQL timestamps count microseconds from 2000-01-01
COPY_HEADER = 19  # "PGCOPY\n\377\r\n\0", int32 flags, int32 header-extension length

_ROW_INDEX = """(CASE WHEN abs(q - round(q)) <= greatest(1e-9, 1e-14 * abs(q))
             THEN round(q) ELSE floor(q) END)::bigint"""
_BIN = "date_bin(make_interval(secs => %(tf)s), ts, timestamptz '1970-01-01 00:00:00+00')"
_RANGE = "symbol_id = %(symbol_id)s AND ts >= %(start)s AND ts < %(end)s"

# --- footprint -----------------------------------------------------------------------------
# Footprint levels summed per (bar of %(tf)s seconds, price) or per (bar, row of
# %(row_size)s): the shape the API returns, aggregated by PostgreSQL.
FOOTPRINT_BY_BAR_PRICE = f"""
SELECT {_BIN} AS bar, price, sum(bid_volume), sum(ask_volume), sum(trades)::bigint
FROM md_footprint_1m WHERE {_RANGE}
GROUP BY 1, 2
"""
FOOTPRINT_BY_BAR_ROW = f"""
SELECT bar, {_ROW_INDEX} AS row, sum(bid_volume), sum(ask_volume), sum(trades)::bigint
FROM (SELECT {_BIN} AS bar, price / %(row_size)s AS q, bid_volume, ask_volume, trades
      FROM md_footprint_1m WHERE {_RANGE}) f
GROUP BY 1, 2
"""
# The same per session-aligned bar (1d/1w: the bucket expressions of reads.py, so footprint
# bars start exactly where the daily and weekly bars of the bars API do).
_SESSION_LEVELS = """
SELECT bar, {key}, sum(bid_volume), sum(ask_volume), sum(trades)::bigint
FROM (SELECT {bucket} AS bar, {value}, bid_volume, ask_volume, trades
      FROM md_footprint_1m WHERE {range}) f
GROUP BY 1, 2
"""
_BY_PRICE = {"key": "price", "value": "price"}
_BY_ROW = {"key": f"{_ROW_INDEX} AS row", "value": "price / %(row_size)s AS q"}
FOOTPRINT_BY_DAY_PRICE = _SESSION_LEVELS.format(bucket=DAY_BUCKET, range=_RANGE, **_BY_PRICE)
FOOTPRINT_BY_DAY_ROW = _SESSION_LEVELS.format(bucket=DAY_BUCKET, range=_RANGE, **_BY_ROW)
FOOTPRINT_BY_WEEK_PRICE = _SESSION_LEVELS.format(bucket=WEEK_BUCKET, range=_RANGE, **_BY_PRICE)
FOOTPRINT_BY_WEEK_ROW = _SESSION_LEVELS.format(bucket=WEEK_BUCKET, range=_RANGE, **_BY_ROW)
_LEVEL_QUERIES = {
    (None, False): FOOTPRINT_BY_BAR_PRICE,
    (None, True): FOOTPRINT_BY_BAR_ROW,
    ("1d", False): FOOTPRINT_BY_DAY_PRICE,
    ("1d", True): FOOTPRINT_BY_DAY_ROW,
    ("1w", False): FOOTPRINT_BY_WEEK_PRICE,
    ("1w", True): FOOTPRINT_BY_WEEK_ROW,
}

# --- bars ----------------------------------------------------------------------------------
# Stored bars of one resolution in time order: OHLC, delta and the running-delta extremes.
BARS_RANGE = f"""
SELECT ts, open, high, low, close, ask_volume - bid_volume, delta_high, delta_low
FROM md_bars WHERE {_RANGE} AND res = %(res)s ORDER BY ts
"""
# How many bars of %(tf)s seconds the stored bars of %(res)s seconds fill, and their trades.
COUNT_BARS = f"""
SELECT count(DISTINCT {_BIN}), coalesce(sum(trades), 0)::bigint
FROM md_bars WHERE {_RANGE} AND res = %(res)s
"""
DELTA_SUM = f"""
SELECT coalesce(sum(ask_volume - bid_volume), 0) FROM md_bars WHERE {_RANGE} AND res = %(res)s
"""
PRICE_RANGE = f"""
SELECT min(low), max(high) FROM md_bars WHERE {_RANGE} AND res = %(res)s
"""
# The same from hourly bars for the whole hours and 1-minute bars at the two ragged edges
# (a 30-day range reads about 800 bars instead of 43,200).
PRICE_RANGE_HOURLY = """
SELECT min(low), max(high) FROM md_bars
WHERE symbol_id = %(symbol_id)s AND (
    (res = 3600 AND ts >= %(hour_start)s AND ts < %(hour_end)s)
    OR (res = 60 AND ts >= %(start)s AND ts < %(hour_start)s)
    OR (res = 60 AND ts >= %(hour_end)s AND ts < %(end)s))
"""
# Newest stored footprint minute (the PK index answers it backwards, without a scan).
LAST_FOOTPRINT_MINUTE = """
SELECT ts FROM md_footprint_1m WHERE symbol_id = %(symbol_id)s AND ts < %(before)s
ORDER BY ts DESC LIMIT 1
"""
LAST_BAR = """
SELECT ts FROM md_bars WHERE symbol_id = %(symbol_id)s AND res = %(res)s AND ts < %(before)s
ORDER BY ts DESC LIMIT 1
"""
LAST_TICK = """
SELECT ts FROM md_ticks WHERE symbol_id = %(symbol_id)s AND ts < %(before)s
ORDER BY ts DESC LIMIT 1
"""
# Trading dates (the symbol's session, see reads.py) that have bars, newest first.
SESSION_DATES = f"""
SELECT DISTINCT {TRADING_DATE} AS day
FROM md_bars WHERE {_RANGE} AND res = %(res)s
ORDER BY day DESC LIMIT %(n)s
"""

# --- ticks ---------------------------------------------------------------------------------
# In the store's canonical order (the 1-second rollups use the same one).
TICKS_RANGE = f"""
SELECT ts, price, size, side, inferred::int::int2
FROM md_ticks WHERE {_RANGE}
ORDER BY ts, length(trade_id), trade_id, price, size
"""

# --- volume profiles -----------------------------------------------------------------------
PROFILE_BY_PRICE = f"""
SELECT price, sum(bid_volume), sum(ask_volume)
FROM md_footprint_1m WHERE {_RANGE}
GROUP BY price
"""
PROFILE_BY_ROW = f"""
SELECT {_ROW_INDEX} AS row, sum(bid_volume), sum(ask_volume)
FROM (SELECT price / %(row_size)s AS q, bid_volume, ask_volume
      FROM md_footprint_1m WHERE {_RANGE}) f
GROUP BY 1
"""
# Per session (ranges given as two arrays): one index range scan per session.
_SESSIONS = """unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[])
     WITH ORDINALITY AS s(lo, hi, n)"""
SESSION_PROFILES_BY_PRICE = f"""
SELECT s.n::bigint, f.price, sum(f.bid_volume), sum(f.ask_volume)
FROM {_SESSIONS}
JOIN md_footprint_1m f ON f.symbol_id = %(symbol_id)s AND f.ts >= s.lo AND f.ts < s.hi
GROUP BY 1, 2
"""
SESSION_PROFILES_BY_ROW = f"""
SELECT n, {_ROW_INDEX} AS row, sum(bid_volume), sum(ask_volume)
FROM (SELECT s.n::bigint AS n, f.price / %(row_size)s AS q, f.bid_volume, f.ask_volume
      FROM {_SESSIONS}
      JOIN md_footprint_1m f ON f.symbol_id = %(symbol_id)s AND f.ts >= s.lo AND f.ts < s.hi
     ) f
GROUP BY 1, 2
"""

_KINDS = {"ts": ">i8", "us": ">i8", "f8": ">f8", "i8": ">i8", "i2": ">i2"}


def _copy_out(cursor, statement: str, params: dict) -> bytearray:
    """The whole output of a binary ``COPY ... TO STDOUT``.

    PostgreSQL sends a COPY one protocol message per row, and psycopg's ``Copy.read``
    takes one message per call through its wait machinery, a few microseconds each: most
    of the client's time on a 10,000-row read (and seconds on a million ticks). Messages
    that libpq already holds are taken here with one ``get_copy_data`` call each; psycopg
    waits only when none is buffered, and reads the end of the COPY and its result after
    the trailer (a binary COPY ends with an int16 -1 of its own message)."""
    buffer = bytearray()
    with cursor.copy(statement, params) as copy:
        pgconn = cursor.connection.pgconn
        while True:
            nbytes, data = pgconn.get_copy_data(1)  # 1: never block
            if nbytes < 0:
                raise _copy_failure(cursor.connection)
            if nbytes == 0 and not (data := copy.read()):
                break
            first = not buffer
            buffer += data
            header = COPY_HEADER + int.from_bytes(buffer[15:19], "big") if first else 0
            if len(data) == header + 2:  # the trailer: no row is 2 bytes long
                copy.read()  # the end of the COPY (b"")
                break
    return buffer


def _copy_failure(conn) -> Exception:
    """The server ended a COPY before its trailer: that is an error. Its results are read
    (leaving the connection idle) and the error raised as psycopg would."""
    error: Exception = psycopg.OperationalError("COPY ended before its trailer")
    while (result := conn.pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            error = psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    return error


def copy_columns(query: str, params: dict, fields: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Run ``query`` through a binary COPY and return its columns as numpy arrays.

    ``fields`` name the result columns in order with their kinds: ``ts`` (timestamptz ->
    epoch seconds, int64, floored), ``us`` (timestamptz -> epoch microseconds), ``f8``,
    ``i8``, ``i2``. The query must not produce NULLs (every
    column here is NOT NULL or coalesced); a NULL breaks the fixed row layout and raises.
    """
    dtype = [("nfields", ">i2")]
    for name, kind in fields:
        dtype += [(f"{name}_len", ">i4"), (name, _KINDS[kind])]
    row = np.dtype(dtype)
    with connection().cursor() as wrapper, connection().wrap_database_errors:
        # The psycopg cursor itself: Django's debug wrapper drops COPY parameters.
        buffer = _copy_out(wrapper.cursor, f"COPY ({query}) TO STDOUT (FORMAT binary)", params)
    if len(buffer) < COPY_HEADER + 2:
        raise RuntimeError("truncated binary COPY output")
    extension = int.from_bytes(buffer[15:19], "big")
    body = memoryview(buffer)[COPY_HEADER + extension : len(buffer) - 2]
    if len(body) % row.itemsize:
        raise RuntimeError("binary COPY rows do not match the expected layout (a NULL?)")
    rows = np.frombuffer(body, dtype=row)
    if rows.size and (
        np.any(rows["nfields"] != len(fields))
        or any(np.any(rows[f"{name}_len"] != row[name].itemsize) for name, _ in fields)
    ):
        raise RuntimeError("binary COPY rows do not match the expected layout (a NULL?)")
    out = {}
    for name, kind in fields:
        column = rows[name]
        if kind == "ts":
            out[name] = column.astype(np.int64) // 1_000_000 + PG_EPOCH_S
        elif kind == "us":
            out[name] = column.astype(np.int64) + PG_EPOCH_S * 1_000_000
        elif kind == "f8":
            out[name] = column.astype(np.float64)
        else:
            out[name] = column.astype(np.int64)
    return out


def epoch(when: datetime) -> int:
    return math.floor(when.timestamp())


def utc(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def _range(symbol_id: int, start: datetime, end: datetime, **extra) -> dict:
    return {"symbol_id": symbol_id, "start": start, "end": end, **extra}


def _scalar(query: str, params: dict):
    with connection().cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()


# --- footprint -----------------------------------------------------------------------------


def footprint_levels(
    symbol_id: int,
    start: datetime,
    end: datetime,
    *,
    timeframe: int,
    row_size: float | None,
    session: str | None = None,
    session_params: dict | None = None,
) -> dict[str, np.ndarray]:
    """Levels per (bar, price) summed in SQL, unordered.

    Bars: ``timeframe`` seconds (a multiple of 60, epoch-aligned), or with ``session`` "1d"
    / "1w" the symbol's sessions (``session_params`` = ``reads.Session.params()``).
    ``row_size`` None keeps the stored prices (``price``), else rows are bucketed in SQL
    (``row``: integer row index)."""
    params = _range(symbol_id, start, end, tf=timeframe, row_size=row_size)
    params |= session_params or {}
    query = _LEVEL_QUERIES[(session, row_size is not None)]
    key = ("price", "f8") if row_size is None else ("row", "i8")
    return copy_columns(
        query,
        params,
        [("bar", "ts"), key, ("bid", "f8"), ("ask", "f8"), ("trades", "i8")],
    )


# --- bars and ticks ------------------------------------------------------------------------


def bars(symbol_id: int, start: datetime, end: datetime, *, res: int = 60) -> dict:
    """Stored bars of ``res`` seconds in time order: ts, open, high, low, close, delta,
    delta_high, delta_low."""
    return copy_columns(
        BARS_RANGE,
        _range(symbol_id, start, end, res=res),
        [
            ("ts", "ts"),
            ("open", "f8"),
            ("high", "f8"),
            ("low", "f8"),
            ("close", "f8"),
            ("delta", "f8"),
            ("delta_high", "f8"),
            ("delta_low", "f8"),
        ],
    )


def count_bars(
    symbol_id: int, start: datetime, end: datetime, *, timeframe: int, res: int
) -> tuple[int, int]:
    """(bars of ``timeframe`` seconds that have data, trades in them), from stored bars of
    ``res`` seconds (which must divide ``timeframe``)."""
    row = _scalar(COUNT_BARS, _range(symbol_id, start, end, tf=timeframe, res=res))
    return int(row[0]), int(row[1])


def delta_sum(symbol_id: int, start: datetime, end: datetime, *, res: int) -> float:
    """Net delta (ask - bid) of the stored bars of ``res`` seconds in ``[start, end)``."""
    return float(_scalar(DELTA_SUM, _range(symbol_id, start, end, res=res))[0])


def price_range(
    symbol_id: int, start: datetime, end: datetime, *, hourly: bool = False
) -> tuple[float, float] | None:
    """(lowest low, highest high) of the stored 1-minute bars in ``[start, end)``; with
    ``hourly`` (the symbol has hourly rollups) whole hours are read from those."""
    params = _range(symbol_id, start, end, res=60)
    query = PRICE_RANGE
    first_hour, last_hour = -(-epoch(start) // 3600) * 3600, epoch(end) // 3600 * 3600
    if hourly and first_hour < last_hour:
        query = PRICE_RANGE_HOURLY
        params |= {"hour_start": utc(first_hour), "hour_end": utc(last_hour)}
    low, high = _scalar(query, params)
    return None if low is None else (float(low), float(high))


def last_data_time(symbol_id: int, *, source: str, before: datetime) -> datetime | None:
    """Newest stored time before ``before``: ``footprint`` (minute rows), ``ticks`` or
    ``bars`` (1-minute bars)."""
    params = {"symbol_id": symbol_id, "before": before, "res": 60}
    query = {"footprint": LAST_FOOTPRINT_MINUTE, "ticks": LAST_TICK, "bars": LAST_BAR}[source]
    row = _scalar(query, params)
    return None if row is None else row[0]


def ticks(symbol_id: int, start: datetime, end: datetime) -> dict[str, np.ndarray]:
    """Trades in time order: ts_ns, price, size, side (+1 buy / -1 sell), inferred (0/1)."""
    out = copy_columns(
        TICKS_RANGE,
        _range(symbol_id, start, end),
        [("ts_us", "us"), ("price", "f8"), ("size", "f8"), ("side", "i2"), ("inferred", "i2")],
    )
    out["ts_ns"] = out.pop("ts_us") * 1000
    return out


def session_dates(
    symbol_id: int, start: datetime, end: datetime, session_params: dict, *, limit: int
) -> list:
    """Newest ``limit`` trading dates with 1-minute bars in ``[start, end)``, newest first."""
    params = _range(symbol_id, start, end, res=60, n=limit) | session_params
    with connection().cursor() as cursor:
        cursor.execute(SESSION_DATES, params)
        return [row[0] for row in cursor.fetchall()]


# --- volume profiles -----------------------------------------------------------------------


def profile(
    symbol_id: int, start: datetime, end: datetime, *, row_size: float | None
) -> dict[str, np.ndarray]:
    """Volume at price over a range, summed in SQL: ``price`` (stored prices, when
    ``row_size`` is None) or ``row`` (integer rows of ``row_size``), bid, ask."""
    if row_size is None:
        query, key = PROFILE_BY_PRICE, ("price", "f8")
    else:
        query, key = PROFILE_BY_ROW, ("row", "i8")
    return copy_columns(
        query, _range(symbol_id, start, end, row_size=row_size), [key, ("bid", "f8"), ("ask", "f8")]
    )


def session_profiles(
    symbol_id: int, starts: list[datetime], ends: list[datetime], *, row_size: float | None
) -> dict[str, np.ndarray]:
    """Volume at price per session: ``session`` (1-based index into ``starts``), ``price``
    or ``row`` (as :func:`profile`), bid, ask."""
    params = {"symbol_id": symbol_id, "starts": starts, "ends": ends, "row_size": row_size}
    if row_size is None:
        query, key = SESSION_PROFILES_BY_PRICE, ("price", "f8")
    else:
        query, key = SESSION_PROFILES_BY_ROW, ("row", "i8")
    return copy_columns(query, params, [("session", "i8"), key, ("bid", "f8"), ("ask", "f8")])


# --- session ranges ------------------------------------------------------------------------


@dataclass(frozen=True)
class TradingSession:
    day: date
    start: datetime
    end: datetime

    def as_dict(self) -> dict:
        return {
            "session": self.day.isoformat(),
            "session_start": epoch(self.start),
            "session_end": epoch(self.end),
        }


def trading_day(symbol, when: datetime) -> date:
    """The trading date of an instant (as daily bars assign it, see ``reads``)."""
    session = Session.of(symbol)
    local = when.astimezone(ZoneInfo(session.tz)).replace(tzinfo=None)
    wrap = timedelta(days=1) if session.wraps else timedelta(0)
    return (local - session.start + wrap).date()


def session_for(symbol, day: date) -> TradingSession:
    """Start and end (UTC) of the session of trading date ``day``."""
    session = Session.of(symbol)
    zone = ZoneInfo(session.tz)
    first = day - timedelta(days=1) if session.wraps else day
    start_local = datetime(first.year, first.month, first.day) + session.start
    end_t = timedelta(hours=symbol.session_end.hour, minutes=symbol.session_end.minute)
    end_local = datetime(day.year, day.month, day.day) + end_t
    if end_local <= start_local:  # 00:00-00:00: a 24-hour session
        end_local = start_local + timedelta(days=1)
    return TradingSession(
        day,
        start_local.replace(tzinfo=zone).astimezone(UTC),
        end_local.replace(tzinfo=zone).astimezone(UTC),
    )


def sessions_between(symbol, start: datetime, end: datetime) -> list[TradingSession]:
    """Sessions (calendar trading dates, with or without data) overlapping ``[start, end)``."""
    day, last = trading_day(symbol, start), trading_day(symbol, end - timedelta(microseconds=1))
    out = []
    while day <= last:
        session = session_for(symbol, day)
        if session.end > start and session.start < end:
            out.append(session)
        day += timedelta(days=1)
    return out


def sessions_with_data(symbol, before: datetime, count: int) -> list[TradingSession]:
    """The ``count`` latest sessions that have 1-minute bars and start before ``before``,
    oldest first."""
    lookback = timedelta(days=count * 2 + 7)
    days = session_dates(
        symbol.id, before - lookback, before, Session.of(symbol).params(), limit=count
    )
    return [session_for(symbol, d) for d in sorted(days)]
