"""Offers on negotiable listings: a buyer proposes a price, the seller accepts, declines or
counters, the buyer answers a counter. An accepted offer is a pending checkout at that price.

One row per negotiation: ``amount_cents`` is the buyer's offer, ``counter_cents`` the seller's
counter (set only while countered or once a counter was accepted). ``agreed_cents`` is the
price both accepted. Amounts are minor units of ``currency`` (the listing's).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, choices_check, currency_check


class OfferStatus(models.TextChoices):
    OPEN = "open", "Waiting for the seller"
    COUNTERED = "countered", "Countered: waiting for the buyer"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    # Accepted, but the checkout at the agreed price was cancelled or expired unpaid.
    LAPSED = "lapsed", "Lapsed (not paid)"
    # Accepted and paid: the sale went through.
    PAID = "paid", "Paid"


# Statuses in which the negotiation still waits for an answer.
LIVE_STATUSES = (OfferStatus.OPEN, OfferStatus.COUNTERED)


class Offer(models.Model):
    Status = OfferStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by offers_offer_listing_status.
    listing = models.ForeignKey(
        "listings.Listing", on_delete=models.CASCADE, related_name="offers", db_index=False
    )
    # Indexed by offers_offer_buyer_created.
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers_made", db_index=False
    )
    # Indexed by offers_offer_seller_live (the seller's dashboard) and offers_offer_seller.
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers_received", db_index=False
    )
    amount_cents = models.BigIntegerField()
    counter_cents = models.BigIntegerField(null=True, blank=True)
    agreed_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    # Why the seller declined (shown to the buyer), or "another offer was accepted".
    decline_reason = models.CharField(max_length=500, blank=True)
    # The pending checkout an acceptance opened (payments.Transaction), by id: payments is a
    # lower layer and never needs to know about offers.
    # Indexed by offers_offer_transaction.
    transaction = models.ForeignKey(
        "payments.Transaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    expires_at = models.DateTimeField()
    created_at = CreatedAtField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            choices_check("status", OfferStatus, "offers_offer_status_valid"),
            currency_check("currency", "offers_offer_currency_valid"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="offers_offer_amount_positive"),
            models.CheckConstraint(
                condition=Q(counter_cents__isnull=True) | Q(counter_cents__gt=0),
                name="offers_offer_counter_positive",
            ),
            # A countered offer carries the counter; an accepted or paid one its price.
            models.CheckConstraint(
                condition=~Q(status="countered") | Q(counter_cents__isnull=False),
                name="offers_offer_countered_has_counter",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["accepted", "paid", "lapsed"]) | Q(agreed_cents__gt=0),
                name="offers_offer_accepted_has_price",
            ),
            models.CheckConstraint(condition=~Q(buyer=F("seller")), name="offers_offer_not_own"),
            # One live negotiation per buyer and listing.
            models.UniqueConstraint(
                fields=["listing", "buyer"],
                condition=Q(status__in=["open", "countered"]),
                name="offers_offer_one_live_per_buyer",
            ),
            # One accepted offer per listing at a time: two accepts at once, one wins.
            models.UniqueConstraint(
                fields=["listing"], condition=Q(status="accepted"), name="offers_offer_one_accepted"
            ),
        ]
        indexes = [
            models.Index(fields=["listing", "status"], name="offers_offer_listing_status"),
            models.Index(F("buyer"), F("created_at").desc(), name="offers_offer_buyer_created"),
            models.Index(F("seller"), F("created_at").desc(), name="offers_offer_seller"),
            # The seller's dashboard: live offers, newest first.
            models.Index(
                F("seller"),
                F("created_at").desc(),
                condition=Q(status__in=["open", "countered"]),
                name="offers_offer_seller_live",
            ),
            # The expiry job: live offers by deadline.
            models.Index(
                fields=["expires_at"], condition=Q(status__in=["open", "countered"]), name="offers_offer_due"
            ),
            models.Index(fields=["transaction"], name="offers_offer_transaction"),
        ]

    def __str__(self) -> str:
        return f"Offer {self.amount_cents} {self.currency} on {self.listing_id}"

    @property
    def current_cents(self) -> int:
        """The amount on the table: the agreed price, else the counter, else the offer."""
        return self.agreed_cents or self.counter_cents or self.amount_cents


class OfferFloor(models.Model):
    """The lowest offer a seller will hear on a listing. Never shown to buyers: an offer below
    it is refused with the same words as any other too-low offer."""

    listing = models.OneToOneField(
        "listings.Listing", on_delete=models.CASCADE, primary_key=True, related_name="offer_floor"
    )
    floor_cents = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(floor_cents__gt=0), name="offers_floor_positive"),
        ]

    def __str__(self) -> str:
        return f"Floor {self.floor_cents} on {self.listing_id}"
