"""Emails about a purchase: the buyer's receipt, the seller's sale and payout notices, refunds.

``payments.subscribers`` calls these from the purchase hooks, after the change is committed.
Each re-reads the transaction (the caller's instance may be stale) and takes every amount
from the ledger, so an email states what was booked, not what a row said before. Each
message goes to one party only: the buyer's and the seller's addresses are private, and
never appear in the other's mail.
Each is queued as a job (``marketplace.mail.queue_email``): the worker sends it, retrying
while the mail server is down. Failures to render or queue propagate; the hook runner logs them.
"""

from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from marketplace.mail import queue_email
from marketplace.money import format_amount
from payments.ledger import transaction_figures
from payments.models import Transaction, TransactionStatus

Status = TransactionStatus

TEMPLATE_DIR = "emails/payments"


def _reload(transaction: Transaction) -> Transaction:
    return Transaction.objects.select_related("listing", "buyer", "seller").get(pk=transaction.pk)


def _order_url(txn: Transaction) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('payments:order', args=[txn.pk])}"


def _title(txn: Transaction) -> str:
    return txn.listing.title if txn.listing is not None else "an item"


def _seller_name(seller) -> str:
    return seller.seller_display_name or seller.display_name


def _paid_at(txn: Transaction) -> datetime | None:
    """When the payment succeeded: the first move to processing in the status history."""
    for entry in txn.metadata.get("history", []):
        if entry.get("status") == Status.PROCESSING and entry.get("at"):
            return datetime.fromisoformat(entry["at"])
    return None


def _amounts(txn: Transaction) -> dict:
    """The ledger figures (``ledger.transaction_figures``), in minor units of ``txn.currency``.

    ``payout`` is the seller's share: what the buyer paid and kept paid, less the platform fee;
    nothing once refunded in full. ``paid_out`` is what moved to the seller (transfers less
    reversals), ``owed`` what Stripe would not pull back (the seller owes it), ``taken_back``
    what the seller was paid beyond their share: after release a refund is pulled back by a
    later step (or owed), so it is stated as due, not as already reversed.
    """
    figures = transaction_figures(txn)
    return {
        "charged": figures.paid,
        "platform_fee": figures.platform_fee,
        "refunded": figures.refunded,
        "refunded_in_full": figures.refunded_in_full,
        "payout": figures.seller_share,
        "paid_out": figures.paid_out,
        "owed": figures.seller_debt,
        "taken_back": max(figures.paid_out - figures.seller_share, 0),
    }


def _context(txn: Transaction, recipient, **extra) -> dict:
    return {
        "txn": txn,
        "reference": str(txn.pk),
        "title": _title(txn),
        "currency": txn.currency,
        "recipient_name": recipient.first_name,
        "order_url": _order_url(txn),
        "amounts": _amounts(txn),
        "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
        **extra,
    }


def _send(
    *, template: str, subject: str, context: dict, to: str, headers: dict[str, str] | None = None
) -> None:
    """Render ``<template>.txt`` and ``<template>.html`` and queue them for one address
    (``marketplace.mail.queue_email``: a job with retries; in the caller's transaction).

    ``headers``: extra headers (the notification's List-Unsubscribe and List-Unsubscribe-Post,
    whose link the footer repeats)."""
    headers = dict(headers or {})
    context = {**context, "unsubscribe_url": headers.get("List-Unsubscribe", "").strip("<>")}
    body = render_to_string(f"{TEMPLATE_DIR}/{template}.txt", context)
    html = render_to_string(f"{TEMPLATE_DIR}/{template}.html", {**context, "subject": subject})
    # A listing title may hold a line break; a header may not.
    queue_email(to=to, subject=" ".join(subject.split()), text=body, html=html, headers=headers)


def send_order_receipt(transaction: Transaction, *, headers: dict[str, str] | None = None) -> None:
    """The buyer's receipt, once the payment succeeded (pending -> processing)."""
    txn = _reload(transaction)
    context = _context(txn, txn.buyer, seller_name=_seller_name(txn.seller), paid_at=_paid_at(txn))
    _send(
        template="receipt",
        subject=f"Your receipt for {context['title']}",
        context=context,
        to=txn.buyer.email,
        headers=headers,
    )


def send_sale_notice(transaction: Transaction, *, headers: dict[str, str] | None = None) -> None:
    """The seller's notice of a paid sale: what the buyer paid, the fee, the payout and when."""
    txn = _reload(transaction)
    context = _context(txn, txn.seller)
    _send(
        template="sale",
        subject=f"You sold {context['title']}",
        context=context,
        to=txn.seller.email,
        headers=headers,
    )


def send_payout_notice(transaction: Transaction, *, headers: dict[str, str] | None = None) -> None:
    """The seller's notice that escrow was released and what was transferred to them."""
    txn = _reload(transaction)
    context = _context(txn, txn.seller)
    _send(
        template="payout",
        subject=f"Your payout for {context['title']}",
        context=context,
        to=txn.seller.email,
        headers=headers,
    )


def send_refund_notice(transaction: Transaction, amount_cents: int) -> None:
    """Tell the buyer they were refunded ``amount_cents`` and the seller what it does to
    their payout, one message each (:func:`send_refund_buyer_notice`,
    :func:`send_refund_seller_notice`).

    A payment that arrived after its checkout was cancelled is refunded at once: the buyer is
    told why, and the seller, who never made that sale, is not written to.
    """
    send_refund_buyer_notice(transaction, amount_cents)
    send_refund_seller_notice(transaction, amount_cents)


def _refund_flags(txn: Transaction, amount_cents: int) -> dict:
    return {
        "amount_cents": amount_cents,
        "late_payment": txn.status == Status.CANCELLED,
        "released": txn.escrow_released_at is not None,
    }


def refund_reaches_seller(transaction: Transaction) -> bool:
    """False for a payment that arrived after its checkout was cancelled: the seller never
    made that sale and is not told of its refund."""
    return transaction.status != Status.CANCELLED


def send_refund_buyer_notice(
    transaction: Transaction, amount_cents: int, *, headers: dict[str, str] | None = None
) -> None:
    """The buyer's notice of a refund of ``amount_cents``."""
    txn = _reload(transaction)
    refund = format_amount(amount_cents, txn.currency)
    buyer_context = _context(txn, txn.buyer, **_refund_flags(txn, amount_cents))
    _send(
        template="refund_buyer",
        subject=f"You were refunded {refund} for {buyer_context['title']}",
        context=buyer_context,
        to=txn.buyer.email,
        headers=headers,
    )


def send_refund_seller_notice(
    transaction: Transaction, amount_cents: int, *, headers: dict[str, str] | None = None
) -> None:
    """The seller's notice of what a refund of ``amount_cents`` does to their payout; nothing
    for a late payment refunded at once (:func:`refund_reaches_seller`)."""
    txn = _reload(transaction)
    if not refund_reaches_seller(txn):
        return
    refund = format_amount(amount_cents, txn.currency)
    seller_context = _context(txn, txn.seller, **_refund_flags(txn, amount_cents))
    _send(
        template="refund_seller",
        subject=f"{refund} was refunded to the buyer of {seller_context['title']}",
        context=seller_context,
        to=txn.seller.email,
        headers=headers,
    )
