"""The database itself refuses bad users: these bypass Python validation on purpose."""

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


def test_account_status_must_be_a_known_choice_on_insert():
    with rejected("accounts_user_account_status_valid"):
        User.objects.create(email="odd@example.com", account_status="deleted")


@pytest.mark.parametrize("status", ["deleted", "ACTIVE", ""])
def test_account_status_must_be_a_known_choice_on_update(status):
    user = UserFactory()
    with rejected("accounts_user_account_status_valid"):
        User.objects.filter(pk=user.pk).update(account_status=status)


@pytest.mark.parametrize("status", User.AccountStatus.values)
def test_every_account_status_choice_is_accepted(status):
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(account_status=status)
    user.refresh_from_db()
    assert user.account_status == status


@pytest.mark.parametrize(
    ("first", "second"), [("a@x.com", "A@X.COM"), ("Mixed@Example.com", "mixed@example.COM")]
)
def test_email_is_unique_case_insensitively(first, second):
    User.objects.create(email=first)
    with rejected("accounts_user_email_ci_unique"):
        User.objects.create(email=second)


def test_email_case_variant_is_refused_on_update_too():
    User.objects.create(email="a@x.com")
    other = User.objects.create(email="b@x.com")
    with rejected("accounts_user_email_ci_unique"):
        User.objects.filter(pk=other.pk).update(email="A@x.com")


def test_distinct_emails_are_accepted():
    User.objects.create(email="a@x.com")
    User.objects.create(email="a@y.com")
    assert User.objects.filter(email__iexact="A@X.COM").count() == 1


@pytest.mark.parametrize(
    "values",
    [
        {"seller_rating_sum": -1},
        {"seller_rating_count": -1},
        {"buyer_rating_sum": -1},
        {"buyer_rating_count": -1},
    ],
)
def test_rating_totals_cannot_go_negative(values):
    user = UserFactory()
    with rejected("accounts_user_rating_totals_non_negative"):
        User.objects.filter(pk=user.pk).update(**values)


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("seller_rating", "accounts_user_seller_rating_range"),
        ("buyer_rating", "accounts_user_buyer_rating_range"),
    ],
)
@pytest.mark.parametrize("value", [Decimal("0.99"), Decimal("5.01"), Decimal("0")])
def test_ratings_stay_between_one_and_five(field, constraint, value):
    user = UserFactory()
    with rejected(constraint):
        User.objects.filter(pk=user.pk).update(**{field: value})


@pytest.mark.parametrize("value", [None, Decimal("1.00"), Decimal("4.37"), Decimal("5.00")])
def test_ratings_in_range_or_empty_are_accepted(value):
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(seller_rating=value, buyer_rating=value)


def test_stripe_connect_id_is_unique_when_set_and_may_be_empty_for_many():
    UserFactory(stripe_connect_id=None)
    UserFactory(stripe_connect_id=None)
    UserFactory(stripe_connect_id="acct_1")
    with rejected("accounts_user_stripe_connect_unique"):
        UserFactory(stripe_connect_id="acct_1")
    assert User.objects.filter(stripe_connect_id__isnull=True).count() == 2
