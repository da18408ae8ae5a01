"""A page sent in three parts: what is ready now, one slow part, and the rest.

The chart page (``views._terminal``) carries the active pane's first bars. Reading and
encoding them is most of the page's server time; sent whole, the page reaches the browser
only after that, and the browser sits idle meanwhile. Sent in parts, the browser gets the
``<head>`` (stylesheets, the lightweight-charts preload, the module preloads) and the
toolbar at once, and fetches, compiles and lays them out while the server reads the bars.

The response compresses itself: one gzip stream, flushed (``Z_SYNC_FLUSH``) after each
part, so a part leaves the server when it is ready. Django's ``GZipMiddleware`` would
hold the first part in the compressor until enough bytes follow (synchronous iterators)
or send a gzip member per chunk (asynchronous ones); it leaves a response alone once it
has a ``Content-Encoding``. Like the middleware, a random-length file name in the gzip
header varies the compressed length (BREACH).

Under ASGI (daphne) the parts come from an asynchronous iterator and the slow part runs
on a thread of the sync pool (``tradeflow.sync_threads``, where its database connection
persists), so the event loop sends the first part and static files meanwhile; under WSGI
(gunicorn) a plain generator does the same.
``X-Accel-Buffering: no`` asks a proxy (nginx) not to hold the parts back either.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import secrets
import zlib
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers

from tradeflow.sync_threads import pooled

logger = logging.getLogger(__name__)

_ACCEPTS_GZIP = re.compile(r"\bgzip\b")
_MAX_RANDOM_BYTES = 100  # as django.middleware.gzip.GZipMiddleware


class _Gzip:
    """A gzip stream (the standard library's ``GzipFile``) written part by part; every
    part is flushed to a byte boundary (``Z_SYNC_FLUSH``) so it can be sent at once."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        name = "a" * secrets.randbelow(_MAX_RANDOM_BYTES)
        self._file = gzip.GzipFile(name, "wb", 6, self._buffer, mtime=0)

    def _take(self) -> bytes:
        data = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return data

    def header(self) -> bytes:
        return self._take()  # GzipFile wrote it on creation

    def part(self, data: bytes) -> bytes:
        self._file.write(data)
        self._file.flush(zlib.Z_SYNC_FLUSH)
        return self._take()

    def finish(self) -> bytes:
        self._file.close()  # the last block and the CRC/size trailer
        return self._take()


def _safe(slow: Callable[[], str]) -> str:
    """The slow part, or nothing: once the first part is out, an error can no longer
    become an error page, and a page cut short would be worse than one without it."""
    try:
        return slow()
    except Exception:
        logger.exception("streamed page: the slow part failed; sent without it")
        return ""


_safe_pooled = pooled(_safe)


def streamed_page(request, first: str, slow: Callable[[], str], last: str) -> StreamingHttpResponse:
    """``first``, then ``slow()`` (called while the response is being sent; it may use
    the database), then ``last``, as one HTML response. ``slow`` must not raise for
    expected failures; unexpected ones are logged and its part left out."""
    compressor = (
        _Gzip() if _ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")) else None
    )

    def encode(text: str) -> bytes:
        data = text.encode()
        return compressor.part(data) if compressor else data

    if isinstance(request, ASGIRequest):

        async def parts():
            if compressor:
                yield compressor.header()
            yield encode(first)
            yield encode(await _safe_pooled(slow))
            yield encode(last)
            if compressor:
                yield compressor.finish()

    else:

        def parts():
            if compressor:
                yield compressor.header()
            yield encode(first)
            yield encode(_safe(slow))
            yield encode(last)
            if compressor:
                yield compressor.finish()

    response = StreamingHttpResponse(parts(), content_type="text/html; charset=utf-8")
    patch_vary_headers(response, ("Accept-Encoding",))
    if compressor:
        response["Content-Encoding"] = "gzip"
    response["X-Accel-Buffering"] = "no"
    return response
