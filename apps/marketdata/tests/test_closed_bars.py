"""The chart page's newest bars with their closed part remembered (``store/closed_bars``),
on the real PostgreSQL and Redis, with recorded Binance trades moved to the present."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings

from apps.marketdata.store import closed_bars, reads
from apps.marketdata.tests.conftest import MD, btc_rows
from apps.marketdata.timeframes import parse

pytestmark = pytest.mark.django_db(databases=MD)

TICKS = "/api/v1/market-data/ticks"


@pytest.fixture
def live_btc(btc, btc_trades, api, django_capture_on_commit_callbacks):
    """The recorded trades (six minutes of them), moved to end twenty minutes ago (bars
    the memo may keep), stored through the ticks endpoint; returns a function that
    stores more trades (epoch seconds, price) the same way."""
    rows = btc_rows(btc_trades)
    shift = time.time_ns() - 20 * 60 * 10**9 - rows[-1]["ts"]
    recorded = [r | {"ts": r["ts"] + shift} for r in rows]

    def store(ticks: list[dict]) -> None:
        # the test's transaction never commits: run the after-commit hooks (the token) now
        with django_capture_on_commit_callbacks(using="marketdata", execute=True):
            for lo in range(0, len(ticks), 5_000):
                response = api(TICKS, {"symbol": "BTCUSDT", "ticks": ticks[lo : lo + 5_000]})
                assert response.status_code == 200, response.content
        closed_bars.flush()  # what the flusher thread does within FLUSH_S

    store(recorded)

    def more(trades: list[tuple[float, float]], tag: str) -> None:
        store(
            [
                {"ts": int(t * 1e9), "price": p, "size": 0.5, "side": "buy", "id": f"{tag}{i}"}
                for i, (t, p) in enumerate(trades)
            ]
        )

    return more


def reads_of(monkeypatch) -> list[dict]:
    """Record the ``start`` of every ``reads.bar_rows`` call (the real one runs)."""
    calls: list[dict] = []
    real = reads.bar_rows

    def recorded(symbol, tf, **kwargs):
        calls.append(kwargs)
        return real(symbol, tf, **kwargs)

    monkeypatch.setattr(reads, "bar_rows", recorded)
    return calls


@pytest.mark.parametrize("timeframe", ["1s", "1m", "5m"])
def test_remembered_bars_join_the_recent_ones_into_what_a_full_read_gives(
    btc, live_btc, monkeypatch, timeframe
):
    tf = parse(timeframe)
    first = closed_bars.newest_bar_rows(btc, tf, 1000)
    assert first == reads.bar_rows(btc, tf, limit=1000) and len(first) >= 2
    now = time.time()
    live_btc([(now - 2, 70_000.0), (now - 1, 70_100.0)], "live")  # the forming bar moves

    calls = reads_of(monkeypatch)
    again = closed_bars.newest_bar_rows(btc, tf, 1000)
    # only the bars from the edge on were read, and the answer is the full read's
    _, since, closed = closed_bars._memo.peek((btc.id, tf.name, 1000))
    assert (
        since == closed_bars.edge(tf, since + closed_bars.HORIZON_S) <= now - closed_bars.HORIZON_S
    )
    assert closed.rows == [row for row in first if row[0] < since] and closed.rows
    assert [c.get("start") for c in calls] == [datetime.fromtimestamp(since, tz=UTC)]
    assert again == reads.bar_rows(btc, tf, limit=1000)
    assert again[-1][2] == 70_100.0  # the high of the newest bar
    assert again != first


def test_new_bars_push_the_oldest_remembered_ones_out_of_the_count(btc, live_btc):
    tf = parse("1s")
    key = (btc.id, tf.name, 200)
    first = closed_bars.newest_bar_rows(btc, tf, 200)
    assert first == reads.bar_rows(btc, tf, limit=200)
    kept = closed_bars._memo.peek(key)[2]
    assert kept.derive("test", len) == len(kept.rows) == 200  # all closed: recorded long ago
    now = time.time()
    live_btc([(now - 3, 70_000.0), (now - 2, 70_100.0), (now - 1, 70_200.0)], "new")

    closed, recent = closed_bars.newest_bar_parts(btc, tf, 200)
    assert closed.rows + recent == reads.bar_rows(btc, tf, limit=200)
    assert [r[2] for r in recent] == [70_000.0, 70_100.0, 70_200.0]
    # the three oldest fell out, in the memo too; what was made of the old rows is not
    # taken for the new ones, and the entry keeps its age
    assert closed.rows == kept.rows[3:] and closed_bars._memo.peek(key)[2] is closed
    assert closed.derive("test", len) == 197
    assert closed_bars.newest_bar_parts(btc, tf, 200)[0] is closed


def test_a_late_trade_in_a_closed_bar_is_seen_at_once(btc, live_btc, monkeypatch):
    tf = parse("1m")
    before = closed_bars.newest_bar_rows(btc, tf, 1000)
    late = time.time() - 22 * 60  # inside the recording: a remembered, closed bar
    live_btc([(late, 99_999.0)], "late")

    calls = reads_of(monkeypatch)
    after = closed_bars.newest_bar_rows(btc, tf, 1000)
    assert [c.get("start") for c in calls] == [None]  # read whole again
    assert after == reads.bar_rows(btc, tf, limit=1000)
    bucket = int(late) // 60 * 60
    assert [r[2] for r in after if r[0] == bucket] == [99_999.0]
    assert [r[2] for r in before if r[0] == bucket] != [99_999.0]


def test_a_write_from_another_process_is_seen(btc, live_btc, monkeypatch):
    """What another process's write does to this one's memo: it replaces the token."""
    tf = parse("1m")
    closed_bars.newest_bar_rows(btc, tf, 500)
    other = redis.Redis.from_url(settings.REDIS_URL)  # a client of its own
    other.set(closed_bars.HISTORY_KEY.format(symbol_id=btc.id), b"from-elsewhere")
    calls = reads_of(monkeypatch)
    closed_bars.newest_bar_rows(btc, tf, 500)
    assert [c.get("start") for c in calls] == [None]


def test_a_flushed_redis_trusts_nothing_remembered(btc, live_btc, redis_client, monkeypatch):
    tf = parse("1m")
    closed_bars.newest_bar_rows(btc, tf, 500)
    redis_client.flushdb()
    calls = reads_of(monkeypatch)
    closed_bars.newest_bar_rows(btc, tf, 500)
    assert [c.get("start") for c in calls] == [None]


def test_without_redis_the_bars_are_read_whole(btc, live_btc, monkeypatch):
    tf = parse("1m")
    closed_bars.newest_bar_rows(btc, tf, 500)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(closed_bars, "_redis", lambda: dead)
    calls = reads_of(monkeypatch)
    rows = closed_bars.newest_bar_rows(btc, tf, 500)
    assert [c.get("start") for c in calls] == [None]
    assert rows == reads.bar_rows(btc, tf, limit=500)
    closed_bars.note_write(btc.id, time.time() - 3600)
    closed_bars.flush()  # logs, does not raise


def test_session_bars_are_always_read_whole(btc, live_btc, monkeypatch):
    calls = reads_of(monkeypatch)
    for _ in range(2):
        rows = closed_bars.newest_bar_rows(btc, parse("1d"), 50)
    assert [c.get("start") for c in calls] == [None, None]
    assert rows == reads.bar_rows(btc, parse("1d"), limit=50)


def test_the_flusher_thread_replaces_the_token_by_itself(btc, redis_client):
    key = closed_bars.HISTORY_KEY.format(symbol_id=btc.id)
    redis_client.set(key, b"before")
    closed_bars.note_write(btc.id, time.time() - 60)  # recent: nothing to replace
    closed_bars.note_write(btc.id + 1, time.time() - 60)
    time.sleep(10 * closed_bars.FLUSH_S)
    assert redis_client.get(key) == b"before"
    closed_bars.note_write(btc.id, time.time() - closed_bars.HORIZON_S - 60)
    deadline = time.monotonic() + 5
    while redis_client.get(key) == b"before" and time.monotonic() < deadline:
        time.sleep(closed_bars.FLUSH_S)
    assert redis_client.get(key) not in (None, b"before")
