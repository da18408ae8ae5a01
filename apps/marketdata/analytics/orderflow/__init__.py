"""Order-flow analytics: pure numpy, no Django, no database (SPEC 4 and 7).

The market-data store and API call these with columns they read (trades, 1-minute
footprint rows, bars) and serialise the returned JSON-ready dicts as they are. Every
result carries a ``method`` dict that states the algorithm and its parameters.

Conventions (DESIGN): ``ask_volume`` = buyer-initiated (aggressor buy, side +1),
``bid_volume`` = seller-initiated (side -1), ``delta = ask_volume - bid_volume``. Times:
trades in epoch nanoseconds, bars and rows in epoch seconds (bar start), UTC.
"""

from .aggressor import BUY, SELL, UNKNOWN, classify_aggressor, parse_sides
from .cvd import cvd_candles, cvd_from_trades, trade_bars
from .footprint import (
    FootprintLevels,
    bucket,
    build_footprint,
    footprint_from_rows,
    footprint_from_trades,
    footprint_levels_from_rows,
    footprint_levels_from_trades,
    imbalance_flags,
    stacked_zones,
)
from .profile import (
    developing_profile,
    naked_pocs,
    session_profiles,
    volume_nodes,
    volume_profile_from_rows,
    volume_profile_from_trades,
)
from .tpo import market_profile_from_bars, market_profile_from_trades, period_letter

__all__ = [
    "BUY",
    "SELL",
    "UNKNOWN",
    "FootprintLevels",
    "bucket",
    "build_footprint",
    "classify_aggressor",
    "cvd_candles",
    "cvd_from_trades",
    "developing_profile",
    "footprint_from_rows",
    "footprint_from_trades",
    "footprint_levels_from_rows",
    "footprint_levels_from_trades",
    "imbalance_flags",
    "market_profile_from_bars",
    "market_profile_from_trades",
    "naked_pocs",
    "parse_sides",
    "period_letter",
    "session_profiles",
    "stacked_zones",
    "trade_bars",
    "volume_nodes",
    "volume_profile_from_rows",
    "volume_profile_from_trades",
]
