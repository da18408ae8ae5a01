"""The PostgreSQL backend's round-trip-free health check (tradeflow/db/postgresql)."""

from __future__ import annotations

import pytest
from django.db import connections

from apps.marketdata.tests.helpers import other_connection

pytestmark = pytest.mark.django_db(databases=["default", "marketdata"], transaction=True)


def backend_pid(conn) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request(conn) -> None:
    """What Django does at a request boundary: keep the connection, check it before use."""
    conn.close_if_unusable_or_obsolete()
    assert not conn.health_check_done


def test_it_keeps_a_healthy_connection_without_a_query(monkeypatch):
    conn = connections["marketdata"]
    pid = backend_pid(conn)
    next_request(conn)
    monkeypatch.setattr(conn, "is_usable", lambda: pytest.fail("SELECT 1 probe"))
    conn.close_if_health_check_failed()
    assert conn.health_check_done and conn.connection is not None
    assert backend_pid(conn) == pid


def test_it_reconnects_when_the_server_ended_an_idle_connection():
    conn = connections["marketdata"]
    pid = backend_pid(conn)
    with other_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()[0]
    next_request(conn)
    assert backend_pid(conn) != pid  # no error: checked, closed and opened again
