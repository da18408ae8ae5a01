"""Versioned SQL migrations for the market-data database.

Files in ``schema/`` named ``NNNN_name.sql`` are applied in order, each in its own
transaction, and recorded in ``md_schema_migrations``. Where the ``timescaledb`` extension
is available, ``schema/timescale/NNNN_*.sql`` with the same number runs right after its
native counterpart (hypertables, compression, continuous aggregates); on plain PostgreSQL
the native tables and the store's own rollups are used.
"""

from __future__ import annotations

from pathlib import Path

from apps.marketdata.store.db import atomic, connection

SCHEMA_DIR = Path(__file__).parent / "schema"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS md_schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    timescale boolean NOT NULL DEFAULT false
)
"""
APPLIED = "SELECT version FROM md_schema_migrations"
RECORD = "INSERT INTO md_schema_migrations (version, timescale) VALUES (%(version)s, %(ts)s)"
TIMESCALE_AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"


def timescale_available() -> bool:
    with connection().cursor() as cursor:
        cursor.execute(TIMESCALE_AVAILABLE)
        return cursor.fetchone() is not None


def pending() -> list[Path]:
    with connection().cursor() as cursor:
        cursor.execute(CREATE_MIGRATIONS_TABLE)
        cursor.execute(APPLIED)
        done = {row[0] for row in cursor.fetchall()}
    return [p for p in sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")) if p.stem not in done]


def apply_all(log=print) -> list[str]:
    use_timescale = timescale_available()
    applied = []
    for path in pending():
        extra = SCHEMA_DIR / "timescale" / path.name
        with atomic(), connection().cursor() as cursor:
            cursor.execute(path.read_text())
            if use_timescale and extra.exists():
                cursor.execute(extra.read_text())
            cursor.execute(RECORD, {"version": path.stem, "ts": use_timescale})
        log(
            f"applied {path.stem}" + (" (+timescaledb)" if use_timescale and extra.exists() else "")
        )
        applied.append(path.stem)
    return applied
