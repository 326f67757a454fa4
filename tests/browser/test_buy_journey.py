"""A buyer buys a listing with the 4242 test card through Stripe.js (localstripe's shim at
STRIPE_JS_URL), clicking through Chromium; the seller then sees the sale on the order page."""

import pytest
from playwright.sync_api import expect

from listings.models import Listing
from payments.models import LedgerEntry, Transaction
from tests.factories import ListingFactory, UserFactory
from tests.payments.conftest import localstripe, localstripe_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("localstripe")]

PASSWORD = "correct horse battery staple"


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def pay_with_card(page, number: str = "4242424242424242"):
    """Fill localstripe's card Element (plain inputs named by placeholder) and press Pay."""
    page.get_by_placeholder("number").fill(number)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("34")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("42424")
    page.get_by_role("button", name="Pay").click()


def test_buyer_pays_with_a_test_card_and_the_seller_sees_the_sale(page, live_server, ledger_db):
    listing = ListingFactory(title="Brass desk lamp", price_cents=3_900)
    UserFactory(email="buyer@example.com")

    log_in(page, "buyer@example.com")
    page.goto(listing.get_absolute_url())
    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_text("$39.00").first).to_be_visible()

    pay_with_card(page)

    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_text("Processing").first).to_be_visible()
    txn = Transaction.objects.get(listing=listing)
    assert txn.status == Transaction.Status.PROCESSING
    assert LedgerEntry.objects.filter(transaction=txn, kind="charge", amount_cents=3_900).count() == 1
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.RESERVED

    page.context.clear_cookies()
    log_in(page, listing.seller.email)
    page.goto(f"/payments/orders/{txn.pk}/")
    expect(page.get_by_text("Processing").first).to_be_visible()
    expect(page.get_by_text("Platform fee", exact=True)).to_be_visible()


def test_buyer_completes_3d_secure_in_the_stripe_js_modal(page, live_server, ledger_db):
    listing = ListingFactory(title="Oak stool", price_cents=5_000)
    UserFactory(email="secure@example.com")

    log_in(page, "secure@example.com")
    page.goto(listing.get_absolute_url())
    page.get_by_role("button", name="Buy now").click()
    pay_with_card(page, "4000002760003184")
    # localstripe's stand-in for the bank's 3-D Secure page.
    page.get_by_role("button", name="Complete authentication").click()

    expect(page.get_by_role("heading", name="Order")).to_be_visible()
    expect(page.get_by_text("Processing").first).to_be_visible()
    assert Transaction.objects.get(listing=listing).status == Transaction.Status.PROCESSING
