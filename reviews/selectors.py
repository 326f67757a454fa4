"""Reads of reviews: who may see a review (:func:`access_review`, :func:`is_review_visible_to`),
what a party may do on an order page (:func:`review_capabilities`), the reviews a member still
has to write (:func:`reviews_to_write`), and the reviews shown on pages of other apps (the
listing page's seller reviews, the public profile).

A review is shown to anyone but its author only once published (``published_at``: both parties
reviewed, or the window closed), while it is ``active`` and its reviewer is not banned
(:func:`visible_reviews`); its author always sees it. The same predicate decides what counts in
the ratings (the ``reviews_keep_user_ratings`` trigger).
"""

import contextlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import DateTimeField, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Least
from django.http import Http404
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.selectors import public_name
from payments.models import Transaction, TransactionStatus
from reviews.models import Review, ReviewerType, ReviewFlag, ReviewStatus

SELLER_REVIEWS_ON_LISTING = 5

# A purchase may be reviewed from the moment it completed or its receipt was confirmed, in these
# statuses (a dispute does not end it; a refund in full or a cancellation does).
REVIEWABLE_STATUSES = (TransactionStatus.PROCESSING, TransactionStatus.COMPLETED, TransactionStatus.DISPUTED)

NOT_FOUND_MESSAGE = "No such review."


def visible_reviews() -> QuerySet:
    """Reviews anyone may read: published, active, by a reviewer who is not banned."""
    return Review.objects.filter(published_at__isnull=False, status=ReviewStatus.ACTIVE).exclude(
        reviewer__account_status=AccountStatus.BANNED
    )


def review_window_days() -> int:
    return settings.REVIEW_WINDOW_DAYS


def reviewable_since(transaction: Transaction) -> datetime | None:
    """When ``transaction`` became reviewable (receipt confirmed or escrow released, the earlier),
    or None when it is not (not paid and completed, cancelled, refunded in full)."""
    if transaction.status not in REVIEWABLE_STATUSES:
        return None
    moments = []
    confirmed = (transaction.metadata or {}).get("receipt_confirmed_at")
    if confirmed:
        with contextlib.suppress(TypeError, ValueError):
            moments.append(datetime.fromisoformat(confirmed))
    if transaction.completed_at is not None:
        moments.append(transaction.completed_at)
    return min(moments) if moments else None


def review_deadline(transaction: Transaction) -> datetime | None:
    """The end of the transaction's review window, or None while it is not reviewable."""
    since = reviewable_since(transaction)
    return since + timedelta(days=review_window_days()) if since else None


def days_left(deadline: datetime | None, now: datetime | None = None) -> int:
    """Whole days (rounded up) until ``deadline``; 0 once it has passed."""
    if deadline is None:
        return 0
    seconds = (deadline - (now or timezone.now())).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def party_role(user, transaction: Transaction) -> str | None:
    """``ReviewerType`` of ``user`` on ``transaction`` ("buyer", "seller"), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if transaction.buyer_id == user.pk:
        return ReviewerType.BUYER
    if transaction.seller_id == user.pk:
        return ReviewerType.SELLER
    return None


def is_review_visible_to(review: Review, viewer) -> bool:
    """``viewer`` (a user or anonymous) may read ``review``: its author always, staff always,
    anyone else once it is published, active and its reviewer not banned. Reads
    ``review.reviewer`` (join it)."""
    authenticated = viewer is not None and getattr(viewer, "is_authenticated", False)
    if authenticated and (viewer.pk == review.reviewer_id or viewer.is_staff):
        return True
    return (
        review.published_at is not None
        and review.status == ReviewStatus.ACTIVE
        and review.reviewer.account_status != AccountStatus.BANNED
    )


ReviewRole = Literal["author", "reviewee", "member"]
_REVIEW_ROLES = ("author", "reviewee", "member")


def access_review(user, review_id, *, as_: ReviewRole) -> Review:
    """The review ``review_id`` if ``user`` may act on it as ``as_``, else ``Http404`` (exactly as
    for an unknown id). "author": its reviewer (published or not); "reviewee": the person it is
    about, once visible (to respond); "member": any logged-in member, once visible (to flag).
    One query; transaction, reviewer and reviewee joined."""
    if as_ not in _REVIEW_ROLES:
        raise ValueError(f"as_ must be one of {_REVIEW_ROLES}, not {as_!r}.")
    if user is None or not user.is_authenticated:
        raise Http404(NOT_FOUND_MESSAGE)
    found = Review.objects.select_related("transaction", "reviewer", "reviewee")
    if as_ == "author":
        found = found.filter(reviewer_id=user.pk)
    else:
        found = found.filter(published_at__isnull=False, status=ReviewStatus.ACTIVE).exclude(
            reviewer__account_status=AccountStatus.BANNED
        )
        if as_ == "reviewee":
            found = found.filter(reviewee_id=user.pk)
    try:
        review = found.filter(pk=review_id).first()
    except (ValidationError, ValueError):
        review = None
    if review is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return review


@dataclass(frozen=True)
class ReviewCapabilities:
    """What one user may do about the reviews of one transaction (the order page)."""

    role: str | None  # "buyer", "seller" (ReviewerType) or None (not a party)
    can_review: bool  # a party in good standing, reviewable, in the window, not reviewed yet
    deadline: datetime | None  # the end of the window (None while not reviewable)
    days_left: int  # whole days left in the window (0 once closed)
    refusal: str = ""  # why a party may not review (shown instead of the form), or ""
    own_review: Review | None = None  # the user's own review, published or not
    own_review_editable: bool = False  # before publication and inside the window
    other_review: Review | None = None  # the other party's review, once visible to the user
    hidden_notice: str = ""  # "Your review is hidden until <other party> reviews or <date>"
    can_respond: bool = False  # to other_review: the user is its reviewee, no response yet
    can_flag: bool = False  # other_review is published: the user may report it (once: the service says)


def _date(value: datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%B} {local.day}, {local.year}"


def review_capabilities(
    user, transaction: Transaction, *, reviews: list[Review] | None = None
) -> ReviewCapabilities:
    """What ``user`` may do about the reviews of ``transaction``: the one predicate the order
    page, its template and the services ask. ``transaction.buyer`` and ``.seller`` should be
    joined (``payments.selectors.access_transaction`` does). ``reviews``: the transaction's
    reviews with their reviewer joined (read in one query when not given)."""
    role = party_role(user, transaction)
    deadline = review_deadline(transaction)
    now = timezone.now()
    if reviews is None:
        reviews = list(Review.objects.filter(transaction_id=transaction.pk).select_related("reviewer"))
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    own = next((r for r in reviews if authenticated and r.reviewer_id == user.pk), None)
    other = next(
        (
            r
            for r in reviews
            if not (authenticated and r.reviewer_id == user.pk) and is_review_visible_to(r, user)
        ),
        None,
    )
    if other is not None and authenticated and user.is_staff and role is None:
        other = None  # staff read reviews in the admin; the order page shows parties' views
    in_window = deadline is not None and now < deadline
    refusal = ""
    if role is not None and own is None:
        refusal = review_refusal(user, transaction, deadline=deadline, now=now)
    hidden_notice = ""
    if own is not None and own.published_at is None:
        other_party = transaction.seller if role == ReviewerType.BUYER else transaction.buyer
        closes = own.window_closes_at or deadline
        hidden_notice = (
            f"Your review is hidden until {public_name(other_party)} reviews or "
            f"{_date(closes) if closes else 'the review window closes'}."
        )
    good_standing = authenticated and user.account_status == AccountStatus.ACTIVE
    can_respond = bool(
        other is not None
        and good_standing
        and other.reviewee_id == user.pk
        and other.published_at is not None
        and not other.response
    )
    return ReviewCapabilities(
        role=role,
        can_review=role is not None and own is None and not refusal,
        deadline=deadline,
        days_left=days_left(deadline, now) if in_window else 0,
        refusal=refusal,
        own_review=own,
        own_review_editable=bool(
            own is not None and own.published_at is None and in_window and good_standing
        ),
        other_review=other,
        hidden_notice=hidden_notice,
        can_respond=can_respond,
        can_flag=bool(other is not None and authenticated and other.published_at is not None),
    )


# Refusals, shared by review_capabilities and the services (one wording each).
NOT_REVIEWABLE_MESSAGE = "You can review this purchase once it is completed or you have confirmed receipt."
REFUNDED_MESSAGE = "This purchase was refunded in full or cancelled, so it cannot be reviewed."
WINDOW_CLOSED_MESSAGE = "The review window for this purchase closed on {date}."
SUSPENDED_MESSAGE = "Your account is suspended: you cannot write reviews or responses until it is reinstated."
BANNED_MESSAGE = "This account has been banned."


def review_refusal(user, transaction: Transaction, *, deadline=None, now=None) -> str:
    """Why the party ``user`` may not review ``transaction`` now (account, status, window), or ""."""
    if user.account_status == AccountStatus.BANNED:
        return BANNED_MESSAGE
    if user.account_status == AccountStatus.SUSPENDED:
        return SUSPENDED_MESSAGE
    if transaction.status in (TransactionStatus.REFUNDED, TransactionStatus.CANCELLED):
        return REFUNDED_MESSAGE
    deadline = deadline if deadline is not None else review_deadline(transaction)
    if deadline is None:
        return NOT_REVIEWABLE_MESSAGE
    if (now or timezone.now()) >= deadline:
        return WINDOW_CLOSED_MESSAGE.format(date=_date(deadline))
    return ""


def reviews_to_write(user, *, now: datetime | None = None) -> list[Transaction]:
    """``user``'s purchases and sales they may still review, the soonest window end first, each
    with ``review_deadline``, ``review_days_left`` and ``review_role`` set and listing, buyer
    and seller joined: one query. Empty for an account not in good standing."""
    if user is None or not user.is_authenticated or user.account_status != AccountStatus.ACTIVE:
        return []
    now = now or timezone.now()
    window = timedelta(days=review_window_days())
    confirmed = Cast(KeyTextTransform("receipt_confirmed_at", "metadata"), DateTimeField())
    rows = list(
        Transaction.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk), status__in=REVIEWABLE_STATUSES)
        .annotate(reviewable_at=Least(confirmed, "completed_at"))
        .filter(reviewable_at__isnull=False, reviewable_at__gt=now - window)
        .exclude(Exists(Review.objects.filter(transaction_id=OuterRef("pk"), reviewer_id=user.pk)))
        .select_related("listing", "buyer", "seller")
        .defer("listing__search_vector", "listing__description", "listing__attributes")
        .order_by("reviewable_at", "id")
    )
    for row in rows:
        row.review_deadline = row.reviewable_at + window
        row.review_days_left = days_left(row.review_deadline, now)
        row.review_role = party_role(user, row)
    return rows


def flagged_review_ids(member, review_ids) -> set:
    """Which of ``review_ids`` ``member`` has reported already: one query (none when anonymous)."""
    if member is None or not getattr(member, "is_authenticated", False):
        return set()
    return set(
        ReviewFlag.objects.filter(member_id=member.pk, review_id__in=list(review_ids)).values_list(
            "review_id", flat=True
        )
    )


def transaction_reviews(transaction_ids) -> dict:
    """Transaction id -> its reviews (reviewer joined): one query, for lists of orders."""
    found: dict = {}
    for review in Review.objects.filter(transaction_id__in=list(transaction_ids)).select_related("reviewer"):
        found.setdefault(review.transaction_id, []).append(review)
    return found


def seller_latest_reviews(seller_id, limit: int = SELLER_REVIEWS_ON_LISTING) -> list[Review]:
    """The seller's latest visible reviews written by buyers, newest first, reviewer joined:
    one query (review_reviewee_created index)."""
    return list(
        visible_reviews()
        .filter(reviewee_id=seller_id, reviewer_type=ReviewerType.BUYER)
        .select_related("reviewer")
        .order_by("-created_at", "-id")[:limit]
    )


def user_latest_reviews(*, user_id, limit: int) -> list[Review]:
    """The latest visible reviews the user received (as seller or buyer), newest first, with
    ``reviewer_name`` (never the email address) and ``reviewer_visible`` set: one query (the
    public profile). Banned reviewers' reviews are not visible at all."""
    reviews = list(
        visible_reviews()
        .filter(reviewee_id=user_id)
        .select_related("reviewer")
        .order_by("-created_at", "-id")[:limit]
    )
    for review in reviews:
        review.reviewer_name = public_name(review.reviewer)
        review.reviewer_visible = review.reviewer.account_status != AccountStatus.BANNED
    return reviews
