"""Settings: typed env helpers fail loudly, production settings pass check --deploy, and
the README documents every TRADEFLOW_* variable."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tradeflow import env

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("helper", "value", "kwargs"),
    [
        (env.env_bool, "maybe", {"default": False}),
        (env.env_int, "12x", {"default": 1}),
        (env.env_int, "0", {"default": 1, "minimum": 1}),
        (env.env_float, "nan", {"default": 1.0}),
        (env.env_choice, "LOUD", {"default": "INFO", "choices": ["INFO", "DEBUG"]}),
        (env.env_url, "ftp://x", {"schemes": ["mysql"]}),
    ],
)
def test_it_rejects_bad_values(monkeypatch, helper, value, kwargs):
    monkeypatch.setenv("TRADEFLOW_X", value)
    with pytest.raises(ImproperlyConfigured, match="TRADEFLOW_X"):
        helper("TRADEFLOW_X", **kwargs)


def test_it_parses_good_values(monkeypatch):
    monkeypatch.setenv("TRADEFLOW_X", " yes ")
    assert env.env_bool("TRADEFLOW_X", False) is True
    monkeypatch.setenv("TRADEFLOW_X", "a, b,,c")
    assert env.env_list("TRADEFLOW_X") == ["a", "b", "c"]
    monkeypatch.setenv("TRADEFLOW_X", "")
    assert env.env_int("TRADEFLOW_X", 7) == 7


def test_it_parses_database_urls():
    mysql = env.database_from_url("mysql://root@127.0.0.1/tradeflow", name_default="x")
    assert (mysql["ENGINE"], mysql["NAME"], mysql["USER"], mysql["PORT"]) == (
        "django.db.backends.mysql",
        "tradeflow",
        "root",
        "3306",
    )
    pg = env.database_from_url("postgresql://postgres@/md?host=/tmp/run", name_default="x")
    assert (pg["HOST"], pg["NAME"]) == ("/tmp/run", "md")


def _manage(*args, extra_env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADEFLOW_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | extra_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_check_in_production():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        extra_env={
            "TRADEFLOW_DEBUG": "false",
            "TRADEFLOW_SECRET_KEY": "k3J9x-production-secret-" + "q" * 40,
            "TRADEFLOW_ALLOWED_HOSTS": "charts.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "policy"),
    [(None, "unsafe-none"), ("same-origin", "same-origin"), ("same-site", None)],
)
def test_it_takes_the_opener_policy_from_the_environment(value, policy):
    extra = {} if value is None else {"TRADEFLOW_OPENER_POLICY": value}
    code = "from django.conf import settings; print(settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)"
    result = _manage("shell", "--no-imports", "-c", code, extra_env=extra)
    if policy is None:  # not a policy: refused, naming the variable
        assert result.returncode != 0
        assert "TRADEFLOW_OPENER_POLICY" in result.stderr
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == policy


def test_it_refuses_production_without_a_secret():
    result = _manage("check", extra_env={"TRADEFLOW_DEBUG": "false"})
    assert result.returncode != 0
    assert "TRADEFLOW_SECRET_KEY" in result.stderr


def test_it_documents_every_variable_in_the_readme():
    source = (ROOT / "tradeflow" / "settings.py").read_text()
    used = set(re.findall(r'"(TRADEFLOW_[A-Z_]+)"', source))
    used |= set(
        re.findall(r"(TRADEFLOW_[A-Z_]+)", (ROOT / "tradeflow" / "embedded.py").read_text())
    )
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in used if v not in readme)
    assert not missing, f"README does not document {missing}"
