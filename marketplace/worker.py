"""The job worker: ``python -m marketplace.worker run|start|stop``.

- ``run``: the worker in the foreground (``make serve`` runs it this way, beside the web
  server): Procrastinate's worker on its own psycopg pool, ``JOBS_WORKER_CONCURRENCY`` jobs at
  once, deferring the periodic tasks of every ``<app>/tasks.py`` (unless
  ``JOBS_WORKER_PERIODIC=false``), deleting succeeded jobs
  (failed ones stay, for staff). SIGTERM stops it: running jobs get
  ``JOBS_WORKER_GRACEFUL_SECONDS`` to finish, then are aborted.
- ``start`` (``make run``): stop the worker named in ``.data/worker.pid`` if there is one (a
  second ``make run`` restarts it, never duplicates it), then start ``run`` in the background,
  in its own session, logging to ``.data/worker.log``.
- ``stop`` (``make stop``): SIGTERM to that worker, SIGKILL after ``--timeout`` seconds.

Only a process whose command line is this module's is ever signalled (a stale pid file may
name another process by now). This module imports Django only in ``run``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("MARKETPLACE_DATA_DIR", BASE_DIR / ".data"))
MODULE = "marketplace.worker"
STARTUP_CHECK_SECONDS = 2.0


def worker_command() -> list[str]:
    return [sys.executable, "-m", MODULE, "run"]


def run() -> int:
    """The worker in the foreground until SIGTERM or SIGINT; 0 after a clean stop."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    import django

    django.setup()
    from django.conf import settings
    from procrastinate.contrib.django import app, procrastinate_app
    from procrastinate.periodic import PeriodicRegistry

    logging.getLogger("procrastinate").setLevel(os.environ.get("PROCRASTINATE_LOG_LEVEL", "INFO"))
    if not settings.JOBS_WORKER_PERIODIC:  # queued jobs only; another worker defers the schedule
        procrastinate_app.current_app.periodic_registry = PeriodicRegistry()
    from marketplace.jobs import worker_connector

    # The Django connector (the web process's) cannot LISTEN; the worker gets a pool of its own
    # (jobs deferred by a task's code still go through Django's connection: worker_connector).
    with app.replace_connector(worker_connector()):
        app.run_worker(
            name=f"worker-{os.uname().nodename}-{os.getpid()}",
            concurrency=settings.JOBS_WORKER_CONCURRENCY,
            shutdown_graceful_timeout=settings.JOBS_WORKER_GRACEFUL_SECONDS,
            delete_jobs="successful",
            install_signal_handlers=True,
        )
    return 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
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


def running_pid(pid_file: Path) -> int | None:
    """The worker named in ``pid_file`` if it still runs (and is a worker), else None; a
    stale file is removed."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _alive(pid) and MODULE.encode() in _cmdline(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def stop(pid_file: Path, timeout: float) -> int:
    """SIGTERM to the worker in ``pid_file`` (only if it is ours), SIGKILL after ``timeout``."""
    pid = running_pid(pid_file)
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        print(f"worker {pid} still running after {timeout:.0f} s: killed", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print(f"job worker stopped (pid {pid})")
    return 0


def start(pid_file: Path, log_file: Path, timeout: float) -> int:
    """Restart: stop the running worker, start a new one in the background; 1 if it exits at
    once (its log's tail is printed)."""
    stop(pid_file, timeout)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    offset = log_file.stat().st_size if log_file.exists() else 0
    with open(log_file, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            worker_command(),
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make run`'s terminal; `make stop` ends it
        )
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + STARTUP_CHECK_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is not None:
        pid_file.unlink(missing_ok=True)
        with open(log_file, "rb") as log:
            log.seek(offset)
            print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
        print(f"job worker exited at once (status {process.returncode}); log: {log_file}", file=sys.stderr)
        return 1
    print(f"job worker started (pid {process.pid}); log: {log_file}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "start", "stop"])
    parser.add_argument("--pid-file", default=str(DATA_DIR / "worker.pid"))
    parser.add_argument("--log-file", default=str(DATA_DIR / "worker.log"))
    parser.add_argument("--timeout", type=float, default=30, help="stop: seconds before SIGKILL")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command == "start":
        return start(Path(args.pid_file), Path(args.log_file), args.timeout)
    return stop(Path(args.pid_file), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
