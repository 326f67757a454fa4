"""The database itself refuses bad reviews: ratings, self-reviews and double reviews."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, transaction

from reviews.models import Review
from tests.factories import ReviewFactory, TransactionFactory

pytestmark = pytest.mark.django_db

SUB_RATINGS = {
    "rating_communication": "reviews_review_communication_range",
    "rating_quality": "reviews_review_quality_range",
    "rating_delivery": "reviews_review_delivery_range",
}


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


@pytest.mark.parametrize("rating", [0, 6, -1, 100])
def test_rating_must_be_one_to_five(rating):
    with rejected("reviews_review_rating_range"):
        ReviewFactory(rating=rating)


@pytest.mark.parametrize("rating", [0, 6])
def test_rating_cannot_leave_the_range_by_update(rating):
    review = ReviewFactory()
    with rejected("reviews_review_rating_range"):
        Review.objects.filter(pk=review.pk).update(rating=rating)


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_ratings_one_to_five_are_accepted(rating):
    ReviewFactory(rating=rating)


@pytest.mark.parametrize(("field", "constraint"), SUB_RATINGS.items())
@pytest.mark.parametrize("value", [0, 6])
def test_sub_ratings_must_be_one_to_five(field, constraint, value):
    with rejected(constraint):
        ReviewFactory(**{field: value})


@pytest.mark.parametrize(("field", "constraint"), SUB_RATINGS.items())
def test_sub_ratings_cannot_leave_the_range_by_update(field, constraint):
    review = ReviewFactory()
    with rejected(constraint):
        Review.objects.filter(pk=review.pk).update(**{field: 6})


@pytest.mark.parametrize("value", [None, 1, 5])
def test_sub_ratings_in_range_or_empty_are_accepted(value):
    ReviewFactory(rating_communication=value, rating_quality=value, rating_delivery=value)


@pytest.mark.parametrize(
    ("field", "constraint"),
    [("reviewer_type", "reviews_review_reviewer_type_valid"), ("status", "reviews_review_status_valid")],
)
def test_choice_fields_refuse_unknown_values_on_insert(field, constraint):
    with rejected(constraint):
        ReviewFactory(**{field: "bogus"})


@pytest.mark.parametrize(
    ("field", "constraint"),
    [("reviewer_type", "reviews_review_reviewer_type_valid"), ("status", "reviews_review_status_valid")],
)
@pytest.mark.parametrize("value", ["bogus", "", "Buyer", "ACTIVE"])
def test_choice_fields_refuse_unknown_values_on_update(field, constraint, value):
    review = ReviewFactory()
    with rejected(constraint):
        Review.objects.filter(pk=review.pk).update(**{field: value})


@pytest.mark.parametrize("status", Review.Status.values)
def test_every_review_status_is_accepted(status):
    review = ReviewFactory()
    Review.objects.filter(pk=review.pk).update(status=status)


def test_both_reviewer_types_are_accepted():
    txn = TransactionFactory()
    ReviewFactory(transaction=txn)
    ReviewFactory(
        transaction=txn, reviewer=txn.seller, reviewee=txn.buyer, reviewer_type=Review.ReviewerType.SELLER
    )


def test_nobody_reviews_themselves():
    txn = TransactionFactory()
    with rejected("reviews_review_not_self"):
        ReviewFactory(transaction=txn, reviewer=txn.buyer, reviewee=txn.buyer)


def test_review_cannot_be_turned_on_its_author_by_update():
    review = ReviewFactory()
    with rejected("reviews_review_not_self"):
        Review.objects.filter(pk=review.pk).update(reviewee=review.reviewer)


def test_one_review_per_party_per_transaction():
    review = ReviewFactory()
    with rejected("reviews_review_once_per_party"):
        ReviewFactory(transaction=review.transaction, rating=1)


def test_the_other_party_may_review_the_same_transaction():
    review = ReviewFactory()
    txn = review.transaction
    ReviewFactory(
        transaction=txn, reviewer=txn.seller, reviewee=txn.buyer, reviewer_type=Review.ReviewerType.SELLER
    )
    assert Review.objects.filter(transaction=txn).count() == 2
