"""Refunds asked for by the seller or staff: refund the buyer at Stripe, book it, and after
escrow release pull the seller's part of the transfer back.

The order of the steps is what keeps every cent accounted for when a Stripe call fails:

1. Under the transaction's row lock: check the amount against the ledger, create the refund
   at Stripe (idempotency key ``refund-<transaction>-<request key>``; the refund form carries
   one request key, so a double submit or a retry gets the same refund back), and book it.
   A Stripe error here changes nothing: no refund was made, nothing is booked.
2. After release, in its own database transaction: ``transaction_reverse_due`` pulls the
   seller's part back (or books what they owe when Stripe refuses). If Stripe cannot be
   reached, the refund stays booked and the reversal stays due: ``reconcile`` reports the
   transaction until the ``charge.refunded`` webhook (which Stripe retries) or a second
   submit of the form completes it with the same idempotency key.

The row lock also orders the refund with the ``charge.refunded`` webhook for it: the webhook
waits for the booking and then finds nothing left to book.

Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
The limits and the reversal due are ``ledger.transaction_figures``; who may refund is
``selectors.may_refund``.
"""

import logging

from django.db import transaction as db_transaction

from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import format_amount
from payments import hooks, ledger, payouts
from payments.gateway import GatewayError, PaymentRefused, Refund, payment_gateway
from payments.ledger import PLATFORM_FEE, REFUNDED, ledger_totals, require_positive_cents, transaction_figures
from payments.models import LedgerEntry, LedgerKind, Transaction, TransactionStatus
from payments.selectors import may_refund, refundable
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.state import transaction_transition

logger = logging.getLogger(__name__)

Status = TransactionStatus
Kind = LedgerKind

STRIPE_REFUSED_MESSAGE = "Stripe could not refund this payment: {reason}"
STRIPE_DOWN_MESSAGE = "The payment service could not be reached; nothing was refunded. Please try again."


# The actor of a refund nobody asked for here: one Stripe reports (``charge.refunded``), which
# ``transaction_refund`` books. It may book, never issue (``refund_issue``).
SYSTEM = None


def ensure_can_refund(transaction: Transaction, actor, *, booking: bool = False) -> None:
    """``ServiceError`` (``NOT_FOUND``, as for an unknown purchase) unless ``actor`` may refund
    it: ``selectors.may_refund`` (a person: the seller or staff). With ``booking``, the
    ``SYSTEM`` actor may too (it books what Stripe already refunded)."""
    if booking and actor is SYSTEM:
        return
    if not may_refund(actor, transaction):
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)


def refund_amount_check(transaction: Transaction, amount_cents: int) -> bool:
    """Refuse a refund the rules do not allow (``ServiceError``); True if it refunds in full.

    The limits are ``ledger.transaction_figures``' ``refund_remaining`` (a refund of all of it
    is a refund in full) and ``refund_partial_max`` (partial refunds come out of the seller's
    payout). Reads the ledger; the caller holds the transaction's row lock.
    """
    require_positive_cents(amount_cents, "refund")
    if not refundable(transaction):
        raise ServiceError("Only a paid purchase can be refunded.", code=ErrorCode.INVALID_TRANSITION)
    figures = transaction_figures(transaction)
    remaining = figures.refund_remaining
    if amount_cents > remaining:
        raise ServiceError(
            f"At most {format_amount(remaining, transaction.currency)} remains to be refunded.",
            code=ErrorCode.TOO_MUCH,
        )
    if amount_cents < remaining and amount_cents > figures.refund_partial_max:
        raise ServiceError(
            "Partial refunds cannot exceed the seller's payout; refund the whole amount instead.",
            code=ErrorCode.TOO_MUCH,
        )
    return amount_cents == remaining


def transaction_refund(*, transaction: Transaction, amount_cents: int, refund_id: str, actor) -> Transaction:
    """Book a refund of ``amount_cents`` made at Stripe as ``refund_id`` (full or partial).

    Rules in the module docstring: partial refunds (together at most the seller payout) come
    out of the seller's share; a refund of everything that remains makes the transaction
    refunded, returns the platform fee, and before release makes the listing active again.
    After release the caller pulls the seller's part back with ``transaction_reverse_due``.
    Idempotent per ``refund_id``. ``actor``: the person who asked (``ensure_can_refund``), or
    ``SYSTEM`` for a refund Stripe reported.
    """
    ensure_can_refund(transaction, actor, booking=True)
    require_positive_cents(amount_cents, "refund")
    if not refund_id:
        raise ValueError("refund_id is required.")
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if LedgerEntry.objects.filter(kind=Kind.REFUND, external_id=refund_id).exists():
            return locked
        if refund_amount_check(locked, amount_cents):
            fee = PLATFORM_FEE.of(ledger_totals(locked))
            locked = transaction_transition(
                transaction=locked,
                to_status=Status.REFUNDED,
                ledger=[(Kind.REFUND, amount_cents, refund_id), (Kind.PLATFORM_FEE_REVERSAL, fee, "")],
            )
        else:
            ledger.ledger_write(locked, [(Kind.REFUND, amount_cents, refund_id)])
        after_commit(hooks.order_refunded, locked, amount_cents)
    return locked


def seller_reversal_due_cents(transaction: Transaction) -> int:
    """After release: what the seller holds beyond their share, to pull back (cents;
    ``ledger.transaction_figures().reversal_due``)."""
    return transaction_figures(transaction).reversal_due


def transaction_reverse_due(*, transaction: Transaction) -> Transaction:
    """Pull back from the seller's transfer what they hold beyond their share after a refund
    or a lost dispute that came after release, and book it (``transfer_reversal``).

    When Stripe refuses (``PaymentRefused``: their balance cannot cover it), the amount is
    booked as ``seller_debt`` for staff to collect. ``PaymentUnavailable`` propagates
    with nothing booked: a retry (the ``charge.refunded`` webhook, the refund form) uses the
    same idempotency key, which is derived from the share the seller keeps (it only shrinks),
    so it cannot reverse twice. Nothing to do before release or when nothing is due.
    """
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        figures = transaction_figures(locked)
        due, share = figures.reversal_due, figures.seller_share
        if due <= 0:  # before release, or nothing held beyond the share
            return locked
        try:
            reversal_id = payouts.payout_reversal(
                locked, amount_cents=due, idempotency_key=f"reversal-{locked.pk}-{share}"
            )
        except PaymentRefused as refusal:
            logger.warning(
                "Stripe refused to reverse %s of transfer %s (%s): booked as owed by seller %s.",
                due,
                locked.transfer_id,
                refusal.user_message or refusal,
                locked.seller_id,
            )
            ledger.ledger_write(locked, [(Kind.SELLER_DEBT, due, "")])
        else:
            ledger.ledger_write(locked, [(Kind.TRANSFER_REVERSAL, due, reversal_id)])
    return locked


def transaction_book_late_payment(
    *, transaction: Transaction, charge_id: str, amount_cents: int, refund_id: str
) -> Transaction:
    """A payment that succeeded after its checkout was cancelled, refunded at once as
    ``refund_id``: the cancelled transaction books the charge and the refund (it stays
    cancelled; the listing is not touched). Idempotent per charge."""
    require_positive_cents(amount_cents, "payment")
    if not charge_id or not refund_id:
        raise ValueError("charge_id and refund_id are required.")
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.status != Status.CANCELLED:
            raise ServiceError(
                "Only a cancelled purchase refunds a late payment.", code=ErrorCode.INVALID_TRANSITION
            )
        if LedgerEntry.objects.filter(kind=Kind.CHARGE, external_id=charge_id).exists():
            return locked
        ledger.ledger_write(
            locked, [(Kind.CHARGE, amount_cents, charge_id), (Kind.REFUND, amount_cents, refund_id)]
        )
        after_commit(hooks.order_refunded, locked, amount_cents)
    return locked


def _already_booked_elsewhere(transaction: Transaction, refund: Refund) -> bool:
    """True if the ledger holds this Stripe refund under another id already.

    The ``charge.refunded`` webhook books a refund it cannot name under a synthetic id; that
    happens when a first attempt made the refund at Stripe and then failed to book it. The
    retry gets the same refund back (same idempotency key): if the ledger's refunds plus this
    one exceed what Stripe says was refunded of the charge, it is booked already.
    """
    charge = payment_gateway().retrieve_charge(transaction.charge_id)
    return REFUNDED.of(ledger_totals(transaction)) + refund.amount_cents > charge.amount_refunded_cents


def refund_issue(*, transaction: Transaction, amount_cents: int, actor, request_key: str) -> Transaction:
    """Refund ``amount_cents`` of the purchase to the buyer (the seller or staff asks).

    ``ServiceError`` with a message for the person when the rules or Stripe say no; then
    nothing changed. Returns the transaction as booked.
    """
    ensure_can_refund(transaction, actor)
    key = (request_key or "").strip()
    if not key or len(key) > 100:
        raise ServiceError("This refund form has expired: reload the page.", code=ErrorCode.INVALID)
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        refund_amount_check(locked, amount_cents)
        try:
            refund = payment_gateway().create_refund(
                payment_intent_id=locked.payment_intent_id,
                amount_cents=amount_cents,
                idempotency_key=f"refund-{locked.pk}-{key}",
                metadata={"transaction_id": str(locked.pk), "requested_by": str(actor.pk)},
            )
            booked = LedgerEntry.objects.filter(kind=LedgerKind.REFUND, external_id=refund.id).exists()
            if not booked and _already_booked_elsewhere(locked, refund):
                return locked
        except PaymentRefused as refusal:
            raise ServiceError(
                STRIPE_REFUSED_MESSAGE.format(reason=refusal.user_message or "the request was refused."),
                code=ErrorCode.PAYMENT_REFUSED,
            ) from refusal
        except GatewayError as error:
            logger.warning("refund of %s: Stripe error %s", locked.pk, error)
            raise ServiceError(STRIPE_DOWN_MESSAGE, code=ErrorCode.PAYMENT_UNAVAILABLE) from error
        if refund.status not in ("succeeded", "pending"):
            raise ServiceError(
                STRIPE_REFUSED_MESSAGE.format(reason=f"the refund is {refund.status}."),
                code=ErrorCode.PAYMENT_REFUSED,
            )
        locked = transaction_refund(
            transaction=locked, amount_cents=refund.amount_cents, refund_id=refund.id, actor=actor
        )
    try:
        return transaction_reverse_due(transaction=locked)
    except GatewayError:
        logger.warning("reversal after refund of %s failed; it stays due", locked.pk, exc_info=True)
        return locked
