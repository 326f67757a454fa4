"""Notifications' subscribers to the purchase, review and messaging hooks.

Connected by ``NotificationsConfig.ready()``. Each runs after the announcing change committed
(the hooks are called through ``after_commit``), re-reads what it needs and calls ``notify``
with the event's key, so an event delivered twice (a replayed webhook, a retried job) notifies
once. The purchase emails are the email channel of these notifications: ``payments/emails.py``
renders them, ``notify`` decides (the member's preferences) and adds the unsubscribe headers.
"""

from django.contrib.auth import get_user_model
from django.urls import reverse
from procrastinate.contrib.django import app

from marketplace.money import format_amount
from messaging import hooks as messaging_hooks
from messaging.masking import mask_for_viewer
from messaging.models import ConversationStatus, Message
from notifications.models import NotificationType as T
from notifications.preferences import enabled_channels_cached
from notifications.services import notifications_mark_read_where, notify
from payments import emails as payment_emails
from payments import hooks as payments_hooks
from payments.models import LedgerEntry, LedgerKind, Transaction
from reviews import hooks as reviews_hooks
from reviews.models import Review


def _order(transaction) -> Transaction:
    return Transaction.objects.select_related("listing", "buyer", "seller").get(pk=transaction.pk)


def order_link(txn) -> str:
    return reverse("payments:order", args=[txn.pk])


def _title(txn) -> str:
    return txn.listing.title if txn.listing is not None else "an item"


def _meta(txn, **extra) -> dict:
    return {"transaction_id": str(txn.pk), **extra}


# --- Purchases ---------------------------------------------------------------------------------
@payments_hooks.order_paid.subscribe
def notify_sale(transaction) -> None:
    """The seller: sold and paid (their sale notice email)."""
    txn = _order(transaction)
    notify(
        user=txn.seller,
        type=T.LISTING_SOLD,
        title=f"You sold {_title(txn)}",
        message="The buyer has paid; please send the item.",
        link=order_link(txn),
        metadata=_meta(txn),
        key=f"listing_sold:{txn.pk}",
        email=lambda headers: payment_emails.send_sale_notice(txn, headers=headers),
    )


@payments_hooks.order_paid.subscribe
def notify_receipt(transaction) -> None:
    """The buyer: the payment went through (their receipt email)."""
    txn = _order(transaction)
    notify(
        user=txn.buyer,
        type=T.ORDER_PAID,
        title=f"Your payment for {_title(txn)} went through",
        message="The seller has been told to send the item.",
        link=order_link(txn),
        metadata=_meta(txn),
        key=f"order_paid:{txn.pk}",
        email=lambda headers: payment_emails.send_order_receipt(txn, headers=headers),
    )


@payments_hooks.order_completed.subscribe
def notify_payout(transaction) -> None:
    """The seller: escrow released, the payout transferred (their payout email)."""
    txn = _order(transaction)
    notify(
        user=txn.seller,
        type=T.PAYOUT_SENT,
        title=f"Your payout for {_title(txn)} was sent",
        link=order_link(txn),
        metadata=_meta(txn),
        key=f"payout_sent:{txn.pk}",
        email=lambda headers: payment_emails.send_payout_notice(txn, headers=headers),
    )


def _refund_key(txn, amount_cents: int) -> str:
    """The refund's identity: its ledger entry (the newest refund of that amount, read after
    the refund committed), so a replayed refund webhook, which books nothing, notifies nothing."""
    entry = (
        LedgerEntry.objects.filter(transaction_id=txn.pk, kind=LedgerKind.REFUND, amount_cents=amount_cents)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return f"refund_issued:{txn.pk}:{entry or amount_cents}"


@payments_hooks.order_refunded.subscribe
def notify_refund(transaction, amount_cents: int) -> None:
    """The buyer (refunded) and the seller (what it does to the payout), each their own email;
    the seller is not told of a late payment refunded at once (never their sale)."""
    txn = _order(transaction)
    key = _refund_key(txn, amount_cents)
    amount = format_amount(amount_cents, txn.currency)
    notify(
        user=txn.buyer,
        type=T.REFUND_ISSUED,
        title=f"You were refunded {amount} for {_title(txn)}",
        link=order_link(txn),
        metadata=_meta(txn, amount_cents=amount_cents),
        key=key,
        email=lambda headers: payment_emails.send_refund_buyer_notice(txn, amount_cents, headers=headers),
    )
    if not payment_emails.refund_reaches_seller(txn):
        return
    notify(
        user=txn.seller,
        type=T.REFUND_ISSUED,
        title=f"{amount} was refunded to the buyer of {_title(txn)}",
        link=order_link(txn),
        metadata=_meta(txn, amount_cents=amount_cents),
        key=key,
        email=lambda headers: payment_emails.send_refund_seller_notice(txn, amount_cents, headers=headers),
    )


@payments_hooks.order_disputed.subscribe
def notify_dispute_opened(transaction) -> None:
    txn = _order(transaction)
    for user, title in (
        (txn.seller, f"The buyer's bank opened a dispute about {_title(txn)}"),
        (txn.buyer, f"Your bank opened a dispute about {_title(txn)}"),
    ):
        notify(
            user=user,
            type=T.DISPUTE_OPENED,
            title=title,
            message="The payment is held until the dispute ends.",
            link=order_link(txn),
            metadata=_meta(txn),
            key=f"dispute_opened:{txn.pk}",
        )


@payments_hooks.order_dispute_closed.subscribe
def notify_dispute_closed(transaction, won: bool) -> None:
    txn = _order(transaction)
    outcome = "in the seller's favour" if won else "in the buyer's favour"
    for user in (txn.seller, txn.buyer):
        notify(
            user=user,
            type=T.DISPUTE_CLOSED,
            title=f"The dispute about {_title(txn)} ended {outcome}",
            link=order_link(txn),
            metadata=_meta(txn, won=won),
            key=f"dispute_closed:{txn.pk}",
        )


# --- Reviews -----------------------------------------------------------------------------------
@reviews_hooks.review_requested.subscribe
def notify_review_requested(transaction, user) -> None:
    txn = _order(transaction)
    role = "purchase" if user.pk == txn.buyer_id else "sale"
    notify(
        user=user,
        type=T.REVIEW_REQUESTED,
        title=f"Review your {role} of {_title(txn)}",
        message="Your review is published once both of you reviewed, or when the review window closes.",
        link=order_link(txn),
        metadata=_meta(txn),
        key=f"review_requested:{txn.pk}",
    )


def _review(review):
    return Review.objects.select_related("transaction__listing", "reviewer", "reviewee").get(pk=review.pk)


@reviews_hooks.review_received.subscribe
def notify_review_received(review) -> None:
    review = _review(review)
    txn = review.transaction
    notify(
        user=review.reviewee,
        type=T.REVIEW_RECEIVED,
        title=f"{review.reviewer.display_name} reviewed you ({review.rating}/5)",
        message=review.title or "",
        link=order_link(txn),
        metadata=_meta(txn, review_id=str(review.pk)),
        key=f"review_received:{review.pk}",
    )


@reviews_hooks.review_responded.subscribe
def notify_review_response(review) -> None:
    review = _review(review)
    txn = review.transaction
    notify(
        user=review.reviewer,
        type=T.REVIEW_RESPONSE,
        title=f"{review.reviewee.display_name} responded to your review",
        link=order_link(txn),
        metadata=_meta(txn, review_id=str(review.pk)),
        key=f"review_response:{review.pk}",
    )


# --- Messaging ---------------------------------------------------------------------------------
@messaging_hooks.message_sent.subscribe
def queue_new_message_notification(message) -> None:
    """A job tells the other participant (``new_message_notify``) when they asked to be told of
    each message (off by default on both channels: messages have their badge and the digest).
    This hook runs on the sending socket's database thread, which should only store and
    broadcast the message: one cached read of the recipient's choice, and a job INSERT only
    for those who want it, instead of a job for every message sent."""
    conversation = message.conversation
    buyer_id, seller_id = conversation.buyer_id, conversation.seller_id
    recipient_id = seller_id if message.sender_id == buyer_id else buyer_id
    if not any(enabled_channels_cached(recipient_id, T.NEW_MESSAGE).values()):
        return
    app.configure_task(name="notifications.notify_new_message").defer(message_id=str(message.pk))


def new_message_notify(*, message_id) -> None:
    """The other participant: in the app only by default (unread messages are mailed by the
    digest, ``notifications.digest``). Notices the site wrote into a thread (an offer) are
    notified by their own area. Once per message (the key), so a retried job is harmless."""
    message = Message.objects.select_related("conversation", "sender").filter(pk=message_id).first()
    if message is None or getattr(message, "kind", "text") != "text":
        return
    conversation = message.conversation
    if conversation.status == ConversationStatus.SPAM:
        return
    recipient_id = (
        conversation.seller_id if message.sender_id == conversation.buyer_id else conversation.buyer_id
    )
    recipient = get_user_model().objects.get(pk=recipient_id)
    notify(
        user=recipient,
        type=T.NEW_MESSAGE,
        title=f"New message from {message.sender.display_name}",
        message=mask_for_viewer(message, recipient)[:200],
        link=reverse("messaging:conversation", args=[conversation.pk]),
        metadata={"conversation_id": str(conversation.pk), "message_id": str(message.pk)},
        key=f"new_message:{message.pk}",
    )


@messaging_hooks.conversation_read.subscribe
def clear_message_notifications(conversation, reader) -> None:
    """Reading the conversation reads its new-message notifications too."""
    notifications_mark_read_where(
        user_id=reader.pk, type=T.NEW_MESSAGE, metadata={"conversation_id": str(conversation.pk)}
    )
