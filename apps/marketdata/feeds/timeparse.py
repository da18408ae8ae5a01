"""Timestamp columns -> int64 epoch nanoseconds UTC, vectorised.

Formats: ``iso`` (``YYYY-MM-DD[ T]HH:MM[:SS[.fffffffff]]`` with an optional ``Z``/``+HH:MM``/
``+HHMM`` offset, or a bare date), epoch numbers in ``ns``/``us``/``ms``/``s`` (decimals
parsed exactly, no float rounding), and ``auto`` (epoch numbers by magnitude, else ISO).
Wall times without an offset are in the given zone; DST is resolved per quarter hour.

Shared by the CSV readers; the ticks/bars API may use ``parse_timestamps`` too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .errors import FeedFormatError

TS_FORMATS = ("auto", "iso", "ns", "us", "ms", "s")
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


class BadValue(Exception):
    """A bad value at a 0-based index of a column; ``reason`` contains ``{name}`` where
    the column name goes. The readers turn it into ``FeedFormatError`` with a line."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason

    def message(self, name: str) -> str:
        return self.reason.replace("{name}", name)


_EPOCH_RE = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")
_INT64_MAX = np.iinfo(np.int64).max


def _parse_epoch(text: np.ndarray, unit: str | None) -> np.ndarray:
    """Decimal epoch numbers -> ns, exactly (no float rounding). ``unit=None``: by magnitude
    (>= 1e17 ns, >= 1e14 us, >= 1e11 ms, else seconds)."""
    whole_s, _dot, frac = np.strings.partition(text, ".")
    try:
        whole = whole_s.astype(np.int64)
        frac_ok = np.strings.isdigit(frac) | (frac == "")
        if not frac_ok.all():
            raise ValueError
    except (ValueError, OverflowError):
        for i, value in enumerate(text.tolist()):
            if not _EPOCH_RE.fullmatch(value):
                raise BadValue(i, f"{{name}} {value!r} is not an epoch number") from None
            try:
                np.int64(value.partition(".")[0])
            except OverflowError:
                raise BadValue(i, f"{{name}} {value!r} is out of range") from None
        raise
    if unit is None:
        mag = np.abs(whole)
        unit_ns = np.select(
            [mag >= 10**17, mag >= 10**14, mag >= 10**11], [1, 1_000, 1_000_000], 1_000_000_000
        ).astype(np.int64)
    else:
        unit_ns = np.full(whole.shape, _UNIT_NS[unit], dtype=np.int64)
    too_big = np.abs(whole) > _INT64_MAX // unit_ns
    if too_big.any():
        i = int(np.flatnonzero(too_big)[0])
        raise BadValue(i, f"{{name}} {str(text[i])!r} is out of range")
    ns = whole * unit_ns
    if (frac != "").any():
        frac9 = np.strings.slice(np.strings.ljust(frac, 9, "0"), 0, 9)
        frac9 = np.where(frac == "", "0", frac9).astype(np.int64)
        sign = np.where(np.strings.startswith(np.strings.lstrip(text), "-"), -1, 1)
        ns = ns + sign * (frac9 * unit_ns // 1_000_000_000)
    return ns


def _parse_iso(text: np.ndarray, zone: ZoneInfo | None) -> np.ndarray:
    """ISO-8601 / ``YYYY-MM-DD[ HH:MM[:SS[.fffffffff]]]`` -> ns. An offset (``Z``, ``+HH:MM``,
    ``+HHMM``) wins; values without one are wall times in ``zone`` (None = UTC)."""
    n = text.shape[0]
    length = np.strings.str_len(text)
    tail6 = np.strings.slice(text, -6, None)
    tail5 = np.strings.slice(text, -5, None)
    sign6 = np.strings.slice(tail6, 0, 1)
    sign5 = np.strings.slice(tail5, 0, 1)
    colon = (
        np.isin(sign6, ["+", "-"])
        & (np.strings.slice(tail6, 3, 4) == ":")
        & np.strings.isdigit(np.strings.replace(np.strings.slice(tail6, 1, None), ":", ""))
        & (length >= 16)
    )
    plain = (
        ~colon
        & np.isin(sign5, ["+", "-"])
        & np.strings.isdigit(np.strings.slice(tail5, 1, None))
        & (length >= 15)
        & np.strings.isdigit(np.strings.slice(text, -7, -5))  # "...HH:MM+HHMM", not a date
    )
    zulu = np.strings.endswith(text, "Z") | np.strings.endswith(text, "z")
    cut = np.select([colon, plain, zulu], [6, 5, 1], 0)
    naive = np.strings.slice(text, 0, length - cut) if cut.any() else text
    try:
        local = naive.astype("datetime64[ns]").view(np.int64)
    except ValueError:
        local = None
    if local is None or (local == np.iinfo(np.int64).min).any():
        for i, value in enumerate(naive.tolist()):
            if not value.strip():
                raise BadValue(i, "missing {name}") from None
            try:
                if np.isnat(np.datetime64(value, "ns")):
                    raise ValueError
            except ValueError:
                raise BadValue(i, f"{{name}} {str(text[i])!r} is not a date/time") from None
        local = np.array([np.datetime64(v, "ns") for v in naive.tolist()]).view(np.int64)
    offset_ns = np.zeros(n, dtype=np.int64)
    with_offset = colon | plain
    if with_offset.any():
        tail = np.where(colon, np.strings.replace(tail6, ":", ""), tail5)
        hours = np.strings.slice(tail, 1, 3)
        minutes = np.strings.slice(tail, 3, 5)
        hours = np.where(with_offset, hours, "0").astype(np.int64)
        minutes = np.where(with_offset, minutes, "0").astype(np.int64)
        sign = np.where(np.strings.startswith(tail, "-"), -1, 1)
        offset_ns = np.where(with_offset, sign * (hours * 3600 + minutes * 60) * 10**9, 0)
    utc = local - offset_ns
    naive_rows = ~(with_offset | zulu)
    if zone is not None and naive_rows.any():
        utc[naive_rows] = localize_ns(local[naive_rows], zone)
    return utc


def parse_ts_column(values: np.ndarray, fmt: str, zone: ZoneInfo | None) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    text = np.strings.strip(np.asarray(values, dtype=np.str_))
    if fmt in _UNIT_NS:
        return _parse_epoch(text, fmt)
    if fmt == "iso":
        return _parse_iso(text, zone)
    numeric = np.strings.isdigit(
        np.strings.replace(np.strings.lstrip(text, "+-"), ".", "", count=1)
    )
    if numeric.all():
        return _parse_epoch(text, None)
    if not numeric.any():
        return _parse_iso(text, zone)
    out = np.empty(text.shape[0], dtype=np.int64)
    where = [np.flatnonzero(numeric), np.flatnonzero(~numeric)]
    for rows, parse in zip(
        where, (lambda t: _parse_epoch(t, None), lambda t: _parse_iso(t, zone)), strict=True
    ):
        try:
            out[rows] = parse(text[rows])
        except BadValue as bad:
            raise BadValue(int(rows[bad.index]), bad.reason) from None
    return out


def parse_timestamps(values: Sequence[str], fmt: str = "auto", tz: str = "UTC") -> np.ndarray:
    """Parse timestamp strings to int64 epoch ns (the CSV readers' parser, for other
    feeds). Raises ``FeedFormatError`` naming the 0-based index of a bad value."""
    if fmt not in TS_FORMATS:
        raise ValueError(f"ts_format {fmt!r} is not one of {', '.join(TS_FORMATS)}")
    try:
        return parse_ts_column(np.asarray(list(values), dtype=np.str_), fmt, resolve_zone(tz))
    except BadValue as bad:
        raise FeedFormatError(
            f"value {bad.index}: " + bad.reason.replace("{name}", "timestamp")
        ) from None


_UTC_NAMES = {"utc", "etc/utc", "z", "gmt", "etc/gmt", "zulu"}
_QUARTER_NS = 900 * 10**9


def resolve_zone(tz: str | None) -> ZoneInfo | None:
    """None for UTC (no conversion needed)."""
    if tz is None or tz.strip().lower() in _UTC_NAMES:
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise FeedFormatError(f"unknown time zone {tz!r}") from None


def localize_ns(local_ns: np.ndarray, zone: ZoneInfo | str) -> np.ndarray:
    """Wall-clock times in ``zone`` (as ns since 1970-01-01 00:00 local) -> UTC ns.

    Offsets are looked up once per distinct quarter hour (zone changes happen on quarter
    hours), so millions of rows cost a few thousand zoneinfo calls. Ambiguous wall times
    (the repeated hour when clocks go back) take the earlier, daylight-time offset.
    """
    if isinstance(zone, str):
        zone = resolve_zone(zone)
        if zone is None:
            return np.asarray(local_ns, dtype=np.int64).copy()
    local_ns = np.asarray(local_ns, dtype=np.int64)
    quarters, inverse = np.unique(local_ns // _QUARTER_NS, return_inverse=True)
    epoch = datetime(1970, 1, 1)  # a wall-clock origin; the zone is attached below
    offsets = np.array(
        [
            (epoch + timedelta(seconds=int(q) * 900)).replace(tzinfo=zone).utcoffset()
            // timedelta(seconds=1)
            for q in quarters
        ],
        dtype=np.int64,
    )
    return local_ns - offsets[inverse] * 10**9
