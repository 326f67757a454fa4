"""Checkout: the buyer pays a pending transaction (pending -> processing, money in escrow).

The card is collected by Stripe.js in the browser, which creates a PaymentMethod and posts its
id: :func:`transaction_pay` creates the PaymentIntent confirmed with it and attaches it to the
transaction; when the bank asks for 3-D Secure the browser runs ``confirmCardPayment`` and
:func:`transaction_confirm_payment` reads the intent again. Either marks the transaction paid
when the intent succeeded, and so may the ``payment_intent.succeeded`` webhook: marking paid is
idempotent per intent.

Both answer a :class:`PaymentResult` (the browser's next step) and raise only
``ServiceError``; the gateway's errors become ``PAYMENT_DECLINED`` (another card may work),
``PAYMENT_REFUSED`` or ``PAYMENT_UNAVAILABLE`` (nothing was charged; try again).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction as db_transaction
from django.utils import timezone

from marketplace.errors import ErrorCode, ServiceError
from payments.gateway import GatewayError, PaymentDeclined, PaymentIntent, PaymentRefused, payment_gateway
from payments.models import LedgerKind, Transaction, TransactionStatus
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.state import transaction_transition

logger = logging.getLogger(__name__)

Status = TransactionStatus
Kind = LedgerKind

PAYMENT_UNAVAILABLE_MESSAGE = (
    "The payment service could not be reached just now; you were not charged. Please try again."
)
PAYMENT_FAILED_MESSAGE = "The payment did not go through; please try another card."
NO_CARD_MESSAGE = "No card was given."
NOT_STARTED_MESSAGE = "No payment was started for this order."


@dataclass(frozen=True)
class PaymentResult:
    """The browser's next step after a pay or confirm call.

    ``status`` is "succeeded" (paid: show the order), "requires_action" (run 3-D Secure with
    ``client_secret``, then confirm), "processing" (the bank has not answered yet: the webhook
    will), or, for a checkout that closed without a payment, the transaction's own status
    ("cancelled"). ``transaction`` is the transaction as it stands after the call.
    """

    status: str
    transaction: Transaction
    client_secret: str | None = None


def transaction_mark_paid(
    *, transaction: Transaction, payment_intent_id: str, charge_id: str, amount_cents: int
) -> Transaction:
    """The buyer's payment succeeded: pending -> processing, money held in escrow until
    ``now + ESCROW_RELEASE_DAYS``; books the charge and the platform fee.

    Idempotent for the same payment intent (a replayed webhook returns the row unchanged).
    Refuses an amount other than ``total_cents`` and a transaction that is no longer pending
    (an expired checkout paid late must be refunded by the caller).
    """
    if not payment_intent_id or not charge_id:
        raise ValueError("payment_intent_id and charge_id are required.")
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.status != Status.PENDING and locked.payment_intent_id == payment_intent_id:
            return locked
        if locked.status != Status.PENDING:
            raise ServiceError(
                "This purchase is no longer awaiting payment.", code=ErrorCode.INVALID_TRANSITION
            )
        if amount_cents != locked.total_cents:
            raise ServiceError(
                f"The payment of {amount_cents} does not match the total of {locked.total_cents}.",
                code=ErrorCode.AMOUNT_MISMATCH,
            )
        if Transaction.objects.filter(payment_intent_id=payment_intent_id).exclude(pk=locked.pk).exists():
            raise ServiceError("This payment belongs to another purchase.", code=ErrorCode.INVALID)
        now = timezone.now()
        return transaction_transition(
            transaction=locked,
            to_status=Status.PROCESSING,
            at=now,
            payment_intent_id=payment_intent_id,
            charge_id=charge_id,
            escrow_release_date=now + timedelta(days=settings.ESCROW_RELEASE_DAYS),
            ledger=[
                (Kind.CHARGE, locked.total_cents, charge_id),
                (Kind.PLATFORM_FEE, locked.platform_fee_cents, ""),
            ],
        )


def transaction_attach_payment_intent(*, transaction: Transaction, payment_intent_id: str) -> Transaction:
    """Store the PaymentIntent created for a pending transaction (once; the same id again is a
    no-op). A pending transaction whose earlier intent failed (card declined) may take a new one.
    """
    if not payment_intent_id:
        raise ValueError("payment_intent_id is required.")
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.payment_intent_id == payment_intent_id:
            return locked
        if locked.status != Status.PENDING:
            raise ServiceError(
                "This purchase is no longer awaiting payment.", code=ErrorCode.INVALID_TRANSITION
            )
        if Transaction.objects.filter(payment_intent_id=payment_intent_id).exclude(pk=locked.pk).exists():
            raise ServiceError("This payment belongs to another purchase.", code=ErrorCode.INVALID)
        locked.payment_intent_id = payment_intent_id
        locked.save(update_fields=["payment_intent_id"])
    return locked


def transaction_settle_payment_intent(
    *, transaction: Transaction, payment_intent: PaymentIntent
) -> Transaction:
    """Mark the transaction paid if ``payment_intent`` (the gateway's) succeeded; return it.

    Idempotent: a transaction already paid with this intent (by the webhook, a double submit)
    is returned unchanged; any other status of the intent changes nothing. ``ServiceError``
    as :func:`transaction_mark_paid`, or ``INVALID`` for a succeeded intent without a charge.
    """
    if not payment_intent.succeeded:
        return transaction
    current = Transaction.objects.get(pk=transaction.pk)
    if current.status != Status.PENDING and current.payment_intent_id == payment_intent.id:
        return current
    if not payment_intent.charge_id:
        raise ServiceError(f"Payment {payment_intent.id} has no charge.", code=ErrorCode.INVALID)
    return transaction_mark_paid(
        transaction=current,
        payment_intent_id=payment_intent.id,
        charge_id=payment_intent.charge_id,
        amount_cents=payment_intent.paid_cents,
    )


def _ensure_buyer(transaction: Transaction, buyer) -> None:
    if buyer is None or transaction.buyer_id != buyer.pk:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)


def _payment_error(error: GatewayError, transaction: Transaction, *, show_refusal: bool) -> ServiceError:
    """The buyer's message for a gateway error. A decline says why (Stripe's message for the
    buyer); a refusal of the buyer's own card details may show Stripe's reason
    (``show_refusal``); anything else says the service could not be reached."""
    if isinstance(error, PaymentDeclined):
        return ServiceError(error.user_message, code=ErrorCode.PAYMENT_DECLINED)
    logger.warning("checkout %s: Stripe error %s", transaction.pk, error)
    if isinstance(error, PaymentRefused):
        message = (error.user_message if show_refusal else None) or PAYMENT_UNAVAILABLE_MESSAGE
        return ServiceError(message, code=ErrorCode.PAYMENT_REFUSED)
    return ServiceError(PAYMENT_UNAVAILABLE_MESSAGE, code=ErrorCode.PAYMENT_UNAVAILABLE)


def _result(transaction: Transaction, intent: PaymentIntent) -> PaymentResult:
    if intent.succeeded:
        return PaymentResult("succeeded", transaction)
    if intent.requires_action:
        return PaymentResult("requires_action", transaction, client_secret=intent.client_secret)
    if intent.status == "processing":
        return PaymentResult("processing", transaction)
    raise ServiceError(PAYMENT_FAILED_MESSAGE, code=ErrorCode.PAYMENT_DECLINED)


def transaction_pay(*, transaction: Transaction, buyer, payment_method: str) -> PaymentResult:
    """The buyer pays the pending ``transaction`` with the card Stripe.js tokenised as
    ``payment_method`` (a PaymentMethod id); see :class:`PaymentResult` for the answer.

    Takes :func:`transaction_lock` around the Stripe calls, so two submits of one checkout are
    serialised: the second finds the intent the first attached instead of creating another
    (never two charges). An earlier intent whose card was declined is replaced by a new one
    for the new card; the create carries the key ``pi-<transaction>-<payment method>``.
    A checkout no longer pending answers "succeeded" if it was paid, else its status.

    ``ServiceError``: ``INCOMPLETE`` (no card given), ``PAYMENT_DECLINED`` (with the bank's
    message; the checkout stays pending for another card), ``PAYMENT_REFUSED`` /
    ``PAYMENT_UNAVAILABLE`` (nothing charged), ``NOT_FOUND`` (not the buyer), or the state
    errors of :func:`transaction_attach_payment_intent` / :func:`transaction_mark_paid`.
    """
    _ensure_buyer(transaction, buyer)
    if transaction.status != Status.PENDING:
        return PaymentResult(
            "succeeded" if transaction.payment_intent_id else transaction.status, transaction
        )
    payment_method = (payment_method or "").strip()
    if not payment_method or len(payment_method) > 255:
        raise ServiceError(NO_CARD_MESSAGE, code=ErrorCode.INCOMPLETE)
    gateway = payment_gateway()
    try:
        with db_transaction.atomic():
            locked = transaction_lock(transaction)
            intent = None
            if locked.payment_intent_id:
                intent = gateway.retrieve_payment_intent(locked.payment_intent_id)
                if intent.status in PaymentIntent.RETRY_STATUSES:
                    intent = None  # the earlier card was declined: a new intent for the new card
            if intent is None:
                intent = gateway.create_payment_intent(
                    amount_cents=locked.total_cents,
                    currency=locked.currency,
                    payment_method=payment_method,
                    metadata={"transaction_id": str(locked.pk)},
                    idempotency_key=f"pi-{locked.pk}-{payment_method}",
                )
                transaction_attach_payment_intent(transaction=locked, payment_intent_id=intent.id)
    except GatewayError as error:
        raise _payment_error(error, transaction, show_refusal=True) from error
    settled = transaction_settle_payment_intent(transaction=transaction, payment_intent=intent)
    return _result(settled, intent)


def transaction_confirm_payment(*, transaction: Transaction, buyer) -> PaymentResult:
    """After the browser's 3-D Secure step: read the checkout's PaymentIntent again and mark
    the transaction paid if it succeeded; see :class:`PaymentResult` for the answer. No lock
    is held across the Stripe call (marking paid takes its own).

    ``ServiceError``: ``INCOMPLETE`` (no payment was started), ``PAYMENT_DECLINED`` (the
    authentication failed: try another card), ``PAYMENT_REFUSED`` / ``PAYMENT_UNAVAILABLE``,
    ``NOT_FOUND`` (not the buyer), or those of :func:`transaction_mark_paid`.
    """
    _ensure_buyer(transaction, buyer)
    if not transaction.payment_intent_id:
        raise ServiceError(NOT_STARTED_MESSAGE, code=ErrorCode.INCOMPLETE)
    if transaction.status != Status.PENDING:
        return PaymentResult("succeeded", transaction)
    try:
        intent = payment_gateway().retrieve_payment_intent(transaction.payment_intent_id)
    except GatewayError as error:
        raise _payment_error(error, transaction, show_refusal=False) from error
    settled = transaction_settle_payment_intent(transaction=transaction, payment_intent=intent)
    return _result(settled, intent)
