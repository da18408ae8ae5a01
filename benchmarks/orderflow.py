"""``footprint_query`` and ``volume_profile_query`` (issue 6: order flow and profiles).

footprint_query: a 1-day footprint at 5m (row = 1 tick) for a symbol with 2M ticks that
day, through ``GET /api/v1/orderflow/footprint`` on the benchmark server, against the best
hand-written SQL aggregation of the same store rows run with psycopg (GROUP BY 5-minute
bucket and price, rows fetched into Python). Before timing, the benchmark checks that both
produce the same numbers (every level's bid, ask and trades). The API also computes
POCs, delta extremes, imbalances and stacked zones and serialises about 0.8 MB of JSON;
the baseline does none of that.

volume_profile_query: a 30-day profile (row = 1 tick) through
``GET /api/v1/volume-profile/{symbol}`` against ``SELECT price, sum(bid), sum(ask) ...
GROUP BY price`` over the same rows, fetched with psycopg. Same check first.

Data (generated once, kept in the ``tradeflow_bench_orderflow*`` databases and reused when
present; delete the symbols or drop the databases to regenerate):

* footprint: an ES-like day (tick 0.25) of 2M trades (100k with --quick), stored through
  the real tick path in-process (``ingest.ticks.ingest_ticks(..., publish=False)`` in
  batches of 100k), which writes ticks, 1-second/1-minute/1-hour bars and the 1-minute
  footprint rows exactly as the HTTP ingest does;
* profile: 30 days (3 with --quick) of 1-minute footprint rows written directly with a
  binary COPY into ``md_footprint_1m`` (about 17 prices a minute, 730k rows), plus the
  matching 1-minute bars through ``store.writes.write_bars`` (with their hourly rollups),
  because 30 days of ticks would take far longer to generate than to query.

Baseline: the fastest of the hand-written variants (GROUP BY with and without ORDER BY,
psycopg text or binary fetch, with or without automatic server-side prepare), chosen by
timing each before the run. Ours: the whole HTTP request (gunicorn, Django, DRF, symbol
lookup, SQL, the library, orjson) until the last body byte is read.

Timing: one warm-up run of each, then ours and the baseline alternately ``RUNS`` (3)
times, each run ``SAMPLES`` (5) back-to-back calls (these 2-core machines are shared and
noisy; more samples per run make p50 less sensitive to one stall). Reported: p50 (and p90)
of each in ms and the ratio of the p50s (ours / baseline; lower is better, target <= 2.0). The API is called anonymously (TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA=true
on the bench server) over a keep-alive connection; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from benchmarks import common

TAG = "orderflow"
DAY = datetime(2024, 3, 5, tzinfo=UTC)
TICK = 0.25
RUNS = 3
SAMPLES = 5  # timed calls per run; p50 is taken over all RUNS x SAMPLES of each side
FOOTPRINT_TF = 300


def _env() -> dict:
    env = common.bench_env(TAG)
    env["TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA"] = "true"
    return env


def _pg():
    from django.db import connections

    if connections["marketdata"].settings_dict["HOST"] not in ("127.0.0.1", "localhost"):
        raise RuntimeError("the order-flow benchmark only talks to 127.0.0.1")
    return common.marketdata_connection(host="127.0.0.1")


def _symbol(code: str):
    from apps.marketdata.models import Symbol
    from apps.marketdata.services import symbol_upsert

    symbol = Symbol.objects.filter(symbol=code, exchange="BENCH").first()
    if symbol is None:
        symbol = symbol_upsert(
            symbol=code,
            exchange="BENCH",
            asset_type="futures",
            tick_size=str(TICK),
            timezone="UTC",
            session="00:00-00:00",
        )[0]
    return symbol


def _count(table: str, symbol_id: int) -> int:
    with _pg() as conn:
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE symbol_id = %s", [symbol_id]
        ).fetchone()[0]


# --- data ----------------------------------------------------------------------------------


def _day_trades(n: int, seed: int = 6) -> dict[str, np.ndarray]:
    """An ES-like day: a minute-level random walk, trades scattered around it."""
    rng = np.random.default_rng(seed)
    start_ns = int(DAY.timestamp()) * 10**9
    ts = np.sort(rng.integers(0, 86_400 * 10**9, n)) + start_ns
    minute = (ts - start_ns) // (60 * 10**9)
    mid = 20_000 + np.cumsum(rng.normal(0, 3, 1441)).round()  # in ticks
    frac = ((ts - start_ns) % (60 * 10**9)) / (60 * 10**9)
    centre = mid[minute] + (mid[minute + 1] - mid[minute]) * frac
    ticks = np.round(centre + np.clip(rng.normal(0, 3, n), -10, 10))
    price = ticks * TICK
    size = rng.geometric(0.45, n).astype(np.float64)
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    return {"ts_ns": ts, "price": price, "size": size, "side": side}


def load_footprint_day(quick: bool):
    """The footprint symbol with its day of trades (loaded once)."""
    from apps.marketdata.ingest.ticks import ingest_ticks
    from apps.marketdata.ticks import TickBatch

    n = 100_000 if quick else 2_000_000
    symbol = _symbol("OFFPQ" if quick else "OFFP")
    if _count("md_ticks", symbol.id) == n:
        return symbol, n, 0.0
    with _pg() as conn:
        for table in ("md_ticks", "md_bars", "md_footprint_1m", "md_series"):
            conn.execute(f"DELETE FROM {table} WHERE symbol_id = %s", [symbol.id])
        conn.commit()
    trades = _day_trades(n)
    started = time.perf_counter()
    for at in range(0, n, 100_000):
        part = slice(at, at + 100_000)
        ids = np.arange(at, min(at + 100_000, n)).astype(str).astype(object)
        batch = TickBatch(
            trades["ts_ns"][part],
            trades["price"][part],
            trades["size"][part],
            trades["side"][part],
            ids,
        )
        ingest_ticks(symbol, batch, publish=False)
    return symbol, n, time.perf_counter() - started


def load_profile_days(quick: bool):
    """The profile symbol with ``days`` of 1-minute footprint rows and bars (loaded once)."""
    from apps.marketdata.store import copybuf, writes
    from apps.marketdata.store.db import atomic

    days = 3 if quick else 30
    symbol = _symbol("OFVPQ" if quick else "OFVP")
    first = DAY - timedelta(days=days)
    rng = np.random.default_rng(30)
    minutes = days * 1440
    mid = 20_000 + np.cumsum(rng.normal(0, 3, minutes)).round()
    offsets = np.arange(-8, 9)
    weights = np.exp(-0.5 * (offsets / 4.0) ** 2)
    # per minute: 17 rows around the mid, volume ~ weight x noise; a few rows empty
    vol = rng.poisson(weights[None, :] * 40, (minutes, offsets.size)).astype(np.float64)
    keep = vol > 0
    m_idx, o_idx = np.nonzero(keep)
    volume = vol[keep]
    buy_share = rng.beta(5, 5, volume.size)
    ask = np.round(volume * buy_share)
    bid = volume - ask
    price = (mid[m_idx] + offsets[o_idx]) * TICK
    ts_s = int(first.timestamp()) + m_idx * 60
    expected = int(keep.sum())
    if _count("md_footprint_1m", symbol.id) == expected:
        return symbol, days, expected, 0.0
    with _pg() as conn:
        for table in ("md_ticks", "md_bars", "md_footprint_1m", "md_series"):
            conn.execute(f"DELETE FROM {table} WHERE symbol_id = %s", [symbol.id])
        conn.commit()
    started = time.perf_counter()
    payload = copybuf.build(
        [
            ("symbol_id", np.full(expected, symbol.id, dtype=np.int32)),
            ("ts", copybuf.ns_to_pg_us(ts_s.astype(np.int64) * 10**9)),
            ("price", price),
            ("bid_volume", bid),
            ("ask_volume", ask),
            ("trades", np.maximum(1, (volume // 2)).astype(np.int32)),
        ]
    )
    with _pg() as conn:
        with conn.cursor().copy(
            "COPY md_footprint_1m (symbol_id, ts, price, bid_volume, ask_volume, trades) "
            "FROM STDIN BINARY"
        ) as copy:
            copy.write(payload)
        conn.commit()
    # 1-minute bars matching the rows (the API reads their price range and delta extremes)
    starts = np.flatnonzero(np.r_[True, m_idx[1:] != m_idx[:-1]])
    bar_ask = np.add.reduceat(ask, starts)
    bar_bid = np.add.reduceat(bid, starts)
    bars = {
        "ts_ns": ts_s[starts].astype(np.int64) * 10**9,
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[np.r_[starts[1:], price.size] - 1],
        "volume": bar_ask + bar_bid,
        "bid_volume": bar_bid,
        "ask_volume": bar_ask,
        "trades": np.add.reduceat(np.maximum(1, volume // 2), starts).astype(np.int64),
    }
    with atomic():
        writes.write_bars(symbol.id, 60, bars)
    return symbol, days, expected, time.perf_counter() - started


# --- timing --------------------------------------------------------------------------------


def _analyze() -> None:
    with _pg() as conn:
        conn.execute("ANALYZE md_footprint_1m")
        conn.execute("ANALYZE md_bars")
        conn.commit()


def _baseline(conn, queries: dict[str, str], params: list):
    """The fastest hand-written variant: each query (with and without ORDER BY; the latter
    lets PostgreSQL hash-aggregate, and sorting a few thousand rows client-side is free)
    with psycopg's text and binary fetch, with and without its automatic server-side
    prepare (a prepared statement may get a generic plan), each timed 3 times after a
    warm-up; the best one is the baseline."""

    def make(query: str, binary: bool, prepare):
        def fetch():
            return conn.cursor(binary=binary).execute(query, params, prepare=prepare).fetchall()

        return fetch

    timings = {}
    for name, query in queries.items():
        for binary in (False, True):
            for prepare in (None, False):
                fetch = make(query, binary, prepare)
                fetch()
                started = time.perf_counter()
                for _ in range(3):
                    fetch()
                timings[(name, binary, prepare)] = (time.perf_counter() - started, fetch)
    (name, binary, prepare), (_, fetch) = min(timings.items(), key=lambda item: item[1][0])
    kind = f"{'binary' if binary else 'text'} fetchall, {'no ' if prepare is False else ''}auto-prepare"
    return fetch, f"{name}, {kind}"


def _timed(func) -> float:
    started = time.perf_counter()
    func()
    return (time.perf_counter() - started) * 1000


def _sampled(func):
    """One run: SAMPLES back-to-back timed calls (ms)."""
    return lambda: [_timed(func) for _ in range(SAMPLES)]


def _alternate(ours, baseline) -> tuple[list[float], list[float]]:
    """common.alternate (a warm-up of each, then RUNS alternations) over sampled runs."""
    a, b = common.alternate(_sampled(ours), _sampled(baseline), runs=RUNS)
    return [x for run in a for x in run], [x for run in b for x in run]


def _api(client, path: str) -> dict:
    status, body = client.request("GET", path)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")
    return orjson.loads(body)


def _result(ours: list[float], base: list[float], **extra) -> dict:
    p50_ours, p50_base = common.percentile(ours, 50), common.percentile(base, 50)
    return {
        "ours": round(p50_ours, 2),
        "baseline": round(p50_base, 2),
        "ratio": round(p50_ours / p50_base, 3),
        "unit": "ms p50 (lower is better)",
        "target": "ratio <= 2.0",
        "ours_p90": round(common.percentile(ours, 90), 2),
        "baseline_p90": round(common.percentile(base, 90), 2),
        "samples": f"{RUNS} alternating runs x {SAMPLES} calls each, after a warm-up",
        **extra,
    }


_FOOTPRINT_SQL = """
SELECT date_bin('5 minutes', ts, timestamptz '1970-01-01 00:00:00+00') AS bar, price,
       sum(bid_volume), sum(ask_volume), sum(trades)
FROM md_footprint_1m WHERE symbol_id = %s AND ts >= %s AND ts < %s
GROUP BY 1, 2"""
FOOTPRINT_SQL = {
    "GROUP BY (bar, price)": _FOOTPRINT_SQL,
    "GROUP BY (bar, price) ORDER BY": _FOOTPRINT_SQL + " ORDER BY 1, 2",
}


def bench_footprint_query(quick: bool = False) -> dict:
    env = _env()
    common.prepare_databases(env)
    common.django_in_process(env)
    symbol, ticks, load_s = load_footprint_day(quick)
    _analyze()
    start, end = DAY, DAY + timedelta(days=1)
    path = (
        f"/api/v1/orderflow/footprint?symbol={symbol.symbol}:BENCH&timeframe=5m&row_size={TICK}"
        f"&start={int(start.timestamp())}&end={int(end.timestamp())}"
    )
    with _pg() as conn, common.server(env) as (port, _):
        client = common.Client(port)
        fetch, fetch_kind = _baseline(conn, FOOTPRINT_SQL, [symbol.id, start, end])
        body = _api(client, path)  # the same numbers, checked once before timing
        ours_levels = {
            (bar["time"], lv["price"]): (lv["bid_volume"], lv["ask_volume"], lv["trades"])
            for bar in body["bars"]
            for lv in bar["levels"]
        }
        base_levels = {
            (int(bar.timestamp()), price): (bid, ask, trades)
            for bar, price, bid, ask, trades in fetch()
        }
        if ours_levels.keys() != base_levels.keys() or any(
            not np.allclose(ours_levels[k], base_levels[k], rtol=1e-12, atol=1e-6)
            for k in base_levels
        ):
            raise RuntimeError("the API and the baseline SQL disagree on the footprint levels")
        ours, base = _alternate(lambda: client.request("GET", path), fetch)
        size = len(client.request("GET", path)[1])
    return _result(
        ours,
        base,
        load=f"{ticks} ticks on {DAY:%Y-%m-%d} ({_count('md_footprint_1m', symbol.id)} "
        f"footprint rows); 1-day footprint at 5m, row = 1 tick: {len(body['bars'])} bars, "
        f"{len(ours_levels)} levels, {size // 1024} KiB of JSON",
        baseline_query=f"psycopg: {fetch_kind} (fastest of the variants)",
        data_load_seconds=round(load_s, 1) if load_s else "cached",
    )


_PROFILE_SQL = """
SELECT price, sum(bid_volume), sum(ask_volume)
FROM md_footprint_1m WHERE symbol_id = %s AND ts >= %s AND ts < %s
GROUP BY price"""
PROFILE_SQL = {
    "GROUP BY price": _PROFILE_SQL,
    "GROUP BY price ORDER BY": _PROFILE_SQL + " ORDER BY price",
}


def bench_volume_profile_query(quick: bool = False) -> dict:
    env = _env()
    common.prepare_databases(env)
    common.django_in_process(env)
    symbol, days, rows, load_s = load_profile_days(quick)
    _analyze()
    start, end = DAY - timedelta(days=days), DAY
    query = f"start={int(start.timestamp())}&end={int(end.timestamp())}"
    path = f"/api/v1/volume-profile/{symbol.symbol}:BENCH?{query}&row_size={TICK}"
    auto_path = f"/api/v1/volume-profile/{symbol.symbol}:BENCH?{query}"
    with _pg() as conn, common.server(env) as (port, _):
        client = common.Client(port)
        fetch, fetch_kind = _baseline(conn, PROFILE_SQL, [symbol.id, start, end])
        body = _api(client, path)
        ours_rows = {
            row["price"]: (row["bid_volume"], row["ask_volume"])
            for row in body["profile"]
            if row["volume"]
        }
        base_rows = {price: (bid, ask) for price, bid, ask in fetch()}
        if ours_rows.keys() != base_rows.keys() or any(
            not np.allclose(ours_rows[k], base_rows[k], rtol=1e-12, atol=1e-6) for k in base_rows
        ):
            raise RuntimeError("the API and the baseline SQL disagree on the profile")
        ours, base = _alternate(lambda: client.request("GET", path), fetch)
        auto = [_timed(lambda: client.request("GET", auto_path)) for _ in range(4)][1:]
    return _result(
        ours,
        base,
        load=f"{days} days of 1-minute footprint rows ({rows} rows, written by binary COPY); "
        f"profile at row = 1 tick: {len(body['profile'])} rows",
        baseline_query=f"psycopg: {fetch_kind} (fastest of the variants)",
        ours_auto_row_size_ms=round(common.median(auto), 2),
        data_load_seconds=round(load_s, 1) if load_s else "cached",
    )


BENCHMARKS = {
    "footprint_query": bench_footprint_query,
    "volume_profile_query": bench_volume_profile_query,
}
