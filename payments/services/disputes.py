"""Disputes: the buyer's bank disputed the charge (opened), and the outcome (closed).

Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
"""

from django.db import transaction as db_transaction

from marketplace.errors import ErrorCode, ServiceError
from payments.ledger import DISPUTED, PLATFORM_FEE, ledger_totals, require_positive_cents
from payments.models import LedgerEntry, LedgerKind, Transaction, TransactionStatus
from payments.services.locking import transaction_lock
from payments.services.state import transaction_transition

Status = TransactionStatus
Kind = LedgerKind


def transaction_dispute_open(*, transaction: Transaction, dispute_id: str, amount_cents: int) -> Transaction:
    """The buyer's bank disputed the charge: processing or completed -> disputed, the
    withdrawn funds booked. Idempotent per ``dispute_id``."""
    require_positive_cents(amount_cents, "disputed amount")
    if not dispute_id:
        raise ValueError("dispute_id is required.")
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if LedgerEntry.objects.filter(kind=Kind.DISPUTE, external_id=dispute_id).exists():
            return locked
        return transaction_transition(
            transaction=locked,
            to_status=Status.DISPUTED,
            metadata={**locked.metadata, "dispute_id": dispute_id},
            ledger=[(Kind.DISPUTE, amount_cents, dispute_id)],
        )


def transaction_dispute_close(*, transaction: Transaction, dispute_id: str, won: bool) -> Transaction:
    """The dispute ended. Won: the funds come back (``dispute_won``) and the purchase returns
    to processing (before release) or completed (after). Lost: settled like a full refund,
    status refunded (fee returned, listing active again before release; after release the
    caller pulls the transfer back with ``transaction_reverse_due``). Idempotent: a closed
    dispute is returned unchanged."""
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.status != Status.DISPUTED:
            if LedgerEntry.objects.filter(
                transaction=locked, kind=Kind.DISPUTE, external_id=dispute_id
            ).exists():
                return locked  # closed already (a replayed event)
            raise ServiceError("This purchase is not disputed.", code=ErrorCode.INVALID_TRANSITION)
        totals = ledger_totals(locked)
        released = locked.escrow_released_at is not None
        if won:
            return transaction_transition(
                transaction=locked,
                to_status=Status.COMPLETED if released else Status.PROCESSING,
                ledger=[(Kind.DISPUTE_WON, DISPUTED.of(totals), f"{dispute_id}")],
            )
        fee = PLATFORM_FEE.of(totals)
        return transaction_transition(
            transaction=locked, to_status=Status.REFUNDED, ledger=[(Kind.PLATFORM_FEE_REVERSAL, fee, "")]
        )
