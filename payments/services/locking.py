"""The row locks every payments write takes.

Lock order, everywhere: the listing row first, then the transaction row. The purchase locks
the listing before inserting its transaction, so a cancellation, a payment or a refund (which
lock the same two rows through :func:`transaction_lock`) can never deadlock with a second
buyer waiting on the listing. Every other function in this package that says it "holds the
lock" means this one.
"""

from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction

NOT_FOUND_MESSAGE = "No such purchase."


def transaction_lock(transaction: Transaction, *, skip_locked: bool = False) -> Transaction | None:
    """Lock the transaction's listing, then the transaction (``SELECT ... FOR UPDATE``), and
    return the re-read transaction with the locked listing attached.

    Must run inside an atomic block; re-entrant (a caller that holds the locks may call it
    again). Raises ``ServiceError`` (``NOT_FOUND``) when the transaction is gone. With
    ``skip_locked``, returns None instead of waiting when another session holds either row
    (a periodic worker that finds a row busy moves on).
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
