"""Test-suite plumbing shared by every app.

Tests talk to real MariaDB, PostgreSQL and Redis (``make test`` points the TRADEFLOW_*
URLs at localhost). When one of them is unreachable: with ``CI=true`` the run fails at
once; otherwise the tests that need it are skipped with a one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
ARTIFACTS = ROOT / "var" / "test-artifacts"
CI = os.environ.get("CI", "").lower() == "true"
SERVICE_FIXTURES = {
    "db",
    "transactional_db",
    "live_server",
    "admin_client",
    "admin_user",
    "django_user_model",
    "redis_client",
    "md_db",
    "live_stack",
}

# Playwright's sync API runs an event loop in the test thread; Django's async-safety
# check would then refuse the ORM calls the tests make around it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

_unavailable: list[str] = []


def _probe_services() -> list[str]:
    from django.conf import settings

    problems = []
    default = settings.DATABASES["default"]
    if default["ENGINE"].endswith("mysql"):
        try:
            import MySQLdb

            MySQLdb.connect(
                host=default["HOST"],
                port=int(default["PORT"]),
                user=default["USER"],
                password=default["PASSWORD"],
                connect_timeout=3,
            ).close()
        except Exception as exc:
            problems.append(f"MariaDB at {default['HOST']}:{default['PORT']} ({exc})")
    md = settings.DATABASES["marketdata"]
    try:
        import psycopg

        psycopg.connect(
            host=md["HOST"], port=md["PORT"], user=md["USER"], dbname="postgres", connect_timeout=3
        ).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {md['HOST']}:{md['PORT']} ({str(exc).strip()[:120]})")
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        problems.append(f"Redis at {settings.REDIS_URL} ({exc})")
    return problems


def pytest_sessionstart(session):
    from django.conf import settings

    if not settings.configured:  # e.g. `-p no:django` for the pure-library suites
        return
    _unavailable.extend(_probe_services())
    if _unavailable and CI:
        pytest.exit(
            "CI=true and required services are unreachable: " + "; ".join(_unavailable),
            returncode=1,
        )


def pytest_report_header(config):
    return "services: " + (
        "all reachable" if not _unavailable else "UNREACHABLE " + "; ".join(_unavailable)
    )


def pytest_collection_modifyitems(config, items):
    if not _unavailable:
        return
    skip = pytest.mark.skip(reason="service unavailable: " + "; ".join(_unavailable))
    for item in items:
        needs = (
            item.get_closest_marker("django_db")
            or item.get_closest_marker("services")
            or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        if needs:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After pytest-django creates the test databases, apply the market-data schema."""
    from django.db import connections

    from apps.marketdata.store import migrate

    with django_db_blocker.unblock():
        if connections["marketdata"].settings_dict["NAME"].startswith("test_"):
            migrate.apply_all(log=lambda *_: None)
    yield


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Per-process memo caches must not leak rows of rolled-back test transactions."""
    from tradeflow.memo import clear_all

    clear_all()
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def redis_client():
    """The test Redis database, emptied before and after the test."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="module")
def browser():
    """A real headless Chromium (Debian's) driven by Playwright.

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the test
    thread while it is open, which would break later tests that use ``asyncio.run``."""
    from playwright.sync_api import sync_playwright

    executable = "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (make test installs it)")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    yield page
    context.close()
