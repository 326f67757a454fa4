import uuid

from django.conf import settings
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Cast

from marketplace.db import CreatedAtField, choices_check


class NotificationType(models.TextChoices):
    """Every kind of notification. Helpers of other areas only add subscribers, never values:
    the CHECK constraint below lists them all."""

    # Messaging
    NEW_MESSAGE = "new_message", "New message"
    MESSAGE_DIGEST = "message_digest", "Unread messages"
    # Reviews
    REVIEW_REQUESTED = "review_requested", "Review requested"
    REVIEW_RECEIVED = "review_received", "Review received"
    REVIEW_RESPONSE = "review_response", "Response to your review"
    REVIEW_WINDOW_CLOSING = "review_window_closing", "Review window closing"
    # Payments
    LISTING_SOLD = "listing_sold", "Listing sold"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    ORDER_PAID = "order_paid", "Order paid"
    PURCHASE_CONFIRMED = "purchase_confirmed", "Purchase confirmed"
    PAYOUT_SENT = "payout_sent", "Payout sent"
    REFUND_ISSUED = "refund_issued", "Refund issued"
    DISPUTE_OPENED = "dispute_opened", "Dispute opened"
    DISPUTE_CLOSED = "dispute_closed", "Dispute closed"
    # Moderation
    LISTING_TAKEN_DOWN = "listing_taken_down", "Listing taken down"
    LISTING_RESTORED = "listing_restored", "Listing restored"
    LISTING_APPROVED = "listing_approved", "Listing approved"
    LISTING_DECLINED = "listing_declined", "Listing declined"
    REPORT_RESOLVED = "report_resolved", "Report resolved"
    # Offers
    OFFER_RECEIVED = "offer_received", "Offer received"
    OFFER_COUNTERED = "offer_countered", "Offer countered"
    OFFER_ACCEPTED = "offer_accepted", "Offer accepted"
    OFFER_DECLINED = "offer_declined", "Offer declined"
    OFFER_EXPIRED = "offer_expired", "Offer expired"
    OFFER_WITHDRAWN = "offer_withdrawn", "Offer withdrawn"
    # Alerts
    SAVED_SEARCH_MATCH = "saved_search_match", "Saved search match"
    FOLLOWED_SELLER_LISTING = "followed_seller_listing", "New listing from a seller you follow"
    PRICE_DROP = "price_drop", "Price drop"
    LISTING_FAVORITED = "listing_favorited", "Listing favorited"
    # Privacy and account
    DATA_EXPORT_READY = "data_export_ready", "Data export ready"
    ACCOUNT = "account", "Account"


class NotificationChannel(models.TextChoices):
    IN_APP = "in_app", "In the app"
    EMAIL = "email", "Email"


def new_key() -> str:
    return str(uuid.uuid4())


class Notification(models.Model):
    Type = NotificationType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by notifications_user_created.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    type = models.CharField(max_length=50, choices=Type.choices)
    title = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    link_url = models.TextField(blank=True)
    link_text = models.CharField(max_length=100, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The event's identity (``order_paid:<txn id>``): unique per user and type, so a replayed
    # webhook or a retried job notifies once. Rows written outside ``notify`` get a random one.
    key = models.CharField(
        max_length=200, default=new_key, db_default=Cast(RandomUUID(), output_field=models.CharField())
    )
    # False when the member turned this type off in the app: the row stays as the record that
    # the event was handled (its email may still go), read from the start and never listed.
    in_app = models.BooleanField(default=True, db_default=True)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            choices_check("type", NotificationType, "notifications_notification_type_valid"),
            models.UniqueConstraint(fields=["user", "type", "key"], name="notifications_notification_once"),
        ]
        indexes = [
            models.Index(F("user"), F("created_at").desc(), name="notifications_user_created"),
            # Unread badge and list: only unread rows, newest first.
            models.Index(
                F("user"),
                F("created_at").desc(),
                condition=Q(read_at__isnull=True),
                name="notifications_user_unread",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class NotificationPreference(models.Model):
    """A member's choice for one type on one channel. Only choices that differ from the
    default (``notifications.preferences.DEFAULTS``) need a row; a row states it either way."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by the (user, type, channel) unique constraint.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        db_index=False,
    )
    type = models.CharField(max_length=50, choices=NotificationType.choices)
    channel = models.CharField(max_length=20, choices=NotificationChannel.choices)
    enabled = models.BooleanField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            choices_check("type", NotificationType, "notifications_preference_type_valid"),
            choices_check("channel", NotificationChannel, "notifications_preference_channel_valid"),
            models.UniqueConstraint(
                fields=["user", "type", "channel"], name="notifications_preference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.type}/{self.channel}: {'on' if self.enabled else 'off'}"


class MessageEmail(models.Model):
    """A message the unread-message digest mailed (or decided not to mail): never mailed twice.

    Written in the digest's transaction with the queued email, so a crash mails nothing and
    marks nothing."""

    message = models.OneToOneField(
        "messaging.Message", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mailed = models.BooleanField(help_text="False when the recipient's preferences said no email.")
    created_at = CreatedAtField()

    def __str__(self) -> str:
        return f"message {self.message_id} to {self.recipient_id}"
