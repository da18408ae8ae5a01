import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.marketdata.analytics.orderflow import BUY, SELL, classify_aggressor, parse_sides

from ._reference import tick_rule


def test_it_classifies_upticks_as_buys_and_downticks_as_sells():
    sides = classify_aggressor([100.0, 100.25, 100.0, 99.75, 100.5])
    assert sides.tolist() == [BUY, BUY, SELL, SELL, BUY]
    assert sides.dtype == np.int8


def test_it_gives_equal_prices_the_previous_classification():
    sides = classify_aggressor([100.0, 99.0, 99.0, 99.0, 100.0, 100.0])
    assert sides.tolist() == [BUY, SELL, SELL, SELL, BUY, BUY]


def test_it_keeps_feed_sides_and_lets_zero_ticks_follow_them():
    # The feed says trade 2 was a sell at an unchanged price: the next equal-price trade
    # without a side follows that sell (previous classification), not the last uptick.
    sides = classify_aggressor([100.0, 101.0, 101.0, 101.0], [0, 0, -1, 0])
    assert sides.tolist() == [BUY, BUY, SELL, SELL]


def test_it_defaults_the_first_trade_to_buy_without_history():
    assert classify_aggressor([100.0, 100.0]).tolist() == [BUY, BUY]
    assert classify_aggressor([100.0], initial_side=SELL).tolist() == [SELL]


def test_it_continues_from_the_last_trade_before_the_batch():
    assert classify_aggressor([100.0], prev_price=100.5).tolist() == [SELL]
    assert classify_aggressor([100.0], prev_price=99.5).tolist() == [BUY]
    assert classify_aggressor([100.0, 100.0], prev_price=100.0, prev_side=SELL).tolist() == [
        SELL,
        SELL,
    ]


def test_it_parses_feed_side_codes():
    assert parse_sides(["B", "A", "N", "S", "buy", "SELL", None, "", 1, -1]).tolist() == [
        1,
        -1,
        0,
        -1,
        1,
        -1,
        0,
        0,
        1,
        -1,
    ]


trades = st.lists(
    st.tuples(st.integers(95, 105), st.sampled_from([-1, 0, 0, 1])), min_size=1, max_size=60
)


@given(trades, st.one_of(st.none(), st.integers(95, 105)), st.sampled_from([-1, 0, 1]))
def test_it_matches_a_trade_by_trade_tick_rule(rows, prev, prev_side):
    prices = [p * 0.25 for p, _ in rows]
    sides = [s for _, s in rows]
    prev_price = None if prev is None else prev * 0.25
    got = classify_aggressor(prices, sides, prev_price=prev_price, prev_side=prev_side)
    assert got.tolist() == tick_rule(prices, sides, prev_price, prev_side)


@settings(max_examples=50)
@given(trades, st.integers(0, 60))
def test_it_classifies_a_split_batch_like_the_whole(rows, cut):
    prices = np.array([p * 0.01 for p, _ in rows])
    sides = np.array([s for _, s in rows])
    cut = min(cut, len(rows))
    whole = classify_aggressor(prices, sides)
    first = classify_aggressor(prices[:cut], sides[:cut])
    if cut:
        rest = classify_aggressor(
            prices[cut:], sides[cut:], prev_price=prices[cut - 1], prev_side=int(first[-1])
        )
    else:
        rest = classify_aggressor(prices, sides)
    assert np.concatenate([first, rest]).tolist() == whole.tolist()
