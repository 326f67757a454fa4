"""Triggers on accounts_user: updated_at, and columns kept by other apps' triggers."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


def test_updated_at_is_set_by_the_database_on_update():
    user = UserFactory(updated_at=OLD)
    assert User.objects.get(pk=user.pk).updated_at == OLD

    User.objects.filter(pk=user.pk).update(first_name="Ada")

    assert_stamped_during_this_transaction(User.objects.get(pk=user.pk).updated_at)


def test_updated_at_is_set_by_a_save_that_lists_its_fields():
    user = UserFactory(updated_at=OLD)
    user.bio = "Collector"
    user.save(update_fields=["bio"])
    assert_stamped_during_this_transaction(User.objects.get(pk=user.pk).updated_at)


def test_created_at_does_not_change_on_update():
    user = UserFactory(created_at=OLD)
    User.objects.filter(pk=user.pk).update(first_name="Ada")
    user.last_name = "Lovelace"
    user.save()
    assert User.objects.get(pk=user.pk).created_at == OLD


@pytest.mark.django_db(transaction=True)
def test_updated_at_moves_forward_across_transactions():
    user = UserFactory()
    created = User.objects.get(pk=user.pk).updated_at

    User.objects.filter(pk=user.pk).update(first_name="Ada")

    assert User.objects.get(pk=user.pk).updated_at > created


def test_a_full_save_of_a_stale_user_keeps_ratings_and_sales():
    seller = SellerFactory()
    stale = User.objects.get(pk=seller.pk)

    # Meanwhile: two completed sales of theirs, one reviewed by its buyer; they review a buyer.
    sale = TransactionFactory(listing=ListingFactory(seller=seller))
    TransactionFactory(listing=ListingFactory(seller=seller))
    ReviewFactory(transaction=sale, rating=4)
    purchase = TransactionFactory(buyer=seller)
    ReviewFactory(
        transaction=purchase,
        reviewer=purchase.seller,
        reviewee=seller,
        reviewer_type=Review.ReviewerType.SELLER,
        rating=3,
    )

    stale.first_name = "Renamed"
    stale.save()

    fresh = User.objects.get(pk=seller.pk)
    assert fresh.first_name == "Renamed"
    assert fresh.total_sales_count == 2
    assert (fresh.seller_rating, fresh.seller_rating_sum, fresh.seller_rating_count) == (
        Decimal("4.00"),
        4,
        1,
    )
    assert (fresh.buyer_rating, fresh.buyer_rating_sum, fresh.buyer_rating_count) == (Decimal("3.00"), 3, 1)


def test_a_full_save_writes_no_trigger_managed_column():
    user = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        user.bio = "Hello"
        user.save()

    (update,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert '"bio"' in update
    for column in User.trigger_managed_fields:
        assert f'"{column}"' not in update, column


def test_creating_a_user_starts_every_counter_at_zero():
    user = User.objects.create_user("new@example.com", "pw")
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.total_sales_count, fresh.seller_rating_count, fresh.buyer_rating_count) == (0, 0, 0)
    assert fresh.created_at == fresh.updated_at


def test_a_row_updated_in_the_transaction_that_created_it_is_not_updated_before_it_was_created():
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(first_name="Ada")
    fresh = User.objects.get(pk=user.pk)
    assert fresh.updated_at >= fresh.created_at
