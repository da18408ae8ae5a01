"""JWT authentication with short per-process memos of the user row and the decoded token.

Every API call with a bearer token would otherwise fetch the user from the ORM database
and decode and verify the token again; market-data clients poll bars and indicators many
times a second with the same token. A user deactivated in the admin loses access within
``USER_CACHE_SECONDS`` (and tokens are short-lived anyway); a remembered token still
expires on time.
"""

from __future__ import annotations

import time

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication

from tradeflow.memo import TTLMemo

USER_CACHE_SECONDS = 5.0
_users: TTLMemo[str, object] = TTLMemo(USER_CACHE_SECONDS, max_entries=10_000)
# raw token -> the validated token (only valid ones: what raises is not remembered)
_tokens: TTLMemo[bytes, object] = TTLMemo(USER_CACHE_SECONDS, max_entries=10_000)


class CachedJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token):
        token = _tokens.get(raw_token, super().get_validated_token)
        if token.payload.get("exp", 0) <= time.time():
            # Expired since it was remembered: validate again, which raises as usual.
            _tokens.forget(raw_token)
            return super().get_validated_token(raw_token)
        return token

    def get_user(self, validated_token):
        load = super().get_user  # the token itself was validated already
        return _users.get(str(validated_token.get("user_id")), lambda _: load(validated_token))


class CachedJWTScheme(SimpleJWTScheme):
    """Documents CachedJWTAuthentication as the bearer JWT scheme it is."""

    target_class = CachedJWTAuthentication
