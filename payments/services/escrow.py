"""Escrow: the buyer confirms receipt, and the release pays the seller (processing -> completed).

A payout is held, not made, while the seller is not in good standing
(``selectors.payout_hold_reason``); staff with the permission release it with a reason.

Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
The amount released is ``ledger``'s payout due.
"""

import logging
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction as db_transaction
from django.utils import timezone

from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from payments import hooks, ledger, payouts
from payments.gateway import GatewayError, PaymentRefused
from payments.ledger import PAID_OUT
from payments.models import LedgerKind, StaffDecision, Transaction, TransactionStatus
from payments.selectors import may_release_held_payout, order_capabilities, payout_hold_reason
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


def _lock_seller(transaction: Transaction):
    """The seller's row, locked (``FOR NO KEY UPDATE``) so a suspension or ban committed while
    the payout is under way waits for it, and one committed before is seen. Taken after the
    listing and transaction locks; the account status services lock only the user row, so the
    order cannot deadlock."""
    return (
        get_user_model()
        .objects.select_for_update(no_key=True)
        .only("id", "account_status", "stripe_connect_id")
        .get(pk=transaction.seller_id)
    )


def _pay_out(locked: Transaction, *, at: datetime, seller) -> Transaction:
    """Transfer the payout due to ``seller`` and release (the caller holds the row locks).
    ``payouts.PayoutNotReady`` and ``GatewayError`` propagate with nothing transferred."""
    locked.seller = seller
    amount = payout_due_cents(locked)
    transfer_id = payouts.payout_transfer(locked, amount_cents=amount) if amount else ""
    return transaction_release(transaction=locked, transfer_id=transfer_id, at=at)


def _payout_failed(error: GatewayError) -> ServiceError:
    code = ErrorCode.PAYMENT_REFUSED if isinstance(error, PaymentRefused) else ErrorCode.PAYMENT_UNAVAILABLE
    return ServiceError(PAYOUT_FAILED_MESSAGE.format(reason=error.message), code=code)


def _release_due(locked: Transaction | None, now: datetime) -> bool:
    return not (
        locked is None
        or locked.status != Status.PROCESSING
        or locked.escrow_released_at is not None
        or locked.escrow_release_date is None
        or locked.escrow_release_date > now
    )


def transaction_release_due(*, transaction: Transaction, now: datetime | None = None) -> str:
    """Pay the seller and complete the transaction if its escrow is due; for release_escrow.

    Returns "released", "skipped" (another session holds it, or it is no longer due or
    processing: re-checked under the row lock, so concurrent runs transfer once), "held"
    (the seller is not in good standing, ``selectors.payout_hold_reason``: nothing is
    transferred and nothing changes; staff release it with
    :func:`transaction_release_held_payout` or refund the buyer) or "waiting" (the seller
    cannot receive payouts yet: nothing changes, a later run retries).
    ``ServiceError`` (``PAYMENT_UNAVAILABLE`` / ``PAYMENT_REFUSED``) when the transfer fails:
    nothing changes and a rerun retries with the same idempotency key.
    The transfer is made under the row locks (listing, transaction, then the seller's row, so
    a ban cannot slip in between the check and the transfer); ``payouts.payout_transfer`` is
    idempotent per transaction, so a crash between the transfer and the commit is repaired by
    a rerun.
    """
    now = now or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction, skip_locked=True)
        if not _release_due(locked, now):
            return "skipped"
        seller = _lock_seller(locked)
        hold = payout_hold_reason(locked, seller=seller)
        if hold:
            logger.info("payout of %s held: %s", locked.pk, hold)
            return "held"
        try:
            _pay_out(locked, at=now, seller=seller)
        except payouts.PayoutNotReady as reason:
            logger.info("escrow of %s waits: %s", locked.pk, reason)
            return "waiting"
        except GatewayError as error:  # nothing was transferred: the rollback keeps the row as it was
            raise _payout_failed(error) from error
    return "released"


def transaction_release_held_payout(
    *, transaction: Transaction, actor, reason: str, now: datetime | None = None
) -> Transaction:
    """Staff pay out a payout held because the seller is not in good standing: the transfer
    is made and the transaction released as ``release_escrow`` would, and the decision is
    recorded with ``reason`` (a ``StaffDecision``).

    ``FORBIDDEN`` unless ``actor`` may (``selectors.may_release_held_payout``); ``INCOMPLETE``
    without a reason; ``INVALID_TRANSITION`` unless the payout is held now (a seller back in
    good standing is paid by the next ``release_escrow``); ``NOT_DUE`` before the escrow date;
    ``NOT_CONNECTED`` when the seller cannot receive payouts; the gateway's failures as in
    :func:`transaction_release_due`. Nothing changes on any refusal. Takes the row locks
    (listing, transaction, seller), waiting for them.
    """
    if not may_release_held_payout(actor):
        raise ServiceError(
            "Only staff allowed to release held payouts can do this.", code=ErrorCode.FORBIDDEN
        )
    reason = require_reason(reason)
    now = now or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        seller = _lock_seller(locked)
        if not payout_hold_reason(locked, seller=seller):
            raise ServiceError(
                "This payout is not held: only a paid purchase in escrow whose seller is not in "
                "good standing can be released here.",
                code=ErrorCode.INVALID_TRANSITION,
            )
        if not _release_due(locked, now):
            raise ServiceError("The escrow period of this purchase has not ended.", code=ErrorCode.NOT_DUE)
        try:
            released = _pay_out(locked, at=now, seller=seller)
        except payouts.PayoutNotReady as not_ready:
            raise ServiceError(
                f"The seller cannot receive payouts yet: {not_ready}", code=ErrorCode.NOT_CONNECTED
            ) from not_ready
        except GatewayError as error:
            raise _payout_failed(error) from error
        decision = StaffDecision.objects.create(
            transaction=released,
            actor=actor,
            kind=StaffDecision.Kind.RELEASE_HELD_PAYOUT,
            amount_cents=PAID_OUT.of(ledger.ledger_totals(released)),
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="payments.release_held_payout",
            target=released,
            reason=reason,
            changes={"paid_out_cents": (0, decision.amount_cents)},
        )
    logger.info("held payout of %s released by %s: %s", released.pk, actor.pk, reason)
    return released


STAFF_REASON_MAX_LENGTH = 2000


def require_reason(reason: str | None) -> str:
    """A staff decision's reason, stripped; ``ServiceError`` when blank or too long."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "Give a reason: it is recorded with the decision and shown to other staff.",
            code=ErrorCode.INCOMPLETE,
        )
    if len(reason) > STAFF_REASON_MAX_LENGTH:
        raise ServiceError(
            f"Keep the reason under {STAFF_REASON_MAX_LENGTH} characters.", code=ErrorCode.INVALID
        )
    return reason
