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
    # The buyer's checkout request id: a retried "Buy" with the same key returns this row.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Staff authority over money, beyond seeing the admin: refunding someone else's sale
        # (the seller refunds their own without it), and paying out a payout held because the
        # seller is not in good standing. Superusers have both.
        permissions = [
            ("refund_transaction", "Can refund a purchase as staff"),
            ("release_held_payout", "Can release a payout held for a seller not in good standing"),
        ]
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
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payments_transaction_buyer_idempotency_key_unique",
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
            # The seller's sales newest first; status included so the sales page's counts per
            # status are an index-only scan, not a heap visit per sale.
            models.Index(fields=["seller", "-created_at"], include=["status"], name="txn_seller_created"),
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


class LedgerKind(models.TextChoices):
    """One money movement of a transaction. Amounts are positive; the kind gives the direction.

    Money in to the platform: charge (buyer paid), dispute_won (disputed funds returned),
    transfer_reversal (seller's transfer pulled back). Money out: transfer (to the seller),
    refund (to the buyer), dispute (funds withdrawn by the card network). platform_fee and
    platform_fee_reversal move no money: they earmark (and give back) the platform's share of
    what it holds. seller_debt moves no money either: Stripe refused to pull a transfer back
    after a refund, so the seller owes the platform that amount (a receivable for staff).
    """

    CHARGE = "charge", "Charge"
    PLATFORM_FEE = "platform_fee", "Platform fee"
    PLATFORM_FEE_REVERSAL = "platform_fee_reversal", "Platform fee reversal"
    TRANSFER = "transfer", "Transfer to seller"
    TRANSFER_REVERSAL = "transfer_reversal", "Transfer reversal"
    REFUND = "refund", "Refund"
    DISPUTE = "dispute", "Dispute"
    DISPUTE_WON = "dispute_won", "Dispute won"
    SELLER_DEBT = "seller_debt", "Owed by seller"


class LedgerEntry(models.Model):
    """Append-only: the database refuses UPDATE, DELETE and TRUNCATE of a non-empty table
    (``0004_ledger_append_only``). Rows are written by ``payments.services`` in the same
    database transaction as the status change they belong to; ``reconcile`` reads them."""

    Kind = LedgerKind

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # The Stripe object (charge, transfer, refund, reversal, dispute) behind the movement.
    external_id = models.CharField(max_length=255, blank=True)
    created_at = CreatedAtField()

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            choices_check("kind", LedgerKind, "payments_ledgerentry_kind_valid"),
            currency_check("currency", "payments_ledgerentry_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="payments_ledgerentry_amount_positive"
            ),
            # A Stripe object is booked once (webhook replays, retried calls).
            models.UniqueConstraint(
                fields=["kind", "external_id"],
                condition=~Q(external_id=""),
                name="payments_ledgerentry_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_cents} {self.currency}"


class StripeEvent(models.Model):
    """A Stripe webhook event, stored once per event id in the same database transaction as its
    effect: a replayed delivery finds the row and is ignored, a failed handler rolls it back so
    Stripe's retry processes the event again. ``account.updated`` payloads are also where a
    seller's payout readiness is read from (``payments.webhooks.latest_account_update``)."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    # The Stripe object the event is about (payment intent, charge, dispute, account id).
    object_id = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    received_at = CreatedAtField()
    processed_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()

    class Meta:
        indexes = [
            # latest_account_update: the latest account.updated of one account.
            models.Index(
                fields=["object_id", "-created"],
                condition=Q(type="account.updated"),
                name="stripe_event_account_latest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"


class StaffDecisionKind(models.TextChoices):
    REFUND = "refund", "Refund by staff"
    REFUND_SELLER_DEBT = "refund_seller_debt", "Refund by staff, seller debt booked"
    RELEASE_HELD_PAYOUT = "release_held_payout", "Held payout released"


class StaffDecision(models.Model):
    """A staff member's money decision on a purchase, with the reason they gave: a refund of
    someone else's sale, a refund that booked a seller debt because Stripe would not take the
    money back, a payout released to a seller not in good standing. Append-only (the admin
    shows it read-only); written by ``payments.services`` in the same database transaction as
    the decision's effect."""

    Kind = StaffDecisionKind

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="staff_decisions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    amount_cents = models.BigIntegerField()
    reason = models.TextField()
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            choices_check("kind", StaffDecisionKind, "payments_staffdecision_kind_valid"),
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0), name="payments_staffdecision_amount_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(reason__regex=r"^\s*$"), name="payments_staffdecision_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_cents} by {self.actor_id}"
