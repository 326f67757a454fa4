import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, choices_check


class NotificationType(models.TextChoices):
    NEW_MESSAGE = "new_message", "New message"
    REVIEW_RECEIVED = "review_received", "Review received"
    REVIEW_REQUESTED = "review_requested", "Review requested"
    LISTING_SOLD = "listing_sold", "Listing sold"
    LISTING_FAVORITED = "listing_favorited", "Listing favorited"
    PURCHASE_CONFIRMED = "purchase_confirmed", "Purchase confirmed"
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    PAYOUT_SENT = "payout_sent", "Payout sent"
    REFUND_ISSUED = "refund_issued", "Refund issued"
    ACCOUNT = "account", "Account"


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
    created_at = CreatedAtField()

    class Meta:
        constraints = [choices_check("type", NotificationType, "notifications_notification_type_valid")]
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
