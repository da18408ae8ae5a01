"""Requests through the project's ASGI application in-process, as daphne would make
them (``tests/test_asgi_handler.py``, ``tests/test_ingest_stack.py``)."""

from __future__ import annotations

import asyncio

import pytest

from tradeflow.asgi import application


@pytest.fixture(autouse=True, scope="module")
def pool_connections_closed():
    """The pool threads keep their connections (that is the point); closed after a
    module that imports this, so the test databases can be dropped at the end."""
    yield
    from tradeflow.sync_threads import close_connections

    close_connections()


def call(path: str, method: str = "GET", body: bytes = b"", headers=()) -> tuple[int, dict, bytes]:
    """One request through the project's ASGI application, as daphne would make it
    (``headers``: more ``(name, value)`` byte pairs); the answer's headers by lower-case
    name."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
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
    answer: dict[bytes, list[bytes]] = {}
    for name, value in start["headers"]:
        answer.setdefault(name.lower(), []).append(value)
    return start["status"], answer, b"".join(m.get("body", b"") for m in sent[1:])
