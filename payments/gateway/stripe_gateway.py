"""Stripe behind the gateway's ports: the only module of the project that imports ``stripe``.

Each call goes through ``_translated()``, which turns the stripe library's exceptions into the
gateway's (``errors.py``), and each answer becomes one of the gateway's dataclasses. Also here:
the configured ``stripe_client()`` (tests use it to do what Stripe.js does in a browser) and
the webhook signature check.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from payments.gateway.errors import (
    GatewayError,
    InvalidWebhook,
    PaymentDeclined,
    PaymentRefused,
    PaymentUnavailable,
)
from payments.gateway.types import (
    AccountLink,
    Charge,
    ConnectAccount,
    PaymentIntent,
    Refund,
    Transfer,
    TransferReversal,
    charge_id_of,
    object_id,
)

logger = logging.getLogger(__name__)

_http_client: stripe.HTTPClient | None = None


def http_client() -> stripe.HTTPClient:
    """One HTTP client per process (requests keeps a connection pool per thread).

    Tests replace this function to intercept Stripe calls at the HTTP layer.
    """
    global _http_client
    if _http_client is None:
        _http_client = stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS)
    return _http_client


def stripe_client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        # "connect" is the OAuth host; with localstripe everything goes to the one server.
        base_addresses={"api": base, "files": base} if settings.STRIPE_MODE == "local" else {"api": base},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=http_client(),
    )


# --- Errors -----------------------------------------------------------------------------------
# Refusals: the request itself is wrong for Stripe, so sending it again changes nothing.
_REFUSALS = (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.PermissionError)


def gateway_error(error: stripe.StripeError) -> GatewayError:
    """The gateway's error for a stripe library exception (see ``errors.py`` for the kinds).

    Card errors are declines; invalid requests, reused idempotency keys and permission errors
    are refusals, as is any other 4xx answer but 401 (our key: a configuration problem) and
    429 (rate limited: try later). Everything else (no connection, timeouts, 5xx) is
    unavailable.
    """
    details: dict[str, Any] = {
        "user_message": error.user_message,
        "code": error.code,
        "param": getattr(error, "param", None),
        "http_status": error.http_status,
    }
    message = str(error.user_message or error)
    if isinstance(error, stripe.CardError):
        decline_code = getattr(error.error, "decline_code", None) if error.error else None
        return PaymentDeclined(error.user_message or "", decline_code=decline_code or error.code, **details)
    status = error.http_status or 0
    if isinstance(error, _REFUSALS) or (400 <= status < 500 and status not in (401, 429)):
        return PaymentRefused(message, **details)
    return PaymentUnavailable(message, **details)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise gateway_error(error) from error


def _plain(obj: Any) -> dict[str, Any]:
    # StripeObjects are not dicts any more (stripe 13+): no .get().
    return obj.to_dict() if isinstance(obj, stripe.StripeObject) else obj


def _payment_intent(obj: Any) -> PaymentIntent:
    data = _plain(obj)
    error = data.get("last_payment_error") or {}
    return PaymentIntent(
        id=data["id"],
        status=data["status"],
        amount_cents=data["amount"],
        amount_received_cents=data.get("amount_received") or 0,
        currency=data["currency"],
        client_secret=data.get("client_secret"),
        charge_id=charge_id_of(data),
        metadata=dict(data.get("metadata") or {}),
        last_error_message=error.get("message"),
    )


# --- Payments ---------------------------------------------------------------------------------
class StripePaymentGateway:
    """PaymentIntents, refunds and charges on Stripe (or localstripe, offline)."""

    def __init__(self, client: stripe.StripeClient | None = None):
        self._client = client

    @property
    def client(self) -> stripe.StripeClient:
        return self._client or stripe_client()

    def create_payment_intent(
        self,
        *,
        amount_cents: int,
        currency: str,
        payment_method: str | None = None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent:
        """A card PaymentIntent captured automatically. With ``payment_method`` it is created
        confirmed (localstripe answers 500 to ``confirm(payment_method=...)``); without, Stripe.js
        confirms it in the browser with ``confirmCardPayment``.

        No ``transfer_group``/``automatic_payment_methods``: localstripe rejects them, and
        separate charges and transfers link a transfer to its charge by metadata instead.
        """
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "payment_method_types": ["card"],
            "capture_method": "automatic",
            "metadata": metadata,
        }
        if payment_method:
            params["payment_method"] = payment_method
            params["confirm"] = True
        with _translated():
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        return _payment_intent(intent)

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        with _translated():
            return _payment_intent(self.client.v1.payment_intents.retrieve(payment_intent_id))

    def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntent:
        with _translated():
            return _payment_intent(self.client.v1.payment_intents.cancel(payment_intent_id))

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> Refund:
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_cents}
        if metadata:
            params["metadata"] = metadata
        with _translated():
            refund = _plain(self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key}))
        return Refund(
            id=refund["id"],
            amount_cents=refund["amount"],
            status=refund.get("status") or "",
            payment_intent_id=object_id(refund.get("payment_intent")),
            currency=refund.get("currency") or "",
        )

    def retrieve_charge(self, charge_id: str) -> Charge:
        with _translated():
            charge = _plain(self.client.v1.charges.retrieve(charge_id))
        return Charge(
            id=charge["id"],
            amount_cents=charge["amount"],
            amount_refunded_cents=charge.get("amount_refunded") or 0,
            currency=charge.get("currency") or "",
            payment_intent_id=object_id(charge.get("payment_intent")),
        )


# --- Connect ----------------------------------------------------------------------------------
def _account(obj: Any) -> ConnectAccount:
    obj = _plain(obj)
    return ConnectAccount(
        id=obj["id"],
        email=obj.get("email"),
        payouts_enabled=bool(obj.get("payouts_enabled")),
        charges_enabled=bool(obj.get("charges_enabled")),
        details_submitted=bool(obj.get("details_submitted")),
    )


def _transfer(obj: Any) -> Transfer:
    obj = _plain(obj)
    return Transfer(
        id=obj["id"],
        amount_cents=obj["amount"],
        currency=obj["currency"],
        destination=obj["destination"],
        amount_reversed_cents=obj.get("amount_reversed") or 0,
        metadata=dict(obj.get("metadata") or {}),
    )


class StripeConnectGateway:
    """Stripe Connect (Express accounts, separate charges and transfers)."""

    simulated = False

    def __init__(self, client: stripe.StripeClient | None = None):
        self._client = client

    @property
    def client(self) -> stripe.StripeClient:
        return self._client or stripe_client()

    def create_express_account(self, *, email: str, idempotency_key: str) -> ConnectAccount:
        with _translated():
            account = self.client.v1.accounts.create(
                # Separate charges and transfers: the platform charges, the seller only receives transfers.
                {"type": "express", "email": email, "capabilities": {"transfers": {"requested": True}}},
                {"idempotency_key": idempotency_key},
            )
        return _account(account)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> AccountLink:
        with _translated():
            link = self.client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        link = _plain(link)
        return AccountLink(url=link["url"], expires_at=link.get("expires_at"))

    def retrieve_account(self, account_id: str) -> ConnectAccount:
        with _translated():
            return _account(self.client.v1.accounts.retrieve(account_id))

    def create_transfer(
        self,
        *,
        amount_cents: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Transfer:
        with _translated():
            transfer = self.client.v1.transfers.create(
                {
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "destination": destination,
                    "metadata": metadata,
                },
                {"idempotency_key": idempotency_key},
            )
        return _transfer(transfer)

    def create_transfer_reversal(
        self, *, transfer_id: str, amount_cents: int, idempotency_key: str
    ) -> TransferReversal:
        with _translated():
            reversal = self.client.v1.transfers.reversals.create(
                transfer_id, {"amount": amount_cents}, {"idempotency_key": idempotency_key}
            )
        return TransferReversal(id=reversal["id"], transfer_id=transfer_id, amount_cents=reversal["amount"])


# --- Webhooks ---------------------------------------------------------------------------------
def _signed_timestamp(signature: str) -> int:
    """The header's ``t=`` value, read as the stripe library reads it (the first ``t`` item),
    so it is the timestamp the verified signature covers."""
    for item in signature.split(","):
        parts = item.split("=", 2)
        if parts[0] == "t":
            return int(parts[1])
    raise ValueError("no timestamp")


def verify_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event as a plain dict, once its ``Stripe-Signature`` header matches
    ``STRIPE_WEBHOOK_SECRET``, its signed timestamp lies within
    ``STRIPE_WEBHOOK_TOLERANCE_SECONDS`` of now on either side, and it has an event's shape
    (id, type, created, data.object) with ``created`` not later than now plus the tolerance;
    ``InvalidWebhook`` otherwise, with a short reason fit for a 400 answer.

    The stripe library refuses only timestamps too far in the past, so a signed event dated
    in the future would pass it (and a replay window would never close): both sides are
    checked here, against this server's clock.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        logger.error("Stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set.")
        raise InvalidWebhook("Webhook endpoint not configured.")
    if not signature:
        raise InvalidWebhook("Missing Stripe-Signature header.")
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        text = payload.decode("utf-8")
        event = json.loads(text)
        if not isinstance(event, dict):
            raise InvalidWebhook("Not a Stripe event.")
        # The signature covers the raw payload; the parsed copy above is what callers store.
        # tolerance=None: the signature only; the time window (both sides) is checked below.
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=None)
    except stripe.SignatureVerificationError as error:
        raise InvalidWebhook("Invalid signature.") from error
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidWebhook("Malformed payload.") from error
    now = time.time()
    signed_at = _signed_timestamp(signature)
    if abs(now - signed_at) > tolerance:
        logger.warning("Stripe webhook refused: signed at %s, %+d s from now.", signed_at, signed_at - now)
        raise InvalidWebhook("Timestamp outside the tolerance.")
    if not (
        isinstance(event.get("id"), str)
        and event["id"]
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise InvalidWebhook("Not a Stripe event.")
    # Stripe creates an event before it signs a delivery (retries come days later), so only
    # the future is impossible; a stored future `created` would win every "latest" ordering.
    if event["created"] > now + tolerance:
        raise InvalidWebhook("Event dated in the future.")
    return event
