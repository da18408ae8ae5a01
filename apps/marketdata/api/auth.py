"""Feed-key authentication for ingestion (``X-API-Key``), and per-key rate limiting."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from apps.accounts.models import FeedKey
from tradeflow.memo import TTLMemo, lazy_redis
from tradeflow.windows import count_in_window

redis_client = lazy_redis()

KEY_CACHE_SECONDS = 5.0
# By the full key, so a wrong key never matches; bounded against floods of wrong keys.
_key_cache: TTLMemo[str, FeedKey] = TTLMemo(KEY_CACHE_SECONDS, max_entries=1000)


def _feed_key(key: str) -> FeedKey:
    """The FeedKey for ``key``: checked against its hash, revocation and expiry.

    Verified keys are remembered per process for ``KEY_CACHE_SECONDS``, which spares the
    database a query on every bar Sierra Chart sends; a revocation takes effect within
    that time.
    """
    return _key_cache.get(key, FeedKey.objects.get_from_key)


def verified_feed_key(key: str | None) -> FeedKey | None:
    """The FeedKey of an ``X-API-Key`` value; None when missing, wrong, revoked or expired."""
    if not key:
        return None
    try:
        return _feed_key(key.strip())
    except FeedKey.DoesNotExist:
        return None


class FeedKeyAuthentication(authentication.BaseAuthentication):
    """``request.auth`` becomes the FeedKey; there is no user (keys are for ingestion only)."""

    def authenticate(self, request):
        key = request.META.get("HTTP_X_API_KEY")
        if not key:
            return None
        try:
            feed_key = _feed_key(key.strip())
        except FeedKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("invalid or revoked API key") from None
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser(), feed_key

    def authenticate_header(self, request):
        return "X-API-Key"


class FeedKeyScheme(OpenApiAuthenticationExtension):
    """Documents feed-key authentication in the OpenAPI schema."""

    target_class = FeedKeyAuthentication
    name = "FeedKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class HasFeedKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, FeedKey)


# The ingestion rate limit leases its counts: a process takes a share of a key's window
# at a time (one Redis command) and spends it locally, one per request. Redis counts
# what was leased, so no more than the limit is ever let through in a window, whatever
# the processes; a share left unspent when the window ends is lost, so a key close to
# its limit may be refused up to (processes - 1) x the share early. A share is a 50th of
# the limit, at most 64 (the default 600 per 10 s: 12; a limit under 50: one, exact).
# Sierra Chart sends a request per bar: one Redis round trip each was a tenth of the POST.
RATE_WINDOW_S = 10
LEASE_SHARE = 50
LEASE_MAX = 64
# (key id, window) -> counts leased and not spent yet
_leases: TTLMemo[tuple[int, int], int] = TTLMemo(RATE_WINDOW_S * 2, max_entries=1000)
_leases_lock = threading.Lock()


def rate_limit_retry_after(feed_key: FeedKey) -> int | None:
    """Fixed 10-second windows per key; returns seconds to wait when over the limit."""
    now = time.time()
    bucket = int(now // RATE_WINDOW_S)
    lease = (feed_key.pk, bucket)
    with _leases_lock:
        unspent = _leases.peek(lease)
        if unspent:
            _leases.put(lease, unspent - 1)
            return None
    limit = settings.INGEST_RATE_PER_KEY
    share = max(1, min(LEASE_MAX, limit // LEASE_SHARE))
    name = f"tf:ingest-rate:{feed_key.pk}:{bucket}"
    leased = count_in_window(redis_client(), name, RATE_WINDOW_S * 2, share)
    granted = min(share, limit - (leased - share))  # what is left of the limit
    if granted <= 0:
        return max(1, int((bucket + 1) * RATE_WINDOW_S - now) + 1)
    with _leases_lock:
        _leases.put(lease, (_leases.peek(lease) or 0) + granted - 1)  # one spent on this one
    return None
