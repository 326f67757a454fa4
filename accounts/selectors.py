"""Reads for account pages. The public profile costs three queries, whatever its contents."""

from dataclasses import dataclass

from accounts.models import AccountStatus, User
from listings.models import Listing
from listings.selectors import public_listings
from reviews.models import Review

PROFILE_LISTINGS_LIMIT = 24
PROFILE_REVIEWS_LIMIT = 10


def public_name(user: User) -> str:
    """The name shown to other people: never derived from the email address (the model's
    ``display_name`` falls back to the address's local part, fine for the owner's own menu)."""
    return f"{user.first_name} {user.last_name}".strip() or "Marketplace member"


@dataclass
class PublicProfile:
    user: User
    name: str
    listings: list[Listing]
    more_listings: bool
    reviews: list[Review]


def user_for_profile(*, user_id, viewer) -> User | None:
    """The account behind ``/users/<id>/``; banned accounts exist only for staff."""
    users = User.objects.all()
    if not (viewer.is_authenticated and viewer.is_staff):
        users = users.exclude(account_status=AccountStatus.BANNED)
    return users.filter(pk=user_id).first()


def profile_listings(*, user: User, limit: int = PROFILE_LISTINGS_LIMIT) -> tuple[list[Listing], bool]:
    """The newest of the user's public active listings, and whether there are more."""
    rows = list(
        public_listings()
        .filter(seller=user)
        .select_related("category")
        .order_by("-published_at", "-id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def profile_reviews(*, user: User, limit: int = PROFILE_REVIEWS_LIMIT) -> list[Review]:
    """The latest active reviews the user received, with their authors (one query)."""
    reviews = list(
        Review.objects.filter(reviewee=user, status=Review.Status.ACTIVE)
        .select_related("reviewer")
        .order_by("-created_at", "-id")[:limit]
    )
    for review in reviews:
        review.reviewer_name = public_name(review.reviewer)
        review.reviewer_visible = review.reviewer.account_status != AccountStatus.BANNED
    return reviews


def public_profile(*, user_id, viewer) -> PublicProfile | None:
    user = user_for_profile(user_id=user_id, viewer=viewer)
    if user is None:
        return None
    listings, more = profile_listings(user=user)
    return PublicProfile(
        user=user,
        name=public_name(user),
        listings=listings,
        more_listings=more,
        reviews=profile_reviews(user=user),
    )
