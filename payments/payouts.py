"""The seam between escrow release and the money transfer to the seller.

``payout_transfer`` is the one function ``release_escrow`` calls to pay a seller. Until the
Stripe Connect adapter replaces its body, it records a simulated transfer (offline test
mode: no money moves and nothing is called). Whatever replaces it must keep the contract:

- raise ``PayoutNotReady`` when the seller cannot receive transfers (no connected account,
  or one Stripe has not enabled for payouts): the transaction then waits, unchanged;
- be idempotent per transaction (Stripe: ``idempotency_key=f"transfer-{transaction.pk}"``),
  because it runs under the transaction's row lock before the commit, and a crash between
  the two makes the next run call it again for the same transaction.
"""


class PayoutNotReady(Exception):
    """The seller cannot receive a transfer yet; the message says why (shown to them)."""


def payout_transfer(transaction, *, amount_cents: int) -> str:
    """Transfer ``amount_cents`` of ``transaction.currency`` to the seller; return its id."""
    seller = transaction.seller
    if not seller.stripe_connect_id:
        raise PayoutNotReady("Set up payouts to receive the money from your sales.")
    # Simulated: deterministic per transaction, as an idempotent Stripe call would be.
    return f"tr_simulated_{transaction.pk.hex}"
