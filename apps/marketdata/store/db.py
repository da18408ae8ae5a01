"""Access to the ``marketdata`` connection (Django's wrapper around psycopg 3).

Using Django's connection handling (rather than a private pool) gives per-thread
connections, ``CONN_MAX_AGE`` reuse, health checks and ``transaction.atomic(using=...)``
with ``on_commit`` hooks, which the broadcast module relies on.
"""

from __future__ import annotations

from django.db import connections, transaction

ALIAS = "marketdata"


def connection():
    return connections[ALIAS]


def atomic():
    return transaction.atomic(using=ALIAS)


def on_commit(func) -> None:
    transaction.on_commit(func, using=ALIAS)


def raw_connection():
    """The underlying psycopg connection (for ``cursor.copy``), opened if needed."""
    conn = connection()
    conn.ensure_connection()
    return conn.connection
