"""The static-file front of ``apps.charts.asgi_static`` (browser tests, benchmarks)."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from apps.charts.asgi_static import application


def call(path: str, method: str = "GET", headers: list | None = None) -> tuple[int, dict, bytes]:
    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def test_it_serves_project_and_vendor_files_with_gzip_and_etags():
    status, headers, body = call("/static/charts/pane.js")
    assert status == 200 and headers[b"content-type"].startswith(b"text/javascript")
    assert b"class ChartPane" in body
    status, headers, packed = call(
        "/static/charts/pane.js", headers=[(b"accept-encoding", b"gzip, br")]
    )
    assert headers[b"content-encoding"] == b"gzip" and gzip.decompress(packed) == body
    status, _, _ = call("/static/charts/pane.js", headers=[(b"if-none-match", headers[b"etag"])])
    assert status == 304
    status, _, lwc = call(
        "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
    )
    assert status == 200 and b"LightweightCharts" in lwc


@pytest.mark.parametrize(
    "path",
    [
        "/static/../tradeflow/settings.py",
        "/static/%2e%2e/tradeflow/settings.py",
        "/static/charts/../../manage.py",
        "/static/",
        "/static/nope.js",
    ],
)
def test_it_answers_404_outside_the_static_files(path):
    assert call(path)[0] == 404


def test_it_refuses_writes():
    assert call("/static/charts/pane.js", method="POST")[0] == 405
