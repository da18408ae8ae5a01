"""``tradeflow.asgi.application`` plus static files, for a daphne without a proxy in front.

``tradeflow/asgi.py`` serves no static files (in production a proxy or WhiteNoise does),
so a bare ``daphne tradeflow.asgi:application`` renders the chart page without its
JavaScript. The browser tests (``apps/charts/tests/conftest.py``) and the ``chart_page``
benchmark run ``daphne apps.charts.asgi_static:application`` instead: the same app, with
``STATIC_URL`` answered here and everything else (WebSockets too) passed through.

Files are found with the staticfiles finders (node_modules vendor files included), read
once and kept in memory with a gzip copy, and answered from the event loop. Django's own
``ASGIStaticFilesHandler`` runs its sync ``serve()`` on the one thread that every sync
view shares, which serialises the chart page's ~20 module/CSS requests behind each other
and behind the API calls; this is what a proxy would do instead.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import posixpath
from urllib.parse import unquote

from django.conf import settings
from django.contrib.staticfiles import finders

from tradeflow.asgi import application as project_application

_cache: dict[str, tuple[bytes, bytes | None, str, str] | None] = {}
_MAX_FILE = 8 * 1024 * 1024
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


def _load(path: str):
    """(body, gzipped body or None, content type, etag) of a static path, or None.
    Kept in memory unless DEBUG (so edits show up without a restart)."""
    if path in _cache and not settings.DEBUG:
        return _cache[path]
    entry = None
    normalized = posixpath.normpath(path).lstrip("/")
    if normalized not in ("", ".") and not normalized.startswith("..") and "\x00" not in normalized:
        found = finders.find(normalized)
        if found and not isinstance(found, list) and os.path.isfile(found):
            with open(found, "rb") as handle:
                body = handle.read(_MAX_FILE + 1)
            if len(body) <= _MAX_FILE:
                kind = mimetypes.guess_type(found)[0] or "application/octet-stream"
                if found.endswith((".js", ".mjs")):
                    kind = "text/javascript"
                if kind.startswith("text/"):
                    kind += "; charset=utf-8"
                packed = gzip.compress(body, 6) if kind.startswith(_COMPRESSIBLE) else None
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                entry = (body, packed, kind, etag)
    if len(_cache) < 2000:
        _cache[path] = entry
    return entry


async def _send(send, status: int, headers: list, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    if scope["type"] != "http" or not scope["path"].startswith(prefix):
        return await project_application(scope, receive, send)
    if scope["method"] not in ("GET", "HEAD"):
        return await _send(send, 405, [(b"allow", b"GET, HEAD")])
    entry = _load(unquote(scope["path"][len(prefix) :]))
    if entry is None:
        return await _send(send, 404, [(b"content-type", b"text/plain")], b"not found")
    body, packed, kind, etag = entry
    request = dict(scope.get("headers") or [])
    headers = [
        (b"content-type", kind.encode()),
        (b"etag", etag.encode()),
        (b"cache-control", b"no-cache" if settings.DEBUG else b"public, max-age=3600"),
        (b"vary", b"Accept-Encoding"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if request.get(b"if-none-match") == etag.encode():
        return await _send(send, 304, headers)
    if packed is not None and b"gzip" in request.get(b"accept-encoding", b""):
        body = packed
        headers.append((b"content-encoding", b"gzip"))
    headers.append((b"content-length", str(len(body)).encode()))
    await _send(send, 200, headers, b"" if scope["method"] == "HEAD" else body)
