"""Writes of reviews: submit, edit (before publication), respond, flag, moderate, and the
publication of reviews whose window closed.

Rules (the database holds the ones it can: one review per party per transaction, ratings 1 to 5,
no self review, text ceilings, a response only under a published review):

- Each party of a purchase may review the other once, from the moment the purchase completed
  (escrow released) or the buyer confirmed receipt, for ``REVIEW_WINDOW_DAYS``; never a purchase
  refunded in full or cancelled. ``reviewer_type``, ``reviewee``, ``listing`` and
  ``is_verified`` come from the transaction.
- Published blind: a review is hidden from everyone but its author until both parties have
  reviewed (the second submission publishes both) or the window closed
  (:func:`reviews_publish_due`). The author may edit it before publication, never after.
- The reviewee may respond once to a published review; any member but its author may flag it
  once; staff remove, restore, feature or unfeature it with a reason.
- Suspended and banned users write no reviews, responses or flags.

Locks, in this order everywhere (so no two review writes, nor a review write and a payments
write or an account ban, can deadlock): the transaction's listing and transaction rows
(``payments.services.transaction_lock``: a second submission for the same purchase waits for
the first and then sees it), then the two parties' user rows in id order (``FOR NO KEY
UPDATE``: the rating trigger updates them, and a ban of either waits for us), then the review
rows. Side effects (hooks, cached listing pages) run after commit.
"""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from accounts.models import AccountStatus, User
from listings.services import seller_changed
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.ratelimit import RateLimit
from payments.models import Transaction
from payments.services import transaction_lock
from reviews import hooks
from reviews.models import (
    COMMENT_MAX_LENGTH,
    FLAG_TEXT_MAX_LENGTH,
    RESPONSE_MAX_LENGTH,
    FlagReason,
    ModerationAction,
    Review,
    ReviewFlag,
    ReviewModeration,
    ReviewStatus,
)
from reviews.selectors import (
    BANNED_MESSAGE,
    NOT_FOUND_MESSAGE,
    NOT_REVIEWABLE_MESSAGE,
    REFUNDED_MESSAGE,
    SUSPENDED_MESSAGE,
    WINDOW_CLOSED_MESSAGE,
    _date,
    party_role,
    review_deadline,
)

FLAG_REASONS = FlagReason.choices
MODERATION_ACTIONS = tuple(ModerationAction.values)
MODERATE_PERMISSION = "reviews.change_review"
TITLE_MAX_LENGTH = 100  # the column's

NO_SUCH_PURCHASE = "No such purchase."
RATING_MESSAGE = "Choose {what} from 1 to 5 stars."
DETAILED_RATINGS = {
    "rating_communication": "a communication rating",
    "rating_quality": "an item-as-described rating",
    "rating_delivery": "a delivery rating",
}


# --- Input ------------------------------------------------------------------------------------
def _stars(value, what: str, *, required: bool) -> int | None:
    """A rating from a form or a caller: 1..5 as int or digit string; None/"" when optional."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ServiceError(RATING_MESSAGE.format(what=what), code=ErrorCode.INVALID)
        return None
    if isinstance(value, bool):
        raise ServiceError(RATING_MESSAGE.format(what=what), code=ErrorCode.INVALID)
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ServiceError(RATING_MESSAGE.format(what=what), code=ErrorCode.INVALID)
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise ServiceError(RATING_MESSAGE.format(what=what), code=ErrorCode.INVALID)
    return value


def _text(value, *, label: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError(f"The {label} must be text.", code=ErrorCode.INVALID)
    value = value.strip()
    if required and not value:
        raise ServiceError(f"Write a {label}.", code=ErrorCode.INCOMPLETE)
    if "\x00" in value:
        raise ServiceError(f"The {label} contains a character that is not allowed.", code=ErrorCode.INVALID)
    if len(value) > limit:
        raise ServiceError(
            f"Keep the {label} to {limit} characters (it has {len(value)}).", code=ErrorCode.INVALID
        )
    return value


def review_values(
    *, rating, title="", comment="", rating_communication=None, rating_quality=None, rating_delivery=None
) -> dict:
    """The review's fields, validated (``ServiceError`` ``INVALID`` on the first bad one)."""
    return {
        "rating": _stars(rating, "a rating", required=True),
        "rating_communication": _stars(
            rating_communication, DETAILED_RATINGS["rating_communication"], required=False
        ),
        "rating_quality": _stars(rating_quality, DETAILED_RATINGS["rating_quality"], required=False),
        "rating_delivery": _stars(rating_delivery, DETAILED_RATINGS["rating_delivery"], required=False),
        "title": _text(title, label="title", limit=min(settings.REVIEW_TITLE_MAX_LENGTH, TITLE_MAX_LENGTH)),
        "comment": _text(
            comment, label="comment", limit=min(settings.REVIEW_COMMENT_MAX_LENGTH, COMMENT_MAX_LENGTH)
        ),
    }


def _ensure_may_write(status: str) -> None:
    if status == AccountStatus.BANNED:
        raise ServiceError(BANNED_MESSAGE, code=ErrorCode.ACCOUNT_BANNED)
    if status == AccountStatus.SUSPENDED:
        raise ServiceError(SUSPENDED_MESSAGE, code=ErrorCode.ACCOUNT_SUSPENDED)


def _authenticated(user) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise ServiceError("Log in first.", code=ErrorCode.LOGIN_REQUIRED)


def _lock_users(*user_ids) -> dict:
    """Lock the user rows (``FOR NO KEY UPDATE``) in id order; id -> account status."""
    ids = sorted({uid for uid in user_ids if uid is not None}, key=str)
    rows = (
        User.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "account_status")
    )
    return dict(rows)


def _publish(reviews: list[Review], *, at: datetime) -> int:
    """Publish the unpublished ones of ``reviews`` (the caller holds the locks); hooks after commit."""
    pending = [review for review in reviews if review.published_at is None]
    if not pending:
        return 0
    Review.objects.filter(pk__in=[r.pk for r in pending], published_at__isnull=True).update(published_at=at)
    for review in pending:
        review.published_at = at
        after_commit(hooks.review_received, review)
        seller_changed(review.reviewee_id)
    return len(pending)


# --- Submit and edit --------------------------------------------------------------------------
def review_submit(
    *,
    transaction: Transaction,
    author,
    rating,
    title="",
    comment="",
    rating_communication=None,
    rating_quality=None,
    rating_delivery=None,
) -> Review:
    """``author``'s review of the other party of ``transaction``; returns it (unpublished, unless
    the other party had reviewed already: then both are published, once).

    Refusals (``ServiceError``, nothing written): not logged in; not a party (``NOT_FOUND``, as
    for an unknown purchase); bad rating or over-long text (``INVALID``); suspended or banned;
    not completed nor receipt confirmed, or refunded in full (``NOT_REVIEWABLE``); window closed
    (``EXPIRED``); reviewed already (``ALREADY_REVIEWED``). Holds ``transaction_lock``, then the
    parties' user rows: two submissions at the same instant run one after the other, and the
    second publishes both.
    """
    _authenticated(author)
    values = review_values(
        rating=rating,
        title=title,
        comment=comment,
        rating_communication=rating_communication,
        rating_quality=rating_quality,
        rating_delivery=rating_delivery,
    )
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        role = party_role(author, locked)
        if role is None:
            raise ServiceError(NO_SUCH_PURCHASE, code=ErrorCode.NOT_FOUND)
        if locked.buyer_id == locked.seller_id:
            raise ServiceError("Nobody can review themselves.", code=ErrorCode.OWN_ACCOUNT)
        statuses = _lock_users(locked.buyer_id, locked.seller_id)
        _ensure_may_write(statuses.get(author.pk))
        if locked.status in (Transaction.Status.REFUNDED, Transaction.Status.CANCELLED):
            raise ServiceError(REFUNDED_MESSAGE, code=ErrorCode.NOT_REVIEWABLE)
        deadline = review_deadline(locked)
        if deadline is None:
            raise ServiceError(NOT_REVIEWABLE_MESSAGE, code=ErrorCode.NOT_REVIEWABLE)
        now = timezone.now()
        if now >= deadline:
            raise ServiceError(WINDOW_CLOSED_MESSAGE.format(date=_date(deadline)), code=ErrorCode.EXPIRED)
        existing = list(Review.objects.select_for_update().filter(transaction_id=locked.pk).order_by("pk"))
        if any(review.reviewer_id == author.pk for review in existing):
            raise ServiceError("You have already reviewed this purchase.", code=ErrorCode.ALREADY_REVIEWED)
        reviewee_id = locked.seller_id if author.pk == locked.buyer_id else locked.buyer_id
        try:
            with db_transaction.atomic():
                review = Review.objects.create(
                    transaction=locked,
                    listing_id=locked.listing_id,
                    reviewer_id=author.pk,
                    reviewee_id=reviewee_id,
                    reviewer_type=role,
                    is_verified=True,
                    window_closes_at=deadline,
                    **values,
                )
        except IntegrityError as error:  # the database's rules, should a check above miss one
            raise ServiceError(
                "You have already reviewed this purchase.", code=ErrorCode.ALREADY_REVIEWED
            ) from error
        if existing:
            _publish([*existing, review], at=now)
    return review


def review_edit(
    *,
    review: Review,
    author,
    rating,
    title="",
    comment="",
    rating_communication=None,
    rating_quality=None,
    rating_delivery=None,
) -> Review:
    """Change ``author``'s own review before it is published (and inside the window).

    ``NOT_FOUND`` for anyone but its author; ``NOT_EDITABLE`` once published or once the window
    closed; ``INVALID`` for bad input; suspended or banned refused. Same locks as
    :func:`review_submit`, so an edit and the other party's submission cannot cross.
    """
    _authenticated(author)
    values = review_values(
        rating=rating,
        title=title,
        comment=comment,
        rating_communication=rating_communication,
        rating_quality=rating_quality,
        rating_delivery=rating_delivery,
    )
    with db_transaction.atomic():
        txn = Transaction.objects.filter(pk=review.transaction_id).first()
        if txn is None:
            raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
        transaction_lock(txn)
        statuses = _lock_users(txn.buyer_id, txn.seller_id)
        locked = Review.objects.select_for_update().filter(pk=review.pk, reviewer_id=author.pk).first()
        if locked is None:
            raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
        _ensure_may_write(statuses.get(author.pk))
        if locked.published_at is not None:
            raise ServiceError(
                "Your review is published: it can no longer be changed.", code=ErrorCode.NOT_EDITABLE
            )
        if locked.window_closes_at is not None and timezone.now() >= locked.window_closes_at:
            raise ServiceError(
                "The review window has closed: your review can no longer be changed.",
                code=ErrorCode.NOT_EDITABLE,
            )
        for field, value in values.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(values))
    return locked


# --- Respond and flag -------------------------------------------------------------------------
def review_respond(*, review: Review, author, response) -> Review:
    """The reviewee's one response to a published review.

    ``NOT_FOUND`` unless ``author`` is the reviewee and the review is visible (published, active,
    reviewer not banned); ``ALREADY_RESPONDED`` the second time; empty or over-long text refused;
    suspended or banned refused. Locks the reviewee's row, then the review's.
    """
    _authenticated(author)
    text = _text(
        response,
        label="response",
        limit=min(settings.REVIEW_RESPONSE_MAX_LENGTH, RESPONSE_MAX_LENGTH),
        required=True,
    )
    with db_transaction.atomic():
        statuses = _lock_users(author.pk)
        locked = (
            Review.objects.select_for_update(of=("self",))
            .select_related("reviewer")
            .filter(
                pk=review.pk, reviewee_id=author.pk, published_at__isnull=False, status=ReviewStatus.ACTIVE
            )
            .first()
        )
        if locked is None or locked.reviewer.account_status == AccountStatus.BANNED:
            raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
        _ensure_may_write(statuses.get(author.pk))
        if locked.response:
            raise ServiceError("You have already responded to this review.", code=ErrorCode.ALREADY_RESPONDED)
        locked.response = text
        locked.responded_at = timezone.now()
        locked.save(update_fields=["response", "responded_at"])
        after_commit(hooks.review_responded, locked)
        seller_changed(locked.reviewee_id)
    return locked


def _flags_limit() -> RateLimit:
    return RateLimit("review-flags", settings.REVIEW_FLAGS_PER_HOUR, 60 * 60)


def review_flag(*, review: Review, member, reason, text="") -> ReviewFlag:
    """``member`` reports a published review to staff (a reason from ``FLAG_REASONS`` and an
    optional text); the review stays visible and counting until staff act.

    Refusals: not logged in; banned or suspended; the review not visible to others
    (``NOT_FOUND``); its author (``OWN_REVIEW``); flagged by them already (``ALREADY_FLAGGED``,
    also under a race: the (review, member) unique constraint); unknown reason or over-long text
    (``INVALID``); more than ``REVIEW_FLAGS_PER_HOUR`` (``RATE_LIMITED``).
    """
    _authenticated(member)
    if reason not in FlagReason.values:
        raise ServiceError("Choose a reason from the list.", code=ErrorCode.INVALID)
    text = _text(text, label="text", limit=min(settings.REVIEW_FLAG_TEXT_MAX_LENGTH, FLAG_TEXT_MAX_LENGTH))
    _ensure_may_write(member.account_status)
    found = (
        Review.objects.select_related("reviewer")
        .filter(pk=review.pk, published_at__isnull=False, status=ReviewStatus.ACTIVE)
        .first()
    )
    if found is None or found.reviewer.account_status == AccountStatus.BANNED:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    if found.reviewer_id == member.pk:
        raise ServiceError("You cannot flag your own review.", code=ErrorCode.OWN_REVIEW)
    already = "You have already flagged this review; staff will look at it."
    if ReviewFlag.objects.filter(review_id=found.pk, member_id=member.pk).exists():
        raise ServiceError(already, code=ErrorCode.ALREADY_FLAGGED)
    limit = _flags_limit()
    if limit.hit(str(member.pk)) > limit.limit:
        raise ServiceError(
            f"You can flag up to {limit.limit} reviews an hour. Try again later.", code=ErrorCode.RATE_LIMITED
        )
    try:
        with db_transaction.atomic():
            flag = ReviewFlag.objects.create(
                review_id=found.pk, member_id=member.pk, reason=reason, text=text
            )
    except IntegrityError as error:
        raise ServiceError(already, code=ErrorCode.ALREADY_FLAGGED) from error
    return flag


# --- Staff ------------------------------------------------------------------------------------
def may_moderate(actor) -> bool:
    return bool(
        actor is not None
        and getattr(actor, "is_authenticated", False)
        and actor.is_staff
        and actor.has_perm(MODERATE_PERMISSION)
    )


def review_moderate(*, review: Review, actor, action: str, reason: str) -> Review:
    """Staff ``action`` on ``review``, recorded with ``actor`` and ``reason`` (required).

    "remove": hidden and no longer counted (unfeatured too); "restore": active again (a removed
    or flagged review), or kept as it is with its open flags dismissed; "feature" (a visible
    review) / "unfeature". Remove and restore resolve the review's open flags. Locks the two
    user rows the rating trigger may update, then the review row.
    """
    if not may_moderate(actor):
        raise ServiceError(
            "Only staff with the review permission can moderate reviews.", code=ErrorCode.FORBIDDEN
        )
    if action not in MODERATION_ACTIONS:
        raise ServiceError(
            f"Unknown action: choose one of {', '.join(MODERATION_ACTIONS)}.", code=ErrorCode.INVALID
        )
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ServiceError(
            "Give a reason: it is recorded with the decision and shown to other staff.",
            code=ErrorCode.INCOMPLETE,
        )
    if len(reason) > 1000:
        raise ServiceError("Keep the reason under 1000 characters.", code=ErrorCode.INVALID)
    with db_transaction.atomic():
        _lock_users(review.reviewer_id, review.reviewee_id)
        locked = Review.objects.select_for_update().filter(pk=review.pk).first()
        if locked is None:
            raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
        open_flags = ReviewFlag.objects.filter(review_id=locked.pk, resolved_at__isnull=True)
        now = timezone.now()
        fields: list[str] = []
        before = {"status": locked.status, "is_featured": locked.is_featured}
        if action == ModerationAction.REMOVE:
            if locked.status == ReviewStatus.REMOVED:
                raise ServiceError("This review is already removed.", code=ErrorCode.UNCHANGED)
            locked.status, locked.is_featured = ReviewStatus.REMOVED, False
            fields = ["status", "is_featured"]
        elif action == ModerationAction.RESTORE:
            if locked.status == ReviewStatus.ACTIVE and not open_flags.exists():
                raise ServiceError("This review is active and has no open flags.", code=ErrorCode.UNCHANGED)
            locked.status = ReviewStatus.ACTIVE
            fields = ["status"]
        elif action == ModerationAction.FEATURE:
            if locked.published_at is None or locked.status != ReviewStatus.ACTIVE:
                raise ServiceError(
                    "Only a published, active review can be featured.", code=ErrorCode.INVALID_TRANSITION
                )
            if locked.is_featured:
                raise ServiceError("This review is already featured.", code=ErrorCode.UNCHANGED)
            locked.is_featured = True
            fields = ["is_featured"]
        else:
            if not locked.is_featured:
                raise ServiceError("This review is not featured.", code=ErrorCode.UNCHANGED)
            locked.is_featured = False
            fields = ["is_featured"]
        locked.save(update_fields=fields)
        if action in (ModerationAction.REMOVE, ModerationAction.RESTORE):
            open_flags.update(resolved_at=now)
        ReviewModeration.objects.create(review=locked, actor=actor, action=action, reason=reason)
        audit_record(
            actor=actor,
            action=f"reviews.{action}",
            target=locked,
            reason=reason,
            changes={field: (before[field], getattr(locked, field)) for field in fields},
        )
        seller_changed(locked.reviewee_id)
    return locked


# --- Publication of reviews whose window closed -------------------------------------------------
PUBLISH_BATCH = 200


def reviews_due(*, now: datetime | None = None):
    """Unpublished reviews whose window has closed (``review_publish_due`` index)."""
    return Review.objects.filter(published_at__isnull=True, window_closes_at__lte=now or timezone.now())


def reviews_publish_due(*, now: datetime | None = None) -> int:
    """Publish every review whose window closed by ``now``; how many were published.

    Idempotent: a review is published once (``published_at IS NULL`` under its row lock). Per
    purchase, takes the same locks as :func:`review_submit` (``transaction_lock`` with SKIP
    LOCKED, so a purchase busy with a submission is left to the next run, then the parties'
    rows), so two runs at once publish each review once.
    """
    now = now or timezone.now()
    published = 0
    skipped: set = set()
    while True:
        txn_ids = list(
            dict.fromkeys(
                reviews_due(now=now)
                .exclude(transaction_id__in=skipped)
                .order_by("window_closes_at", "transaction_id")
                .values_list("transaction_id", flat=True)[:PUBLISH_BATCH]
            )
        )
        if not txn_ids:
            return published
        for txn in Transaction.objects.filter(pk__in=txn_ids):
            with db_transaction.atomic():
                if transaction_lock(txn, skip_locked=True) is None:
                    skipped.add(txn.pk)
                    continue
                _lock_users(txn.buyer_id, txn.seller_id)
                due = list(
                    reviews_due(now=now).filter(transaction_id=txn.pk).select_for_update().order_by("pk")
                )
                published += _publish(due, at=now)
