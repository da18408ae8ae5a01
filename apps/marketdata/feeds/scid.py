"""Sierra Chart intraday data files (``.scid``): chunked, vectorised reading.

Layout (all little-endian)::

    header  56 bytes  char[4] "SCID", uint32 HeaderSize=56, uint32 RecordSize=40,
                      uint16 Version=1, uint16 Unused1, uint32 UTCStartIndex, char[36] Reserve
    record  40 bytes  int64 DateTime (microseconds since 1899-12-30 UTC, SCDateTimeMS),
                      float32 Open, High, Low, Close,
                      uint32 NumTrades, TotalVolume, BidVolume, AskVolume

A record with ``NumTrades == 1`` whose Open is 0.0 or one of the unbundled-trade markers is a
single trade: price = Close, ask = High, bid = Low, ``AskVolume > 0`` marks a buy aggressor
and ``BidVolume > 0`` a sell. Every other record is a bar.

Files can hold 100M+ records, so the file is memory-mapped and handed out in chunks of
records; every chunk carries its record range. The importer saves ``chunk.stop_record``
after a chunk is committed and passes it back as ``start_record`` to resume. Trade ids are
derived from the record index and timestamp, so re-importing a range is idempotent.

Used by ``manage.py import_scid`` (marketdata) and by tests; no Django here.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from apps.marketdata.ticks import BUY, SELL, UNKNOWN, TickBatch

from .bars import BarBatch, empty_bar_batch, make_bar_batch, merge_bars
from .errors import FeedFormatError

log = logging.getLogger(__name__)

SCID_MAGIC = b"SCID"
SCID_HEADER_SIZE = 56
SCID_RECORD_SIZE = 40
SCID_VERSION = 1
_HEADER = struct.Struct("<4sIIHHI36s")

SCID_RECORD_DTYPE = np.dtype(
    [
        ("dt_us", "<i8"),
        ("open", "<f4"),
        ("high", "<f4"),
        ("low", "<f4"),
        ("close", "<f4"),
        ("num_trades", "<u4"),
        ("total_volume", "<u4"),
        ("bid_volume", "<u4"),
        ("ask_volume", "<u4"),
    ]
)
assert SCID_RECORD_DTYPE.itemsize == SCID_RECORD_SIZE
assert _HEADER.size == SCID_HEADER_SIZE

# Open values that mark a record as one trade (Sierra's SINGLE_TRADE_WITH_BID_ASK and the
# first/last sub-trade of an unbundled trade). Compared as float32, as stored.
SINGLE_TRADE_OPEN = np.float32(0.0)
FIRST_SUB_TRADE_OPEN = np.float32(-1.99900095e37)
LAST_SUB_TRADE_OPEN = np.float32(-1.99900197e37)

_US_PER_DAY = 86_400 * 1_000_000
# 1899-12-30 -> 1970-01-01 is 25569 days.
SCID_EPOCH_OFFSET_US = 25_569 * _US_PER_DAY


@dataclass(frozen=True)
class ScidHeader:
    header_size: int
    record_size: int
    version: int
    utc_start_index: int
    record_count: int  # whole records after the header
    trailing_bytes: int  # bytes of a partial record at the end (a file being written)
    file_size: int


@dataclass(frozen=True)
class ScidChunk:
    """Records ``[start_record, stop_record)`` of a file (a copy, not a view of the map).

    Save ``stop_record`` once the chunk is stored; pass it as ``start_record`` to resume.
    ``truncated_tail_bytes`` is set on the last chunk when the file ends in a partial record
    (ignored, not read).
    """

    records: np.ndarray  # SCID_RECORD_DTYPE
    start_record: int
    stop_record: int
    truncated_tail_bytes: int = 0

    def __len__(self) -> int:
        return int(self.records.shape[0])

    @property
    def trade_mask(self) -> np.ndarray:
        return scid_trade_mask(self.records)

    def ticks(self, *, id_prefix: str = "scid") -> TickBatch:
        """The single-trade records as a TickBatch (file order)."""
        return scid_records_to_ticks(self.records, self.start_record, id_prefix=id_prefix)

    def bars(self, seconds_per_bar: int | None = None) -> BarBatch:
        """The bar records as a bar batch (see ``scid_records_to_bars``)."""
        return scid_records_to_bars(self.records, seconds_per_bar)


@dataclass(frozen=True)
class ScidBatch:
    """What ``iter_scid`` yields: one chunk already converted."""

    ticks: TickBatch
    bars: BarBatch
    start_record: int
    stop_record: int  # save this; resume with start_record=stop_record
    record_count: int  # records in the file when reading started (for progress bars)
    seconds_per_bar: int | None
    truncated_tail_bytes: int = 0


# ---------------------------------------------------------------------------- header


def read_scid_header(path: str | os.PathLike) -> ScidHeader:
    """Read and validate the header; raises ``FeedFormatError`` on anything unexpected."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            raw = fh.read(SCID_HEADER_SIZE)
    except OSError as exc:
        raise FeedFormatError(f"cannot read .scid file: {exc.strerror or exc}", path=path) from exc
    if len(raw) < SCID_HEADER_SIZE:
        raise FeedFormatError(
            f"not a .scid file: {len(raw)} bytes is shorter than the "
            f"{SCID_HEADER_SIZE}-byte header",
            path=path,
        )
    magic, header_size, record_size, version, _unused, utc_start, _reserve = _HEADER.unpack(raw)
    if magic != SCID_MAGIC:
        raise FeedFormatError(
            f"not a .scid file: header starts with {magic!r}, expected {SCID_MAGIC!r}", path=path
        )
    if header_size != SCID_HEADER_SIZE:
        raise FeedFormatError(
            f"bad .scid header: HeaderSize is {header_size}, expected {SCID_HEADER_SIZE}",
            path=path,
        )
    if record_size != SCID_RECORD_SIZE:
        raise FeedFormatError(
            f"unsupported .scid record size {record_size} bytes, expected {SCID_RECORD_SIZE} "
            "(int64 microsecond DateTime records)",
            path=path,
        )
    count, trailing = divmod(size - header_size, record_size)
    return ScidHeader(header_size, record_size, version, utc_start, count, trailing, size)


# ---------------------------------------------------------------------------- reading


def read_scid(
    path: str | os.PathLike,
    start_record: int = 0,
    chunk_records: int = 100_000,
    *,
    align_seconds: int | None = None,
    allow_truncated: bool = True,
) -> Iterator[ScidChunk]:
    """Yield ``ScidChunk``s of at most ``chunk_records`` records from ``start_record`` on.

    ``align_seconds``: never split a bar of that many seconds (UTC epoch multiples) across
    two chunks; chunks end early at a bar boundary, or run longer when one bar holds more
    than ``chunk_records`` records. Use it when converting chunks to bars so each bar is
    whole in exactly one chunk.

    A trailing partial record (a file still being written, or cut short) is ignored and
    reported in the log and in the last chunk's ``truncated_tail_bytes``; with
    ``allow_truncated=False`` it raises ``FeedFormatError`` before anything is read.
    The record count is taken when reading starts; records appended later are picked up by
    the next run (resume from the last ``stop_record``).
    """
    if chunk_records <= 0:
        raise ValueError("chunk_records must be positive")
    header = read_scid_header(path)
    if header.trailing_bytes:
        message = (
            f"file ends with a partial record: {header.trailing_bytes} trailing bytes after "
            f"{header.record_count} whole {SCID_RECORD_SIZE}-byte records"
        )
        if not allow_truncated:
            raise FeedFormatError(message, path=path)
        log.warning("%s: %s (ignored)", path, message)
    count = header.record_count
    if not 0 <= start_record <= count:
        raise FeedFormatError(
            f"start_record {start_record} is outside the file's {count} records "
            "(was the file replaced?)",
            path=path,
        )
    if start_record == count:
        return
    records = np.memmap(
        path, dtype=SCID_RECORD_DTYPE, mode="r", offset=header.header_size, shape=(count,)
    )
    try:
        pos = start_record
        while pos < count:
            stop = min(pos + chunk_records, count)
            if align_seconds is not None and stop < count:
                stop = _bar_boundary(records, pos, stop, align_seconds, chunk_records)
            chunk = np.array(records[pos:stop])
            yield ScidChunk(chunk, pos, stop, header.trailing_bytes if stop == count else 0)
            pos = stop
    finally:
        del records


def _bar_boundary(records: np.ndarray, pos: int, stop: int, seconds: int, step: int) -> int:
    """Move ``stop`` so records ``stop-1`` and ``stop`` fall in different bars."""
    unit = np.int64(seconds) * np.int64(1_000_000)
    bar_at_stop = records["dt_us"][stop] // unit
    window = records["dt_us"][pos:stop] // unit
    other = np.flatnonzero(window != bar_at_stop)
    if other.size:  # end the chunk after the last record of an earlier bar
        return pos + int(other[-1]) + 1
    count = records.shape[0]
    while stop < count:  # the whole chunk is one bar: extend until the bar ends
        ahead = records["dt_us"][stop : min(stop + step, count)] // unit
        change = np.flatnonzero(ahead != bar_at_stop)
        if change.size:
            return stop + int(change[0])
        stop += ahead.size
    return count


# ---------------------------------------------------------------------------- conversion


def scid_to_ns(dt_us) -> np.ndarray:
    """SCDateTimeMS (int64 microseconds since 1899-12-30 UTC) -> epoch nanoseconds."""
    return (np.asarray(dt_us, dtype=np.int64) - SCID_EPOCH_OFFSET_US) * 1000


def scid_from_ns(ts_ns) -> np.ndarray:
    """Epoch nanoseconds -> SCDateTimeMS (sub-microsecond digits are floored)."""
    return np.asarray(ts_ns, dtype=np.int64) // 1000 + SCID_EPOCH_OFFSET_US


def scid_trade_mask(records: np.ndarray) -> np.ndarray:
    """True for single-trade records (NumTrades == 1 and Open 0.0 or a sub-trade marker)."""
    open_ = records["open"]
    marker = (
        (open_ == SINGLE_TRADE_OPEN)
        | (open_ == FIRST_SUB_TRADE_OPEN)
        | (open_ == LAST_SUB_TRADE_OPEN)
    )
    return marker & (records["num_trades"] == 1)


def float32_to_float64(values) -> np.ndarray:
    """Widen float32 prices to the shortest decimal that round-trips.

    ``np.float32(61837.63)`` widens to 61837.62890625; this returns 61837.63, the value
    Sierra Chart was given, so prices match tick grids and other feeds. Vectorised: round to
    7, then 8, then 9 significant digits and keep the first that maps back to the same
    float32 (9 always does).
    """
    f32 = np.asarray(values, dtype=np.float32)
    out = f32.astype(np.float64)
    todo = np.flatnonzero(np.isfinite(out) & (out != 0.0))
    if todo.size == 0:
        return out
    x = out[todo]
    exponent = np.floor(np.log10(np.abs(x))).astype(np.int64)
    for digits in (7, 8, 9):
        k = digits - 1 - exponent  # decimals to keep
        pos = k >= 0
        scale_up = 10.0 ** np.where(pos, k, 0)
        scale_down = 10.0 ** np.where(pos, 0, -k)
        candidate = np.where(
            pos, np.round(x * scale_up) / scale_up, np.round(x / scale_down) * scale_down
        )
        ok = candidate.astype(np.float32) == f32[todo]
        out[todo[ok]] = candidate[ok]
        todo, x, exponent = todo[~ok], x[~ok], exponent[~ok]
        if todo.size == 0:
            break
    return out


def scid_records_to_ticks(
    records: np.ndarray, first_record: int = 0, *, id_prefix: str = "scid"
) -> TickBatch:
    """Single-trade records -> TickBatch; bar records are skipped.

    ``first_record`` is the file index of ``records[0]``. Trade ids are
    ``"{id_prefix}:{record index}:{DateTime}"``: stable across re-imports of the same file,
    so the store's per-symbol id dedupe makes imports idempotent.
    """
    mask = scid_trade_mask(records)
    index = np.flatnonzero(mask)
    trades = records[index]
    ask = trades["ask_volume"]
    bid = trades["bid_volume"]
    side = np.full(index.size, UNKNOWN, dtype=np.int8)
    side[ask > bid] = BUY
    side[bid > ask] = SELL
    record_no = (index + first_record).astype(np.int64)
    # str.format mapped in C is ~5x faster than numpy string ufuncs for building ids.
    template = id_prefix.replace("{", "{{").replace("}", "}}") + ":{}:{}"
    ids = np.empty(index.size, dtype=object)
    ids[:] = list(map(template.format, record_no.tolist(), trades["dt_us"].tolist()))
    return TickBatch(
        ts_ns=scid_to_ns(trades["dt_us"]),
        price=float32_to_float64(trades["close"]),
        size=trades["total_volume"].astype(np.float64),
        side=side,
        trade_id=ids,
    )


def scid_records_to_bars(records: np.ndarray, seconds_per_bar: int | None = None) -> BarBatch:
    """Bar records (every record that is not a single trade) -> bar batch.

    ``seconds_per_bar`` floors bar starts to UTC multiples of that length and merges records
    that land on the same bar; ``None`` infers it from these records
    (``infer_scid_seconds_per_bar``), and when that is impossible only identical timestamps
    are merged.
    """
    if seconds_per_bar is None:
        seconds_per_bar = infer_scid_seconds_per_bar(records)
    return _bars(records, seconds_per_bar)


def _bars(records: np.ndarray, seconds_per_bar: int | None) -> BarBatch:
    bars = records[~scid_trade_mask(records)]
    if bars.size == 0:
        return empty_bar_batch()
    batch = make_bar_batch(
        ts_ns=scid_to_ns(bars["dt_us"]),
        open=float32_to_float64(bars["open"]),
        high=float32_to_float64(bars["high"]),
        low=float32_to_float64(bars["low"]),
        close=float32_to_float64(bars["close"]),
        volume=bars["total_volume"],
        bid_volume=bars["bid_volume"],
        ask_volume=bars["ask_volume"],
        trades=bars["num_trades"],
    )
    return merge_bars(batch, seconds_per_bar)


def infer_scid_seconds_per_bar(records: np.ndarray) -> int | None:
    """Bar length, in seconds, of the bar records among ``records``.

    The largest length that every bar start (whole UTC seconds) is a multiple of and that
    divides every gap, so flooring to it never moves or merges two real bars of the file
    (for 1 s or 60 s intraday storage this is 1 or 60). ``None`` with fewer than two
    distinct bars.
    """
    bars = records[~scid_trade_mask(records)]
    seconds = np.unique(scid_to_ns(bars["dt_us"]) // 1_000_000_000)
    if seconds.size < 2:
        return None
    step = np.gcd.reduce(np.diff(seconds))
    return int(np.gcd(step, seconds[0])) or None


def scid_infer_seconds_per_bar(
    path: str | os.PathLike, sample_records: int = 200_000
) -> int | None:
    """``infer_scid_seconds_per_bar`` over the first ``sample_records`` records of a file.

    Always sampled from the start of the file, so a resumed import infers the same value.
    """
    header = read_scid_header(path)
    count = min(header.record_count, sample_records)
    if count == 0:
        return None
    sample = np.memmap(
        path, dtype=SCID_RECORD_DTYPE, mode="r", offset=header.header_size, shape=(count,)
    )
    try:
        return infer_scid_seconds_per_bar(np.array(sample))
    finally:
        del sample


def iter_scid(
    path: str | os.PathLike,
    *,
    start_record: int = 0,
    chunk_records: int = 100_000,
    seconds_per_bar: int | None = None,
    id_prefix: str = "scid",
    allow_truncated: bool = True,
) -> Iterator[ScidBatch]:
    """Read a file and convert each chunk to ticks and bars: the importer's loop.

    ``seconds_per_bar`` defaults to ``scid_infer_seconds_per_bar(path)``; chunks never split
    a bar, so each bar appears in exactly one batch.
    """
    header = read_scid_header(path)
    if seconds_per_bar is None:
        seconds_per_bar = scid_infer_seconds_per_bar(path)
    for chunk in read_scid(
        path,
        start_record,
        chunk_records,
        align_seconds=seconds_per_bar,
        allow_truncated=allow_truncated,
    ):
        yield ScidBatch(
            ticks=chunk.ticks(id_prefix=id_prefix),
            bars=_bars(chunk.records, seconds_per_bar),
            start_record=chunk.start_record,
            stop_record=chunk.stop_record,
            record_count=header.record_count,
            seconds_per_bar=seconds_per_bar,
            truncated_tail_bytes=chunk.truncated_tail_bytes,
        )


# ---------------------------------------------------------------------------- writing


def scid_records(rows=None, *, size: int | None = None) -> np.ndarray:
    """A record array: from tuples ``(dt_us, open, high, low, close, num_trades,
    total_volume, bid_volume, ask_volume)`` or zero-filled with ``size`` rows."""
    if rows is None:
        return np.zeros(size or 0, dtype=SCID_RECORD_DTYPE)
    if isinstance(rows, np.ndarray):
        return rows.astype(SCID_RECORD_DTYPE, copy=False)
    return np.array([tuple(row) for row in rows], dtype=SCID_RECORD_DTYPE)


def write_scid(
    path: str | os.PathLike,
    records,
    *,
    append: bool = False,
    version: int = SCID_VERSION,
    utc_start_index: int = 0,
) -> int:
    """Write a valid ``.scid`` file (header + records); returns the number of records.

    ``records``: anything ``scid_records`` accepts. ``append=True`` adds records to an
    existing file (as Sierra Chart does while recording) and leaves its header alone.
    """
    data = scid_records(records)
    if append and os.path.exists(path):
        read_scid_header(path)
        with open(path, "ab") as fh:
            fh.write(data.tobytes())
        return int(data.shape[0])
    header = _HEADER.pack(
        SCID_MAGIC, SCID_HEADER_SIZE, SCID_RECORD_SIZE, version, 0, utc_start_index, b""
    )
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(data.tobytes())
    return int(data.shape[0])
