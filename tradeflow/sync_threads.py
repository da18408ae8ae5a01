"""The threads that run Django's synchronous code for HTTP requests under ASGI (daphne).

Django's ASGI handler runs each request's synchronous code on a thread of its own (a
``ThreadSensitiveContext`` per request). Django keeps database connections per thread,
so under daphne every request opened a new MariaDB and a new PostgreSQL connection, and
``CONN_MAX_AGE`` could not keep them: about 5 ms of the chart page's 11 ms on this 2-core
box, plus a PostgreSQL backend started and stopped per request. Django's documentation
says as much (persistent connections do not help under ASGI).

Here the view, its middleware (``tradeflow.asgi.SyncChainASGIHandler``) and the slow part
of a streamed page (``apps/charts/streaming.py``) run on a fixed pool of ``THREADS``
long-lived threads instead, as gunicorn's threaded workers run them under WSGI, so each
thread keeps its connections for ``CONN_MAX_AGE``. Before each call the thread does what
Django's ``request_started`` signal would have done on it: ``close_old_connections()``
drops a connection that failed or outlived ``CONN_MAX_AGE`` (a restarted database is
reconnected on the next request, not left broken on an idle thread).

Decisions: ``THREADS`` is fixed (8, what the benchmark's gunicorn runs per process: 2
workers x 4 threads); each thread holds at most one connection per database. The rest of
a request's synchronous work (Django's request signals, closing the response) stays on
the stock per-request thread, where it opens no connection.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

THREADS = 8
_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="django-sync")


def pooled(func: Callable[..., Any], executor: Executor = _pool) -> Callable[..., Any]:
    """``func`` as an awaitable run on one of the pool's threads (``executor``: another
    pool, for tests), after the thread's stale database connections are closed."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        close_old_connections()
        return func(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=False, executor=executor)


def close_connections(timeout: float = 10.0) -> None:
    """Close every pool thread's database connections (a test session does this before
    its test databases are dropped). One task per thread: each waits at a barrier until
    all have started, so no thread runs two of them."""
    barrier = threading.Barrier(THREADS, timeout=timeout)

    def close_mine():
        barrier.wait()
        connections.close_all()

    for future in [_pool.submit(close_mine) for _ in range(THREADS)]:
        future.result(timeout=timeout)
