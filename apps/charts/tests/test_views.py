"""Chart pages and the HTMX workspace pages: access rules, fragments, limits."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.urls import reverse

from apps.charts import services
from apps.charts.models import SavedChart, Workspace
from apps.charts.tests.conftest import layout, page_html

pytestmark = pytest.mark.django_db(databases=["default", "marketdata"])
HX = {"HTTP_HX_REQUEST": "true"}


def config_of(response) -> dict:
    html = page_html(response)
    marker = '<script id="chart-config" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_it_sends_anonymous_visitors_to_the_login_page(client, es):
    response = client.get("/chart/ESZ5/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_renders_the_chart_page_with_its_config(client, alice, es):
    client.force_login(alice)
    response = client.get("/chart/esz5/?tf=5m")
    assert response.status_code == 200
    config = config_of(response)
    assert config["mode"] == "chart" and not config["readonly"]
    pane = config["layout"]["panes"][0]
    assert pane["symbol"] == "ESZ5" and pane["timeframe"] == "5m"
    assert config["symbols"]["ESZ5"]["tick_size"] == 0.25
    assert config["symbols"]["ESZ5"]["precision"] == 2
    assert config["symbols"]["ESZ5"]["timezone"] == "America/Chicago"
    assert pane["chart"] == SavedChart.objects.get(owner=alice, scratch_key="ESZ5").id
    html = page_html(response)
    # the first bars come with the page (not preloaded); scripts are external (CSP
    # script-src 'self')
    assert 'data-url="/api/v1/market-data/ESZ5?timeframe=5m&amp;limit=1500"' in html
    assert 'rel="preload" as="fetch"' not in html
    assert "no-store" in response["Cache-Control"]  # live data inside: never a stale copy
    assert 'src="/static/build/chart-page.js"' in html or "/charts/terminal.js" in html
    assert "lightweight-charts.standalone.production.js" in html
    assert "<script>" not in html and "onclick" not in html


def embedded_of(response) -> dict:
    return embedded_in(page_html(response))


def embedded_in(html: str) -> dict:
    start = html.index(">", html.index('<script type="application/json" id="embedded-bars"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


def assert_bars_equal(embedded: dict, api: dict) -> None:
    columns = embedded.pop("columns")
    assert embedded == {k: v for k, v in api.items() if k != "bars"}
    assert len(columns["time"]) == len(api["bars"])
    for i, bar in enumerate(api["bars"]):
        assert {k: columns[k][i] for k in columns} == {k: bar[k] for k in columns}


def test_it_embeds_the_first_bars_as_the_bars_api_gives_them(client, alice, es):
    from apps.marketdata.ingest.ticks import ingest_ticks
    from apps.marketdata.ticks import TickBatch

    start = 1_751_400_000 * 10**9
    ticks = [start + i * 7 * 10**9 for i in range(40)]  # five minutes of trades
    prices = [5000 + (i % 5) * 0.25 for i in range(40)]
    ingest_ticks(es, TickBatch.from_columns(ticks, prices, [1.0] * 40, [1, -1] * 20))
    client.force_login(alice)
    embedded = embedded_of(client.get("/chart/ESZ5/?tf=1m&bars=100"))
    api = client.get("/api/v1/market-data/ESZ5?timeframe=1m&limit=100").json()
    assert len(api["bars"]) == 5
    assert_bars_equal(embedded, api)


def test_it_compresses_the_closed_bars_once_and_sends_them_as_they_are(client, alice, es):
    import gzip
    import time

    from apps.marketdata.ingest.ticks import ingest_ticks
    from apps.marketdata.store import closed_bars
    from apps.marketdata.ticks import TickBatch
    from apps.marketdata.timeframes import parse

    old = 1_751_400_000 * 10**9  # closed bars, long ago
    recent = (int(time.time()) - 150) * 10**9  # bars newer than the memo's horizon
    ticks = [old + i * 7 * 10**9 for i in range(40)] + [recent + i * 5 * 10**9 for i in range(20)]
    prices = [5000 + (i % 5) * 0.25 for i in range(60)]
    ingest_ticks(es, TickBatch.from_columns(ticks, prices, [1.5] * 60, [1, -1] * 30))
    client.force_login(alice)
    api = client.get("/api/v1/market-data/ESZ5?timeframe=1m&limit=100").json()
    pages = [
        b"".join(
            client.get("/chart/ESZ5/?tf=1m&bars=100", HTTP_ACCEPT_ENCODING="gzip").streaming_content
        )
        for _ in range(2)
    ]
    closed, fresh = closed_bars.newest_bar_parts(es, parse("1m"), 100)
    assert len(closed.rows) == 5 and len(fresh) >= 2
    kept = closed.derive("embedded-columns", lambda rows: pytest.fail("not kept"))
    for page in pages:
        assert all(piece.deflated in page for piece in kept)  # the same bytes, both times
        html = gzip.decompress(page).decode()  # checks the trailer's CRC-32 and length
        assert html.rstrip().endswith("</html>")
        assert_bars_equal(embedded_in(html), api)


def test_it_sends_the_page_before_the_bars_in_one_gzip_stream(client, alice, es):
    import zlib

    client.force_login(alice)
    response = client.get("/chart/ESZ5/?tf=1m", HTTP_ACCEPT_ENCODING="gzip, br")
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    chunks = list(response.streaming_content)
    inflate = zlib.decompressobj(wbits=31)
    # header + the page up to the bars: readable on its own (flushed), before the bars
    head = (inflate.decompress(chunks[0]) + inflate.decompress(chunks[1])).decode()
    assert head.startswith("<!doctype html>") and 'rel="modulepreload"' in head
    assert 'id="chart-config"' in head and "embedded-bars" not in head
    rest = b"".join(inflate.decompress(chunk) for chunk in chunks[2:]).decode()
    assert inflate.eof and not inflate.unused_data
    assert rest.startswith('<script type="application/json" id="embedded-bars"')
    assert rest.rstrip().endswith("</html>")


def test_it_loads_the_bundle_or_else_the_modules_one_by_one(client, alice, es, settings, tmp_path):
    import os

    from apps.charts.bundle import check_bundle

    source = tmp_path / "static/charts/pane.js"
    source.parent.mkdir(parents=True)
    source.write_text("")
    settings.BASE_DIR = tmp_path
    settings.DEBUG = True  # sources are looked at on every page then
    client.force_login(alice)
    bundled = 'src="/static/build/chart-page.js"'
    html = page_html(client.get("/chart/ESZ5/"))  # none built: the modules
    assert bundled not in html and 'src="/static/charts/terminal.js"' in html
    assert [w.id for w in check_bundle()] == ["tradeflow.W001"]
    built = tmp_path / "static/build/chart-page.js"
    built.parent.mkdir()
    built.write_text("")
    html = page_html(client.get("/chart/ESZ5/"))
    assert bundled in html and 'rel="modulepreload" href="/static/build/chart-page.js"' in html
    assert "terminal.js" not in html
    assert check_bundle() == []
    later = built.stat().st_mtime + 10
    os.utime(source, (later, later))  # an edited module: the bundle is stale
    assert bundled not in page_html(client.get("/chart/ESZ5/"))
    assert "stale" in check_bundle()[0].msg


def test_it_still_renders_the_page_when_the_store_is_down(client, alice, es, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("apps.marketdata.store.reads.bar_rows", down)
    client.force_login(alice)
    html = page_html(client.get("/chart/ESZ5/?tf=5m"))
    assert 'id="embedded-bars"' not in html  # the page fetches (and retries) instead
    assert 'rel="preload" as="fetch" href="/api/v1/market-data/ESZ5?timeframe=5m' in html


def test_it_falls_back_to_1m_for_an_unknown_timeframe(client, alice, es):
    client.force_login(alice)
    assert config_of(client.get("/chart/ESZ5/?tf=7x"))["layout"]["panes"][0]["timeframe"] == "1m"


def test_it_restores_the_saved_chart_type_and_indicators(client, alice, es):
    client.force_login(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    services.savedchart_update(
        chart=chart, state={"chart_type": "renko", "indicators": [{"id": "a", "spec": "RSI_14"}]}
    )
    pane = config_of(client.get("/chart/ESZ5/"))["layout"]["panes"][0]
    assert pane["chart_type"] == "renko" and pane["indicators"][0]["spec"] == "RSI_14"


def test_it_answers_404_for_unknown_and_private_symbols(client, alice, hidden_symbol):
    client.force_login(alice)
    response = client.get("/chart/NOPE/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text and 'href="/workspaces/"' in response.text
    assert client.get("/chart/SECRET/").status_code == 404


def test_the_server_error_page_renders_without_a_request_context():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html and "/static/css/app.css" in html


def test_it_marks_simulated_symbols(client, alice, btc):
    client.force_login(alice)
    response = client.get("/chart/BTCUSD/")
    assert config_of(response)["symbols"]["BTCUSD"]["is_simulated"] is True
    assert 'id="sim-badge"' in page_html(response)


def test_it_searches_symbols_as_an_htmx_fragment(client, alice, es, btc, hidden_symbol):
    client.force_login(alice)
    response = client.get("/charts/symbols/?q=z5", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-symbol="ESZ5"' in html
    assert "<html" not in html
    meta = html.split("data-meta='")[1].split("'")[0]
    assert json.loads(meta)["tick_size"] == 0.25
    assert "SECRET" not in client.get("/charts/symbols/?q=SEC").content.decode()
    assert "No symbol matches" in client.get("/charts/symbols/?q=zzzz").content.decode()


def test_it_opens_the_default_workspace_from_the_chart_link(client, alice, es):
    client.force_login(alice)
    response = client.get("/chart/")
    ws = Workspace.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/workspaces/{ws.pk}/"
    page = client.get(response["Location"])
    config = config_of(page)
    assert config["mode"] == "workspace" and config["workspace"]["id"] == ws.pk
    assert config["limits"] == {"charts_per_layout": 4, "indicators_per_chart": 10}


def test_it_shows_others_public_workspaces_read_only_and_hides_private_ones(client, alice, bob, es):
    ws = services.workspace_create(
        owner=alice, name="Alice's", layout_config=layout(("ESZ5", "1m"))
    )
    client.force_login(bob)
    assert client.get(f"/workspaces/{ws.pk}/").status_code == 404
    services.workspace_update(workspace=ws, is_public=True)
    response = client.get(f"/workspaces/{ws.pk}/")
    assert response.status_code == 200
    assert config_of(response)["readonly"] is True
    html = page_html(response)
    assert 'id="fork-button"' in html and 'id="draw-tools"' not in html


def test_it_forks_a_public_workspace(client, alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Setup", is_public=True)
    client.force_login(bob)
    response = client.post(f"/workspaces/{ws.pk}/fork/", **HX)
    fork = Workspace.objects.get(owner=bob)
    assert response.status_code == 200 and response["HX-Redirect"] == f"/workspaces/{fork.pk}/"
    assert fork.name == "Setup (fork)"
    private = services.workspace_create(owner=alice, name="Private")
    assert client.post(f"/workspaces/{private.pk}/fork/", **HX).status_code == 404


def test_it_lists_and_creates_workspaces_with_htmx(client, alice, es):
    client.force_login(alice)
    page = client.get("/workspaces/")
    assert page.status_code == 200 and "Workspaces" in page.content.decode()
    response = client.post("/workspaces/", {"name": "Scalping", "grid": "4"}, **HX)
    assert response.status_code == 200
    ws = Workspace.objects.get(owner=alice, name="Scalping")
    assert ws.layout_config["grid"] == 4 and len(ws.layout_config["panes"]) == 4
    assert "Scalping" in response.content.decode() and "<html" not in response.content.decode()


def test_it_says_clearly_when_the_workspace_limit_is_hit(client, free_user, es):
    client.force_login(free_user)
    client.post("/workspaces/", {"name": "One"}, **HX)
    client.post("/workspaces/", {"name": "Two"}, **HX)
    response = client.post("/workspaces/", {"name": "Three"}, **HX)
    assert response.status_code == 403
    assert "Your plan allows 2 saved workspaces" in response.content.decode()
    assert Workspace.objects.filter(owner=free_user).count() == 2


def test_it_rejects_a_nameless_workspace(client, alice, es):
    client.force_login(alice)
    response = client.post("/workspaces/", {"name": "  "}, **HX)
    assert response.status_code == 400 and not Workspace.objects.exists()


def test_it_renames_duplicates_shares_defaults_and_deletes(client, alice, es):
    client.force_login(alice)
    first = services.workspace_create(owner=alice, name="First")
    second = services.workspace_create(owner=alice, name="Second")
    assert 'name="name"' in client.get(f"/workspaces/{first.pk}/rename/", **HX).content.decode()
    client.post(f"/workspaces/{first.pk}/rename/", {"name": "Renamed"}, **HX)
    client.post(f"/workspaces/{first.pk}/duplicate/", **HX)
    client.post(f"/workspaces/{second.pk}/share/", {"public": "1"}, **HX)
    client.post(f"/workspaces/{second.pk}/default/", **HX)
    names = set(Workspace.objects.filter(owner=alice).values_list("name", flat=True))
    assert names == {"Renamed", "Renamed (copy)", "Second"}
    second.refresh_from_db()
    assert second.is_public and second.is_default
    response = client.post(f"/workspaces/{first.pk}/delete/", **HX)
    assert response.status_code == 200 and "Renamed (copy)" in response.content.decode()
    assert not Workspace.objects.filter(pk=first.pk).exists()


def test_it_answers_404_to_another_users_workspace_actions(client, alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Mine", is_public=True)
    client.force_login(bob)
    for action in ("rename", "duplicate", "share", "default", "delete"):
        assert client.post(f"/workspaces/{ws.pk}/{action}/", {"name": "x"}, **HX).status_code == 404
    ws.refresh_from_db()
    assert ws.name == "Mine" and ws.is_public


def test_it_saves_the_chart_page_as_a_workspace(client, alice, es):
    client.force_login(alice)
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    services.drawing_create(
        chart=chart,
        symbol="ESZ5",
        data={"kind": "horizontal_line", "points": [{"time": 1, "price": 1.0}]},
    )
    response = client.post("/workspaces/", {"name": "From chart", "from_chart": chart.pk}, **HX)
    ws = Workspace.objects.get(name="From chart")
    assert response["HX-Redirect"] == reverse("charts:workspace", args=[ws.pk])
    pane_chart = SavedChart.objects.get(pk=ws.layout_config["panes"][0]["chart"])
    assert pane_chart.drawings.count() == 1


def test_it_switches_the_theme_preference(client, alice, es):
    client.force_login(alice)
    assert client.post("/charts/preferences/", {"theme": "light"}).status_code == 204
    alice.refresh_from_db()
    assert alice.preferences["theme"] == "light"
    assert client.post("/charts/preferences/", {"theme": "pink"}).status_code == 400
    assert 'data-theme="light"' in page_html(client.get("/chart/ESZ5/"))


def test_it_explains_the_limit_in_the_save_as_workspace_form(client, free_user, es):
    client.force_login(free_user)
    chart = services.savedchart_scratch_get_or_create(user=free_user, symbol="ESZ5")
    services.workspace_create(owner=free_user, name="One")
    services.workspace_create(owner=free_user, name="Two")
    response = client.post("/workspaces/", {"name": "Three", "from_chart": chart.pk}, **HX)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your plan allows 2 saved workspaces" in html and "<table" not in html


def test_it_sends_utc_offset_tables_that_match_zoneinfo(client, alice, es):
    import random
    from datetime import datetime
    from zoneinfo import ZoneInfo

    alice.preferences = {"timezone": "Asia/Kolkata"}
    alice.save()
    client.force_login(alice)
    zones = config_of(client.get("/chart/ESZ5/"))["zones"]
    assert set(zones) == {"America/Chicago", "Asia/Kolkata"}
    table = zones["America/Chicago"]
    rng = random.Random(7)
    for _ in range(300):
        ts = rng.randrange(table[0][0], table[-1][0])
        offset = [o for start, o in table if start <= ts][-1]
        expected = datetime.fromtimestamp(ts, ZoneInfo("America/Chicago")).utcoffset()
        assert offset == expected.total_seconds(), ts
