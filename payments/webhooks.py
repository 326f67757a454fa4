"""Stripe webhooks: store each verified event once, and move transactions forward.

The view verifies the signature (``payments.gateway.verify_webhook``, which answers the event
as a plain dict); everything here works on that dict.

``process_event`` inserts the event row (``INSERT ... ON CONFLICT DO NOTHING``) and runs its
handler in one database transaction: a replayed delivery finds the row and is acknowledged
without effect, and a handler that fails unexpectedly rolls the row back with its effect, so
Stripe's retry processes the event again. A business refusal (``ServiceError``: an illegal
transition, a wrong amount) is logged and acknowledged: retrying would refuse again.

Stripe delivers out of order. Handlers read the current state under the row lock and only
move forward through the services' state machine; events that carry no move
(``payment_intent.created``, ``processing``, ...) and unknown types are stored and acknowledged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db import transaction as db_transaction
from django.utils import timezone

from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from payments.connect import payout_status_changed
from payments.gateway import charge_id_of, object_id, payment_gateway
from payments.ledger import REFUNDED, ledger_totals
from payments.models import LedgerEntry, LedgerKind, StripeEvent, Transaction, TransactionStatus
from payments.services import (
    seller_reversal_due_cents,
    transaction_book_late_payment,
    transaction_dispute_close,
    transaction_dispute_open,
    transaction_lock,
    transaction_mark_paid,
    transaction_refund,
    transaction_reverse_due,
    transaction_transition,
)

logger = logging.getLogger(__name__)

Status = TransactionStatus
Kind = LedgerKind
Event = dict[str, Any]


# --- Processing ---------------------------------------------------------------------------------
def _record(event: Event) -> bool:
    """Insert the event row; False if this event id is stored already (a replay).

    Inside the caller's transaction. A concurrent delivery of the same event waits on the
    unique index until the first commits (then: replay) or rolls back (then: inserted).
    """
    obj = event["data"]["object"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {StripeEvent._meta.db_table} "  # noqa: S608 (table name is ours)
            "(event_id, type, object_id, created, payload) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id",
            [
                event["id"],
                event["type"][:100],
                str(obj.get("id") or "")[:255],
                datetime.fromtimestamp(event["created"], tz=UTC),
                json.dumps(event),
            ],
        )
        return cursor.fetchone() is not None


def process_event(event: Event) -> str:
    """Store and apply a verified event once. Returns the outcome: "processed", "ignored"
    (nothing to do), "refused" (a business rule said no; logged) or "duplicate".

    Anything else raised rolls back the event row and the effect (the view answers 500).
    """
    handler = HANDLERS.get(event["type"])
    with db_transaction.atomic():
        if not _record(event):
            logger.info("Stripe event %s (%s) already processed.", event["id"], event["type"])
            return "duplicate"
        outcome = "ignored"
        if handler is not None:
            try:
                with db_transaction.atomic():
                    outcome = handler(event["data"]["object"], event)
            except ServiceError as error:
                logger.warning("Stripe event %s (%s) refused: %s", event["id"], event["type"], error.message)
                outcome = "refused"
        StripeEvent.objects.filter(event_id=event["id"]).update(processed_at=timezone.now())
    return outcome


# --- Finding the transaction ----------------------------------------------------------------
def _transaction_for_intent(payment_intent: Event) -> Transaction | None:
    payment_intent_id = payment_intent.get("id")
    if payment_intent_id:
        found = Transaction.objects.filter(payment_intent_id=payment_intent_id).first()
        if found is not None:
            return found
    transaction_id = (payment_intent.get("metadata") or {}).get("transaction_id")
    try:
        return Transaction.objects.filter(pk=uuid.UUID(str(transaction_id))).first()
    except ValueError:
        return None


def _transaction_for_charge(*, charge_id: str | None, payment_intent_id: str | None) -> Transaction | None:
    if charge_id:
        found = Transaction.objects.filter(charge_id=charge_id).first()
        if found is not None:
            return found
    if payment_intent_id:
        return Transaction.objects.filter(payment_intent_id=payment_intent_id).first()
    return None


def _not_found(event: Event, what: str) -> str:
    logger.warning("Stripe event %s (%s): no transaction for %s.", event["id"], event["type"], what)
    return "ignored"


# --- Handlers: (data object, event) -> outcome ------------------------------------------------
def _charge_id(payment_intent: Event) -> str | None:
    """The charge of a succeeded PaymentIntent payload; when the payload does not name it, asked
    from Stripe (the charge id is what refunds and disputes refer to). A gateway error raises:
    the event rolls back and Stripe's retry asks again."""
    return (
        charge_id_of(payment_intent)
        or payment_gateway().retrieve_payment_intent(payment_intent["id"]).charge_id
    )


def payment_intent_succeeded(payment_intent: Event, event: Event) -> str:
    """Pending -> processing. A replay, or a transaction already past pending with this
    payment, is a no-op (``transaction_mark_paid`` is idempotent per payment intent).

    A payment that succeeds for a transaction cancelled meanwhile (an expired checkout paid
    at the last second) is refunded in full at once (idempotency key ``late-<intent>``), and
    the cancelled transaction books the charge and the refund. A Stripe error raises: the
    event rolls back and Stripe's retry refunds it.
    """
    txn = _transaction_for_intent(payment_intent)
    if txn is None:
        return _not_found(event, f"payment intent {payment_intent.get('id')}")
    amount = payment_intent.get("amount_received") or payment_intent.get("amount")
    currency = str(payment_intent.get("currency", "")).upper()
    locked = transaction_lock(txn)
    if locked.status == Status.CANCELLED:
        return _refund_late_payment(locked, payment_intent, amount)
    if locked.status != Status.PENDING and locked.payment_intent_id == payment_intent["id"]:
        return "ignored"  # already paid: a late or replayed success
    if amount != locked.total_cents or currency != locked.currency:
        logger.error(
            "Payment %s of %s %s does not match transaction %s (%s %s): not marked paid.",
            payment_intent["id"],
            amount,
            currency,
            locked.pk,
            locked.total_cents,
            locked.currency,
        )
        return "refused"
    charge_id = _charge_id(payment_intent)
    if not charge_id:
        raise ServiceError(f"Payment {payment_intent['id']} has no charge.", code=ErrorCode.INVALID)
    transaction_mark_paid(
        transaction=locked,
        payment_intent_id=payment_intent["id"],
        charge_id=charge_id,
        amount_cents=amount,
    )
    return "processed"


def _refund_late_payment(locked: Transaction, payment_intent: Event, amount: int) -> str:
    charge_id = _charge_id(payment_intent)
    if not charge_id:
        raise ServiceError(f"Payment {payment_intent['id']} has no charge.", code=ErrorCode.INVALID)
    if LedgerEntry.objects.filter(kind=Kind.CHARGE, external_id=charge_id).exists():
        return "ignored"  # refunded already (a replay)
    refund = payment_gateway().create_refund(
        payment_intent_id=payment_intent["id"],
        amount_cents=amount,
        idempotency_key=f"late-{payment_intent['id']}",
        metadata={"transaction_id": str(locked.pk), "reason": "checkout cancelled before payment"},
    )
    transaction_book_late_payment(
        transaction=locked, charge_id=charge_id, amount_cents=amount, refund_id=refund.id
    )
    logger.warning(
        "Payment %s succeeded for cancelled transaction %s: refunded as %s.",
        payment_intent["id"],
        locked.pk,
        refund.id,
    )
    return "processed"


def payment_intent_payment_failed(payment_intent: Event, event: Event) -> str:
    """Record the failure; the transaction stays pending so the buyer can try again."""
    txn = _transaction_for_intent(payment_intent)
    if txn is None:
        return _not_found(event, f"payment intent {payment_intent.get('id')}")
    locked = transaction_lock(txn)
    if locked.status != Status.PENDING:
        return "ignored"  # a failed attempt reported after the payment went through
    error = payment_intent.get("last_payment_error") or {}
    failures = list(locked.metadata.get("payment_failures", []))
    failures.append(
        {
            "payment_intent": payment_intent["id"],
            "event": event["id"],
            "code": error.get("decline_code") or error.get("code") or "",
            "message": error.get("message") or "",
            "at": datetime.fromtimestamp(event["created"], tz=UTC).isoformat(),
        }
    )
    locked.metadata = {**locked.metadata, "payment_failures": failures}
    locked.save(update_fields=["metadata"])
    return "processed"


def payment_intent_canceled(payment_intent: Event, event: Event) -> str:
    """Stripe cancelled the payment: a pending transaction is cancelled, its listing released."""
    txn = _transaction_for_intent(payment_intent)
    if txn is None:
        return _not_found(event, f"payment intent {payment_intent.get('id')}")
    locked = transaction_lock(txn)
    if locked.status != Status.PENDING:
        return "ignored"
    transaction_transition(
        transaction=locked,
        to_status=Status.CANCELLED,
        metadata={**locked.metadata, "cancelled_by": "stripe"},
    )
    return "processed"


def charge_refunded(charge: Event, event: Event) -> str:
    """Book refunds the ledger does not have yet (made in the Stripe dashboard, say).

    With the charge's refund list (older API versions, or expanded), each refund not booked
    is booked under its own id. Without it, the charge's cumulative ``amount_refunded`` less
    what the ledger holds is booked under ``<charge>:refunded:<cumulative amount>``: a replay or
    an earlier (out-of-order) event then finds nothing left, and a refund our own service
    booked already is not booked twice.
    """
    txn = _transaction_for_charge(
        charge_id=charge.get("id"), payment_intent_id=object_id(charge.get("payment_intent"))
    )
    if txn is None:
        return _not_found(event, f"charge {charge.get('id')}")
    locked = transaction_lock(txn)
    outcome = "ignored"
    refunds = (charge.get("refunds") or {}).get("data") or []
    for refund in refunds:
        if refund.get("status", "succeeded") != "succeeded" or not refund.get("id"):
            continue
        if LedgerEntry.objects.filter(kind=Kind.REFUND, external_id=refund["id"]).exists():
            continue
        locked = transaction_refund(
            transaction=locked, amount_cents=refund["amount"], refund_id=refund["id"], actor=None
        )
        outcome = "processed"
    refunded = charge.get("amount_refunded") or 0
    missing = refunded - REFUNDED.of(ledger_totals(locked))
    if missing > 0:
        locked = transaction_refund(
            transaction=locked,
            amount_cents=missing,
            refund_id=f"{charge['id']}:refunded:{refunded}",
            actor=None,
        )
        outcome = "processed"
    # After release the seller's part comes back; also the retry of a reversal that failed.
    if locked.escrow_released_at is not None and seller_reversal_due_cents(locked):
        transaction_reverse_due(transaction=locked)
        outcome = "processed"
    return outcome


def _transaction_for_dispute(dispute: Event) -> Transaction | None:
    return _transaction_for_charge(
        charge_id=object_id(dispute.get("charge")),
        payment_intent_id=object_id(dispute.get("payment_intent")),
    )


def charge_dispute_created(dispute: Event, event: Event) -> str:
    txn = _transaction_for_dispute(dispute)
    if txn is None:
        return _not_found(event, f"dispute {dispute.get('id')}")
    transaction_dispute_open(transaction=txn, dispute_id=dispute["id"], amount_cents=dispute["amount"])
    return "processed"


def charge_dispute_closed(dispute: Event, event: Event) -> str:
    """Won or lost. A close delivered before its ``created`` opens the dispute first, so the
    transaction still goes forward (the late ``created`` then finds the dispute booked)."""
    txn = _transaction_for_dispute(dispute)
    if txn is None:
        return _not_found(event, f"dispute {dispute.get('id')}")
    status = dispute.get("status")
    if status not in ("won", "lost"):
        logger.info("Dispute %s closed as %s: nothing to book.", dispute.get("id"), status)
        return "ignored"
    locked = transaction_lock(txn)
    if not LedgerEntry.objects.filter(kind=Kind.DISPUTE, external_id=dispute["id"]).exists():
        locked = transaction_dispute_open(
            transaction=locked, dispute_id=dispute["id"], amount_cents=dispute["amount"]
        )
    locked = transaction_dispute_close(transaction=locked, dispute_id=dispute["id"], won=status == "won")
    transaction_reverse_due(transaction=locked)  # lost after release: the seller's transfer comes back
    return "processed"


def account_updated(account: Event, event: Event) -> str:
    """The event row is the record (``latest_account_update`` reads the latest one); the
    seller pages' cached payout status is forgotten once this commits."""
    if not get_user_model().objects.filter(stripe_connect_id=account.get("id")).exists():
        logger.warning("Stripe event %s: no user with Connect account %s.", event["id"], account.get("id"))
        return "ignored"
    after_commit(payout_status_changed, account.get("id"))
    return "processed"


HANDLERS: dict[str, Callable[[Event, Event], str]] = {
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_payment_failed,
    "payment_intent.canceled": payment_intent_canceled,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": charge_dispute_created,
    "charge.dispute.closed": charge_dispute_closed,
    "account.updated": account_updated,
}


# --- Reads ----------------------------------------------------------------------------------
def latest_account_update(user) -> dict[str, Any] | None:
    """The seller's Connect account as its latest ``account.updated`` event (by Stripe's event
    time, so a late delivery of an older event does not win) describes it; None if none came.

    ``{"account_id", "payouts_enabled", "charges_enabled", "details_submitted", "updated_at"}``
    """
    if not user.stripe_connect_id:
        return None
    latest = (
        StripeEvent.objects.filter(type="account.updated", object_id=user.stripe_connect_id)
        .order_by("-created", "-id")
        .only("payload", "created")
        .first()
    )
    if latest is None:
        return None
    account = latest.payload["data"]["object"]
    return {
        "account_id": user.stripe_connect_id,
        "payouts_enabled": bool(account.get("payouts_enabled")),
        "charges_enabled": bool(account.get("charges_enabled")),
        "details_submitted": bool(account.get("details_submitted")),
        "updated_at": latest.created,
    }
