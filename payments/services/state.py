"""The transaction state machine: every legal status change as a row of one table, and the one
function that makes a change (:func:`transaction_transition`)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db import transaction as db_transaction
from django.utils import timezone

from listings.services import listing_purchase_move
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from payments import hooks
from payments import ledger as _ledger
from payments.ledger import LedgerLine
from payments.models import Transaction, TransactionStatus
from payments.services.locking import transaction_lock

Status = TransactionStatus

Guard = Literal["released", "not released"]

# A guard is a condition on the locked row before the move: has escrow been released to the
# seller? (A dispute ends where it came from: processing before release, completed after.)
GUARDS: dict[str, Callable[[Transaction], bool]] = {
    "released": lambda transaction: transaction.escrow_released_at is not None,
    "not released": lambda transaction: transaction.escrow_released_at is None,
}


@dataclass(frozen=True)
class TransactionTransition:
    """One legal status change.

    ``guard``: a key of ``GUARDS`` the locked row must satisfy, or None. ``listing_move``: the
    ``listings.services.listing_purchase_move`` action the move makes ("release": the listing
    is active again; "complete_sale": sold at the move's time), or None. ``hook``: the name of
    the ``payments.hooks`` hook announced after commit with ``(transaction, *hook_args)``, or
    None (a refund announces its own, with the amount). A name, looked up when the move is
    made, so the hook is the module's current one.
    """

    source: str
    target: str
    guard: Guard | None = None
    listing_move: Literal["release", "complete_sale"] | None = None
    hook: str | None = None
    hook_args: tuple = ()


# Every legal status change; cancelled and refunded are final. A refund before escrow release
# makes the listing active again; after release it stays sold.
TRANSITION_TABLE: tuple[TransactionTransition, ...] = (
    TransactionTransition(Status.PENDING, Status.PROCESSING, hook="order_paid"),
    TransactionTransition(Status.PENDING, Status.CANCELLED, listing_move="release", hook="order_cancelled"),
    # Escrow released to the seller.
    TransactionTransition(
        Status.PROCESSING, Status.COMPLETED, listing_move="complete_sale", hook="order_completed"
    ),
    TransactionTransition(Status.PROCESSING, Status.REFUNDED, listing_move="release"),
    TransactionTransition(Status.PROCESSING, Status.DISPUTED, hook="order_disputed"),
    TransactionTransition(Status.COMPLETED, Status.REFUNDED),
    TransactionTransition(Status.COMPLETED, Status.DISPUTED, hook="order_disputed"),
    # The dispute is won: back to where it came from.
    TransactionTransition(
        Status.DISPUTED, Status.PROCESSING, "not released", hook="order_dispute_closed", hook_args=(True,)
    ),
    TransactionTransition(
        Status.DISPUTED, Status.COMPLETED, "released", hook="order_dispute_closed", hook_args=(True,)
    ),
    # The dispute is lost: settled like a refund in full.
    TransactionTransition(
        Status.DISPUTED,
        Status.REFUNDED,
        "not released",
        listing_move="release",
        hook="order_dispute_closed",
        hook_args=(False,),
    ),
    TransactionTransition(
        Status.DISPUTED, Status.REFUNDED, "released", hook="order_dispute_closed", hook_args=(False,)
    ),
)

# source -> the statuses it may become (whatever the guards), derived from the table.
TRANSACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    status: frozenset(row.target for row in TRANSITION_TABLE if row.source == status) for status in Status
}

_GUARD_REFUSALS = {
    (Status.DISPUTED, Status.PROCESSING): "A dispute won after release returns the purchase to completed.",
    (Status.DISPUTED, Status.COMPLETED): "A dispute won before release returns the purchase to processing.",
}


def transition_for(transaction: Transaction, to_status: str) -> TransactionTransition:
    """The row of the table that moves ``transaction`` (as it is now) to ``to_status``, or
    ``ServiceError`` (``INVALID_TRANSITION``) when no row allows it."""
    current = transaction.status
    rows = [row for row in TRANSITION_TABLE if row.source == current and row.target == to_status]
    if not rows:
        source, target = Status(current).label.lower(), Status(to_status).label.lower()
        raise ServiceError(f"A {source} purchase cannot become {target}.", code=ErrorCode.INVALID_TRANSITION)
    for row in rows:
        if row.guard is None or GUARDS[row.guard](transaction):
            return row
    message = _GUARD_REFUSALS.get((current, to_status), "This purchase cannot make that change now.")
    raise ServiceError(message, code=ErrorCode.INVALID_TRANSITION)


def transaction_transition(
    *,
    transaction: Transaction,
    to_status: str,
    at: datetime | None = None,
    ledger: Iterable[LedgerLine] = (),
    **changes,
) -> Transaction:
    """Move ``transaction`` to ``to_status``: the one place a transaction's status changes.

    Takes the row locks itself (``transaction_lock``; re-entrant inside a caller's atomic
    block that already holds them), re-reads the row, finds the move's row in
    ``TRANSITION_TABLE`` (``ServiceError`` ``INVALID_TRANSITION`` if none allows it, changing
    nothing), sets ``changes`` and the time of the move (``completed_at``, ``cancelled_at``,
    ``metadata["history"]``), writes the ``ledger`` rows (kind, cents, external id) that
    belong to the move, makes the row's listing move, and announces the row's hook once the
    change commits. All in one atomic block.
    """
    at = at or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        row = transition_for(locked, to_status)

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
        _ledger.ledger_write(locked, ledger)
        _ledger.seller_money_changed(locked)

        if locked.listing is not None and row.listing_move == "release":
            listing_purchase_move(listing=locked.listing, action="release")
        elif locked.listing is not None and row.listing_move == "complete_sale":
            listing_purchase_move(listing=locked.listing, action="complete_sale", sold_at=at)
        if row.hook is not None:
            after_commit(getattr(hooks, row.hook), locked, *row.hook_args)
    return locked
