"""The single-bar parser (``parse_sierra_one``) is ``parse_sierra`` on a batch of one,
without the column arrays: the same bars, the same 422 rows, for good and bad input."""

from __future__ import annotations

import math
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from apps.marketdata.api.ingest import SIERRA_EXAMPLE
from apps.marketdata.ingest import bars as bar_ingest
from apps.marketdata.ingest.errors import InvalidRows

UTC = ZoneInfo("UTC")
CHICAGO = ZoneInfo("America/Chicago")
SOON = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 3600))
LATER = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 2 * 86_400))

VARIANTS = [
    {},
    {"timestamp": "2025-11-26 21:17:14.250"},
    {"timestamp": "2025-11-26 21:17:14.5"},
    {"timestamp": " 2025-11-26 21:17:14 "},
    {"timestamp": "2025-11-26T21:17:14+02:00"},
    {"timestamp": "2025-11-26T21:17:14Z"},
    {"timestamp": "2025-1-5 1:2:3"},
    {"timestamp": "2025-03-09 02:30:00"},  # a DST gap in Chicago
    {"timestamp": "2025-11-02 01:30:00"},  # a DST fold in Chicago
    {"timestamp": "1969-12-31 23:59:59"},
    {"timestamp": SOON},
    {"timestamp": LATER},
    {"timestamp": "2025-02-30 10:00:00"},
    {"timestamp": "2025-11-26 24:00:00"},
    {"timestamp": "2025-11-26 21:17:60"},
    {"timestamp": "2025-13-26 21:17:14"},
    {"timestamp": "0000-11-26 21:17:14"},
    {"timestamp": "\uff12\uff10\uff12\uff15-11-26 21:17:14"},  # full-width digits
    {"timestamp": "yesterday"},
    {"timestamp": 1732655834},
    {"timestamp": None},
    {"open": float("nan")},
    {"high": float("inf")},
    {"low": "4162.58"},
    {"close": True},
    {"volume": -1},
    {"volume": None},
    {"bid_volume": None, "ask_volume": None, "number_of_trades": None},
    {"bid_volume": 15, "ask_volume": 5},
    {"number_of_trades": 3.7},
    {"number_of_trades": -2},
    {"open_interest": 12345.0},
    {"open_interest": "x"},
    {"high": 4100.0},
    {"low": 4170.0},
    {"high": 4000.0, "low": 4200.0},
    {"chart_info": {"symbol": " xauusd ", "seconds_per_bar": 60}},
    {"chart_info": {"symbol": "XAUUSD", "seconds_per_bar": 7}},
    {"chart_info": {"symbol": "XAUUSD", "seconds_per_bar": 0}},
    {"chart_info": {"symbol": "XAUUSD", "seconds_per_bar": True}},
    {"chart_info": {"symbol": "XAUUSD", "seconds_per_bar": "1"}},
    {"chart_info": {"symbol": "XAUUSD", "seconds_per_bar": 8 * 86_400}},
    {"chart_info": {"symbol": ""}},
    {"chart_info": "XAUUSD"},
    {"chart_info": None, "timestamp": "nope", "open": None},
]


def outcome(parse):
    try:
        return "ok", parse()
    except InvalidRows as exc:
        return "invalid", exc.body()


@pytest.mark.parametrize("tz", [UTC, CHICAGO])
@pytest.mark.parametrize("change", VARIANTS)
def test_it_parses_one_bar_as_a_batch_of_one(change, tz):
    bar = SIERRA_EXAMPLE | change
    kind, one = outcome(lambda: bar_ingest.parse_sierra_one(bar, tz))
    batch_kind, batch = outcome(lambda: bar_ingest.parse_sierra([bar], None, tz))
    assert kind == batch_kind
    if kind == "invalid":
        assert one == batch
        return
    assert (one.symbol, one.timeframe) == (batch.symbol, batch.timeframe)
    expected = batch.bars_by_res[one.res]
    got = one.as_batch().bars_by_res[one.res]
    assert got.keys() == expected.keys()
    for name, column in expected.items():
        np.testing.assert_array_equal(got[name], column)
    assert one.ts * 10**9 == expected["ts_ns"][0]
    assert math.isnan(one.values["open_interest"]) == math.isnan(expected["open_interest"][0])


def test_it_reads_sierra_timestamps_as_strptime_does():
    rng = random.Random(7)
    for tz in (UTC, CHICAGO, ZoneInfo("Asia/Kolkata")):
        for _ in range(2000):
            stamp = datetime.fromtimestamp(rng.randrange(-(10**9), 4 * 10**9), UTC)
            text = stamp.strftime("%Y-%m-%d %H:%M:%S")
            expected = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
            parsed = bar_ingest.parse_timestamp(text, tz)
            assert parsed == expected and parsed.timestamp() == expected.timestamp()
            assert parsed.tzinfo is tz and parsed.fold == expected.fold
