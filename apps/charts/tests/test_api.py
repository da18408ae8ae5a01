"""The workspace/chart/drawing API (JWT, as mobile clients use it; session for the page)."""

from __future__ import annotations

import pytest

from apps.charts import services
from apps.charts.models import Drawing, SavedChart, Workspace
from apps.charts.tests.conftest import layout, page_html
from apps.charts.tests.test_layout import GOOD as ORDERFLOW_OPTIONS

pytestmark = pytest.mark.django_db
HLINE = {"kind": "horizontal_line", "points": [{"time": 1_700_000_000, "price": 5000.25}]}


def test_it_requires_authentication(client, es):
    assert client.get("/api/v1/workspaces/").status_code in (401, 403)
    response = client.post("/api/v1/charts/", {}, content_type="application/json")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_it_creates_lists_reads_updates_and_deletes_workspaces(api_as, alice, es):
    api = api_as(alice)
    response = api.post(
        "/api/v1/workspaces/",
        {"name": "Mobile", "layout_config": layout(("ESZ5", "1m"), ("ESZ5", "15m"))},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["is_default"] and not body["read_only"] and body["owner"] == "alice"
    wid = body["id"]
    assert [w["id"] for w in api.get("/api/v1/workspaces/").json()] == [wid]
    config = body["layout_config"]
    config["panes"][1]["chart_type"] = "heikin_ashi"
    config["panes"][1]["sync"] = {"symbol": "a", "crosshair": "b"}
    response = api.patch(
        f"/api/v1/workspaces/{wid}/",
        {"name": "Renamed", "layout_config": config, "is_public": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    saved = api.get(f"/api/v1/workspaces/{wid}/").json()
    assert saved["name"] == "Renamed" and saved["is_public"]
    assert saved["layout_config"]["panes"][1]["chart_type"] == "heikin_ashi"
    assert saved["layout_config"]["panes"][1]["sync"] == {"symbol": "a", "crosshair": "b"}
    assert api.delete(f"/api/v1/workspaces/{wid}/").status_code == 204
    assert not Workspace.objects.exists()


def test_it_answers_400_with_field_errors_for_bad_input(api_as, alice, es):
    api = api_as(alice)
    response = api.post(
        "/api/v1/workspaces/", {"name": "X", "layout_config": {"grid": 7}}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "layout_config.grid" in error["fields"]
    assert api.post("/api/v1/workspaces/", {}, format="json").status_code == 400
    ws = services.workspace_create(owner=alice, name="W")
    response = api.patch(
        f"/api/v1/workspaces/{ws.pk}/", {"layout_config": {"panes": "x"}}, format="json"
    )
    assert response.status_code == 400


def test_it_answers_403_with_a_clear_message_at_a_tier_limit(api_as, free_user, es):
    api = api_as(free_user)
    response = api.post(
        "/api/v1/workspaces/",
        {"name": "Big", "layout_config": layout(*[("ESZ5", "1m")] * 3)},
        format="json",
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "tier_limit" and error["limit"] == "charts_per_layout"
    assert error["message"].startswith("Your plan allows 2 charts per layout.")


def test_it_hides_other_users_private_workspaces(api_as, alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Private")
    api = api_as(bob)
    assert api.get("/api/v1/workspaces/").json() == []
    assert api.get(f"/api/v1/workspaces/{ws.pk}/").status_code == 404
    assert (
        api.patch(f"/api/v1/workspaces/{ws.pk}/", {"name": "x"}, format="json").status_code == 404
    )
    assert api.delete(f"/api/v1/workspaces/{ws.pk}/").status_code == 404
    assert api.post(f"/api/v1/workspaces/{ws.pk}/fork/").status_code == 404
    ws.refresh_from_db()
    assert ws.name == "Private"


def test_it_lets_others_read_and_fork_but_not_edit_public_workspaces(api_as, alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Public", is_public=True)
    api = api_as(bob)
    body = api.get(f"/api/v1/workspaces/{ws.pk}/").json()
    assert body["read_only"] is True
    assert (
        api.patch(f"/api/v1/workspaces/{ws.pk}/", {"name": "x"}, format="json").status_code == 403
    )
    assert api.delete(f"/api/v1/workspaces/{ws.pk}/").status_code == 403
    response = api.post(f"/api/v1/workspaces/{ws.pk}/fork/")
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "bob"


def test_it_crud_saved_charts_and_hides_private_ones(api_as, alice, bob, es):
    api = api_as(alice)
    response = api.post(
        "/api/v1/charts/",
        {"name": "ES swing", "symbol": "ESZ5", "timeframe": "1h", "chart_type": "bars"},
        format="json",
    )
    assert response.status_code == 201, response.content
    cid = response.json()["id"]
    response = api.patch(
        f"/api/v1/charts/{cid}/",
        {"indicators": [{"id": "r", "spec": "RSI_14"}], "options": {"renko_box": 2}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["indicators"] == [{"id": "r", "spec": "RSI_14", "visible": True}]
    assert (
        api.patch(f"/api/v1/charts/{cid}/", {"timeframe": "2x"}, format="json").status_code == 400
    )
    assert api.post("/api/v1/charts/", {"symbol": "NOPE"}, format="json").status_code == 400
    other = api_as(bob)
    assert other.get(f"/api/v1/charts/{cid}/").status_code == 404
    assert other.patch(f"/api/v1/charts/{cid}/", {"name": "x"}, format="json").status_code == 404
    assert [c["id"] for c in api.get("/api/v1/charts/").json()] == [cid]
    assert api.delete(f"/api/v1/charts/{cid}/").status_code == 204


def test_it_saves_and_restores_orderflow_options_of_a_workspace_pane(api_as, alice, es):
    api = api_as(alice)
    ws = services.workspace_create(owner=alice, name="Flow", layout_config=layout(("ESZ5", "1m")))
    config = api.get(f"/api/v1/workspaces/{ws.pk}/").json()["layout_config"]
    config["panes"][0].update(chart_type="tpo", options=ORDERFLOW_OPTIONS)
    response = api.patch(f"/api/v1/workspaces/{ws.pk}/", {"layout_config": config}, format="json")
    assert response.status_code == 200, response.content
    pane = api.get(f"/api/v1/workspaces/{ws.pk}/").json()["layout_config"]["panes"][0]
    assert pane["chart_type"] == "tpo" and pane["options"] == ORDERFLOW_OPTIONS
    chart = api.get(f"/api/v1/charts/{pane['chart']}/").json()
    assert chart["options"] == ORDERFLOW_OPTIONS  # mirrored into the pane's saved chart

    config["panes"][0]["options"] = {**ORDERFLOW_OPTIONS, "vp_range": [5, 1]}
    response = api.patch(f"/api/v1/workspaces/{ws.pk}/", {"layout_config": config}, format="json")
    assert response.status_code == 400
    assert "layout_config.panes[0].options.vp_range" in response.json()["error"]["fields"]


def test_it_refuses_bad_orderflow_options_of_a_saved_chart(api_as, alice, es):
    api = api_as(alice)
    cid = api.post("/api/v1/charts/", {"symbol": "ESZ5"}, format="json").json()["id"]
    response = api.patch(
        f"/api/v1/charts/{cid}/", {"options": {"fp_mode": "rainbow"}}, format="json"
    )
    assert response.status_code == 400
    assert "options.fp_mode" in response.json()["error"]["fields"]
    response = api.patch(f"/api/v1/charts/{cid}/", {"options": ORDERFLOW_OPTIONS}, format="json")
    assert response.status_code == 200, response.content
    assert api.get(f"/api/v1/charts/{cid}/").json()["options"] == ORDERFLOW_OPTIONS


def test_it_crud_drawings_with_versions(api_as, alice, es):
    api = api_as(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    base = f"/api/v1/charts/{chart.pk}/drawings/"
    response = api.post(base, {**HLINE, "style": {"color": "#2962ff"}}, format="json")
    assert response.status_code == 201, response.content
    drawing = response.json()
    assert drawing["version"] == 1 and drawing["symbol"] == "ESZ5"
    moved = {"version": 1, "points": [{"time": 1_700_000_060, "price": 5001.0}]}
    response = api.patch(f"{base}{drawing['id']}/", moved, format="json")
    assert response.status_code == 200 and response.json()["version"] == 2
    listed = api.get(f"{base}?symbol=ESZ5").json()
    assert [d["points"][0]["price"] for d in listed] == [5001.0]
    assert api.get(f"{base}?symbol=NQ").json() == []
    assert api.delete(f"{base}{drawing['id']}/?version=2").status_code == 204
    assert not Drawing.objects.exists()


def test_it_rejects_a_stale_drawing_version_with_409(api_as, alice, es):
    api = api_as(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    base = f"/api/v1/charts/{chart.pk}/drawings/"
    did = api.post(base, HLINE, format="json").json()["id"]
    first = {"version": 1, "text": "phone"}
    second = {"version": 1, "text": "laptop"}  # based on the same version: stale
    assert api.patch(f"{base}{did}/", first, format="json").status_code == 200
    response = api.patch(f"{base}{did}/", second, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "version_conflict" and error["current"]["text"] == "phone"
    assert error["current"]["version"] == 2
    assert api.delete(f"{base}{did}/?version=1").status_code == 409
    assert api.patch(f"{base}{did}/", {"text": "no version"}, format="json").status_code == 400
    assert Drawing.objects.get().text == "phone"


def test_it_rejects_bad_drawings_with_400(api_as, alice, es):
    api = api_as(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    base = f"/api/v1/charts/{chart.pk}/drawings/"
    for bad in (
        {"kind": "nope", "points": HLINE["points"]},
        {"kind": "trend_line", "points": HLINE["points"]},
        {"kind": "horizontal_line", "points": [{"time": "noon", "price": 1}]},
        {"kind": "horizontal_line"},
    ):
        assert api.post(base, bad, format="json").status_code == 400, bad
    assert api.delete(f"{base}1/?version=x").status_code in (400, 404)


def test_it_hides_other_users_drawings(api_as, alice, bob, es):
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    drawing = services.drawing_create(chart=chart, symbol="ESZ5", data=HLINE)
    api = api_as(bob)
    base = f"/api/v1/charts/{chart.pk}/drawings/"
    assert api.get(base).status_code == 404
    assert api.post(base, HLINE, format="json").status_code == 404
    assert api.get(f"{base}{drawing.pk}/").status_code == 404
    response = api.patch(f"{base}{drawing.pk}/", {"version": 1, "text": "x"}, format="json")
    assert response.status_code == 404
    assert api.delete(f"{base}{drawing.pk}/").status_code == 404
    assert Drawing.objects.get().text == ""


def test_it_shows_drawings_of_public_workspaces_read_only(api_as, alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Shared", is_public=True)
    chart = SavedChart.objects.get(pk=ws.layout_config["panes"][0]["chart"])
    drawing = services.drawing_create(chart=chart, symbol=chart.symbol, data=HLINE)
    api = api_as(bob)
    base = f"/api/v1/charts/{chart.pk}/drawings/"
    assert [d["id"] for d in api.get(base).json()] == [drawing.pk]
    assert api.post(base, HLINE, format="json").status_code == 403
    response = api.patch(f"{base}{drawing.pk}/", {"version": 1, "text": "x"}, format="json")
    assert response.status_code == 403
    assert api.delete(f"{base}{drawing.pk}/").status_code == 403


@pytest.mark.django_db(databases=["default", "marketdata"])  # the page reads bars
def test_it_accepts_session_auth_with_csrf_from_the_page(alice, es):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    url = f"/api/v1/charts/{chart.pk}/drawings/"
    assert browser.post(url, HLINE, content_type="application/json").status_code == 403
    page = browser.get("/chart/ESZ5/")
    token = page_html(page).split('"X-CSRFToken": "')[1].split('"')[0]
    response = browser.post(url, HLINE, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
