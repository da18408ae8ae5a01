"""The store's read primitives on the real PostgreSQL: binary rows and binary COPY."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import DataError

from apps.marketdata.store import db, reads, writes
from apps.marketdata.store.orderflow_reads import copy_columns
from apps.marketdata.tests.conftest import MD
from apps.marketdata.timeframes import parse

pytestmark = pytest.mark.django_db(databases=MD)

SERIES = "SELECT x::int8, x * 0.5::float8 FROM generate_series(1, %(n)s) x ORDER BY x"


def still_usable() -> bool:
    return reads.fetch_rows("SELECT 1", {}) == [(1,)]


def test_it_fetches_rows_as_python_numbers_with_bound_parameters():
    rows = reads.fetch_rows(
        "SELECT %(i)s::int8, %(f)s::float8, %(t)s::timestamptz IS NOT NULL",
        {"i": 7, "f": 0.1, "t": reads.FAR_PAST},
    )
    assert rows == [(7, 0.1, True)]
    assert type(rows[0][0]) is int and type(rows[0][1]) is float


@pytest.mark.parametrize("n", [0, 1, 50_000])
def test_it_reads_a_binary_copy_whole(n):
    out = copy_columns(SERIES, {"n": n}, [("i", "i8"), ("half", "f8")])
    assert np.array_equal(out["i"], np.arange(1, n + 1))
    assert np.array_equal(out["half"], np.arange(1, n + 1) * 0.5)
    assert still_usable()  # the COPY's end and result were read


def test_it_raises_the_servers_error_when_a_copy_fails_midway():
    failing = "SELECT x::int8, 1.0::float8 / (x - 40000) FROM generate_series(1, 50000) x"
    with pytest.raises(DataError, match="division by zero"), db.atomic():
        copy_columns(failing, {}, [("i", "i8"), ("q", "f8")])
    assert still_usable()


def _bars(res: int, n: int) -> dict[str, np.ndarray]:
    ts = (1_700_000_000 + np.arange(n) * res).astype(np.int64)
    price = 100.0 + np.arange(n)
    return {
        "ts_ns": ts * 10**9,
        "open": price,
        "high": price + 1,
        "low": price - 1,
        "close": price,
        "volume": np.full(n, 2.0),
        "bid_volume": np.full(n, 1.0),
        "ask_volume": np.full(n, 1.0),
        "trades": np.full(n, 2, dtype=np.int64),
    }


def test_it_serves_a_resolution_stored_by_another_process_since_the_memo(btc, monkeypatch):
    with db.atomic():
        writes.write_bars(btc.id, 60, _bars(60, 10))
    assert reads.resolutions(btc.id) == [60, 3600]  # remembered in this process
    monkeypatch.setattr(reads, "forget_resolutions", lambda symbol_id=None: None)
    with db.atomic():  # as if another process stored one-second bars
        writes.write_bars(btc.id, 1, _bars(1, 10))
    rows = reads.bar_rows(btc, parse("5s"), limit=10)
    assert [row[0] for row in rows] == [1_700_000_000, 1_700_000_005]
    assert reads.resolutions(btc.id) == [1, 60, 3600]
