"""The TPO (Market Profile) chart type and the fixed-range volume profile in headless
Chromium, on the real ES trades of the shared data set (2024-07-01 23:58-00:02 UTC, i.e.
18:58-19:02 in the 17:00 Chicago session), ingested through the live stack like the
footprint tests. Screenshots are kept in var/test-artifacts/."""

from __future__ import annotations

import time

import pytest

from apps.charts.tests.conftest import MD
from apps.charts.tests.test_browser import post_ticks, wait_ready
from apps.charts.tests.test_orderflow_browser import POC, RECT_SHARE, open_orderflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=MD, transaction=True)]

IB = (255, 152, 0)
STATS = "() => window.tradeflow.orderflow.tpoStats(0)"
PANE = "window.tradeflow.terminal.panes[0]"


def real_errors(errors: list[str]) -> list[str]:
    """Less the browser's own favicon request and the test's canvas read-backs."""
    return [e for e in errors if "favicon.ico" not in e and "willReadFrequently" not in e]


def market_profile(page, period: str) -> dict:
    return page.evaluate(
        f"async () => (await fetch('/api/v1/market-profile/ESU4?period={period}')"
        ".then((r) => r.json()))"
    )


def wait_tpo(page, condition: str, timeout: int = 10_000) -> dict:
    """Wait until the TPO stats ``s`` satisfy ``condition`` (JS); then the stats."""
    try:
        page.wait_for_function(
            f"() => {{ const s = window.tradeflow?.orderflow?.tpoStats(0); return !!s && ({condition}); }}",
            timeout=timeout,
        )
    except Exception:
        raise AssertionError(f"TPO never showed {condition}: {page.evaluate(STATS)}") from None
    page.mouse.move(5, 5)  # no crosshair in the screenshots
    time.sleep(0.3)
    return page.evaluate(STATS)


def choose(page, selector: str):
    page.click("#type-button")
    page.click(f"#type-menu {selector}")


def set_period(page, minutes: int):
    page.click("#type-button")
    field = page.locator("#type-settings input[name='tpo_period']")
    field.fill(str(minutes))
    field.dispatch_event("change")
    page.click("#type-button")  # closes the menu


def saved_options(page) -> dict:
    return page.evaluate(
        """async () => { const cfg = JSON.parse(document.getElementById('chart-config').textContent);
          return (await fetch(`${cfg.urls.charts}${cfg.chart}/`).then((r) => r.json())).options; }"""
    )


def test_tpo_letters_blocks_period_theme_reload_and_live(page, live_stack, es_market, artifacts):
    errors = open_orderflow(page, live_stack)
    page.click("#type-button")
    page.screenshot(path=str(artifacts / "tpo_menu.png"))
    page.click("#type-menu [data-type='tpo']")
    # default 30-minute periods: 18:30 is D, 19:00 is E
    body = market_profile(page, "30m")
    assert {r["letters"] for r in body["rows"]} == {"D", "DE", "E"}
    stats = wait_tpo(page, f"s.tpos === {body['tpo_count']}")
    assert stats["period"] == 30 and stats["mode"] == stats["drawn"] == "letters"
    assert stats["sessions"] == 1 and stats["singles"] == len(body["single_prints"]) == 4
    assert stats["ib"] == []  # periods A and B did not trade
    assert page.locator(".pane[data-index='0']").get_attribute("data-chart-type") == "tpo"

    # hourly periods: B and C; B is the second IB period, C extends the range up
    set_period(page, 60)
    body = market_profile(page, "60m")
    assert [r["letters"] for r in body["rows"]] == ["B", "BC", "C", "C", "C"]
    assert body["initial_balance"]["complete"] and body["range_extension"]["up_letter"] == "C"
    stats = wait_tpo(page, "s.period === 60 && s.ib.length === 1")
    assert stats["tpos"] == body["tpo_count"] == 6 and stats["drawn"] == "letters"
    ib = stats["ib"][0]
    poc = stats["pocs"][0]
    va = stats["value_areas"][0]
    assert ib["complete"] and ib["top"] < ib["bottom"]
    assert va["top"] <= poc["y"] <= va["bottom"]  # the POC row is inside the value area
    shares = page.evaluate(
        RECT_SHARE,
        [
            [
                {"x": ib["x"], "y": ib["top"] + 2, "w": 2, "h": ib["bottom"] - ib["top"] - 4},
                {"x": poc["x0"], "y": int(poc["y"]), "w": poc["x1"] - poc["x0"], "h": 1},
            ],
            [list(IB), list(POC)],
        ],
    )
    assert min(shares) > 0.8, shares
    page.screenshot(path=str(artifacts / "tpo_letters.png"))

    choose(page, "[data-mode-of='tpo'][data-mode='blocks']")
    stats = wait_tpo(page, "s.drawn === 'blocks'")
    assert stats["tpos"] == 6 and stats["mode"] == "blocks"
    page.screenshot(path=str(artifacts / "tpo_blocks.png"))

    page.click("#theme-toggle")
    page.wait_for_selector("html[data-theme='light']")
    stats = wait_tpo(page, "s.tpos === 6 && s.drawn === 'blocks'")
    page.screenshot(path=str(artifacts / "tpo_blocks_light.png"))
    choose(page, "[data-mode-of='tpo'][data-mode='letters']")
    set_period(page, 1)
    body = market_profile(page, "1m")
    assert [r["letters"] for r in body["rows"]] == ["OP", "OPQ", "Q", "QR", "QR"]
    stats = wait_tpo(page, "s.period === 1 && s.tpos === 10 && s.drawn === 'letters'")
    assert stats["singles"] == 1  # 5529.00: Q alone, inside the range
    page.screenshot(path=str(artifacts / "tpo_letters_light.png"))

    # saved with the chart and restored on reload
    page.wait_for_selector("#save-state[data-state='saved']", timeout=5000)
    assert {k: v for k, v in saved_options(page).items() if k.startswith("tpo")} == {
        "tpo_mode": "letters",
        "tpo_period": 1,
    }
    page.reload()
    wait_ready(page)
    page.wait_for_selector('html[data-live="live"]', timeout=10_000)
    stats = wait_tpo(page, "s.period === 1 && s.tpos === 10")
    assert page.locator(".pane[data-index='0']").get_attribute("data-chart-type") == "tpo"

    # a trade now opens today's session: the TPO re-fetches it from the tick stream
    post_ticks(live_stack, es_market, "ESU4", [(time.time_ns(), 5600.25, 2.0, "buy")])
    stats = wait_tpo(page, "s.sessions === 2 && s.tpos === 11", timeout=8000)
    assert page.evaluate(f"() => {PANE}.cell.dataset.tpoSessions") == "2"
    page.screenshot(path=str(artifacts / "tpo_live_session.png"))
    assert not real_errors(errors), errors


def drag(page, times: tuple[int, int], *, clicks: bool = False):
    """Press at the bar of ``times[0]`` and release at the bar of ``times[1]`` (or click
    each) on the price pane."""
    points = page.evaluate(
        f"""(times) => {{ const pane = {PANE}; const box = pane.host.getBoundingClientRect();
          return times.map((t) => [box.left + pane.chart.timeScale().timeToCoordinate(t),
            box.top + pane.chart.panes()[0].getHeight() / 2]); }}""",
        list(times),
    )
    (x0, y0), (x1, y1) = points
    page.mouse.move(x0, y0)
    page.mouse.down()
    if clicks:
        page.mouse.up()
        page.mouse.move(x1, y1, steps=4)
        page.mouse.down()
    else:
        page.mouse.move(x1, y1, steps=6)
    page.mouse.up()


def wait_fixed(page, condition: str) -> dict:
    page.wait_for_function(
        # the plugin may still be loading right after a reload: not there yet is "not yet"
        f"""() => {{ const s = window.tradeflow?.orderflow?.overlayStats(0, 'volume_profile_fixed');
          return !!s && s.rows > 0 && s.poc_y !== null && ({condition}); }}""",
        timeout=10_000,
    )
    page.mouse.move(5, 5)
    time.sleep(0.3)
    return page.evaluate("() => window.tradeflow.orderflow.overlayStats(0, 'volume_profile_fixed')")


def test_fixed_range_volume_profile_is_picked_saved_and_restored(
    page, live_stack, es_market, artifacts
):
    errors = open_orderflow(page, live_stack)
    bars = page.evaluate(f"() => {PANE}.bars.map((b) => b.time)")
    assert len(bars) == 4  # 23:58 ... 00:01
    page.evaluate(f"() => {PANE}.chart.timeScale().applyOptions({{ barSpacing: 90 }})")
    choose(page, "[data-overlay='volume_profile_fixed']")
    page.wait_for_selector(".pane[data-index='0'][data-vp-picking='1']")
    drag(page, (bars[2], bars[0]))  # right to left works too
    start, end = bars[0], bars[2] + 60
    stats = wait_fixed(page, "true")
    page.screenshot(path=str(artifacts / "volume_profile_fixed.png"))
    assert page.evaluate(f"() => {PANE}.state.options.vp_range") == [start, end]
    profile = page.evaluate(
        f"async () => (await fetch('/api/v1/volume-profile/ESU4?start={start}&end={end}')"
        ".then((r) => r.json()))"
    )
    assert stats["rows"] == len(profile["profile"])
    assert stats["vah_y"] <= stats["poc_y"] <= stats["val_y"]
    # the band covers the three bars, and the POC line runs inside it
    x = page.evaluate(
        f"(ts) => ts.map((t) => {PANE}.chart.timeScale().timeToCoordinate(t))", [bars[0], bars[2]]
    )
    band = stats["range"]
    assert band["x0"] < x[0] < x[1] < band["x1"]
    # the POC row of the histogram and the POC line start at the range (not left of it);
    # 2 px high lines: the row above the grid line that may sit on the centre
    y = int(stats["poc_y"]) - 1
    left, inside = page.evaluate(
        RECT_SHARE,
        [
            [
                {"x": int(band["x0"]) - 40, "y": y, "w": 35, "h": 1},
                {"x": int(band["x0"]) + 2, "y": y, "w": 25, "h": 1},
            ],
            [list(POC), list(POC)],
        ],
    )
    assert left == 0 and inside > 0.9, (left, inside)

    page.wait_for_selector("#save-state[data-state='saved']", timeout=5000)
    options = saved_options(page)
    assert options["of_overlays"] == ["volume_profile_fixed"]
    assert options["vp_range"] == [start, end]
    page.reload()
    wait_ready(page)
    restored = wait_fixed(page, "true")
    assert restored["rows"] == stats["rows"] and restored["poc_y"] == pytest.approx(stats["poc_y"])
    assert page.evaluate(f"() => {PANE}.state.options.vp_range") == [start, end]
    page.screenshot(path=str(artifacts / "volume_profile_fixed_reloaded.png"))

    # choose again with two clicks; Escape while choosing keeps the range
    choose(page, "[data-pick-range]")
    page.keyboard.press("Escape")
    assert page.locator(".pane[data-index='0'][data-vp-picking]").count() == 0
    choose(page, "[data-pick-range]")
    drag(page, (bars[2], bars[3]), clicks=True)
    wait_fixed(page, f"{PANE}.state.options.vp_range[0] === {bars[2]}")
    assert page.evaluate(f"() => {PANE}.state.options.vp_range") == [bars[2], bars[3] + 60]
    assert not real_errors(errors), errors
