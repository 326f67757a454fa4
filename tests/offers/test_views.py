"""The offer pages as a buyer and a seller use them: a form on the listing, the offers list,
the answers, the floor; refusals as messages, the rate limit as a 429."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from offers.models import Offer, OfferFloor
from offers.services import offer_counter, offer_make
from payments.models import Transaction
from tests.factories import ListingFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing():
    return ListingFactory(pricing_type="negotiable", price_cents=50_000)


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_listing_page_shows_the_form_to_a_buyer_and_the_floor_to_the_owner(client, listing):
    page = client.get(listing.get_absolute_url())
    assert "Make an offer" in page.content.decode()  # a visitor is asked to log in
    buyer = UserFactory()
    client.force_login(buyer)
    html = client.get(listing.get_absolute_url()).content.decode()
    assert reverse("offers:make", args=[listing.slug]) in html
    client.force_login(listing.seller)
    html = client.get(listing.get_absolute_url()).content.decode()
    assert reverse("offers:floor", args=[listing.pk]) in html
    assert reverse("offers:make", args=[listing.slug]) not in html


def test_fixed_price_listing_has_no_offer_form(client):
    listing = ListingFactory()
    client.force_login(UserFactory())
    assert "offer-form" not in client.get(listing.get_absolute_url()).content.decode()


def test_make_an_offer_through_the_form(client, listing):
    buyer = UserFactory()
    client.force_login(buyer)
    response = client.post(reverse("offers:make", args=[listing.slug]), {"amount": "420.50"})
    assert response.status_code == 302
    offer = Offer.objects.get()
    assert (offer.amount_cents, offer.buyer_id) == (42_050, buyer.pk)
    page = client.get(response["Location"]).content.decode()
    assert "$420.50" in page and "Withdraw" in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "Enter an amount"),
        ("abc", "Enter an amount"),
        ("0.001", "decimal"),
        ("-5", "negative"),
        ("0.10", "at least"),
    ],
)
def test_bad_amounts_come_back_as_a_message_and_store_nothing(client, listing, amount, message):
    client.force_login(UserFactory())
    response = client.post(reverse("offers:make", args=[listing.slug]), {"amount": amount})
    assert response.status_code == 302 and response["Location"].endswith("#offer")
    assert any(message in text for text in texts(response)), texts(response)
    assert not Offer.objects.exists()


def test_rate_limit_answers_429(client, listing, settings):
    settings.OFFERS_PER_HOUR = 1
    client.force_login(UserFactory())
    client.post(
        reverse("offers:make", args=[ListingFactory(pricing_type="negotiable").slug]), {"amount": "50"}
    )
    response = client.post(reverse("offers:make", args=[listing.slug]), {"amount": "50"})
    assert response.status_code == 429
    assert "many offers" in response.content.decode()
    assert Offer.objects.count() == 1


def test_seller_counters_and_buyer_accepting_goes_to_the_checkout(client, listing):
    buyer = UserFactory()
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    client.force_login(listing.seller)
    response = client.post(reverse("offers:action", args=[offer.pk, "counter"]), {"amount": "450"})
    assert "Counter-offer sent." in texts(response)
    client.force_login(buyer)
    response = client.post(reverse("offers:action", args=[offer.pk, "accept"]))
    txn = Transaction.objects.get()
    assert response["Location"] == reverse("payments:checkout", args=[txn.pk])
    assert txn.total_cents == 45_000
    checkout = client.get(response["Location"]).content.decode()
    assert "$450.00" in checkout


def test_unknown_action_is_404(client, listing):
    offer = offer_make(listing=listing, buyer=UserFactory(), amount_cents=40_000)
    client.force_login(listing.seller)
    assert client.post(reverse("offers:action", args=[offer.pk, "delete"])).status_code == 404


def test_answer_out_of_turn_is_a_message_and_changes_nothing(client, listing):
    buyer = UserFactory()
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    client.force_login(buyer)
    response = client.post(reverse("offers:action", args=[offer.pk, "accept"]))
    assert any("seller's turn" in text for text in texts(response))
    offer.refresh_from_db()
    assert offer.status == Offer.Status.OPEN


def test_floor_form(client, listing):
    client.force_login(listing.seller)
    client.post(reverse("offers:floor", args=[listing.pk]), {"floor": "300"})
    assert OfferFloor.objects.get().floor_cents == 30_000
    response = client.post(reverse("offers:floor", args=[listing.pk]), {"floor": "abc"})
    assert texts(response) and OfferFloor.objects.get().floor_cents == 30_000
    client.post(reverse("offers:floor", args=[listing.pk]), {"floor": ""})
    assert not OfferFloor.objects.exists()


@pytest.mark.parametrize("box", ["received", "made"])
def test_offers_page_queries_do_not_grow_with_offers(client, box):
    seller = UserFactory(is_seller=True)
    buyer = UserFactory()

    def add(n):
        for _ in range(n):
            offer = offer_make(
                listing=ListingFactory(seller=seller, pricing_type="negotiable"),
                buyer=buyer,
                amount_cents=5_000,
            )
            offer_counter(offer=offer, actor=seller, amount_cents=6_000)

    viewer = seller if box == "received" else buyer
    client.force_login(viewer)
    add(1)
    url = f"{reverse('offers:list')}?box={box}"
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    add(5)
    with CaptureQueriesContext(connection) as six:
        html = client.get(url).content.decode()
    assert html.count('class="offer-item"') == 6
    assert len(six) == len(one) <= 8, [q["sql"] for q in six.captured_queries]


def test_dashboard_lists_the_offers_waiting_for_the_seller(client, listing):
    offer_make(listing=listing, buyer=UserFactory(), amount_cents=40_000)
    countered = offer_make(listing=listing, buyer=UserFactory(), amount_cents=30_000)
    offer_counter(offer=countered, actor=listing.seller, amount_cents=45_000)  # the buyer's turn
    client.force_login(listing.seller)
    html = client.get(reverse("sell:dashboard")).content.decode()
    assert "Offers waiting for you" in html and "$400.00" in html
    assert "$300.00" not in html
