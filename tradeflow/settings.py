"""TradeFlow settings: one file, every knob from a ``TRADEFLOW_*`` environment variable.

Unset variables fall back to embedded defaults (SQLite, a private PostgreSQL and a private
Redis under ``var/``, see ``tradeflow/embedded.py``) so that ``make run`` works on a fresh
clone. The README lists every variable; ``tests/test_settings.py`` keeps that list honest.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from tradeflow import embedded
from tradeflow.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = embedded.var_dir()

DEBUG = env_bool("TRADEFLOW_DEBUG", True)
SECRET_KEY = env_str("TRADEFLOW_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("TRADEFLOW_SECRET_KEY must be set when TRADEFLOW_DEBUG=false")
    SECRET_KEY = "insecure-dev-only-key-set-TRADEFLOW_SECRET_KEY-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("TRADEFLOW_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("TRADEFLOW_CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("TRADEFLOW_PORT", 8000, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "rest_framework_api_key",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "csp",
    "apps.accounts",
    "apps.marketdata",
    "apps.charts",
    "apps.social",
    "apps.alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tradeflow.urls"
ASGI_APPLICATION = "tradeflow.asgi.application"
WSGI_APPLICATION = "tradeflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases -------------------------------------------------------------------------
# ``default`` holds every ORM model (MariaDB in production, SQLite embedded).
# ``marketdata`` is the raw-SQL time-series store (PostgreSQL/TimescaleDB); the router in
# tradeflow/db_routers.py keeps ORM models off it.
_default_url = env_url("TRADEFLOW_DATABASE_URL", ["mysql", "sqlite"])
if _default_url is None or _default_url.startswith("sqlite"):
    _sqlite_path = VAR_DIR / "tradeflow.sqlite3"
    if _default_url and _default_url.startswith("sqlite:///"):
        _sqlite_path = Path(_default_url.removeprefix("sqlite:///"))
    _default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _sqlite_path,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        },
    }
else:
    _default_db = database_from_url(_default_url, name_default="tradeflow")

MARKETDATA_URL = env_url("TRADEFLOW_MARKETDATA_URL", ["postgresql", "postgres"]) or (
    embedded.postgres_url()
)
DATABASES = {
    "default": _default_db,
    "marketdata": database_from_url(MARKETDATA_URL, name_default="tradeflow_md"),
}
# psycopg prepares a statement its own cursors (server-side binding: bar reads) have run
# this many times; store/writes.py prepares the single-bar write itself. 0 turns prepared
# statements off everywhere (a pooler in transaction mode without prepared-statement
# support). Django's own cursors bind client-side and are never prepared; Django's default
# would be off.
DATABASES["marketdata"]["OPTIONS"]["prepare_threshold"] = (
    env_int("TRADEFLOW_MARKETDATA_PREPARE_THRESHOLD", 5, minimum=0) or None
)
DATABASE_ROUTERS = ["tradeflow.db_routers.MarketDataRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Channels layer, Celery broker, caches ---------------------------------------
REDIS_URL = env_url("TRADEFLOW_REDIS_URL", ["redis", "rediss", "unix"]) or embedded.redis_url()


def _celery_broker(url: str) -> str:
    # kombu spells unix sockets ``redis+socket://``; redis-py spells them ``unix://``.
    if url.startswith("unix://"):
        path, _, query = url.removeprefix("unix://").partition("?")
        return f"redis+socket://{path}" + (f"?virtual_host={query.split('=')[-1]}" if query else "")
    return url


# The pub/sub layer (per-consumer group_send on RedisChannelLayer saturates near 5k
# deliveries/s and drops silently; see DESIGN). Market data does not go through it at all:
# apps/marketdata/live_hub.py keeps one Redis subscription per process and symbol and
# hands each pre-encoded message to the local consumers.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "tf"},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tf",
    }
}

CELERY_BROKER_URL = _celery_broker(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
# A worker that has not written a heartbeat for this long is reported unhealthy.
HEARTBEAT_INTERVAL_SECONDS = env_int("TRADEFLOW_HEARTBEAT_SECONDS", 15, minimum=1)
HEARTBEAT_MAX_AGE_SECONDS = HEARTBEAT_INTERVAL_SECONDS * 4
# Every periodic job, in code and UTC. Each expires before its next run so that a stalled
# worker never finds a backlog of stale copies.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "tradeflow.heartbeat.beat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
        "options": {"expires": HEARTBEAT_INTERVAL_SECONDS * 0.9},
    },
    "marketdata-tick-retention": {
        "task": "marketdata.enforce_tick_retention",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
}

# --- Auth --------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "apps.accounts.backends.EmailBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env_int("TRADEFLOW_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("TRADEFLOW_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env_bool("TRADEFLOW_LOGIN_THROTTLE", True)

# Subscription tiers and their limits live here, not in code (SPEC section 1).
SUBSCRIPTION_TIERS = ["free", "essential", "plus", "premium", "pro"]
TIER_LIMITS = {
    "free": {
        "active_alerts": 5,
        "charts_per_layout": 2,
        "indicators_per_chart": 3,
        "saved_workspaces": 2,
    },
    "essential": {
        "active_alerts": 20,
        "charts_per_layout": 4,
        "indicators_per_chart": 5,
        "saved_workspaces": 5,
    },
    "plus": {
        "active_alerts": 100,
        "charts_per_layout": 4,
        "indicators_per_chart": 10,
        "saved_workspaces": 10,
    },
    "premium": {
        "active_alerts": 400,
        "charts_per_layout": 8,
        "indicators_per_chart": 25,
        "saved_workspaces": 50,
    },
    "pro": {
        "active_alerts": 1000,
        "charts_per_layout": 8,
        "indicators_per_chart": 50,
        "saved_workspaces": 200,
    },
}

# --- API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "apps.accounts.api.authentication.CachedJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.accounts.api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.accounts.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("TRADEFLOW_API_USER_RATE", "600/min"),
        "anon": env_str("TRADEFLOW_API_ANON_RATE", "60/min"),
    },
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.accounts.api.throttling.UserRateThrottle",
        "apps.accounts.api.throttling.AnonRateThrottle",
    ],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env_int("TRADEFLOW_JWT_ACCESS_MINUTES", 5, minimum=1)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("TRADEFLOW_JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TradeFlow API",
    "DESCRIPTION": "Market data ingestion (Sierra Chart, ticks), queries, indicators, order "
    "flow, workspaces, social and alerts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

# Anonymous clients may read public symbols' bars and live ticks only when this is on.
ALLOW_ANONYMOUS_MARKET_DATA = env_bool("TRADEFLOW_ALLOW_ANONYMOUS_MARKET_DATA", False)

# --- Market data -------------------------------------------------------------------------
INGEST_MAX_BATCH_ROWS = env_int("TRADEFLOW_INGEST_MAX_BATCH_ROWS", 50_000, minimum=1)
INGEST_MAX_BODY_BYTES = env_int("TRADEFLOW_INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024)
INGEST_RATE_PER_KEY = env_int("TRADEFLOW_INGEST_RATE_PER_KEY", 600, minimum=1)  # requests/10 s
TICK_RETENTION_DAYS = env_int("TRADEFLOW_TICK_RETENTION_DAYS", 90, minimum=0)  # 0 = keep all
BROADCAST_INTERVAL_MS = env_int("TRADEFLOW_BROADCAST_INTERVAL_MS", 100, minimum=10)
DEMO_FEED_SYMBOLS = env_list("TRADEFLOW_DEMO_SYMBOLS", ["SIM-ES", "SIM-BTC", "SIM-EUR"])
DEMO_TICKS_PER_SECOND = env_float("TRADEFLOW_DEMO_TICKS_PER_SECOND", 20.0, minimum=0.1)
DEMO_BACKFILL_HOURS = env_float("TRADEFLOW_DEMO_BACKFILL_HOURS", 24.0, minimum=0.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES

# --- Static, i18n, logging ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/lightweight-charts", BASE_DIR / "node_modules/lightweight-charts/dist"),
    ("vendor/htmx", BASE_DIR / "node_modules/htmx.org/dist"),
]
STATIC_ROOT = VAR_DIR / "staticfiles"
# ES modules the chart page imports to register more chart types/overlays (order flow).
CHART_PLUGINS = ["/static/charts/orderflow/index.js"]

LOG_LEVEL = env_choice("TRADEFLOW_LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Email (alerts, password resets) -----------------------------------------------------
EMAIL_BACKEND = env_str("TRADEFLOW_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("TRADEFLOW_DEFAULT_FROM_EMAIL", "TradeFlow <alerts@localhost>")

# --- Security ----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Cross-Origin-Opener-Policy: unsafe-none (the browser's default) unless the operator asks
# for more. With Django's default, same-origin, Chromium cannot load a page opened from a
# blank tab in that tab's renderer and starts a new one; in the chart_page benchmark the
# first candle came 70-130 ms later (ratio 1.29; without the header 1.07-1.25 over eight
# runs, median 1.14; README "Security headers"). Framing is refused (X-Frame-Options,
# frame-ancestors), no page opens other windows, and Chromium isolates sites by process
# without the header; what it would add is cutting the handle a cross-site opener keeps on
# our window.
SECURE_CROSS_ORIGIN_OPENER_POLICY = env_choice(
    "TRADEFLOW_OPENER_POLICY",
    "unsafe-none",
    ("unsafe-none", "same-origin-allow-popups", "same-origin"),
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("TRADEFLOW_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("TRADEFLOW_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] = ["'self'", "wss:"]
