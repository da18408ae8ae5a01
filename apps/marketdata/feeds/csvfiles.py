"""Trade and OHLCV CSV files: chunked readers that yield TickBatches and bar batches.

Rows are read in chunks of ``chunk_rows`` (split by numpy when the lines are plain, by the
``csv`` module otherwise; see ``_csvrows``) and each chunk is converted column-wise
(timestamps, floats and sides are parsed as whole columns; Python only looks at a single
value again to explain an error). Every chunk carries ``start`` and
``stop`` positions, ``CsvPosition(row, byte, line)``: the importer saves ``chunk.stop`` after
the chunk is stored and passes it back as ``start=`` to resume with a seek, not a re-parse.

Bad input raises ``FeedFormatError`` naming the file, the line and the reason.
Used by ``manage.py import_csv`` and the replay feed; no Django here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from apps.marketdata.ticks import BUY, SELL, UNKNOWN, TickBatch

from ._csvrows import Columns, CsvPosition, iter_raw_chunks, read_header
from .bars import BarBatch, make_bar_batch
from .errors import FeedFormatError
from .timeparse import TS_FORMATS, BadValue, parse_ts_column, resolve_zone

# Side column value (stripped, lower-cased) -> aggressor. Empty values are always UNKNOWN.
SIDE_MAPS: dict[str, dict[str, int]] = {
    # Databento ``side``/``aggressor_side``: B = buy aggressor, A = sell aggressor, N = none.
    "databento": {"b": BUY, "a": SELL, "n": UNKNOWN},
    # Binance ``is_buyer_maker``/``m``: the buyer rested, so the aggressor SOLD.
    "is_buyer_maker": {"true": SELL, "false": BUY, "1": SELL, "0": BUY},
    # Plain buy/sell words or letters (``aggressor_side`` S/B, the ticks API's buy/sell).
    "aggressor_side": {
        "b": BUY,
        "buy": BUY,
        "s": SELL,
        "sell": SELL,
        "n": UNKNOWN,
        "none": UNKNOWN,
        "unknown": UNKNOWN,
    },
}


def _check_ts_format(ts_format: str) -> None:
    if ts_format not in TS_FORMATS:
        raise ValueError(f"ts_format {ts_format!r} is not one of {', '.join(TS_FORMATS)}")


@dataclass(frozen=True)
class TradesCsvFormat:
    """Which columns hold what. ``id_columns`` are joined with ``-`` into the trade id."""

    ts_column: str
    price_column: str
    size_column: str
    ts_format: str = "auto"
    side_column: str | None = None
    side_map: Mapping[str, int] | str = "aggressor_side"
    id_columns: tuple[str, ...] = ()
    symbol_column: str | None = None

    def __post_init__(self):
        _check_ts_format(self.ts_format)
        side_map = self.side_map
        if isinstance(side_map, str):
            if side_map not in SIDE_MAPS:
                raise ValueError(f"side_map {side_map!r} is not one of {', '.join(SIDE_MAPS)}")
            side_map = SIDE_MAPS[side_map]
        normalised = {str(k).strip().lower(): int(v) for k, v in side_map.items()}
        if any(v not in (BUY, SELL, UNKNOWN) for v in normalised.values()):
            raise ValueError("side_map values must be BUY, SELL or UNKNOWN")
        object.__setattr__(self, "side_map", normalised)
        if isinstance(self.id_columns, str):
            object.__setattr__(self, "id_columns", (self.id_columns,))


TRADES_PRESETS: dict[str, TradesCsvFormat] = {
    # Databento trades CSV. ``sequence`` alone is not unique: trades reported in one packet
    # share it (the shared ESU4 file has 120 trades and 115 sequences), so the id also
    # carries the event time.
    "databento": TradesCsvFormat(
        ts_column="ts_event_ns",
        ts_format="ns",
        price_column="price",
        size_column="size",
        side_column="aggressor_side",
        side_map="databento",
        id_columns=("sequence", "ts_event_ns"),
        symbol_column="symbol",
    ),
    # Binance spot trades (hftbacktest-style export of the public trade stream).
    "binance": TradesCsvFormat(
        ts_column="trade_time_ms",
        ts_format="ms",
        price_column="price",
        size_column="qty",
        side_column="is_buyer_maker",
        side_map="is_buyer_maker",
        id_columns=("trade_id",),
    ),
}


@dataclass(frozen=True)
class BarsCsvFormat:
    """OHLCV columns. ``ts_column`` may be a pair ``(date, time)`` joined with a space.
    Optional columns left ``None`` become zeros in the bar batch."""

    ts_column: str | tuple[str, str]
    open_column: str = "open"
    high_column: str = "high"
    low_column: str = "low"
    close_column: str = "close"
    volume_column: str | None = "volume"
    bid_volume_column: str | None = None
    ask_volume_column: str | None = None
    trades_column: str | None = None
    symbol_column: str | None = None
    ts_format: str = "auto"

    def __post_init__(self):
        _check_ts_format(self.ts_format)


@dataclass(frozen=True)
class TradesCsvChunk:
    ticks: TickBatch
    symbols: np.ndarray | None  # object array aligned with ticks, when the file has symbols
    start: CsvPosition
    stop: CsvPosition  # save this; resume with start=stop
    rows_read: int = 0  # data rows in the chunk before the symbol filter

    def by_symbol(self) -> dict[str, TickBatch]:
        if self.symbols is None:
            raise ValueError("the file has no symbol column")
        return {str(s): self.ticks.take(self.symbols == s) for s in np.unique(self.symbols)}


@dataclass(frozen=True)
class BarsCsvChunk:
    bars: BarBatch
    symbols: np.ndarray | None  # object array aligned with bars, when the file has symbols
    start: CsvPosition
    stop: CsvPosition  # save this; resume with start=stop
    rows_read: int = 0


# ---------------------------------------------------------------------------- detection

_TRADE_ALIASES = {
    "ts": ("ts_ns", "ts_event_ns", "timestamp", "ts", "time", "trade_time", "datetime", "date"),
    "price": ("price", "px", "p"),
    "size": ("size", "qty", "quantity", "amount", "volume", "q"),
    "side": ("side", "aggressor_side", "aggressor", "is_buyer_maker", "m"),
    "id": ("id", "trade_id", "tradeid", "sequence"),
    "symbol": ("symbol", "ticker", "instrument"),
}

_BAR_ALIASES = {
    "ts": (
        "ts_event",
        "timestamp",
        "datetime",
        "date_time",
        "time_utc",
        "open_time",
        "ts",
        "date",
        "time",
    ),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "last", "close_price"),
    "volume": ("volume", "vol", "v", "total_volume"),
    "bid_volume": ("bid_volume", "bid_vol", "sell_volume"),
    "ask_volume": ("ask_volume", "ask_vol", "buy_volume"),
    "trades": ("trades", "number_of_trades", "num_trades", "trade_count", "count"),
    "symbol": ("symbol", "ticker", "instrument"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name.strip().lower())


def _pick(header: Sequence[str], aliases: Sequence[str]) -> str | None:
    by_norm = {}
    for name in header:
        by_norm.setdefault(_norm(name), name)
    for alias in aliases:
        if _norm(alias) in by_norm:
            return by_norm[_norm(alias)]
    return None


def detect_trades_format(header: Sequence[str]) -> TradesCsvFormat:
    """A preset whose columns are all present, else a guess from common column names."""
    names = set(header)
    for preset in TRADES_PRESETS.values():
        needed = {preset.ts_column, preset.price_column, preset.size_column}
        needed |= {preset.side_column, preset.symbol_column, *preset.id_columns} - {None}
        if needed <= names:
            return preset
    found = {key: _pick(header, aliases) for key, aliases in _TRADE_ALIASES.items()}
    missing = [key for key in ("ts", "price", "size") if found[key] is None]
    if missing:
        raise FeedFormatError(
            f"cannot tell the trades columns: no {', '.join(missing)} column in the header "
            f"({', '.join(header)}); name them explicitly",
            line=1,
        )
    side = found["side"]
    side_map = (
        "is_buyer_maker" if side and _norm(side) in ("isbuyermaker", "m") else "aggressor_side"
    )
    return TradesCsvFormat(
        ts_column=found["ts"],
        price_column=found["price"],
        size_column=found["size"],
        side_column=side,
        side_map=side_map,
        id_columns=(found["id"],) if found["id"] else (),
        symbol_column=found["symbol"],
    )


def detect_bars_format(header: Sequence[str]) -> BarsCsvFormat:
    """Find the OHLCV columns: names are matched case- and punctuation-insensitively; an
    unnamed first column (a pandas index, e.g. ``,Open,High,...``) is the timestamp, and
    separate ``Date`` and ``Time`` columns are combined."""
    found = {key: _pick(header, aliases) for key, aliases in _BAR_ALIASES.items()}
    date_col, time_col = _pick(header, ("date",)), _pick(header, ("time",))
    if date_col and time_col:
        ts = (date_col, time_col)
    elif header and header[0].strip() == "":
        ts = header[0]
    else:
        ts = found["ts"]
    missing = [key for key in ("open", "high", "low", "close") if found[key] is None]
    if ts is None:
        missing.insert(0, "timestamp")
    if missing:
        raise FeedFormatError(
            f"cannot tell the OHLCV columns: no {', '.join(missing)} column in the header "
            f"({', '.join(header)}); name them explicitly",
            line=1,
        )
    return BarsCsvFormat(
        ts_column=ts,
        open_column=found["open"],
        high_column=found["high"],
        low_column=found["low"],
        close_column=found["close"],
        volume_column=found["volume"],
        bid_volume_column=found["bid_volume"],
        ask_volume_column=found["ask_volume"],
        trades_column=found["trades"],
        symbol_column=found["symbol"],
    )


def read_csv_header(path: str | os.PathLike, *, delimiter: str = ",") -> list[str]:
    """The header row's column names (stripped; a UTF-8 BOM is dropped)."""
    return read_header(path, delimiter)


# ---------------------------------------------------------------------------- readers


def read_trades_csv(
    path: str | os.PathLike,
    fmt: TradesCsvFormat | str = "auto",
    *,
    chunk_rows: int = 100_000,
    start: CsvPosition | Sequence[int] | int | None = None,
    symbol: str | None = None,
    tz: str = "UTC",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Iterator[TradesCsvChunk]:
    """Yield ``TradesCsvChunk``s (TickBatch + positions) of at most ``chunk_rows`` rows.

    ``fmt``: a ``TradesCsvFormat``, a preset name (``"databento"``, ``"binance"``) or
    ``"auto"`` (``detect_trades_format``). ``symbol`` keeps only that symbol's rows when the
    file has a symbol column (ignored otherwise); a chunk can then be empty but still moves
    the position. ``tz`` applies to ISO timestamps without an offset. ``start``: a saved
    ``chunk.stop`` (seek) or a data-row index (rows are skipped by parsing).
    """
    zone = resolve_zone(tz)
    header = read_csv_header(path, delimiter=delimiter)
    if isinstance(fmt, str):
        if fmt == "auto":
            fmt = detect_trades_format(header)
        elif fmt in TRADES_PRESETS:
            fmt = TRADES_PRESETS[fmt]
        else:
            raise ValueError(
                f"unknown trades CSV preset {fmt!r} (auto, {', '.join(TRADES_PRESETS)})"
            )
    columns = Columns(header, path)
    ts_i = columns.index(fmt.ts_column)
    price_i = columns.index(fmt.price_column)
    size_i = columns.index(fmt.size_column)
    side_i = columns.index(fmt.side_column) if fmt.side_column else None
    id_is = [columns.index(name) for name in fmt.id_columns]
    sym_i = columns.index(fmt.symbol_column) if fmt.symbol_column else None
    for raw in iter_raw_chunks(path, start, chunk_rows, delimiter, encoding, columns.width):
        view, symbols = raw.filter_symbol(sym_i, symbol)
        ts = view.parse(ts_i, fmt.ts_column, lambda v: parse_ts_column(v, fmt.ts_format, zone))
        price = view.parse(price_i, fmt.price_column, _floats)
        size = view.parse(size_i, fmt.size_column, _floats)
        if side_i is None:
            side = np.zeros(len(view), dtype=np.int8)
        else:
            side = view.parse(side_i, fmt.side_column, lambda v: _sides(v, fmt.side_map))
        ids = view.ids(id_is)
        yield TradesCsvChunk(
            ticks=TickBatch(ts_ns=ts, price=price, size=size, side=side, trade_id=ids),
            symbols=symbols,
            **_positions(raw),
        )


def read_bars_csv(
    path: str | os.PathLike,
    fmt: BarsCsvFormat | None = None,
    *,
    chunk_rows: int = 100_000,
    start: CsvPosition | Sequence[int] | int | None = None,
    symbol: str | None = None,
    tz: str = "UTC",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Iterator[BarsCsvChunk]:
    """Yield ``BarsCsvChunk``s (bar batch + positions) of at most ``chunk_rows`` rows.

    ``fmt=None`` detects the columns (``detect_bars_format``). Timestamps are bar starts;
    ones without an offset (``2004-08-19``, ``2017-04-19 09:00:00``) are local times in
    ``tz``. ``symbol``/``start`` as for ``read_trades_csv``.
    """
    zone = resolve_zone(tz)
    header = read_csv_header(path, delimiter=delimiter)
    fmt = fmt or detect_bars_format(header)
    columns = Columns(header, path)
    ts_cols = (fmt.ts_column,) if isinstance(fmt.ts_column, str) else tuple(fmt.ts_column)
    ts_is = [columns.index(name) for name in ts_cols]
    ts_name = " ".join(ts_cols)
    required = {
        "open": fmt.open_column,
        "high": fmt.high_column,
        "low": fmt.low_column,
        "close": fmt.close_column,
    }
    optional = {
        "volume": fmt.volume_column,
        "bid_volume": fmt.bid_volume_column,
        "ask_volume": fmt.ask_volume_column,
        "trades": fmt.trades_column,
    }
    indexes = {key: columns.index(name) for key, name in required.items()}
    indexes.update({key: columns.index(name) for key, name in optional.items() if name})
    names = {**required, **optional}
    sym_i = columns.index(fmt.symbol_column) if fmt.symbol_column else None
    for raw in iter_raw_chunks(path, start, chunk_rows, delimiter, encoding, columns.width):
        view, symbols = raw.filter_symbol(sym_i, symbol)
        ts_index = ts_is[0] if len(ts_is) == 1 else ts_is
        ts = view.parse(ts_index, ts_name, lambda v: parse_ts_column(v, fmt.ts_format, zone))
        values = {key: view.parse(i, names[key], _floats) for key, i in indexes.items()}
        if "trades" in values:
            values["trades"] = np.rint(values["trades"]).astype(np.int64)
        yield BarsCsvChunk(
            bars=make_bar_batch(ts_ns=ts, **values),
            symbols=symbols,
            **_positions(raw),
        )


def _positions(raw) -> dict:
    """A chunk's ``start``/``stop`` positions and ``rows_read`` (before the symbol filter)."""
    return {"start": raw.start, "stop": raw.stop, "rows_read": len(raw.rows)}


# ---------------------------------------------------------------------------- values


def _floats(values: np.ndarray) -> np.ndarray:
    items = values.tolist()
    try:
        out = np.fromiter(map(float, items), dtype=np.float64, count=len(items))
    except ValueError:
        for i, value in enumerate(items):
            try:
                float(value)
            except ValueError:
                if not value.strip():
                    raise BadValue(i, "missing {name}") from None
                raise BadValue(i, f"{{name}} {value!r} is not a number") from None
        raise
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raise BadValue(i, f"{{name}} {items[i]!r} is not a finite number")
    return out


def _sides(values: np.ndarray, side_map: Mapping[str, int]) -> np.ndarray:
    if values.size == 0:
        return np.zeros(0, dtype=np.int8)
    keys = np.strings.lower(np.strings.strip(values))
    unique, inverse = np.unique(keys, return_inverse=True)
    codes = np.zeros(unique.size, dtype=np.int8)
    for j, key in enumerate(unique.tolist()):
        if key == "":
            continue
        if key not in side_map:
            i = int(np.flatnonzero(inverse == j)[0])
            known = ", ".join(sorted(side_map))
            raise BadValue(i, f"{{name}} {str(values[i])!r} is not one of: {known}")
        codes[j] = side_map[key]
    return codes[inverse]
