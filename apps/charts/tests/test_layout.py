"""Pane options as the chart page saves them (apps/charts/layout.py): the order-flow
plugin's footprint mode, overlays, TPO display and period, and the fixed profile range."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.charts.layout import clean_layout, clean_options

GOOD = {
    "fp_mode": "volume",
    "of_overlays": ["volume_profile_fixed", "cvd"],
    "tpo_mode": "blocks",
    "tpo_period": 15,
    "vp_range": [1_719_878_280, 1_719_878_520],
}


def test_it_keeps_valid_orderflow_options():
    assert clean_options(GOOD) == GOOD


def test_it_cleans_overlay_lists_and_whole_numbers():
    cleaned = clean_options(
        {
            "of_overlays": ["cvd", "cvd", "from_a_newer_page", "volume_profile"],
            "tpo_period": 30.0,
            "vp_range": [100.0, 200],
            "fp_mode": None,
        }
    )
    assert cleaned == {
        "of_overlays": ["cvd", "volume_profile"],
        "tpo_period": 30,
        "vp_range": [100, 200],
    }
    assert clean_options({"of_overlays": ["nothing_known"]}) == {}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"fp_mode": "heatmap"}, "options.fp_mode"),
        ({"fp_mode": 1}, "options.fp_mode"),
        ({"tpo_mode": "LETTERS"}, "options.tpo_mode"),
        ({"tpo_period": 0}, "options.tpo_period"),
        ({"tpo_period": 1441}, "options.tpo_period"),
        ({"tpo_period": 7.5}, "options.tpo_period"),
        ({"tpo_period": "30"}, "options.tpo_period"),
        ({"tpo_period": True}, "options.tpo_period"),
        ({"tpo_period": float("nan")}, "options.tpo_period"),
        ({"of_overlays": "cvd"}, "options.of_overlays"),
        ({"of_overlays": [["cvd"]]}, "options.of_overlays"),
        ({"of_overlays": ["cvd"] * 17}, "options.of_overlays"),
        ({"vp_range": [200, 100]}, "options.vp_range"),
        ({"vp_range": [100, 100]}, "options.vp_range"),
        ({"vp_range": [100]}, "options.vp_range"),
        ({"vp_range": [100, 200, 300]}, "options.vp_range"),
        ({"vp_range": {"start": 1, "end": 2}}, "options.vp_range"),
        ({"vp_range": [-5, 100]}, "options.vp_range"),
        ({"vp_range": [1, 10**12]}, "options.vp_range"),
        ({"vp_range": ["1", "2"]}, "options.vp_range"),
    ],
)
def test_it_refuses_bad_orderflow_options(bad, field):
    with pytest.raises(ValidationError) as info:
        clean_options(bad)
    assert field in info.value.message_dict


def test_it_names_the_pane_of_a_bad_option_in_a_layout():
    panes = [{"symbol": "ES"}, {"symbol": "ES", "options": {"tpo_mode": "dots"}}]
    with pytest.raises(ValidationError) as info:
        clean_layout({"grid": 2, "panes": panes}, pane_limit=8, indicator_limit=5)
    assert "layout_config.panes[1].options.tpo_mode" in info.value.message_dict
