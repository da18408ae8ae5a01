"""Workspace, saved-chart and drawing services: layouts, tier limits, copies, versions."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.charts import services
from apps.charts.layout import clean_drawing, clean_layout
from apps.charts.models import Drawing, SavedChart, Workspace
from apps.charts.services import TierLimitError, VersionConflict
from apps.charts.tests.conftest import layout

pytestmark = pytest.mark.django_db

HLINE = {"kind": "horizontal_line", "points": [{"time": 1_700_000_000, "price": 100.25}]}


def test_it_creates_a_first_workspace_as_default_with_a_chart_per_pane(alice, es):
    ws = services.workspace_create(
        owner=alice, name="Main", layout_config=layout(("ESZ5", "1m"), ("ESZ5", "5m"))
    )
    assert ws.is_default
    panes = ws.layout_config["panes"]
    assert [p["timeframe"] for p in panes] == ["1m", "5m"]
    charts = SavedChart.objects.filter(workspace=ws).order_by("id")
    assert [p["chart"] for p in panes] == [c.id for c in charts]
    assert charts[1].timeframe == "5m"  # pane state mirrored into the saved chart
    second = services.workspace_create(owner=alice, name="Second")
    assert not second.is_default


def test_it_normalises_the_layout_and_drops_unknown_keys(alice, es):
    raw = {
        "grid": 2,
        "panes": [{"symbol": "esz5", "timeframe": "5min", "junk": 1, "options": {"x": 1}}],
    }
    ws = services.workspace_create(owner=alice, name="W", layout_config=raw)
    assert ws.layout_config["grid"] == 2
    first, second = ws.layout_config["panes"]
    assert first["symbol"] == "ESZ5" and first["timeframe"] == "5m"
    assert "junk" not in first and first["options"] == {"x": 1}  # a plugin option
    assert second["symbol"] == "ESZ5" and second["chart"] != first["chart"]


@pytest.mark.parametrize(
    "bad",
    [
        {"grid": 5, "panes": [{"symbol": "ESZ5"}]},
        {"grid": 1, "panes": []},
        {"grid": 1, "panes": [{"symbol": "ESZ5", "timeframe": "7m"}]},
        {"grid": 1, "panes": [{"symbol": "ESZ5", "chart_type": "pie"}]},
        {"grid": 1, "panes": [{"symbol": "ESZ5", "sync": {"symbol": "z"}}]},
        {"grid": 1, "panes": [{"symbol": "ESZ5", "indicators": [{"spec": "1BAD"}]}]},
        {"grid": 1, "panes": [{"symbol": "ESZ5", "options": {"renko_box": -1}}]},
        {"grid": 1, "panes": [{"symbol": "NOPE"}]},
        "not a layout",
    ],
)
def test_it_rejects_bad_layouts(alice, es, bad):
    with pytest.raises(ValidationError):
        services.workspace_create(owner=alice, name="Bad", layout_config=bad)
    assert not Workspace.objects.filter(owner=alice).exists()


def test_it_refuses_a_symbol_the_user_may_not_see(alice, es, hidden_symbol):
    with pytest.raises(ValidationError):
        services.workspace_create(owner=alice, name="W", layout_config=layout(("SECRET", "1m")))


def test_it_enforces_the_charts_per_layout_limit(free_user, es):
    with pytest.raises(TierLimitError) as exc:
        services.workspace_create(
            owner=free_user, name="Big", layout_config=layout(*[("ESZ5", "1m")] * 4)
        )
    assert exc.value.limit_name == "charts_per_layout"
    assert "2 charts per layout" in exc.value.message and "Upgrade" in exc.value.message


def test_it_enforces_the_saved_workspaces_limit(free_user, es):
    services.workspace_create(owner=free_user, name="One")
    services.workspace_create(owner=free_user, name="Two")
    with pytest.raises(TierLimitError, match="2 saved workspaces"):
        services.workspace_create(owner=free_user, name="Three")


def test_it_enforces_the_indicators_per_chart_limit(free_user, es):
    pane = {"symbol": "ESZ5", "indicators": [{"spec": f"SMA_{n}"} for n in range(10, 14)]}
    with pytest.raises(TierLimitError, match="3 indicators per chart"):
        services.workspace_create(owner=free_user, name="W", layout_config={"panes": [pane]})


def test_it_brings_drawings_back_when_the_grid_grows_again(alice, es):
    ws = services.workspace_create(
        owner=alice, name="W", layout_config=layout(("ESZ5", "1m"), ("ESZ5", "5m"))
    )
    second_chart = SavedChart.objects.get(pk=ws.layout_config["panes"][1]["chart"])
    services.drawing_create(chart=second_chart, symbol="ESZ5", data=HLINE)
    one = {**ws.layout_config, "grid": 1, "panes": ws.layout_config["panes"][:1]}
    services.workspace_update_layout(workspace=ws, layout_config=one)
    two = {**ws.layout_config, "grid": 2}
    services.workspace_update_layout(workspace=ws, layout_config=two)
    assert ws.layout_config["panes"][1]["chart"] == second_chart.id
    assert second_chart.drawings.count() == 1


def test_it_ignores_chart_ids_of_other_workspaces(alice, bob, es):
    theirs = services.workspace_create(owner=bob, name="Bob's")
    foreign = theirs.layout_config["panes"][0]["chart"]
    mine = services.workspace_create(owner=alice, name="Mine")
    config = {**mine.layout_config}
    config["panes"][0]["chart"] = foreign
    services.workspace_update_layout(workspace=mine, layout_config=config)
    assert mine.layout_config["panes"][0]["chart"] != foreign
    assert SavedChart.objects.get(pk=foreign).owner == bob


def test_it_duplicates_and_forks_with_charts_and_drawings(alice, bob, es):
    ws = services.workspace_create(owner=alice, name="Setup", layout_config=layout(("ESZ5", "1m")))
    chart = SavedChart.objects.get(pk=ws.layout_config["panes"][0]["chart"])
    services.drawing_create(chart=chart, symbol="ESZ5", data=HLINE)
    copy = services.workspace_duplicate(workspace=ws, owner=alice)
    assert copy.name == "Setup (copy)" and not copy.is_default
    copied_chart = SavedChart.objects.get(pk=copy.layout_config["panes"][0]["chart"])
    assert copied_chart.id != chart.id and copied_chart.drawings.count() == 1
    with pytest.raises(Workspace.DoesNotExist):
        services.workspace_fork(workspace=ws, user=bob)  # private
    services.workspace_update(workspace=ws, is_public=True)
    fork = services.workspace_fork(workspace=ws, user=bob)
    assert fork.owner == bob and fork.forked_from == ws and fork.is_default
    assert SavedChart.objects.get(pk=fork.layout_config["panes"][0]["chart"]).owner == bob


def test_it_moves_the_default_when_the_default_workspace_is_deleted(alice, es):
    first = services.workspace_create(owner=alice, name="A")
    second = services.workspace_create(owner=alice, name="B")
    services.workspace_delete(workspace=first)
    second.refresh_from_db()
    assert second.is_default
    assert not Drawing.objects.exists()


def test_it_makes_a_default_workspace_on_first_use(alice, btc):
    ws = services.workspace_default_get_or_create(user=alice)
    assert ws.is_default and ws.layout_config["panes"][0]["symbol"] == "BTCUSD"
    assert services.workspace_default_get_or_create(user=alice) == ws


def test_it_keeps_one_scratch_chart_per_user_and_symbol(alice, es):
    one = services.savedchart_scratch_get_or_create(user=alice, symbol="esz5", timeframe="5m")
    two = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    assert one == two and one.timeframe == "5m"
    with pytest.raises(ValidationError):
        services.savedchart_update(chart=one, state={"symbol": "BTCUSD"})


def test_it_versions_drawings_and_refuses_stale_updates(alice, es):
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    drawing = services.drawing_create(chart=chart, symbol=None, data=HLINE)
    assert drawing.version == 1 and drawing.symbol == "ESZ5"
    moved = {"points": [{"time": 1_700_000_000, "price": 101.0}]}
    drawing = services.drawing_update(drawing=drawing, data=moved, version=1)
    assert drawing.version == 2
    with pytest.raises(VersionConflict) as exc:
        services.drawing_update(drawing=drawing, data=moved, version=1)
    assert exc.value.current.version == 2
    with pytest.raises(VersionConflict):
        services.drawing_delete(drawing=drawing, version=1)
    services.drawing_delete(drawing=drawing, version=2)
    assert not Drawing.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "circle", "points": [{"time": 1, "price": 1}]},
        {"kind": "trend_line", "points": [{"time": 1, "price": 1}]},
        {"kind": "horizontal_line", "points": [{"time": -5, "price": 1}]},
        {"kind": "horizontal_line", "points": [{"time": 1, "price": float("nan")}]},
        {"kind": "horizontal_line", "points": "x"},
        {"kind": "text", "points": [{"time": 1, "price": 1}], "text": "x" * 501},
        {**HLINE, "style": {"color": "red"}},
        {**HLINE, "style": {"width": 500}},
    ],
)
def test_it_rejects_bad_drawings(alice, es, bad):
    chart = services.savedchart_scratch_get_or_create(user=alice, symbol="ESZ5")
    with pytest.raises(ValidationError):
        services.drawing_create(chart=chart, symbol=None, data=bad)


def test_it_keeps_only_known_style_keys():
    cleaned = clean_drawing({**HLINE, "style": {"color": "#ff0000", "evil": "<script>"}})
    assert cleaned["style"] == {"color": "#ff0000"}


def test_it_fills_missing_panes_from_the_last_one():
    cleaned = clean_layout(
        {"grid": 3, "panes": [{"symbol": "A", "chart": 5}]}, pane_limit=8, indicator_limit=5
    )
    assert [p["symbol"] for p in cleaned["panes"]] == ["A", "A", "A"]
    assert [p["chart"] for p in cleaned["panes"]] == [5, None, None]


def test_it_keeps_small_plugin_options_and_refuses_big_ones():
    from apps.charts.layout import clean_options

    kept = clean_options({"fp_mode": "delta", "of_overlays": ["cvd"], "tz": "utc", "x": None})
    assert kept == {"fp_mode": "delta", "of_overlays": ["cvd"], "tz": "utc", "x": None}
    for bad in ({"Bad-Key": 1}, {"blob": "x" * 65}, {"deep": [[1]]}, {"n": float("inf")}):
        with pytest.raises(ValidationError):
            clean_options(bad)
