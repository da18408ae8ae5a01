"""HTTP through ``tradeflow.asgi``: the middleware chain and the view run as one
synchronous call (``SyncChainASGIHandler``), not one thread hop per middleware."""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie

import pytest
from asgiref.sync import SyncToAsync

from tradeflow.asgi import SyncChainASGIHandler, application, django_asgi_app


def call(path: str, method: str = "GET", body: bytes = b"") -> tuple[int, dict, bytes]:
    """One request through the project's ASGI application, as daphne would make it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client stays connected

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = sent[0]
    headers: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


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
