"""Every SQL statement of the market-data store, as named constants.

Parameters are always bound (``%(name)s``). The few places that need a number inside SQL
text (resolutions) format integers from the allow-list in ``timeframes.py``, never user
text. ``date_bin`` (PostgreSQL 14+) aligns buckets to the UNIX epoch, as SPEC section 2
requires for intraday bars.
"""

# --- md_bars columns ---------------------------------------------------------------------
# The value columns after the key (symbol_id, res, ts), in table order. Every bar write
# lists and overwrites them from here, so a new column cannot be missed in one upsert.
BAR_VALUES = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "bid_volume",
    "ask_volume",
    "trades",
    "delta_high",
    "delta_low",
)
BAR_WRITE_VALUES = (*BAR_VALUES, "open_interest")  # rollups from ticks have no open interest
_BAR_ROW_COLUMNS = ("symbol_id", "res", "ts", *BAR_WRITE_VALUES)
_BAR_ROW = ", ".join(_BAR_ROW_COLUMNS)


def _overwrite(columns: tuple[str, ...]) -> str:
    """``ON CONFLICT ... DO UPDATE SET`` list: each column takes the incoming row's value."""
    return ",\n    ".join(f"{c} = EXCLUDED.{c}" for c in columns)


# --- staging (per-connection temp tables, emptied at commit) -----------------------------
CREATE_STAGE_TICKS = """
CREATE TEMP TABLE IF NOT EXISTS stage_ticks (
    symbol_id integer, ts timestamptz, price double precision, size double precision,
    side smallint, inferred boolean, trade_id text
) ON COMMIT DELETE ROWS
"""
CREATE_STAGE_BARS = """
CREATE TEMP TABLE IF NOT EXISTS stage_bars (
    symbol_id integer, res integer, ts timestamptz, open double precision,
    high double precision, low double precision, close double precision,
    volume double precision, bid_volume double precision, ask_volume double precision,
    trades integer, delta_high double precision, delta_low double precision,
    open_interest double precision
) ON COMMIT DELETE ROWS
"""
CREATE_STAGE_FOOTPRINT = """
CREATE TEMP TABLE IF NOT EXISTS stage_fp (
    symbol_id integer, ts timestamptz, price double precision, bid_volume double precision,
    ask_volume double precision, trades integer
) ON COMMIT DELETE ROWS
"""
COPY_STAGE_FOOTPRINT = (
    "COPY stage_fp (symbol_id, ts, price, bid_volume, ask_volume, trades) FROM STDIN BINARY"
)
# Footprint rows are sums, so new trades (never duplicates: the fast path runs only when
# every staged trade was inserted) are added to what is stored.
ADD_STAGED_FOOTPRINT = """
INSERT INTO md_footprint_1m (symbol_id, ts, price, bid_volume, ask_volume, trades)
SELECT symbol_id, ts, price, bid_volume, ask_volume, trades FROM stage_fp
ON CONFLICT (symbol_id, ts, price) DO UPDATE SET
    bid_volume = md_footprint_1m.bid_volume + EXCLUDED.bid_volume,
    ask_volume = md_footprint_1m.ask_volume + EXCLUDED.ask_volume,
    trades = md_footprint_1m.trades + EXCLUDED.trades
"""
# Touched seconds that already had a 1-second bar before this batch.
SECONDS_WITH_BARS = """
SELECT t.bucket FROM touched t
JOIN md_bars b ON b.symbol_id = %(symbol_id)s AND b.res = 1 AND b.ts = t.bucket
"""
# Buckets (at the written resolution) touched by this transaction's writes.
CREATE_TOUCHED = """
CREATE TEMP TABLE IF NOT EXISTS touched (bucket timestamptz PRIMARY KEY) ON COMMIT DELETE ROWS
"""
COPY_STAGE_TICKS = (
    "COPY stage_ticks (symbol_id, ts, price, size, side, inferred, trade_id) FROM STDIN BINARY"
)
COPY_STAGE_BARS = f"COPY stage_bars ({_BAR_ROW}) FROM STDIN BINARY"
# Staging tables empty themselves at commit; clearing them again also covers several
# writes inside one outer transaction (an import, or a test).
COPY_BARS = f"COPY md_bars ({_BAR_ROW}) FROM STDIN BINARY"
CLEAR_STAGING = (
    "DELETE FROM stage_ticks; DELETE FROM stage_bars; DELETE FROM stage_fp; DELETE FROM touched"
)
PREPARE_STAGING = ";\n".join(
    [CREATE_STAGE_TICKS, CREATE_STAGE_BARS, CREATE_STAGE_FOOTPRINT, CREATE_TOUCHED, CLEAR_STAGING]
)

# --- ticks -------------------------------------------------------------------------------
# Writers of one symbol take turns (per-transaction advisory lock): rollups read what the
# previous writer committed, so concurrent batches for the same second never overwrite
# each other's bars. Different symbols proceed in parallel. md_write_bar takes the same
# lock itself (schema/0003_write_bar_takes_lock.sql: keep the key 7437 in step).
LOCK_SYMBOL = "SELECT pg_advisory_xact_lock(7437, %(symbol_id)s)"
# The usual case, new trades: straight into the table (a duplicate aborts this COPY and
# the caller falls back to staging + ON CONFLICT).
COPY_TICKS = (
    "COPY md_ticks (symbol_id, ts, price, size, side, inferred, trade_id) FROM STDIN BINARY"
)
TOUCH_SECONDS = """
INSERT INTO touched (bucket) SELECT DISTINCT unnest(%(buckets)s::timestamptz[])
ON CONFLICT DO NOTHING
"""
# Insert staged ticks, skipping ones already stored (same symbol, time and trade id), and
# remember which seconds received new trades. Returns (inserted ticks, touched seconds).
INSERT_TICKS = """
WITH ins AS (
    INSERT INTO md_ticks (symbol_id, ts, price, size, side, inferred, trade_id)
    SELECT symbol_id, ts, price, size, side, inferred, trade_id FROM stage_ticks
    ON CONFLICT (symbol_id, ts, trade_id) DO NOTHING
    RETURNING ts
), t AS (
    INSERT INTO touched (bucket)
    SELECT DISTINCT date_trunc('second', ts) FROM ins
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM t)
"""

# The tick rollups read trades through LATERAL per-bucket index range scans, kept from
# being flattened by ``OFFSET 0``: otherwise the planner, misjudging the never-analysed
# temp table of touched buckets or stale statistics, may scan a symbol's whole history.
# Rebuild the 1-second bars of the touched seconds from the stored trades. Trades are
# ordered by (time, trade id as a number) so the result does not depend on arrival order.
_ROLLUP_TICKS_TO_1S = f"""
INSERT INTO md_bars (symbol_id, res, ts, {", ".join(BAR_VALUES)})
SELECT %(symbol_id)s, 1, bucket,
       (array_agg(price ORDER BY ts, length(trade_id), trade_id, price, size))[1],
       max(price), min(price),
       (array_agg(price ORDER BY ts DESC, length(trade_id) DESC, trade_id DESC, price DESC,
                                size DESC))[1],
       sum(size), coalesce(sum(size) FILTER (WHERE side < 0), 0),
       coalesce(sum(size) FILTER (WHERE side > 0), 0),
       count(*), greatest(0, max(run)), least(0, min(run))
FROM (
    SELECT d.bucket, t.ts, t.price, t.size, t.side, t.trade_id,
           sum(t.size * t.side) OVER (
               PARTITION BY d.bucket
               ORDER BY t.ts, length(t.trade_id), t.trade_id, t.price, t.size
               ROWS UNBOUNDED PRECEDING) AS run
    FROM {{buckets}} d
    CROSS JOIN LATERAL (
        SELECT ts, price, size, side, trade_id FROM md_ticks
        WHERE symbol_id = %(symbol_id)s
          AND ts >= d.bucket AND ts < d.bucket + interval '1 second'
        OFFSET 0) t
) s
GROUP BY bucket
ON CONFLICT (symbol_id, res, ts) DO UPDATE SET
    {_overwrite(BAR_VALUES)}
"""
ROLLUP_TICKS_TO_1S = _ROLLUP_TICKS_TO_1S.format(buckets="touched")
# The same rebuild for an explicit list of seconds (the fast path's already-known seconds).
ROLLUP_TICKS_TO_1S_FOR = _ROLLUP_TICKS_TO_1S.format(
    buckets="(SELECT unnest(%(buckets)s::timestamptz[]) AS bucket)"
)


# A few trades (the live case) in one statement: insert the new ones, skipping trades
# already stored, and add exactly those to the footprint; returns how many were new. The
# times are epoch microseconds, converted exactly (integer interval arithmetic).
INSERT_FEW_TICKS = """
WITH new AS (
    INSERT INTO md_ticks (symbol_id, ts, price, size, side, inferred, trade_id)
    SELECT %(symbol_id)s, timestamptz '1970-01-01 00:00:00+00' + us * interval '1 microsecond',
           price, size, side, inferred, trade_id
    FROM unnest(%(us)s::bigint[], %(price)s::float8[], %(size)s::float8[],
                %(side)s::int2[], %(inferred)s::bool[], %(trade_id)s::text[])
         AS t(us, price, size, side, inferred, trade_id)
    ON CONFLICT (symbol_id, ts, trade_id) DO NOTHING
    RETURNING ts, price, size, side
), fp AS (
    INSERT INTO md_footprint_1m (symbol_id, ts, price, bid_volume, ask_volume, trades)
    SELECT %(symbol_id)s, date_trunc('minute', ts), price,
           coalesce(sum(size) FILTER (WHERE side < 0), 0),
           coalesce(sum(size) FILTER (WHERE side > 0), 0), count(*)
    FROM new GROUP BY 2, 3
    ON CONFLICT (symbol_id, ts, price) DO UPDATE SET
        bid_volume = md_footprint_1m.bid_volume + EXCLUDED.bid_volume,
        ask_volume = md_footprint_1m.ask_volume + EXCLUDED.ask_volume,
        trades = md_footprint_1m.trades + EXCLUDED.trades
)
SELECT count(*) FROM new
"""

# Rebuild the one-minute footprint rows (volume at price by aggressor) of touched minutes.
ROLLUP_TICKS_TO_FOOTPRINT = """
INSERT INTO md_footprint_1m (symbol_id, ts, price, bid_volume, ask_volume, trades)
SELECT %(symbol_id)s, m.minute, t.price,
       coalesce(sum(t.size) FILTER (WHERE t.side < 0), 0),
       coalesce(sum(t.size) FILTER (WHERE t.side > 0), 0),
       count(*)
FROM (SELECT DISTINCT date_trunc('minute', bucket) AS minute FROM touched) m
CROSS JOIN LATERAL (
    SELECT price, size, side FROM md_ticks
    WHERE symbol_id = %(symbol_id)s
      AND ts >= m.minute AND ts < m.minute + interval '1 minute'
    OFFSET 0) t
GROUP BY m.minute, t.price
ON CONFLICT (symbol_id, ts, price) DO UPDATE SET
    bid_volume = EXCLUDED.bid_volume, ask_volume = EXCLUDED.ask_volume,
    trades = EXCLUDED.trades
"""

# Rebuild coarser bars (dst seconds) of the touched buckets from finer ones (src seconds),
# one bucket at a time by md_rollup_bars (schema/0002_rollup_function.sql: planned once
# per connection, always an index range scan).
ROLLUP_BARS = """
SELECT md_rollup_bars(%(symbol_id)s, %(src)s, %(dst)s, bucket)
FROM (SELECT DISTINCT date_bin(make_interval(secs => %(dst)s), bucket,
                               timestamptz '1970-01-01 00:00:00+00') AS bucket
      FROM touched) d
"""
# The same for explicit buckets (few-trade writes, which use no touched table).
ROLLUP_BARS_FOR = """
SELECT md_rollup_bars(%(symbol_id)s, %(src)s, %(dst)s, bucket)
FROM unnest(%(buckets)s::timestamptz[]) AS bucket
"""

# After a rollup, the touched set moves up one level (so the next rollup sees its buckets).
RETOUCH = """
WITH old AS (DELETE FROM touched RETURNING bucket)
INSERT INTO touched (bucket)
SELECT DISTINCT date_bin(make_interval(secs => %(res)s), bucket,
                         timestamptz '1970-01-01 00:00:00+00') FROM old
"""

REGISTER_SERIES = """
INSERT INTO md_series (symbol_id, res) VALUES (%(symbol_id)s, %(res)s) ON CONFLICT DO NOTHING
"""
SERIES_FOR_SYMBOL = "SELECT res FROM md_series WHERE symbol_id = %(symbol_id)s ORDER BY res"

# --- Sierra Chart and imported bars ------------------------------------------------------
# Last write wins for a re-sent bar (SPEC section 3).
UPSERT_STAGED_BARS = f"""
WITH up AS (
    INSERT INTO md_bars ({_BAR_ROW})
    SELECT symbol_id, res, ts, {", ".join(BAR_VALUES)}, nullif(open_interest, 'NaN'::float8)
    FROM stage_bars
    ON CONFLICT (symbol_id, res, ts) DO UPDATE SET
    {_overwrite(BAR_WRITE_VALUES)}
    RETURNING ts
)
INSERT INTO touched (bucket) SELECT DISTINCT ts FROM up ON CONFLICT DO NOTHING
"""

# One bar (a Sierra Chart single-bar POST): the lock, upsert, series and rollups in one
# call of md_write_bar (schema/0003_write_bar_takes_lock.sql). One statement, so it can be
# prepared. WRITE_ONE_BAR goes through psycopg's cursor (inside a caller's transaction);
# WRITE_ONE_BAR_PREPARED is the same call prepared by store/writes.py itself on each
# connection, with libpq's positional parameters (types in WRITE_ONE_BAR_TYPES). Every
# parameter has its type spelled out because psycopg sizes Python ints per value.
ROLLUP_LEVELS = (60, 3600)
_LEVELS = f"ARRAY[{', '.join(str(level) for level in ROLLUP_LEVELS)}]::integer[]"
WRITE_ONE_BAR = f"""
SELECT md_write_bar(%(symbol_id)s::integer, %(res)s::integer, %(ts)s::timestamptz,
                    %(open)s::float8, %(high)s::float8, %(low)s::float8, %(close)s::float8,
                    %(volume)s::float8, %(bid_volume)s::float8, %(ask_volume)s::float8,
                    %(trades)s::integer, %(open_interest)s::float8, {_LEVELS})
"""
WRITE_ONE_BAR_PREPARED = f"""
SELECT md_write_bar($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::integer, $12, {_LEVELS})
"""
# int4 symbol_id, res; timestamptz ts; float8 OHLCV and bid/ask volume; int8 trades (cast
# above, so an out-of-range count is PostgreSQL's error as before); float8 open_interest
WRITE_ONE_BAR_TYPES = (23, 23, 1184, *(701,) * 7, 20, 701)

# --- reads -------------------------------------------------------------------------------
BAR_COLUMNS = ", ".join(("ts", *BAR_VALUES))


def source_bars_desc(columns: str) -> str:
    """``columns`` of the newest `n` stored rows before `end` (and after `start`), newest
    first: the order of the (symbol_id, res, ts) index, so PostgreSQL does not sort."""
    return f"""
SELECT {columns} FROM md_bars
WHERE symbol_id = %(symbol_id)s AND res = %(res)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts DESC LIMIT %(n)s
"""


SOURCE_BARS_DESC = source_bars_desc(BAR_COLUMNS)
LAST_TICK_BEFORE = """
SELECT price, side, ts FROM md_ticks
WHERE symbol_id = %(symbol_id)s AND ts < %(ts)s ORDER BY ts DESC LIMIT 1
"""
TICKS_RANGE = """
SELECT ts, price, size, side FROM md_ticks
WHERE symbol_id = %(symbol_id)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts, length(trade_id), trade_id, price, size
"""

# --- maintenance -------------------------------------------------------------------------
DELETE_OLD_TICKS = """
DELETE FROM md_ticks WHERE ctid IN (
    SELECT ctid FROM md_ticks WHERE ts < %(cutoff)s LIMIT %(batch)s
)
"""
IMPORT_STATE_GET = "SELECT position FROM md_import_state WHERE source = %(source)s"
IMPORT_STATE_SET = """
INSERT INTO md_import_state (source, symbol_id, position, updated_at)
VALUES (%(source)s, %(symbol_id)s, %(position)s, now())
ON CONFLICT (source) DO UPDATE SET position = EXCLUDED.position, updated_at = now()
"""
