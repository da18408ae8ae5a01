"""Benchmark settings: the product's settings plus a baseline view (benchmarks/urls.py)."""

from tradeflow.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
