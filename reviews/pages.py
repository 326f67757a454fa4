"""Reads for the pages that show reviews: the public profile's ratings, chart and review pages.

Only published, active reviews by members who are not banned are shown or counted here (the
same rule as the ratings the triggers keep: :func:`reviews.selectors.visible_reviews`). A
review's author sees it earlier on the order page, never here.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

from accounts.models import AccountStatus
from accounts.selectors import public_name
from payments.models import Transaction
from reviews.models import Review, ReviewerType, ReviewFlag
from reviews.selectors import ReviewCapabilities, review_capabilities, visible_reviews

PROFILE_CURSOR_SALT = "reviews.profile"
DETAIL_LABELS = (
    ("communication", "Communication"),
    ("quality", "Item as described"),
    ("delivery", "Delivery"),
)


@dataclass(frozen=True)
class StarCount:
    stars: int
    count: int
    percent: int  # of the role's reviews, rounded: the bar's length and its text


@dataclass(frozen=True)
class RoleRating:
    """The member's rating in one role: average and count (kept by the triggers), the 5-to-1
    distribution and the averages of the detailed ratings."""

    role: str  # "seller" or "buyer"
    label: str
    average: object  # Decimal or None
    count: int
    distribution: list[StarCount]
    details: list[tuple[str, object, int]]  # (label, average or None, count)


@dataclass
class ProfileReviews:
    ratings: list[RoleRating]
    reviews: list[Review]
    next_cursor: str | None
    cursor_invalid: bool = False
    flagged_ids: set = field(default_factory=set)


def _role_rating(user, role: str) -> RoleRating:
    """``role``'s figures from the user row, all kept by the ratings trigger from published,
    counting reviews: no query, no scan of the reviews."""
    counts = list(getattr(user, f"{role}_rating_distribution") or [0] * 5)  # index 0: one star
    total = sum(counts)
    distribution = [
        StarCount(stars, counts[stars - 1], round(100 * counts[stars - 1] / total) if total else 0)
        for stars in range(5, 0, -1)
    ]
    details = []
    for name, label in DETAIL_LABELS:
        count = getattr(user, f"{role}_{name}_count")
        average = round(getattr(user, f"{role}_{name}_sum") / count, 1) if count else None
        details.append((label, average, count))
    return RoleRating(
        role=role,
        label="As a seller" if role == "seller" else "As a buyer",
        average=getattr(user, f"{role}_rating"),
        count=getattr(user, f"{role}_rating_count"),
        distribution=distribution,
        details=details,
    )


def profile_ratings(user) -> list[RoleRating]:
    """``user``'s seller and buyer ratings, charts and detailed averages (no query)."""
    return [_role_rating(user, "seller"), _role_rating(user, "buyer")]


def _cursor_for(review: Review, user_id) -> str:
    return signing.dumps(
        {
            "u": str(user_id),
            "f": review.is_featured,
            "t": review.published_at.isoformat(),
            "id": str(review.pk),
        },
        salt=PROFILE_CURSOR_SALT,
    )


def profile_review_page(*, user, viewer, cursor: str | None, limit: int | None = None) -> ProfileReviews:
    """One page of the reviews ``user`` received, featured first, then newest first (keyset on
    (is_featured, published_at, id), signed cursor bound to the user), reviewer joined, with
    ``reviewer_name``, ``reviewer_visible`` and ``reviewee_name`` set, and the ids of those the
    viewer has flagged. Two queries: the page, the viewer's flags (members only, when the page
    has reviews)."""
    limit = limit or settings.REVIEWS_PAGE_SIZE
    reviews = (
        visible_reviews()
        .filter(reviewee_id=user.pk)
        .select_related("reviewer")
        .order_by("-is_featured", "-published_at", "-id")
    )
    cursor_invalid = False
    if cursor:
        try:
            after = signing.loads(cursor, salt=PROFILE_CURSOR_SALT)
            if after["u"] != str(user.pk):
                raise ValueError("a cursor of another member's reviews")
            bound = (bool(after["f"]), datetime.fromisoformat(after["t"]), uuid.UUID(after["id"]))
        except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError):
            cursor_invalid = True
        else:
            reviews = reviews.filter(
                TupleLessThan(Tuple(F("is_featured"), F("published_at"), F("id")), bound)
            )
    rows = list(reviews[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _cursor_for(rows[-1], user.pk)
    name = public_name(user)
    for review in rows:
        review.reviewer_name = public_name(review.reviewer)
        review.reviewer_visible = review.reviewer.account_status != AccountStatus.BANNED
        review.reviewee_name = name
    flagged = set()
    if rows and viewer.is_authenticated:
        flagged = set(
            ReviewFlag.objects.filter(member_id=viewer.pk, review_id__in=[r.pk for r in rows]).values_list(
                "review_id", flat=True
            )
        )
    return ProfileReviews(
        ratings=profile_ratings(user),
        reviews=rows,
        next_cursor=next_cursor,
        cursor_invalid=cursor_invalid,
        flagged_ids=flagged,
    )


# --- The order page ---------------------------------------------------------------------------
@dataclass(frozen=True)
class OrderReviews:
    """The order page's reviews: what the viewer may do (``review_capabilities``) and the other
    party's public name."""

    capabilities: ReviewCapabilities
    other_party_name: str

    def __getattr__(self, name):
        return getattr(self.capabilities, name)


def order_reviews(user, transaction: Transaction) -> OrderReviews:
    """The reviews part of ``transaction``'s order page for ``user`` (buyer and seller joined).

    A purchase that never became reviewable (unpaid, paid without receipt confirmed and not
    released) has no reviews, so nothing is read for it; otherwise one query."""
    reviews = None
    if transaction.completed_at is None and not (transaction.metadata or {}).get("receipt_confirmed_at"):
        reviews = []
    capabilities = review_capabilities(user, transaction, reviews=reviews)
    other = transaction.seller if capabilities.role == ReviewerType.BUYER else transaction.buyer
    # The response beneath a review is its reviewee's: the other party's under the own review.
    if capabilities.own_review is not None:
        capabilities.own_review.reviewee_name = public_name(other)
    if capabilities.other_review is not None:
        capabilities.other_review.reviewee_name = public_name(user)
    return OrderReviews(capabilities=capabilities, other_party_name=public_name(other))
