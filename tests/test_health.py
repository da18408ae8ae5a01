"""GET /health: 200 only when both databases, Redis and the Celery heartbeat are fine."""

import time

import pytest
from django.test import override_settings

from tradeflow.heartbeat import KEY, beat

pytestmark = pytest.mark.django_db(databases=["default", "marketdata"])


def test_it_is_healthy_when_everything_answers(client, redis_client):
    beat()  # what the worker does when beat enqueues the heartbeat
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"default_db", "marketdata_db", "redis", "celery_heartbeat"}
    assert body["checks"]["celery_heartbeat"]["age_seconds"] < 5


def test_it_is_unhealthy_without_a_heartbeat(client, redis_client):
    response = client.get("/health")
    assert response.status_code == 503
    assert "no heartbeat" in response.json()["checks"]["celery_heartbeat"]["error"]


def test_it_is_unhealthy_with_a_stale_heartbeat(client, redis_client):
    from django.core.cache import cache

    cache.set(KEY, time.time() - 3600, timeout=None)
    response = client.get("/health")
    assert response.status_code == 503
    assert not response.json()["checks"]["celery_heartbeat"]["ok"]


def test_it_is_unhealthy_when_redis_is_down(client, redis_client):
    beat()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/health")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["default_db"]["ok"] is True
