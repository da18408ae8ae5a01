"""The chart terminal end to end: real headless Chromium against the real app (daphne with
HTTP and WebSockets, MariaDB, PostgreSQL, Redis). Screenshots are kept in the artifacts
folder (var/test-artifacts/)."""

from __future__ import annotations

import time

import orjson
import pytest

from apps.accounts.services import feedkey_create
from apps.accounts.tests.factories import PASSWORD, UserFactory
from apps.charts.models import Workspace
from apps.charts.tests.conftest import MD
from apps.marketdata.services import symbol_upsert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=MD, transaction=True)]

NS = 1_000_000_000
# Candle pixels on the price pane: the dark theme's up/down colours (app.css --up/--down).
COUNT_CANDLE_PIXELS = """() => {
  const canvases = [...document.querySelectorAll('.pane[data-index="0"] .pane-chart canvas')];
  const area = (c) => c.width * c.height;
  const biggest = Math.max(...canvases.map(area));
  const colours = [[38, 166, 154], [239, 83, 80]];
  let hits = 0;
  for (const canvas of canvases.filter((c) => area(c) === biggest)) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] < 200) continue;
      for (const [r, g, b] of colours) {
        if (Math.abs(data[i] - r) < 14 && Math.abs(data[i + 1] - g) < 14 && Math.abs(data[i + 2] - b) < 14) { hits++; break; }
      }
    }
  }
  return hits;
}"""
LAST_CLOSE = """() => { const p = window.tradeflow.terminal.panes[0]; const d = p.series.data();
  return d.length ? d[d.length - 1].close : null; }"""


def make_symbol(code: str, start_price: float):
    return symbol_upsert(
        symbol=code,
        exchange="E2E",
        asset_type="futures",
        tick_size="0.25",
        name=f"End-to-end {code}",
        timezone="America/Chicago",
        session="17:00-16:00",
    )[0]


def post_ticks(stack, key: str, symbol: str, ticks: list[tuple[int, float, float, str]]):
    body = orjson.dumps(
        {
            "symbol": symbol,
            "ticks": [
                {"ts": ts, "price": p, "size": s, "side": side, "id": f"{symbol}-{ts}-{i}"}
                for i, (ts, p, s, side) in enumerate(ticks)
            ],
        }
    )
    status, payload = stack.post_json("/api/v1/market-data/ticks", body, {"X-API-Key": key})
    assert status == 200, payload


def history(stack, key: str, symbol: str, base: float, minutes: int = 150):
    """Trades over the last ``minutes``: a zig-zag with up and down candles."""
    now = time.time_ns()
    start = now - minutes * 60 * NS
    ticks = []
    price = base
    for minute in range(minutes):
        drift = 1.0 if (minute // 12) % 2 == 0 else -1.0
        for k in range(4):
            ts = start + minute * 60 * NS + k * 13 * NS
            price = round(price + drift * 0.25 * ((minute + k) % 3) - 0.25 * (k == 2), 2)
            ticks.append((ts, price, 1.0 + (minute % 5), "buy" if k % 2 else "sell"))
    post_ticks(stack, key, symbol, ticks)
    return price


def login(page, stack, user):
    page.goto(f"{stack.url}/accounts/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/")


def wait_ready(page):
    """The first candle is drawn and the deferred modules (toolbar, drawings) are in."""
    page.wait_for_selector("html[data-first-candle][data-ready]", timeout=15_000)


def open_chart(page, url):
    page.goto(url)
    wait_ready(page)
    page.wait_for_selector('html[data-live="live"]', timeout=10_000)


@pytest.fixture
def market(live_stack):
    _, key = feedkey_create(name="e2e-feed")
    make_symbol("E2EA", 100.0)
    make_symbol("E2EB", 250.0)
    last_a = history(live_stack, key, "E2EA", 100.0)
    history(live_stack, key, "E2EB", 250.0)
    return {"key": key, "last_a": last_a}


def test_it_draws_live_candles_and_switches_timeframe(page, live_stack, market, artifacts):
    user = UserFactory(username="e2e-alice")
    login(page, live_stack, user)
    open_chart(page, f"{live_stack.url}/chart/E2EA/?tf=1m")
    time.sleep(0.3)
    assert page.evaluate(COUNT_CANDLE_PIXELS) > 500, "the price pane shows no candles"
    page.screenshot(path=str(artifacts / "chart_1m.png"))
    assert page.locator(".lg-symbol").inner_text() == "E2EA"
    assert page.locator("#status-text").inner_text() == "Live"

    # a trade posted through the ingestion API moves the last candle within 2 s
    new_price = market["last_a"] + 7.25
    posted = time.monotonic()
    post_ticks(live_stack, market["key"], "E2EA", [(time.time_ns(), new_price, 3.0, "buy")])
    page.wait_for_function(
        f"() => document.querySelector('.lg-c').textContent === '{new_price:.2f}'", timeout=2000
    )
    assert time.monotonic() - posted < 2.0
    assert page.evaluate(LAST_CLOSE) == new_price
    page.screenshot(path=str(artifacts / "chart_live_tick.png"))

    page.click("#tf-buttons [data-tf='5m']")
    page.wait_for_function(
        """() => { const p = window.tradeflow.terminal.panes[0];
          return p.state.timeframe === '5m' && !p.loading && p.bars.length > 10
            && p.bars.every((b) => b.time % 300 === 0); }""",
        timeout=10_000,
    )
    assert "tf=5m" in page.url
    assert page.locator("#tf-buttons [data-tf='5m']").get_attribute("class").endswith("on")
    time.sleep(0.3)
    assert page.evaluate(COUNT_CANDLE_PIXELS) > 300
    page.screenshot(path=str(artifacts / "chart_5m.png"))


def test_it_keeps_a_horizontal_line_after_reload(page, live_stack, market, artifacts):
    user = UserFactory(username="e2e-drawer")
    login(page, live_stack, user)
    open_chart(page, f"{live_stack.url}/chart/E2EA/?tf=1m")
    box = page.locator(".pane[data-index='0'] .pane-chart").bounding_box()
    page.click("#draw-tools [data-tool='horizontal_line']")
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.35)
    page.wait_for_selector(".pane[data-index='0'][data-drawings='1']", timeout=5000)
    price = page.evaluate(
        "() => window.tradeflow.terminal.panes[0].drawings.items[0].points[0].price"
    )
    page.screenshot(path=str(artifacts / "drawing_before_reload.png"))

    page.reload()
    wait_ready(page)
    page.wait_for_selector(".pane[data-index='0'][data-drawings='1']", timeout=5000)
    items = page.evaluate(
        "() => window.tradeflow.terminal.panes[0].drawings.items.map(d => [d.kind, d.points[0].price])"
    )
    assert items == [["horizontal_line", price]]
    page.screenshot(path=str(artifacts / "drawing_after_reload.png"))


def test_it_restores_a_four_pane_workspace_and_hides_it_from_others(
    browser, page, live_stack, market, artifacts
):
    owner = UserFactory(username="e2e-owner", subscription_tier="plus")
    login(page, live_stack, owner)
    page.goto(f"{live_stack.url}/workspaces/")
    page.fill(".ws-create input[name=name]", "Four up")
    page.click("#ws-create-button")
    page.wait_for_selector("#workspace-table a:has-text('Four up')")
    workspace = Workspace.objects.get(owner=owner, name="Four up")
    open_chart(page, f"{live_stack.url}/workspaces/{workspace.pk}/")

    page.click("#layout-button")
    page.click("#layout-menu [data-grid='4']")
    page.wait_for_function("() => document.querySelectorAll('#grid .pane').length === 4")
    # pane 1: another symbol through the search box; pane 2: 5m; pane 3: a line chart
    page.click(".pane[data-index='1']", position={"x": 120, "y": 160})
    page.click("#symbol-button")
    page.fill("#symbol-search", "E2EB")
    page.click(".sym-result[data-symbol='E2EB']")
    page.click(".pane[data-index='2']", position={"x": 120, "y": 160})
    page.click("#tf-buttons [data-tf='5m']")
    page.click(".pane[data-index='3']", position={"x": 120, "y": 160})
    page.click("#type-button")
    page.click("#type-menu [data-type='line']")
    page.wait_for_selector("#save-state[data-state='saved']", timeout=5000)
    page.wait_for_function(
        "() => window.tradeflow.terminal.panes.every((p) => p.bars.length > 0)", timeout=10_000
    )
    before = page.evaluate("() => window.tradeflow.terminal.serializeLayout()")
    assert [p["symbol"] for p in before["panes"]] == ["E2EA", "E2EB", "E2EA", "E2EA"]
    assert all(p["chart"] for p in before["panes"])
    page.screenshot(path=str(artifacts / "workspace_4_before_reload.png"))

    page.reload()
    wait_ready(page)
    page.wait_for_function(
        "() => window.tradeflow.terminal.panes.every((p) => p.bars.length > 0)", timeout=10_000
    )
    after = page.evaluate("() => window.tradeflow.terminal.serializeLayout()")
    assert after["grid"] == 4
    assert after["panes"] == before["panes"]
    assert page.locator(".pane[data-index='1'] .lg-symbol").inner_text() == "E2EB"
    assert page.locator(".pane[data-index='2'] .lg-tf").inner_text() == "5m"
    page.screenshot(path=str(artifacts / "workspace_4_after_reload.png"))

    # a second user gets a 404 for the private workspace
    other = UserFactory(username="e2e-other", subscription_tier="plus")
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        intruder = context.new_page()
        login(intruder, live_stack, other)
        response = intruder.goto(f"{live_stack.url}/workspaces/{workspace.pk}/")
        assert response.status == 404
        intruder.screenshot(path=str(artifacts / "workspace_other_user_404.png"))
    finally:
        context.close()


def test_it_reconnects_and_resyncs_after_a_seq_gap(page, live_stack, market, artifacts):
    user = UserFactory(username="e2e-flaky-wifi")
    login(page, live_stack, user)
    open_chart(page, f"{live_stack.url}/chart/E2EA/?tf=1m")
    resyncs = """() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/market-data/E2EA') && e.name.includes('start=')).length"""
    before = page.evaluate(resyncs)
    # a message whose seq skips two: the pane re-reads the tail through REST
    page.evaluate(
        """() => { const s = window.tradeflow.terminal.socket;
          const tick = (seq) => JSON.stringify({type: 'tick', symbol: 'E2EA', seq,
            data: {trades: null, summary: null, bars: []}});
          s.receive(tick(1000)); s.receive(tick(1003)); }"""
    )
    page.wait_for_function(f"() => ({resyncs})() > {before}", timeout=2000)
    # the connection drops: the dot says so, then the socket comes back on its own
    page.evaluate("() => window.tradeflow.terminal.socket.ws.close()")
    page.wait_for_selector('html[data-live="reconnecting"]', timeout=2000)
    assert page.locator("#status-text").inner_text() == "Reconnecting…"
    page.screenshot(path=str(artifacts / "chart_reconnecting.png"))
    page.wait_for_selector('html[data-live="live"]', timeout=10_000)
    new_price = market["last_a"] - 3.5
    post_ticks(live_stack, market["key"], "E2EA", [(time.time_ns(), new_price, 1.0, "sell")])
    page.wait_for_function(
        f"() => document.querySelector('.lg-c').textContent === '{new_price:.2f}'", timeout=3000
    )


def test_it_adds_edits_and_removes_an_indicator(page, live_stack, market, artifacts):
    user = UserFactory(username="e2e-quant", subscription_tier="plus")
    login(page, live_stack, user)
    open_chart(page, f"{live_stack.url}/chart/E2EA/?tf=1m")
    page.click("#indicators-button")
    page.fill(".ind-search", "rsi")
    page.click(".ind-item[data-name='RSI']")
    page.fill(".ind-form input[name=period]", "21")
    page.screenshot(path=str(artifacts / "indicator_dialog.png"))
    page.click(".ind-form button[type=submit]")
    row = page.locator(".pane-legends .lg-ind")
    row.wait_for(timeout=5000)
    assert row.locator(".ind-name").inner_text() == "RSI 21"
    page.wait_for_function(
        "() => document.querySelector('.pane-legends .ind-values').textContent.trim() !== '—'"
    )
    page.wait_for_selector("#save-state[data-state='saved']", timeout=5000)
    page.screenshot(path=str(artifacts / "indicator_rsi.png"))

    page.reload()
    wait_ready(page)
    row = page.locator(".pane-legends .lg-ind")
    row.wait_for(timeout=5000)
    row.hover()
    row.locator("[data-act=edit]").click()
    page.wait_for_selector(".ind-form input[name=period]")
    assert page.input_value(".ind-form input[name=period]") == "21"
    page.fill(".ind-form input[name=period]", "9")
    page.click(".ind-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelector('.pane-legends .ind-name')?.textContent === 'RSI 9'"
    )
    row = page.locator(".pane-legends .lg-ind")
    row.hover()
    row.locator("[data-act=remove]").click()
    page.wait_for_function("() => !document.querySelector('.lg-ind')")
    page.wait_for_selector("#save-state[data-state='saved']", timeout=5000)
    assert page.evaluate("() => window.tradeflow.terminal.panes[0].state.indicators") == []
    assert page.evaluate("() => window.tradeflow.terminal.panes[0].chart.panes().length") == 2


def test_it_starts_an_empty_chart_from_its_first_live_trades(page, live_stack, market):
    make_symbol("E2EFRESH", 10.0)
    user = UserFactory(username="e2e-early")
    login(page, live_stack, user)
    page.goto(f"{live_stack.url}/chart/E2EFRESH/?tf=1m")
    page.wait_for_selector('html[data-ready][data-live="live"]', timeout=10_000)
    page.wait_for_function(
        "() => document.querySelector('.pane-message').textContent === 'No data yet'"
    )
    page.wait_for_function("() => window.tradeflow.terminal.socket.subscribed.has('E2EFRESH')")
    post_ticks(live_stack, market["key"], "E2EFRESH", [(time.time_ns(), 12.25, 2.0, "buy")])
    page.wait_for_function(
        "() => document.querySelector('.lg-c').textContent === '12.25'", timeout=3000
    )
    assert page.evaluate(LAST_CLOSE) == 12.25
    assert page.locator(".pane-message").inner_text() == ""
