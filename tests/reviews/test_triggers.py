"""The reviews triggers: updated_at, and user ratings kept exact by deltas of sum and count."""

import random
import threading
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from accounts.models import User
from reviews.models import Review
from tests.factories import ListingFactory, ReviewFactory, SellerFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = datetime.fromisoformat("2001-01-01T00:00:00+00:00")


def assert_stamped_during_this_transaction(value) -> None:
    """Set by the database within the test's transaction (now() or statement_timestamp())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), clock_timestamp()")
        started, current = cursor.fetchone()
    assert started <= value <= current


RATING_COLUMNS = (
    "seller_rating",
    "seller_rating_sum",
    "seller_rating_count",
    "buyer_rating",
    "buyer_rating_sum",
    "buyer_rating_count",
)


def expected_ratings(user: User) -> dict:
    """The user's ratings computed from the reviews themselves, independently of the trigger."""
    totals = Review.objects.filter(reviewee=user, status=Review.Status.ACTIVE).aggregate(
        seller_sum=Sum("rating", filter=Q(reviewer_type=Review.ReviewerType.BUYER), default=0),
        seller_count=Count("id", filter=Q(reviewer_type=Review.ReviewerType.BUYER)),
        buyer_sum=Sum("rating", filter=Q(reviewer_type=Review.ReviewerType.SELLER), default=0),
        buyer_count=Count("id", filter=Q(reviewer_type=Review.ReviewerType.SELLER)),
    )

    def average(total: int, count: int) -> Decimal | None:
        if count == 0:
            return None
        return (Decimal(total) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    return {
        "seller_rating": average(totals["seller_sum"], totals["seller_count"]),
        "seller_rating_sum": totals["seller_sum"],
        "seller_rating_count": totals["seller_count"],
        "buyer_rating": average(totals["buyer_sum"], totals["buyer_count"]),
        "buyer_rating_sum": totals["buyer_sum"],
        "buyer_rating_count": totals["buyer_count"],
    }


def stored_ratings(user: User) -> dict:
    return User.objects.filter(pk=user.pk).values(*RATING_COLUMNS).get()


def assert_ratings_exact(*users: User) -> None:
    for user in users:
        assert stored_ratings(user) == expected_ratings(user), user.email


def buyer_review(seller: User, rating: int, **kwargs) -> Review:
    """A buyer's review of ``seller`` (feeds the seller rating), on a new sale of theirs."""
    sale = TransactionFactory(listing=ListingFactory(seller=seller))
    return ReviewFactory(transaction=sale, rating=rating, **kwargs)


def seller_review(buyer: User, rating: int, **kwargs) -> Review:
    """A seller's review of ``buyer`` (feeds the buyer rating), on a new purchase of theirs."""
    purchase = TransactionFactory(buyer=buyer)
    return ReviewFactory(
        transaction=purchase,
        reviewer=purchase.seller,
        reviewee=buyer,
        reviewer_type=Review.ReviewerType.SELLER,
        rating=rating,
        **kwargs,
    )


def test_updated_at_is_set_by_the_database_on_update():
    review = ReviewFactory(updated_at=OLD)
    assert Review.objects.get(pk=review.pk).updated_at == OLD

    Review.objects.filter(pk=review.pk).update(title="Changed")

    assert_stamped_during_this_transaction(Review.objects.get(pk=review.pk).updated_at)


def test_a_new_user_has_no_ratings():
    user = UserFactory()
    assert stored_ratings(user) == {
        "seller_rating": None,
        "seller_rating_sum": 0,
        "seller_rating_count": 0,
        "buyer_rating": None,
        "buyer_rating_sum": 0,
        "buyer_rating_count": 0,
    }


def test_buyers_reviews_feed_the_seller_rating_rounded_to_two_decimals():
    seller = SellerFactory()
    for rating in (5, 4, 4):
        buyer_review(seller, rating)

    assert stored_ratings(seller) == {
        "seller_rating": Decimal("4.33"),
        "seller_rating_sum": 13,
        "seller_rating_count": 3,
        "buyer_rating": None,
        "buyer_rating_sum": 0,
        "buyer_rating_count": 0,
    }
    assert_ratings_exact(seller)


def test_rounding_is_half_up():
    seller = SellerFactory()
    for rating in (5, 4, 4, 4, 4, 4, 4, 4):  # 33 / 8 = 4.125
        buyer_review(seller, rating)

    assert stored_ratings(seller)["seller_rating"] == Decimal("4.13")
    assert_ratings_exact(seller)


def test_sellers_reviews_feed_the_buyer_rating():
    buyer = UserFactory()
    seller_review(buyer, 2)
    seller_review(buyer, 3)

    ratings = stored_ratings(buyer)
    assert (ratings["buyer_rating"], ratings["buyer_rating_sum"], ratings["buyer_rating_count"]) == (
        Decimal("2.50"),
        5,
        2,
    )
    assert (ratings["seller_rating"], ratings["seller_rating_count"]) == (None, 0)
    assert_ratings_exact(buyer)


def test_the_reviewer_is_not_rated():
    review = buyer_review(SellerFactory(), 5)
    assert stored_ratings(review.reviewer)["seller_rating_count"] == 0
    assert stored_ratings(review.reviewer)["buyer_rating_count"] == 0


def test_ratings_are_kept_for_users_who_are_not_sellers():
    non_seller = UserFactory(is_seller=False)
    buyer_review(non_seller, 4)
    seller_review(non_seller, 2)

    ratings = stored_ratings(non_seller)
    assert ratings["seller_rating"] == Decimal("4.00")
    assert ratings["buyer_rating"] == Decimal("2.00")
    assert_ratings_exact(non_seller)


def test_a_review_inserted_as_flagged_does_not_count():
    seller = SellerFactory()
    buyer_review(seller, 1, status=Review.Status.FLAGGED)
    buyer_review(seller, 5)

    assert stored_ratings(seller)["seller_rating"] == Decimal("5.00")
    assert_ratings_exact(seller)


def test_changing_a_rating():
    seller = SellerFactory()
    review = buyer_review(seller, 5)
    buyer_review(seller, 4)

    review.rating = 1
    review.save()

    assert stored_ratings(seller)["seller_rating"] == Decimal("2.50")
    assert_ratings_exact(seller)


def test_moderation_active_flagged_removed_active():
    seller = SellerFactory()
    review = buyer_review(seller, 1)
    buyer_review(seller, 5)
    buyer_review(seller, 4)
    assert stored_ratings(seller)["seller_rating"] == Decimal("3.33")

    Review.objects.filter(pk=review.pk).update(status=Review.Status.FLAGGED)
    assert stored_ratings(seller)["seller_rating"] == Decimal("4.50")
    assert_ratings_exact(seller)

    Review.objects.filter(pk=review.pk).update(status=Review.Status.REMOVED)
    assert stored_ratings(seller)["seller_rating_count"] == 2
    assert_ratings_exact(seller)

    Review.objects.filter(pk=review.pk).update(status=Review.Status.ACTIVE)
    assert stored_ratings(seller)["seller_rating"] == Decimal("3.33")
    assert_ratings_exact(seller)


def test_rating_is_null_again_when_the_last_review_stops_counting():
    seller = SellerFactory()
    review = buyer_review(seller, 3)

    Review.objects.filter(pk=review.pk).update(status=Review.Status.REMOVED)

    ratings = stored_ratings(seller)
    assert (ratings["seller_rating"], ratings["seller_rating_sum"], ratings["seller_rating_count"]) == (
        None,
        0,
        0,
    )


def test_changing_the_reviewee_moves_the_rating():
    first, second = SellerFactory(), SellerFactory()
    review = buyer_review(first, 2)
    buyer_review(first, 4)
    buyer_review(second, 5)

    Review.objects.filter(pk=review.pk).update(reviewee=second)

    assert stored_ratings(first)["seller_rating"] == Decimal("4.00")
    assert stored_ratings(second)["seller_rating"] == Decimal("3.50")
    assert_ratings_exact(first, second)


def test_changing_the_reviewer_type_moves_the_rating_between_seller_and_buyer():
    user = UserFactory()
    review = buyer_review(user, 2)
    seller_review(user, 4)

    Review.objects.filter(pk=review.pk).update(reviewer_type=Review.ReviewerType.SELLER)

    ratings = stored_ratings(user)
    assert (ratings["seller_rating"], ratings["seller_rating_count"]) == (None, 0)
    assert (ratings["buyer_rating"], ratings["buyer_rating_count"]) == (Decimal("3.00"), 2)
    assert_ratings_exact(user)


def test_changing_several_columns_at_once():
    first, second = UserFactory(), UserFactory()
    review = buyer_review(first, 2, status=Review.Status.FLAGGED)
    buyer_review(first, 3)

    Review.objects.filter(pk=review.pk).update(
        reviewee=second, reviewer_type=Review.ReviewerType.SELLER, rating=5, status=Review.Status.ACTIVE
    )

    assert stored_ratings(second)["buyer_rating"] == Decimal("5.00")
    assert_ratings_exact(first, second)


def test_deleting_reviews():
    seller = SellerFactory()
    flagged = buyer_review(seller, 1, status=Review.Status.FLAGGED)
    reviews = [buyer_review(seller, rating) for rating in (5, 2, 4)]

    reviews[1].delete()
    assert stored_ratings(seller)["seller_rating"] == Decimal("4.50")
    assert_ratings_exact(seller)

    flagged.delete()  # did not count: nothing to take away
    assert_ratings_exact(seller)

    Review.objects.filter(pk__in=[reviews[0].pk, reviews[2].pk]).delete()
    assert stored_ratings(seller)["seller_rating"] is None
    assert_ratings_exact(seller)


def test_one_statement_changing_many_reviews_of_one_user():
    seller = SellerFactory()
    for rating in (1, 2, 3, 4, 5):
        buyer_review(seller, rating)

    Review.objects.filter(reviewee=seller, rating__lte=2).update(status=Review.Status.FLAGGED)
    assert stored_ratings(seller)["seller_rating"] == Decimal("4.00")
    Review.objects.filter(reviewee=seller).update(rating=1)
    assert stored_ratings(seller)["seller_rating"] == Decimal("1.00")
    assert_ratings_exact(seller)


def test_a_reply_does_not_touch_the_user_row():
    review = buyer_review(SellerFactory(), 4)
    seller = review.reviewee

    def user_row_version():
        with connection.cursor() as cursor:
            cursor.execute("SELECT ctid::text, updated_at FROM accounts_user WHERE id = %s", [seller.pk])
            return cursor.fetchone()

    before = user_row_version()
    review.response = "Thank you!"
    review.responded_at = review.published_at  # a response has its time (a CHECK holds it)
    review.is_featured = True
    review.save()  # a full save writes every column, rating included, unchanged

    assert Review.objects.get(pk=review.pk).response == "Thank you!"
    assert user_row_version() == before


def test_a_random_sequence_of_changes_keeps_every_rating_exact():
    rng = random.Random(20240601)  # fixed seed: reproducible
    users = [UserFactory() for _ in range(4)]
    reviews: list[Review] = []
    for step in range(60):
        action = rng.choice(["insert", "insert", "rating", "status", "reviewee", "type", "delete"])
        if action == "insert" or not reviews:
            make = rng.choice([buyer_review, seller_review])
            reviews.append(
                make(rng.choice(users), rng.randint(1, 5), status=rng.choice(Review.Status.values))
            )
        elif action == "delete":
            reviews.pop(rng.randrange(len(reviews))).delete()
        else:
            review = rng.choice(reviews)
            change = {
                "rating": {"rating": rng.randint(1, 5)},
                "status": {"status": rng.choice(Review.Status.values)},
                "reviewee": {"reviewee": rng.choice([u for u in users if u.pk != review.reviewer_id])},
                "type": {"reviewer_type": rng.choice(Review.ReviewerType.values)},
            }[action]
            Review.objects.filter(pk=review.pk).update(**change)
        for user in users:
            assert stored_ratings(user) == expected_ratings(user), f"after step {step} ({action})"


@pytest.mark.django_db(transaction=True)
def test_concurrent_reviews_of_one_seller_are_all_counted():
    seller = SellerFactory()
    sales = [TransactionFactory(listing=ListingFactory(seller=seller)) for _ in range(8)]
    barrier = threading.Barrier(len(sales))
    errors: list[BaseException] = []

    def review(sale, rating):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                ReviewFactory(transaction=sale, rating=rating)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=review, args=(sale, rating))
        for sale, rating in zip(sales, [5, 4, 4, 3, 5, 2, 1, 5], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert stored_ratings(seller)["seller_rating_count"] == 8
    assert stored_ratings(seller)["seller_rating_sum"] == 29
    assert_ratings_exact(seller)
