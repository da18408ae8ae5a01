"""Sierra Chart .scid reading: files written by the tests in the real on-disk layout."""

from __future__ import annotations

import logging
import struct
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.marketdata.feeds import (
    FeedFormatError,
    infer_scid_seconds_per_bar,
    iter_scid,
    read_scid,
    read_scid_header,
    scid_records,
    scid_trade_mask,
    write_scid,
)
from apps.marketdata.feeds.scid import (
    FIRST_SUB_TRADE_OPEN,
    LAST_SUB_TRADE_OPEN,
    SCID_EPOCH_OFFSET_US,
    float32_to_float64,
    scid_from_ns,
    scid_to_ns,
)
from apps.marketdata.ticks import BUY, SELL, UNKNOWN

T0 = datetime(2024, 7, 1, 23, 58, 1, 218218, tzinfo=UTC)
SC_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)


def sc_us(dt: datetime) -> int:
    delta = dt - SC_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def trade(dt_us, price, size, *, side="buy", open_=0.0, bid=None, ask=None):
    """A single-trade record the way Sierra Chart stores one."""
    ask_vol = size if side == "buy" else 0
    bid_vol = size if side == "sell" else 0
    return (
        dt_us,
        open_,
        ask if ask is not None else price + 0.25,
        bid if bid is not None else price - 0.25,
        price,
        1,
        size,
        bid_vol,
        ask_vol,
    )


def bar(dt_us, o, h, low, c, volume, bid_volume, ask_volume, trades):
    return (dt_us, o, h, low, c, trades, volume, bid_volume, ask_volume)


def mixed_records():
    base = sc_us(T0)
    return scid_records(
        [
            trade(base, 5528.75, 2, side="buy"),
            trade(base + 1, 5528.5, 1, side="sell", open_=float(FIRST_SUB_TRADE_OPEN)),
            trade(base + 2, 5528.5, 3, side="sell", open_=float(LAST_SUB_TRADE_OPEN)),
            bar(base + 5_000_000, 5529.0, 5529.5, 5528.75, 5529.25, 40, 15, 25, 12),
            trade(base + 6_000_000, 61837.63, 7, side="buy"),
            bar(base + 7_000_000, 5529.25, 5529.25, 5529.0, 5529.0, 3, 3, 0, 2),
        ]
    )


def test_it_round_trips_records_through_a_file(tmp_path):
    path = tmp_path / "ESU4.scid"
    records = mixed_records()
    assert write_scid(path, records) == 6
    assert path.stat().st_size == 56 + 6 * 40
    header = read_scid_header(path)
    assert (header.header_size, header.record_size, header.version) == (56, 40, 1)
    assert header.record_count == 6 and header.trailing_bytes == 0

    chunks = list(read_scid(path, chunk_records=4))
    assert [(c.start_record, c.stop_record) for c in chunks] == [(0, 4), (4, 6)]
    assert np.array_equal(np.concatenate([c.records for c in chunks]), records)


def test_it_reads_the_header_layout_sierra_chart_writes(tmp_path):
    path = tmp_path / "x.scid"
    write_scid(path, mixed_records(), utc_start_index=3)
    raw = path.read_bytes()[:56]
    magic, header_size, record_size, version, _unused, utc_start = struct.unpack(
        "<4sIIHHI", raw[:20]
    )
    assert (magic, header_size, record_size, version, utc_start) == (b"SCID", 56, 40, 1, 3)
    # the first record's DateTime sits right after the header, little-endian int64
    assert struct.unpack("<q", path.read_bytes()[56:64])[0] == sc_us(T0)


def test_it_detects_single_trades_for_zero_open_and_both_markers(tmp_path):
    base = sc_us(T0)
    records = scid_records(
        [
            trade(base, 100.0, 1, open_=0.0),
            trade(base + 1, 100.0, 1, open_=float(FIRST_SUB_TRADE_OPEN)),
            trade(base + 2, 100.0, 1, open_=float(LAST_SUB_TRADE_OPEN)),
            # the markers as written by C code: float32 literals, compared as float32
            trade(base + 3, 100.0, 1, open_=np.float32(-1.99900095e37)),
            trade(base + 4, 100.0, 1, open_=np.float32(-1.99900197e37)),
            # bars: a real open price, or more than one trade
            bar(base + 5, 100.0, 100.0, 100.0, 100.0, 1, 0, 1, 1),
            bar(base + 6, 0.0, 100.0, 99.0, 100.0, 5, 2, 3, 2),
        ]
    )
    assert scid_trade_mask(records).tolist() == [True] * 5 + [False, False]
    path = tmp_path / "t.scid"
    write_scid(path, records)
    (chunk,) = read_scid(path)
    assert len(chunk.ticks()) == 5
    assert len(chunk.bars(seconds_per_bar=None)["ts_ns"]) == 2


def test_it_takes_price_from_close_and_the_aggressor_from_bid_ask_volume(tmp_path):
    base = sc_us(T0)
    records = scid_records(
        [
            trade(base, 5528.75, 2, side="buy", bid=5528.5, ask=5528.75),
            trade(base + 10, 5528.5, 4, side="sell", bid=5528.5, ask=5528.75),
            (base + 20, 0.0, 5528.75, 5528.5, 5528.5, 1, 1, 0, 0),  # no bid/ask volume
        ]
    )
    path = tmp_path / "t.scid"
    write_scid(path, records)
    ticks = next(read_scid(path)).ticks()
    assert ticks.side.tolist() == [BUY, SELL, UNKNOWN]
    assert ticks.price.tolist() == [5528.75, 5528.5, 5528.5]
    assert ticks.size.tolist() == [2.0, 4.0, 1.0]
    expected_ns = int(T0.timestamp()) * 10**9 + T0.microsecond * 1000
    assert ticks.ts_ns.tolist() == [expected_ns, expected_ns + 10_000, expected_ns + 20_000]
    assert ticks.ts_ns.dtype == np.int64 and ticks.side.dtype == np.int8


def test_it_converts_sierra_chart_datetimes_both_ways():
    assert sc_us(datetime(1970, 1, 1, tzinfo=UTC)) == SCID_EPOCH_OFFSET_US
    us = np.array([sc_us(T0)])
    ns = scid_to_ns(us)
    assert ns[0] == int(T0.timestamp()) * 10**9 + T0.microsecond * 1000
    assert scid_from_ns(ns)[0] == us[0]


def test_it_widens_float32_prices_to_the_decimal_that_was_stored():
    stored = np.array([61837.63, 5528.75, 1.07219, 100000.125, -3.5, 0.0, 123456789.0], "f4")
    assert float32_to_float64(stored).tolist() == [
        61837.63,
        5528.75,
        1.07219,
        100000.125,
        -3.5,
        0.0,
        123456790.0,
    ]
    assert (float32_to_float64(stored).astype(np.float32) == stored).all()


def test_it_converts_bar_records_to_a_bar_batch(tmp_path):
    path = tmp_path / "t.scid"
    write_scid(path, mixed_records())
    bars = next(read_scid(path)).bars(seconds_per_bar=1)
    assert list(bars) == [
        "ts_ns",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "bid_volume",
        "ask_volume",
        "trades",
    ]
    start = int(T0.timestamp()) * 10**9  # floored to the second
    assert bars["ts_ns"].tolist() == [start + 5 * 10**9, start + 7 * 10**9]
    assert bars["open"].tolist() == [5529.0, 5529.25]
    assert bars["high"].tolist() == [5529.5, 5529.25]
    assert bars["low"].tolist() == [5528.75, 5529.0]
    assert bars["close"].tolist() == [5529.25, 5529.0]
    assert bars["volume"].tolist() == [40.0, 3.0]
    assert bars["bid_volume"].tolist() == [15.0, 3.0]
    assert bars["ask_volume"].tolist() == [25.0, 0.0]
    assert bars["trades"].tolist() == [12, 2]
    assert bars["trades"].dtype == np.int64 and bars["volume"].dtype == np.float64


def one_second_bars(n: int, start: datetime | None = None):
    base = sc_us(start or T0.replace(microsecond=0))
    rows = []
    for i in range(n):
        price = 5500.0 + (i % 7) * 0.25
        rows.append(bar(base + i * 1_000_000, price, price + 0.5, price - 0.25, price, 10, 4, 6, 3))
    return scid_records(rows)


def test_it_infers_seconds_per_bar_without_moving_bars():
    assert infer_scid_seconds_per_bar(one_second_bars(30)) == 1
    minute = scid_records(
        [
            bar(sc_us(datetime(2024, 7, 1, 0, m, tzinfo=UTC)), 1, 1, 1, 1, 1, 0, 0, 1)
            for m in (0, 1, 5)
        ]
    )
    assert infer_scid_seconds_per_bar(minute) == 60
    assert infer_scid_seconds_per_bar(minute[:1]) is None


def test_it_rolls_bars_up_and_never_splits_one_across_chunks(tmp_path):
    path = tmp_path / "1s.scid"
    start = datetime(2024, 7, 1, 23, 58, 30, tzinfo=UTC)
    records = one_second_bars(150, start)  # 23:58:30 .. 00:00:59
    write_scid(path, records)

    batches = list(iter_scid(path, chunk_records=7, seconds_per_bar=60))
    assert batches[-1].stop_record == 150
    assert all(b.seconds_per_bar == 60 for b in batches)
    ts = np.concatenate([b.bars["ts_ns"] for b in batches])
    minute0 = int(datetime(2024, 7, 1, 23, 58, tzinfo=UTC).timestamp()) * 10**9
    assert ts.tolist() == [minute0, minute0 + 60 * 10**9, minute0 + 120 * 10**9]  # each once
    volume = np.concatenate([b.bars["volume"] for b in batches])
    assert volume.tolist() == [300.0, 600.0, 600.0]
    highs = np.concatenate([b.bars["high"] for b in batches])
    assert highs[1] == max(float(p) for p in records["high"][30:90])
    opens = np.concatenate([b.bars["open"] for b in batches])
    closes = np.concatenate([b.bars["close"] for b in batches])
    assert opens[1] == records["open"][30] and closes[1] == records["close"][89]


def test_it_resumes_from_a_saved_record_index_with_the_same_trade_ids(tmp_path):
    path = tmp_path / "ticks.scid"
    base = sc_us(T0)
    rows = [
        trade(base + i * 250, 5500 + (i % 9) * 0.25, 1 + i % 3, side="buy" if i % 2 else "sell")
        for i in range(50)
    ]
    write_scid(path, scid_records(rows))
    full = [b.ticks for b in iter_scid(path, chunk_records=8)]

    saved = None
    for batch in iter_scid(path, chunk_records=8):
        saved = batch.stop_record
        if batch.stop_record >= 16:
            break  # "crash" after two committed chunks
    assert saved == 16
    resumed = list(iter_scid(path, start_record=saved, chunk_records=8))
    assert resumed[0].start_record == 16 and resumed[-1].stop_record == 50

    def ids(batches):
        return np.concatenate([b.trade_id for b in batches]).tolist()

    assert ids(full)[16:] == ids(b.ticks for b in resumed)
    assert len(set(ids(full))) == 50
    assert ids(full)[0] == f"scid:0:{base}"
    # a second full import yields the same ids: the store's id dedupe makes it idempotent
    assert ids(b.ticks for b in iter_scid(path, chunk_records=13)) == ids(full)


def test_it_picks_up_records_appended_after_the_last_import(tmp_path):
    path = tmp_path / "live.scid"
    base = sc_us(T0)
    write_scid(path, [trade(base + i, 100.0, 1) for i in range(5)])
    last = list(iter_scid(path))[-1].stop_record
    write_scid(path, [trade(base + 5 + i, 101.0, 2) for i in range(3)], append=True)
    new = list(iter_scid(path, start_record=last))
    assert [(b.start_record, b.stop_record) for b in new] == [(5, 8)]
    assert new[0].ticks.price.tolist() == [101.0] * 3
    assert list(iter_scid(path, start_record=8)) == []


def test_it_ignores_and_reports_a_truncated_tail_record(tmp_path, caplog):
    path = tmp_path / "cut.scid"
    write_scid(path, mixed_records())
    with open(path, "ab") as fh:
        fh.write(b"\x01" * 17)  # a record being written when the file was copied
    assert read_scid_header(path).trailing_bytes == 17

    with caplog.at_level(logging.WARNING, logger="apps.marketdata.feeds.scid"):
        chunks = list(read_scid(path, chunk_records=4))
    assert sum(len(c) for c in chunks) == 6
    assert [c.truncated_tail_bytes for c in chunks] == [0, 17]
    assert "17 trailing bytes" in caplog.text and "partial record" in caplog.text

    with pytest.raises(FeedFormatError, match="partial record: 17 trailing bytes after 6 whole"):
        list(read_scid(path, allow_truncated=False))


def test_it_reads_a_file_cut_inside_its_first_record(tmp_path):
    path = tmp_path / "cut.scid"
    write_scid(path, mixed_records()[:1])
    path.write_bytes(path.read_bytes()[:-1])
    chunks = list(read_scid(path))
    assert chunks == []
    assert read_scid_header(path).record_count == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: b"SCIX" + raw[4:], "header starts with b'SCIX'"),
        (lambda raw: raw[:30], "shorter than the 56-byte header"),
        (lambda raw: b"", "shorter than the 56-byte header"),
        (lambda raw: raw[:4] + struct.pack("<I", 60) + raw[8:], "HeaderSize is 60"),
        (lambda raw: raw[:8] + struct.pack("<I", 44) + raw[12:], "record size 44"),
    ],
)
def test_it_rejects_bad_headers(tmp_path, mutate, message):
    path = tmp_path / "bad.scid"
    write_scid(path, mixed_records())
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(FeedFormatError, match=message) as info:
        list(read_scid(path))
    assert str(path) in str(info.value)


def test_it_rejects_a_resume_index_past_the_end(tmp_path):
    path = tmp_path / "t.scid"
    write_scid(path, mixed_records())
    with pytest.raises(FeedFormatError, match="start_record 7 is outside the file's 6 records"):
        list(read_scid(path, start_record=7))


def test_it_reports_a_missing_file_as_a_feed_error(tmp_path):
    with pytest.raises(FeedFormatError, match="cannot read"):
        read_scid_header(tmp_path / "nope.scid")
