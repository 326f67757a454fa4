"""The reviews services: every rule and every bad input (a clear message, nothing written), the
blind window, edits, responses, flags, moderation and the hooks."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import AccountStatus
from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction
from reviews import services
from reviews.models import Review, ReviewFlag, ReviewModeration
from reviews.selectors import is_review_visible_to, visible_reviews
from tests.factories import UserFactory
from tests.reviews.conftest import completed_purchase, paid_purchase, receipt_confirmed_purchase, written

pytestmark = pytest.mark.django_db


def refused(code: ErrorCode, call, *, match: str | None = None) -> ServiceError:
    """``call()`` raises ServiceError with ``code`` (and ``match`` in its message) and writes nothing."""
    before = written()
    with pytest.raises(ServiceError) as excinfo:
        call()
    assert excinfo.value.code == code, excinfo.value.message
    if match:
        assert match in excinfo.value.message
    assert excinfo.value.message.strip()
    assert written() == before
    return excinfo.value


def submit(txn, author, **fields):
    return services.review_submit(transaction=txn, author=author, **{"rating": 5, **fields})


# --- Who may review, and when ---------------------------------------------------------------------
def test_the_buyer_reviews_the_seller_from_the_transaction():
    txn = completed_purchase()
    review = submit(
        txn, txn.buyer, rating=4, title=" Great ", comment="Fast and friendly.", rating_delivery=5
    )

    review.refresh_from_db()
    assert (review.reviewer_id, review.reviewee_id, review.reviewer_type) == (
        txn.buyer_id,
        txn.seller_id,
        "buyer",
    )
    assert (review.listing_id, review.is_verified) == (txn.listing_id, True)
    assert (review.rating, review.title, review.rating_delivery, review.rating_quality) == (
        4,
        "Great",
        5,
        None,
    )
    assert review.published_at is None  # blind: the seller has not reviewed
    assert review.window_closes_at == txn.completed_at + timedelta(days=14)


def test_the_seller_reviews_the_buyer():
    txn = completed_purchase()
    review = submit(txn, txn.seller, rating=3)
    assert (review.reviewee_id, review.reviewer_type) == (txn.buyer_id, "seller")


def test_receipt_confirmation_opens_the_window_before_release():
    txn = receipt_confirmed_purchase(days_ago=2)
    review = submit(txn, txn.buyer)
    confirmed = txn.metadata["receipt_confirmed_at"]
    assert (
        review.window_closes_at.isoformat()
        == (timezone.datetime.fromisoformat(confirmed) + timedelta(days=14)).isoformat()
    )


def test_the_window_follows_the_setting(settings):
    settings.REVIEW_WINDOW_DAYS = 3
    txn = completed_purchase(days_ago=4)
    refused(ErrorCode.EXPIRED, lambda: submit(txn, txn.buyer), match="closed")


def test_a_stranger_cannot_review():
    txn = completed_purchase()
    stranger = UserFactory()
    refused(ErrorCode.NOT_FOUND, lambda: submit(txn, stranger), match="No such purchase")


def test_staff_are_not_a_party():
    txn = completed_purchase()
    staff = UserFactory(is_staff=True, is_superuser=True)
    refused(ErrorCode.NOT_FOUND, lambda: submit(txn, staff))


def test_anonymous_cannot_review():
    from django.contrib.auth.models import AnonymousUser

    txn = completed_purchase()
    refused(ErrorCode.LOGIN_REQUIRED, lambda: submit(txn, AnonymousUser()))


def test_a_second_review_by_the_same_party_is_refused():
    txn = completed_purchase()
    submit(txn, txn.buyer)
    refused(ErrorCode.ALREADY_REVIEWED, lambda: submit(txn, txn.buyer, rating=1), match="already reviewed")


@pytest.mark.parametrize(
    "make",
    [
        paid_purchase,
        lambda: completed_purchase(status=Transaction.Status.PENDING, completed_at=None),
    ],
    ids=["paid, receipt not confirmed", "unpaid"],
)
def test_before_completion_is_refused(make):
    txn = make()
    refused(ErrorCode.NOT_REVIEWABLE, lambda: submit(txn, txn.buyer), match="completed")


@pytest.mark.parametrize("status", [Transaction.Status.REFUNDED, Transaction.Status.CANCELLED])
def test_a_purchase_refunded_in_full_or_cancelled_is_refused(status):
    txn = completed_purchase(status=status)
    refused(ErrorCode.NOT_REVIEWABLE, lambda: submit(txn, txn.buyer), match="refunded in full")
    refused(ErrorCode.NOT_REVIEWABLE, lambda: submit(txn, txn.seller))


def test_a_disputed_purchase_stays_reviewable():
    txn = completed_purchase(status=Transaction.Status.DISPUTED)
    assert submit(txn, txn.buyer).pk


def test_after_the_window_is_refused():
    txn = completed_purchase(days_ago=14.01)
    refused(ErrorCode.EXPIRED, lambda: submit(txn, txn.buyer))


def test_just_inside_the_window_is_accepted():
    txn = completed_purchase(days_ago=13.9)
    assert submit(txn, txn.seller).pk


def test_a_self_review_is_refused_by_the_database():
    from django.db import IntegrityError, transaction

    txn = completed_purchase()
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            transaction=txn, reviewer=txn.buyer, reviewee=txn.buyer, reviewer_type="buyer", rating=5
        )


def test_self_review_cannot_be_asked_for():
    """The reviewee is never an argument: whoever submits reviews the other party."""
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    assert review.reviewee_id != review.reviewer_id


@pytest.mark.parametrize("rating", [0, 6, -1, "x", "", None, "4.5", 4.5, True, "0", "6", [5]])
def test_bad_overall_ratings_are_refused(rating):
    txn = completed_purchase()
    refused(ErrorCode.INVALID, lambda: submit(txn, txn.buyer, rating=rating), match="1 to 5")


@pytest.mark.parametrize("field", ["rating_communication", "rating_quality", "rating_delivery"])
@pytest.mark.parametrize("value", [0, 6, "x", 2.5])
def test_bad_detailed_ratings_are_refused(field, value):
    txn = completed_purchase()
    refused(ErrorCode.INVALID, lambda: submit(txn, txn.buyer, **{field: value}), match="1 to 5")


def test_ratings_as_form_strings_are_accepted():
    txn = completed_purchase()
    review = submit(txn, txn.buyer, rating="4", rating_quality=" 2 ", rating_communication="")
    assert (review.rating, review.rating_quality, review.rating_communication) == (4, 2, None)


@pytest.mark.parametrize(
    ("field", "setting"),
    [("title", "REVIEW_TITLE_MAX_LENGTH"), ("comment", "REVIEW_COMMENT_MAX_LENGTH")],
)
def test_over_long_text_is_refused(settings, field, setting):
    limit = getattr(settings, setting)
    txn = completed_purchase()
    refused(ErrorCode.INVALID, lambda: submit(txn, txn.buyer, **{field: "a" * (limit + 1)}), match=str(limit))
    assert submit(txn, txn.buyer, **{field: "a" * limit}).pk


def test_text_limits_are_settings(settings):
    settings.REVIEW_COMMENT_MAX_LENGTH = 10
    txn = completed_purchase()
    refused(ErrorCode.INVALID, lambda: submit(txn, txn.buyer, comment="x" * 11), match="10 characters")


def test_a_nul_character_is_refused():
    txn = completed_purchase()
    refused(ErrorCode.INVALID, lambda: submit(txn, txn.buyer, comment="a\x00b"))


@pytest.mark.parametrize("status", [AccountStatus.SUSPENDED, AccountStatus.BANNED])
def test_suspended_and_banned_members_cannot_review(status):
    txn = completed_purchase()
    txn.buyer.account_status = status
    txn.buyer.save(update_fields=["account_status"])
    code = ErrorCode.ACCOUNT_SUSPENDED if status == AccountStatus.SUSPENDED else ErrorCode.ACCOUNT_BANNED
    refused(code, lambda: submit(txn, txn.buyer))


def test_the_status_is_read_fresh_under_the_lock():
    """A suspension committed after the author's user object was loaded still refuses."""
    txn = completed_purchase()
    author = txn.buyer
    type(author).objects.filter(pk=author.pk).update(account_status=AccountStatus.SUSPENDED)
    refused(ErrorCode.ACCOUNT_SUSPENDED, lambda: submit(txn, author))


# --- Blind publication ------------------------------------------------------------------------------
def test_a_review_is_hidden_until_the_other_party_reviews_then_both_publish(
    hook_calls, django_capture_on_commit_callbacks
):
    txn = completed_purchase()
    with django_capture_on_commit_callbacks(execute=True):
        first = submit(txn, txn.buyer, rating=2)
    assert first.published_at is None
    assert is_review_visible_to(first, txn.buyer)
    first = Review.objects.select_related("reviewer").get(pk=first.pk)
    assert not is_review_visible_to(first, txn.seller)
    assert not is_review_visible_to(first, UserFactory())
    from django.contrib.auth.models import AnonymousUser

    assert not is_review_visible_to(first, AnonymousUser())
    assert not visible_reviews().exists()
    assert hook_calls.of("review_received") == []

    with django_capture_on_commit_callbacks(execute=True):
        second = submit(txn, txn.seller, rating=4)
    first.refresh_from_db()
    assert first.published_at is not None
    assert first.published_at == second.published_at
    assert set(visible_reviews().values_list("pk", flat=True)) == {first.pk, second.pk}
    received = hook_calls.of("review_received")
    assert sorted(review.pk for (review,) in received) == sorted([first.pk, second.pk])


def test_a_rollback_calls_no_hook(hook_calls, django_capture_on_commit_callbacks):
    from django.db import transaction

    txn = completed_purchase()
    submit(txn, txn.buyer)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        submit(txn, txn.seller)
        raise RuntimeError("rolled back")
    assert callbacks == []
    assert hook_calls.of("review_received") == []
    assert Review.objects.filter(published_at__isnull=False).count() == 0


def test_the_author_edits_before_publication_only():
    txn = completed_purchase()
    review = submit(txn, txn.buyer, rating=2, title="Meh")
    edited = services.review_edit(review=review, author=txn.buyer, rating=4, title="Better", rating_quality=5)
    assert (edited.rating, edited.title, edited.rating_quality) == (4, "Better", 5)

    submit(txn, txn.seller)
    refused(
        ErrorCode.NOT_EDITABLE,
        lambda: services.review_edit(review=review, author=txn.buyer, rating=1),
        match="published",
    )


def test_nobody_else_edits_a_review():
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    for other in (txn.seller, UserFactory()):
        refused(
            ErrorCode.NOT_FOUND,
            lambda other=other: services.review_edit(review=review, author=other, rating=1),
        )


def test_an_edit_with_bad_input_changes_nothing():
    txn = completed_purchase()
    review = submit(txn, txn.buyer, rating=3)
    refused(ErrorCode.INVALID, lambda: services.review_edit(review=review, author=txn.buyer, rating=7))


def test_no_edit_once_the_window_closed():
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    Review.objects.filter(pk=review.pk).update(window_closes_at=timezone.now() - timedelta(seconds=1))
    refused(ErrorCode.NOT_EDITABLE, lambda: services.review_edit(review=review, author=txn.buyer, rating=1))


def test_publish_due_publishes_reviews_whose_window_closed(hook_calls, django_capture_on_commit_callbacks):
    txn = completed_purchase()
    alone = submit(txn, txn.buyer)
    other_txn = completed_purchase()
    waiting = submit(other_txn, other_txn.buyer)

    assert services.reviews_publish_due() == 0
    later = alone.window_closes_at + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reviews_publish_due(now=later) == 2
    assert services.reviews_publish_due(now=later) == 0  # idempotent
    alone.refresh_from_db()
    waiting.refresh_from_db()
    assert alone.published_at == later
    assert len(hook_calls.of("review_received")) == 2


# --- Responses ------------------------------------------------------------------------------------
def published_pair():
    txn = completed_purchase()
    by_buyer = submit(txn, txn.buyer, rating=2)
    by_seller = submit(txn, txn.seller, rating=5)
    by_buyer.refresh_from_db()
    return txn, by_buyer, by_seller


def test_the_reviewee_responds_once(hook_calls, django_capture_on_commit_callbacks):
    txn, by_buyer, _ = published_pair()
    with django_capture_on_commit_callbacks(execute=True):
        answered = services.review_respond(review=by_buyer, author=txn.seller, response=" Sorry about that. ")
    assert (answered.response, answered.responded_at is not None) == ("Sorry about that.", True)
    assert [review.pk for (review,) in hook_calls.of("review_responded")] == [by_buyer.pk]
    refused(
        ErrorCode.ALREADY_RESPONDED,
        lambda: services.review_respond(review=by_buyer, author=txn.seller, response="Again"),
    )


def test_only_the_reviewee_responds():
    txn, by_buyer, _ = published_pair()
    for other in (txn.buyer, UserFactory(), UserFactory(is_staff=True)):
        refused(
            ErrorCode.NOT_FOUND,
            lambda other=other: services.review_respond(review=by_buyer, author=other, response="Hi"),
        )


def test_no_response_before_publication():
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    refused(
        ErrorCode.NOT_FOUND, lambda: services.review_respond(review=review, author=txn.seller, response="Hi")
    )


@pytest.mark.parametrize("response", ["", "   ", None])
def test_an_empty_response_is_refused(response):
    txn, by_buyer, _ = published_pair()
    refused(
        ErrorCode.INCOMPLETE,
        lambda: services.review_respond(review=by_buyer, author=txn.seller, response=response),
    )


def test_an_over_long_response_is_refused(settings):
    txn, by_buyer, _ = published_pair()
    limit = settings.REVIEW_RESPONSE_MAX_LENGTH
    refused(
        ErrorCode.INVALID,
        lambda: services.review_respond(review=by_buyer, author=txn.seller, response="a" * (limit + 1)),
        match=str(limit),
    )


def test_a_suspended_reviewee_cannot_respond():
    txn, by_buyer, _ = published_pair()
    type(txn.seller).objects.filter(pk=txn.seller_id).update(account_status=AccountStatus.SUSPENDED)
    refused(
        ErrorCode.ACCOUNT_SUSPENDED,
        lambda: services.review_respond(review=by_buyer, author=txn.seller, response="Hi"),
    )


# --- Flags ----------------------------------------------------------------------------------------
def test_any_member_flags_once_and_the_review_stays_visible_and_counted():
    txn, by_buyer, _ = published_pair()
    member = UserFactory()
    flag = services.review_flag(review=by_buyer, member=member, reason="offensive", text="Rude.")
    assert (flag.reason, flag.text) == ("offensive", "Rude.")
    by_buyer.refresh_from_db()
    assert (by_buyer.flag_count, by_buyer.status) == (1, "active")
    assert visible_reviews().filter(pk=by_buyer.pk).exists()
    txn.seller.refresh_from_db()
    assert txn.seller.seller_rating_count == 1
    refused(
        ErrorCode.ALREADY_FLAGGED,
        lambda: services.review_flag(review=by_buyer, member=member, reason="spam"),
    )
    # The reviewee may flag it too.
    services.review_flag(review=by_buyer, member=txn.seller, reason="fake")


def test_the_author_cannot_flag_their_own_review():
    txn, by_buyer, _ = published_pair()
    refused(
        ErrorCode.OWN_REVIEW, lambda: services.review_flag(review=by_buyer, member=txn.buyer, reason="spam")
    )


@pytest.mark.parametrize("reason", ["", "bogus", None, "SPAM"])
def test_a_flag_needs_a_reason_from_the_list(reason):
    _, by_buyer, _ = published_pair()
    member = UserFactory()
    refused(ErrorCode.INVALID, lambda: services.review_flag(review=by_buyer, member=member, reason=reason))


def test_an_over_long_flag_text_is_refused(settings):
    _, by_buyer, _ = published_pair()
    limit = settings.REVIEW_FLAG_TEXT_MAX_LENGTH
    member = UserFactory()
    refused(
        ErrorCode.INVALID,
        lambda: services.review_flag(review=by_buyer, member=member, reason="spam", text="a" * (limit + 1)),
    )


def test_an_unpublished_review_cannot_be_flagged():
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    refused(
        ErrorCode.NOT_FOUND, lambda: services.review_flag(review=review, member=txn.seller, reason="spam")
    )


def test_flags_are_rate_limited(settings):
    settings.REVIEW_FLAGS_PER_HOUR = 2
    member = UserFactory()
    reviews = [published_pair()[1] for _ in range(3)]
    services.review_flag(review=reviews[0], member=member, reason="spam")
    services.review_flag(review=reviews[1], member=member, reason="spam")
    refused(
        ErrorCode.RATE_LIMITED,
        lambda: services.review_flag(review=reviews[2], member=member, reason="spam"),
        match="2 reviews an hour",
    )


# --- Moderation -----------------------------------------------------------------------------------
@pytest.fixture
def moderator():
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_review"))
    return type(staff).objects.get(pk=staff.pk)


def test_staff_remove_and_restore_with_a_reason(moderator):
    txn, by_buyer, _ = published_pair()
    services.review_flag(review=by_buyer, member=UserFactory(), reason="offensive")
    services.review_moderate(review=by_buyer, actor=moderator, action="remove", reason="Abusive language")
    by_buyer.refresh_from_db()
    txn.seller.refresh_from_db()
    assert by_buyer.status == "removed"
    assert txn.seller.seller_rating_count == 0
    assert not visible_reviews().filter(pk=by_buyer.pk).exists()
    assert ReviewFlag.objects.get(review=by_buyer).resolved_at is not None

    services.review_moderate(review=by_buyer, actor=moderator, action="restore", reason="Appeal upheld")
    txn.seller.refresh_from_db()
    assert txn.seller.seller_rating_count == 1
    assert list(
        ReviewModeration.objects.filter(review=by_buyer)
        .order_by("created_at")
        .values_list("action", "reason", "actor")
    ) == [("remove", "Abusive language", moderator.pk), ("restore", "Appeal upheld", moderator.pk)]


def test_feature_and_unfeature(moderator):
    _, by_buyer, _ = published_pair()
    services.review_moderate(review=by_buyer, actor=moderator, action="feature", reason="Helpful")
    by_buyer.refresh_from_db()
    assert by_buyer.is_featured
    refused(
        ErrorCode.UNCHANGED,
        lambda: services.review_moderate(review=by_buyer, actor=moderator, action="feature", reason="Again"),
    )
    services.review_moderate(review=by_buyer, actor=moderator, action="unfeature", reason="Old")
    by_buyer.refresh_from_db()
    assert not by_buyer.is_featured


def test_an_unpublished_review_cannot_be_featured(moderator):
    txn = completed_purchase()
    review = submit(txn, txn.buyer)
    refused(
        ErrorCode.INVALID_TRANSITION,
        lambda: services.review_moderate(review=review, actor=moderator, action="feature", reason="x"),
    )


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_moderation_needs_a_reason(moderator, reason):
    _, by_buyer, _ = published_pair()
    refused(
        ErrorCode.INCOMPLETE,
        lambda: services.review_moderate(review=by_buyer, actor=moderator, action="remove", reason=reason),
    )


def test_only_staff_with_the_permission_moderate():
    _, by_buyer, _ = published_pair()
    for actor in (UserFactory(), UserFactory(is_staff=True)):
        refused(
            ErrorCode.FORBIDDEN,
            lambda actor=actor: services.review_moderate(
                review=by_buyer, actor=actor, action="remove", reason="x"
            ),
        )


def test_an_unknown_action_is_refused(moderator):
    _, by_buyer, _ = published_pair()
    refused(
        ErrorCode.INVALID,
        lambda: services.review_moderate(review=by_buyer, actor=moderator, action="delete", reason="x"),
    )


def test_a_removed_review_cannot_be_answered_or_flagged(moderator):
    txn, by_buyer, _ = published_pair()
    services.review_moderate(review=by_buyer, actor=moderator, action="remove", reason="Spam")
    refused(
        ErrorCode.NOT_FOUND,
        lambda: services.review_respond(review=by_buyer, author=txn.seller, response="Hi"),
    )
    member = UserFactory()
    refused(ErrorCode.NOT_FOUND, lambda: services.review_flag(review=by_buyer, member=member, reason="spam"))


# --- Cached listing pages -------------------------------------------------------------------------
def test_publication_response_and_moderation_retire_the_sellers_cached_pages(
    moderator, monkeypatch, django_capture_on_commit_callbacks
):
    bumped = []
    monkeypatch.setattr(services, "seller_changed", bumped.append)
    txn = completed_purchase()
    submit(txn, txn.buyer)
    assert bumped == []  # hidden: nothing on any page changed
    submit(txn, txn.seller)
    assert sorted(map(str, bumped)) == sorted([str(txn.seller_id), str(txn.buyer_id)])
    review = Review.objects.get(transaction=txn, reviewer=txn.buyer)
    bumped.clear()
    services.review_respond(review=review, author=txn.seller, response="Thanks")
    services.review_moderate(review=review, actor=moderator, action="remove", reason="x")
    services.review_moderate(review=review, actor=moderator, action="restore", reason="y")
    assert bumped == [txn.seller_id] * 3
