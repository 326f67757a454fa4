"""The production-style server: ``python -m marketplace.serve`` (``make serve``).

1. Production mode, always: ``DEBUG=false`` (so ``SECRET_KEY`` and ``ALLOWED_HOSTS`` are
   required), whatever the environment or ``.data/dev.env`` say.
2. ``manage.py check --deploy``: an error (e.g. ``STRIPE_MODE=local`` without
   ``ALLOW_SIMULATED_PAYMENTS``) stops here; warnings are printed.
3. ``collectstatic`` with the same settings as the server (manifest storage), so no page
   answers 500 for a missing manifest entry.
4. uvicorn with ``SERVE_WORKERS`` worker processes (default: one per core; HTTP and
   WebSockets), each with a database connection pool (``DB_POOL_MAX_SIZE``, 20), trusting
   ``X-Forwarded-*`` from ``SERVE_FORWARDED_ALLOW_IPS``. Media under ``MEDIA_URL`` is served by
   the application (``marketplace.media``) unless ``SERVE_MEDIA=false`` or S3 storage.
5. The job worker (``python -m marketplace.worker run``: emails, periodic jobs) beside the
   server, restarted if it dies; stopped with the server, within the same bound.
6. Bounded shutdown: on SIGTERM or SIGINT each worker gets ``SERVE_GRACEFUL_TIMEOUT``
   seconds to finish its requests (uvicorn's ``--timeout-graceful-shutdown``); a worker still
   alive ``SERVE_KILL_AFTER`` seconds later (a request stuck in a database call cannot be
   cancelled, and the interpreter waits for its thread) is killed with its whole process
   group. The runner exits 0 after a clean stop.

``python -m marketplace.serve stop`` (``make stop``) sends SIGTERM to the runner named in
the pid file and waits for it. This module imports Django only when serving.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MARKETPLACE_DATA_DIR", BASE_DIR / ".data"))
DEFAULT_PID_FILE = DATA_DIR / "serve.pid"
PR_SET_PDEATHSIG = 1
WORKER_RESTART_DELAY = 5  # seconds before a job worker that died is started again
# Connections per worker process: its request threads and its messaging sockets' database
# threads (MESSAGE_SOCKET_DB_THREADS, 16) each hold one while they query.
DEFAULT_POOL_MAX_SIZE = 20


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The server gets SIGTERM if the runner itself is killed (no orphaned workers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def prepare(args: argparse.Namespace) -> dict:
    """Production settings checked and static files collected; the server's options."""
    os.environ["DEBUG"] = "false"
    # Each worker borrows database connections from a pool of its own (psycopg's, Django's
    # "pool" option) unless DB_POOL_MAX_SIZE says otherwise (0: off). Under ASGI every request
    # runs on a fresh thread, so without a pool each one opens (and forks) a new PostgreSQL
    # connection, and CONN_MAX_AGE would leave one open per finished thread. The workers inherit
    # the environment.
    os.environ.setdefault("DB_POOL_MAX_SIZE", str(DEFAULT_POOL_MAX_SIZE))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as error:
        raise SystemExit(f"serve: {error}") from None
    from django.conf import settings
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.db import connections

    if not settings.ALLOWED_HOSTS:
        raise SystemExit(
            "serve: ALLOWED_HOSTS is empty, so every request would be refused (400). Set it to the "
            "site's host names, e.g. ALLOWED_HOSTS=marketplace.example.com (127.0.0.1 to try locally)."
        )
    try:
        call_command("check", deploy=True, fail_level="ERROR")
    except SystemCheckError as error:
        raise SystemExit(f"serve: refusing to start.\n{error}") from None
    call_command("collectstatic", interactive=False, verbosity=0)
    connections.close_all()
    return {
        "workers": args.workers or settings.SERVE_WORKERS,
        "graceful": settings.SERVE_GRACEFUL_TIMEOUT,
        "kill_after": settings.SERVE_KILL_AFTER,
        "forwarded_allow_ips": settings.SERVE_FORWARDED_ALLOW_IPS,
    }


def uvicorn_command(host: str, port: int, options: dict) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "marketplace.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(options["workers"]),
        "--timeout-graceful-shutdown",
        str(options["graceful"]),
        "--lifespan",
        "off",  # Django and Channels have no lifespan handler
        "--proxy-headers",
        "--forwarded-allow-ips",
        options["forwarded_allow_ips"],
        "--no-server-header",
    ]


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: workers orphaned by a
    killed supervisor are reaped by init, which in a container may never do it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat_file in proc.glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            return True
    return False


def run(args: argparse.Namespace) -> int:
    """Prepare and serve; the pid file names this runner from the start (`stop` works while
    it checks and collects too) until it exits."""
    pid_file = Path(args.pid_file)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return _serve(args)
    finally:
        if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()


def _serve(args: argparse.Namespace) -> int:
    options = prepare(args)
    stopping: list[int] = []
    started: list[subprocess.Popen] = []

    def on_signal(signum, frame) -> None:
        if not stopping:
            stopping.append(signum)
            print(f"serve: {signal.Signals(signum).name}: stopping (bounded)", file=sys.stderr, flush=True)
            for server in started:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGTERM)

    # Before the server starts, so that no signal falls between the two.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Its own process group, so that the whole server (supervisor and workers) can be killed
    # at once when the bound is reached; the runner forwards the signals it gets.
    server = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        uvicorn_command(args.host, args.port, options),
        cwd=BASE_DIR,
        process_group=0,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - the runner is single-threaded
    )
    started.append(server)
    # The job worker (emails, periodic jobs), in its own group too: stopped with the server.
    worker = _start_worker()
    started.append(worker)
    if stopping:  # a signal came while they were starting
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
    print(
        f"serve: http://{args.host}:{args.port}/ with {options['workers']} workers (pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )
    try:
        while server.poll() is None and not stopping:
            if worker.poll() is not None and not stopping:  # the worker died: start another
                print(
                    f"serve: job worker exited ({worker.returncode}), restarting", file=sys.stderr, flush=True
                )
                time.sleep(WORKER_RESTART_DELAY)
                if not stopping:
                    started.remove(worker)
                    worker = _start_worker()
                    started.append(worker)
            time.sleep(0.2)
        if stopping:
            deadline = time.monotonic() + options["graceful"] + options["kill_after"]
            while any(group_alive(p.pid) for p in started) and time.monotonic() < deadline:
                for process in started:
                    process.poll()
                time.sleep(0.1)
            for process in started:
                if group_alive(process.pid):
                    name = "the server" if process is server else "the job worker"
                    print(f"serve: shutdown bound reached, killing {name}", file=sys.stderr, flush=True)
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return 0
        return server.returncode or 1  # the server died on its own
    finally:
        for process in started:
            if group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)


def _start_worker() -> subprocess.Popen:
    from marketplace.worker import worker_command

    return subprocess.Popen(  # noqa: S603 - our interpreter, our module
        worker_command(),
        cwd=BASE_DIR,
        process_group=0,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - the runner is single-threaded
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stop(args: argparse.Namespace) -> int:
    """SIGTERM to the runner in the pid file (only if it is ours), then wait for it."""
    pid_file = Path(args.pid_file)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if not _pid_alive(pid) or b"marketplace.serve" not in cmdline:
        pid_file.unlink(missing_ok=True)  # stale: the pid may name another process by now
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print("production-style server stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marketplace.serve", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "stop"], default="run")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=0, help="default: SERVE_WORKERS")
    parser.add_argument("--pid-file", default=str(DEFAULT_PID_FILE))
    parser.add_argument("--timeout", type=float, default=60, help="stop: seconds before SIGKILL")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
