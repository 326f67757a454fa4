"""A buyer offers on a negotiable listing, the seller counters, the buyer accepts the counter
and pays the countered amount with the 4242 test card, clicking through Chromium."""

import pytest
from playwright.sync_api import expect

from offers.models import Offer
from payments.models import LedgerEntry, Transaction
from tests.browser.test_buy_journey import log_in, pay_with_card
from tests.factories import ListingFactory, UserFactory
from tests.payments.conftest import localstripe, localstripe_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("localstripe")]


def test_offer_counter_accept_and_pay_the_countered_amount(page, live_server, ledger_db):
    listing = ListingFactory(title="Teak sideboard", price_cents=60_000, pricing_type="negotiable")
    UserFactory(email="haggler@example.com", first_name="Hana")

    log_in(page, "haggler@example.com")
    page.goto(listing.get_absolute_url())
    page.get_by_label("Your offer (USD)").fill("450")
    page.get_by_role("button", name="Make an offer").click()
    expect(page.get_by_text("Offer sent")).to_be_visible()
    expect(page.get_by_text("$450.00").first).to_be_visible()

    page.context.clear_cookies()
    log_in(page, listing.seller.email)
    page.goto("/offers/?box=received")
    page.get_by_label("Counter (USD)").fill("520")
    page.get_by_role("button", name="Counter", exact=True).click()
    expect(page.get_by_text("Counter-offer sent.")).to_be_visible()
    # The thread shows both moves as notices.
    page.goto("/messages/")
    page.get_by_role("link", name="Teak sideboard").first.click()
    expect(page.get_by_text("Countered with $520.00.")).to_be_visible()

    page.context.clear_cookies()
    log_in(page, "haggler@example.com")
    page.goto("/offers/?box=made")
    page.get_by_role("button", name="Accept $520.00").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_text("$520.00").first).to_be_visible()
    pay_with_card(page)

    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_text("Processing").first).to_be_visible()
    txn = Transaction.objects.get(listing=listing)
    assert txn.status == Transaction.Status.PROCESSING and txn.total_cents == 52_000
    assert LedgerEntry.objects.filter(transaction=txn, kind="charge", amount_cents=52_000).count() == 1
    offer = Offer.objects.get()
    assert (offer.agreed_cents, offer.status) == (52_000, Offer.Status.PAID)
