"""Stripe-shaped webhook events, signed as Stripe signs them, for webhook tests.

localstripe only sends ``payment_intent.succeeded`` and ``payment_intent.payment_failed``;
every other event (refunds, disputes, account updates, replays, out-of-order delivery) is
built here and signed with the stripe library's own signer (``t=<unix time>,v1=<HMAC-SHA256>``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import stripe
from django.conf import settings

WEBHOOK_PATH = "/payments/webhooks/stripe/"


def stripe_event(
    event_type: str,
    data_object: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": stripe.api_version,
        "created": created if created is not None else int(time.time()),
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": data,
    }


def sign_payload(payload: str, *, secret: str | None = None, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload`` (default secret: STRIPE_WEBHOOK_SECRET)."""
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret if secret is not None else settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )


def signed_event(
    event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
) -> tuple[str, str]:
    """``(payload, signature header)``: post the payload byte for byte, as Stripe does."""
    payload = json.dumps(event)
    return payload, sign_payload(payload, secret=secret, timestamp=timestamp)


def post_event(
    client, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None, **extra
):
    """POST a signed event to the webhook endpoint with Django's test client."""
    payload, header = signed_event(event, secret=secret, timestamp=timestamp)
    return client.post(
        WEBHOOK_PATH, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header, **extra
    )


# --- Objects, shaped like the API's (only the fields the site reads, plus ids) --------------------
def payment_intent_object(
    payment_intent_id: str,
    *,
    amount: int,
    currency: str = "usd",
    status: str = "succeeded",
    metadata: dict[str, str] | None = None,
    latest_charge: str | None = None,
) -> dict[str, Any]:
    return {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "status": status,
        "metadata": metadata or {},
        "latest_charge": latest_charge,
        "livemode": False,
    }


def charge_object(
    charge_id: str,
    *,
    payment_intent: str,
    amount: int,
    amount_refunded: int = 0,
    currency: str = "usd",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded >= amount,
        "currency": currency,
        "payment_intent": payment_intent,
        "status": "succeeded",
        "metadata": metadata or {},
        "livemode": False,
    }


def dispute_object(
    dispute_id: str,
    *,
    charge: str,
    payment_intent: str,
    amount: int,
    currency: str = "usd",
    status: str = "needs_response",
    reason: str = "fraudulent",
) -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "currency": currency,
        "charge": charge,
        "payment_intent": payment_intent,
        "status": status,  # closed: "won" or "lost"
        "reason": reason,
        "livemode": False,
    }


def account_object(
    account_id: str,
    *,
    payouts_enabled: bool = True,
    charges_enabled: bool = True,
    details_submitted: bool = True,
) -> dict[str, Any]:
    return {
        "id": account_id,
        "object": "account",
        "type": "express",
        "payouts_enabled": payouts_enabled,
        "charges_enabled": charges_enabled,
        "details_submitted": details_submitted,
        "livemode": False,
    }
