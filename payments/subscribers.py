"""Payments' own subscribers to its hooks: the log lines.

Connected once by ``PaymentsConfig.ready()``. The purchase emails (``payments/emails.py``) are
the email channel of the matching notifications: ``notifications/subscribers.py`` sends them
through ``notifications.services.notify``, which honours the member's preferences and adds the
one-click unsubscribe headers, so each event is mailed once.
"""

import logging

from payments import hooks

logger = logging.getLogger("payments.hooks")


@hooks.order_cancelled.subscribe
def log_cancelled(transaction) -> None:
    logger.info("order %s cancelled (%s)", transaction.pk, transaction.metadata.get("cancelled_by"))


@hooks.order_receipt_confirmed.subscribe
def log_receipt_confirmed(transaction) -> None:
    logger.info("order %s: receipt confirmed", transaction.pk)


@hooks.order_disputed.subscribe
def log_disputed(transaction) -> None:
    logger.warning("order %s disputed", transaction.pk)


@hooks.order_dispute_closed.subscribe
def log_dispute_closed(transaction, won: bool) -> None:
    logger.info("order %s: dispute closed, %s", transaction.pk, "won" if won else "lost")
