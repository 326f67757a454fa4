"""Health: ``/healthz`` (alive, touches nothing), ``/readyz`` and ``manage.py healthcheck``
(each part's status and latency; 503 / exit 1 when a required part is down), ``/health/``
kept for existing probes. Redis is a private redis-server that the tests stop and start."""

import http.server
import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from marketplace.embedded import free_port
from marketplace.health import readiness
from tests.messaging.test_live_servers import PrivateRedis

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_redis(tmp_path, settings):
    """Redis for the cache and the channel layer is a private server (test_live_servers')."""
    server = PrivateRedis(tmp_path)
    server.start()
    caches = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    layers = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [server.url]}}}
    with override_settings(CACHES=caches, CHANNEL_LAYERS=layers):
        yield server
    server.stop()


@pytest.fixture
def worker():
    """A job worker that beat just now."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (clock_timestamp())")


def healthcheck(*args) -> str:
    out = StringIO()
    call_command("healthcheck", *args, stdout=out)
    return out.getvalue()


def test_healthz_answers_without_the_database_or_redis(client, django_assert_num_queries, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_each_part_with_its_latency(client, worker):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for name in ("database", "redis", "channel_layer", "jobs"):
        part = body["parts"][name]
        assert part["status"] == "ok", (name, part)
        assert isinstance(part["latency_ms"], float) and part["latency_ms"] >= 0
    assert body["parts"]["database"]["required"] is True
    assert body["parts"]["stripe"]["status"] == "skipped"  # local mode: no real keys


def test_healthcheck_fails_when_redis_stops_and_recovers_when_it_returns(client, private_redis, worker):
    assert "overall: ok" in healthcheck()
    assert client.get("/readyz").status_code == 200

    private_redis.stop()
    with pytest.raises(CommandError) as down:
        healthcheck()
    assert down.value.returncode == 1
    assert "redis" in str(down.value) and "channel_layer" in str(down.value)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["parts"]["redis"]["status"] == "down"
    assert body["parts"]["database"]["status"] == "ok"
    # The public answer names the error's class only; the command tells the whole story.
    assert body["parts"]["redis"]["detail"] == "ConnectionError"
    assert client.get("/health/").status_code == 503
    assert client.get("/healthz").status_code == 200  # alive all the same

    private_redis.start()  # same port
    assert "overall: ok" in healthcheck()
    assert client.get("/readyz").status_code == 200
    assert client.get("/health/").json() == {"database": "ok", "redis": "ok"}


def test_a_missing_worker_is_degraded_unless_required(client, settings):
    body = client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert body["parts"]["jobs"] == {
        "status": "down",
        "latency_ms": body["parts"]["jobs"]["latency_ms"],
        "required": False,
        "detail": "no job worker registered",
    }
    assert "overall: degraded" in healthcheck()  # exit 0: the site works

    settings.HEALTH_REQUIRED = [*settings.HEALTH_REQUIRED, "jobs"]
    assert client.get("/readyz").status_code == 503
    with pytest.raises(CommandError, match="required part down: jobs"):
        healthcheck()


def test_a_stale_heartbeat_is_down_and_failed_jobs_are_degraded(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (clock_timestamp() - interval '10 minutes')"
        )
    jobs = {part.name: part for part in readiness().parts}["jobs"]
    assert jobs.status == "down" and "heartbeat" in jobs.detail

    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_workers SET last_heartbeat = clock_timestamp()")
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status, args) "
            "VALUES ('default', 'marketplace.send_email', 'failed', '{}')"
        )
    jobs = {part.name: part for part in readiness().parts}["jobs"]
    assert (jobs.status, jobs.detail.split(" (")[0]) == ("degraded", "1 failed jobs")
    settings.HEALTH_FAILED_JOBS_MAX = 5
    assert {part.name: part for part in readiness().parts}["jobs"].status == "ok"


class _StripeLike(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(401)  # what Stripe answers a request without a key
        self.end_headers()

    def log_message(self, *args):
        pass


def test_stripe_is_checked_only_with_real_keys(settings, worker):
    assert {part.name: part for part in readiness().parts}["stripe"].status == "skipped"
    settings.STRIPE_MODE = "live"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nobody listens
    result = readiness()
    stripe = {part.name: part for part in result.parts}["stripe"]
    assert stripe.status == "down" and not stripe.required
    assert result.status == "degraded"

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StripeLike)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
        assert {part.name: part for part in readiness().parts}["stripe"].status == "ok"
    finally:
        server.shutdown()


def test_healthcheck_json_has_full_details(worker):
    document = json.loads(healthcheck("--json"))
    assert document["status"] == "ok"
    assert set(document["parts"]) >= {"database", "redis", "channel_layer", "jobs", "stripe"}
    assert document["parts"]["jobs"]["detail"].startswith("heartbeat")


def test_the_legacy_health_page_keeps_its_answer(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}
