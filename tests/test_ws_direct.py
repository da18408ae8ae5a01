"""``tradeflow.ws_direct`` under a real daphne: it engages behind the product's WebSocket
stack, frames arrive intact and in order when the socket cannot take a frame at once
(Twisted keeps the rest and what follows waits behind it), and nothing is written once
the connection is closing. If daphne, autobahn or Twisted change what ``ws_direct``
relies on, this fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.ws_direct_app import BIG
from tradeflow.ws_direct import text_frame

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def probe_server(tmp_path):
    port = _free_port()
    report = tmp_path / "report.txt"
    env = os.environ | {"PYTHONPATH": str(ROOT), "WS_DIRECT_REPORT": str(report)}
    log = open(tmp_path / "daphne.log", "w")  # noqa: SIM115 - closed below
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        [*argv, "tests.ws_direct_app:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "daphne.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "daphne did not start within 60 s"
                time.sleep(0.2)
        yield port, report
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _connect(port: int):
    return connect(
        f"ws://127.0.0.1:{port}/probe/",
        origin=f"http://127.0.0.1:{port}",
        max_size=None,
        open_timeout=10,
    )


def test_frames_stay_whole_and_in_order_past_a_full_socket(probe_server):
    port, _ = probe_server
    with _connect(port) as ws:
        assert ws.recv(timeout=10) == "direct"  # engaged behind the product's stack
        ws.send("burst")
        time.sleep(0.5)  # let the server fill the socket before anything is read
        big = ws.recv(timeout=30)
        assert len(big) == BIG and big == "x" * BIG
        assert ws.recv(timeout=10) == "asgi-after:True"
        assert ws.recv(timeout=10) == "direct-after"


def test_nothing_is_written_once_the_connection_closes(probe_server):
    port, report = probe_server
    with _connect(port) as ws:
        assert ws.recv(timeout=10) == "direct"
        ws.send("close")
        with pytest.raises(Exception, match="1000"):
            ws.recv(timeout=10)
    deadline = time.monotonic() + 10
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert report.read_text() == "after close: False"


def test_text_frame_is_an_unmasked_final_text_frame():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"a" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"a" * 70_000)[:2] == b"\x81\x7f"
