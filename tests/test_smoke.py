"""The whole stack on embedded defaults: no TRADEFLOW_* URLs, private PostgreSQL and
Redis under a temporary var/, SQLite for the ORM; daphne, a Celery worker, beat and the
demo feed under runstack; /health must answer 200 (which needs a fresh heartbeat, i.e. a
working worker *and* beat), and Ctrl-C must stop everything."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, OSError):
        return 0, {}


def test_it_runs_the_stack_on_embedded_defaults(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFLOW_")}
    env |= {
        "TRADEFLOW_VAR_DIR": str(tmp_path / "var"),
        "TRADEFLOW_PORT": str(port),
        "TRADEFLOW_DEMO_BACKFILL_HOURS": "0.1",
        "TRADEFLOW_HEARTBEAT_SECONDS": "2",
    }

    def run(*args):
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("-m", "tradeflow.embedded", "up")
    stack = None
    try:
        run("-m", "tradeflow.dbcreate")
        run("manage.py", "migrate", "--noinput", "-v0")
        run("manage.py", "migrate_marketdata")
        assert "demo login" in run("manage.py", "seed_demo")
        stack = subprocess.Popen(
            [sys.executable, "-m", "tradeflow.runstack"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 150
        status, body = 0, {}
        while time.monotonic() < deadline and status != 200:
            assert stack.poll() is None, stack.stdout.read()
            time.sleep(1)
            status, body = _health(port)
        assert status == 200, body
        assert body["checks"]["marketdata_db"]["ok"] and body["checks"]["redis"]["ok"]
        assert body["checks"]["celery_heartbeat"]["age_seconds"] < 8
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
        assert stack.wait(timeout=60) == 0
        assert _health(port)[0] == 0  # nothing listens any more
    finally:
        if stack and stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
        subprocess.run(
            [sys.executable, "-m", "tradeflow.embedded", "down"],
            cwd=ROOT,
            env=env,
            timeout=60,
            check=False,
        )
