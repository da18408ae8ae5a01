"""The chart page's first bars, sent inside the page (``views._terminal``).

The active pane's newest bars go into the page as a ``<script type="application/json">``
in the columns of ``bars_columns`` (about half the bytes of the API's bar objects), so
the chart draws them without another round trip; ``static/charts/api.js``
``takeEmbedded`` answers the pane's first ``bars_url`` request with them, once.

Encoding and compressing 5,000 bars took most of the page's server time, and almost all
of them are closed bars that the store remembers unchanged between pages
(``store/closed_bars.py``). So each column of the remembered part is encoded and
compressed once, kept with those rows (``ClosedBars.derive``), and sent as it is
(``streaming.Precompressed``); only the few recent bars are encoded for each page. The
JSON is the same either way: ``{...meta, "columns": {"time": [closed..., recent...],
...}}``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import orjson
from django.db import DatabaseError
from django.utils.html import format_html

from apps.charts.streaming import Part, Precompressed
from apps.marketdata.api.query import BAR_FIELDS, bars_columns
from apps.marketdata.store import closed_bars
from apps.marketdata.timeframes import parse as parse_timeframe

logger = logging.getLogger(__name__)

# escaped as Django's json_script does, so the data cannot end its <script> element
_ESCAPES = ((b"<", b"\\u003C"), (b">", b"\\u003E"), (b"&", b"\\u0026"))


def bars_url(symbol: str, timeframe: str, limit: int) -> str:
    """The first bars request of a pane; the page preloads it and the JS asks for exactly
    this URL (``static/charts/pane.js`` builds it the same way) so the preload is reused."""
    return f"/api/v1/market-data/{quote(symbol, safe='')}?timeframe={timeframe}&limit={limit}"


def _column_texts(rows: list[tuple]) -> list[str]:
    """Each field of ``BAR_FIELDS`` as the inside of a JSON array: ``"1,2,3"`` (numbers
    and nulls only: nothing to escape)."""
    if not rows:
        return [""] * len(BAR_FIELDS)
    columns = list(zip(*rows, strict=True))[: len(BAR_FIELDS)]
    return [orjson.dumps(column)[1:-1].decode() for column in columns]


def _closed_columns(rows: list[tuple]) -> list[Precompressed] | None:
    return [Precompressed(text) for text in _column_texts(rows)] if rows else None


def embedded_bars(symbol, code: str, timeframe: str, limit: int) -> Part:
    """The ``<script>`` element with the newest ``limit`` bars of ``symbol``, in pieces
    for ``streaming.streamed_page``. If the store cannot answer, a preload of the pane's
    first request goes in its place: the page fetches as usual, and retries."""
    url = bars_url(code, timeframe, limit)
    try:
        tf = parse_timeframe(timeframe)
        closed, recent = closed_bars.newest_bar_parts(symbol, tf, limit)
    except DatabaseError:
        logger.warning("chart page: bars of %s not embedded", code, exc_info=True)
        return format_html('<link rel="preload" as="fetch" href="{}" crossorigin="anonymous">', url)
    meta = bars_columns(symbol, tf, [])
    del meta["columns"]
    head = orjson.dumps(meta)[:-1] + b',"columns":{'
    for char, escape in _ESCAPES:
        head = head.replace(char, escape)
    kept = closed.derive("embedded-columns", _closed_columns)
    pieces: list[str | Precompressed] = []
    text = format_html('<script type="application/json" id="embedded-bars" data-url="{}">', url)
    text += head.decode()
    for i, (field, fresh) in enumerate(zip(BAR_FIELDS, _column_texts(recent), strict=True)):
        text += f'{"," if i else ""}"{field}":['
        if kept is not None:
            pieces += [text, kept[i]]
            text = "," if fresh else ""
        text += fresh + "]"
    pieces.append(text + "}}</script>")
    return pieces
