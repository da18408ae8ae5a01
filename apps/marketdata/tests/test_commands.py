"""The feed management commands: import_scid, import_csv and replay, on files the tests
write in the real on-disk layouts and on the real recorded data in ../shared/data."""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import signal
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.marketdata.feeds import importing, write_scid
from apps.marketdata.feeds.scid import FIRST_SUB_TRADE_OPEN, LAST_SUB_TRADE_OPEN
from apps.marketdata.services import symbol_upsert
from apps.marketdata.store.db import connection
from apps.marketdata.tests.conftest import MD, read_csv

pytestmark = pytest.mark.django_db(databases=MD)

SC_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
T0 = datetime(2024, 7, 1, 23, 58, 1, 250000, tzinfo=UTC)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def ticks(symbol_id: int) -> dict:
    """Stored trades of a symbol: count, volume, notional and volume per aggressor."""
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(price * size), 0), "
            "coalesce(sum(size) FILTER (WHERE side = 1 AND NOT inferred), 0), "
            "coalesce(sum(size) FILTER (WHERE side = -1 AND NOT inferred), 0) "
            "FROM md_ticks WHERE symbol_id = %s",
            [symbol_id],
        )
        n, volume, notional, buys, sells = cursor.fetchone()
    return {
        "n": n,
        "volume": round(volume, 8),
        "notional": round(notional, 4),
        "buys": round(buys, 8),
        "sells": round(sells, 8),
    }


def stored_bars(symbol_id: int, res: int) -> dict[datetime, tuple]:
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT ts, open, high, low, close, volume, bid_volume, ask_volume, trades "
            "FROM md_bars WHERE symbol_id = %s AND res = %s ORDER BY ts",
            [symbol_id, res],
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def sc_us(moment: datetime) -> int:
    return (moment - SC_EPOCH) // timedelta(microseconds=1)


def sc_trade(moment, price, size, side, open_=0.0):
    """A single-trade record as Sierra Chart stores it: Close = price, High = ask,
    Low = bid, AskVolume for a buy aggressor, BidVolume for a sell."""
    return (
        sc_us(moment),
        open_,
        price + 0.25,
        price - 0.25,
        price,
        1,
        size,
        size if side == "sell" else 0,
        size if side == "buy" else 0,
    )


def sc_bar(moment, o, h, low, c, volume, bid, ask, trades):
    return (sc_us(moment), o, h, low, c, trades, volume, bid, ask)


MARKERS = (0.0, FIRST_SUB_TRADE_OPEN, LAST_SUB_TRADE_OPEN)


def sc_trades(first: int, count: int) -> list[tuple]:
    """Trades ``first..first+count-1``: 0.4 s apart, all three single-trade markers,
    alternating sides (even = buy)."""
    return [
        sc_trade(
            T0 + timedelta(seconds=0.4 * i),
            5528.75 + 0.25 * (i % 3),
            1 + i % 4,
            "buy" if i % 2 == 0 else "sell",
            open_=MARKERS[i % 3],
        )
        for i in range(first, first + count)
    ]


def expected(records) -> dict:
    buys = sum(r[6] for r in records if r[8])
    sells = sum(r[6] for r in records if r[7])
    return {
        "n": len(records),
        "volume": float(sum(r[6] for r in records)),
        "notional": round(sum(r[4] * r[6] for r in records), 4),
        "buys": float(buys),
        "sells": float(sells),
    }


# ---------------------------------------------------------------------------- import_scid


def test_it_imports_scid_trades_with_every_single_trade_marker(es, tmp_path):
    path = tmp_path / "ESU4.scid"
    records = sc_trades(0, 9)
    write_scid(path, records)
    out, err = run("import_scid", str(path), "--symbol", "ESU4", "--chunk", "4")
    assert ticks(es.id) == expected(records)
    assert "9 ticks stored, 0 already present" in out
    assert "ESU4.scid" in err  # the progress bar went to stderr
    one_second = stored_bars(es.id, 1)
    assert sum(bar[4] for bar in one_second.values()) == expected(records)["volume"]


def test_it_imports_scid_bar_records_at_their_seconds_per_bar(es, tmp_path):
    path = tmp_path / "bars.scid"
    minute = datetime(2024, 7, 1, 23, 40, tzinfo=UTC)
    records = [
        sc_bar(minute, 5527.25, 5527.5, 5527.0, 5527.5, 180, 80, 100, 40),
        sc_bar(minute + timedelta(minutes=1), 5527.5, 5528.0, 5527.25, 5527.75, 95, 50, 45, 20),
        # one trade in the bar, but Open is a price: a bar record, not a single trade
        sc_bar(minute + timedelta(minutes=3), 5528.0, 5528.0, 5528.0, 5528.0, 2, 2, 0, 1),
    ]
    write_scid(path, records)
    out, _ = run("import_scid", str(path), "--symbol", "ESU4", "--no-progress")
    assert "3 bars of 1m" in out
    assert ticks(es.id)["n"] == 0
    bars = stored_bars(es.id, 60)
    assert bars == {
        minute: (5527.25, 5527.5, 5527.0, 5527.5, 180.0, 80.0, 100.0, 40),
        minute + timedelta(minutes=1): (5527.5, 5528.0, 5527.25, 5527.75, 95.0, 50.0, 45.0, 20),
        minute + timedelta(minutes=3): (5528.0, 5528.0, 5528.0, 5528.0, 2.0, 2.0, 0.0, 1),
    }
    assert sum(bar[4] for bar in stored_bars(es.id, 3600).values()) == 277


def test_it_resumes_a_scid_import_and_picks_up_appended_records(es, tmp_path):
    path = tmp_path / "ESU4.scid"
    first = sc_trades(0, 6)
    write_scid(path, first)
    run("import_scid", str(path), "--symbol", "ESU4", "--chunk", "4", "--no-progress")
    source = importing.source_key("scid", es, path.resolve())
    assert importing.load_position(source) == 6

    more = sc_trades(6, 4)
    write_scid(path, more, append=True)  # Sierra Chart kept recording
    out, _ = run("import_scid", str(path), "--symbol", "ESU4", "--no-progress")
    assert "resumed at record 6" in out
    assert "4 ticks stored, 0 already present" in out  # only the new records were read
    assert importing.load_position(source) == 10
    assert ticks(es.id) == expected(first + more)


def test_it_is_idempotent_when_a_scid_file_is_imported_again(es, tmp_path):
    path = tmp_path / "ESU4.scid"
    records = sc_trades(0, 8)
    write_scid(path, records)
    run("import_scid", str(path), "--symbol", "ESU4", "--no-progress")
    before = (ticks(es.id), stored_bars(es.id, 1), stored_bars(es.id, 60))

    out, _ = run("import_scid", str(path), "--symbol", "ESU4", "--no-progress")
    assert "0 ticks stored" in out  # nothing new since the saved position
    out, _ = run("import_scid", str(path), "--symbol", "ESU4", "--restart", "--no-progress")
    assert "0 ticks stored, 8 already present" in out
    out, _ = run("replay", "--file", str(path), "--symbol", "ESU4", "--speed", "0")
    assert "0 stored, 8 already present" in out  # a keep-time replay uses the same ids
    assert (ticks(es.id), stored_bars(es.id, 1), stored_bars(es.id, 60)) == before


def test_it_warns_about_a_truncated_scid_tail_and_imports_the_whole_records(es, tmp_path):
    path = tmp_path / "ESU4.scid"
    records = sc_trades(0, 5)
    write_scid(path, records)
    with path.open("ab") as fh:
        fh.write(b"\x01" * 17)  # Sierra Chart is in the middle of writing a record
    _, err = run("import_scid", str(path), "--symbol", "ESU4", "--no-progress")
    assert "partial record (17 bytes)" in err
    assert ticks(es.id) == expected(records)


def test_it_refuses_a_file_that_is_not_scid(es, tmp_path):
    path = tmp_path / "bad.scid"
    path.write_bytes(b"NOTSCID" + b"\x00" * 100)
    with pytest.raises(CommandError, match=r"not a \.scid file"):
        run("import_scid", str(path), "--symbol", "ESU4")
    with pytest.raises(CommandError, match="no such file"):
        run("import_scid", str(tmp_path / "missing.scid"), "--symbol", "ESU4")
    assert ticks(es.id)["n"] == 0


def test_it_refuses_an_unknown_symbol(db, tmp_path):
    path = tmp_path / "ESU4.scid"
    write_scid(path, sc_trades(0, 2))
    with pytest.raises(CommandError, match="unknown symbol 'NOPE'"):
        run("import_scid", str(path), "--symbol", "NOPE")
    with pytest.raises(CommandError, match="unknown symbol 'NOPE'"):
        run("import_csv", str(path), "--symbol", "NOPE", "--kind", "trades")


# ---------------------------------------------------------------------------- import_csv


def csv_expected(rows, size="size", buy=lambda r: r["aggressor_side"] == "B") -> dict:
    sells = (lambda r: r["aggressor_side"] == "A") if size == "size" else (lambda r: not buy(r))
    return {
        "n": len(rows),
        "volume": round(sum(float(r[size]) for r in rows), 8),
        "notional": round(sum(float(r["price"]) * float(r[size]) for r in rows), 4),
        "buys": round(sum(float(r[size]) for r in rows if buy(r)), 8),
        "sells": round(sum(float(r[size]) for r in rows if sells(r)), 8),
    }


def test_it_imports_databento_es_trades_idempotently(es, es_trades, shared_data):
    path = shared_data / "trades" / "cme_esu4_trades_20240701.csv"
    out, _ = run(
        "import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--format", "databento"
    )
    assert "120 trades stored, 0 already present" in out
    assert ticks(es.id) == csv_expected(es_trades)

    out, _ = run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades")
    assert "0 trades stored" in out and "resumed" in out  # nothing after the saved offset
    out, _ = run(
        "import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--restart", "--chunk", "7"
    )
    assert "0 trades stored, 120 already present" in out
    assert ticks(es.id) == csv_expected(es_trades)


def test_it_imports_the_binance_file_with_the_detected_format(btc, btc_trades, shared_data):
    path = shared_data / "trades" / "binance_btcusdt_spot_20240808.csv"
    out, _ = run("import_csv", str(path), "--symbol", "BTCUSDT", "--kind", "trades")
    assert f"{len(btc_trades)} trades stored" in out
    # is_buyer_maker True: the buyer rested, the aggressor sold
    assert ticks(btc.id) == csv_expected(
        btc_trades, size="qty", buy=lambda r: r["is_buyer_maker"] == "False"
    )


def test_it_resumes_a_csv_import_after_rows_are_appended(es, es_trades, shared_data, tmp_path):
    lines = (shared_data / "trades" / "cme_esu4_trades_20240701.csv").read_text().splitlines(True)
    path = tmp_path / "es.csv"
    path.write_text("".join(lines[:61]))  # header + 60 trades
    run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--chunk", "25")
    assert ticks(es.id)["n"] == 60
    with path.open("a") as fh:
        fh.write("".join(lines[61:]))
    out, _ = run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades")
    assert "resumed at line 62" in out and "60 trades stored, 0 already present" in out
    assert ticks(es.id) == csv_expected(es_trades)


def test_it_imports_a_gzipped_csv(es, es_trades, shared_data, tmp_path):
    path = tmp_path / "es.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write((shared_data / "trades" / "cme_esu4_trades_20240701.csv").read_bytes())
    run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--chunk", "50")
    out, _ = run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades")
    assert "resumed at line 122" in out and "0 trades stored" in out
    assert ticks(es.id) == csv_expected(es_trades)


def test_it_imports_trades_from_configured_columns_without_ids(es, tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text(
        "when;px;qty;aggr\n"
        "2024-07-01 18:58:01.5;5528.75;2;buy\n"
        "2024-07-01 18:58:01.5;5528.75;2;buy\n"  # a second, identical trade: kept
        "\n"
        "2024-07-01 18:58:02.0;5528.50;3;sell\n"
    )
    args = (
        "import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--delimiter", ";",
        "--ts-column", "when", "--price-column", "px", "--size-column", "qty",
        "--side-column", "aggr", "--tz", "America/Chicago",
    )  # fmt: skip
    run(*args)
    run(*args, "--restart")  # ids come from the file's lines: idempotent
    assert ticks(es.id) == {"n": 3, "volume": 7, "notional": 38700.5, "buys": 4, "sells": 3}
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT min(ts), array_agg(trade_id ORDER BY trade_id) FROM md_ticks "
            "WHERE symbol_id = %s",
            [es.id],
        )
        first, ids = cursor.fetchone()
    assert first == datetime(2024, 7, 1, 23, 58, 1, 500000, tzinfo=UTC)  # CDT is UTC-5
    assert ids == ["csv:L2", "csv:L3", "csv:L5"]


def test_it_imports_daily_ohlcv_bars(db, shared_data):
    goog, _ = symbol_upsert(symbol="GOOG", exchange="NASDAQ", asset_type="stocks", tick_size="0.01")
    path = shared_data / "bars" / "goog_1d.csv"
    rows = read_csv(path)
    out, _ = run("import_csv", str(path), "--symbol", "GOOG", "--kind", "ohlcv")
    assert f"{len(rows)} bars of 1d stored" in out
    bars = stored_bars(goog.id, 86_400)
    assert len(bars) == len(rows)
    assert bars[datetime(2004, 8, 19, tzinfo=UTC)] == (
        100.0, 104.06, 95.96, 100.34, 22351900.0, 0.0, 0.0, 0
    )  # fmt: skip
    run("import_csv", str(path), "--symbol", "GOOG", "--kind", "ohlcv", "--restart")
    assert stored_bars(goog.id, 86_400) == bars


def test_it_imports_one_instrument_of_a_minute_bar_file(es, shared_data):
    path = shared_data / "bars" / "cme_es_nq_1m_20240701.csv"
    with pytest.raises(CommandError, match=r"several instruments \(ESU4, NQU4\)"):
        run("import_csv", str(path), "--symbol", "ESU4", "--kind", "ohlcv")
    out, _ = run(
        "import_csv", str(path), "--symbol", "ESU4", "--kind", "ohlcv",
        "--filter-symbol", "ESU4", "--chunk", "13",
    )  # fmt: skip
    rows = [r for r in read_csv(path) if r["symbol"] == "ESU4"]
    assert "30 bars of 1m stored" in out
    bars = stored_bars(es.id, 60)
    assert len(bars) == len(rows) == 30
    for row in rows:
        bar = bars[datetime.fromisoformat(row["ts_event"])]
        assert bar[:5] == tuple(float(row[k]) for k in ("open", "high", "low", "close", "volume"))
    hourly = stored_bars(es.id, 3600)
    assert sum(b[4] for b in hourly.values()) == sum(float(r["volume"]) for r in rows)
    run("import_csv", str(path), "--symbol", "ESU4", "--kind", "ohlcv", "--filter-symbol", "ESU4")
    assert stored_bars(es.id, 60) == bars


def test_it_names_the_line_of_a_bad_row_and_writes_nothing(es, tmp_path):
    unparsable = tmp_path / "unparsable.csv"
    unparsable.write_text(
        "ts,price,size\n2024-07-01T23:58:01Z,5528.75,1\n2024-07-01T23:58:02Z,abc,1\n"
    )
    with pytest.raises(CommandError, match=r"unparsable\.csv: line 3: price 'abc' is not a number"):
        run("import_csv", str(unparsable), "--symbol", "ESU4", "--kind", "trades")

    refused = tmp_path / "refused.csv"
    refused.write_text(
        "ts,price,size\n2024-07-01T23:58:01Z,5528.75,1\n\n2024-07-01T23:58:02Z,5528.5,-3\n"
    )
    with pytest.raises(
        CommandError, match=r"refused\.csv: line 4: size: size must not be negative"
    ):
        run("import_csv", str(refused), "--symbol", "ESU4", "--kind", "trades")

    bars = tmp_path / "bars.csv"
    bars.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-07-01T23:40:00Z,10,11,9,10,5\n2024-07-01T23:41:00Z,10,9,8,10,5\n"
    )
    with pytest.raises(CommandError, match=r"bars\.csv: line 3: high: high < max\(open, close\)"):
        run("import_csv", str(bars), "--symbol", "ESU4", "--kind", "ohlcv")
    assert ticks(es.id)["n"] == 0 and stored_bars(es.id, 60) == {}
    for path, kind in ((unparsable, "trades"), (refused, "trades"), (bars, "ohlcv")):
        source = importing.source_key(f"csv-{kind}", es, path.resolve(), "*")
        assert importing.load_position(source) is None


def test_it_explains_bad_csv_options(es, shared_data):
    path = shared_data / "trades" / "cme_esu4_trades_20240701.csv"
    with pytest.raises(CommandError, match="missing column 'nope'"):
        run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--ts-column", "nope")
    with pytest.raises(CommandError, match="--timeframe only apply to --kind ohlcv"):
        run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades", "--timeframe", "1m")
    with pytest.raises(CommandError, match="unknown timeframe"):
        bars = shared_data / "bars" / "goog_1d.csv"
        run("import_csv", str(bars), "--symbol", "ESU4", "--kind", "ohlcv", "--timeframe", "7q")


# ---------------------------------------------------------------------------- replay


def test_it_replays_the_binance_file_twice_without_changing_anything(btc, btc_trades, shared_data):
    path = str(shared_data / "trades" / "binance_btcusdt_spot_20240808.csv")
    out, _ = run("replay", "--file", path, "--symbol", "BTCUSDT", "--speed", "0")
    assert f"{len(btc_trades)} stored" in out
    first = (ticks(btc.id), stored_bars(btc.id, 1), stored_bars(btc.id, 60))
    assert first[0]["n"] == len(btc_trades)

    out, _ = run("replay", "--file", path, "--symbol", "BTCUSDT", "--speed", "0", "--keep-time")
    assert f"0 stored, {len(btc_trades)} already present" in out
    assert (ticks(btc.id), stored_bars(btc.id, 1), stored_bars(btc.id, 60)) == first


def test_it_replays_as_live_with_recent_timestamps(btc, shared_data):
    path = str(shared_data / "trades" / "binance_btcusdt_spot_20240808.csv")
    started = datetime.now(UTC)
    out, _ = run(
        "replay", "--file", path, "--symbol", "BTCUSDT", "--as-live",
        "--speed", "600", "--max-seconds", "1.5", "--max-gap", "5",
    )  # fmt: skip
    finished = datetime.now(UTC)
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(ts), max(ts), bool_and(trade_id LIKE 'rp%%') FROM md_ticks "
            "WHERE symbol_id = %s",
            [btc.id],
        )
        n, oldest, newest, prefixed = cursor.fetchone()
    assert n > 1000 and prefixed
    assert started - timedelta(seconds=1) <= oldest <= newest <= finished
    assert "as live" in out


def test_it_loops_an_as_live_replay_with_new_ids_each_pass(es, shared_data):
    path = str(shared_data / "trades" / "cme_esu4_trades_20240701.csv")
    out, _ = run(
        "replay", "--file", path, "--symbol", "ESU4", "--as-live", "--loop",
        "--speed", "3000", "--max-seconds", "0.8",
    )  # fmt: skip
    with connection().cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT split_part(trade_id, ':', 1)) FROM md_ticks "
            "WHERE symbol_id = %s",
            [es.id],
        )
        n, passes = cursor.fetchone()
    assert passes >= 2 and n > 120  # every pass stored anew, under the run's pass prefix
    assert "0 already present" in out


def test_it_replays_stored_trades_into_another_symbol(es, es_trades, shared_data):
    path = shared_data / "trades" / "cme_esu4_trades_20240701.csv"
    run("import_csv", str(path), "--symbol", "ESU4", "--kind", "trades")
    out, _ = run("replay", "--file", str(path), "--symbol", "ESU4", "--speed", "0")
    assert "0 stored, 120 already present" in out  # import and replay agree on ids
    demo, _ = symbol_upsert(symbol="ESDEMO", exchange="SIM", asset_type="futures", tick_size="0.25")
    args = (
        "replay", "--from-symbol", "ESU4", "--start", "2024-07-01T23:58:00Z",
        "--end", "2024-07-02T00:02:00Z", "--symbol", "ESDEMO", "--speed", "0",
    )  # fmt: skip
    run(*args)
    run(*args)
    assert ticks(demo.id)["n"] == 120
    source, copy = ticks(es.id), ticks(demo.id)
    assert (copy["volume"], copy["notional"]) == (source["volume"], source["notional"])
    with pytest.raises(CommandError, match="stores nothing"):
        run("replay", *args[1:7], "--symbol", "ESU4")


def test_it_stops_a_replay_cleanly_on_sigint(btc, shared_data):
    path = str(shared_data / "trades" / "binance_btcusdt_spot_20240808.csv")

    def ignore(*_):  # never let the signal interrupt pytest itself
        pass

    previous = signal.signal(signal.SIGINT, ignore)
    try:
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        out, _ = run("replay", "--file", path, "--symbol", "BTCUSDT", "--speed", "1")
        timer.join()
        assert signal.getsignal(signal.SIGINT) is ignore  # the command restored it
    finally:
        signal.signal(signal.SIGINT, previous)
    sent = int(out.split()[1])
    assert 0 < sent < 9757 and ticks(btc.id)["n"] == sent


def test_it_explains_bad_replay_options(btc, shared_data, tmp_path):
    path = str(shared_data / "trades" / "binance_btcusdt_spot_20240808.csv")
    with pytest.raises(CommandError, match="--as-live needs --speed > 0"):
        run("replay", "--file", path, "--symbol", "BTCUSDT", "--as-live", "--speed", "0")
    with pytest.raises(CommandError, match="--loop needs --as-live"):
        run("replay", "--file", path, "--symbol", "BTCUSDT", "--loop")
    with pytest.raises(CommandError, match="needs --start and --end"):
        run("replay", "--from-symbol", "BTCUSDT", "--symbol", "BTCUSDT", "--as-live")
    broken = tmp_path / "broken.csv"
    shutil.copy(path, broken)
    with broken.open("a", newline="") as fh:
        csv.writer(fh).writerow(["x", "1", "2", "3", "4", "oops", "1", "True", "S"])
    with pytest.raises(CommandError, match=r"broken\.csv: line 9759"):
        run("replay", "--file", str(broken), "--symbol", "BTCUSDT", "--speed", "0")
