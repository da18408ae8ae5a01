"""Every bad input of SPEC section 3 gets its status and error shape, and nothing is
written."""

from __future__ import annotations

import time

import pytest

from apps.accounts.services import feedkey_create, feedkey_revoke
from apps.marketdata.api.ingest import SIERRA_EXAMPLE
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.test_ingest_ticks import counts

pytestmark = pytest.mark.django_db(databases=MD)
TICKS = "/api/v1/market-data/ticks"
BAR = "/api/v1/market-data/"
BATCH = "/api/v1/market-data/batch"
NOW_NS = time.time_ns()
GOOD_TICK = {"ts": NOW_NS - 10**9, "price": 100.0, "size": 1.0, "side": "buy", "id": "t1"}
GOOD_BAR = SIERRA_EXAMPLE | {"chart_info": {**SIERRA_EXAMPLE["chart_info"], "symbol": "BTCUSDT"}}


def post_good_tick(client, key: str, symbol: str):
    """POST ``GOOD_TICK`` for ``symbol`` with the feed key ``key``."""
    return client.post(
        TICKS,
        {"symbol": symbol, "ticks": [GOOD_TICK]},
        content_type="application/json",
        HTTP_X_API_KEY=key,
    )


def nothing_written(symbol) -> bool:
    return counts(symbol.id) == ((0, 0, 0), (0, 0), (0, 0))


def assert_rows(response, expected: set[tuple[int, str]]):
    body = response.json()
    assert response.status_code == 422, body
    assert body["error"]["code"] == "invalid_rows"
    assert "nothing was stored" in body["error"]["message"]
    assert {(r["index"], r["field"]) for r in body["error"]["rows"]} == expected
    assert all(r["message"] for r in body["error"]["rows"])


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"price": float("nan")}, "price"),
        ({"price": "abc"}, "price"),
        ({"size": -1}, "size"),
        ({"size": None}, "size"),
        ({"ts": NOW_NS + 2 * 86_400 * 10**9}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"side": "long"}, "side"),
        ({"id": {"x": 1}}, "id"),
    ],
)
def test_it_refuses_a_batch_with_one_bad_tick(api, btc, bad, field):
    ticks = [GOOD_TICK, {**GOOD_TICK, "id": "t2", **bad}, {**GOOD_TICK, "id": "t3"}]
    # orjson cannot encode NaN; send it as the JSON token a buggy client might produce
    body = {"symbol": "BTCUSDT", "ticks": ticks}
    if bad.get("price") != bad.get("price"):
        ticks[1]["price"] = 1e999  # overflows to inf in the parser: a non-finite number
    assert_rows(api(TICKS, body), {(1, field)})
    assert nothing_written(btc)


def test_it_reports_every_bad_row_of_a_column_batch(api, btc):
    body = {
        "symbol": "BTCUSDT",
        "ts": [NOW_NS, NOW_NS, "x"],
        "price": [1.0, -2.0, 1e999],
        "size": [-1.0, 1.0, 1.0],
    }
    assert_rows(api(TICKS, body), {(0, "size"), (2, "ts"), (2, "price")})
    assert nothing_written(btc)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ticks": []}, "'symbol' is required"),
        ({"symbol": "BTCUSDT"}, "either 'ticks'"),
        ({"symbol": "BTCUSDT", "ticks": [1, 2]}, "must be an object"),
        ({"symbol": "BTCUSDT", "ts": [1, 2], "price": [1.0], "size": [1, 1]}, "has 1 values"),
        ([1, 2, 3], "JSON (or msgpack) object"),
    ],
)
def test_it_refuses_malformed_payloads(api, btc, body, message):
    response = api(TICKS, body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert nothing_written(btc)


def test_it_refuses_invalid_json(client, feed_key, btc, redis_client):
    response = client.post(
        TICKS, b"{not json", content_type="application/json", HTTP_X_API_KEY=feed_key
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"


def test_it_refuses_oversized_batches_with_413(api, btc, settings):
    settings.INGEST_MAX_BATCH_ROWS = 5
    ticks = [{**GOOD_TICK, "id": f"t{i}"} for i in range(6)]
    response = api(TICKS, {"symbol": "BTCUSDT", "ticks": ticks})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    bars = [GOOD_BAR] * 6
    assert api(BATCH, {"data": bars, "metadata": {}}).status_code == 413
    assert nothing_written(btc)


def test_it_refuses_oversized_bodies_with_413(api, btc, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048
    ticks = [{**GOOD_TICK, "id": f"t{i}"} for i in range(100)]
    assert api(TICKS, {"symbol": "BTCUSDT", "ticks": ticks}).status_code == 413


def _fresh_window(seconds_needed: float = 3.0) -> None:
    """Wait, if need be, so that a rate window has this long left."""
    from apps.marketdata.api.auth import RATE_WINDOW_S

    left = RATE_WINDOW_S - time.time() % RATE_WINDOW_S
    if left < seconds_needed:
        time.sleep(left + 0.05)


def test_leased_counts_never_let_more_than_the_limit_through(db, settings, redis_client):
    """Each process leases a share of the window (a 50th of the limit) and spends it
    locally; Redis counts what was leased, so across processes the limit holds."""
    from apps.accounts.models import FeedKey
    from apps.marketdata.api.auth import rate_limit_retry_after

    settings.INGEST_RATE_PER_KEY = 100  # shares of 2
    key = FeedKey.objects.get(pk=feedkey_create(name="leased")[0].pk)
    _fresh_window()
    bucket = int(time.time() // 10)
    redis_key = f"tf:ingest-rate:{key.pk}:{bucket}"
    redis_client.incrby(redis_key, 61)  # another process leased 61 counts
    answers = [rate_limit_retry_after(key) for _ in range(45)]
    assert answers[:39] == [None] * 39  # what was left of the 100
    assert all(1 <= a <= 11 for a in answers[39:])  # then refused, with Retry-After
    assert int(time.time() // 10) == bucket  # (all in one window)


def test_a_small_limit_is_counted_exactly_in_redis(db, settings, redis_client):
    from apps.accounts.models import FeedKey
    from apps.marketdata.api.auth import rate_limit_retry_after

    settings.INGEST_RATE_PER_KEY = 40  # under 50: shares of one
    key = FeedKey.objects.get(pk=feedkey_create(name="exact")[0].pk)
    _fresh_window()
    bucket = int(time.time() // 10)
    answers = [rate_limit_retry_after(key) for _ in range(41)]
    assert answers[:40] == [None] * 40 and answers[40] is not None
    assert int(redis_client.get(f"tf:ingest-rate:{key.pk}:{bucket}")) == 41


def test_it_rate_limits_per_key_with_retry_after(api, client, btc, settings, db):
    settings.INGEST_RATE_PER_KEY = 3
    statuses = [
        api(TICKS, {"symbol": "BTCUSDT", "ticks": [{**GOOD_TICK, "id": f"r{i}"}]}) for i in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    limited = statuses[-1]
    assert 1 <= int(limited["Retry-After"]) <= 11
    assert limited.json()["error"]["code"] == "rate_limited"
    _, other = feedkey_create(name="other-feed")  # the limit is per key
    response = client.post(
        TICKS,
        {"symbol": "BTCUSDT", "ticks": [{**GOOD_TICK, "id": "o"}]},
        content_type="application/json",
        HTTP_X_API_KEY=other,
    )
    assert response.status_code == 200


def test_it_requires_a_valid_unrevoked_key(client, btc, feed_key, redis_client):
    body = {"symbol": "BTCUSDT", "ticks": [GOOD_TICK]}
    missing = client.post(TICKS, body, content_type="application/json")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "not_authenticated"
    wrong = client.post(TICKS, body, content_type="application/json", HTTP_X_API_KEY="abc.def")
    assert wrong.status_code == 401
    feedkey_revoke(prefix=feed_key.split(".")[0])
    revoked = client.post(TICKS, body, content_type="application/json", HTTP_X_API_KEY=feed_key)
    assert revoked.status_code == 401
    assert nothing_written(btc)


@pytest.mark.parametrize("path", [BAR, BATCH, TICKS])
def test_keyed_and_unkeyed_posts_answer_in_the_same_shape(client, feed_key, path, redis_client):
    """A POST with a valid key skips DRF's dispatch (IngestView.dispatch); one without
    goes through it: same error shape, same headers DRF adds."""
    keyed = client.post(path, b"{", content_type="application/json", HTTP_X_API_KEY=feed_key)
    unkeyed = client.post(path, b"{", content_type="application/json")
    assert (keyed.status_code, unkeyed.status_code) == (400, 401)
    for response in (keyed, unkeyed):
        assert response["Content-Type"] == "application/json"
        assert response["Allow"] == "POST, OPTIONS"
        assert set(response.json()["error"]) >= {"code", "message"}
    assert client.get(path, HTTP_X_API_KEY=feed_key).status_code == 405
    assert client.options(path, HTTP_X_API_KEY=feed_key).status_code == 200


def test_it_limits_keys_to_their_symbols_and_404s_unknown_ones(client, btc, redis_client):
    _, key = feedkey_create(name="es-only", symbols=["ES"])
    response = post_good_tick(client, key, "BTCUSDT")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "symbol_not_allowed"
    _, any_key = feedkey_create(name="any")
    unknown = post_good_tick(client, any_key, "NOPE")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_symbol"
    assert nothing_written(btc)


def test_it_auto_creates_symbols_when_the_key_allows(client, redis_client):
    from apps.marketdata.models import Symbol

    _, key = feedkey_create(name="crypto", auto_create_symbols=True)
    response = post_good_tick(client, key, "ethusdt")
    assert response.status_code == 200
    assert Symbol.objects.get(symbol="ETHUSDT").exchange == "CRYPTO"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"high": 4162.0}, "high"),
        ({"low": 4162.7}, "low"),
        ({"volume": -1}, "volume"),
        ({"bid_volume": 15, "ask_volume": 5, "volume": 19}, "bid_volume"),
        ({"open": float("inf")}, "open"),
        ({"timestamp": "2999-01-01 00:00:00"}, "timestamp"),
        ({"timestamp": "26/11/2025"}, "timestamp"),
        ({"chart_info": {"symbol": "BTCUSDT", "seconds_per_bar": 0}}, "chart_info.seconds_per_bar"),
        (
            {"chart_info": {"symbol": "BTCUSDT", "seconds_per_bar": "1m"}},
            "chart_info.seconds_per_bar",
        ),
    ],
)
def test_it_refuses_a_batch_with_one_bad_bar(api, btc, change, field):
    bad = {**GOOD_BAR, **change}
    if bad["open"] == float("inf"):
        bad["open"] = 1e999
    second = {**GOOD_BAR, "timestamp": "2025-11-26 21:17:15"}
    assert_rows(api(BATCH, {"data": [second, bad], "metadata": {}}), {(1, field)})
    single = api(BAR, bad)
    assert single.status_code == 422
    assert nothing_written(btc)


def test_it_refuses_a_batch_mixing_symbols(api, btc):
    other = {**GOOD_BAR, "chart_info": {"symbol": "ESU4", "seconds_per_bar": 1}}
    response = api(BATCH, {"data": [GOOD_BAR, other], "metadata": {}})
    assert response.status_code == 422
    assert "one symbol" in response.json()["error"]["rows"][0]["message"]


@pytest.mark.django_db(databases=MD, transaction=True)
def test_it_answers_503_with_retry_after_when_the_store_is_down(api, btc, settings):
    from django.db import connections

    md = connections["marketdata"]
    md.close()
    saved = dict(md.settings_dict)
    md.settings_dict["PORT"] = "1"  # nothing listens there: the store is unreachable
    md.settings_dict["HOST"] = "127.0.0.1"
    try:
        response = api(TICKS, {"symbol": "BTCUSDT", "ticks": [GOOD_TICK]})
    finally:
        md.close()
        md.settings_dict.update(saved)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "store_unavailable"
    assert nothing_written(btc)
