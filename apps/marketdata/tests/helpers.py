"""Helpers shared by the live (WebSocket) tests: ``test_live`` (``/ws/market/``) and
``test_indicator_ws`` (``/ws/indicators/``); ``apps/charts`` tests reach them through
``test_indicator_ws``. Also ``other_connection``, for tests that need a second session on
the market-data database."""

from __future__ import annotations

import time

import psycopg
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.marketdata.ingest.ticks import ingest_ticks
from tradeflow.asgi import application


@sync_to_async
def ingest(symbol, batch):
    from django.db import connections

    try:
        return ingest_ticks(symbol, batch)
    finally:
        connections.close_all()  # the worker thread must not keep the test database open


@sync_to_async
def close_db():
    """Close the connections the consumer opened in asgiref's sync thread (the test
    databases cannot be dropped while they are open)."""
    from django.db import connections

    connections.close_all()


async def connect_ws(path: str, user=None) -> WebsocketCommunicator:
    """A connected WebSocket to the project's ASGI application, as ``user`` when given."""
    comm = WebsocketCommunicator(
        application,
        path,
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    if user is not None:
        comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    return comm


async def receive_type(comm, kind: str, timeout: float = 3.0) -> dict:
    """The next message of type ``kind``, skipping others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await comm.receive_json_from(timeout=max(0.05, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


def other_connection() -> psycopg.Connection:
    """A psycopg connection of its own (autocommit) to the test market-data database."""
    from django.db import connections

    settings = connections["marketdata"].settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )
