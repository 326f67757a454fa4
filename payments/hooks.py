"""One function per event in a purchase's life: where emails, notifications and review
prompts hook in.

The payments services call these through ``after_commit`` once the change is committed, so a
hook never sees a change that was rolled back, and a failing hook (a mail server down) is
logged without undoing the payment or failing Stripe's webhook. Hooks take the transaction
as committed; they must not change its status (that is the services' job).
"""

import logging
from collections.abc import Callable

from django.db import transaction as db_transaction

logger = logging.getLogger(__name__)


def _emails():
    from payments import emails  # imports payments.services, which imports this module

    return emails


def after_commit(hook: Callable, *args) -> None:
    """Run ``hook(*args)`` once the current database transaction commits (now if none).

    A function, not a ``functools.partial``: Django logs a failing robust callback by its
    ``__qualname__``, which a partial lacks (the logging itself would then raise).
    """

    def run_hook() -> None:
        hook(*args)

    run_hook.__qualname__ = f"payments.hooks.{getattr(hook, '__name__', 'hook')}"
    db_transaction.on_commit(run_hook, robust=True)


def order_paid(transaction) -> None:
    """The buyer paid (pending -> processing): the buyer's receipt, the seller's sale notice."""
    _emails().send_order_receipt(transaction)
    _emails().send_sale_notice(transaction)


def order_cancelled(transaction) -> None:
    """An unpaid checkout ended (the buyer, the expiry or Stripe); the listing is available."""
    logger.info("order %s cancelled (%s)", transaction.pk, transaction.metadata.get("cancelled_by"))


def order_receipt_confirmed(transaction) -> None:
    """The buyer confirmed receipt: the seller is paid at the next ``release_escrow`` run."""
    logger.info("order %s: receipt confirmed", transaction.pk)


def order_completed(transaction) -> None:
    """Escrow released to the seller: the seller's payout notice (review prompts hook in here)."""
    _emails().send_payout_notice(transaction)


def order_refunded(transaction, amount_cents: int) -> None:
    """A refund (full or partial) was booked: both parties are told the amount."""
    _emails().send_refund_notice(transaction, amount_cents)


def order_disputed(transaction) -> None:
    """The buyer's bank opened a dispute: staff and the seller are to be told."""
    logger.warning("order %s disputed", transaction.pk)


def order_dispute_closed(transaction, won: bool) -> None:
    logger.info("order %s: dispute closed, %s", transaction.pk, "won" if won else "lost")
