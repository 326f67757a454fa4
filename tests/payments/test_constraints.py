"""The database itself refuses bad transactions: amounts, states and double sales."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.models import Transaction
from tests.factories import ListingFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db

LIVE = ["pending", "processing", "completed", "disputed"]
ENDED = ["cancelled", "refunded"]


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


def amounts(subtotal: int, fee: int, processing: int = 0) -> dict:
    """Consistent amounts: total = subtotal, payout = subtotal - fee."""
    return {
        "subtotal_cents": subtotal,
        "platform_fee_cents": fee,
        "processing_fee_cents": processing,
        "total_cents": subtotal,
        "seller_payout_cents": subtotal - fee,
    }


# Amounts


@pytest.mark.parametrize(
    ("label", "values"),
    [
        ("subtotal", amounts(-100, 0)),
        ("platform fee", amounts(100, -10)),
        ("processing fee", amounts(100, 10, processing=-1)),
        # total = subtotal, so a negative total comes with a negative subtotal.
        ("total", amounts(-1, 0)),
        # payout = subtotal - fee < 0 means a fee above the subtotal.
        ("seller payout", amounts(100, 101)),
    ],
)
def test_no_amount_can_be_negative(label, values):
    with rejected("payments_transaction_amounts_non_negative"):
        TransactionFactory(**values)


@pytest.mark.parametrize(
    "field",
    ["subtotal_cents", "platform_fee_cents", "processing_fee_cents", "total_cents", "seller_payout_cents"],
)
def test_no_amount_can_be_made_negative_by_update(field):
    txn = TransactionFactory(**amounts(0, 0))
    # With every amount zero, only the changed one breaks the sign rule first (checks run by name).
    with rejected("payments_transaction_amounts_non_negative"):
        Transaction.objects.filter(pk=txn.pk).update(**{field: -1})


@pytest.mark.parametrize("payout", [9_001, 10_000, 8_999, 0])
def test_seller_payout_must_be_subtotal_less_platform_fee(payout):
    values = amounts(10_000, 1_000) | {"seller_payout_cents": payout}
    with rejected("payments_transaction_payout_is_subtotal_less_fee"):
        TransactionFactory(**values)


def test_payout_rule_holds_on_update():
    txn = TransactionFactory(**amounts(10_000, 1_000))
    with rejected("payments_transaction_payout_is_subtotal_less_fee"):
        Transaction.objects.filter(pk=txn.pk).update(platform_fee_cents=500)


@pytest.mark.parametrize("total", [10_001, 9_999, 11_000])
def test_total_must_equal_subtotal(total):
    values = amounts(10_000, 1_000) | {"total_cents": total}
    with rejected("payments_transaction_total_is_subtotal"):
        TransactionFactory(**values)


@pytest.mark.parametrize(
    "values",
    [amounts(10_000, 1_000), amounts(10_000, 1_000, processing=320), amounts(0, 0), amounts(7, 7)],
)
def test_consistent_amounts_are_accepted(values):
    txn = TransactionFactory(**values)
    txn.refresh_from_db()
    assert txn.seller_payout_cents == txn.subtotal_cents - txn.platform_fee_cents


def test_amounts_beyond_32_bits_are_accepted():
    big = 5_000_000_000_00
    TransactionFactory(**amounts(big, big // 10))


@pytest.mark.parametrize("currency", ["usd", "US", "Eur", ""])
def test_currency_must_be_three_capital_letters(currency):
    with rejected("payments_transaction_currency_iso4217"):
        TransactionFactory(currency=currency)


def test_currency_cannot_be_lowercased_by_update():
    txn = TransactionFactory()
    with rejected("payments_transaction_currency_iso4217"):
        Transaction.objects.filter(pk=txn.pk).update(currency="usd")


# Choices


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("status", "payments_transaction_status_valid"),
        ("payment_provider", "payments_transaction_provider_valid"),
    ],
)
def test_choice_fields_refuse_unknown_values_on_insert(field, constraint):
    with rejected(constraint):
        TransactionFactory(**{field: "bogus"})


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("status", "payments_transaction_status_valid"),
        ("payment_provider", "payments_transaction_provider_valid"),
    ],
)
@pytest.mark.parametrize("value", ["bogus", "", "Stripe", "COMPLETED"])
def test_choice_fields_refuse_unknown_values_on_update(field, constraint, value):
    txn = TransactionFactory()
    with rejected(constraint):
        Transaction.objects.filter(pk=txn.pk).update(**{field: value})


@pytest.mark.parametrize("status", Transaction.Status.values)
def test_every_status_is_accepted(status):
    TransactionFactory(status=status)


@pytest.mark.parametrize("provider", Transaction.Provider.values)
def test_every_provider_is_accepted(provider):
    TransactionFactory(payment_provider=provider)


# Parties


def test_buyer_cannot_be_the_seller():
    listing = ListingFactory()
    with rejected("payments_transaction_buyer_is_not_seller"):
        TransactionFactory(listing=listing, buyer=listing.seller)


def test_buyer_cannot_be_made_the_seller_by_update():
    txn = TransactionFactory()
    with rejected("payments_transaction_buyer_is_not_seller"):
        Transaction.objects.filter(pk=txn.pk).update(buyer=txn.seller)


# Payment intent


def test_payment_intent_id_is_unique_when_set():
    TransactionFactory(payment_intent_id="pi_123")
    with rejected("payments_transaction_payment_intent_unique"):
        TransactionFactory(payment_intent_id="pi_123")


def test_many_transactions_may_have_no_payment_intent():
    TransactionFactory(payment_intent_id=None)
    TransactionFactory(payment_intent_id=None)
    TransactionFactory(payment_intent_id=None)
    TransactionFactory(payment_intent_id="pi_456")
    assert Transaction.objects.filter(payment_intent_id__isnull=True).count() == 3


# One live transaction per listing


@pytest.mark.parametrize("first", LIVE)
@pytest.mark.parametrize("second", LIVE)
def test_second_live_transaction_on_a_listing_is_refused(first, second):
    held = TransactionFactory(status=first)
    with rejected("payments_transaction_one_live_per_listing"):
        TransactionFactory(listing=held.listing, status=second)


@pytest.mark.parametrize("ended", ENDED)
def test_transaction_cannot_be_revived_while_another_is_live(ended):
    old = TransactionFactory(status=ended, cancelled_at=timezone.now())
    TransactionFactory(listing=old.listing, status="pending")
    with rejected("payments_transaction_one_live_per_listing"):
        Transaction.objects.filter(pk=old.pk).update(status="pending")


@pytest.mark.parametrize("ended", ENDED)
def test_new_transaction_after_a_cancelled_or_refunded_one_is_accepted(ended):
    first = TransactionFactory(status=ended, cancelled_at=timezone.now())
    second = TransactionFactory(listing=first.listing, status=ended, buyer=UserFactory())
    live = TransactionFactory(listing=first.listing, status="pending")
    assert {first.listing_id, second.listing_id, live.listing_id} == {first.listing_id}
    assert Transaction.objects.filter(listing=first.listing).count() == 3


def test_live_transactions_on_different_listings_are_accepted():
    TransactionFactory(status="pending")
    TransactionFactory(status="pending")


def test_transactions_without_a_listing_do_not_collide():
    seller = UserFactory()
    TransactionFactory(listing=None, seller=seller, subtotal_cents=500, status="pending")
    TransactionFactory(listing=None, seller=seller, subtotal_cents=500, status="pending")
