"""Connect offline: accounts, transfers and reversals kept in Redis, nothing leaves the machine.

localstripe (the offline Stripe) implements PaymentIntents and refunds but not Connect, so in
local mode ``connect_gateway()`` returns this gateway and pages say "test mode: payouts
simulated".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from payments.gateway.errors import PaymentRefused
from payments.gateway.types import AccountLink, ConnectAccount, Transfer, TransferReversal


class SimulatedConnectGateway:
    """Connect offline, with Stripe's rules where the project relies on them.

    Ids derive from the idempotency key, and a key is bound to its parameters as on Stripe: the
    same key returns the same object, the same key with other parameters raises
    ``PaymentRefused`` (Stripe's idempotency error). A new account is not payout-ready until
    the simulated onboarding page calls ``complete_onboarding``; an unknown account id (Redis
    emptied) reads as a fresh, not yet onboarded account, so onboarding can simply be done
    again. Transfers to an account that is not payout-ready, and reversals of more than is left
    of a transfer, are refused (``PaymentRefused``) as on Stripe.
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
            message = (
                f"Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try a key other than '{idempotency_key}' for a different request."
            )
            raise PaymentRefused(message, user_message=message, code="idempotency_error", http_status=400)
        return False

    def _load(self, kind: str, object_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self._key(kind, object_id))
        return json.loads(raw) if raw else None

    def _save(self, kind: str, object_id: str, data: dict[str, Any]) -> None:
        self.redis.set(self._key(kind, object_id), json.dumps(data))

    @staticmethod
    def _refused(message: str, param: str) -> PaymentRefused:
        return PaymentRefused(message, user_message=message, param=param, http_status=400)

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
            raise self._refused("Invalid positive integer", "amount")
        if not self.retrieve_account(destination).payout_ready:
            raise self._refused(
                "Your destination account needs to have at least one of the following capabilities enabled: "
                "transfers, crypto_transfers, legacy_payments",
                "destination",
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
                raise self._refused(f"No such transfer: '{transfer_id}'", "id")
            if (
                amount_cents <= 0
                or amount_cents > transfer["amount_cents"] - transfer["amount_reversed_cents"]
            ):
                raise self._refused("Refund amount is greater than unreversed amount on transfer", "amount")
            self._claim("reversal", idempotency_key, params)
            transfer["amount_reversed_cents"] += amount_cents
            reversal = TransferReversal(reversal_id, transfer_id, amount_cents)
            self._save("reversal", reversal_id, asdict(reversal))
            self._save("transfer", transfer_id, transfer)
        return reversal
