"""HTTP through ``tradeflow.asgi``: the middleware chain and the view run as one
synchronous call (``SyncChainASGIHandler``), not one thread hop per middleware."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import pytest
from asgiref.sync import SyncToAsync
from django.db import OperationalError

from tests.asgi_calls import call, pool_connections_closed  # noqa: F401 (a fixture)
from tradeflow.asgi import SyncChainASGIHandler, django_asgi_app


def test_the_chain_is_built_for_synchronous_use():
    assert isinstance(django_asgi_app, SyncChainASGIHandler)
    assert not asyncio.iscoroutinefunction(django_asgi_app._middleware_chain)


@pytest.mark.django_db(transaction=True)
def test_a_page_crosses_to_its_thread_a_few_times_not_per_middleware(monkeypatch):
    hops: list[str] = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    status, headers, body = call("/accounts/login/")
    assert status == 200 and b"<form" in body
    # the middleware ran: security headers, the CSRF cookie the form needs
    assert headers[b"x-frame-options"] == [b"DENY"]
    assert b"default-src 'self'" in headers[b"content-security-policy"][0]
    cookies = SimpleCookie()
    for value in headers[b"set-cookie"]:
        cookies.load(value.decode())
    assert "csrftoken" in cookies
    # request_started receivers, the request itself, response.close(): the stock handler
    # makes about twenty (process_request and process_response of each middleware)
    assert len(hops) <= 4, hops


@pytest.mark.django_db(transaction=True)
def test_view_middleware_and_errors_still_apply():
    # CsrfViewMiddleware.process_view: a form POST without a token is refused
    status, _, _ = call("/accounts/login/", "POST", b"email=a%40b.c&password=x")
    assert status == 403
    status, headers, _ = call("/no/such/page/")
    assert status == 404 and headers[b"x-frame-options"] == [b"DENY"]


@pytest.mark.django_db(transaction=True, databases=["default", "marketdata"])
def test_requests_keep_their_database_connections(monkeypatch):
    """The view runs on a long-lived thread (tradeflow/sync_threads.py): its connections
    persist from request to request (CONN_MAX_AGE), as under WSGI. The stock handler gave
    every request a new thread, so a new MariaDB and PostgreSQL connection each."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    from tradeflow.sync_threads import THREADS

    connects: list[str] = []
    original = BaseDatabaseWrapper.connect

    def counted(self):
        connects.append(self.alias)
        return original(self)

    monkeypatch.setattr(BaseDatabaseWrapper, "connect", counted)
    for _ in range(3 * THREADS):
        _, _, body = call("/health")  # reads both databases
        assert b'"default_db": {"ok": true' in body and b'"marketdata_db": {"ok": true' in body
    # at most one connection per pool thread and database (none when earlier tests left
    # the threads connected); a thread per request connected 3 x THREADS times
    assert connects.count("default") <= THREADS, connects
    assert connects.count("marketdata") <= THREADS, connects


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_between_requests_is_replaced():
    """What Django's request_started does under WSGI, the pool thread does before each
    call: a connection that failed is closed, and the next call connects again."""
    from django.db import connections

    from tradeflow.sync_threads import pooled

    def use(lose: bool):
        conn = connections["default"]
        with conn.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (number,) = cursor.fetchone()
        if lose:  # the server drops it (a restart, a killed session)
            killer = connections.create_connection("default")
            with killer.cursor() as cursor:
                cursor.execute(f"KILL {int(number)}")
            killer.close()
            with pytest.raises(OperationalError), conn.cursor() as cursor:
                cursor.execute("SELECT 1")
        return threading.get_ident(), number

    async def calls(executor):
        return [await pooled(use, executor)(fail) for fail in (False, False, True, False)]

    with ThreadPoolExecutor(max_workers=1) as one_thread:
        (t1, kept), (t2, same), (t3, failed), (t4, replaced) = asyncio.run(calls(one_thread))
    assert t1 == t2 == t3 == t4
    assert kept == same == failed  # one persistent connection, until ...
    assert replaced != failed  # ... it was lost: replaced before the next call
