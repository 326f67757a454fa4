import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from marketplace.db import CreatedAtField, UpdatedAtField, choices_check


def rating_range(field: str, name: str, nullable: bool = False) -> models.CheckConstraint:
    condition = Q(**{f"{field}__gte": 1, f"{field}__lte": 5})
    if nullable:
        condition |= Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=condition, name=name)


class ReviewerType(models.TextChoices):
    BUYER = "buyer", "Buyer"
    SELLER = "seller", "Seller"


class ReviewStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FLAGGED = "flagged", "Flagged"
    REMOVED = "removed", "Removed"


class Review(models.Model):
    """One party's review of the other party of a transaction.

    ``reviewer_type`` says which side wrote it: a buyer's review rates the seller (it
    feeds the reviewee's seller rating), a seller's review rates the buyer. Only ``active``
    reviews count; the ``reviews_keep_user_ratings`` trigger keeps the ratings exact.
    """

    ReviewerType = ReviewerType

    Status = ReviewStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (transaction, reviewer) unique constraint.
    transaction = models.ForeignKey(
        "payments.Transaction", on_delete=models.PROTECT, related_name="reviews", db_index=False
    )
    listing = models.ForeignKey(
        "listings.Listing", null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_written"
    )
    # Indexed by review_reviewee_created.
    reviewee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_received", db_index=False
    )
    reviewer_type = models.CharField(max_length=10, choices=ReviewerType.choices)

    rating = models.SmallIntegerField()
    title = models.CharField(max_length=100, blank=True)
    comment = models.TextField(blank=True)
    rating_communication = models.SmallIntegerField(null=True, blank=True)
    rating_quality = models.SmallIntegerField(null=True, blank=True)
    rating_delivery = models.SmallIntegerField(null=True, blank=True)

    response = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    is_verified = models.BooleanField(default=False, help_text="Verified purchase.")
    is_featured = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()

    class Meta:
        constraints = [
            rating_range("rating", "reviews_review_rating_range"),
            rating_range("rating_communication", "reviews_review_communication_range", nullable=True),
            rating_range("rating_quality", "reviews_review_quality_range", nullable=True),
            rating_range("rating_delivery", "reviews_review_delivery_range", nullable=True),
            choices_check("reviewer_type", ReviewerType, "reviews_review_reviewer_type_valid"),
            choices_check("status", ReviewStatus, "reviews_review_status_valid"),
            models.CheckConstraint(condition=~Q(reviewer=F("reviewee")), name="reviews_review_not_self"),
            models.UniqueConstraint(fields=["transaction", "reviewer"], name="reviews_review_once_per_party"),
        ]
        indexes = [
            models.Index(F("reviewee"), F("created_at").desc(), name="review_reviewee_created"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ by {self.reviewer_id} for {self.reviewee_id}"
