"""Escrow: the buyer confirms receipt, and the release pays the seller (processing -> completed).

Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
The amount released is ``ledger``'s payout due.
"""

import logging
from datetime import datetime

from django.db import transaction as db_transaction
from django.utils import timezone

from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from payments import hooks, ledger, payouts
from payments.gateway import GatewayError, PaymentRefused
from payments.models import LedgerKind, Transaction, TransactionStatus
from payments.selectors import order_capabilities
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.state import transaction_transition

logger = logging.getLogger(__name__)

PAYOUT_FAILED_MESSAGE = "The transfer to the seller failed ({reason}); nothing changed, a rerun retries it."

Status = TransactionStatus
Kind = LedgerKind


def transaction_confirm_receipt(*, transaction: Transaction, actor) -> Transaction:
    """The buyer has the item: escrow becomes due now (release_escrow pays the seller).

    Asks ``selectors.order_capabilities`` under the row lock: ``NOT_FOUND`` for anyone but the
    buyer, ``INVALID_TRANSITION`` unless paid and in escrow. Confirming twice is a no-op.
    """
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        capabilities = order_capabilities(actor, locked)
        if not capabilities.is_buyer:
            raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
        if locked.metadata.get("receipt_confirmed_at") and locked.status == Status.PROCESSING:
            return locked  # confirmed already (a double submit)
        if not capabilities.can_confirm_receipt:
            raise ServiceError(
                "Only a paid purchase awaiting release can be confirmed.", code=ErrorCode.INVALID_TRANSITION
            )
        now = timezone.now()
        if locked.escrow_release_date is None or locked.escrow_release_date > now:
            locked.escrow_release_date = now
        locked.metadata = {**locked.metadata, "receipt_confirmed_at": now.isoformat()}
        locked.save(update_fields=["escrow_release_date", "metadata"])
        ledger.seller_money_changed(locked)
        after_commit(hooks.order_receipt_confirmed, locked)
    return locked


def payout_due_cents(transaction: Transaction) -> int:
    """What the seller is paid at release (cents): the payout less refunds already made from
    it (``ledger.transaction_figures().payout_due``). Reads the ledger."""
    return ledger.transaction_figures(transaction).payout_due


def transaction_release(
    *, transaction: Transaction, transfer_id: str, at: datetime | None = None
) -> Transaction:
    """Escrow released: processing -> completed, the listing sold, the transfer booked.

    ``transfer_id`` is the transfer of ``payout_due_cents`` already made to the seller.
    """
    at = at or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.status != Status.PROCESSING or locked.escrow_released_at is not None:
            raise ServiceError(
                "Only a paid purchase awaiting release can be released.", code=ErrorCode.INVALID_TRANSITION
            )
        if locked.escrow_release_date is None or locked.escrow_release_date > at:
            raise ServiceError("The escrow period of this purchase has not ended.", code=ErrorCode.NOT_DUE)
        amount = payout_due_cents(locked)
        if amount and not transfer_id:
            raise ValueError("transfer_id is required.")
        return transaction_transition(
            transaction=locked,
            to_status=Status.COMPLETED,
            at=at,
            escrow_released_at=at,
            transfer_id=transfer_id or "",
            ledger=[(Kind.TRANSFER, amount, transfer_id)],
        )


def transaction_release_due(*, transaction: Transaction, now: datetime | None = None) -> str:
    """Pay the seller and complete the transaction if its escrow is due; for release_escrow.

    Returns "released", "skipped" (another session holds it, or it is no longer due or
    processing: re-checked under the row lock, so concurrent runs transfer once) or
    "waiting" (the seller cannot receive payouts yet: nothing changes, a later run retries).
    ``ServiceError`` (``PAYMENT_UNAVAILABLE`` / ``PAYMENT_REFUSED``) when the transfer fails:
    nothing changes and a rerun retries with the same idempotency key.
    The transfer is made under the row lock; ``payouts.payout_transfer`` is idempotent per
    transaction, so a crash between the transfer and the commit is repaired by a rerun.
    """
    now = now or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction, skip_locked=True)
        if (
            locked is None
            or locked.status != Status.PROCESSING
            or locked.escrow_released_at is not None
            or locked.escrow_release_date is None
            or locked.escrow_release_date > now
        ):
            return "skipped"
        amount = payout_due_cents(locked)
        try:
            transfer_id = payouts.payout_transfer(locked, amount_cents=amount) if amount else ""
        except payouts.PayoutNotReady as reason:
            logger.info("escrow of %s waits: %s", locked.pk, reason)
            return "waiting"
        except GatewayError as error:  # nothing was transferred: the rollback keeps the row as it was
            code = (
                ErrorCode.PAYMENT_REFUSED
                if isinstance(error, PaymentRefused)
                else ErrorCode.PAYMENT_UNAVAILABLE
            )
            raise ServiceError(PAYOUT_FAILED_MESSAGE.format(reason=error.message), code=code) from error
        transaction_release(transaction=locked, transfer_id=transfer_id, at=now)
    return "released"
