"""Order flow and profiles for the API (SPEC 4 and 7): footprint, CVD, volume profile, TPO.

This module decides where the numbers come from and calls the pure library
(``analytics.orderflow``) with them; the library owns every algorithm and states it in
``method``. What is decided here:

* Source. Footprints of 1 minute and longer are summed per (bar, price) by PostgreSQL from
  the 1-minute footprint rows (the fastest path measured: fewer rows cross the wire than
  the stored minutes, and the binary COPY hands them to numpy without Python objects);
  shorter bars come from the trades. Running-delta extremes come from the stored 1-minute
  bars (exact: the store computes them from the trades). Volume profiles are summed per
  price in SQL; per row of ``row_size`` in SQL too when a row spans many ticks.
* Defaults from the Symbol: row size (``footprint_row_ticks`` x tick), imbalance ratio,
  minimum volume and stacked rows. Profiles and TPO without an explicit ``row_size`` widen
  the row to a 1-2-5 multiple of it when the range would otherwise have too many rows
  (``method.row_size_rule`` says so).
* Sessions: the symbol's trading session (time zone, start, end; ``reads.Session``), the
  same one daily bars use. Trading date D of a session that wraps midnight (CME
  17:00-16:00) starts on D-1 at 17:00 local time.
* Limits: bad or too large requests raise :class:`ParamError` (the API answers 400).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np

from apps.marketdata.analytics import orderflow as of
from apps.marketdata.analytics.orderflow._core import (
    change_starts,
    combine_bar_deltas,
    row_index,
    row_price,
)
from apps.marketdata.store import orderflow_reads as ofr
from apps.marketdata.store import reads
from apps.marketdata.store.orderflow_reads import (
    TradingSession,
    epoch,
    session_for,
    sessions_between,
    sessions_with_data,
    trading_day,
    utc,
)
from apps.marketdata.timeframes import Timeframe

MAX_FOOTPRINT_BARS = 2_000
DEFAULT_FOOTPRINT_BARS = 100
MAX_FOOTPRINT_LEVELS = 500_000
MAX_FOOTPRINT_TICKS = 1_000_000
MAX_PROFILE_ROWS = 100_000  # with an explicit row_size
AUTO_PROFILE_ROWS = 2_000  # without one, rows widen until the profile fits
AUTO_TPO_ROWS = 400
MAX_PROFILE_DAYS = 400
MAX_SESSIONS = 60
MAX_DEVELOPING_BARS = 5_000
SQL_BUCKET_TICKS = 8  # rows this many ticks wide or wider are bucketed by PostgreSQL

AGGRESSOR = {
    "rule": "the feed's aggressor side; trades without one were classified at ingest by the "
    "tick rule (price > previous trade: buy; < : sell; equal: previous classification)",
    "ask_volume": "buyer-initiated",
    "bid_volume": "seller-initiated",
}


class ParamError(ValueError):
    """A request parameter the API rejects with 400 ``{"error": {code, message, field}}``."""

    def __init__(self, field: str, message: str, code: str = "invalid_parameter"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


def _head(symbol, **extra) -> dict:
    """The leading fields of every response."""
    head = {"symbol": symbol.symbol, "exchange": symbol.exchange}
    return head | {"tick_size": symbol.tick, "precision": symbol.precision} | extra


def _now() -> datetime:
    return datetime.now(tz=UTC)


# --- sessions ------------------------------------------------------------------------------


def latest_session(symbol, source: str) -> TradingSession:
    last = ofr.last_data_time(symbol.id, source=source, before=_now() + timedelta(days=2))
    return session_for(symbol, trading_day(symbol, last or _now()))


# --- parameters ----------------------------------------------------------------------------


def tick_decimal(symbol) -> Decimal:
    return Decimal(symbol.tick_size).normalize()


def default_row_size(symbol) -> Decimal:
    return tick_decimal(symbol) * symbol.footprint_row_ticks


def auto_row_size(base: Decimal, span: float, max_rows: int) -> Decimal:
    """The smallest of base x 1, 2, 5, 10, 20, 50, ... that fits ``span`` into ``max_rows``."""
    multiple = 1
    while span / float(base * multiple) + 2 > max_rows and multiple < 10**12:
        text = str(multiple)
        multiple = multiple * 5 // 2 if text[0] == "2" else multiple * 2
    return base * multiple


# --- footprint -----------------------------------------------------------------------------


def _footprint_window(symbol, tf: Timeframe, start, end, limit) -> tuple[datetime, datetime]:
    """The requested range snapped outwards to whole bars. Without ``end``: ``limit`` bars
    from ``start``, or without either the newest ``limit`` bars, never past the newest
    stored data (nor, with ``end`` only, the ``limit`` bars before ``end``)."""
    source = "ticks" if tf.seconds < 60 else "footprint"
    if tf.is_session:
        step = 7 if tf.name == "1w" else 1

        def snap(day: date) -> date:  # weekly bars start on the Monday trading date
            return day - timedelta(days=day.weekday()) if step == 7 else day

        newest = snap(latest_session(symbol, source).day) if end is None else None
        if start is not None:
            first = snap(trading_day(symbol, start))
            last = newest if end is None else snap(trading_day(symbol, end - timedelta.resolution))
            if end is None:
                last = max(first, min(last, first + timedelta(days=step * (limit - 1))))
        else:
            last = newest or snap(trading_day(symbol, end - timedelta.resolution))
            first = last - timedelta(days=step * (limit - 1))
        window_end = session_for(symbol, last + timedelta(days=step - 1)).end
        return session_for(symbol, first).start, window_end
    size = tf.seconds
    if end is not None:
        end_s = -(-math.ceil(end.timestamp()) // size) * size
    else:
        last = ofr.last_data_time(symbol.id, source=source, before=_now() + timedelta(days=2))
        end_s = (epoch(last or _now()) // size + 1) * size
    if start is None:
        return utc(end_s - limit * size), utc(end_s)
    start_s = epoch(start) // size * size
    if end is None:
        end_s = max(start_s + size, min(end_s, start_s + limit * size))
    return utc(start_s), utc(end_s)


def _check_bar_count(symbol, tf: Timeframe, start: datetime, end: datetime) -> None:
    slots = (epoch(end) - epoch(start)) // tf.seconds
    if slots <= MAX_FOOTPRINT_BARS:
        return
    message = (
        f"the range holds more than {MAX_FOOTPRINT_BARS} {tf.name} bars; "
        "narrow start/end or use a longer timeframe"
    )
    if tf.seconds < 60 or tf.is_session:
        raise ParamError("start", message, "too_many_bars")
    count, _ = ofr.count_bars(symbol.id, start, end, timeframe=tf.seconds, res=60)
    if count > MAX_FOOTPRINT_BARS:
        raise ParamError("start", message, "too_many_bars")


def _bar_stats(time, open_, high, low, close, delta, delta_high, delta_low, timeframe):
    """Source bars (time order) merged into bars of ``timeframe`` seconds (None: as they
    are): candle prices and running-delta extremes (each source bar's relative to its own
    start, shifted by the delta before it)."""
    target = time if timeframe is None else time // timeframe * timeframe
    starts = change_starts(target)
    if not time.size:
        return {"time": target, "delta_high": delta_high, "delta_low": delta_low}
    _, d_high, d_low = combine_bar_deltas(delta, delta_high, delta_low, starts)
    return {
        "time": target[starts],
        "open": open_[starts],
        "high": np.maximum.reduceat(high, starts),
        "low": np.minimum.reduceat(low, starts),
        "close": close[np.append(starts[1:], time.size) - 1],
        "delta_high": d_high,
        "delta_low": d_low,
    }


def _stats_intraday(symbol_id: int, start, end, timeframe: int) -> dict:
    b = ofr.bars(symbol_id, start, end, res=60)
    columns = ("open", "high", "low", "close", "delta", "delta_high", "delta_low")
    return _bar_stats(b["ts"], *(b[k] for k in columns), timeframe)


def _stats_sessions(symbol, tf: Timeframe, start, end) -> dict:
    b = reads.bars(symbol, tf, limit=reads.MAX_BARS, start=start, end=end)
    time = np.array([epoch(t) for t in b["ts"]], dtype=np.int64)
    delta = b["ask_volume"] - b["bid_volume"]
    columns = ("open", "high", "low", "close")
    return _bar_stats(time, *(b[k] for k in columns), delta, b["delta_high"], b["delta_low"], None)


def _stats_ticks(ticks: dict, timeframe: int) -> dict:
    price, zero = ticks["price"], np.zeros(ticks["price"].size)
    signed = ticks["size"] * ticks["side"]
    time = ticks["ts_ns"] // 1_000_000_000
    return _bar_stats(time, price, price, price, price, signed, zero, zero, timeframe)


def _attach_candles(bars: list[dict], stats: dict) -> None:
    """``candle``: the bar's first, highest, lowest and last trade price (footprint
    ``high``/``low`` are row prices), for drawing a zoomed-out footprint as a candle."""
    if "open" not in stats:
        return
    index = {t: i for i, t in enumerate(stats["time"].tolist())}
    columns = {k: stats[k].tolist() for k in ("open", "high", "low", "close")}
    for bar in bars:
        i = index.get(bar["time"])
        bar["candle"] = None if i is None else {k: v[i] for k, v in columns.items()}


def _levels(data: dict, row_size: float, extremes) -> tuple[of.FootprintLevels, bool]:
    """Columnar footprint (sorted by bar, row) from SQL-summed levels and bar extremes.
    Returns the levels and whether every bar had stored extremes."""
    rows = data["row"] if "row" in data else row_index(data["price"], row_size)
    order = np.lexsort((rows, data["bar"]))
    bar, rows = data["bar"][order], rows[order]
    n = bar.shape[0]
    if n == 0:
        empty = np.zeros(0)
        none = np.zeros(0, dtype=np.int64)
        return of.FootprintLevels(none, none, none, empty, empty, none, empty, empty), True
    # Several stored prices can share a row (row_size wider than the price grid).
    lstarts = change_starts(bar, rows)
    bid = np.add.reduceat(data["bid"][order], lstarts)
    ask = np.add.reduceat(data["ask"][order], lstarts)
    trades = np.add.reduceat(data["trades"][order], lstarts)
    level_bar = bar[lstarts]
    starts = change_starts(level_bar)
    bar_time = level_bar[starts]
    delta = np.add.reduceat(ask - bid, starts)
    e_time, e_high, e_low = extremes["time"], extremes["delta_high"], extremes["delta_low"]
    pos = np.clip(np.searchsorted(e_time, bar_time), 0, max(e_time.shape[0] - 1, 0))
    found = (e_time[pos] == bar_time) if e_time.size else np.zeros(bar_time.shape[0], bool)
    high = np.where(found, e_high[pos] if e_time.size else 0.0, np.maximum(delta, 0.0))
    low = np.where(found, e_low[pos] if e_time.size else 0.0, np.minimum(delta, 0.0))
    levels = of.FootprintLevels(
        bar_time=bar_time,
        starts=starts,
        row=rows[lstarts],
        bid=bid,
        ask=ask,
        trades=trades.astype(np.int64),
        delta_high=high,
        delta_low=low,
    )
    return levels, bool(found.all())


def footprint(
    symbol,
    tf: Timeframe,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    row_size: Decimal | None,
    ratio: float | None,
    min_volume: float | None,
    mode: str,
    stack: int | None,
) -> dict:
    row = row_size or default_row_size(symbol)
    rs = float(row)
    ratio = symbol.imbalance_ratio if ratio is None else ratio
    min_volume = symbol.imbalance_min_volume if min_volume is None else min_volume
    stack = symbol.stacked_imbalance_rows if stack is None else stack
    start, end = _footprint_window(symbol, tf, start, end, limit)
    _check_bar_count(symbol, tf, start, end)
    params = {
        "ratio": ratio,
        "min_volume": min_volume,
        "mode": mode,
        "stack": stack,
    }
    if tf.seconds < 60:
        _, trades = ofr.count_bars(symbol.id, start, end, timeframe=60, res=60)
        if trades > MAX_FOOTPRINT_TICKS:
            raise ParamError(
                "start",
                f"{trades} trades in the range (limit {MAX_FOOTPRINT_TICKS} for bars under "
                "1 minute); narrow start/end",
                "too_many_trades",
            )
        ticks = ofr.ticks(symbol.id, start, end)
        result = of.footprint_from_trades(
            ticks["ts_ns"],
            ticks["price"],
            ticks["size"],
            ticks["side"],
            timeframe=tf.seconds,
            row_size=rs,
            **params,
        )
        stats = _stats_ticks(ticks, tf.seconds)
        result["method"].update(
            {
                "store": "md_ticks in [start, end)",
                "aggressor": AGGRESSOR,
                "inferred_sides": int(ticks["inferred"].sum()),
            }
        )
    else:
        bucket_in_sql = row / tick_decimal(symbol) >= SQL_BUCKET_TICKS
        session = tf.name if tf.is_session else None
        data = ofr.footprint_levels(
            symbol.id,
            start,
            end,
            timeframe=tf.seconds,
            row_size=rs if bucket_in_sql else None,
            session=session,
            session_params=reads.Session.of(symbol).params() if session else None,
        )
        if data["bid"].shape[0] > MAX_FOOTPRINT_LEVELS:
            raise ParamError(
                "row_size",
                f"the footprint would have over {MAX_FOOTPRINT_LEVELS} price levels; "
                "use a larger row_size or a shorter range",
                "too_many_levels",
            )
        if session:
            stats = _stats_sessions(symbol, tf, start, end)
        else:
            stats = _stats_intraday(symbol.id, start, end, tf.seconds)
        levels, complete = _levels(data, rs, stats)
        result = of.build_footprint(
            levels,
            timeframe=tf.seconds,
            row_size=rs,
            **params,
            method_extra={
                "source": "footprint_rows",
                "store": "md_footprint_1m summed per bar and "
                + ("row in SQL" if bucket_in_sql else "price in SQL, rows in numpy"),
                "delta_extremes": "source_bars" if complete else "source_bars_partial",
                "aggressor": AGGRESSOR,
            },
        )
    _attach_candles(result["bars"], stats)
    method = result["method"]
    method["imbalance"]["min_volume"] = float(min_volume)
    method["bars"] = (
        f"{tf.name} sessions of the symbol ({symbol.timezone})"
        if tf.is_session
        else "UTC epoch multiples of the timeframe"
    )
    method["stacked_zones_scope"] = "zones and their invalidation within the returned bars"
    return _head(
        symbol, timeframe=tf.name, row_size=rs, start=epoch(start), end=epoch(end), method=method
    ) | {"bars": result["bars"], "stacked_zones": result["stacked_zones"]}


# --- CVD -----------------------------------------------------------------------------------


def _bar_columns(symbol, tf: Timeframe, *, limit: int, start, end) -> dict[str, np.ndarray]:
    columns = reads.bars(symbol, tf, limit=limit, start=start, end=end)
    columns["time"] = np.array([epoch(t) for t in columns["ts"]], dtype=np.int64)
    return columns


def cvd(
    symbol,
    tf: Timeframe,
    *,
    limit: int,
    start: datetime | None,
    end: datetime | None,
    reset: str,
    lookback: int,
) -> dict:
    """Cumulative Delta Bars of the newest ``limit`` bars in ``[start, end)``. With the
    session reset the query reaches back to the first bar's session start, so candles do
    not depend on where the window begins."""
    cols = _bar_columns(symbol, tf, limit=limit, start=start, end=end)
    prefix, offset = 0, 0.0
    session_id = np.zeros(cols["time"].size, dtype=np.int64) if reset == "session" else None
    if reset == "session" and cols["time"].size and tf.is_session:
        session_id = np.arange(cols["time"].size)  # every daily/weekly bar starts a session
    elif reset == "session" and cols["time"].size:
        first = utc(cols["time"][0])
        opened = session_for(symbol, trading_day(symbol, first)).start
        if opened < first:
            before = _bar_columns(symbol, tf, limit=reads.MAX_BARS, start=opened, end=first)
            prefix = before["time"].size
            if prefix == reads.MAX_BARS:  # more bars since the open than one read returns
                res = reads.source_resolution(
                    reads.resolutions(symbol.id), tf, reads.Session.of(symbol)
                )
                offset = ofr.delta_sum(symbol.id, opened, utc(before["time"][0]), res=res or 1)
            cols = {k: np.concatenate([before[k], cols[k]]) for k in cols}
        starts = [
            epoch(s.start) for s in sessions_between(symbol, opened, utc(cols["time"][-1] + 1))
        ]
        session_id = np.searchsorted(np.array(starts), cols["time"], side="right")
    result = of.cvd_candles(
        cols["time"],
        cols["ask_volume"] - cols["bid_volume"],
        cols["delta_high"],
        cols["delta_low"],
        session_id=session_id,
        reset=reset,
        high=cols["high"],
        low=cols["low"],
        lookback=lookback,
    )
    if offset:  # candles are linear in their starting level: shift the first session's
        for bar, sid in zip(result["bars"], session_id.tolist(), strict=True):
            if sid != session_id[0]:
                break
            for key in ("open", "high", "low", "close"):
                bar[key] += offset
    bars = result["bars"][prefix:]
    stamps = np.array([b["time"] for b in bars], dtype="datetime64[s]")
    for bar, stamp in zip(bars, np.datetime_as_string(stamps).tolist(), strict=True):
        bar["timestamp"] = stamp + "Z"
    method = result["method"]
    method.update(
        {
            "timeframe": tf.name,
            "source": "stored bars (delta = ask - bid; running-delta extremes from the trades "
            "for tick-fed symbols, from the bar's close for bar feeds)",
            "aggressor": AGGRESSOR,
            "anchor": "session start (the query reaches back to it)"
            if reset == "session"
            else "the first returned bar",
        }
    )
    if reset == "session":
        method["session"] = (
            f"{tf.name} bars; each bar its own session"
            if tf.is_session
            else (f"{symbol.session_start:%H:%M}-{symbol.session_end:%H:%M} {symbol.timezone}")
        )
    return _head(symbol, timeframe=tf.name, reset=reset, method=method, bars=bars)


# --- volume profile ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRows:
    """How one profile request reads its rows: the row size and where prices are bucketed."""

    row: Decimal
    auto: bool
    in_sql: bool
    max_rows: int

    @property
    def size(self) -> float:
        return float(self.row)

    @property
    def sql_row_size(self) -> float | None:
        return self.size if self.in_sql else None

    def prices(self, data: dict) -> np.ndarray:
        return row_price(data["row"], self.size) if self.in_sql else data["price"]

    def method(self, base: Decimal) -> dict:
        rule = (
            f"auto: the symbol's row ({base}) widened x1, 2, 5, 10, ... until the range "
            f"fits in {self.max_rows} rows"
            if self.auto
            else "requested"
        )
        return {
            "row_size_rule": rule,
            "store": "md_footprint_1m summed per "
            + ("row in SQL" if self.in_sql else "price in SQL, rows in numpy"),
            "aggressor": AGGRESSOR,
        }


def _profile_rows(symbol, row_size: Decimal | None, spans, max_rows: int) -> ProfileRows:
    base = default_row_size(symbol)
    row = row_size
    if row is None:
        span = spans()
        row = base if span is None else auto_row_size(base, span, max_rows)
    in_sql = row / tick_decimal(symbol) >= SQL_BUCKET_TICKS
    return ProfileRows(row, row_size is None, in_sql, max_rows)


def _library(call, *args, **kwargs):
    """Library size limits (too many rows) are the caller's row_size choice: a 400."""
    try:
        return call(*args, **kwargs)
    except ValueError as exc:
        raise ParamError("row_size", str(exc), "too_many_rows") from None


def _profile_window(symbol, start, end, day):
    if day is not None:
        session = session_for(symbol, day)
        return session.start, session.end, session
    if start is None and end is None:
        session = latest_session(symbol, "footprint")
        return session.start, session.end, session
    if start is None:
        raise ParamError("start", "start is required with end (or use session=YYYY-MM-DD)")
    end = end or _now()
    if end - start > timedelta(days=MAX_PROFILE_DAYS):
        raise ParamError("start", f"a profile covers at most {MAX_PROFILE_DAYS} days")
    return start, end, None


def _profile_dict(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "method"}


def volume_profile(
    symbol,
    *,
    start: datetime | None,
    end: datetime | None,
    day: date | None,
    row_size: Decimal | None,
    value_area: float,
    developing: Timeframe | None,
    naked: int,
    split: bool,
) -> dict:
    start, end, session = _profile_window(symbol, start, end, day)

    def span():
        hourly = 3600 in reads.resolutions(symbol.id)
        found = ofr.price_range(symbol.id, start, end, hourly=hourly)
        return None if found is None else found[1] - found[0]

    rows = _profile_rows(symbol, row_size, span, AUTO_PROFILE_ROWS)
    data = ofr.profile(symbol.id, start, end, row_size=rows.sql_row_size)
    result = _library(
        of.volume_profile_from_rows,
        rows.prices(data),
        data["bid"],
        data["ask"],
        row_size=rows.size,
        value_area=value_area,
        max_rows=MAX_PROFILE_ROWS,
    )
    method = result.pop("method")
    method.update(rows.method(default_row_size(symbol)))
    method["range"] = "1-minute footprint rows whose minute starts in [start, end)"
    out = _head(
        symbol, row_size=rows.size, value_area=value_area, start=epoch(start), end=epoch(end)
    )
    out |= (session.as_dict() if session else {"session": None}) | {"method": method} | result
    if developing is not None:
        out["developing"] = _developing(symbol, start, end, rows, value_area, developing)
    if naked:
        out["naked_pocs"] = _naked_pocs(symbol, start, end, rows, value_area, naked)
    if split:
        out["sessions"] = _split_sessions(symbol, start, end, rows, value_area)
    return out


def _developing(symbol, start, end, rows: ProfileRows, value_area, tf: Timeframe) -> dict:
    bars = (epoch(end) - epoch(start)) // tf.seconds
    if bars > MAX_DEVELOPING_BARS:
        raise ParamError(
            "timeframe",
            f"the developing series would have {bars} {tf.name} points (limit "
            f"{MAX_DEVELOPING_BARS}); use a longer timeframe",
        )
    data = ofr.footprint_levels(
        symbol.id, start, end, timeframe=tf.seconds, row_size=rows.sql_row_size
    )
    result = _library(
        of.developing_profile,
        data["bar"],
        rows.prices(data),
        data["bid"],
        data["ask"],
        timeframe=tf.seconds,
        row_size=rows.size,
        value_area=value_area,
        max_rows=MAX_PROFILE_ROWS,
    )
    result["method"]["developing"] = f"cumulative from the profile start through each {tf.name} bar"
    for point in result["series"]:
        point.pop("session_start", None)
    return {"timeframe": tf.name, **result}


def _naked_pocs(symbol, start, end, rows: ProfileRows, value_area, count: int) -> dict:
    """POCs of the ``count`` sessions with data before ``start`` and whether any later
    1-minute bar up to ``end`` traded at them."""
    earlier = [s for s in sessions_with_data(symbol, start, count) if s.end <= start]
    if not earlier:
        return {"method": {"name": "naked_poc"}, "pocs": []}
    starts = [s.start for s in earlier]
    data = ofr.session_profiles(
        symbol.id, starts, [s.end for s in earlier], row_size=rows.sql_row_size
    )
    start_s = np.array([epoch(s) for s in starts], dtype=np.int64)
    levels = _library(
        of.session_profiles,
        start_s[data["session"] - 1],
        rows.prices(data),
        data["bid"],
        data["ask"],
        session_starts=start_s,
        row_size=rows.size,
        value_area=value_area,
        max_rows=MAX_PROFILE_ROWS,
    )
    by_start = {s["session_start"]: s for s in levels["sessions"]}
    found = [(s, by_start[epoch(s.start)]) for s in earlier if epoch(s.start) in by_start]
    bars = ofr.bars(symbol.id, earlier[0].end, end, res=60)
    touches = of.naked_pocs(
        [epoch(s.end) for s, _ in found],
        [p["poc"] for _, p in found],
        bars["ts"],
        bars["high"],
        bars["low"],
    )
    pocs = [
        {
            **s.as_dict(),
            "poc": p["poc"],
            "vah": p["vah"],
            "val": p["val"],
            "naked": t["naked"],
            "touched_time": t["touched_time"],
        }
        for (s, p), t in zip(found, touches["pocs"], strict=True)
    ]
    method = touches["method"]
    method.update(
        {
            "sessions": f"the {count} latest sessions with data before the profile start",
            "poc": "session volume profile POC at the same row_size",
            "checked_until": "the profile end, with 1-minute bars",
        }
    )
    return {"method": method, "pocs": pocs}


def _split_sessions(symbol, start, end, rows: ProfileRows, value_area) -> list[dict]:
    sessions = sessions_between(symbol, start, end)
    if len(sessions) > MAX_SESSIONS:
        raise ParamError("start", f"split=session covers at most {MAX_SESSIONS} sessions")
    if not sessions:
        return []
    lows = [max(s.start, start) for s in sessions]
    highs = [min(s.end, end) for s in sessions]
    data = ofr.session_profiles(symbol.id, lows, highs, row_size=rows.sql_row_size)
    order = np.argsort(data["session"], kind="stable")
    data = {k: v[order] for k, v in data.items()}
    prices = rows.prices(data)
    bounds = np.searchsorted(data["session"], np.arange(1, len(sessions) + 2))
    out = []
    for i, session in enumerate(sessions):
        part = slice(bounds[i], bounds[i + 1])
        result = _library(
            of.volume_profile_from_rows,
            prices[part],
            data["bid"][part],
            data["ask"][part],
            row_size=rows.size,
            value_area=value_area,
            max_rows=MAX_PROFILE_ROWS,
        )
        out.append({**session.as_dict(), **_profile_dict(result)})
    return out


# --- market profile (TPO) ------------------------------------------------------------------

EMPTY_TPO = dict.fromkeys(
    ("poc", "vah", "val", "high", "low", "initial_balance", "range_extension")
) | {"rows": [], "tpo_count": 0, "value_area_count": 0, "single_prints": [], "periods": []}
EMPTY_TPO |= {"single_print_runs": [], "poor_high": False, "poor_low": False}


def _tpo_resolution(symbol_id: int) -> int | None:
    """Stored bars that nest inside minute-aligned periods: 1 minute, else the coarsest
    resolution dividing a minute."""
    candidates = [r for r in reads.resolutions(symbol_id) if r <= 60 and 60 % r == 0]
    return max(candidates) if candidates else None


def market_profile(
    symbol,
    *,
    day: date | None,
    sessions: int,
    period_minutes: int,
    merge: bool,
    row_size: Decimal | None,
    value_area: float,
) -> dict:
    primary = session_for(symbol, day) if day else latest_session(symbol, "bars")
    chosen = [primary]
    if sessions > 1:
        earlier = sessions_with_data(symbol, primary.start, sessions - 1)
        chosen = [s for s in earlier if s.end <= primary.start][-(sessions - 1) :] + chosen
    res = _tpo_resolution(symbol.id)
    bars = {"ts": np.zeros(0, np.int64), "high": np.zeros(0), "low": np.zeros(0)}
    if res is not None:
        bars = ofr.bars(symbol.id, chosen[0].start, chosen[-1].end, res=res)

    def span():  # the widest session range, for the automatic row size
        which = np.searchsorted([epoch(s.start) for s in chosen], bars["ts"], side="right") - 1
        inside = bars["ts"] < np.array([epoch(s.end) for s in chosen])[which]
        spans = [
            float(bars["high"][mask].max() - bars["low"][mask].min())
            for i in range(len(chosen))
            if (mask := inside & (which == i)).any()
        ]
        return max(spans) if spans else None

    rows = _profile_rows(symbol, row_size, span, AUTO_TPO_ROWS)
    result = _library(
        of.market_profile_from_bars,
        bars["ts"],
        bars["high"],
        bars["low"],
        session_starts=[epoch(s.start) for s in chosen],
        session_ends=[epoch(s.end) for s in chosen],
        row_size=rows.size,
        period_minutes=period_minutes,
        value_area=value_area,
        merge=merge,
    )
    method = result["method"]
    method.update(
        {
            "row_size_rule": rows.method(default_row_size(symbol))["row_size_rule"],
            "bars": f"stored {res or 60}-second bars; a bar prints in the period its start "
            "falls in",
            "sessions": f"{symbol.session_start:%H:%M}-{symbol.session_end:%H:%M} "
            f"{symbol.timezone}; periods from the session start",
        }
    )
    by_start = {p["session_start"]: p for p in result["sessions"]}
    head = _head(symbol, period=f"{period_minutes}m", row_size=rows.size, value_area=value_area)
    head |= {"merge": merge, "method": method}
    if merge:
        merged = result["sessions"][0] if result["sessions"] else dict(EMPTY_TPO)
        merged.pop("session_start", None)
        merged.pop("sessions", None)
        return {
            **head,
            **primary.as_dict(),
            "session_start": epoch(chosen[0].start),
            "merged_sessions": [s.day.isoformat() for s in chosen],
            **merged,
        }

    def one(session: TradingSession) -> dict:
        profile = by_start.get(epoch(session.start)) or {**EMPTY_TPO}
        profile.pop("session_start", None)
        return {**session.as_dict(), **profile}

    out = {**head, **one(primary)}
    if sessions > 1:
        out["previous"] = [one(s) for s in chosen[:-1]]
    return out
