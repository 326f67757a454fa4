import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from marketplace.db import CreatedAtField, TriggerManagedFieldsMixin, UpdatedAtField, choices_check

# Hard ceilings the database enforces; the settings (REVIEW_*_MAX_LENGTH) may only be lower.
COMMENT_MAX_LENGTH = 5000
RESPONSE_MAX_LENGTH = 5000
FLAG_TEXT_MAX_LENGTH = 2000


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


class Review(TriggerManagedFieldsMixin, models.Model):
    """One party's review of the other party of a transaction.

    ``reviewer_type`` says which side wrote it: a buyer's review rates the seller (it
    feeds the reviewee's seller rating), a seller's review rates the buyer. A review counts
    (and is shown to anyone but its author) once ``published_at`` is set, while its status is
    ``active`` and its reviewer is not banned; the ``reviews_keep_user_ratings`` trigger keeps
    the ratings exact. Published blind: ``published_at`` is set when both parties have
    reviewed, or by ``publish_due_reviews`` once ``window_closes_at`` has passed.
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

    # The end of the transaction's review window, copied from it at submission.
    window_closes_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Kept by the reviews_count_flags trigger: every flag members raised on the review.
    flag_count = models.IntegerField(default=0)

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()

    trigger_managed_fields = ("flag_count",)

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
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("comment"), COMMENT_MAX_LENGTH),
                name="reviews_review_comment_length",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("response"), RESPONSE_MAX_LENGTH),
                name="reviews_review_response_length",
            ),
            # A response exists exactly when it has a time, and only under a published review.
            models.CheckConstraint(
                condition=(Q(response="") & Q(responded_at__isnull=True))
                | (~Q(response="") & Q(responded_at__isnull=False) & Q(published_at__isnull=False)),
                name="reviews_review_response_when_published",
            ),
            models.CheckConstraint(
                condition=Q(is_featured=False) | Q(published_at__isnull=False),
                name="reviews_review_featured_when_published",
            ),
            models.CheckConstraint(
                condition=Q(flag_count__gte=0), name="reviews_review_flag_count_non_negative"
            ),
        ]
        indexes = [
            models.Index(F("reviewee"), F("created_at").desc(), name="review_reviewee_created"),
            # The profile's reviews: featured first, then newest, keyset on (featured, published, id).
            models.Index(
                F("reviewee"),
                F("is_featured").desc(),
                F("published_at").desc(),
                F("id").desc(),
                condition=Q(published_at__isnull=False, status="active"),
                name="review_reviewee_profile",
            ),
            # publish_due_reviews: the unpublished reviews whose window has closed.
            models.Index(
                fields=["window_closes_at"], condition=Q(published_at__isnull=True), name="review_publish_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ by {self.reviewer_id} for {self.reviewee_id}"


class FlagReason(models.TextChoices):
    SPAM = "spam", "Spam or advertising"
    OFFENSIVE = "offensive", "Offensive or abusive language"
    PERSONAL = "personal", "Personal information"
    OFF_TOPIC = "off_topic", "Not about this purchase"
    FAKE = "fake", "Fake or misleading"
    OTHER = "other", "Something else"


class ReviewFlag(models.Model):
    """A member's report of a published review, for staff. One per member and review; the
    review stays visible (and counting) until staff act. ``resolved_at`` is set when staff
    remove or restore the review."""

    Reason = FlagReason

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (review, member) unique constraint.
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="flags", db_index=False)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_flags"
    )
    reason = models.CharField(max_length=20, choices=FlagReason.choices)
    text = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "member"], name="reviews_flag_once_per_member"),
            choices_check("reason", FlagReason, "reviews_flag_reason_valid"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("text"), FLAG_TEXT_MAX_LENGTH),
                name="reviews_flag_text_length",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} by {self.member_id}"


class ModerationAction(models.TextChoices):
    REMOVE = "remove", "Remove"
    RESTORE = "restore", "Restore"
    FEATURE = "feature", "Feature"
    UNFEATURE = "unfeature", "Unfeature"


class ReviewModeration(models.Model):
    """One staff decision on a review: who did what, and why. Append-only in practice (the
    admin shows it read-only); a correction is a new decision."""

    Action = ModerationAction

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="moderations", db_index=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_moderations"
    )
    action = models.CharField(max_length=20, choices=ModerationAction.choices)
    reason = models.TextField()
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            choices_check("action", ModerationAction, "reviews_moderation_action_valid"),
            models.CheckConstraint(
                condition=~Q(reason__regex=r"^\s*$"), name="reviews_moderation_reason_required"
            ),
        ]
        indexes = [models.Index(F("review"), F("created_at").desc(), name="review_moderation_history")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id}"
