"""The seam between escrow release and the money transfer to the seller.

``payout_transfer`` is the one function ``release_escrow`` calls to pay a seller, and
``payout_reversal`` the one that pulls a transfer back. Both go through
``payments.gateway.connect_gateway()``: Stripe Connect with real keys, the simulated gateway
offline (test mode: no money moves). The contract:

- raise ``PayoutNotReady`` when the seller cannot receive transfers (no connected account,
  onboarding not finished, or payouts not enabled by Stripe): the transaction then waits,
  unchanged. Readiness is read from Stripe on every call, never from a cache;
- be idempotent per transaction (``idempotency_key=f"transfer-{transaction.pk}"``), because
  it runs under the transaction's row lock before the commit, and a crash between the two
  makes the next run call it again for the same transaction. The gateway's errors
  (``PaymentRefused``, ``PaymentUnavailable``) propagate: the caller's database transaction
  rolls back and a rerun retries with the same key.
"""

from payments.gateway import connect_gateway

NO_ACCOUNT_MESSAGE = "Set up payouts to receive the money from your sales."
ONBOARDING_MESSAGE = "Finish your Stripe onboarding to receive the money from your sales."
PAYOUTS_DISABLED_MESSAGE = (
    "Stripe has not enabled payouts on your account yet; check your Stripe dashboard for what it needs."
)


class PayoutNotReady(Exception):
    """The seller cannot receive a transfer yet; the message says why (shown to them)."""


def ensure_payout_ready(account_id: str | None):
    """Return the connected account if it can receive transfers; else raise ``PayoutNotReady``."""
    if not account_id:
        raise PayoutNotReady(NO_ACCOUNT_MESSAGE)
    account = connect_gateway().retrieve_account(account_id)
    if not account.details_submitted:
        raise PayoutNotReady(ONBOARDING_MESSAGE)
    if not account.payout_ready:
        raise PayoutNotReady(PAYOUTS_DISABLED_MESSAGE)
    return account


def payout_transfer(transaction, *, amount_cents: int) -> str:
    """Transfer ``amount_cents`` of ``transaction.currency`` to the seller; return its id.

    Expects the caller to hold the transaction's row lock (``services.transaction_lock``).
    """
    account = ensure_payout_ready(transaction.seller.stripe_connect_id)
    transfer = connect_gateway().create_transfer(
        amount_cents=amount_cents,
        currency=transaction.currency,
        destination=account.id,
        idempotency_key=f"transfer-{transaction.pk}",
        metadata={"transaction_id": str(transaction.pk)},
    )
    return transfer.id


def payout_reversal(transaction, *, amount_cents: int, idempotency_key: str) -> str:
    """Pull ``amount_cents`` of the seller's transfer for ``transaction`` back; return the
    reversal id. ``PaymentRefused`` means Stripe refused (the seller's balance cannot cover
    it, or nothing of the transfer is left to reverse); ``PaymentUnavailable`` is worth
    retrying with the same key."""
    reversal = connect_gateway().create_transfer_reversal(
        transfer_id=transaction.transfer_id, amount_cents=amount_cents, idempotency_key=idempotency_key
    )
    return reversal.id
