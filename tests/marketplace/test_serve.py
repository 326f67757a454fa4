"""The production-style server (`make serve`: python -m marketplace.serve) as a real process.

It runs what `make serve` runs, on a free port, against this run's test database and Redis
namespace, with its own STATIC_ROOT and MEDIA_ROOT: pages render with the collected (hashed)
static files, photos and avatars answer 200 as images, and SIGTERM stops the whole server
within its bound even while a request is stuck in the database.
"""

import contextlib
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from listings.photos import photo_add
from marketplace.embedded import free_port
from marketplace.serve import group_alive
from tests.factories import ListingFactory, SellerFactory
from tests.images import image_bytes

BASE_DIR = Path(settings.BASE_DIR)
GRACEFUL, KILL_AFTER = 2, 2
BOUND = GRACEFUL + KILL_AFTER
# Over plain HTTP, as a TLS proxy would: DEBUG=false turns on SECURE_SSL_REDIRECT.
HTTPS = {"X-Forwarded-Proto": "https"}
# In the default selection (make test, CI); `-m server` runs it alone.
pytestmark = pytest.mark.server
STARTUP_SECONDS = 180  # collectstatic compresses every file; two cores shared with other work


def database_url() -> str:
    """This run's test database as a DATABASE_URL (Unix socket directory as ``host``)."""
    db = connection.settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    address = db["HOST"] + (f":{db['PORT']}" if db["PORT"] else "")
    options = {key: value for key, value in db["OPTIONS"].items() if isinstance(value, str | int)}
    return f"postgres://{auth}@{address}/{db['NAME']}" + (f"?{urlencode(options)}" if options else "")


def serve_command() -> list[str]:
    """The command of the Makefile's ``serve`` recipe, with this interpreter."""
    recipe = re.search(r"^serve:.*?\n\t(?P<command>[^\n]+)", (BASE_DIR / "Makefile").read_text(), re.M | re.S)
    assert recipe and "$(BIN)/python -m marketplace.serve" in recipe["command"]
    return [sys.executable, "-m", "marketplace.serve"]


def server_env(tmp_path: Path, **extra) -> dict:
    # Not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE: `check --deploy` refuses it (async.E001).
    inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "ALLOW_SIMULATED_PAYMENTS": "true",  # localstripe in tests: a production-like demo
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],  # cleared after the run
        "CHANNEL_LAYER_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SERVE_WORKERS": "2",
        "SERVE_GRACEFUL_TIMEOUT": str(GRACEFUL),
        "SERVE_KILL_AFTER": str(KILL_AFTER),
        # The job worker runs queued jobs only: no periodic job may touch the locked table below.
        "JOBS_WORKER_PERIODIC": "false",
        **extra,
    }


def get(port: int, path: str, headers=None, timeout: float = 10) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={**HTTPS, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_until_up(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
        try:
            if get(port, "/health/", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"serve did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db(transaction=True)
def test_make_serve_serves_pages_static_files_and_media_and_stops_within_its_bound(media_root, tmp_path):
    seller = SellerFactory(first_name="Serena")
    seller.avatar.save("avatar.png", ContentFile(image_bytes("PNG", size=(32, 32))), save=True)
    listing = ListingFactory(seller=seller, title="Walnut writing desk", slug="walnut-writing-desk")
    upload = SimpleUploadedFile("desk.jpg", image_bytes(size=(320, 240)), content_type="image/jpeg")
    photo_add(listing=listing, actor=seller, upload=upload)
    listing.refresh_from_db()

    port, pid_file = free_port(), tmp_path / "pid"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [*serve_command(), "--host", "127.0.0.1", "--port", str(port), "--pid-file", str(pid_file)],
            cwd=BASE_DIR,
            env=server_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a service manager starts it
        )
    groups = [process.pid]
    try:
        wait_until_up(process, port, log)
        assert pid_file.read_text().strip() == str(process.pid)
        started = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children(process.pid)}
        # uvicorn's supervisor (leader of the server's group) and the job worker (its own group).
        [server] = [pid for pid, cmdline in started.items() if b"uvicorn" in cmdline]
        [job_worker] = [pid for pid, cmdline in started.items() if b"marketplace.worker" in cmdline]
        groups += [server, job_worker]
        workers = [
            pid for pid in children(server) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2  # SERVE_WORKERS worker processes

        # Production mode: plain HTTP (no TLS proxy in front) is redirected to HTTPS.
        status, headers, _ = get(port, "/", headers={"X-Forwarded-Proto": "http"})
        assert (status, headers["location"]) == (301, f"https://127.0.0.1:{port}/")

        # Home page, with the collected (hashed) stylesheet.
        status, _, body = get(port, "/")
        assert status == 200, body[:2000]
        page = body.decode()
        assert "Walnut writing desk" in page
        stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, "the home page links the manifest's hashed stylesheet"
        status, headers, body = get(port, stylesheet[1])
        assert (status, headers["content-type"].split(";")[0]) == (200, "text/css")
        assert b"{" in body

        # A listing page with its photo; the photo and its thumbnail are images.
        status, _, body = get(port, f"/listings/{listing.slug}/")
        assert status == 200, body[:2000]
        photo = listing.images[0]
        for url in (photo["url"], photo["thumb_url"]):
            assert url.startswith("/media/")
            status, headers, image = get(port, url)
            assert (status, headers["content-type"]) == (200, "image/jpeg"), url
            assert image.startswith(b"\xff\xd8") and int(headers["content-length"]) == len(image)
        assert photo["url"] in body.decode()

        # The seller's avatar on the public profile.
        status, _, body = get(port, f"/users/{seller.pk}/")
        assert status == 200
        assert seller.avatar.url in body.decode()
        status, headers, image = get(port, seller.avatar.url)
        assert (status, headers["content-type"]) == (200, "image/png")
        assert image.startswith(b"\x89PNG")

        # Unknown media is a plain 404, and nothing outside MEDIA_ROOT is reachable.
        assert get(port, "/media/listings/none.jpg")[0] == 404
        assert get(port, "/media/%2e%2e/manage.py")[0] == 404
        assert get(port, "/static/css/none.css")[0] == 404

        # Neither a request stuck in the database (lock the listings table, start a search) nor
        # a worker that does not react to SIGTERM at all (the other one, stopped) holds the
        # shutdown past its bound: uvicorn cancels the first after SERVE_GRACEFUL_TIMEOUT, the
        # runner kills the whole server SERVE_KILL_AFTER seconds later.
        stuck_connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        stuck_connection.connect()
        stuck = threading.Thread(target=_ignore_errors, args=(_search, stuck_connection))
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE listings_listing IN ACCESS EXCLUSIVE MODE")
            stuck.start()
            _wait_for_a_blocked_query()
            busy = worker_holding(workers, port, stuck_connection.sock.getsockname()[1])
            [idle] = [pid for pid in workers if pid != busy]
            os.kill(idle, signal.SIGSTOP)
            started = time.monotonic()
            os.killpg(process.pid, signal.SIGTERM)
            try:
                returncode = process.wait(timeout=BOUND + 10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"serve still running {BOUND + 10} s after SIGTERM:\n{log.read_text()}")
            elapsed = time.monotonic() - started
        stuck.join(timeout=30)
        stuck_connection.close()
        output = log.read_text()
        assert returncode == 0, output
        assert elapsed <= BOUND + 3, f"shutdown took {elapsed:.1f} s (bound {BOUND} s)\n{output}"
        assert not group_alive(process.pid) and not group_alive(server), "every server process is gone"
        assert not group_alive(job_worker), "the job worker is gone too"
        assert "timeout graceful shutdown exceeded" in output  # the stuck request was cancelled
        assert "killing the server" in output  # the stopped worker was killed at the bound
        assert not pid_file.exists()
    finally:
        for group in groups:
            if group_alive(group):
                os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)


def _search(connection: http.client.HTTPConnection) -> None:
    connection.request("GET", "/search/?q=walnut", headers=HTTPS)
    connection.getresponse().read()


def worker_holding(workers: list[int], server_port: int, client_port: int) -> int:
    """The worker process whose socket is the server side of the client's connection."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, remote_port = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            if (local_port, remote_port) == (server_port, client_port):
                inodes.add(f"socket:[{fields[9]}]")
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return pid
    pytest.fail("no worker holds the connection")


def _ignore_errors(function, *args, **kwargs):
    with contextlib.suppress(OSError):
        function(*args, **kwargs)


def _wait_for_a_blocked_query(timeout: float = 30) -> None:
    """Until another backend of this database waits for a lock (the search's query)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh statistics inside a transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.1)
    pytest.fail("the search never reached the locked table")


def run_serve(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    port = free_port()
    return subprocess.run(  # noqa: S603 - our interpreter, our module
        [*serve_command(), "--port", str(port), "--pid-file", str(tmp_path / "pid")],
        cwd=BASE_DIR,
        env={k: v for k, v in server_env(tmp_path, **env).items() if v is not None},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # DEBUG=true in the environment is overridden: serve is production mode.
        ({"DEBUG": "true", "STRIPE_MODE": "local", "ALLOW_SIMULATED_PAYMENTS": None}, "marketplace.E001"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be set when DEBUG is false"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
    ],
)
def test_serve_refuses_to_start_with_a_production_fault(tmp_path, env, message):
    result = run_serve(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Uvicorn running" not in result.stderr
    assert not (tmp_path / "pid").exists() and not (tmp_path / "static").exists()  # nothing collected


def _fake_runner(*marker: str) -> subprocess.Popen:
    """A process whose command line names ``marker`` and that exits on SIGTERM."""
    return subprocess.Popen(  # noqa: S603 - our interpreter
        [sys.executable, "-c", "import time\nwhile True: time.sleep(0.1)", *marker],
        start_new_session=True,
    )


def test_stop_terminates_the_runner_named_in_the_pid_file(tmp_path):
    stop_recipe = re.search(r"^stop:\n((?:\t[^\n]+\n)+)", (BASE_DIR / "Makefile").read_text(), re.M)
    assert stop_recipe and "$(BIN)/python -m marketplace.serve stop" in stop_recipe[1]  # make stop
    runner = _fake_runner("marketplace.serve")
    pid_file = tmp_path / "serve.pid"
    pid_file.write_text(f"{runner.pid}\n")
    try:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "marketplace.serve", "stop", "--pid-file", str(pid_file)],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert runner.wait(timeout=5) == -signal.SIGTERM
        assert "stopped" in result.stdout
        assert not pid_file.exists()
    finally:
        runner.kill()
        runner.wait()


def test_stop_never_signals_a_process_that_is_not_the_runner(tmp_path):
    other = _fake_runner("something-else")  # a stale pid file's pid, reused
    pid_file = tmp_path / "serve.pid"
    pid_file.write_text(f"{other.pid}\n")
    try:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "marketplace.serve", "stop", "--pid-file", str(pid_file)],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0
        assert other.poll() is None  # still running
        assert not pid_file.exists()  # the stale file is gone
        # No pid file at all: nothing to stop, `make stop` goes on.
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "marketplace.serve", "stop", "--pid-file", str(pid_file)],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0
    finally:
        other.kill()
        other.wait()


@pytest.mark.django_db(transaction=True)
def test_serve_stops_cleanly_within_ten_seconds_of_sigterm_under_load(tmp_path):
    """`make serve` with its default shutdown settings, 8 client threads sending page requests
    back to back (home, search, a listing page): SIGTERM ends every server process within 10 s,
    without the runner having to kill anything, and exits 0."""
    listing = ListingFactory(title="Walnut writing desk", slug="walnut-writing-desk")
    port, pid_file = free_port(), tmp_path / "pid"
    log = tmp_path / "serve.log"
    env = server_env(tmp_path)
    for name in ("SERVE_GRACEFUL_TIMEOUT", "SERVE_KILL_AFTER"):  # the defaults, as `make serve` has them
        env.pop(name)
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [*serve_command(), "--host", "127.0.0.1", "--port", str(port), "--pid-file", str(pid_file)],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    groups = [process.pid]
    answered: list[int] = []
    stop = threading.Event()
    paths = ["/", "/search/?q=walnut", f"/listings/{listing.slug}/", "/robots.txt"]

    def client(offset: int) -> None:
        connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = offset
        while not stop.is_set():
            try:
                connection_.request("GET", paths[n % len(paths)], headers=HTTPS)
                response = connection_.getresponse()
                response.read()
                answered.append(response.status)
            except (OSError, http.client.HTTPException):
                connection_.close()  # the server closed it (shutting down): open a new one
                if stop.wait(0.05):
                    break
            n += 1
        connection_.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
    try:
        wait_until_up(process, port, log)
        groups += children(process.pid)  # uvicorn's supervisor and the job worker, each a group
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(answered) < 40 and time.monotonic() < deadline:  # the load is on
            time.sleep(0.1)
        assert len(answered) >= 40, log.read_text()[-3000:]
        assert set(answered) == {200}, sorted(set(answered))
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running 30 s after SIGTERM under load:\n{log.read_text()[-3000:]}")
        elapsed = time.monotonic() - started
        output = log.read_text()
        assert returncode == 0, output[-3000:]
        assert elapsed <= 10, f"shutdown under load took {elapsed:.1f} s"
        assert "shutdown bound reached" not in output  # every process stopped by itself
        assert not any(group_alive(group) for group in groups), "every server process is gone"
        assert not pid_file.exists()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for group in groups:
            if group_alive(group):
                os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)
