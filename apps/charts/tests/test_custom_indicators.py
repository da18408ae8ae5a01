"""Custom indicators: CRUD for the owner only, formula validation (injection attempts),
sharing by link, and use as ``CUSTOM_<id>`` in the indicator API."""

from __future__ import annotations

import numpy as np
import pytest

from apps.accounts.tests.factories import UserFactory
from apps.charts.custom_indicators import CustomIndicator
from apps.marketdata.analytics.indicators import compile_formula
from apps.marketdata.tests.conftest import MD
from apps.marketdata.tests.test_indicator_api import make_symbol, minute_bars, store_bars

pytestmark = pytest.mark.django_db(databases=MD)

BASE = "/api/v1/custom-indicators/"


@pytest.fixture
def alice(client):
    user = UserFactory()
    client.force_login(user)
    return user


def create(client, **fields):
    body = {"name": "spread", "formula": "ema(close, 20) - sma(close, 50)"} | fields
    return client.post(BASE, body, content_type="application/json")


def test_it_creates_lists_updates_and_deletes_own_formulas(client, alice):
    response = create(client, description="trend spread")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["spec"] == f"CUSTOM_{created['id']}"
    assert created["is_public"] is False and created["share_url"] is None
    assert created["functions"] == ["ema", "sma"]
    assert created["warmup_bars"] >= 49
    assert [i["id"] for i in client.get(BASE).json()] == [created["id"]]

    url = f"{BASE}{created['id']}/"
    patched = client.patch(
        url, {"formula": "rsi(close, 14) > 70", "is_public": True}, content_type="application/json"
    ).json()
    assert patched["formula"] == "rsi(close, 14) > 70"
    assert patched["share_url"] == f"{BASE}shared/{patched['share_token']}"
    assert create(client).status_code == 400  # names are unique per owner
    assert client.delete(url).status_code == 204
    assert not CustomIndicator.objects.exists()


def test_it_hides_private_formulas_from_other_users(client, alice):
    created = create(client).json()
    url = f"{BASE}{created['id']}/"
    client.force_login(UserFactory())
    assert client.get(BASE).json() == []
    assert client.get(url).status_code == 404
    assert client.patch(url, {"name": "mine"}, content_type="application/json").status_code == 404
    assert client.delete(url).status_code == 404
    assert client.post(f"{url}rotate-token/").status_code == 404
    assert CustomIndicator.objects.get().name == "spread"
    client.logout()
    assert client.get(BASE).status_code in (401, 403)


@pytest.mark.parametrize(
    ("formula", "position", "needle"),
    [
        ("__import__('os').system('id')", 0, "not allowed"),
        ("close.__class__.__mro__", 0, "attribute access"),
        ("sma(close, 5) + open.real", 16, "attribute access"),
        ("close ** 1000", 9, "exponent"),
        ("close ** close", 9, "exponent"),
        ("(" * 30 + "close" + ")" * 30, 20, "nested too deeply"),
        ("-" * 40 + "close", None, "nested too deeply"),
        ("close[0]", 0, "subscripts"),
        ("(lambda: 1)()", 0, "named functions"),
        ("[x for x in close]", 0, "comprehensions are not allowed"),
        ("eval('1')", 0, "unknown function 'eval'"),
        ("close + 9e99", 8, "number"),
        ("ema(close, 20) - smaa(close, 50)", 17, "smaa"),
        ("ema(close, 99999)", 11, "out of range"),
        ("close +", None, "syntax error"),
        ("x" * 600, 500, "too long"),
    ],
)
def test_it_rejects_injection_attempts_and_bad_formulas_with_the_position(
    client, alice, formula, position, needle
):
    response = create(client, formula=formula)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_FORMULA"
    assert error["field"] == "formula"
    assert needle in error["message"].lower(), error
    if position is not None:
        assert error["position"] == position, error
    assert not CustomIndicator.objects.exists()


def test_it_shares_public_formulas_by_link_only(client, alice):
    created = create(client, is_public=True).json()
    token = created["share_token"]
    client.logout()
    shared = client.get(f"{BASE}shared/{token}")
    assert shared.status_code == 200
    assert shared.json() == {
        "id": created["id"],
        "spec": created["spec"],
        "name": "spread",
        "formula": "ema(close, 20) - sma(close, 50)",
        "description": "",
        "overlay": False,
        "owner": alice.username,
    }
    wrong = token[:-1] + ("y" if token.endswith("x") else "x")  # a token ending in x: 1 in 64
    assert client.get(f"{BASE}shared/{wrong}").status_code == 404
    client.force_login(alice)
    rotated = client.post(f"{BASE}{created['id']}/rotate-token/").json()
    assert rotated["share_token"] != token
    assert client.get(f"{BASE}shared/{token}").status_code == 404
    client.patch(f"{BASE}{created['id']}/", {"is_public": False}, content_type="application/json")
    assert client.get(f"{BASE}shared/{rotated['share_token']}").status_code == 404


def test_it_computes_custom_specs_in_the_indicator_api(client, alice):
    symbol = make_symbol("CUST", asset_type="crypto")
    bars = minute_bars(500, 1_700_000_000 // 3600 * 3600)
    store_bars(symbol, bars, 60)
    spread = create(client).json()
    signal = create(client, name="overbought", formula="rsi(close, 14) > 70").json()

    history = client.get(
        "/api/v1/indicators/history",
        {"symbol": "CUST", "timeframe": "1m", "indicator": spread["spec"].lower(), "lookback": 30},
    ).json()
    assert history["indicator"] == spread["spec"] and history["kind"] == "custom"
    expected = compile_formula(spread["formula"]).evaluate(bars)[-30:]
    got = np.array([p["value"] for p in history["series"]], dtype=np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-9)

    batch = client.post(
        "/api/v1/indicators/batch",
        {
            "symbol": "CUST",
            "queries": [
                {"timeframe": "1m", "indicator": signal["spec"], "lookback": 100},
                {"timeframe": "5m", "indicator": spread["spec"], "lookback": 10},
            ],
        },
        content_type="application/json",
    ).json()
    flags = {p["value"] for p in batch["results"][0]["series"]}
    assert flags <= {0.0, 1.0} and len(batch["results"][1]["series"]) == 10

    # an edited formula is never answered from the old formula's cache
    client.patch(
        f"{BASE}{spread['id']}/", {"formula": "close - open"}, content_type="application/json"
    )
    edited = client.get(
        "/api/v1/indicators/current",
        {"symbol": "CUST", "timeframe": "1m", "indicators": spread["spec"]},
    ).json()
    assert edited["values"][spread["spec"]]["value"] == pytest.approx(
        bars["close"][-1] - bars["open"][-1]
    )


def test_it_hides_private_custom_specs_from_other_users_but_not_public_ones(client, alice):
    make_symbol("CUST2", asset_type="crypto")
    private = create(client).json()
    public = create(client, name="pub", formula="hl2 - close", is_public=True).json()
    client.force_login(UserFactory())
    params = {"symbol": "CUST2", "timeframe": "1m", "lookback": 5}
    response = client.get("/api/v1/indicators/history", {**params, "indicator": private["spec"]})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": f"Custom indicator {private['spec']} not found",
    }
    missing = client.get("/api/v1/indicators/history", {**params, "indicator": "CUSTOM_999999"})
    assert missing.status_code == 404  # indistinguishable from a private one
    assert (
        client.get(
            "/api/v1/indicators/history", {**params, "indicator": public["spec"]}
        ).status_code
        == 200
    )


@pytest.mark.django_db(databases=MD, transaction=True)
def test_it_streams_a_custom_formula_over_the_websocket(redis_client):
    import asyncio
    import time

    from apps.charts.custom_indicators import custom_indicator_create
    from apps.marketdata.tests.test_indicator_ws import (
        close_db,
        connect,
        ingest,
        live_symbol,
        receive_type,
        trades,
    )

    symbol = live_symbol("CUSTWS")
    owner, stranger = UserFactory(), UserFactory()
    formula = custom_indicator_create(owner=owner, name="range", formula="high - low")

    async def scenario():
        other = await connect(stranger)
        message = {"action": "subscribe", "symbol": "CUSTWS", "indicators": [formula.spec_id]}
        await other.send_json_to(message)
        assert (await receive_type(other, "error"))["error_code"] == "not_found"
        await other.disconnect()

        comm = await connect(owner)
        await comm.send_json_to(message)
        ok = await receive_type(comm, "success")
        assert ok["data"]["subscriptions"] == [formula.spec_id]
        now = time.time()
        await ingest(symbol, trades(now, [150.0, 154.0, 151.0], "f"))
        update = await receive_type(comm, "indicator_update")
        while update["closed"]:
            update = await receive_type(comm, "indicator_update")
        assert update["indicator_id"] == formula.spec_id
        assert update["time"] == int(now) // 60 * 60
        assert update["value"] == pytest.approx(4.0)
        await comm.disconnect()
        await close_db()

    asyncio.run(scenario())
