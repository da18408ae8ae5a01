"""The ingestion endpoints run on their own middleware stack (``tradeflow/ingest_stack.py``)
through both entry points; every other path keeps the browser's."""

from __future__ import annotations

import io
from wsgiref.util import setup_testing_defaults

import orjson
import pytest

from apps.accounts.services import feedkey_create
from apps.marketdata.services import symbol_upsert
from apps.marketdata.tests.test_sierra_and_queries import bar
from tests.asgi_calls import call, pool_connections_closed  # noqa: F401 (a fixture)
from tradeflow.wsgi import application as wsgi_app

pytestmark = pytest.mark.django_db(databases=["default", "marketdata"], transaction=True)


def wsgi(method: str, path: str, body: bytes = b"", **headers) -> tuple[int, dict, bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
    }
    environ |= {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {}
        for name, value in response_headers:
            answer["headers"].setdefault(name.lower(), []).append(value)

    chunks = wsgi_app(environ, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], body


def asgi(method: str, path: str, body: bytes = b"", **headers) -> tuple[int, dict, bytes]:
    raw = [(b"content-type", b"application/json")]
    raw += [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    status, answer, payload = call(path, method, body, raw)
    return status, {k.decode(): [v.decode() for v in vs] for k, vs in answer.items()}, payload


@pytest.fixture
def key():
    symbol_upsert(symbol="STACK", exchange="T", asset_type="commodities", tick_size="0.25")
    return feedkey_create(name="stack")[1]


@pytest.mark.parametrize("call", [wsgi, asgi], ids=["wsgi", "asgi"])
def test_a_bar_is_stored_without_the_browser_middleware(call, key):
    body = orjson.dumps(bar("2025-11-26 21:17:14", 100.0, "STACK"))
    status, headers, payload = call("POST", "/api/v1/market-data/", body, x_api_key=key)
    assert status == 200, payload
    assert orjson.loads(payload)["status"] == "success"
    # the security headers stay; no cookie, session or page policy is made for a feed
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["x-frame-options"] == ["DENY"]
    assert "set-cookie" not in headers and "content-security-policy" not in headers


@pytest.mark.parametrize("call", [wsgi, asgi], ids=["wsgi", "asgi"])
def test_refusals_keep_their_error_shape_on_the_ingestion_stack(call, key):
    body = orjson.dumps(bar("2025-11-26 21:17:14", 100.0, "STACK"))
    status, _, payload = call("POST", "/api/v1/market-data/ticks", body)  # no key
    assert status == 401 and "error" in orjson.loads(payload)
    status, _, payload = call("GET", "/api/v1/market-data/batch", x_api_key=key)
    assert status == 405 and "error" in orjson.loads(payload)
    status, _, payload = call("POST", "/api/v1/market-data/", b"{not json", x_api_key=key)
    assert status == 400 and orjson.loads(payload)["error"]["code"] == "invalid_payload"


@pytest.mark.parametrize("call", [wsgi, asgi], ids=["wsgi", "asgi"])
def test_every_other_path_keeps_the_browser_middleware(call):
    status, headers, _ = call("GET", "/accounts/login/")
    assert status == 200
    assert "default-src 'self'" in headers["content-security-policy"][0]
    assert any(c.strip().startswith("csrftoken=") for c in headers["set-cookie"])
    assert headers["cross-origin-opener-policy"] == ["unsafe-none"]  # settings.py says why
    # the bars query shares the ingestion prefix but is read by browsers (sessions)
    status, headers, _ = call("GET", "/api/v1/market-data/STACK")
    assert status in (401, 403) and "content-security-policy" in headers
