"""Who may hold listings, and how many: buying needs a verified email and an account in good
standing (one rule for the page and the service), open checkouts per buyer are capped (also
under concurrency), Buy now is rate limited (429), and a buyer who cancelled a checkout or let
it expire waits a cooling-off period before reserving that listing again."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.services import BUY_UNVERIFIED_MESSAGE, ensure_can_buy
from listings.capabilities import listing_capabilities, listing_purchase_refusal
from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction
from payments.services import transaction_cancel, transaction_expire, transaction_start
from tests.factories import ListingFactory, UserFactory
from tests.payments.purchase_helpers import next_id

pytestmark = pytest.mark.django_db

S = Transaction.Status
QUERIES_PER_BUY_NOW = 14


def buy(listing, buyer):
    return transaction_start(listing=listing, buyer=buyer, idempotency_key=next_id("key"))


def refusal_of(listing, buyer) -> ServiceError:
    with pytest.raises(ServiceError) as excinfo:
        buy(listing, buyer)
    return excinfo.value


def checkout_url(listing) -> str:
    return reverse("payments:checkout_start", args=[listing.slug])


# --- A verified email and an account in good standing: one rule ------------------------------
def test_the_issues_script_an_unverified_account_reserves_nothing():
    buyer = UserFactory(email_verified_at=None)
    listings = [ListingFactory() for _ in range(15)]
    for listing in listings:
        error = refusal_of(listing, buyer)
        assert (error.code, error.message) == (ErrorCode.EMAIL_UNVERIFIED, BUY_UNVERIFIED_MESSAGE)
    assert not Transaction.objects.exists()
    assert set(Listing.objects.values_list("status", flat=True)) == {Listing.Status.ACTIVE}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"email_verified_at": None}, ErrorCode.EMAIL_UNVERIFIED),
        ({"account_status": AccountStatus.SUSPENDED}, ErrorCode.ACCOUNT_SUSPENDED),
        ({"account_status": AccountStatus.BANNED}, ErrorCode.ACCOUNT_BANNED),
    ],
)
def test_the_page_and_the_service_ask_the_same_rule(fields, code):
    listing, buyer = ListingFactory(), UserFactory(**fields)
    with pytest.raises(ServiceError) as excinfo:
        ensure_can_buy(buyer)
    assert excinfo.value.code == code
    refusal = listing_purchase_refusal(listing, buyer)
    assert (refusal.code, refusal.message) == (code, excinfo.value.message)
    capabilities = listing_capabilities(buyer, Listing.objects.select_related("seller").get(pk=listing.pk))
    assert not capabilities.can_buy and capabilities.buy_notice == excinfo.value.message
    assert refusal_of(listing, buyer).code == code
    assert not Transaction.objects.exists()


def test_an_unverified_buyer_sees_why_and_no_buy_button(client):
    listing, buyer = ListingFactory(), UserFactory(email_verified_at=None)
    client.force_login(buyer)
    page = client.get(listing.get_absolute_url()).content.decode()
    assert "Buy now" not in page and "Verify your email address before buying" in page
    response = client.post(checkout_url(listing), follow=True)
    assert response.redirect_chain[-1][0] == listing.get_absolute_url()
    assert "Verify your email address before buying" in response.content.decode()
    assert not Transaction.objects.exists()


def test_a_buyer_suspended_meanwhile_is_refused_under_the_lock():
    """The service asks the rule again of the buyer's locked row, not of a stale object."""
    listing, buyer = ListingFactory(), UserFactory()
    type(buyer).objects.filter(pk=buyer.pk).update(account_status=AccountStatus.SUSPENDED)
    assert refusal_of(listing, buyer).code == ErrorCode.ACCOUNT_SUSPENDED
    assert not Transaction.objects.exists()


# --- Open checkouts per buyer ------------------------------------------------------------------
def test_a_verified_script_holds_at_most_the_cap(settings):
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = 3
    buyer = UserFactory()
    listings = [ListingFactory() for _ in range(15)]
    held = []
    for listing in listings:
        try:
            held.append(buy(listing, buyer))
        except ServiceError as error:
            assert error.code == ErrorCode.TOO_MANY_CHECKOUTS
            assert "You already have 3 unpaid checkouts open" in error.message
    assert len(held) == 3
    assert Listing.objects.filter(status=Listing.Status.RESERVED).count() == 3
    # A retry of an open checkout still finds it; paying or cancelling one frees a place.
    again = transaction_start(listing=listings[0], buyer=buyer, idempotency_key=held[0].idempotency_key)
    assert again.pk == held[0].pk
    transaction_cancel(transaction=held[0], actor=buyer)
    assert buy(listings[5], buyer).status == S.PENDING
    assert refusal_of(listings[6], buyer).code == ErrorCode.TOO_MANY_CHECKOUTS


def test_the_cap_is_per_buyer(settings):
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = 1
    first, second = UserFactory(), UserFactory()
    buy(ListingFactory(), first)
    assert buy(ListingFactory(), second).status == S.PENDING
    assert refusal_of(ListingFactory(), first).code == ErrorCode.TOO_MANY_CHECKOUTS


@pytest.mark.django_db(transaction=True)
def test_two_buy_nows_at_once_cannot_exceed_the_cap(settings):
    """Two connections, one buyer, two listings, a cap of one: the buyer's row lock makes the
    second start wait for the first and count its checkout. Repeated to give the race room."""
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = 1
    settings.CHECKOUT_STARTS_PER_HOUR = 1_000
    for _ in range(5):
        buyer = UserFactory()
        listings = [ListingFactory(), ListingFactory()]
        barrier = threading.Barrier(len(listings))
        outcomes = []

        def attempt(listing, buyer=buyer, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                outcomes.append(buy(listing, buyer).pk)
            except ServiceError as error:
                outcomes.append(error.code)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=attempt, args=(listing,)) for listing in listings]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count(ErrorCode.TOO_MANY_CHECKOUTS) == 1, outcomes
        assert Transaction.objects.filter(buyer=buyer, status=S.PENDING).count() == 1


# --- Buy now is rate limited --------------------------------------------------------------------
def test_buy_now_past_the_rate_limit_is_429_with_a_clear_message(client, settings):
    settings.CHECKOUT_STARTS_PER_HOUR = 2
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = 10
    buyer = UserFactory()
    client.force_login(buyer)
    listings = [ListingFactory() for _ in range(3)]
    for listing in listings[:2]:
        assert client.post(checkout_url(listing)).status_code == 302
    response = client.post(checkout_url(listings[2]))
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    text = response.content.decode()
    assert "You can start up to 2 checkouts an hour" in text and "Try again in" in text
    assert not Transaction.objects.filter(listing=listings[2]).exists()
    assert Listing.objects.get(pk=listings[2].pk).status == Listing.Status.ACTIVE
    # A double submit of a checkout already started is not a new start: still answered.
    assert client.post(checkout_url(listings[0])).status_code == 302
    # Refusals that start nothing (a reserved listing) are not counted against anyone else.
    assert buy(listings[2], UserFactory()).status == S.PENDING


# --- Cooling-off after a cancellation or an expiry ---------------------------------------------
def test_cancel_then_buy_again_waits_the_cooling_off_period(settings):
    settings.CHECKOUT_COOLING_OFF_MINUTES = 15
    listing, buyer = ListingFactory(), UserFactory()
    txn = buy(listing, buyer)
    transaction_cancel(transaction=txn, actor=buyer)
    error = refusal_of(listing, buyer)
    assert error.code == ErrorCode.COOLING_OFF
    assert "You can reserve it again at" in error.message and "(in 15 minutes)" in error.message
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE
    # Others may buy it meanwhile, and the buyer may buy something else.
    assert buy(ListingFactory(), buyer).status == S.PENDING
    # Fourteen minutes later: still waiting, one minute to go.
    Transaction.objects.filter(pk=txn.pk).update(cancelled_at=timezone.now() - timedelta(minutes=14))
    assert "(in 1 minute)" in refusal_of(listing, buyer).message
    Transaction.objects.filter(pk=txn.pk).update(
        cancelled_at=timezone.now() - timedelta(minutes=15, seconds=1)
    )
    assert buy(listing, buyer).status == S.PENDING


def test_an_expired_checkout_cools_off_too(settings):
    listing, buyer = ListingFactory(), UserFactory()
    txn = buy(listing, buyer)
    later = timezone.now() + timedelta(minutes=settings.CHECKOUT_EXPIRY_MINUTES + 1)
    assert transaction_expire(transaction=txn, now=later)
    assert refusal_of(listing, buyer).code == ErrorCode.COOLING_OFF
    assert buy(listing, UserFactory()).status == S.PENDING


def test_a_payment_stripe_cancelled_does_not_cool_off():
    listing, buyer = ListingFactory(), UserFactory()
    txn = buy(listing, buyer)
    transaction_cancel(transaction=txn, actor=buyer)
    Transaction.objects.filter(pk=txn.pk).update(metadata={"cancelled_by": "stripe"})
    assert buy(listing, buyer).status == S.PENDING


def test_the_cooling_off_message_reaches_the_buyer_over_http(client):
    listing, buyer = ListingFactory(), UserFactory()
    client.force_login(buyer)
    client.post(checkout_url(listing))
    txn = Transaction.objects.get()
    client.post(reverse("payments:checkout_cancel", args=[txn.pk]))
    response = client.post(checkout_url(listing), follow=True)
    assert response.redirect_chain[-1][0] == listing.get_absolute_url()
    assert "You can reserve it again at" in response.content.decode()
    assert Transaction.objects.count() == 1


def test_buy_now_costs_a_fixed_number_of_queries(client, django_assert_num_queries):
    """The user (sessions are in Redis), the listing by the page's access rule, the checkout
    key, then the purchase: savepoint, buyer lock, listing lock, retry lookup, cooling-off,
    open count, the insert (in its own savepoint), the listing's move to reserved, release."""
    buyer = UserFactory()
    for _ in range(2):  # whatever the buyer's history
        done = buy(ListingFactory(), buyer)
        transaction_cancel(transaction=done, actor=buyer)
    listing = ListingFactory()
    client.force_login(buyer)
    with django_assert_num_queries(QUERIES_PER_BUY_NOW):
        response = client.post(checkout_url(listing))
    assert response.status_code == 302 and Transaction.objects.filter(listing=listing).exists()
