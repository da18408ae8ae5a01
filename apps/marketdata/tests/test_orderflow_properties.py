"""The footprint, volume-profile and CVD properties of the real-data tests, on trades that
hypothesis generates: stored through the real tick path, read back through the API."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.marketdata.ingest.ticks import ingest_ticks
from apps.marketdata.services import symbol_upsert
from apps.marketdata.store.db import connection
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.test_orderflow_api import get, running_extremes
from apps.marketdata.tests.test_orderflow_profiles import reference_profile
from apps.marketdata.ticks import TickBatch

pytestmark = pytest.mark.django_db(databases=MD)
T0 = 1_704_153_600  # 2024-01-02 00:00 UTC
RANGE = {"start": T0, "end": T0 + 900}

trades_strategy = st.lists(
    st.tuples(
        st.integers(0, 899_999),  # milliseconds after T0
        st.integers(0, 30),  # price in ticks of 0.25 above 100
        st.integers(1, 5_000),  # size in thousandths
        st.sampled_from([1, -1]),  # aggressor
    ),
    min_size=1,
    max_size=120,
)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def gen(db):
    return symbol_upsert(symbol="GEN", exchange="TEST", asset_type="crypto", tick_size="0.25")[0]


def store(symbol, trades) -> list[dict]:
    """Replace the symbol's stored data with ``trades``; return them as CSV-like rows."""
    with connection().cursor() as cursor:
        for table in ("md_ticks", "md_bars", "md_footprint_1m", "md_series"):
            cursor.execute(f"DELETE FROM {table} WHERE symbol_id = %s", [symbol.id])
    rows = [
        {
            "ms": T0 * 1000 + ms,
            "price": str(Decimal(100) + Decimal(tick) * Decimal("0.25")),
            "qty": str(Decimal(size) / 1000),
            "aggressor_side": "B" if side > 0 else "S",
            "trade_id": str(i),
        }
        for i, (ms, tick, size, side) in enumerate(trades)
    ]
    batch = TickBatch(
        np.array([r["ms"] for r in rows], dtype=np.int64) * 1_000_000,
        np.array([float(r["price"]) for r in rows]),
        np.array([float(r["qty"]) for r in rows]),
        np.array([1 if r["aggressor_side"] == "B" else -1 for r in rows], dtype=np.int8),
        np.array([r["trade_id"] for r in rows], dtype=object),
    )
    ingest_ticks(symbol, batch, publish=False)
    return rows


@SETTINGS
@given(trades=trades_strategy, row_ticks=st.sampled_from([1, 2, 10]))
def test_footprint_levels_are_the_trades_summed_by_bar_row_and_aggressor(
    reader, gen, trades, row_ticks
):
    rows = store(gen, trades)
    row_size = str(Decimal("0.25") * row_ticks)
    body = get(
        reader, "/api/v1/orderflow/footprint", symbol="GEN", timeframe="5m", row_size=row_size,
        **RANGE,
    )  # fmt: skip
    expected: dict = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        row = (Decimal(r["price"]) / Decimal(row_size)).to_integral_value("ROUND_FLOOR")
        cell = expected[(r["ms"] // 1000 // 300 * 300, float(row * Decimal(row_size)))]
        cell[0 if r["aggressor_side"] == "S" else 1] += int(Decimal(r["qty"]) * 1000)
        cell[2] += 1
    got = {
        (bar["time"], lv["price"]): [
            round(lv["bid_volume"] * 1000),
            round(lv["ask_volume"] * 1000),
            lv["trades"],
        ]
        for bar in body["bars"]
        for lv in bar["levels"]
    }
    assert got == expected
    for bar in body["bars"]:
        assert bar["delta_low"] <= min(0.0, bar["delta"]) <= max(0.0, bar["delta"])
        assert max(0.0, bar["delta"]) <= bar["delta_high"]


@SETTINGS
@given(trades=trades_strategy, value_area=st.sampled_from([50, 70, 95]))
def test_volume_profiles_follow_the_dual_price_rule(reader, gen, trades, value_area):
    rows = store(gen, trades)
    body = get(
        reader, "/api/v1/volume-profile/GEN", row_size="0.25", value_area=value_area, **RANGE
    )
    ref = reference_profile(rows, "0.25", value_area)
    assert (body["poc"], body["vah"], body["val"]) == (ref["poc"], ref["vah"], ref["val"])
    assert body["total_volume"] == pytest.approx(ref["total"], abs=1e-9)
    assert body["ask_volume"] == pytest.approx(ref["ask"], abs=1e-9)


@SETTINGS
@given(trades=trades_strategy, reset=st.sampled_from(["none", "session"]))
def test_cvd_candles_follow_the_definition(reader, gen, trades, reset):
    rows = store(gen, trades)
    body = get(
        reader, "/api/v1/orderflow/cvd", symbol="GEN", timeframe="15s", limit=100, reset=reset,
        end=T0 + 900,
    )  # fmt: skip
    per_bar = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["ms"], len(r["trade_id"]), r["trade_id"])):
        sign = 1 if r["aggressor_side"] == "B" else -1
        per_bar[r["ms"] // 1000 // 15 * 15].append(sign * float(r["qty"]))
    assert [b["time"] for b in body["bars"]] == sorted(per_bar)
    close = 0.0
    for bar in body["bars"]:
        delta, high, low = running_extremes(per_bar[bar["time"]])
        assert bar["open"] == pytest.approx(close, abs=1e-9)
        assert bar["close"] == pytest.approx(close + delta, abs=1e-9)
        assert bar["high"] == pytest.approx(close + high, abs=1e-9)
        assert bar["low"] == pytest.approx(close + low, abs=1e-9)
        close = bar["close"]
