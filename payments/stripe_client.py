"""The only place that talks to Stripe: a configured client, thin calls, and the Connect adapter.

Everything that creates something takes an idempotency key, so a retried request (a double
submit, a command run twice, a network retry) never creates a second charge, refund or
transfer. Errors are the stripe library's (``stripe.StripeError`` and subclasses), from both
Connect gateways.

Offline (``STRIPE_MODE=local``) the API calls go to localstripe, which implements
PaymentIntents and refunds but not Connect: ``connect_gateway()`` then returns the
``SimulatedConnectGateway``, which keeps accounts and transfers in Redis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import stripe
from django.conf import settings

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


# --- PaymentIntents and refunds ---------------------------------------------------------------
def create_payment_intent(
    *,
    amount_cents: int,
    currency: str,
    payment_method: str | None = None,
    metadata: dict[str, str],
    idempotency_key: str,
) -> stripe.PaymentIntent:
    """A card PaymentIntent captured automatically. With ``payment_method`` it is created
    confirmed (localstripe answers 500 to ``confirm(payment_method=...)``); without, Stripe.js
    confirms it in the browser with ``confirmCardPayment``.

    No ``transfer_group``/``automatic_payment_methods``: localstripe rejects them, and separate
    charges and transfers link a transfer to its charge by metadata instead.
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
    return stripe_client().v1.payment_intents.create(params, {"idempotency_key": idempotency_key})


def retrieve_payment_intent(payment_intent_id: str) -> stripe.PaymentIntent:
    return stripe_client().v1.payment_intents.retrieve(payment_intent_id)


def cancel_payment_intent(payment_intent_id: str) -> stripe.PaymentIntent:
    return stripe_client().v1.payment_intents.cancel(payment_intent_id)


def create_refund(
    *, payment_intent_id: str, amount_cents: int, idempotency_key: str, metadata: dict[str, str] | None = None
) -> stripe.Refund:
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_cents}
    if metadata:
        params["metadata"] = metadata
    return stripe_client().v1.refunds.create(params, {"idempotency_key": idempotency_key})


def retrieve_charge(charge_id: str) -> stripe.Charge:
    return stripe_client().v1.charges.retrieve(charge_id)


# --- Connect ----------------------------------------------------------------------------------
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


def _plain(obj: Any) -> dict[str, Any]:
    # StripeObjects are not dicts any more (stripe 13+): no .get().
    return obj.to_dict() if isinstance(obj, stripe.StripeObject) else obj


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
        account = self.client.v1.accounts.create(
            # Separate charges and transfers: the platform charges, the seller only receives transfers.
            {"type": "express", "email": email, "capabilities": {"transfers": {"requested": True}}},
            {"idempotency_key": idempotency_key},
        )
        return _account(account)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> AccountLink:
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
        reversal = self.client.v1.transfers.reversals.create(
            transfer_id, {"amount": amount_cents}, {"idempotency_key": idempotency_key}
        )
        return TransferReversal(id=reversal["id"], transfer_id=transfer_id, amount_cents=reversal["amount"])


class SimulatedConnectGateway:
    """Connect offline: accounts, transfers and reversals kept in Redis, nothing leaves the machine.

    Ids derive from the idempotency key, and a key is bound to its parameters as on Stripe: the
    same key returns the same object, the same key with other parameters raises
    ``stripe.IdempotencyError``. A new account is not payout-ready until the simulated
    onboarding page calls ``complete_onboarding``; an unknown account id (Redis emptied) reads
    as a fresh, not yet onboarded account, so onboarding can simply be done again.
    """

    simulated = True

    def __init__(self):
        from django_redis import get_redis_connection

        self.redis = get_redis_connection("default")

    def _key(self, *parts: str) -> str:
        from django.core.cache import cache

        return cache.make_key(":".join(("stripe-sim", *parts)))

    @staticmethod
    def _id(prefix: str, operation: str, idempotency_key: str) -> str:
        digest = hashlib.sha256(f"{operation}:{idempotency_key}".encode()).hexdigest()[:20]
        return f"{prefix}_sim_{digest}"

    def _claim(self, operation: str, idempotency_key: str, params: dict[str, Any]) -> bool:
        """True for the first use of the key; raises if the key was used with other params."""
        fingerprint = json.dumps(params, sort_keys=True)
        key = self._key("idempotency", operation, idempotency_key)
        if self.redis.set(key, fingerprint, nx=True):
            return True
        if self.redis.get(key).decode() != fingerprint:
            raise stripe.IdempotencyError(
                f"Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try a key other than '{idempotency_key}' for a different request."
            )
        return False

    def _load(self, kind: str, object_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self._key(kind, object_id))
        return json.loads(raw) if raw else None

    def _save(self, kind: str, object_id: str, data: dict[str, Any]) -> None:
        self.redis.set(self._key(kind, object_id), json.dumps(data))

    def create_express_account(self, *, email: str, idempotency_key: str) -> ConnectAccount:
        account_id = self._id("acct", "account", idempotency_key)
        if (
            self._claim("account", idempotency_key, {"email": email})
            or self._load("account", account_id) is None
        ):
            account = ConnectAccount(account_id, email, False, False, False)
            self._save("account", account_id, asdict(account))
        return self.retrieve_account(account_id)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> AccountLink:
        # The simulated onboarding page marks the account ready and sends the seller to return_url.
        return AccountLink(url=f"/payments/connect/simulated/{account_id}/", expires_at=None)

    def retrieve_account(self, account_id: str) -> ConnectAccount:
        data = self._load("account", account_id)
        if data is None:
            return ConnectAccount(account_id, None, False, False, False)
        return ConnectAccount(**data)

    def complete_onboarding(self, account_id: str) -> ConnectAccount:
        account = self.retrieve_account(account_id)
        ready = ConnectAccount(account.id, account.email, True, True, True)
        self._save("account", account_id, asdict(ready))
        return ready

    def create_transfer(
        self,
        *,
        amount_cents: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Transfer:
        transfer_id = self._id("tr", "transfer", idempotency_key)
        params = {
            "amount": amount_cents,
            "currency": currency.lower(),
            "destination": destination,
            "metadata": metadata,
        }
        existing = self._load("transfer", transfer_id)
        if existing is not None:
            self._claim("transfer", idempotency_key, params)  # only checks the parameters
            return Transfer(**existing)
        if amount_cents <= 0:
            raise stripe.InvalidRequestError("Invalid positive integer", param="amount")
        if not self.retrieve_account(destination).payout_ready:
            raise stripe.InvalidRequestError(
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments",
                param="destination",
            )
        self._claim("transfer", idempotency_key, params)
        transfer = Transfer(transfer_id, amount_cents, currency.lower(), destination, 0, dict(metadata))
        self._save("transfer", transfer_id, asdict(transfer))
        return transfer

    def create_transfer_reversal(
        self, *, transfer_id: str, amount_cents: int, idempotency_key: str
    ) -> TransferReversal:
        reversal_id = self._id("trr", "reversal", idempotency_key)
        params = {"transfer": transfer_id, "amount": amount_cents}
        # One reversal at a time per transfer, so two can never reverse more than was sent.
        with self.redis.lock(self._key("lock", transfer_id), timeout=10, blocking_timeout=10):
            existing = self._load("reversal", reversal_id)
            if existing is not None:
                self._claim("reversal", idempotency_key, params)
                return TransferReversal(**existing)
            transfer = self._load("transfer", transfer_id)
            if transfer is None:
                raise stripe.InvalidRequestError(f"No such transfer: '{transfer_id}'", param="id")
            if (
                amount_cents <= 0
                or amount_cents > transfer["amount_cents"] - transfer["amount_reversed_cents"]
            ):
                raise stripe.InvalidRequestError(
                    "Refund amount is greater than unreversed amount on transfer", param="amount"
                )
            self._claim("reversal", idempotency_key, params)
            transfer["amount_reversed_cents"] += amount_cents
            reversal = TransferReversal(reversal_id, transfer_id, amount_cents)
            self._save("reversal", reversal_id, asdict(reversal))
            self._save("transfer", transfer_id, transfer)
        return reversal


def connect_gateway() -> ConnectGateway:
    """Stripe Connect with real keys; the simulated gateway with localstripe (no Connect)."""
    if settings.STRIPE_CONNECT_SIMULATED:
        return SimulatedConnectGateway()
    return StripeConnectGateway()
