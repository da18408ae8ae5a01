"""Timeframes (SPEC section 2): the allow-list, aliases and their sizes.

Intraday bars align to multiples of their length from the UNIX epoch; ``1d`` and ``1w``
follow the symbol's session and time zone (see ``store/reads.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INTRADAY = {
    "1s": 1,
    "5s": 5,
    "15s": 15,
    "30s": 30,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
}
SESSION = {"1d": 86_400, "1w": 7 * 86_400}
NAMES = [*INTRADAY, *SESSION]
_ALIASES = {"day": "1d", "d": "1d", "1day": "1d", "week": "1w", "w": "1w", "1wk": "1w"}
_SECONDS_NAME = {v: k for k, v in INTRADAY.items()}


@dataclass(frozen=True)
class Timeframe:
    name: str
    seconds: int  # nominal length (86,400 for 1d)

    @property
    def is_session(self) -> bool:
        return self.name in SESSION


class TimeframeError(ValueError):
    pass


def _minutes(minutes: int) -> str:
    if minutes % 60 == 0 and f"{minutes // 60}h" in INTRADAY:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def parse(value: str | int | None) -> Timeframe:
    text = str(value if value is not None else "").strip().lower()
    text = _ALIASES.get(text, text)
    match = re.fullmatch(r"(\d+)(min)?", text)
    if match:  # "5" and "5min" are minutes; "60min" is 1h
        text = _minutes(int(match.group(1)))
    if text in INTRADAY:
        return Timeframe(text, INTRADAY[text])
    if text in SESSION:
        return Timeframe(text, SESSION[text])
    raise TimeframeError(
        f"unknown timeframe {value!r}; use one of {', '.join(NAMES)} "
        "(aliases: 1min, 5min, 60min, day, plain minutes such as 5)"
    )


def label_for_seconds(seconds: int) -> str:
    """Label of a stored resolution (Sierra Chart may send any seconds_per_bar)."""
    if seconds in _SECONDS_NAME:
        return _SECONDS_NAME[seconds]
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
