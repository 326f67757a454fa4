"""Writes for payments: the purchase, the transaction state machine and the money ledger.

Lock order, everywhere: the listing row first, then the transaction row (``_lock``). The
purchase locks the listing before inserting its transaction, so a cancellation (which
locks the same two rows) can never deadlock with a second buyer waiting on the listing.

Money rules (every ledger row is written in the same database transaction as the change
it belongs to; amounts are positive, the kind gives the direction; see ``LedgerKind``):

- Paid: ``charge`` = total and ``platform_fee`` = fee. The money is held in escrow.
- Released: ``transfer`` = seller payout less any partial refunds made before release.
- Partial refunds come out of the seller's share: the platform keeps its fee, and all
  partial refunds together may not exceed the seller payout (refund in full instead).
- A full refund (what remains of the charge) returns the platform fee too
  (``platform_fee_reversal``).
- A lost dispute is settled like a full refund (the card network took the money back);
  a won dispute books the returned funds (``dispute_won``).
- After release, a refund or a lost dispute leaves the seller holding more than their share:
  ``transaction_reverse_due`` pulls it back from their transfer (``transfer_reversal``), or
  books what they owe (``seller_debt``) when Stripe refuses, so the platform is never
  silently out of pocket. Until then ``reconcile`` reports the transaction.
- A payment that succeeds after its checkout was cancelled is refunded at once: the
  cancelled transaction books the ``charge`` and its ``refund``.

So for every settled transaction: charge = transfers + platform fees + refunds + disputes,
each net of its reversals; ``manage.py reconcile`` checks it from the ledger.

Each committed change calls one function of ``payments.hooks`` (receipts, notices; the
notifications and review prompts hook in there).
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.services import ensure_can_transact
from listings.models import Listing, ListingStatus, ListingVisibility, PricingType
from listings.services import listing_purchase_move
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import format_amount
from payments import hooks, payouts, stripe_client
from payments.fees import platform_fee_cents
from payments.models import LedgerEntry, LedgerKind, Transaction, TransactionStatus
from payments.selectors import seller_summary_key

logger = logging.getLogger(__name__)

Status = TransactionStatus
Kind = LedgerKind

# Every legal status change. cancelled and refunded are final.
# disputed -> processing: dispute won before escrow release; disputed -> completed: won after
# release (the dispute was opened on a completed transaction); disputed -> refunded: lost.
TRANSACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.PROCESSING, Status.CANCELLED}),
    Status.PROCESSING: frozenset({Status.COMPLETED, Status.REFUNDED, Status.DISPUTED}),
    Status.COMPLETED: frozenset({Status.REFUNDED, Status.DISPUTED}),
    Status.DISPUTED: frozenset({Status.PROCESSING, Status.COMPLETED, Status.REFUNDED}),
    Status.CANCELLED: frozenset(),
    Status.REFUNDED: frozenset(),
}

RESERVED_MESSAGE = "This item has just been reserved by another buyer."
SOLD_MESSAGE = "This item has already been sold."
UNAVAILABLE_MESSAGE = "This listing is not available."
NOT_FOUND_MESSAGE = "No such purchase."

LedgerLine = tuple[str, int, str]  # (kind, amount_cents, external_id)


# --- Locking and the state machine -------------------------------------------------------
def _lock(transaction: Transaction, *, skip_locked: bool = False) -> Transaction | None:
    """Lock the transaction's listing, then the transaction; return the re-read row.

    Must run inside an atomic block. With ``skip_locked``, returns None when another
    session holds either row (a worker that finds a row busy moves on).
    """
    listing = None
    if transaction.listing_id is not None:
        listing = (
            Listing.objects.select_for_update(skip_locked=skip_locked)
            .defer("search_vector")
            .filter(pk=transaction.listing_id)
            .first()
        )
        if listing is None and skip_locked:
            return None
    locked = Transaction.objects.select_for_update(skip_locked=skip_locked).filter(pk=transaction.pk).first()
    if locked is None:
        if skip_locked:
            return None
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    if listing is not None:
        locked.listing = listing
    return locked


def _seller_money_changed(transaction: Transaction) -> None:
    """Forget the seller's cached sales summary (``selectors.seller_sales_summary``) once the
    current change commits: a new sale, a status change, a booked movement, an escrow date."""
    after_commit(cache.delete, seller_summary_key(transaction.seller_id))


def _write_ledger(transaction: Transaction, lines: Iterable[LedgerLine]) -> None:
    entries = [
        LedgerEntry(
            transaction=transaction,
            kind=kind,
            amount_cents=amount,
            currency=transaction.currency,
            external_id=external_id or "",
        )
        for kind, amount, external_id in lines
        if amount  # nothing moved (a zero fee): no row
    ]
    if any(entry.amount_cents < 0 for entry in entries):
        raise ValueError("Ledger amounts are positive; the kind gives the direction.")
    LedgerEntry.objects.bulk_create(entries)
    if entries:
        _seller_money_changed(transaction)


def ledger_totals(transaction: Transaction) -> dict[str, int]:
    """Sum of ledger amounts per kind for the transaction (every kind present, 0 if none)."""
    totals = dict.fromkeys(Kind.values, 0)
    rows = (
        LedgerEntry.objects.filter(transaction_id=transaction.pk)
        .values_list("kind")
        .annotate(total=Sum("amount_cents"))
        .order_by()
    )
    totals.update(dict(rows))
    return totals


def transaction_transition(
    *,
    transaction: Transaction,
    to_status: str,
    at: datetime | None = None,
    ledger: Iterable[LedgerLine] = (),
    **changes,
) -> Transaction:
    """Move ``transaction`` to ``to_status``: the one place a transaction's status changes.

    Takes the row locks itself (listing, then transaction; re-entrant inside a caller's
    atomic block that already holds them), re-reads the row, rejects a move the transition
    table does not allow with ``ServiceError``, sets ``changes`` and the time of the move
    (``completed_at``, ``cancelled_at``, ``metadata["history"]``), writes the ``ledger``
    rows that belong to the move, and moves the listing: cancelled or refunded before
    escrow release -> active again; completed at release -> sold. All in one atomic block.
    """
    at = at or timezone.now()
    with db_transaction.atomic():
        locked = _lock(transaction)
        current = locked.status
        if to_status not in TRANSACTION_TRANSITIONS[current]:
            source, target = Status(current).label.lower(), Status(to_status).label.lower()
            raise ServiceError(
                f"A {source} purchase cannot become {target}.", code=ErrorCode.INVALID_TRANSITION
            )
        released = locked.escrow_released_at is not None
        if current == Status.DISPUTED and to_status == Status.PROCESSING and released:
            raise ServiceError(
                "A dispute won after release returns the purchase to completed.",
                code=ErrorCode.INVALID_TRANSITION,
            )
        if current == Status.DISPUTED and to_status == Status.COMPLETED and not released:
            raise ServiceError(
                "A dispute won before release returns the purchase to processing.",
                code=ErrorCode.INVALID_TRANSITION,
            )

        fields = {"status", "metadata", *changes}
        locked.status = to_status
        for field, value in changes.items():
            setattr(locked, field, value)
        if to_status == Status.COMPLETED and locked.completed_at is None:
            locked.completed_at = at
            fields.add("completed_at")
        if to_status == Status.CANCELLED:
            locked.cancelled_at = at
            fields.add("cancelled_at")
        history = list(locked.metadata.get("history", []))
        history.append({"status": to_status, "at": at.isoformat()})
        locked.metadata = {**locked.metadata, "history": history}
        locked.save(update_fields=sorted(fields))
        _write_ledger(locked, ledger)
        _seller_money_changed(locked)

        listing = locked.listing
        if listing is not None:
            if to_status == Status.CANCELLED or (to_status == Status.REFUNDED and not released):
                listing_purchase_move(listing=listing, action="release")
            elif to_status == Status.COMPLETED and current == Status.PROCESSING:
                listing_purchase_move(listing=listing, action="complete_sale", sold_at=at)
        _announce(locked, current)
    return locked


def _announce(transaction: Transaction, previous: str) -> None:
    """Call the hook of a status change once it commits (refunds call theirs with the amount)."""
    to_status = transaction.status
    if previous == Status.DISPUTED:
        after_commit(hooks.order_dispute_closed, transaction, to_status != Status.REFUNDED)
    elif to_status == Status.PROCESSING:
        after_commit(hooks.order_paid, transaction)
    elif to_status == Status.CANCELLED:
        after_commit(hooks.order_cancelled, transaction)
    elif to_status == Status.COMPLETED:
        after_commit(hooks.order_completed, transaction)
    elif to_status == Status.DISPUTED:
        after_commit(hooks.order_disputed, transaction)


# --- Buying -------------------------------------------------------------------------------
def _ensure_buyable(listing: Listing, buyer) -> None:
    if listing.seller_id == buyer.pk:
        raise ServiceError("You cannot buy your own listing.", code=ErrorCode.OWN_LISTING)
    if listing.visibility not in (ListingVisibility.PUBLIC, ListingVisibility.UNLISTED):
        raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
    if listing.status == ListingStatus.RESERVED:
        raise ServiceError(RESERVED_MESSAGE, code=ErrorCode.RESERVED)
    if listing.status == ListingStatus.SOLD:
        raise ServiceError(SOLD_MESSAGE, code=ErrorCode.SOLD)
    if listing.status != ListingStatus.ACTIVE:
        raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
    if listing.pricing_type != PricingType.FIXED or not listing.price_cents:
        raise ServiceError(
            "This listing has no fixed price: contact the seller.", code=ErrorCode.NOT_FIXED_PRICE
        )
    try:
        ensure_can_transact(listing.seller)
    except ServiceError:
        raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND) from None


def transaction_start(*, listing: Listing, buyer, idempotency_key: str) -> Transaction:
    """Start the purchase of ``listing`` by ``buyer``: a pending transaction and a reserved
    listing, in one atomic unit.

    The listing row is locked and checked active under the lock; the partial unique index
    "one live transaction per listing" is the last line of defence. ``idempotency_key`` (one
    per checkout form, sent again by a retried request) makes a retry return the
    transaction the first request created instead of a second one.
    """
    ensure_can_transact(buyer)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 255:
        raise ServiceError(
            "This request is missing its checkout key: reload the page.", code=ErrorCode.INVALID
        )
    bps = settings.PLATFORM_FEE_BPS
    try:
        with db_transaction.atomic():
            locked = (
                Listing.objects.select_for_update(of=("self",))
                .select_related("seller")
                .defer("search_vector")
                .filter(pk=listing.pk)
                .first()
            )
            if locked is None:
                raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
            existing = Transaction.objects.filter(buyer_id=buyer.pk, idempotency_key=key).first()
            if existing is not None:
                if existing.listing_id != locked.pk:
                    raise ServiceError(
                        "This checkout was for another listing: reload the page.", code=ErrorCode.INVALID
                    )
                return existing
            _ensure_buyable(locked, buyer)
            subtotal = locked.price_cents
            fee = platform_fee_cents(subtotal, bps)
            now = timezone.now()
            with db_transaction.atomic():
                created = Transaction.objects.create(
                    listing=locked,
                    buyer=buyer,
                    seller_id=locked.seller_id,
                    subtotal_cents=subtotal,
                    platform_fee_cents=fee,
                    total_cents=subtotal,
                    seller_payout_cents=subtotal - fee,
                    currency=locked.currency,
                    status=Status.PENDING,
                    idempotency_key=key,
                    metadata={
                        "platform_fee_bps": bps,
                        "history": [{"status": Status.PENDING, "at": now.isoformat()}],
                    },
                )
            listing_purchase_move(listing=locked, action="reserve")
            _seller_money_changed(created)
            created.listing = locked
            return created
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint == "payments_transaction_one_live_per_listing":
            raise ServiceError(RESERVED_MESSAGE, code=ErrorCode.RESERVED) from error
        raise


def _stop_payment(payment_intent_id: str) -> None:
    """Cancel the checkout's PaymentIntent at Stripe so it cannot succeed any more (a 3-D
    Secure step left open, a retry in another tab). Best effort: if it succeeds anyway (or
    did a moment ago), the ``payment_intent.succeeded`` webhook refunds it."""
    try:
        stripe_client.cancel_payment_intent(payment_intent_id)
    except stripe.StripeError as error:
        logger.info("payment intent %s not cancelled: %s", payment_intent_id, error)


def _after_cancel(transaction: Transaction) -> None:
    if transaction.payment_intent_id:
        after_commit(_stop_payment, transaction.payment_intent_id)


def transaction_cancel(*, transaction: Transaction, actor) -> Transaction:
    """The buyer abandons an unpaid checkout: pending -> cancelled, the listing active again."""
    if actor is None or transaction.buyer_id != actor.pk:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    with db_transaction.atomic():
        locked = _lock(transaction)
        if locked.status != Status.PENDING:
            raise ServiceError(
                "Only an unpaid purchase can be cancelled; ask the seller for a refund.",
                code=ErrorCode.INVALID_TRANSITION,
            )
        cancelled = transaction_transition(
            transaction=locked,
            to_status=Status.CANCELLED,
            metadata={**locked.metadata, "cancelled_by": "buyer"},
        )
        _after_cancel(cancelled)
        return cancelled


def transaction_expire(*, transaction: Transaction, now: datetime | None = None) -> bool:
    """Cancel an unpaid checkout older than ``CHECKOUT_EXPIRY_MINUTES``; True if it did.

    For ``expire_checkouts``: rows another session holds are skipped (SKIP LOCKED), and the
    status and age are re-checked under the lock, so concurrent runs cancel each row once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CHECKOUT_EXPIRY_MINUTES)
    with db_transaction.atomic():
        locked = _lock(transaction, skip_locked=True)
        if locked is None or locked.status != Status.PENDING or locked.created_at > cutoff:
            return False
        cancelled = transaction_transition(
            transaction=locked,
            to_status=Status.CANCELLED,
            at=now,
            metadata={**locked.metadata, "cancelled_by": "expiry"},
        )
        _after_cancel(cancelled)
    return True


# --- Paying and escrow --------------------------------------------------------------------
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
        locked = _lock(transaction)
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


def transaction_confirm_receipt(*, transaction: Transaction, actor) -> Transaction:
    """The buyer has the item: escrow becomes due now (release_escrow pays the seller)."""
    if actor is None or transaction.buyer_id != actor.pk:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    with db_transaction.atomic():
        locked = _lock(transaction)
        if locked.status != Status.PROCESSING or locked.escrow_released_at is not None:
            raise ServiceError(
                "Only a paid purchase awaiting release can be confirmed.", code=ErrorCode.INVALID_TRANSITION
            )
        now = timezone.now()
        if locked.escrow_release_date is None or locked.escrow_release_date > now:
            locked.escrow_release_date = now
        locked.metadata = {**locked.metadata, "receipt_confirmed_at": now.isoformat()}
        locked.save(update_fields=["escrow_release_date", "metadata"])
        _seller_money_changed(locked)
        after_commit(hooks.order_receipt_confirmed, locked)
    return locked


def payout_due_cents(transaction: Transaction) -> int:
    """What the seller is paid at release: the payout less refunds already made from it."""
    return transaction.seller_payout_cents - ledger_totals(transaction)[Kind.REFUND]


def transaction_release(
    *, transaction: Transaction, transfer_id: str, at: datetime | None = None
) -> Transaction:
    """Escrow released: processing -> completed, the listing sold, the transfer booked.

    ``transfer_id`` is the transfer of ``payout_due_cents`` already made to the seller.
    """
    at = at or timezone.now()
    with db_transaction.atomic():
        locked = _lock(transaction)
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
    The transfer is made under the row lock; ``payouts.payout_transfer`` is idempotent per
    transaction, so a crash between the transfer and the commit is repaired by a rerun.
    """
    now = now or timezone.now()
    with db_transaction.atomic():
        locked = _lock(transaction, skip_locked=True)
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
        transaction_release(transaction=locked, transfer_id=transfer_id, at=now)
    return "released"


# --- Refunds and disputes ----------------------------------------------------------------
def _ensure_refunder(transaction: Transaction, actor) -> None:
    """Staff, the seller, or None for the system (a refund reported by Stripe's webhook)."""
    if actor is None or actor.is_staff:
        return
    if transaction.seller_id != actor.pk:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)


def _positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ServiceError(f"The {name} must be a positive amount in minor units.", code=ErrorCode.INVALID)


def refund_amount_check(transaction: Transaction, amount_cents: int) -> bool:
    """Refuse a refund the rules do not allow (``ServiceError``); True if it refunds in full.

    Reads the ledger; the caller holds the transaction's row lock.
    """
    _positive_int(amount_cents, "refund")
    if transaction.status not in (Status.PROCESSING, Status.COMPLETED):
        raise ServiceError("Only a paid purchase can be refunded.", code=ErrorCode.INVALID_TRANSITION)
    refunded = ledger_totals(transaction)[Kind.REFUND]
    remaining = transaction.total_cents - refunded
    if amount_cents > remaining:
        raise ServiceError(
            f"At most {format_amount(remaining, transaction.currency)} remains to be refunded.",
            code=ErrorCode.TOO_MUCH,
        )
    if amount_cents < remaining and refunded + amount_cents > transaction.seller_payout_cents:
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
    Idempotent per ``refund_id``.
    """
    _ensure_refunder(transaction, actor)
    _positive_int(amount_cents, "refund")
    if not refund_id:
        raise ValueError("refund_id is required.")
    with db_transaction.atomic():
        locked = _lock(transaction)
        if LedgerEntry.objects.filter(kind=Kind.REFUND, external_id=refund_id).exists():
            return locked
        if refund_amount_check(locked, amount_cents):
            totals = ledger_totals(locked)
            fee = totals[Kind.PLATFORM_FEE] - totals[Kind.PLATFORM_FEE_REVERSAL]
            locked = transaction_transition(
                transaction=locked,
                to_status=Status.REFUNDED,
                ledger=[(Kind.REFUND, amount_cents, refund_id), (Kind.PLATFORM_FEE_REVERSAL, fee, "")],
            )
        else:
            _write_ledger(locked, [(Kind.REFUND, amount_cents, refund_id)])
        after_commit(hooks.order_refunded, locked, amount_cents)
    return locked


def _seller_held_and_share(transaction: Transaction) -> tuple[int, int]:
    """What the seller holds of the transfers (net of reversals and debts), and their share:
    nothing once refunded in full (or a dispute is lost), else the payout less partial refunds."""
    totals = ledger_totals(transaction)
    held = totals[Kind.TRANSFER] - totals[Kind.TRANSFER_REVERSAL] - totals[Kind.SELLER_DEBT]
    share = (
        0 if transaction.status == Status.REFUNDED else transaction.seller_payout_cents - totals[Kind.REFUND]
    )
    return held, share


def seller_reversal_due_cents(transaction: Transaction) -> int:
    """After release: what the seller holds beyond their share, to pull back."""
    if transaction.escrow_released_at is None:
        return 0
    held, share = _seller_held_and_share(transaction)
    return max(held - share, 0)


def transaction_reverse_due(*, transaction: Transaction) -> Transaction:
    """Pull back from the seller's transfer what they hold beyond their share after a refund
    or a lost dispute that came after release, and book it (``transfer_reversal``).

    When Stripe refuses (``stripe.InvalidRequestError``: their balance cannot cover it), the
    amount is booked as ``seller_debt`` for staff to collect. Other Stripe errors propagate
    with nothing booked: a retry (the ``charge.refunded`` webhook, the refund form) uses the
    same idempotency key, which is derived from the share the seller keeps (it only shrinks),
    so it cannot reverse twice. Nothing to do before release or when nothing is due.
    """
    with db_transaction.atomic():
        locked = _lock(transaction)
        if locked.escrow_released_at is None:
            return locked
        held, share = _seller_held_and_share(locked)
        due = held - share
        if due <= 0:
            return locked
        try:
            reversal_id = payouts.payout_reversal(
                locked, amount_cents=due, idempotency_key=f"reversal-{locked.pk}-{share}"
            )
        except stripe.InvalidRequestError as refusal:
            logger.warning(
                "Stripe refused to reverse %s of transfer %s (%s): booked as owed by seller %s.",
                due,
                locked.transfer_id,
                refusal.user_message or refusal,
                locked.seller_id,
            )
            _write_ledger(locked, [(Kind.SELLER_DEBT, due, "")])
        else:
            _write_ledger(locked, [(Kind.TRANSFER_REVERSAL, due, reversal_id)])
    return locked


def transaction_book_late_payment(
    *, transaction: Transaction, charge_id: str, amount_cents: int, refund_id: str
) -> Transaction:
    """A payment that succeeded after its checkout was cancelled, refunded at once as
    ``refund_id``: the cancelled transaction books the charge and the refund (it stays
    cancelled; the listing is not touched). Idempotent per charge."""
    _positive_int(amount_cents, "payment")
    if not charge_id or not refund_id:
        raise ValueError("charge_id and refund_id are required.")
    with db_transaction.atomic():
        locked = _lock(transaction)
        if locked.status != Status.CANCELLED:
            raise ServiceError(
                "Only a cancelled purchase refunds a late payment.", code=ErrorCode.INVALID_TRANSITION
            )
        if LedgerEntry.objects.filter(kind=Kind.CHARGE, external_id=charge_id).exists():
            return locked
        _write_ledger(
            locked, [(Kind.CHARGE, amount_cents, charge_id), (Kind.REFUND, amount_cents, refund_id)]
        )
        after_commit(hooks.order_refunded, locked, amount_cents)
    return locked


def transaction_dispute_open(*, transaction: Transaction, dispute_id: str, amount_cents: int) -> Transaction:
    """The buyer's bank disputed the charge: processing or completed -> disputed, the
    withdrawn funds booked. Idempotent per ``dispute_id``."""
    _positive_int(amount_cents, "disputed amount")
    if not dispute_id:
        raise ValueError("dispute_id is required.")
    with db_transaction.atomic():
        locked = _lock(transaction)
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
        locked = _lock(transaction)
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
                ledger=[(Kind.DISPUTE_WON, totals[Kind.DISPUTE] - totals[Kind.DISPUTE_WON], f"{dispute_id}")],
            )
        fee = totals[Kind.PLATFORM_FEE] - totals[Kind.PLATFORM_FEE_REVERSAL]
        return transaction_transition(
            transaction=locked, to_status=Status.REFUNDED, ledger=[(Kind.PLATFORM_FEE_REVERSAL, fee, "")]
        )


# --- Checkout (the buyer pays on the checkout page) ---------------------------------------
def transaction_attach_payment_intent(*, transaction: Transaction, payment_intent_id: str) -> Transaction:
    """Store the PaymentIntent created for a pending transaction (once; the same id again is a
    no-op). A pending transaction whose earlier intent failed (card declined) may take a new one.
    """
    if not payment_intent_id:
        raise ValueError("payment_intent_id is required.")
    with db_transaction.atomic():
        locked = _lock(transaction)
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


def transaction_settle_payment_intent(*, transaction: Transaction, payment_intent) -> Transaction:
    """Mark the transaction paid if ``payment_intent`` (a Stripe object or dict) succeeded.

    Idempotent: a transaction already paid with this intent (by the webhook, a double submit)
    is returned unchanged; any other status of the intent changes nothing.
    """
    intent = payment_intent.to_dict() if hasattr(payment_intent, "to_dict") else dict(payment_intent)
    if intent.get("status") != "succeeded":
        return transaction
    current = Transaction.objects.get(pk=transaction.pk)
    if current.status != Status.PENDING and current.payment_intent_id == intent["id"]:
        return current
    from payments.webhooks import _charge_id_of

    charge_id = _charge_id_of(intent)
    if not charge_id:
        raise ServiceError(f"Payment {intent['id']} has no charge.", code=ErrorCode.INVALID)
    return transaction_mark_paid(
        transaction=current,
        payment_intent_id=intent["id"],
        charge_id=charge_id,
        amount_cents=intent.get("amount_received") or intent["amount"],
    )
