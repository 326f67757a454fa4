"""The seller has their listing page open; the buyer pays for it in another browser context;
the seller's header badge counts the new notification live (over the messaging socket), and
the notification leads to the sale.

The application runs in a real ASGI server process (uvicorn, as in the messaging journey) so
the seller's page holds its WebSocket; the server talks to this run's localstripe.
"""

import pytest
from playwright.sync_api import expect

from notifications.models import Notification, NotificationType
from payments.models import Transaction
from tests.browser.test_buy_journey import pay_with_card
from tests.browser.test_messaging_journey import TestRedis, signed_in_context
from tests.factories import ListingFactory, UserFactory
from tests.messaging.test_live_servers import servers
from tests.payments.conftest import (
    TEST_PUBLISHABLE_KEY,
    TEST_SECRET_KEY,
    localstripe_server,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_server_with_stripe(tmp_path, request, monkeypatch):
    # The server process reads its settings from the environment it inherits.
    stripe_url = request.getfixturevalue("localstripe_server")
    for name, value in {
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_JS_URL": f"{stripe_url}/js.stripe.com/v3/",
        "STRIPE_MODE": "local",
        "STRIPE_MAX_NETWORK_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    with servers(tmp_path, TestRedis, count=1) as (port,):
        yield f"http://127.0.0.1:{port}"


def test_the_sellers_badge_counts_the_sale_live_and_leads_to_it(
    chromium, asgi_server_with_stripe, csp_violations, ledger_db
):
    base = asgi_server_with_stripe
    listing = ListingFactory(title="Brass desk lamp", price_cents=3_900)
    seller, buyer = listing.seller, UserFactory()
    seller_context = signed_in_context(chromium, base, seller, csp_violations)
    buyer_context = signed_in_context(chromium, base, buyer, csp_violations)
    try:
        seller_page = seller_context.new_page()
        seller_page.goto(listing.get_absolute_url())
        badge = seller_page.locator("[data-notification-badge]")
        expect(badge).to_be_visible()
        expect(badge.locator("[data-notification-count]")).to_have_count(0)
        seller_page.wait_for_timeout(500)  # the page's socket is open before the sale

        buyer_page = buyer_context.new_page()
        buyer_page.goto(listing.get_absolute_url())
        buyer_page.get_by_role("button", name="Buy now").click()
        pay_with_card(buyer_page)
        expect(buyer_page.get_by_role("heading", name="Order")).to_be_visible(timeout=20_000)

        # No reload: the seller's header counts it.
        expect(badge.locator("[data-notification-count]")).to_have_text("1", timeout=15_000)
        txn = Transaction.objects.get(listing=listing)
        assert Notification.objects.filter(user=seller, type=NotificationType.LISTING_SOLD).count() == 1

        badge.click()
        expect(seller_page.get_by_role("heading", name="Notifications")).to_be_visible()
        seller_page.get_by_role("link", name="You sold Brass desk lamp").click()
        expect(seller_page).to_have_url(f"{base}/payments/orders/{txn.pk}/")
        expect(seller_page.get_by_text("Platform fee", exact=True)).to_be_visible()
        # Opened: read, and the badge is gone on the next page.
        expect(seller_page.locator("[data-notification-count]")).to_have_count(0)
    finally:
        seller_context.close()
        buyer_context.close()
