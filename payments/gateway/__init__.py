"""The payment provider behind two ports; the only package that imports ``stripe``.

- ``payment_gateway()`` -> ``PaymentGateway``: PaymentIntents, refunds, charges.
- ``connect_gateway()`` -> ``ConnectGateway``: sellers' Express accounts, transfers, reversals
  (Stripe Connect with real keys; ``SimulatedConnectGateway`` in Redis with localstripe, which
  has no Connect).
- ``verify_webhook(payload, signature)`` -> the event as a plain dict, or ``InvalidWebhook``.

Both ports answer frozen dataclasses (``PaymentIntent``, ``Refund``, ``Charge``,
``ConnectAccount``, ``AccountLink``, ``Transfer``, ``TransferReversal``) and raise only the
gateway's errors: ``PaymentDeclined``, ``PaymentRefused``, ``PaymentUnavailable`` (all
``GatewayError``). Services turn those into ``ServiceError``; nothing above the services sees
them. Amounts are integers in the currency's minor unit (cents).

Offline (``STRIPE_MODE=local``) the API calls go to localstripe.
"""

from django.conf import settings

from payments.gateway.errors import (
    GatewayError,
    InvalidWebhook,
    PaymentDeclined,
    PaymentRefused,
    PaymentUnavailable,
)
from payments.gateway.simulated import SimulatedConnectGateway
from payments.gateway.stripe_gateway import StripeConnectGateway, StripePaymentGateway, verify_webhook
from payments.gateway.types import (
    AccountLink,
    Charge,
    ConnectAccount,
    ConnectGateway,
    PaymentGateway,
    PaymentIntent,
    Refund,
    Transfer,
    TransferReversal,
    charge_id_of,
    object_id,
)

__all__ = [
    "AccountLink",
    "Charge",
    "ConnectAccount",
    "ConnectGateway",
    "GatewayError",
    "InvalidWebhook",
    "PaymentDeclined",
    "PaymentGateway",
    "PaymentIntent",
    "PaymentRefused",
    "PaymentUnavailable",
    "Refund",
    "SimulatedConnectGateway",
    "StripeConnectGateway",
    "StripePaymentGateway",
    "Transfer",
    "TransferReversal",
    "charge_id_of",
    "connect_gateway",
    "object_id",
    "payment_gateway",
    "verify_webhook",
]


def payment_gateway() -> PaymentGateway:
    """Stripe's PaymentIntents, refunds and charges (localstripe offline: same API)."""
    return StripePaymentGateway()


def connect_gateway() -> ConnectGateway:
    """Stripe Connect with real keys; the simulated gateway with localstripe (no Connect)."""
    if settings.STRIPE_CONNECT_SIMULATED:
        return SimulatedConnectGateway()
    return StripeConnectGateway()
