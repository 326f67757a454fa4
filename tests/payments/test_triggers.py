"""The payments triggers: updated_at, and users.total_sales_count from completed transactions."""

from datetime import datetime

import pytest
from django.db import connection

from accounts.models import User
from payments.models import Transaction
from tests.factories import ListingFactory, SellerFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = datetime.fromisoformat("2001-01-01T00:00:00+00:00")


def assert_stamped_during_this_transaction(value) -> None:
    """Set by the database within the test's transaction (now() or statement_timestamp())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), clock_timestamp()")
        started, current = cursor.fetchone()
    assert started <= value <= current


Status = Transaction.Status


def total_sales(user: User) -> int:
    return User.objects.values_list("total_sales_count", flat=True).get(pk=user.pk)


def completed_sales(user: User) -> int:
    return Transaction.objects.filter(seller=user, status=Status.COMPLETED).count()


def assert_total_sales_exact(*users: User) -> None:
    for user in users:
        assert total_sales(user) == completed_sales(user), user.email


def sale(seller: User, status: str = Status.COMPLETED) -> Transaction:
    return TransactionFactory(listing=ListingFactory(seller=seller), status=status)


def test_updated_at_is_set_by_the_database_on_update():
    transaction = TransactionFactory(updated_at=OLD, status=Status.PENDING)
    assert Transaction.objects.get(pk=transaction.pk).updated_at == OLD

    Transaction.objects.filter(pk=transaction.pk).update(status=Status.PROCESSING)

    assert_stamped_during_this_transaction(Transaction.objects.get(pk=transaction.pk).updated_at)


def test_only_completed_sales_count():
    seller = SellerFactory()
    sale(seller)
    sale(seller)
    for status in (Status.PENDING, Status.PROCESSING, Status.CANCELLED, Status.REFUNDED, Status.DISPUTED):
        sale(seller, status)

    assert total_sales(seller) == 2
    assert_total_sales_exact(seller)


def test_the_buyer_gets_no_sales():
    transaction = TransactionFactory()
    assert total_sales(transaction.buyer) == 0
    assert total_sales(transaction.seller) == 1


def test_status_changes_into_and_out_of_completed():
    seller = SellerFactory()
    transaction = sale(seller, Status.PENDING)

    for status, expected in [
        (Status.PROCESSING, 0),
        (Status.COMPLETED, 1),
        (Status.DISPUTED, 0),
        (Status.COMPLETED, 1),
        (Status.REFUNDED, 0),
    ]:
        transaction.status = status
        transaction.save()
        assert total_sales(seller) == expected, status
        assert_total_sales_exact(seller)


def test_updates_that_keep_the_status_do_not_count_twice():
    seller = SellerFactory()
    transaction = sale(seller)

    transaction.seller_note = "Shipped"
    transaction.save()  # a full save rewrites status with the same value
    Transaction.objects.filter(pk=transaction.pk).update(status=Status.COMPLETED, buyer_note="Thanks")

    assert total_sales(seller) == 1


def test_deleting_transactions():
    seller = SellerFactory()
    completed = sale(seller)
    pending = sale(seller, Status.PENDING)
    sale(seller)

    pending.delete()
    assert total_sales(seller) == 2
    completed.delete()
    assert total_sales(seller) == 1
    Transaction.objects.filter(seller=seller).delete()
    assert total_sales(seller) == 0


def test_changing_the_seller_of_a_completed_sale_moves_it():
    first, second = SellerFactory(), SellerFactory()
    transaction = sale(first)
    sale(second)

    Transaction.objects.filter(pk=transaction.pk).update(seller=second)
    assert (total_sales(first), total_sales(second)) == (0, 2)

    Transaction.objects.filter(pk=transaction.pk).update(seller=first, status=Status.REFUNDED)
    assert (total_sales(first), total_sales(second)) == (0, 1)
    assert_total_sales_exact(first, second)


def test_sales_are_counted_for_users_who_are_not_sellers():
    user = UserFactory(is_seller=False)
    sale(user)
    assert total_sales(user) == 1


def test_one_statement_completing_many_sales():
    seller = SellerFactory()
    for _ in range(4):
        sale(seller, Status.PROCESSING)

    Transaction.objects.filter(seller=seller).update(status=Status.COMPLETED)
    assert total_sales(seller) == 4
    Transaction.objects.filter(seller=seller).update(status=Status.REFUNDED)
    assert total_sales(seller) == 0
