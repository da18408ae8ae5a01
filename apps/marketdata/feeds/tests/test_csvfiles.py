"""Trade and OHLCV CSV readers, on the real shared files and on small hand-written ones."""

from __future__ import annotations

import csv
import gzip
import re
from datetime import UTC, datetime

import numpy as np
import pytest

from apps.marketdata.feeds import (
    BAR_FIELDS,
    CsvPosition,
    FeedFormatError,
    TradesCsvFormat,
    detect_bars_format,
    detect_trades_format,
    parse_timestamps,
    read_bars_csv,
    read_csv_header,
    read_trades_csv,
)
from apps.marketdata.ticks import BUY, SELL, UNKNOWN

from .shared_data import BARS, BINANCE_TRADES, ES_TRADES


def ns(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1_000_000) * 1000


def concat_ticks(chunks):
    ticks = [c.ticks for c in chunks]
    return {
        name: np.concatenate([getattr(t, name) for t in ticks])
        for name in ("ts_ns", "price", "size", "side", "trade_id")
    }


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------- presets


def test_it_reads_the_databento_es_trades_file():
    chunks = list(read_trades_csv(ES_TRADES, "databento"))
    t = concat_ticks(chunks)
    assert len(t["ts_ns"]) == 120
    assert t["size"].sum() == 253
    assert (t["side"] == BUY).sum() == 66 and (t["side"] == SELL).sum() == 54
    assert t["ts_ns"][0] == 1719878281218218853  # exact ns, no float rounding
    assert t["price"][0] == 5528.75
    # sequence numbers repeat within a packet; the id stays unique per trade
    assert len(set(t["trade_id"])) == 120
    assert t["trade_id"][0] == "9060643-1719878281218218853"
    assert set(chunks[0].symbols) == {"ESU4"}
    assert chunks[-1].stop == CsvPosition(row=120, byte=ES_TRADES.stat().st_size, line=121)


def test_it_reads_the_binance_trades_file():
    t = concat_ticks(read_trades_csv(BINANCE_TRADES, "binance", chunk_rows=3000))
    rows = rows_of(BINANCE_TRADES)
    assert len(t["ts_ns"]) == 9757 == len(rows)
    assert t["size"].sum() == pytest.approx(212.03315, abs=1e-9)
    assert t["trade_id"].tolist() == [r["trade_id"] for r in rows]
    # is_buyer_maker True means the aggressor sold; the file's aggressor_side agrees
    expected = [SELL if r["aggressor_side"] == "S" else BUY for r in rows]
    assert t["side"].tolist() == expected
    assert t["ts_ns"].tolist() == [int(r["trade_time_ms"]) * 1_000_000 for r in rows]
    assert t["price"].tolist() == [float(r["price"]) for r in rows]


def test_it_detects_the_presets_from_the_header():
    assert detect_trades_format(read_csv_header(ES_TRADES)).ts_column == "ts_event_ns"
    assert detect_trades_format(read_csv_header(BINANCE_TRADES)).size_column == "qty"
    auto = concat_ticks(read_trades_csv(BINANCE_TRADES))  # fmt="auto"
    assert len(auto["ts_ns"]) == 9757


def test_it_reads_explicit_columns_iso_times_and_letter_sides():
    fmt = TradesCsvFormat(
        ts_column="trade_time",
        ts_format="iso",
        price_column="price",
        size_column="qty",
        side_column="aggressor_side",
        side_map="aggressor_side",
        id_columns=("trade_id",),
    )
    explicit = concat_ticks(read_trades_csv(BINANCE_TRADES, fmt, chunk_rows=2500))
    preset = concat_ticks(read_trades_csv(BINANCE_TRADES, "binance"))
    for name in ("ts_ns", "price", "size", "side"):
        assert np.array_equal(explicit[name], preset[name]), name


def test_it_filters_trades_by_symbol():
    chunks = list(read_trades_csv(ES_TRADES, "databento", symbol="NQU4"))
    assert sum(len(c.ticks) for c in chunks) == 0
    assert chunks[-1].stop.row == 120  # the position still moves past the skipped rows
    (chunk,) = read_trades_csv(ES_TRADES, "databento", symbol="esu4")
    assert len(chunk.ticks) == 120
    assert list(chunk.by_symbol()) == ["ESU4"]


def test_it_matches_databentos_own_bars_for_the_es_trades():
    """Cross-check of both readers: 1-minute OHLCV from the trades equals Databento's bars
    for 23:58-00:01 (the README's golden window)."""
    t = concat_ticks(read_trades_csv(ES_TRADES, "databento"))
    (chunk,) = read_bars_csv(BARS / "cme_es_nq_1m_20240701.csv", symbol="ESU4")
    bars = chunk.bars
    minute = 60 * 10**9
    for start in range(ns(2024, 7, 1, 23, 58), ns(2024, 7, 2, 0, 2), minute):
        in_bar = (t["ts_ns"] >= start) & (t["ts_ns"] < start + minute)
        (row,) = np.flatnonzero(bars["ts_ns"] == start)
        order = np.argsort(t["ts_ns"][in_bar], kind="stable")
        prices = t["price"][in_bar][order]
        assert bars["open"][row] == prices[0]
        assert bars["high"][row] == prices.max()
        assert bars["low"][row] == prices.min()
        assert bars["close"][row] == prices[-1]
        assert bars["volume"][row] == t["size"][in_bar].sum()


# ---------------------------------------------------------------------------- resume


def test_it_resumes_from_a_saved_position_or_row():
    full = concat_ticks(read_trades_csv(BINANCE_TRADES, "binance", chunk_rows=1000))
    saved = None
    for chunk in read_trades_csv(BINANCE_TRADES, "binance", chunk_rows=1000):
        saved = chunk.stop
        if chunk.stop.row >= 3000:
            break
    assert saved.row == 3000 and saved.line == 3001
    as_json = list(saved)  # what a command stores
    resumed = list(read_trades_csv(BINANCE_TRADES, "binance", chunk_rows=1000, start=as_json))
    assert resumed[0].start == saved
    tail = concat_ticks(resumed)
    assert tail["trade_id"].tolist() == full["trade_id"][3000:].tolist()
    by_row = concat_ticks(read_trades_csv(BINANCE_TRADES, "binance", start=3000))
    assert by_row["trade_id"].tolist() == full["trade_id"][3000:].tolist()


def test_it_refuses_a_position_that_is_not_a_line_start():
    with pytest.raises(FeedFormatError, match="not at the start of a line"):
        list(read_trades_csv(BINANCE_TRADES, "binance", start=CsvPosition(5, 1000, 6)))
    with pytest.raises(FeedFormatError, match="past the end of the file"):
        list(read_trades_csv(ES_TRADES, "databento", start=500))


# ---------------------------------------------------------------------------- bars files


@pytest.mark.parametrize(
    ("name", "rows", "ts_column", "first", "first_close", "first_volume"),
    [
        ("goog_1d.csv", 2148, "", ns(2004, 8, 19), 100.34, 22351900),
        ("eurusd_1h.csv", 5000, "", ns(2017, 4, 19, 9), 1.07219, 1413),
        ("msft_1d.csv", 7983, "Date", ns(1986, 3, 13), 0.07533, 1371330506),
        ("cme_es_nq_1m_20240701.csv", 60, "ts_event", ns(2024, 7, 1, 23, 40), 5527.5, 180),
    ],
)
def test_it_auto_detects_the_shared_bars_files(
    name, rows, ts_column, first, first_close, first_volume
):
    path = BARS / name
    assert detect_bars_format(read_csv_header(path)).ts_column == ts_column
    chunks = list(read_bars_csv(path, chunk_rows=1000))
    bars = {k: np.concatenate([c.bars[k] for c in chunks]) for k in BAR_FIELDS}
    assert tuple(chunks[0].bars) == BAR_FIELDS
    assert len(bars["ts_ns"]) == rows == len(rows_of(path))
    assert bars["ts_ns"][0] == first
    assert bars["close"][0] == first_close and bars["volume"][0] == first_volume
    assert not bars["bid_volume"].any() and not bars["trades"].any()  # not in these files
    assert (bars["high"] >= bars["low"]).all()


def test_it_filters_bars_by_symbol():
    path = BARS / "cme_es_nq_1m_20240701.csv"
    (es,) = read_bars_csv(path, symbol="ESU4")
    (nq,) = read_bars_csv(path, symbol="NQU4")
    (both,) = read_bars_csv(path)
    assert len(es.bars["ts_ns"]) + len(nq.bars["ts_ns"]) == 60
    assert set(es.symbols) == {"ESU4"} and set(both.symbols) == {"ESU4", "NQU4"}
    assert es.bars["close"][0] == 5527.5 and nq.bars["close"][0] == 20016.25


def test_it_reads_naive_timestamps_in_the_given_time_zone():
    (chunk, *_) = read_bars_csv(BARS / "goog_1d.csv", tz="America/New_York")
    assert chunk.bars["ts_ns"][0] == ns(2004, 8, 19, 4)  # EDT midnight
    winter = np.flatnonzero(chunk.bars["ts_ns"] == ns(2005, 1, 3, 5))
    assert winter.size == 1  # EST midnight
    with pytest.raises(FeedFormatError, match="unknown time zone"):
        list(read_bars_csv(BARS / "goog_1d.csv", tz="Mars/Olympus"))


def test_it_combines_date_and_time_columns_and_reads_optional_columns(tmp_path):
    path = tmp_path / "sierra_export.csv"
    path.write_text(
        "Date, Time, Open, High, Low, Last, Volume, NumberOfTrades, BidVolume, AskVolume\n"
        "2024-07-01, 23:58:00, 5528.5, 5529.0, 5528.25, 5528.75, 40, 12, 15, 25\n"
        "2024-07-01, 23:59:00, 5528.75, 5529.0, 5528.5, 5529.0, 30, 9, 10, 20\n"
    )
    fmt = detect_bars_format(read_csv_header(path))
    assert fmt.ts_column == ("Date", "Time")
    (chunk,) = read_bars_csv(path, fmt)
    bars = chunk.bars
    assert bars["ts_ns"].tolist() == [ns(2024, 7, 1, 23, 58), ns(2024, 7, 1, 23, 59)]
    assert bars["close"].tolist() == [5528.75, 5529.0]
    assert bars["trades"].tolist() == [12, 9] and bars["trades"].dtype == np.int64
    assert bars["bid_volume"].tolist() == [15.0, 10.0]
    assert bars["ask_volume"].tolist() == [25.0, 20.0]


# ---------------------------------------------------------------------------- bad input


TRADES_HEADER = "ts,price,size,side,id\n"


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def trades_fmt():
    return TradesCsvFormat(
        ts_column="ts", price_column="price", size_column="size", side_column="side",
        id_columns=("id",),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("1,5528.75,1,B,a\n2,abc,1,S,b\n", 3, "price 'abc' is not a number"),
        ("1,5528.75,1,B,a\n2,,1,S,b\n", 3, "missing price"),
        ("1,5528.75,1,B,a\n2,nan,1,S,b\n", 3, "price 'nan' is not a finite number"),
        ("1,5528.75,1,B,a\n2,5528.75,x1,S,b\n", 3, "size 'x1' is not a number"),
        ("1,5528.75,1,B,a\n2,5528.75,1\n", 3, "row has 3 fields, expected at least 5"),
        ("1,5528.75,1,B,a\n2,5528.75,1,Q,b\n", 3, "side 'Q' is not one of"),
        ("1,5528.75,1,B,a\nyesterday,5528.75,1,S,b\n", 3, "ts 'yesterday' is not a date/time"),
        ("1,5528.75,1,B,a\n\n\n2,5528.75,1,B,b\n1.2.3,1,1,B,c\n", 6, "ts '1.2.3'"),
        ('1,5528.75,1,B,a\n2,"55\n28",1,B,b\n', 4, "price '55\\n28' is not a number"),
    ],
)
def test_it_reports_bad_rows_with_their_line(tmp_path, body, line, message):
    path = write(tmp_path, TRADES_HEADER + body)
    with pytest.raises(FeedFormatError, match=re.escape(message)) as info:
        list(read_trades_csv(path, trades_fmt()))
    assert info.value.line == line
    assert f"line {line}" in str(info.value) and str(path) in str(info.value)


def test_it_reports_missing_columns_against_the_header(tmp_path):
    path = write(tmp_path, "time,price,qty\n1,2,3\n")
    with pytest.raises(FeedFormatError, match="missing column 'ts'") as info:
        list(read_trades_csv(path, trades_fmt()))
    assert info.value.line == 1
    with pytest.raises(FeedFormatError, match="no open, high, low, close column"):
        list(read_bars_csv(path))
    with pytest.raises(FeedFormatError, match="empty file"):
        list(read_trades_csv(write(tmp_path, "", "empty.csv"), trades_fmt()))


def test_it_reads_quoted_crlf_and_blank_line_files_like_the_plain_ones(tmp_path):
    plain = write(
        tmp_path,
        TRADES_HEADER
        + "".join(
            f"{1719878281 + i},{5528.75 + i / 4},{i + 1},{'BS'[i % 2]},t{i}\n" for i in range(9)
        ),
        "plain.csv",
    )
    lines = plain.read_text().splitlines()
    messy = "\r\n".join(
        [lines[0], *(f'"{ln.replace(",", chr(34) + "," + chr(34))}"' for ln in lines[1:5]), "",
         *lines[5:]]
    ) + "\r\n"  # fmt: skip
    quoted = write(tmp_path, messy, "quoted.csv")
    a = concat_ticks(read_trades_csv(plain, trades_fmt(), chunk_rows=4))
    b = concat_ticks(read_trades_csv(quoted, trades_fmt(), chunk_rows=4))
    for name in a:
        assert a[name].tolist() == b[name].tolist(), name
    assert a["ts_ns"][0] == 1719878281 * 10**9  # epoch seconds detected by magnitude
    assert a["side"].tolist()[:2] == [BUY, SELL]

    gz = tmp_path / "plain.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    c = concat_ticks(read_trades_csv(gz, trades_fmt(), chunk_rows=4))
    assert c["trade_id"].tolist() == a["trade_id"].tolist()


def test_it_maps_empty_sides_and_ids_to_unknown_and_none(tmp_path):
    path = write(tmp_path, TRADES_HEADER + "1,1,1,,\n2,1,1,b,x\n")
    (chunk,) = read_trades_csv(path, trades_fmt())
    assert chunk.ticks.side.tolist() == [UNKNOWN, BUY]
    assert chunk.ticks.trade_id.tolist() == [None, "x"]


def test_it_parses_timestamp_formats_exactly():
    values = [
        "2024-07-01 23:58:01.218218853+00:00",
        "2024-07-01T18:58:01.218218853-05:00",
        "2024-07-01T23:58:01.218218853Z",
        "2024-07-02T01:58:01.218218853+0200",
        "1719878281218218853",  # ns
        "1719878281218218.853",  # us with a fraction
        "1719878281218.218853",  # ms with a fraction
        "1719878281.218218853",  # s with a fraction
    ]
    assert parse_timestamps(values).tolist() == [1719878281218218853] * len(values)
    assert parse_timestamps(["1719878281218"], "ms").tolist() == [1719878281218000000]
    assert parse_timestamps(["-1.5"], "s").tolist() == [-1_500_000_000]
    assert parse_timestamps(["2024-07-01"], tz="Europe/Berlin").tolist() == [ns(2024, 6, 30, 22)]
    with pytest.raises(FeedFormatError, match="value 1: timestamp '' is not"):
        parse_timestamps(["1", ""], "s")
