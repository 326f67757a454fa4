"""Stripe for tests: a localstripe server for the run, and an HTTP-layer stand-in for Connect.

- ``localstripe_server`` (session): a localstripe process of its own on a free port (never the
  development one), its state in a temporary directory, stopped at the end of the run.
- ``localstripe``: settings pointed at that server (keys, STRIPE_API_BASE, local mode).
- ``stripe_http``: a ``stripe.HTTPClient`` installed as the client every
  ``payments.gateway.stripe_gateway.stripe_client()`` uses. It records every request (method,
  path, form parameters, headers) and answers the
  Connect endpoints localstripe lacks (/v1/accounts, /v1/account_links, /v1/transfers,
  /v1/transfers/<id>/reversals) with Stripe-shaped JSON; everything else goes on to
  localstripe. It replays the stored answer for a repeated Idempotency-Key as Stripe does, and
  ``fail_next`` injects API errors.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

from marketplace import embedded
from payments.gateway import stripe_gateway

TEST_SECRET_KEY = "sk_test_marketplace_tests"  # noqa: S105
TEST_PUBLISHABLE_KEY = "pk_test_marketplace_tests"
TEST_WEBHOOK_SECRET = "whsec_marketplace_tests"  # noqa: S105


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory):
    directory: Path = tmp_path_factory.mktemp("localstripe")
    port = embedded.free_port()
    process = embedded.spawn_localstripe(port, directory / "store.pickle", directory / "localstripe.log")
    try:
        embedded.wait_for_localstripe(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            process.kill()
            process.wait()


@pytest.fixture
def localstripe(localstripe_server, settings):
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = TEST_PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe_server
    settings.STRIPE_JS_URL = f"{localstripe_server}/js.stripe.com/v3/"
    settings.STRIPE_MODE = "local"
    settings.STRIPE_CONNECT_SIMULATED = True
    # A retry sleeps 0.5 s and more; tests that want retries set this themselves.
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return localstripe_server


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # form or query parameters, flattened as sent: "metadata[order]"
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern
    status: int
    body: dict
    times: int


CONNECT_PATHS = re.compile(r"^/v1/(accounts|account_links|transfers)(/|$)")


class StripeHTTPInterceptor(stripe.HTTPClient):
    name = "marketplace-test-interceptor"

    def __init__(self, forward: stripe.HTTPClient):
        super().__init__()
        self.forward = forward
        self.requests: list[RecordedRequest] = []
        self.accounts: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self._replies: dict[tuple[str, str], tuple[str, int, dict]] = {}
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)

    # --- test helpers ----------------------------------------------------------------------
    def matching(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the regular expression."""
        return [r for r in self.requests if r.method == method.upper() and re.fullmatch(path, r.path)]

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        error_type: str = "api_error",
        message: str = "Injected failure",
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests matching method and path (a regex) get a Stripe error."""
        error = {"type": error_type, "message": message}
        if code:
            error["code"] = code
        self._failures.append(_Failure(method.upper(), re.compile(path), status, {"error": error}, times))

    def set_account(self, account_id: str, **fields) -> None:
        """Change a Connect account as onboarding would (payouts_enabled=True, ...)."""
        self.accounts[account_id].update(fields)

    # --- stripe.HTTPClient ---------------------------------------------------------------------
    def request(self, method, url, headers, post_data=None):
        parts = urlsplit(url)
        method = method.upper()
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = dict(parse_qsl(body if method == "POST" else parts.query, keep_blank_values=True))
        self.requests.append(RecordedRequest(method, parts.path, params, dict(headers or {})))

        for failure in self._failures:
            if failure.times > 0 and failure.method == method and failure.pattern.fullmatch(parts.path):
                failure.times -= 1
                return json.dumps(failure.body), failure.status, {"stripe-should-retry": "false"}

        idempotency_key = (headers or {}).get("Idempotency-Key")
        replay_key = (parts.path, idempotency_key) if method == "POST" and idempotency_key else None
        if replay_key in self._replies:
            body, status, reply_headers = self._replies[replay_key]
            return body, status, {**reply_headers, "idempotent-replayed": "true"}

        if CONNECT_PATHS.match(parts.path):
            reply = self._connect(method, parts.path, params)
        elif parts.hostname in ("127.0.0.1", "localhost"):
            reply = self.forward.request(method, url, headers, post_data)
        else:
            raise stripe.APIConnectionError(f"tests never reach {parts.hostname}: {method} {parts.path}")
        if replay_key and reply[1] < 500:
            self._replies[replay_key] = reply
        return reply

    def request_stream(self, method, url, headers, post_data=None):
        # The project makes no streaming Stripe calls; one appearing in a test is a bug there.
        raise stripe.APIConnectionError(f"unexpected streaming request in a test: {method} {url}")

    def close(self):
        self.forward.close()

    # --- recorded Connect answers ------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._ids):08d}"

    @staticmethod
    def _ok(obj: dict) -> tuple[str, int, dict]:
        return json.dumps(obj), 200, {"request-id": "req_test"}

    @staticmethod
    def _error(status: int, message: str, param: str | None = None) -> tuple[str, int, dict]:
        error = {"type": "invalid_request_error", "message": message}
        if param:
            error["param"] = param
        return json.dumps({"error": error}), status, {"request-id": "req_test"}

    @staticmethod
    def _metadata(params: dict[str, str]) -> dict[str, str]:
        return {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}

    def _connect(self, method: str, path: str, params: dict[str, str]) -> tuple[str, int, dict]:
        now = int(time.time())
        if method == "POST" and path == "/v1/accounts":
            account = {
                "id": self._new_id("acct"),
                "object": "account",
                "type": params.get("type", "express"),
                "email": params.get("email"),
                "country": "US",
                "default_currency": "usd",
                "capabilities": {"transfers": "inactive"},
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "requirements": {
                    "currently_due": ["external_account", "tos_acceptance.date"],
                    "disabled_reason": None,
                },
                "created": now,
                "livemode": False,
                "metadata": self._metadata(params),
            }
            self.accounts[account["id"]] = account
            return self._ok(account)
        if (match := re.fullmatch(r"/v1/accounts/([^/]+)", path)) and method == "GET":
            if match[1] not in self.accounts:
                return self._error(404, f"No such account: '{match[1]}'", "account")
            return self._ok(self.accounts[match[1]])
        if method == "POST" and path == "/v1/account_links":
            if params.get("account") not in self.accounts:
                return self._error(400, f"No such account: '{params.get('account')}'", "account")
            return self._ok(
                {
                    "object": "account_link",
                    "created": now,
                    "expires_at": now + 300,
                    "url": f"https://connect.stripe.com/setup/e/{params['account']}/test{next(self._ids)}",
                }
            )
        if method == "POST" and path == "/v1/transfers":
            destination = self.accounts.get(params.get("destination", ""))
            if destination is None or not destination["payouts_enabled"]:
                return self._error(
                    400,
                    "Your destination account needs to have at least one of the following capabilities "
                    "enabled: transfers, crypto_transfers, legacy_payments",
                    "destination",
                )
            transfer = {
                "id": self._new_id("tr"),
                "object": "transfer",
                "amount": int(params["amount"]),
                "amount_reversed": 0,
                "currency": params["currency"],
                "destination": params["destination"],
                "metadata": self._metadata(params),
                "reversed": False,
                "reversals": {"object": "list", "data": [], "has_more": False, "url": ""},
                "created": now,
                "livemode": False,
            }
            self.transfers[transfer["id"]] = transfer
            return self._ok(transfer)
        if method == "POST" and (match := re.fullmatch(r"/v1/transfers/([^/]+)/reversals", path)):
            transfer = self.transfers.get(match[1])
            if transfer is None:
                return self._error(404, f"No such transfer: '{match[1]}'", "id")
            amount = int(params.get("amount", transfer["amount"] - transfer["amount_reversed"]))
            if amount > transfer["amount"] - transfer["amount_reversed"]:
                return self._error(
                    400, "Refund amount is greater than unreversed amount on transfer", "amount"
                )
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            reversal = {
                "id": self._new_id("trr"),
                "object": "transfer_reversal",
                "amount": amount,
                "currency": transfer["currency"],
                "transfer": transfer["id"],
                "metadata": self._metadata(params),
                "created": now,
            }
            transfer["reversals"]["data"].append(reversal)
            return self._ok(reversal)
        return self._error(404, f"Unrecorded Connect request: {method} {path}")


@pytest.fixture
def stripe_http(monkeypatch, settings):
    """Every gateway call in the test goes through the interceptor (see the module docstring)."""
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    if not settings.STRIPE_SECRET_KEY:
        settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    interceptor = StripeHTTPInterceptor(forward=stripe.RequestsClient(timeout=10))
    monkeypatch.setattr(stripe_gateway, "http_client", lambda: interceptor)
    yield interceptor
    interceptor.close()
