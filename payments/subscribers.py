"""Payments' own subscribers to its hooks: the purchase emails and the log lines.

Connected once by ``PaymentsConfig.ready()``. Each subscriber looks ``emails`` up when it runs,
so a test can replace one email function.
"""

import logging

from payments import emails, hooks

logger = logging.getLogger("payments.hooks")


@hooks.order_paid.subscribe
def email_order_receipt(transaction) -> None:
    emails.send_order_receipt(transaction)


@hooks.order_paid.subscribe
def email_sale_notice(transaction) -> None:
    emails.send_sale_notice(transaction)


@hooks.order_completed.subscribe
def email_payout_notice(transaction) -> None:
    emails.send_payout_notice(transaction)


@hooks.order_refunded.subscribe
def email_refund_notice(transaction, amount_cents: int) -> None:
    emails.send_refund_notice(transaction, amount_cents)


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
