"""Reads of reviews for pages of other apps (the listing page's seller reviews)."""

from accounts.models import AccountStatus
from accounts.selectors import public_name
from reviews.models import Review, ReviewerType, ReviewStatus

SELLER_REVIEWS_ON_LISTING = 5


def seller_latest_reviews(seller_id, limit: int = SELLER_REVIEWS_ON_LISTING) -> list[Review]:
    """The seller's latest active reviews written by buyers, newest first, reviewer joined:
    one query (review_reviewee_created index)."""
    return list(
        Review.objects.filter(
            reviewee_id=seller_id, reviewer_type=ReviewerType.BUYER, status=ReviewStatus.ACTIVE
        )
        .select_related("reviewer")
        .order_by("-created_at", "-id")[:limit]
    )


def user_latest_reviews(*, user_id, limit: int) -> list[Review]:
    """The latest active reviews the user received (as seller or buyer), newest first, with
    ``reviewer_name`` (never the email address) and ``reviewer_visible`` (False for a banned
    reviewer, whose profile 404s) set: one query (the public profile)."""
    reviews = list(
        Review.objects.filter(reviewee_id=user_id, status=ReviewStatus.ACTIVE)
        .select_related("reviewer")
        .order_by("-created_at", "-id")[:limit]
    )
    for review in reviews:
        review.reviewer_name = public_name(review.reviewer)
        review.reviewer_visible = review.reviewer.account_status != AccountStatus.BANNED
    return reviews
