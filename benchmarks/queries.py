"""``bars_query``: p50/p95 of GET 500 bars at 1m, 5m, 1h and 1d through the API, against
the same SQL plus orjson in a bare psycopg loop (the statement comes from
``reads.plan_bars``, so both run exactly the same query).

Data: one year of 1-minute bars for 10 symbols (5.26M rows, plus the hourly rollup), loaded
once through the store's own bar writer and kept between runs.
"""

from __future__ import annotations

import time

import numpy as np
import orjson

from benchmarks import common

TIMEFRAMES = ("1m", "5m", "1h", "1d")
REQUESTS = 200


def _load(symbols, minutes: int) -> None:
    from apps.marketdata.store import db, reads, sql, writes

    end = (int(time.time()) // 86_400) * 86_400
    start = end - minutes * 60
    for symbol in symbols:
        if 60 in reads.resolutions(symbol.id):
            continue  # loaded by an earlier run
        rng = np.random.default_rng(symbol.id)
        chunk = 200_000
        price = 1000.0
        for offset in range(0, minutes, chunk):
            n = min(chunk, minutes - offset)
            steps = rng.normal(0, 0.5, n)
            close = np.round(price + np.cumsum(steps), 2)
            open_ = np.concatenate([[price], close[:-1]])
            price = float(close[-1])
            spread = np.abs(rng.normal(0, 0.3, n))
            volume = rng.integers(1, 500, n).astype(np.float64)
            bid = np.floor(volume * rng.random(n))
            bars = {
                "ts_ns": (start + (offset + np.arange(n)) * 60).astype(np.int64) * 10**9,
                "open": open_,
                "close": close,
                "high": np.maximum(open_, close) + spread,
                "low": np.minimum(open_, close) - spread,
                "volume": volume,
                "bid_volume": bid,
                "ask_volume": volume - bid,
                "trades": rng.integers(1, 50, n),
            }
            # Loading a year through the upsert path takes minutes; COPY the minute bars
            # straight in and build the hourly rollup once per symbol below (same SQL).
            with db.atomic(), db.connection().cursor() as cursor:
                writes._copy(cursor, sql.COPY_BARS, writes._bar_payload(symbol.id, 60, bars))
        with db.atomic(), db.connection().cursor() as cursor:
            cursor.execute(sql.PREPARE_STAGING)
            cursor.execute(
                "INSERT INTO touched SELECT DISTINCT ts FROM md_bars "
                "WHERE symbol_id = %(s)s AND res = 60",
                {"s": symbol.id},
            )
            cursor.execute(sql.ROLLUP_BARS, {"symbol_id": symbol.id, "src": 60, "dst": 3600})
            cursor.execute(sql.REGISTER_SERIES, {"symbol_id": symbol.id, "res": 60})
            cursor.execute(sql.REGISTER_SERIES, {"symbol_id": symbol.id, "res": 3600})


def bench_bars_query(quick: bool = False) -> dict:
    env = common.bench_env("query")
    common.prepare_databases(env)
    common.django_in_process(env)
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.models import User
    from apps.marketdata.services import symbol_upsert
    from apps.marketdata.store import reads
    from apps.marketdata.timeframes import parse

    count, minutes = (2, 30 * 1440) if quick else (10, 365 * 1440)
    prefix = "BQQ" if quick else "BQ"  # the loads differ: never reuse one for the other
    symbols = [
        symbol_upsert(
            symbol=f"{prefix}{i}", exchange="BENCH", asset_type="crypto", tick_size="0.01"
        )[0]
        for i in range(count)
    ]
    started = time.perf_counter()
    _load(symbols, minutes)
    load_seconds = time.perf_counter() - started
    user = User.objects.filter(email="bench@example.com").first() or User.objects.create_user(
        email="bench@example.com", password="bench-password-123"
    )
    token = str(AccessToken.for_user(user))
    per_tf = {}
    with (
        common.server(env) as (port, _),
        common.marketdata_connection() as conn,
    ):
        client = common.Client(port)
        headers = {"Authorization": f"Bearer {token}"}
        for name in TIMEFRAMES:
            tf = parse(name)
            plans = [reads.plan_bars(s, tf, reads.resolutions(s.id), limit=500) for s in symbols]

            def ours(tf_name=name) -> list[float]:
                samples = []
                for i in range(REQUESTS):
                    symbol = symbols[i % len(symbols)].symbol
                    t0 = time.perf_counter()
                    status, body = client.request(
                        "GET",
                        f"/api/v1/market-data/{symbol}?timeframe={tf_name}&limit=500",
                        headers=headers,
                    )
                    samples.append((time.perf_counter() - t0) * 1000)
                    if status != 200 or not orjson.loads(body)["bars"]:
                        raise RuntimeError(f"{tf_name}: {status} {body[:200]!r}")
                return samples

            def baseline(plans=plans) -> list[float]:
                samples = []
                for i in range(REQUESTS):
                    plan = plans[i % len(plans)]
                    t0 = time.perf_counter()
                    rows = conn.execute(plan.query, plan.params).fetchall()
                    orjson.dumps(reads.trim(plan, rows))
                    samples.append((time.perf_counter() - t0) * 1000)
                return samples

            ours_runs, base_runs = common.alternate(ours, baseline)
            ours_all = [x for run in ours_runs for x in run]
            base_all = [x for run in base_runs for x in run]
            p95_ratio = common.median(
                [
                    common.percentile(a, 95) / common.percentile(b, 95)
                    for a, b in zip(ours_runs, base_runs, strict=True)
                ]
            )
            per_tf[name] = {
                "api_p50_ms": round(common.percentile(ours_all, 50), 2),
                "api_p95_ms": round(common.percentile(ours_all, 95), 2),
                "sql_p50_ms": round(common.percentile(base_all, 50), 2),
                "sql_p95_ms": round(common.percentile(base_all, 95), 2),
                "p95_ratio": round(p95_ratio, 2),
            }
    worst = max(per_tf.values(), key=lambda r: r["p95_ratio"])
    return {
        "ours": max(r["api_p95_ms"] for r in per_tf.values()),
        "baseline": worst["sql_p95_ms"],
        "ratio": worst["p95_ratio"],
        "unit": "ms p95 (worst timeframe)",
        "target": "API p95 <= 3x SQL p95 and <= 50 ms at every timeframe",
        "timeframes": per_tf,
        "data": f"{count} symbols x {minutes // 1440} days of 1m bars",
        "load_seconds": round(load_seconds, 1),
    }


BENCHMARKS = {"bars_query": bench_bars_query}
