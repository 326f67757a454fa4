"""Buying: one atomic purchase, one live transaction per listing, idempotent retries."""

import threading

import pytest
from django.db import connections

from accounts.models import AccountStatus
from listings.models import Listing
from marketplace.errors import ServiceError
from payments.models import Transaction
from payments.services import RESERVED_MESSAGE, transaction_cancel, transaction_start
from tests.factories import ListingFactory, TransactionFactory, UserFactory
from tests.payments.purchase_helpers import reload

pytestmark = pytest.mark.django_db


def buy(listing, buyer=None, key="checkout-1"):
    return transaction_start(listing=listing, buyer=buyer or UserFactory(), idempotency_key=key)


def test_purchase_takes_amounts_from_the_listing_and_fee_from_the_setting(settings):
    settings.PLATFORM_FEE_BPS = 250
    listing = ListingFactory(price_cents=9_999, currency="EUR")
    buyer = UserFactory()
    txn = buy(listing, buyer)
    stored = reload(txn)
    assert (stored.buyer, stored.seller, stored.listing) == (buyer, listing.seller, listing)
    assert stored.subtotal_cents == stored.total_cents == 9_999
    assert stored.platform_fee_cents == 249  # floor(249.975)
    assert stored.seller_payout_cents == 9_750
    assert stored.currency == "EUR"
    assert stored.status == Transaction.Status.PENDING
    assert stored.metadata["platform_fee_bps"] == 250
    assert stored.listing.status == Listing.Status.RESERVED


def test_unlisted_listings_can_be_bought():
    assert buy(ListingFactory(visibility=Listing.Visibility.UNLISTED)).status == Transaction.Status.PENDING


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"status": Listing.Status.DRAFT, "published_at": None}, "not_found"),
        ({"status": Listing.Status.ARCHIVED}, "not_found"),
        ({"visibility": Listing.Visibility.PRIVATE}, "not_found"),
        ({"pricing_type": "negotiable"}, "not_fixed_price"),
        ({"price_cents": None}, "not_fixed_price"),
        ({"price_cents": None, "pricing_type": "hourly"}, "not_fixed_price"),
        ({"price_cents": 0}, "not_fixed_price"),
    ],
)
def test_only_active_visible_fixed_price_listings_are_sold(fields, code):
    listing = ListingFactory(**fields)
    with pytest.raises(ServiceError) as excinfo:
        buy(listing)
    assert excinfo.value.code == code
    assert not Transaction.objects.exists()
    assert reload_listing(listing).status == listing.status


def reload_listing(listing):
    return Listing.objects.get(pk=listing.pk)


def test_sold_and_reserved_listings_say_so():
    reserved = ListingFactory()
    buy(reserved)
    with pytest.raises(ServiceError) as excinfo:
        buy(reserved, key="other")
    assert excinfo.value.message == RESERVED_MESSAGE
    sold = ListingFactory(status=Listing.Status.SOLD, sold_at=reserved.created_at)
    with pytest.raises(ServiceError) as excinfo:
        buy(sold)
    assert excinfo.value.code == "sold"


def test_sellers_cannot_buy_their_own_listing():
    listing = ListingFactory()
    with pytest.raises(ServiceError) as excinfo:
        buy(listing, listing.seller)
    assert excinfo.value.code == "own_listing"


@pytest.mark.parametrize("status", [AccountStatus.SUSPENDED, AccountStatus.BANNED])
def test_suspended_or_banned_buyers_and_sellers_cannot_trade(status):
    with pytest.raises(ServiceError):
        buy(ListingFactory(), UserFactory(account_status=status))
    with pytest.raises(ServiceError) as excinfo:
        buy(ListingFactory(seller__account_status=status))
    assert excinfo.value.code == "not_found"
    assert not Transaction.objects.exists()


def test_a_missing_idempotency_key_is_refused():
    with pytest.raises(ServiceError):
        buy(ListingFactory(), key="  ")


def test_a_retried_request_returns_the_first_transaction():
    listing, buyer = ListingFactory(), UserFactory()
    first = buy(listing, buyer, key="k-1")
    again = buy(listing, buyer, key="k-1")
    assert again.pk == first.pk
    assert Transaction.objects.count() == 1
    with pytest.raises(ServiceError):  # the same key for another listing is a client bug
        buy(ListingFactory(), buyer, key="k-1")
    # Another buyer's identical key is theirs.
    with pytest.raises(ServiceError) as excinfo:
        buy(listing, UserFactory(), key="k-1")
    assert excinfo.value.code == "reserved"


def test_after_a_cancellation_the_listing_can_be_bought_again():
    listing = ListingFactory()
    first = buy(listing, key="a")
    transaction_cancel(transaction=first, actor=first.buyer)
    second = buy(listing, key="b")
    assert second.pk != first.pk
    assert reload_listing(listing).status == Listing.Status.RESERVED


def test_the_unique_index_is_the_last_line_of_defence():
    """A live transaction the listing row does not show (drift, a bug elsewhere): the partial
    unique index refuses the second one, and nothing of the attempt remains."""
    listing = ListingFactory()
    TransactionFactory(listing=listing, status=Transaction.Status.PENDING, completed_at=None)
    with pytest.raises(ServiceError) as excinfo:
        buy(listing)
    assert excinfo.value.message == RESERVED_MESSAGE
    assert Transaction.objects.filter(listing=listing).count() == 1
    assert reload_listing(listing).status == Listing.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_buyers_exactly_one_wins():
    listing = ListingFactory()
    buyers = [UserFactory() for _ in range(8)]
    barrier = threading.Barrier(len(buyers), timeout=20)
    won, refused, unexpected = [], [], []

    def attempt(buyer):
        try:
            barrier.wait()
            won.append(transaction_start(listing=listing, buyer=buyer, idempotency_key=f"k-{buyer.pk}"))
        except ServiceError as error:
            refused.append(error)
        except Exception as error:  # reported below
            unexpected.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(buyer,)) for buyer in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not unexpected, unexpected
    assert len(won) == 1
    assert len(refused) == len(buyers) - 1
    assert {error.message for error in refused} == {RESERVED_MESSAGE}
    rows = Transaction.objects.filter(listing=listing)
    assert list(rows.values_list("pk", flat=True)) == [won[0].pk]  # no orphan rows
    assert reload_listing(listing).status == Listing.Status.RESERVED


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_creates_one_transaction():
    listing, buyer = ListingFactory(), UserFactory()
    barrier = threading.Barrier(4, timeout=20)
    results, errors = [], []

    def attempt():
        try:
            barrier.wait()
            results.append(transaction_start(listing=listing, buyer=buyer, idempotency_key="same").pk)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(set(results)) == 1 and len(results) == 4
    assert Transaction.objects.count() == 1
