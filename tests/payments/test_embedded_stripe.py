"""``python -m marketplace.embedded start|stop`` runs localstripe when no Stripe key is set.

Each test uses its own MARKETPLACE_DATA_DIR, with DATABASE_URL and REDIS_URL set so that only
localstripe is started (no PostgreSQL cluster is created for these tests).
"""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe
from django.conf import settings

from marketplace import embedded

BASE_DIR = Path(settings.BASE_DIR)


def run(command: str, data_dir: Path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    environment.update(
        MARKETPLACE_DATA_DIR=str(data_dir),
        DATABASE_URL="postgres://unused@/unused",
        REDIS_URL="redis://unused:1/0",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-m", "marketplace.embedded", command],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result


def read_env(data_dir: Path) -> dict[str, str]:
    lines = (data_dir / "services.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def pid_alive(pid: int) -> bool:
    return embedded._pid_alive(pid)


@pytest.fixture
def data_dir(tmp_path):
    yield tmp_path
    run("stop", tmp_path)


def stripe_for(values: dict[str, str]) -> stripe.StripeClient:
    return stripe.StripeClient(values["STRIPE_SECRET_KEY"], base_addresses={"api": values["STRIPE_API_BASE"]})


def test_start_runs_localstripe_once_and_writes_its_settings(data_dir):
    run("start", data_dir)
    values = read_env(data_dir)
    port = int(values["STRIPE_API_BASE"].rsplit(":", 1)[1])
    assert values["STRIPE_SECRET_KEY"].startswith("sk_test_")
    assert values["STRIPE_PUBLISHABLE_KEY"].startswith("pk_test_")
    assert values["STRIPE_API_BASE"] == f"http://127.0.0.1:{port}"
    assert values["STRIPE_JS_URL"] == f"http://127.0.0.1:{port}/js.stripe.com/v3/"
    assert values["STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert values["STRIPE_MODE"] == "local"
    assert "DATABASE_URL" not in values and "REDIS_URL" not in values  # set in the environment
    pid = int((data_dir / "localstripe" / "localstripe.pid").read_text())
    assert pid_alive(pid)
    assert embedded.localstripe_ping(port)
    assert (data_dir / "localstripe" / "localstripe.log").exists()

    # The server works with the written keys.
    intent = stripe_for(values).v1.payment_intents.create(
        {"amount": 1234, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert intent.status == "succeeded"

    # A second start finds it running: same process, same port, same secret.
    run("start", data_dir)
    assert read_env(data_dir) == values
    assert int((data_dir / "localstripe" / "localstripe.pid").read_text()) == pid
    assert "localstripe: running" in run("status", data_dir).stdout

    # Stop stops it; the env file goes with it.
    assert "localstripe stopped" in run("stop", data_dir).stdout
    assert not pid_alive(pid)
    assert not embedded.localstripe_ping(port)
    assert not (data_dir / "services.env").exists()
    assert "localstripe: stopped" in run("status", data_dir).stdout

    # Started again: same port when free, same webhook secret, and its objects were kept.
    run("start", data_dir)
    again = read_env(data_dir)
    assert again["STRIPE_WEBHOOK_SECRET"] == values["STRIPE_WEBHOOK_SECRET"]
    assert again["STRIPE_API_BASE"] == values["STRIPE_API_BASE"]
    assert stripe_for(again).v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_nothing_starts_with_a_stripe_key(data_dir):
    run("start", data_dir, STRIPE_SECRET_KEY="sk_live_real")
    assert read_env(data_dir) == {}
    assert not (data_dir / "localstripe" / "localstripe.pid").exists()


def test_localstripe_webhooks_are_registered_and_signed_with_the_secret(data_dir):
    received = []
    delivered = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body.decode(), self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()
            delivered.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/payments/webhooks/stripe/"
        run("start", data_dir, LOCALSTRIPE_WEBHOOK_URL=url)
        values = read_env(data_dir)
        intent = stripe_for(values).v1.payment_intents.create(
            {"amount": 800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
        assert delivered.wait(10), "localstripe sent no webhook"  # it waits 1 s before sending
    finally:
        server.shutdown()
        server.server_close()

    path, payload, header = received[0]
    assert path == "/payments/webhooks/stripe/"
    event = stripe.Webhook.construct_event(payload, header, values["STRIPE_WEBHOOK_SECRET"])
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == intent.id
    assert json.loads(payload)["data"]["object"]["amount"] == 800
