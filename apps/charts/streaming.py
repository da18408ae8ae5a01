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
header varies the compressed length (BREACH). A slow part may bring pieces compressed
once and kept (``Precompressed``: the closed bars of a chart): they go into the stream as
they are, so the bars that did not change are not compressed again for every page.

Under ASGI (daphne) the parts come from an asynchronous iterator and the slow part runs
on a thread of the sync pool (``tradeflow.sync_threads``, where its database connection
persists), so the event loop sends the first part and static files meanwhile; under WSGI
(gunicorn) a plain generator does the same.
``X-Accel-Buffering: no`` asks a proxy (nginx) not to hold the parts back either.
"""

from __future__ import annotations

import logging
import re
import secrets
import struct
import zlib
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers

from tradeflow.sync_threads import pooled

logger = logging.getLogger(__name__)

_ACCEPTS_GZIP = re.compile(r"\bgzip\b")
_MAX_RANDOM_BYTES = 100  # as django.middleware.gzip.GZipMiddleware
_LEVEL = 6  # zlib's default, as GzipFile's and the middleware's


class Precompressed:
    """Text compressed once, to be sent many times: the UTF-8 bytes and their raw deflate
    stream, made by a compressor of its own (no back-references outside it) and flushed
    to a byte boundary (``Z_SYNC_FLUSH``, not the last block). A gzip stream may carry
    such a segment between parts (``_Gzip.segment``); the chart page keeps the closed part
    of its bars this way (``apps/charts/embedded.py``)."""

    __slots__ = ("data", "deflated")

    def __init__(self, text: str | bytes) -> None:
        self.data = text.encode() if isinstance(text, str) else text
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.deflated = compressor.compress(self.data) + compressor.flush(zlib.Z_SYNC_FLUSH)


# What a slow part may be: text, or pieces of it some of which are precompressed.
Part = str | list["str | Precompressed"]


class _Gzip:
    """A gzip stream written part by part, each part flushed to a byte boundary
    (``Z_SYNC_FLUSH``) so that it can be sent at once. Precompressed segments go in
    between as they are: the text after one is compressed by a new compressor, whose
    back-references cannot reach across the segment. The CRC-32 and length of the
    trailer are kept here (RFC 1952), as ``gzip.GzipFile`` would."""

    def __init__(self) -> None:
        self._compressor = None
        self._crc = 0
        self._size = 0

    @staticmethod
    def header() -> bytes:
        # like GzipFile: a file name of random length varies the compressed length (BREACH)
        name = b"a" * secrets.randbelow(_MAX_RANDOM_BYTES)
        flags = 0x08 if name else 0  # FNAME
        return (
            b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff" + (name + b"\0" if name else b"")
        )

    def _count(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)

    def part(self, data: bytes) -> bytes:
        if self._compressor is None:
            self._compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._count(data)
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def segment(self, piece: Precompressed) -> bytes:
        self._compressor = None  # the next text starts a compressor of its own
        self._count(piece.data)
        return piece.deflated

    def finish(self) -> bytes:
        compressor = self._compressor or zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        trailer = struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)
        return compressor.flush(zlib.Z_FINISH) + trailer


def _safe(slow: Callable[[], Part]) -> Part:
    """The slow part, or nothing: once the first part is out, an error can no longer
    become an error page, and a page cut short would be worse than one without it."""
    try:
        return slow()
    except Exception:
        logger.exception("streamed page: the slow part failed; sent without it")
        return ""


_safe_pooled = pooled(_safe)


def streamed_page(
    request, first: str, slow: Callable[[], Part], last: str
) -> StreamingHttpResponse:
    """``first``, then ``slow()`` (called while the response is being sent; it may use
    the database), then ``last``, as one HTML response. ``slow`` gives text, or a list
    of texts and ``Precompressed`` pieces (sent as they are when the client takes gzip).
    It must not raise for expected failures; unexpected ones are logged and its part
    left out."""
    compressor = (
        _Gzip() if _ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")) else None
    )

    def encode(part: Part) -> bytes:
        pieces = [part] if isinstance(part, str) else part
        out = []
        for piece in pieces:
            if isinstance(piece, Precompressed):
                out.append(compressor.segment(piece) if compressor else piece.data)
            elif piece:
                out.append(compressor.part(piece.encode()) if compressor else piece.encode())
        return b"".join(out)

    if isinstance(request, ASGIRequest):

        async def parts():
            if compressor:
                yield _Gzip.header()
            yield encode(first)
            yield encode(await _safe_pooled(slow))
            yield encode(last)
            if compressor:
                yield compressor.finish()

    else:

        def parts():
            if compressor:
                yield _Gzip.header()
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
