"""Typed readers for ``TRADEFLOW_*`` environment variables.

Every knob of the project is read through one of these helpers so that a bad value fails
loudly at start-up (``ImproperlyConfigured``) instead of surfacing later as a confusing
runtime error. ``settings.py`` is the only caller; the README lists every variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

PREFIX = "TRADEFLOW_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Every variable read through these helpers, so the README test can check that the docs
# list them all.
SEEN: dict[str, str] = {}


def _raw(name: str) -> str | None:
    if not name.startswith(PREFIX):
        raise ValueError(f"{name} must start with {PREFIX}")
    value = os.environ.get(name)
    if value is not None and value.strip() == "":
        return None
    return value


def env_str(name: str, default: str = "") -> str:
    SEEN[name] = "str"
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    SEEN[name] = "bool"
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false)")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    SEEN[name] = "int"
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum {maximum}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    SEEN[name] = "float"
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r} is not a finite number")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def env_list(name: str, default: Iterable[str] = ()) -> list[str]:
    SEEN[name] = "list"
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: Iterable[str]) -> str:
    SEEN[name] = "choice"
    allowed = list(choices)
    value = _raw(name)
    if value is None:
        return default
    if value not in allowed:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(allowed)}")
    return value


def env_url(name: str, schemes: Iterable[str]) -> str | None:
    """A URL whose scheme is one of ``schemes``, or None when unset."""
    SEEN[name] = "url"
    allowed = tuple(schemes)
    value = _raw(name)
    if value is None:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in allowed:
        raise ImproperlyConfigured(
            f"{name}={value!r}: scheme {scheme!r} is not one of {', '.join(allowed)}"
        )
    return value


def database_from_url(url: str, *, name_default: str) -> dict:
    """Django DATABASES entry for a ``mysql://`` or ``postgresql://`` URL.

    ``postgresql://user@/db?host=/socket/dir`` (a unix socket) is accepted, as libpq does.
    """
    parts = urlsplit(url)
    query = dict(item.split("=", 1) for item in parts.query.split("&") if item and "=" in item)
    name = parts.path.lstrip("/") or name_default
    if parts.scheme == "mysql":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "USER": parts.username or "root",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 3306),
            "OPTIONS": {
                "charset": "utf8mb4",
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
                "connect_timeout": 5,
            },
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
            "CONN_MAX_AGE": 60,
        }
    if parts.scheme in ("postgresql", "postgres"):
        return {
            "ENGINE": "tradeflow.db.postgresql",
            "NAME": name,
            "USER": parts.username or "postgres",
            "PASSWORD": parts.password or "",
            "HOST": query.get("host") or parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
            "OPTIONS": {"connect_timeout": 5},
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"unsupported database URL scheme {parts.scheme!r}")
