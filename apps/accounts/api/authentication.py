"""JWT authentication with a short per-process memo of the user row.

Every API call with a bearer token would otherwise fetch the user from the ORM database;
market-data clients poll bars and indicators many times a second. A user deactivated in
the admin loses access within ``USER_CACHE_SECONDS`` (and tokens are short-lived anyway).
"""

from __future__ import annotations

import time

from rest_framework_simplejwt.authentication import JWTAuthentication

USER_CACHE_SECONDS = 5.0
_users: dict[str, tuple[float, object]] = {}


class CachedJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        key = str(validated_token.get("user_id"))
        now = time.monotonic()
        hit = _users.get(key)
        if hit and now - hit[0] < USER_CACHE_SECONDS:
            return hit[1]
        user = super().get_user(validated_token)
        if len(_users) > 10_000:
            _users.clear()
        _users[key] = (now, user)
        return user


def forget_cached_users() -> None:
    _users.clear()
