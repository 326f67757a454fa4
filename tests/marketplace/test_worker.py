"""The job worker as a real process, started the way `make run` starts it
(``python -m marketplace.worker start``): it runs a periodic job, beats, is restarted (not
duplicated) by a second start, and `make stop`'s stop path ends it within its bound."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

from marketplace.jobs import worker_heartbeat_age
from marketplace.tasks import PROBE_CACHE_KEY
from tests.marketplace.test_serve import database_url

BASE_DIR = Path(settings.BASE_DIR)
STARTUP_SECONDS = 120  # Django starts slowly on two shared cores
STOP_BOUND = 15

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def recipe(target: str) -> str:
    found = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", (BASE_DIR / "Makefile").read_text(), re.M)
    assert found, target
    return found[1]


def worker(command: str, env: dict, timeout: float = STARTUP_SECONDS) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our interpreter, our module
        [sys.executable, "-m", "marketplace.worker", command],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout} s; worker log:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def test_make_run_starts_a_worker_that_runs_periodic_jobs_and_make_stop_stops_it(tmp_path):
    assert "$(BIN)/python -m marketplace.worker start" in recipe("run")
    assert "$(BIN)/python -m marketplace.worker stop" in recipe("stop")
    env = {
        **{name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "true",
        "MARKETPLACE_DATA_DIR": str(tmp_path),  # its pid file and log
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "JOBS_PROBE_CRON": "* * * * * */2",  # every two seconds
        "JOBS_WORKER_GRACEFUL_SECONDS": "5",
    }
    pid_file, log = tmp_path / "worker.pid", tmp_path / "worker.log"
    pids = []
    try:
        started = worker("start", env)
        assert started.returncode == 0, started.stderr + log.read_text()
        pids.append(int(pid_file.read_text()))
        assert alive(pids[0])

        # A periodic job, deferred and run by the worker, on its schedule.
        wait_for(lambda: cache.get(PROBE_CACHE_KEY), 60, "a periodic probe job", log)
        age = worker_heartbeat_age()
        assert age is not None and age < 30

        # A second `make run` restarts the worker: the old one is gone, one runs.
        cache.delete(PROBE_CACHE_KEY)
        restarted = worker("start", env)
        assert restarted.returncode == 0, restarted.stderr
        pids.append(int(pid_file.read_text()))
        assert pids[1] != pids[0] and not alive(pids[0]) and alive(pids[1])
        wait_for(lambda: cache.get(PROBE_CACHE_KEY), 60, "a probe run by the restarted worker", log)

        # `make stop`: SIGTERM, the worker stops cleanly (and unregisters) within the bound.
        began = time.monotonic()
        stopped = worker("stop", env, timeout=60)
        elapsed = time.monotonic() - began
        assert stopped.returncode == 0, stopped.stderr
        assert not alive(pids[1])
        assert elapsed < STOP_BOUND, f"stop took {elapsed:.1f} s"
        assert not pid_file.exists()
        assert "killed" not in stopped.stderr  # stopped by SIGTERM, not SIGKILL
        assert worker_heartbeat_age() is None  # unregistered: no worker left
        assert worker("stop", env, timeout=60).returncode == 0  # nothing to stop: fine
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
