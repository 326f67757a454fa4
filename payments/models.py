import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, UpdatedAtField, choices_check, currency_check


class TransactionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"


class PaymentProvider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PAYPAL = "paypal", "PayPal"


class Transaction(models.Model):
    """A purchase of one listing. Amounts are integer minor units of ``currency``.

    Status: pending (awaiting payment) -> processing (paid, held in escrow) -> completed
    (escrow released to the seller); cancelled, refunded and disputed branch off.
    """

    Status = TransactionStatus

    # A live transaction holds its listing; at most one may exist per listing.
    LIVE_STATUSES = (Status.PENDING, Status.PROCESSING, Status.COMPLETED, Status.DISPUTED)

    Provider = PaymentProvider

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    listing = models.ForeignKey(
        "listings.Listing", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    # Indexed by txn_buyer_created / txn_seller_created.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sales", db_index=False
    )

    subtotal_cents = models.BigIntegerField()
    platform_fee_cents = models.BigIntegerField()
    processing_fee_cents = models.BigIntegerField(default=0)
    total_cents = models.BigIntegerField()
    seller_payout_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")

    payment_provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.STRIPE)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True)
    charge_id = models.CharField(max_length=255, blank=True)
    transfer_id = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)

    escrow_release_date = models.DateTimeField(null=True, blank=True)
    escrow_released_at = models.DateTimeField(null=True, blank=True)

    buyer_note = models.TextField(blank=True)
    seller_note = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            choices_check("status", TransactionStatus, "payments_transaction_status_valid"),
            choices_check("payment_provider", PaymentProvider, "payments_transaction_provider_valid"),
            currency_check("currency", "payments_transaction_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(
                    subtotal_cents__gte=0,
                    platform_fee_cents__gte=0,
                    processing_fee_cents__gte=0,
                    total_cents__gte=0,
                    seller_payout_cents__gte=0,
                ),
                name="payments_transaction_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(seller_payout_cents=F("subtotal_cents") - F("platform_fee_cents")),
                name="payments_transaction_payout_is_subtotal_less_fee",
            ),
            models.CheckConstraint(
                condition=Q(total_cents=F("subtotal_cents")),
                name="payments_transaction_total_is_subtotal",
            ),
            models.CheckConstraint(
                condition=~Q(buyer=F("seller")), name="payments_transaction_buyer_is_not_seller"
            ),
            models.UniqueConstraint(
                fields=["payment_intent_id"],
                condition=Q(payment_intent_id__isnull=False),
                name="payments_transaction_payment_intent_unique",
            ),
            # Nothing may sell a one-off listing twice: one live transaction per listing.
            models.UniqueConstraint(
                fields=["listing"],
                condition=Q(status__in=["pending", "processing", "completed", "disputed"]),
                name="payments_transaction_one_live_per_listing",
            ),
        ]
        indexes = [
            models.Index(F("buyer"), F("created_at").desc(), name="txn_buyer_created"),
            models.Index(F("seller"), F("created_at").desc(), name="txn_seller_created"),
            models.Index(F("created_at").desc(), name="payments_transaction_created"),
            # Escrow queue: paid transactions whose funds have not been released.
            models.Index(
                fields=["escrow_release_date"],
                condition=Q(status="processing", escrow_released_at__isnull=True),
                name="txn_escrow_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"
