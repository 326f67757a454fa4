"""The reads: access_review (404 as for an unknown id), review_capabilities (the order page),
reviews_to_write, and the blind window on the listing page's and profile's selectors."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils import timezone

from accounts.models import AccountStatus, User
from payments.selectors import access_transaction
from reviews import services
from reviews.selectors import (
    access_review,
    review_capabilities,
    reviews_to_write,
    seller_latest_reviews,
    user_latest_reviews,
)
from tests.factories import UserFactory
from tests.reviews.conftest import completed_purchase, paid_purchase, receipt_confirmed_purchase

pytestmark = pytest.mark.django_db


def capabilities(user, txn):
    return review_capabilities(user, access_transaction(user, txn.pk, as_="party"))


def test_capabilities_before_and_after_submitting_and_after_publication():
    txn = completed_purchase(days_ago=3)
    caps = capabilities(txn.buyer, txn)
    assert (caps.role, caps.can_review, caps.days_left, caps.own_review) == ("buyer", True, 11, None)
    assert caps.deadline == txn.completed_at + timedelta(days=14)

    mine = services.review_submit(transaction=txn, author=txn.buyer, rating=4)
    caps = capabilities(txn.buyer, txn)
    assert (caps.can_review, caps.own_review.pk, caps.own_review_editable) == (False, mine.pk, True)
    seller_name = txn.seller.display_name
    assert caps.hidden_notice.startswith(f"Your review is hidden until {seller_name} reviews or ")
    assert caps.other_review is None

    seller_caps = capabilities(txn.seller, txn)
    assert seller_caps.can_review and seller_caps.other_review is None  # blind: nothing of the buyer's

    services.review_submit(transaction=txn, author=txn.seller, rating=5)
    caps = capabilities(txn.buyer, txn)
    assert caps.hidden_notice == "" and not caps.own_review_editable
    assert caps.other_review is not None and caps.other_review.reviewer_id == txn.seller_id
    assert caps.can_respond and caps.can_flag
    seller_caps = capabilities(txn.seller, txn)
    assert seller_caps.other_review.pk == mine.pk and seller_caps.can_respond


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (paid_purchase, "once it is completed"),
        (lambda: completed_purchase(status="refunded"), "refunded in full"),
        (lambda: completed_purchase(days_ago=15), "closed on"),
    ],
)
def test_capabilities_say_why_a_party_may_not_review(make, fragment):
    txn = make()
    caps = capabilities(txn.buyer, txn)
    assert not caps.can_review
    assert fragment in caps.refusal


def test_a_suspended_party_may_not_review():
    txn = completed_purchase()
    User.objects.filter(pk=txn.buyer_id).update(account_status=AccountStatus.SUSPENDED)
    caps = capabilities(User.objects.get(pk=txn.buyer_id), txn)
    assert not caps.can_review and "suspended" in caps.refusal


def test_receipt_confirmation_counts_the_days_from_it():
    txn = receipt_confirmed_purchase(days_ago=10)
    assert capabilities(txn.seller, txn).days_left == 4


def test_access_review_answers_404_like_an_unknown_id():
    txn = completed_purchase()
    review = services.review_submit(transaction=txn, author=txn.buyer, rating=4)
    assert access_review(txn.buyer, review.pk, as_="author").pk == review.pk
    for user, as_ in [
        (txn.seller, "author"),
        (txn.seller, "reviewee"),  # hidden until published
        (UserFactory(), "member"),
        (AnonymousUser(), "member"),
    ]:
        with pytest.raises(Http404):
            access_review(user, review.pk, as_=as_)
    for bad in (uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(Http404):
            access_review(txn.buyer, bad, as_="author")

    services.review_submit(transaction=txn, author=txn.seller, rating=4)
    assert access_review(txn.seller, review.pk, as_="reviewee").pk == review.pk
    assert access_review(UserFactory(), review.pk, as_="member").pk == review.pk
    with pytest.raises(Http404):
        access_review(UserFactory(), review.pk, as_="reviewee")


def test_reviews_to_write_lists_pending_ones_with_days_left():
    member = UserFactory()
    bought = completed_purchase(buyer=member, days_ago=10)
    sold = receipt_confirmed_purchase(listing__seller=member, days_ago=1)
    completed_purchase(buyer=member, days_ago=15)  # window closed
    paid_purchase(buyer=member)  # not reviewable yet
    completed_purchase(buyer=member, status="refunded")
    done = completed_purchase(buyer=member)
    services.review_submit(transaction=done, author=member, rating=5)
    completed_purchase()  # someone else's

    rows = reviews_to_write(member)
    assert [row.pk for row in rows] == [bought.pk, sold.pk]
    assert [(row.review_role, row.review_days_left) for row in rows] == [("buyer", 4), ("seller", 13)]


def test_reviews_to_write_is_one_query(django_assert_num_queries):
    member = UserFactory()
    for _ in range(3):
        completed_purchase(buyer=member)
    member = User.objects.get(pk=member.pk)
    with django_assert_num_queries(1):
        rows = reviews_to_write(member)
        [(row.listing.title, row.seller.display_name) for row in rows]


def test_reviews_to_write_is_empty_for_a_suspended_member():
    member = UserFactory(account_status=AccountStatus.SUSPENDED)
    completed_purchase(buyer=member)
    assert reviews_to_write(member) == []


def test_listing_and_profile_selectors_show_nothing_before_publication():
    txn = completed_purchase()
    services.review_submit(transaction=txn, author=txn.buyer, rating=1)
    assert seller_latest_reviews(txn.seller_id) == []
    assert user_latest_reviews(user_id=txn.seller_id, limit=10) == []
    services.review_submit(transaction=txn, author=txn.seller, rating=5)
    assert [r.reviewer_id for r in seller_latest_reviews(txn.seller_id)] == [txn.buyer_id]
    assert [r.reviewer_id for r in user_latest_reviews(user_id=txn.buyer_id, limit=10)] == [txn.seller_id]


def test_a_banned_reviewers_reviews_are_hidden_while_banned():
    txn = completed_purchase()
    services.review_submit(transaction=txn, author=txn.buyer, rating=1)
    services.review_submit(transaction=txn, author=txn.seller, rating=5)
    User.objects.filter(pk=txn.buyer_id).update(account_status=AccountStatus.BANNED)
    assert seller_latest_reviews(txn.seller_id) == []
    assert capabilities(txn.seller, txn).other_review is None
    User.objects.filter(pk=txn.buyer_id).update(account_status=AccountStatus.ACTIVE)
    assert len(seller_latest_reviews(txn.seller_id)) == 1


def test_capabilities_read_the_reviews_in_one_query(django_assert_num_queries):
    txn = completed_purchase()
    services.review_submit(transaction=txn, author=txn.buyer, rating=1)
    services.review_submit(transaction=txn, author=txn.seller, rating=5)
    loaded = access_transaction(txn.buyer, txn.pk, as_="party")
    buyer = User.objects.get(pk=txn.buyer_id)
    with django_assert_num_queries(1):
        caps = review_capabilities(buyer, loaded)
        assert caps.other_review.reviewer.display_name
    assert timezone.now() < caps.deadline
