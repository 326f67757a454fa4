import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, TriggerManagedFieldsMixin, UpdatedAtField, choices_check


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"
    SPAM = "spam", "Spam"


class Conversation(TriggerManagedFieldsMixin, models.Model):
    """A thread between a buyer and a seller, about a listing or about nothing in particular."""

    Status = ConversationStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (listing, buyer, seller) unique constraint.
    listing = models.ForeignKey(
        "listings.Listing",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="conversations",
        db_index=False,
    )
    # Indexed by messaging_conv_buyer_last / _seller_last.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="conversations_as_buyer",
        db_index=False,
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="conversations_as_seller",
        db_index=False,
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    subject = models.CharField(max_length=255, blank=True)
    # Kept by the messaging_message_touch_conversation trigger.
    last_message_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = CreatedAtField()
    updated_at = UpdatedAtField()

    trigger_managed_fields = ("last_message_at", "created_at", "updated_at")

    class Meta:
        constraints = [
            choices_check("status", ConversationStatus, "messaging_conversation_status_valid"),
            models.CheckConstraint(
                condition=~Q(buyer=F("seller")), name="messaging_conversation_buyer_is_not_seller"
            ),
            # NULLS NOT DISTINCT: a second listing-less thread between the same pair is refused.
            models.UniqueConstraint(
                fields=["listing", "buyer", "seller"],
                nulls_distinct=False,
                name="messaging_conversation_unique",
            ),
        ]
        indexes = [
            models.Index(
                F("buyer"), F("last_message_at").desc(nulls_last=True), name="messaging_conv_buyer_last"
            ),
            models.Index(
                F("seller"), F("last_message_at").desc(nulls_last=True), name="messaging_conv_seller_last"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or str(self.id)


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by messaging_message_conv_created.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages_sent"
    )
    message = models.TextField()
    attachments = models.JSONField(default=list, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                # At least one non-space character (TRIM() strips only spaces, not tabs or newlines).
                condition=Q(message__regex=r"[^[:space:]]"),
                name="messaging_message_not_blank",
            ),
        ]
        indexes = [
            # Thread order with a unique tiebreaker, for keyset pagination.
            models.Index(fields=["conversation", "created_at", "id"], name="messaging_message_conv_created"),
        ]

    def __str__(self) -> str:
        return self.message[:50]
