"""Refunds asked for by the seller or staff: after escrow release, first take the seller's part
back from their transfer, then refund the buyer at Stripe, and book both.

The order of the steps is what keeps every cent accounted for when a Stripe call fails. All
of it runs under the transaction's row lock (which also orders it with the
``charge.refunded`` webhook: the webhook waits for the booking and then finds nothing left):

1. Check the amount against the ledger (``refund_amount_check``). A refusal changes nothing.
2. After release only: pull back from the seller's transfer what they would hold beyond their
   share once the refund is made (``ledger.refund_reversal_cents``), through the Connect
   gateway, with the idempotency key ``reversal-<transaction>-holds-<what the seller holds>``
   (what the seller holds only shrinks, so a key is never reused for another reversal; the
   webhook's ``transaction_reverse_due`` derives the same key from the same ledger, so the two
   paths can never both reverse). If Stripe refuses (the seller's balance cannot cover it), the
   seller's refund is refused with a message and nothing changes: no refund at Stripe, nothing
   booked. Staff may refund anyway with ``book_seller_debt``: the buyer is refunded and what
   the seller keeps is booked as ``seller_debt``. If Stripe cannot be reached, nothing changes.
   A reversal made is booked (``transfer_reversal``) in the same database transaction.
3. Refund the buyer at Stripe (idempotency key ``refund-<transaction>-<request key>``; the
   refund form carries one request key, so a double submit or a retry gets the same refund
   back) and book it. If Stripe refuses or cannot be reached, the reversal of step 2 is still
   booked and committed (the money is back with the platform, and ``reconcile`` reports the
   transaction until the buyer is refunded); the person is told, and a second submit of the
   form finds nothing more to reverse (the seller holds only their share now) and refunds.

Before a reversal, Stripe's refunded total of the charge is compared with the ledger's: if
Stripe has a refund the ledger lacks (a crash after the refund, before the commit), the request
is refused until the ``charge.refunded`` webhook books it (and reverses for it).

If the process dies between the reversal and the refund (or before the commit), nothing was
booked. A retry of the form computes the same reversal with the same key from the unchanged
ledger, so Stripe answers the reversal it already made (it is not made twice), books it, and
goes on to refund. If it died after the refund too, Stripe's refunded total is ahead of the
ledger: a retry is refused (nothing moves) until the ``charge.refunded`` webhook books the
refund, and its ``transaction_reverse_due`` asks for the same reversal under the same key
(same ledger, same amount), so that reversal is booked once. (A retry with another amount
before that would reuse the reversal key with other parameters: Stripe refuses it and the
person is told; nothing is reversed twice.) One case is left to ``reconcile``: the very same
form submitted again after that webhook booked its refund looks like a new refund, so its
reversal is made and booked before Stripe answers the old refund (found booked, nothing more
is refunded); the seller then holds less than their share and ``reconcile`` reports the
transaction for staff.

Who may refund is ``selectors.refund_authority``: the seller of the order, or staff with the
``payments.refund_transaction`` permission, who give a reason (a ``StaffDecision``).
Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
The limits and the reversals are ``ledger``'s formulas.
"""

import logging

from django.db import transaction as db_transaction

from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import format_amount
from payments import hooks, ledger, payouts
from payments.gateway import GatewayError, PaymentRefused, Refund, payment_gateway
from payments.ledger import (
    PLATFORM_FEE,
    REFUNDED,
    SELLER_HOLDS,
    ledger_totals,
    refund_reversal_cents,
    require_positive_cents,
    transaction_figures,
)
from payments.models import LedgerEntry, LedgerKind, StaffDecision, Transaction, TransactionStatus
from payments.selectors import RefundAuthority, refund_authority, refundable
from payments.services.escrow import require_reason
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.state import transaction_transition

logger = logging.getLogger(__name__)

Status = TransactionStatus
Kind = LedgerKind

STRIPE_REFUSED_MESSAGE = "Stripe could not refund this payment: {reason}"
STRIPE_DOWN_MESSAGE = "The payment service could not be reached; nothing was refunded. Please try again."
REVERSAL_REFUSED_MESSAGE = (
    "Nothing was refunded: Stripe would not take {amount} of the payout already sent back from the "
    "seller's account ({reason}). The seller needs funds in their Stripe balance; staff can refund "
    "anyway and record the amount as owed by the seller."
)
REFUND_AFTER_REVERSAL_MESSAGE = (
    " {amount} was taken back from the seller's payout and is held until the buyer is refunded: "
    "submit the refund again."
)
REFUND_NOT_BOOKED_MESSAGE = (
    "Nothing was refunded: Stripe reports a refund of this purchase that is not booked here yet. "
    "It is booked when Stripe's notice arrives, usually within minutes; reload the page then."
)
NO_REFUND_PERMISSION_MESSAGE = "Only staff allowed to refund purchases can do this."
DEBT_NEEDS_STAFF_MESSAGE = "Only staff can refund and record what the seller owes."


# The actor of a refund nobody asked for here: one Stripe reports (``charge.refunded``), which
# ``transaction_refund`` books. It may book, never issue (``refund_issue``).
SYSTEM = None


def ensure_can_refund(transaction: Transaction, actor, *, booking: bool = False) -> RefundAuthority | None:
    """By what right ``actor`` refunds (``selectors.refund_authority``: "seller" or "staff"), or
    ``ServiceError``: ``FORBIDDEN`` for staff without the ``payments.refund_transaction``
    permission, ``NOT_FOUND`` (as for an unknown purchase) for anyone else. With ``booking``,
    the ``SYSTEM`` actor may too (it books what Stripe already refunded; returns None)."""
    if booking and actor is SYSTEM:
        return None
    authority = refund_authority(actor, transaction)
    if authority is None:
        if actor is not None and getattr(actor, "is_staff", False) and actor.is_authenticated:
            raise ServiceError(NO_REFUND_PERMISSION_MESSAGE, code=ErrorCode.FORBIDDEN)
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    return authority


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


def reversal_key(transaction: Transaction, holds: int) -> str:
    """The idempotency key of the reversal that brings what the seller holds (``SELLER_HOLDS``,
    before it) down to their share: the refund's reversal and ``transaction_reverse_due``
    derive the same key from the same ledger, so the two can never both reverse."""
    return f"reversal-{transaction.pk}-holds-{holds}"


def transaction_reverse_due(*, transaction: Transaction) -> Transaction:
    """Pull back from the seller's transfer what they hold beyond their share after a refund
    or a lost dispute that Stripe reported after release (made elsewhere: the dashboard, the
    card network), and book it (``transfer_reversal``). ``refund_issue`` reverses before it
    refunds, so after it nothing is due here.

    When Stripe refuses (``PaymentRefused``: their balance cannot cover it), the amount is
    booked as ``seller_debt`` for staff to collect (the buyer has their money already).
    ``PaymentUnavailable`` propagates with nothing booked: a retry (the ``charge.refunded``
    webhook, the refund form) uses the same idempotency key (:func:`reversal_key`), so it
    cannot reverse twice. Nothing to do before release or when nothing is due.
    """
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        figures = transaction_figures(locked)
        due = figures.reversal_due
        if due <= 0:  # before release, or nothing held beyond the share
            return locked
        try:
            reversal_id = payouts.payout_reversal(
                locked, amount_cents=due, idempotency_key=reversal_key(locked, figures.seller_holds)
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


def _recover_from_seller(locked: Transaction, amount_cents: int, *, book_seller_debt: bool) -> int:
    """Step 2 of the module docstring: reverse what the refund needs from the seller's transfer
    and book it. Returns what is left to book as the seller's debt (staff's ``book_seller_debt``
    after a refusal), else 0. ``ServiceError`` when Stripe refuses (without ``book_seller_debt``)
    or cannot be reached: nothing was reversed or booked. The caller holds the row lock."""
    totals = ledger_totals(locked)
    need = refund_reversal_cents(locked, amount_cents, totals)
    if need <= 0:
        return 0
    try:
        # A refund made at Stripe that the ledger lacks (a crash after it; the charge.refunded
        # webhook books it and its reversal): reversing for this one now could pull the
        # seller's part back twice. Wait for the ledger to catch up.
        unbooked = payment_gateway().retrieve_charge(locked.charge_id).amount_refunded_cents > REFUNDED.of(
            totals
        )
    except GatewayError as error:
        raise ServiceError(STRIPE_DOWN_MESSAGE, code=ErrorCode.PAYMENT_UNAVAILABLE) from error
    if unbooked:
        raise ServiceError(REFUND_NOT_BOOKED_MESSAGE, code=ErrorCode.STALE)
    try:
        reversal_id = payouts.payout_reversal(
            locked, amount_cents=need, idempotency_key=reversal_key(locked, SELLER_HOLDS.of(totals))
        )
    except PaymentRefused as refusal:
        if book_seller_debt:
            logger.warning("reversal of %s for refund of %s refused; staff book the debt", need, locked.pk)
            return need
        raise ServiceError(
            REVERSAL_REFUSED_MESSAGE.format(
                amount=format_amount(need, locked.currency),
                reason=(refusal.user_message or refusal.message or "the request was refused").rstrip("."),
            ),
            code=ErrorCode.REVERSAL_REFUSED,
        ) from refusal
    except GatewayError as error:
        logger.warning("reversal for refund of %s: Stripe error %s", locked.pk, error)
        raise ServiceError(STRIPE_DOWN_MESSAGE, code=ErrorCode.PAYMENT_UNAVAILABLE) from error
    ledger.ledger_write(locked, [(Kind.TRANSFER_REVERSAL, need, reversal_id)])
    return 0


def refund_issue(
    *,
    transaction: Transaction,
    amount_cents: int,
    actor,
    request_key: str,
    reason: str = "",
    book_seller_debt: bool = False,
) -> Transaction:
    """Refund ``amount_cents`` of the purchase to the buyer (the seller or staff asks); after
    release, the seller's part comes back from their transfer first (module docstring).

    ``actor``: the seller of the order, or staff with ``payments.refund_transaction``
    (``ensure_can_refund``), who must give a ``reason`` (recorded as a ``StaffDecision``).
    ``book_seller_debt`` (staff only): when Stripe refuses the reversal, refund anyway and book
    what the seller keeps as ``seller_debt``. ``ServiceError`` with a message for the person
    when the rules or Stripe say no; then nothing changed, except a reversal made before a
    failed refund, which stays booked (the message says so). Returns the transaction as booked.
    """
    authority = ensure_can_refund(transaction, actor)
    if authority == "staff":
        reason = require_reason(reason)
    elif book_seller_debt:
        raise ServiceError(DEBT_NEEDS_STAFF_MESSAGE, code=ErrorCode.FORBIDDEN)
    key = (request_key or "").strip()
    if not key or len(key) > 100:
        raise ServiceError("This refund form has expired: reload the page.", code=ErrorCode.INVALID)
    failure = None
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        refund_amount_check(locked, amount_cents)
        status_before = locked.status
        recovered_before = transaction_figures(locked).paid_out
        debt = _recover_from_seller(locked, amount_cents, book_seller_debt=book_seller_debt)
        try:
            refund = _create_refund(locked, amount_cents, actor=actor, key=key)
        except ServiceError as error:
            failure = error  # after the block: a reversal just booked commits with it
        else:
            if refund is None:  # the webhook booked it already
                return locked
            locked = transaction_refund(
                transaction=locked, amount_cents=refund.amount_cents, refund_id=refund.id, actor=actor
            )
            ledger.ledger_write(locked, [(Kind.SELLER_DEBT, debt, "")])
            if authority == "staff":
                decision = StaffDecision.objects.create(
                    transaction=locked,
                    actor=actor,
                    kind=StaffDecision.Kind.REFUND_SELLER_DEBT if debt else StaffDecision.Kind.REFUND,
                    amount_cents=refund.amount_cents,
                    reason=reason,
                )
                # The staff audit log's row for this decision (the StaffDecision keeps the money
                # detail for the purchase's page); one row per action.
                audit_record(
                    actor=actor,
                    action=f"payments.{decision.kind}",
                    target=locked,
                    reason=reason,
                    changes={
                        "status": (status_before, locked.status),
                        "refund_cents": (None, refund.amount_cents),
                    },
                )
        if failure is not None:
            recovered = recovered_before - transaction_figures(locked).paid_out
    if failure is not None:
        if recovered:
            amount = format_amount(recovered, locked.currency)
            failure.message += REFUND_AFTER_REVERSAL_MESSAGE.format(amount=amount)
            failure.args = (failure.message,)
        raise failure
    return locked


def _create_refund(locked: Transaction, amount_cents: int, *, actor, key: str) -> Refund | None:
    """Step 3: the refund at Stripe; None when the ledger holds it already under another id
    (``_already_booked_elsewhere``). ``ServiceError`` when Stripe refuses or is down."""
    try:
        refund = payment_gateway().create_refund(
            payment_intent_id=locked.payment_intent_id,
            amount_cents=amount_cents,
            idempotency_key=f"refund-{locked.pk}-{key}",
            metadata={"transaction_id": str(locked.pk), "requested_by": str(actor.pk)},
        )
        booked = LedgerEntry.objects.filter(kind=LedgerKind.REFUND, external_id=refund.id).exists()
        if not booked and _already_booked_elsewhere(locked, refund):
            return None
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
    return refund
