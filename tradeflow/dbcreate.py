"""Create the configured databases when they are missing (``python -m tradeflow.dbcreate``).

``make run`` and ``make test`` call this before migrating, so pointing
``TRADEFLOW_DATABASE_URL``/``TRADEFLOW_MARKETDATA_URL`` at a fresh MariaDB/PostgreSQL server
just works. It connects to the server's maintenance database with the same credentials.
"""

from __future__ import annotations

import os
import sys


def _create_mysql(db: dict) -> str:
    import MySQLdb

    conn = MySQLdb.connect(
        host=db["HOST"],
        port=int(db["PORT"]),
        user=db["USER"],
        password=db["PASSWORD"],
        connect_timeout=5,
    )
    try:
        cursor = conn.cursor()
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{db['NAME']}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    finally:
        conn.close()
    return f"mysql {db['NAME']}: ok"


def _create_postgres(db: dict) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return f"postgresql {db['NAME']}: ok"
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    return f"postgresql {db['NAME']}: created"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeflow.settings")
    from django.conf import settings

    for alias, db in settings.DATABASES.items():
        engine = db["ENGINE"].rsplit(".", 1)[-1]
        try:
            if engine == "mysql":
                print(_create_mysql(db))
            elif engine == "postgresql":
                print(_create_postgres(db))
        except Exception as exc:  # report which server is unreachable, then fail
            print(
                f"cannot reach the {alias} database ({engine} at {db['HOST']}): {exc}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
