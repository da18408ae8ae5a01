"""Every public response is JSON-ready (no numpy scalars, NaN or inf) and states its method."""

import json

import numpy as np

from apps.marketdata.analytics import orderflow as of

from ._data import btc_trades


def _responses():
    btc = btc_trades()
    ts, price, size, side = btc["ts_ns"], btc["price"], btc["size"], btc["side"]
    start = int(ts[0] // 10**9 // 60 * 60)
    fp = of.footprint_from_trades(ts, price, size, side, timeframe=60, row_size=0.5)
    rows = [(b["time"], lv) for b in fp["bars"] for lv in b["levels"]]
    bar_ts = [t for t, _ in rows]
    prices = [lv["price"] for _, lv in rows]
    bids = [lv["bid_volume"] for _, lv in rows]
    asks = [lv["ask_volume"] for _, lv in rows]
    bars = of.trade_bars(ts, price, size, side, timeframe=60)
    return {
        "footprint_trades": fp,
        "footprint_rows": of.footprint_from_rows(
            bar_ts, prices, bids, asks, timeframe=120, row_size=1.0
        ),
        "cvd_trades": of.cvd_from_trades(
            ts, price, size, side, timeframe=15, session_starts=[start], reset="session"
        ),
        "cvd_bars": of.cvd_candles(bars["time"], bars["delta"]),
        "profile_trades": of.volume_profile_from_trades(price, size, side, row_size=0.1),
        "profile_rows": of.volume_profile_from_rows(prices, bids, asks, row_size=1.0),
        "developing": of.developing_profile(bar_ts, prices, bids, asks, timeframe=60, row_size=1.0),
        "sessions": of.session_profiles(
            bar_ts, prices, bids, asks, session_starts=[start], row_size=1.0
        ),
        "naked": of.naked_pocs([start], [61800.0], bars["time"], bars["high"], bars["low"]),
        "tpo_bars": of.market_profile_from_bars(
            bars["time"],
            bars["high"],
            bars["low"],
            session_starts=[start],
            row_size=5.0,
            period_minutes=1,
        ),
        "tpo_trades": of.market_profile_from_trades(
            ts, price, session_starts=[start], row_size=5.0, period_minutes=2, merge=True
        ),
    }


def test_it_returns_json_ready_responses_with_a_method():
    for key, response in _responses().items():
        text = json.dumps(response, allow_nan=False)
        assert json.loads(text) == response, key
        assert isinstance(response["method"], dict) and response["method"]["name"], key


def test_it_handles_empty_inputs():
    e = np.array([])
    assert of.footprint_from_trades(e, e, e, timeframe=60, row_size=1.0)["bars"] == []
    assert of.footprint_from_rows(e, e, e, e, timeframe=60, row_size=1.0)["bars"] == []
    assert of.cvd_from_trades(e, e, e, timeframe=60)["bars"] == []
    assert of.volume_profile_from_trades(e, e, row_size=1.0)["poc"] is None
    assert of.developing_profile(e, e, e, e, timeframe=60, row_size=1.0)["series"] == []
    assert of.session_profiles(e, e, e, e, session_starts=[0], row_size=1.0)["sessions"] == []
    assert of.market_profile_from_bars(e, e, e, session_starts=[0], row_size=1.0)["sessions"] == []
    assert of.naked_pocs(e, e, e, e, e)["pocs"] == []
    assert of.classify_aggressor(e).tolist() == []
