"""What the payment provider answers, and the two ports the rest of the project talks to.

Everything here is plain Python: no ``stripe`` objects leave the gateway package. Amounts are
integers in the currency's minor unit (cents); currencies are as the provider returns them
(lower-case ISO 4217 with Stripe). Every call that creates something takes an idempotency
key, so a retry (a double submit, a command run twice, a network retry) never creates a second
charge, refund or transfer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


# --- Payments ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentIntent:
    """One card payment. ``status`` is the provider's: "succeeded", "requires_action",
    "processing", "requires_payment_method" (declined, or not confirmed yet), "canceled", ...

    ``charge_id`` is the charge that refunds and disputes refer to (None until charged);
    ``client_secret`` is what Stripe.js needs to finish a 3-D Secure step in the browser;
    ``last_error_message`` is the provider's text for the last failed attempt, if any.
    """

    id: str
    status: str
    amount_cents: int
    amount_received_cents: int
    currency: str
    client_secret: str | None = None
    charge_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    last_error_message: str | None = None

    SUCCEEDED = "succeeded"
    # "requires_source_action" is the name of older API versions.
    ACTION_STATUSES = ("requires_action", "requires_source_action")
    # The attempt is over without a payment: a new card needs a new intent.
    RETRY_STATUSES = ("requires_payment_method", "canceled")

    @property
    def succeeded(self) -> bool:
        return self.status == self.SUCCEEDED

    @property
    def requires_action(self) -> bool:
        return self.status in self.ACTION_STATUSES

    @property
    def paid_cents(self) -> int:
        """What was received, or the amount asked when the provider does not say."""
        return self.amount_received_cents or self.amount_cents


@dataclass(frozen=True)
class Refund:
    id: str
    amount_cents: int
    status: str  # "succeeded", "pending", "failed", "canceled", ...
    payment_intent_id: str | None
    currency: str


@dataclass(frozen=True)
class Charge:
    id: str
    amount_cents: int
    amount_refunded_cents: int  # cumulative, over every refund of the charge
    currency: str
    payment_intent_id: str | None


def object_id(value: Any) -> str | None:
    """An id from a field that is either the id or the expanded object (a dict)."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def charge_id_of(payment_intent: Mapping[str, Any]) -> str | None:
    """The charge id a PaymentIntent payload names (``latest_charge``, or the last of
    ``charges.data`` in API versions before 2022-11-15); None if the payload does not say.
    No network call: a caller that must know asks ``retrieve_payment_intent``."""
    charge_id = object_id(payment_intent.get("latest_charge"))
    if charge_id:
        return charge_id
    charges = (payment_intent.get("charges") or {}).get("data") or []
    if charges:
        return object_id(charges[-1])
    return None


class PaymentGateway(Protocol):
    """PaymentIntents (captured automatically), refunds and charges.

    Raises ``PaymentDeclined`` (the card was declined), ``PaymentRefused`` (the provider
    refused the request: retrying it unchanged is refused again) or ``PaymentUnavailable``
    (the provider could not be reached or failed: retrying with the same key is safe).
    """

    def create_payment_intent(
        self,
        *,
        amount_cents: int,
        currency: str,
        payment_method: str | None = None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> Refund: ...

    def retrieve_charge(self, charge_id: str) -> Charge: ...


# --- Connect (payouts to sellers) -----------------------------------------------------------
@dataclass(frozen=True)
class ConnectAccount:
    id: str
    email: str | None
    payouts_enabled: bool
    charges_enabled: bool
    details_submitted: bool

    @property
    def payout_ready(self) -> bool:
        return self.payouts_enabled and self.details_submitted


@dataclass(frozen=True)
class AccountLink:
    url: str
    expires_at: int | None


@dataclass(frozen=True)
class Transfer:
    id: str
    amount_cents: int
    currency: str
    destination: str
    amount_reversed_cents: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferReversal:
    id: str
    transfer_id: str
    amount_cents: int


class ConnectGateway(Protocol):
    """Express accounts for sellers, their onboarding links, transfers and reversals.

    Raises the same errors as ``PaymentGateway``: ``PaymentRefused`` when the provider says no
    (an account not onboarded, more reversed than is left, a key reused with other
    parameters), ``PaymentUnavailable`` when it cannot be asked.
    """

    simulated: bool

    def create_express_account(self, *, email: str, idempotency_key: str) -> ConnectAccount: ...

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> AccountLink: ...

    def retrieve_account(self, account_id: str) -> ConnectAccount: ...

    def create_transfer(
        self,
        *,
        amount_cents: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Transfer: ...

    def create_transfer_reversal(
        self, *, transfer_id: str, amount_cents: int, idempotency_key: str
    ) -> TransferReversal: ...
