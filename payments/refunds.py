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
"""

import logging

import stripe
from django.db import transaction as db_transaction

from marketplace.errors import ErrorCode, ServiceError
from payments import stripe_client
from payments.models import LedgerEntry, LedgerKind, Transaction
from payments.services import (
    NOT_FOUND_MESSAGE,
    _lock,
    ledger_totals,
    refund_amount_check,
    transaction_refund,
    transaction_reverse_due,
)

logger = logging.getLogger(__name__)

STRIPE_REFUSED_MESSAGE = "Stripe could not refund this payment: {reason}"
STRIPE_DOWN_MESSAGE = "The payment service could not be reached; nothing was refunded. Please try again."


def ensure_can_refund(transaction: Transaction, actor) -> None:
    """Only the seller of the purchase and staff refund (the buyer asks the seller)."""
    if actor is None or not (actor.is_staff or transaction.seller_id == actor.pk):
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)


def _already_booked_elsewhere(transaction: Transaction, refund) -> bool:
    """True if the ledger holds this Stripe refund under another id already.

    The ``charge.refunded`` webhook books a refund it cannot name under a synthetic id; that
    happens when a first attempt made the refund at Stripe and then failed to book it. The
    retry gets the same refund back (same idempotency key): if the ledger's refunds plus this
    one exceed what Stripe says was refunded of the charge, it is booked already.
    """
    charge = stripe_client.retrieve_charge(transaction.charge_id)
    return ledger_totals(transaction)[LedgerKind.REFUND] + refund["amount"] > charge["amount_refunded"]


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
        locked = _lock(transaction)
        refund_amount_check(locked, amount_cents)
        try:
            refund = stripe_client.create_refund(
                payment_intent_id=locked.payment_intent_id,
                amount_cents=amount_cents,
                idempotency_key=f"refund-{locked.pk}-{key}",
                metadata={"transaction_id": str(locked.pk), "requested_by": str(actor.pk)},
            )
            booked = LedgerEntry.objects.filter(kind=LedgerKind.REFUND, external_id=refund["id"]).exists()
            if not booked and _already_booked_elsewhere(locked, refund):
                return locked
        except stripe.InvalidRequestError as refusal:
            raise ServiceError(
                STRIPE_REFUSED_MESSAGE.format(reason=refusal.user_message or "the request was refused."),
                code=ErrorCode.PAYMENT_REFUSED,
            ) from refusal
        except stripe.StripeError as error:
            logger.warning("refund of %s: Stripe error %s", locked.pk, error)
            raise ServiceError(STRIPE_DOWN_MESSAGE, code=ErrorCode.PAYMENT_UNAVAILABLE) from error
        if refund["status"] not in ("succeeded", "pending"):
            raise ServiceError(
                STRIPE_REFUSED_MESSAGE.format(reason=f"the refund is {refund['status']}."),
                code=ErrorCode.PAYMENT_REFUSED,
            )
        locked = transaction_refund(
            transaction=locked, amount_cents=refund["amount"], refund_id=refund["id"], actor=actor
        )
    try:
        return transaction_reverse_due(transaction=locked)
    except stripe.StripeError:
        logger.warning("reversal after refund of %s failed; it stays due", locked.pk, exc_info=True)
        return locked
