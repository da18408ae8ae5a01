"""Shared plumbing for benchmarks: private databases, a real server process, timing.

Benchmarks are not tests: they print numbers beside a baseline measured in the same run
(these machines are noisy, so the ratio is what counts). Each benchmark gets its own
databases (``*_bench*``) on the servers the TRADEFLOW_* URLs name (``make bench`` points
them at localhost), serves ``benchmarks.settings`` the way production does (HTTP by
gunicorn, WebSockets by daphne) and only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tradeflow.runstack import daphne_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench" / "results.json"
PYTHON = sys.executable
SECRET = "bench-only-secret-key-" + "x" * 40


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def bench_env(tag: str) -> dict[str, str]:
    """Environment for a benchmark's server and helpers: its own databases."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFLOW_")}
    mysql = os.environ.get("TRADEFLOW_DATABASE_URL", "mysql://root@127.0.0.1:3306/tradeflow")
    pg = os.environ.get(
        "TRADEFLOW_MARKETDATA_URL", "postgresql://postgres@127.0.0.1:5432/tradeflow_md"
    )
    redis_url = os.environ.get("TRADEFLOW_REDIS_URL", "redis://127.0.0.1:6379/9")
    return base | {
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "TRADEFLOW_DEBUG": "false",
        "TRADEFLOW_SECRET_KEY": SECRET,
        "TRADEFLOW_SSL_REDIRECT": "false",
        "TRADEFLOW_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRADEFLOW_LOG_LEVEL": "WARNING",
        "TRADEFLOW_DATABASE_URL": _with_db(mysql, f"tradeflow_bench_{tag}"),
        "TRADEFLOW_MARKETDATA_URL": _with_db(pg, f"tradeflow_bench_{tag}_md"),
        "TRADEFLOW_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/8",
        "TRADEFLOW_INGEST_RATE_PER_KEY": "1000000",
        "TRADEFLOW_API_USER_RATE": "100000000/min",
        "TRADEFLOW_API_ANON_RATE": "100000000/min",
        "PYTHONPATH": str(ROOT),
    }


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, text=True, capture_output=True, timeout=900
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def prepare_databases(env: dict) -> None:
    subprocess.run(
        [PYTHON, "-m", "tradeflow.dbcreate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "migrate_marketdata")


def django_in_process(env: dict) -> None:
    """Configure Django in this process with the benchmark's environment."""
    os.environ.update(env)
    import django

    django.setup()


def marketdata_connection(**options):
    """A direct psycopg connection to the benchmark's market-data database (baselines that
    bypass Django), after ``django_in_process``; ``options`` override the settings."""
    import psycopg
    from django.db import connections

    md = connections["marketdata"].settings_dict
    params = {
        "host": md["HOST"],
        "port": md["PORT"],
        "user": md["USER"],
        "password": md["PASSWORD"] or None,
        "dbname": md["NAME"],
    }
    return psycopg.connect(**(params | options))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(env: dict, kind: str = "wsgi"):
    """The benchmark settings served on a free loopback port, the way production serves
    them: HTTP by gunicorn (threaded WSGI), WebSockets by daphne (``kind="asgi"``)."""
    port = free_port()
    if kind == "wsgi":
        argv = [
            PYTHON,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--keep-alive",
            "75",
            "--log-level",
            "warning",
            "tradeflow.wsgi:application",
        ]
    else:
        argv = daphne_command(port, "--verbosity", "0")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the benchmark server did not start")
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Client:
    """A keep-alive HTTP client for one thread."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server closed an idle keep-alive connection: reconnect once
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    """Sample the resident memory of a server process and its workers until ``stop``."""
    import psutil

    proc = psutil.Process(pid)
    peak = 0
    while not stop.is_set():
        try:
            # the largest single server process (gunicorn: a worker; daphne: itself)
            rss = max([proc.memory_info().rss] + [c.memory_info().rss for c in proc.children()])
        except psutil.Error:
            break
        peak = max(peak, rss)
        time.sleep(0.05)
    out.append(peak)


def alternate(ours, baseline, runs: int = 3) -> tuple[list[float], list[float]]:
    """Warm up, then run ours and the baseline alternately ``runs`` times each."""
    ours()
    baseline()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(baseline())
    return a, b


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def save(name: str, result: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = result
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True))
