"""``python -m tradeflow.runstack``: the whole site as one foreground process group.

Starts daphne (HTTP + WebSockets), a Celery worker, Celery beat and the simulated demo
feed, waits until ``/health`` answers 200, prints where to log in, and on Ctrl-C (SIGINT)
or SIGTERM stops every child and waits for them. If any child dies, the others are
stopped too and the exit code says so: a half-running stack is worse than none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

PYTHON = sys.executable


def daphne_command(port: int, *options: str) -> list[str]:
    """daphne serving the project's ASGI application on 127.0.0.1:``port`` (here and in
    ``benchmarks/common.py``)."""
    return [
        PYTHON,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        *options,
        # the project's ASGI app plus in-memory static files (CSS, JS, lightweight-charts):
        # daphne alone serves no static files, and `make run` has no separate web server
        "apps.charts.asgi_static:application",
    ]


def _commands(port: int) -> dict[str, list[str]]:
    return {
        "web": daphne_command(port),
        "worker": [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "tradeflow",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            "2",
            "-n",
            f"worker-{os.getpid()}@%h",
        ],
        "beat": [PYTHON, "-m", "celery", "-A", "tradeflow", "beat", "-l", "warning", "--pidfile="],
        "feed": [PYTHON, "manage.py", "demofeed"],
    }


def _wait_healthy(port: int, children: dict, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health"
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in children.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
    import django

    django.setup()
    from django.conf import settings

    port = settings.PORT
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, argv in _commands(port).items():
        children[name] = subprocess.Popen(argv)  # noqa: S603 - fixed argv
    print(f"started {', '.join(f'{n} (pid {p.pid})' for n, p in children.items())}", flush=True)
    code = 0
    if _wait_healthy(port, children, timeout=90):
        print(
            f"\nTradeFlow is up: http://127.0.0.1:{port}/  (health: /health, API docs: "
            f"/api/docs/)\nDemo login: demo@tradeflow.local / demo-tradeflow-1\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
    elif not stopping:
        print(
            f"TradeFlow did not become healthy; see http://127.0.0.1:{port}/health",
            file=sys.stderr,
            flush=True,
        )
    while not stopping:
        dead = [n for n, p in children.items() if p.poll() is not None]
        if dead:
            print(f"{', '.join(dead)} exited; stopping the rest", file=sys.stderr, flush=True)
            code = 1
            break
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
