"""``GET /health``: is every moving part of this deployment alive?

Answers 200 only when the ORM database, the market-data database, Redis and the Celery
heartbeat are all fine, else 503, so a load balancer or ``make run`` can wait on it.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tradeflow.heartbeat import last_beat_age


def _check_db(alias: str) -> dict:
    started = time.perf_counter()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message says why
        connections[alias].close()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict:
    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_heartbeat(redis_ok: bool) -> dict:
    if not redis_ok:
        return {"ok": False, "error": "redis is down, so the heartbeat cannot be read"}
    age = last_beat_age()
    if age is None:
        return {"ok": False, "error": "no heartbeat yet: are the Celery worker and beat running?"}
    ok = age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    result = {"ok": ok, "age_seconds": round(age, 1)}
    if not ok:
        result["error"] = (
            f"last heartbeat {age:.0f}s ago (limit {settings.HEARTBEAT_MAX_AGE_SECONDS}s)"
        )
    return result


@never_cache
@require_GET
def health(request):
    checks = {
        "default_db": _check_db("default"),
        "marketdata_db": _check_db("marketdata"),
        "redis": _check_redis(),
    }
    checks["celery_heartbeat"] = _check_heartbeat(checks["redis"]["ok"])
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "checks": checks},
        status=200 if healthy else 503,
    )
