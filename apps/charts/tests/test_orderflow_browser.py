"""The order-flow chart plugin end to end (static/charts/orderflow/): real ES trades of
the shared data set ingested into the live stack, the footprint chart type, the volume
profile overlay and the CVD pane in headless Chromium. Screenshots are kept in the
artifacts folder (var/test-artifacts/)."""

from __future__ import annotations

import time

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.charts.tests.conftest import MD
from apps.charts.tests.test_browser import login, open_chart

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=MD, transaction=True)]

UP, DOWN, POC = (38, 166, 154), (239, 83, 80), (245, 197, 66)

# Pixels of the price pane's main canvas: share of each rect (bitmap px) painted in
# ``colour``, and the count of ``colour`` pixels in a box.
MAIN_CANVAS = """const canvases = [...document.querySelectorAll('.pane[data-index="0"] .pane-chart canvas')];
  const area = (c) => c.width * c.height;
  const canvas = canvases.reduce((a, c) => (area(c) > area(a) ? c : a));
  const ctx = canvas.getContext('2d');
  const near = (d, i, [r, g, b]) => Math.abs(d[i] - r) < 16 && Math.abs(d[i + 1] - g) < 16 && Math.abs(d[i + 2] - b) < 16;"""
RECT_SHARE = f"""([rects, colours]) => {{ {MAIN_CANVAS}
  return rects.map((r, k) => {{
    const d = ctx.getImageData(r.x, r.y, Math.max(1, r.w), Math.max(1, r.h)).data;
    let hit = 0;
    for (let i = 0; i < d.length; i += 4) if (near(d, i, colours[k])) hit++;
    return hit / (d.length / 4);
  }});
}}"""
COUNT_IN_BOX = f"""([x0, y0, x1, y1, colour]) => {{ {MAIN_CANVAS}
  const w = Math.round(canvas.width * x1) - Math.round(canvas.width * x0);
  const d = ctx.getImageData(Math.round(canvas.width * x0), y0, w, y1 - y0).data;
  let hit = 0;
  for (let i = 0; i < d.length; i += 4) if (near(d, i, colour)) hit++;
  return hit;
}}"""


def open_orderflow(page, stack) -> list[str]:
    """Log in, open the ESU4 1m chart and wait for the order-flow plugin; returns the list
    that collects console errors/warnings and failed requests from then on."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            m.type in ("error", "warning")
            and errors.append(f"{m.text} ({m.location.get('url', '')})")
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    login(page, stack, UserFactory(username="of-trader", subscription_tier="plus"))
    open_chart(page, f"{stack.url}/chart/ESU4/?tf=1m")
    page.wait_for_function("() => !!window.tradeflow.orderflow", timeout=5000)
    return errors


def open_footprint(page, stack):
    errors = open_orderflow(page, stack)
    page.click("#type-button")
    page.click("#type-menu [data-type='footprint']")
    try:
        page.wait_for_function(
            """() => { const s = window.tradeflow.orderflow.footprintStats(0);
              return s && s.mode === 'cells' && s.imbalances.length > 0; }""",
            timeout=10_000,
        )
    except Exception:
        stats = page.evaluate(
            """() => { const d = window.tradeflow.orderflow.footprintData(0);
              return [window.tradeflow.orderflow.footprintStats(0), d && d.key, d && d.bars.size,
                d && d.inflight, [...d.bars.keys()], d.view.data?.bars.map((b) => b.originalData.time),
                d.version, d.series === window.tradeflow.terminal.panes[0].series, performance.getEntriesByType('resource')
                  .map((e) => e.name).filter((n) => n.includes('api'))]; }"""
        )
        raise AssertionError(f"no footprint cells: {stats}; console: {errors}") from None
    page.mouse.move(5, 5)  # no crosshair in the screenshots
    time.sleep(0.3)  # the last frame on screen


def test_footprint_shows_imbalances_poc_and_zones(page, live_stack, es_market, artifacts):
    open_footprint(page, live_stack)
    data = page.evaluate(
        """async () => (await fetch('/api/v1/orderflow/footprint?symbol=ESU4&timeframe=1m')
          .then((r) => r.json()))"""
    )
    assert len(data["bars"]) == 4
    expected = sum(len(b["imbalances"]) for b in data["bars"])
    stats = page.evaluate("() => window.tradeflow.orderflow.footprintStats(0)")
    assert stats["mode"] == "cells"
    assert stats["cells"] == sum(len(b["levels"]) for b in data["bars"])
    assert len(stats["imbalances"]) == expected > 0
    assert stats["pocs"] == 4
    assert stats["zones"] == len(data["stacked_zones"])
    # every imbalance cell is painted in its highlight colour (buy = up, sell = down)
    rects = stats["imbalances"]
    colours = [UP if r["side"] == "buy" else DOWN for r in rects]
    shares = page.evaluate(RECT_SHARE, [rects, colours])
    assert min(shares) > 0.5, shares
    assert page.locator(".pane[data-index='0']").get_attribute("data-chart-type") == "footprint"
    page.screenshot(path=str(artifacts / "footprint.png"))

    # delta mode, then zoomed out: candles plus the delta label
    page.evaluate(
        "() => window.tradeflow.orderflow.setFootprintMode(window.tradeflow.terminal.panes[0], 'delta')"
    )
    page.wait_for_function(
        "() => window.tradeflow.terminal.panes[0].series.options().mode === 'delta'"
    )
    time.sleep(0.3)
    page.screenshot(path=str(artifacts / "footprint_delta.png"))
    page.evaluate(
        """() => window.tradeflow.terminal.panes[0].chart.timeScale()
          .applyOptions({ barSpacing: 12 })"""
    )
    page.wait_for_function(
        "() => window.tradeflow.orderflow.footprintStats(0)?.mode === 'candles'", timeout=5000
    )
    time.sleep(0.3)
    page.screenshot(path=str(artifacts / "footprint_zoomed_out.png"))


def test_volume_profile_overlay_and_cvd_pane(page, live_stack, es_market, artifacts):
    open_footprint(page, live_stack)
    page.click("#type-button")
    page.click("#type-menu [data-overlay='volume_profile']")
    page.wait_for_function(
        """() => { const s = window.tradeflow.orderflow.overlayStats(0, 'volume_profile');
          return s && s.rows > 0 && s.poc_y !== null; }""",
        timeout=10_000,
    )
    time.sleep(0.3)
    stats = page.evaluate("() => window.tradeflow.orderflow.overlayStats(0, 'volume_profile')")
    profile = page.evaluate(
        "async () => (await fetch('/api/v1/volume-profile/ESU4').then((r) => r.json()))"
    )
    assert stats["rows"] == len(profile["profile"])
    assert profile["val"] <= profile["poc"] <= profile["vah"]
    assert stats["vah_y"] <= stats["poc_y"] <= stats["val_y"]
    # the POC line runs across the pane and the POC row of the histogram sits on the right
    y = int(stats["poc_y"])
    assert page.evaluate(COUNT_IN_BOX, [0.0, y - 1, 0.5, y + 2, list(POC)]) > 100
    assert page.evaluate(COUNT_IN_BOX, [0.7, y - 2, 1.0, y + 3, list(POC)]) > 50
    page.mouse.move(5, 5)
    page.screenshot(path=str(artifacts / "volume_profile.png"))

    page.click("#type-button")
    page.click("#type-menu [data-overlay='cvd']")
    page.wait_for_selector(".pane[data-index='0'][data-cvd-bars='4']", timeout=10_000)
    assert page.evaluate("() => window.tradeflow.terminal.panes[0].chart.panes().length") == 3
    page.mouse.move(5, 5)
    time.sleep(0.3)
    page.screenshot(path=str(artifacts / "footprint_cvd.png"))
    page.click("#type-button")
    page.click("#type-menu [data-overlay='cvd']")
    page.wait_for_function(
        "() => window.tradeflow.terminal.panes[0].chart.panes().length === 2", timeout=5000
    )
