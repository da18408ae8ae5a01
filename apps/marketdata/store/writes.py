"""Writes to the market-data store. Callers own the transaction (``db.atomic()``), except
in the two live cases below.

Ticks: binary COPY into a per-connection staging table, one INSERT .. ON CONFLICT DO
NOTHING into ``md_ticks`` (idempotency), then the touched 1-second bars, the 1-minute and
1-hour rollups and the 1-minute footprint rows are rebuilt from stored data, so the result
never depends on arrival order or on how often a batch was re-sent.

Bars (Sierra Chart, imports): COPY into staging, upsert at their own resolution (last
write wins), then roll up to every standard resolution they divide.

The live cases are the exception to "callers own the transaction": ``write_one_bar``
(one Sierra Chart bar: one statement) and ``write_few_ticks`` (up to ``FEW_TICKS``
trades: all their statements as one query) run outside any transaction, which PostgreSQL
runs as one implicit transaction: one round trip, committed (or rolled back whole) on
return.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import psycopg
from psycopg import pq

from apps.marketdata.store import aggregate, closed_bars, copybuf, reads, sql
from apps.marketdata.store.db import atomic, connection, on_commit, raw_connection
from apps.marketdata.ticks import TickBatch

# Rollup levels the store maintains above any written resolution.
ROLLUPS = sql.ROLLUP_LEVELS


@dataclass(frozen=True)
class WriteResult:
    received: int
    stored: int


def _batch(cursor, statements: list[tuple[str, dict | None]]) -> None:
    """Run several statements in one round trip.

    Single writes (a Sierra Chart bar, a live tick) are dominated by round trips, not by
    work. Django's psycopg cursors bind client-side, so each statement is rendered with
    psycopg's own quoting (``mogrify``) and the lot is sent as one multi-statement query.
    Only for statements whose results are not needed.
    """
    render = cursor.cursor.mogrify
    cursor.execute(";\n".join(render(query, params) for query, params in statements))


def _begin(cursor, symbol_id: int) -> None:
    """Take the symbol's write lock and make sure the per-connection staging tables exist
    and are empty: one round trip.

    The staging tables are not remembered per connection on purpose: temp-table DDL is
    transactional, so tables created in a transaction that later rolled back are gone."""
    _batch(cursor, [(sql.LOCK_SYMBOL, {"symbol_id": symbol_id}), (sql.PREPARE_STAGING, None)])


def _rollup_statements(symbol_id: int, res: int) -> list[tuple[str, dict]]:
    """Roll the touched buckets at ``res`` up through every standard level above it."""
    statements = [(sql.REGISTER_SERIES, {"symbol_id": symbol_id, "res": res})]
    src = res
    for dst in ROLLUPS:
        if dst <= src or dst % src:
            continue
        statements += [
            (sql.ROLLUP_BARS, {"symbol_id": symbol_id, "src": src, "dst": dst}),
            (sql.REGISTER_SERIES, {"symbol_id": symbol_id, "res": dst}),
            (sql.RETOUCH, {"res": dst}),
        ]
        src = dst
    return statements


def _note_history(symbol_id: int, oldest_ts: float) -> None:
    """Tell ``closed_bars`` how far back a write reached, once it has committed: at
    commit inside a transaction, at once after a statement that committed by itself."""
    if connection().in_atomic_block:
        on_commit(lambda: closed_bars.note_write(symbol_id, oldest_ts))
    else:
        closed_bars.note_write(symbol_id, oldest_ts)


def _copy(cursor, statement: str, payload: bytes) -> None:
    with cursor.copy(statement) as copy:
        copy.write(payload)


def _rollup_from(cursor, symbol_id: int, res: int, before=()) -> None:
    """Register the series and roll it up, after ``before`` statements, in one round trip."""
    reads.forget_resolutions(symbol_id)
    _batch(cursor, [*before, *_rollup_statements(symbol_id, res)])


def _tick_payload(symbol_id: int, batch: TickBatch, inferred: np.ndarray) -> bytes:
    n = len(batch)
    return copybuf.build(
        [
            ("symbol_id", np.full(n, symbol_id, dtype=np.int32)),
            ("ts", copybuf.ns_to_pg_us(batch.ts_ns)),
            ("price", batch.price),
            ("size", batch.size),
            ("side", batch.side.astype(np.int16)),
            ("inferred", inferred.astype(np.bool_)),
        ],
        text=batch.trade_id,
    )


def _bar_payload(
    symbol_id: int, res: int, bars: dict[str, np.ndarray], delta_high=None, delta_low=None
) -> bytes:
    n = len(bars["ts_ns"])
    delta = bars["ask_volume"] - bars["bid_volume"]
    oi = bars.get("open_interest")
    return copybuf.build(
        [
            ("symbol_id", np.full(n, symbol_id, dtype=np.int32)),
            ("res", np.full(n, res, dtype=np.int32)),
            ("ts", copybuf.ns_to_pg_us(bars["ts_ns"])),
            *[(name, np.asarray(bars[name], dtype=np.float64)) for name in BAR_FIELDS],
            ("trades", np.asarray(bars["trades"], dtype=np.int32)),
            ("delta_high", np.maximum(delta, 0.0) if delta_high is None else delta_high),
            ("delta_low", np.minimum(delta, 0.0) if delta_low is None else delta_low),
            # NaN -> NULL in UPSERT_STAGED_BARS
            ("open_interest", np.full(n, np.nan) if oi is None else np.asarray(oi, np.float64)),
        ]
    )


def _rollups_fast(cursor, symbol_id: int, batch: TickBatch) -> list[tuple[str, dict | None]]:
    """Every trade of the batch was new: aggregate it in numpy. Seconds that already had
    trades are rebuilt in SQL; footprint rows are sums, so the batch's are added (that
    last statement is returned, to run in the rollup's round trip)."""
    cursor.execute(sql.SECONDS_WITH_BARS, {"symbol_id": symbol_id})
    known = [row[0] for row in cursor.fetchall()]
    seconds = aggregate.second_bars(batch)
    if known:
        known_ns = np.array([int(t.timestamp()) * 1_000_000_000 for t in known])
        fresh = ~np.isin(seconds["ts_ns"], known_ns)
        seconds = {k: v[fresh] for k, v in seconds.items()}
        cursor.execute(sql.ROLLUP_TICKS_TO_1S_FOR, {"symbol_id": symbol_id, "buckets": known})
    if len(seconds["ts_ns"]):  # no bar exists for these seconds, and the symbol is locked
        _copy(
            cursor,
            sql.COPY_BARS,
            _bar_payload(symbol_id, 1, seconds, seconds["delta_high"], seconds["delta_low"]),
        )
    rows = aggregate.footprint_rows(batch)
    n = len(rows["ts_ns"])
    _copy(
        cursor,
        sql.COPY_STAGE_FOOTPRINT,
        copybuf.build(
            [
                ("symbol_id", np.full(n, symbol_id, dtype=np.int32)),
                ("ts", copybuf.ns_to_pg_us(rows["ts_ns"])),
                ("price", rows["price"]),
                ("bid_volume", rows["bid_volume"]),
                ("ask_volume", rows["ask_volume"]),
                ("trades", rows["trades"].astype(np.int32)),
            ]
        ),
    )
    return [(sql.ADD_STAGED_FOOTPRINT, None)]


def _copy_new_ticks(cursor, payload: bytes) -> bool:
    """COPY straight into md_ticks inside a savepoint; False if a trade was already there."""
    try:
        with atomic():  # a savepoint: a unique violation rolls back this COPY only
            _copy(cursor, sql.COPY_TICKS, payload)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def write_ticks(symbol_id: int, batch: TickBatch, inferred: np.ndarray) -> WriteResult:
    """Store trades (already validated, deduplicated and classified) and their rollups."""
    n = len(batch)
    if n == 0:
        return WriteResult(0, 0)
    payload = _tick_payload(symbol_id, batch, inferred)
    raw_connection()  # make sure Django opened the connection
    params = {"symbol_id": symbol_id}
    with connection().cursor() as cursor:
        _begin(cursor, symbol_id)
        if _copy_new_ticks(cursor, payload):
            stored = n
            seconds = np.unique(batch.ts_ns // 1_000_000_000)
            cursor.execute(
                sql.TOUCH_SECONDS,
                {"buckets": [datetime.fromtimestamp(int(s), tz=UTC) for s in seconds]},
            )
            before = _rollups_fast(cursor, symbol_id, batch)
        else:  # some trades were stored before: insert the rest, rebuild from storage
            _copy(cursor, sql.COPY_STAGE_TICKS, payload)
            cursor.execute(sql.INSERT_TICKS)
            stored, touched = cursor.fetchone()
            if not touched:
                return WriteResult(n, int(stored))
            before = [(sql.ROLLUP_TICKS_TO_1S, params), (sql.ROLLUP_TICKS_TO_FOOTPRINT, params)]
        _rollup_from(cursor, symbol_id, 1, before)
    _note_history(symbol_id, int(batch.ts_ns.min()) / 1e9)
    return WriteResult(n, int(stored))


# Up to this many trades take ``write_few_ticks`` (one round trip) when no transaction is
# open; bigger batches take the binary COPY path of ``write_ticks``.
FEW_TICKS = 256


def _buckets(ts_ns: np.ndarray, seconds: int) -> list[datetime]:
    starts = np.unique(ts_ns // (seconds * 1_000_000_000)) * seconds
    return [datetime.fromtimestamp(int(s), tz=UTC) for s in starts]


def write_few_ticks(symbol_id: int, batch: TickBatch, inferred: np.ndarray) -> WriteResult:
    """Store a few trades and their rollups, committed on return: one round trip.

    Call outside ``db.atomic()``: the statements go as one simple-protocol query, which
    PostgreSQL runs as one implicit transaction (see ``write_one_bar``). New trades are
    added to the footprint; the touched seconds are rebuilt from the stored trades and
    rolled up, so the result is the same as ``write_ticks``'s, in any arrival order.
    """
    if connection().in_atomic_block:
        raise RuntimeError("write_few_ticks commits by itself; call it outside db.atomic()")
    n = len(batch)
    if n == 0:
        return WriteResult(0, 0)
    ids = {"symbol_id": symbol_id}
    rows = ids | {
        "us": (batch.ts_ns // 1000).tolist(),
        "price": batch.price.tolist(),
        "size": batch.size.tolist(),
        "side": batch.side.astype(int).tolist(),
        "inferred": inferred.astype(bool).tolist(),
        "trade_id": list(batch.trade_id),
    }
    statements = [
        (sql.LOCK_SYMBOL, ids),
        (sql.INSERT_FEW_TICKS, rows),
        (sql.ROLLUP_TICKS_TO_1S_FOR, ids | {"buckets": _buckets(batch.ts_ns, 1)}),
        (sql.REGISTER_SERIES, ids | {"res": 1}),
    ]
    src = 1
    for dst in ROLLUPS:
        buckets = _buckets(batch.ts_ns, dst)
        statements.append((sql.ROLLUP_BARS_FOR, ids | {"src": src, "dst": dst, "buckets": buckets}))
        statements.append((sql.REGISTER_SERIES, ids | {"res": dst}))
        src = dst
    raw_connection()
    reads.forget_resolutions(symbol_id)
    with connection().cursor() as cursor:
        _batch(cursor, statements)
        cursor.cursor.nextset()  # past the lock's result, to the insert's count
        (stored,) = cursor.fetchone()
    _note_history(symbol_id, int(batch.ts_ns.min()) / 1e9)
    return WriteResult(n, int(stored))


BAR_FIELDS = ("open", "high", "low", "close", "volume", "bid_volume", "ask_volume")


def _one_bar_params(symbol_id: int, res: int, ts: float, bar: Mapping) -> dict:
    oi = bar.get("open_interest")
    return {name: float(bar[name]) for name in BAR_FIELDS} | {
        "symbol_id": symbol_id,
        "res": res,
        "ts": datetime.fromtimestamp(ts, tz=UTC),
        "trades": int(bar["trades"]),
        "open_interest": None if oi is None or math.isnan(oi) else float(oi),
    }


def _write_bar_call(symbol_id: int, res: int, ts: float, bar: Mapping) -> None:
    """One ``md_write_bar`` call inside a caller's transaction: psycopg's own cursor on
    Django's connection binds server-side (psycopg prepares it after a few runs); Django's
    wrapper opens the connection, runs its health check and maps database errors."""
    reads.forget_resolutions(symbol_id)
    params = _one_bar_params(symbol_id, res, ts, bar)
    conn = connection()
    with conn.cursor() as wrapper, conn.wrap_database_errors:
        psycopg.Cursor(wrapper.cursor.connection).execute(sql.WRITE_ONE_BAR, params)


_PREPARED_NAME = b"tf_md_write_bar"
_PREPARED_FLAG = "_tf_md_write_bar_prepared"  # on the psycopg connection: prepared there
_BINARY = [1] * len(sql.WRITE_ONE_BAR_TYPES)
_INT4 = struct.Struct("!i").pack
_INT8 = struct.Struct("!q").pack
_FLOAT8 = struct.Struct("!d").pack
_PG_EPOCH = 946_684_800  # 2000-01-01 UTC: binary timestamptz counts microseconds from it


def _binary_params(symbol_id: int, res: int, ts: float, bar: Mapping) -> list[bytes | None]:
    oi = bar.get("open_interest")
    return [
        _INT4(symbol_id),
        _INT4(res),
        _INT8(round((ts - _PG_EPOCH) * 1_000_000)),  # exact for whole seconds
        *[_FLOAT8(bar[name]) for name in BAR_FIELDS],
        _INT8(int(bar["trades"])),
        None if oi is None or math.isnan(oi) else _FLOAT8(oi),
    ]


def _write_bar_prepared(symbol_id: int, res: int, ts: float, bar: Mapping) -> None:
    """One ``md_write_bar`` call as its own transaction, on libpq directly.

    The statement is prepared once per connection under its own name and its parameters
    go in PostgreSQL's binary format, encoded here: psycopg's cursor spends about 0.06 ms
    of CPU per call adapting a dozen values (a tenth of a Sierra Chart bar POST), libpq
    next to nothing. psycopg forgets its prepared statements (DEALLOCATE ALL) after a
    rollback on the connection: a statement found missing is prepared again, which is
    safe because nothing else runs in this implicit transaction. Errors are psycopg's,
    mapped by Django's wrapper (a lost store is an ``OperationalError``: a 503 upstream).
    """
    reads.forget_resolutions(symbol_id)
    params = _binary_params(symbol_id, res, ts, bar)
    conn = connection()
    conn.close_if_health_check_failed()  # what Django's cursor() does first
    conn.ensure_connection()
    with conn.wrap_database_errors:
        raw = conn.connection
        for attempt in (1, 2):
            if not getattr(raw, _PREPARED_FLAG, False):
                _check(raw, raw.pgconn.prepare(_PREPARED_NAME, _PREPARED, _TYPES))
                setattr(raw, _PREPARED_FLAG, True)
            result = raw.pgconn.exec_prepared(_PREPARED_NAME, params, _BINARY, 1)
            try:
                return _check(raw, result)
            except psycopg.errors.InvalidSqlStatementName:
                setattr(raw, _PREPARED_FLAG, False)
                if attempt == 2:
                    raise


_PREPARED = sql.WRITE_ONE_BAR_PREPARED.encode()
_TYPES = list(sql.WRITE_ONE_BAR_TYPES)


def _check(raw: psycopg.Connection, result) -> None:
    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        raise psycopg.errors.error_from_result(result, encoding=raw.info.encoding)


def write_bars(symbol_id: int, res: int, bars: dict[str, np.ndarray]) -> WriteResult:
    """Upsert bars of ``res`` seconds (``bars``: ts_ns, OHLCV, bid/ask volume, trades,
    optional open_interest with NaN for none) and their rollups."""
    n = len(bars["ts_ns"])
    if n == 0:
        return WriteResult(0, 0)
    if n == 1:
        # One statement, no staging (see ``_write_bar_call``); ts to the microsecond.
        one = {name: column[0] for name, column in bars.items() if name != "ts_ns"}
        _write_bar_call(symbol_id, res, int(bars["ts_ns"][0]) / 1e9, one)
    else:
        raw_connection()
        with connection().cursor() as cursor:
            _begin(cursor, symbol_id)
            _copy(cursor, sql.COPY_STAGE_BARS, _bar_payload(symbol_id, res, bars))
            _rollup_from(cursor, symbol_id, res, [(sql.UPSERT_STAGED_BARS, None)])
    _note_history(symbol_id, int(bars["ts_ns"].min()) / 1e9)
    return WriteResult(n, n)


def write_one_bar(symbol_id: int, res: int, ts: int, bar: Mapping) -> WriteResult:
    """Upsert one bar and its rollups atomically, committed on return: one round trip.

    ``ts``: the bar's start in epoch seconds (a multiple of ``res``); ``bar``: open, high,
    low, close, volume, bid_volume, ask_volume, trades and optional open_interest (None or
    NaN for none), as plain numbers. Must be called outside ``db.atomic()`` (the
    connection in autocommit): the one statement is its own transaction, so the lock, the
    bar and its rollups commit together or not at all, and the usual BEGIN and COMMIT
    round trips are saved. This is what keeps a Sierra Chart single-bar POST cheap
    (``ingest_sierra_single`` benchmark).
    """
    if connection().in_atomic_block:
        raise RuntimeError("write_one_bar commits by itself; call it outside db.atomic()")
    if connection().settings_dict["OPTIONS"].get("prepare_threshold") is None:
        _write_bar_call(symbol_id, res, ts, bar)  # prepared statements are turned off
    else:
        _write_bar_prepared(symbol_id, res, ts, bar)
    closed_bars.note_write(symbol_id, ts)  # committed: see above
    return WriteResult(1, 1)


def delete_ticks_before(cutoff, batch: int = 50_000) -> int:
    """Delete ticks older than ``cutoff`` in bounded batches (retention); bars stay."""
    total = 0
    with connection().cursor() as cursor:
        while True:
            cursor.execute(sql.DELETE_OLD_TICKS, {"cutoff": cutoff, "batch": batch})
            total += cursor.rowcount
            if cursor.rowcount < batch:
                return total
