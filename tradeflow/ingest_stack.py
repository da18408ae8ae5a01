"""The ingestion endpoints' own middleware stack.

Sierra Chart and the feeds POST to three endpoints (``apps/marketdata/api/urls.py``:
the single bar, the batch and the ticks) with an ``X-API-Key`` and nothing else: no
cookie, no session, no form, no HTML. The browser's middleware (sessions, CSRF, auth,
messages, HTMX, the content security policy, login lock-outs, gzip) has nothing to do
there, yet it ran on every bar: about a tenth of a single-bar POST's CPU, the policy
header built anew each time.

So the WSGI and ASGI entry points (``tradeflow/wsgi.py``, ``tradeflow/asgi.py``) send
requests for exactly those paths, whatever the method, to a second Django handler built
with ``INGEST_MIDDLEWARE``; everything else, the bars query
``/api/v1/market-data/<symbol>`` included, keeps ``settings.MIDDLEWARE``. The answers
keep the security headers (``nosniff``, the referrer policy, HSTS in production,
``X-Frame-Options``). Django's test client builds its handler from
``settings.MIDDLEWARE``; ``tests/test_ingest_stack.py`` goes through the entry points.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

INGEST_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
INGEST_URL_NAMES = ("ingest-sierra-bar", "ingest-sierra-batch", "ingest-ticks")


def ingest_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in INGEST_URL_NAMES)


def with_ingest_middleware(handler_class):
    """A ``handler_class`` instance whose chain is built from ``INGEST_MIDDLEWARE``.
    Django's handlers read ``settings.MIDDLEWARE`` when built, so it is swapped for the
    build only (entry points are imported before any request is served)."""
    browser = settings.MIDDLEWARE
    settings.MIDDLEWARE = INGEST_MIDDLEWARE
    try:
        return handler_class()
    finally:
        settings.MIDDLEWARE = browser


def wsgi_application(browser):
    """``browser`` (Django's WSGI handler), with the ingestion paths on their own stack."""
    from django.core.handlers.wsgi import WSGIHandler

    ingest = with_ingest_middleware(WSGIHandler)
    paths = ingest_paths()

    def application(environ, start_response):
        handler = ingest if environ.get("PATH_INFO") in paths else browser
        return handler(environ, start_response)

    return application


def asgi_application(browser, handler_class):
    """``browser`` (an ASGI handler of ``handler_class``), with the ingestion paths on
    their own stack."""
    ingest = with_ingest_middleware(handler_class)
    paths = ingest_paths()

    async def application(scope, receive, send):
        handler = ingest if scope.get("path") in paths else browser
        return await handler(scope, receive, send)

    return application
