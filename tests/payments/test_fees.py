"""Platform fee math: integer floor of subtotal x bps / 10,000, on edge amounts."""

import pytest
from django.db import transaction

from payments.fees import platform_fee_cents
from payments.models import Transaction
from tests.factories import ListingFactory, TransactionFactory

BIGINT_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("subtotal", "bps", "fee"),
    [
        (0, 1000, 0),
        (1, 1000, 0),  # a tenth of a cent rounds down: the seller keeps it
        (9, 1000, 0),
        (10, 1000, 1),
        (19, 1000, 1),
        (99, 1000, 9),
        (101, 1000, 10),
        (4599, 1000, 459),  # odd cents: 459.9 -> 459
        (9_999, 1000, 999),
        (10_000, 1000, 1000),
        (9_999, 250, 249),  # 249.975 -> 249
        (333, 333, 11),  # 11.0889
        (12_345, 0, 0),
        (12_345, 10_000, 12_345),
        (1, 10_000, 1),
        (BIGINT_MAX, 1000, BIGINT_MAX // 10),
        (BIGINT_MAX, 10_000, BIGINT_MAX),
        (BIGINT_MAX, 9_999, BIGINT_MAX * 9_999 // 10_000),
    ],
)
def test_fee_is_the_floor_of_subtotal_times_bps(subtotal, bps, fee):
    assert platform_fee_cents(subtotal, bps) == fee
    assert 0 <= fee <= subtotal


def test_huge_amounts_are_exact_where_a_float_would_not_be():
    subtotal = BIGINT_MAX
    assert platform_fee_cents(subtotal, 1234) == subtotal * 1234 // 10_000
    assert platform_fee_cents(subtotal, 1234) != int(subtotal * 0.1234)


@pytest.mark.parametrize(
    ("subtotal", "bps", "error"),
    [
        (-1, 1000, ValueError),
        (100, -1, ValueError),
        (100, 10_001, ValueError),
        (100.0, 1000, TypeError),
        ("100", 1000, TypeError),
        (100, 10.5, TypeError),
        (True, 1000, TypeError),
        (None, 1000, TypeError),
    ],
)
def test_bad_inputs_are_refused(subtotal, bps, error):
    with pytest.raises(error):
        platform_fee_cents(subtotal, bps)


@pytest.mark.django_db
@pytest.mark.parametrize("subtotal", [1, 4599, BIGINT_MAX])
def test_amounts_round_trip_through_the_bigint_columns_and_their_checks(subtotal):
    fee = platform_fee_cents(subtotal, 1000)
    with transaction.atomic():
        created = TransactionFactory(
            listing=ListingFactory(price_cents=subtotal),
            subtotal_cents=subtotal,
            platform_fee_cents=fee,
            total_cents=subtotal,
            seller_payout_cents=subtotal - fee,
        )
    stored = Transaction.objects.get(pk=created.pk)
    assert (stored.subtotal_cents, stored.platform_fee_cents, stored.seller_payout_cents) == (
        subtotal,
        fee,
        subtotal - fee,
    )
    assert stored.seller_payout_cents + stored.platform_fee_cents == stored.total_cents
