"""JWT authentication with a short per-process memo of the user row.

Every API call with a bearer token would otherwise fetch the user from the ORM database;
market-data clients poll bars and indicators many times a second. A user deactivated in
the admin loses access within ``USER_CACHE_SECONDS`` (and tokens are short-lived anyway).
"""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication

from tradeflow.memo import TTLMemo

USER_CACHE_SECONDS = 5.0
_users: TTLMemo[str, object] = TTLMemo(USER_CACHE_SECONDS, max_entries=10_000)


class CachedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        load = super().get_user  # the token itself was validated already
        return _users.get(str(validated_token.get("user_id")), lambda _: load(validated_token))


class CachedJWTScheme(SimpleJWTScheme):
    """Documents CachedJWTAuthentication as the bearer JWT scheme it is."""

    target_class = CachedJWTAuthentication
