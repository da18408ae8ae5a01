"""``ingest_ticks`` and ``ingest_sierra_single`` (issue: market data).

ingest_ticks: 2M ticks for 10 symbols in batches of 10k, 4 concurrent clients, through the
HTTP column endpoint (with rollups and the store's real indexes), against a bare psycopg
binary-COPY loop writing the same rows, batch size, concurrency and commit policy into a
table with the same index and no rollups. The baseline's COPY payloads are built before
timing, so it measures PostgreSQL alone: the strictest baseline there is.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import orjson

from benchmarks import common

SYMBOLS = [f"BENCH{i}" for i in range(10)]
BATCH = 10_000
CLIENTS = 4


def _payloads(
    total: int, run: int
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """Batches of (symbol, ts_ns, price, size, side, ids); each run gets fresh trades."""
    rng = np.random.default_rng(run)
    per_symbol = total // len(SYMBOLS)
    batches = []
    base = 1_700_000_000 * 10**9 + run * 10**15
    for s, symbol in enumerate(SYMBOLS):
        ts = base + np.arange(per_symbol, dtype=np.int64) * 10_000_000  # 100 trades/s
        price = np.round(1000 + np.cumsum(rng.integers(-1, 2, per_symbol)) * 0.25, 2)
        size = rng.integers(1, 20, per_symbol).astype(np.float64)
        side = rng.choice(np.array([-1, 1], dtype=np.int8), per_symbol)
        for start in range(0, per_symbol, BATCH):
            sl = slice(start, start + BATCH)
            ids = [f"{run}-{s}-{i}" for i in range(start, min(start + BATCH, per_symbol))]
            batches.append((symbol, ts[sl], price[sl], size[sl], side[sl], ids))
    order = np.random.default_rng(99).permutation(len(batches))  # interleave symbols
    return [batches[i] for i in order]


def _run_clients(jobs: list, worker) -> float:
    """Run ``worker(job)`` over ``jobs`` with CLIENTS threads; return elapsed seconds."""
    work: queue.Queue = queue.Queue()
    for job in jobs:
        work.put(job)
    errors: list[BaseException] = []

    def loop():
        state: dict = {}
        while True:
            try:
                job = work.get_nowait()
            except queue.Empty:
                return
            try:
                worker(job, state)
            except BaseException as exc:  # report, stop this client
                errors.append(exc)
                return

    threads = [threading.Thread(target=loop) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def bench_ingest_ticks(quick: bool = False) -> dict:
    total = 200_000 if quick else 2_000_000
    env = common.bench_env("ingest")
    common.prepare_databases(env)
    common.django_in_process(env)

    from apps.accounts.services import feedkey_create
    from apps.marketdata.services import symbol_upsert
    from apps.marketdata.store import copybuf

    symbol_ids = {}
    for code in SYMBOLS:
        symbol_ids[code] = symbol_upsert(
            symbol=code, exchange="BENCH", asset_type="futures", tick_size="0.25"
        )[0].id
    _, key = feedkey_create(name=f"bench-{time.time_ns()}")
    pg = common.marketdata_connection

    with pg() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_ticks (LIKE md_ticks INCLUDING ALL)")
        conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_bare (LIKE md_ticks)")
        conn.commit()

    def truncate():
        with pg() as conn:
            conn.execute(
                "TRUNCATE md_ticks, md_bars, md_footprint_1m, md_series, bench_ticks, bench_bare"
            )
            conn.commit()

    runs = {"n": 0}
    peaks: list[int] = []

    with common.server(env) as (port, proc):

        def ours() -> float:
            runs["n"] += 1
            truncate()
            jobs = [
                (
                    sym,
                    orjson.dumps(
                        {
                            "symbol": sym,
                            "ts": ts.tolist(),
                            "price": p.tolist(),
                            "size": sz.tolist(),
                            "id": ids,
                            "side": np.where(sd > 0, "buy", "sell").tolist(),
                        }
                    ),
                )
                for sym, ts, p, sz, sd, ids in _payloads(total, runs["n"])
            ]
            stop = threading.Event()
            sampler = threading.Thread(target=common.peak_rss, args=(proc.pid, stop, peaks))
            sampler.start()

            def post(job, state):
                client = state.setdefault("c", common.Client(port))
                status, body = client.request(
                    "POST",
                    "/api/v1/market-data/ticks",
                    job[1],
                    {"Content-Type": "application/json", "X-API-Key": key},
                )
                if status != 200:
                    raise RuntimeError(f"ingest answered {status}: {body[:300]!r}")

            elapsed = _run_clients(jobs, post)
            stop.set()
            sampler.join()
            return total / elapsed

        def baseline() -> float:
            runs["n"] += 1
            truncate()
            jobs = []
            for sym, ts, p, sz, sd, ids in _payloads(total, runs["n"]):
                n = len(ts)
                jobs.append(
                    copybuf.build(
                        [
                            ("symbol_id", np.full(n, symbol_ids[sym], dtype=np.int32)),
                            ("ts", copybuf.ns_to_pg_us(ts)),
                            ("price", p),
                            ("size", sz),
                            ("side", sd.astype(np.int16)),
                            ("inferred", np.zeros(n, dtype=np.bool_)),
                        ],
                        text=np.array(ids, dtype=object),
                    )
                )

            def copy(payload, state):
                conn = state.setdefault("conn", pg())
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY bench_ticks (symbol_id, ts, price, size, side, inferred, trade_id) "
                        "FROM STDIN BINARY"
                    ) as cp,
                ):
                    cp.write(payload)
                conn.commit()

            return total / _run_clients(jobs, copy)

        ours_runs, base_runs = common.alternate(ours, baseline)

    physical = _physical_limit(pg, total, symbol_ids)
    result = {
        "ours": round(common.median(ours_runs)),
        "baseline": round(common.median(base_runs)),
        "unit": "ticks/s",
        "ratio": round(common.median(ours_runs) / common.median(base_runs), 3),
        "ours_runs": [round(x) for x in ours_runs],
        "baseline_runs": [round(x) for x in base_runs],
        "physical_limit_bare_copy": round(physical),
        "peak_rss_mb": round(max(peaks) / 2**20, 1) if peaks else None,
        "target": "ratio >= 0.5 and ours >= 100000 ticks/s; peak RSS <= 400 MB",
        "load": f"{total} ticks, {len(SYMBOLS)} symbols, batches of {BATCH}, {CLIENTS} clients",
    }
    truncate()
    return result


def _physical_limit(pg, total: int, symbol_ids: dict) -> float:
    """One big binary COPY into a bare unlogged table without indexes, for information."""
    from apps.marketdata.store import copybuf

    n = total
    payload = copybuf.build(
        [
            ("symbol_id", np.full(n, 1, dtype=np.int32)),
            (
                "ts",
                copybuf.ns_to_pg_us(1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 1000),
            ),
            ("price", np.full(n, 100.0)),
            ("size", np.ones(n)),
            ("side", np.ones(n, dtype=np.int16)),
            ("inferred", np.zeros(n, dtype=np.bool_)),
        ]
    )
    with pg() as conn:
        conn.execute("TRUNCATE bench_bare")
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bench_bare (symbol_id, ts, price, size, side, inferred) FROM STDIN BINARY"
            ) as cp,
        ):
            cp.write(payload)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("TRUNCATE bench_bare")
        conn.commit()
    return n / elapsed


def bench_ingest_sierra_single(quick: bool = False) -> dict:
    """Single Sierra Chart bar POSTs per second: 4 clients, each a chart of its own symbol
    sending consecutive 1-second bars (what 4 Sierra Chart charts do), against a plain
    Django JsonResponse view served by the same server."""
    seconds = 1.0 if quick else 5.0
    env = common.bench_env("ingest")
    common.prepare_databases(env)
    common.django_in_process(env)
    from apps.accounts.services import feedkey_create
    from apps.marketdata.api.ingest import SIERRA_EXAMPLE
    from apps.marketdata.services import symbol_upsert
    from apps.marketdata.store.db import connection

    codes = [f"SC{i}" for i in range(CLIENTS)]
    ids = [
        symbol_upsert(symbol=code, exchange="BENCH", asset_type="commodities", tick_size="0.01")[
            0
        ].id
        for code in codes
    ]
    with connection().cursor() as cursor:  # a defined start: no bars of an earlier run
        cursor.execute("DELETE FROM md_bars WHERE symbol_id = ANY(%s)", [ids])
    _, key = feedkey_create(name=f"sierra-{time.time_ns()}")
    clock = {"t": int(time.time()) - 30 * 86_400}

    def bar(code: str, second: int) -> bytes:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        chart_info = {**SIERRA_EXAMPLE["chart_info"], "symbol": code}
        return orjson.dumps(SIERRA_EXAMPLE | {"timestamp": stamp, "chart_info": chart_info})

    with common.server(env) as (port, _):

        def rate(path: str, headers: dict) -> float:
            done = [0]
            lock = threading.Lock()
            deadline = time.perf_counter() + seconds
            start_second = clock["t"]
            clock["t"] += 100_000  # later runs write new bars

            def loop(code: str):
                client = common.Client(port)
                count = 0
                while time.perf_counter() < deadline:
                    status, payload = client.request(
                        "POST", path, bar(code, start_second + count), headers
                    )
                    if status != 200:
                        raise RuntimeError(f"{path} answered {status}: {payload[:200]!r}")
                    count += 1
                with lock:
                    done[0] += count

            threads = [threading.Thread(target=loop, args=(code,)) for code in codes]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return done[0] / (time.perf_counter() - started)

        json_headers = {"Content-Type": "application/json"}
        ours_runs, base_runs = common.alternate(
            lambda: rate("/api/v1/market-data/", json_headers | {"X-API-Key": key}),
            lambda: rate("/bench/baseline", json_headers),
        )
    return {
        "ours": round(common.median(ours_runs), 1),
        "baseline": round(common.median(base_runs), 1),
        "unit": "requests/s",
        "ratio": round(common.median(ours_runs) / common.median(base_runs), 3),
        "ours_runs": [round(x, 1) for x in ours_runs],
        "baseline_runs": [round(x, 1) for x in base_runs],
        "target": "ratio >= 0.5",
        "load": f"{CLIENTS} keep-alive clients (one symbol each), {seconds:g}s per run",
    }


BENCHMARKS = {
    "ingest_ticks": bench_ingest_ticks,
    "ingest_sierra_single": bench_ingest_sierra_single,
}
