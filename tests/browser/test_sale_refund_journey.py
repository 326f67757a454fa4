"""A buyer buys a listing with the 4242 test card; both parties get their emails; the seller
finds the sale from the dashboard and the sales page and refunds part of it on the order page,
clicking through Chromium. The refund is checked in the ledger and at localstripe."""

import pytest
from playwright.sync_api import expect

from payments.gateway import payment_gateway
from payments.models import LedgerEntry, LedgerKind, Transaction
from tests.browser.test_buy_journey import pay_with_card
from tests.factories import ListingFactory, UserFactory
from tests.jobs import run_jobs
from tests.payments.conftest import localstripe, localstripe_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("localstripe")]

PASSWORD = "correct horse battery staple"
TITLE = "Brass desk lamp"


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_seller_finds_the_sale_and_refunds_part_of_it(page, live_server, ledger_db, mailoutbox):
    listing = ListingFactory(title=TITLE, price_cents=3_900)
    seller = listing.seller
    buyer = UserFactory(email="buyer@example.com")

    # 1. The buyer pays; the money is held in escrow.
    log_in(page, buyer.email)
    page.goto(listing.get_absolute_url())
    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    pay_with_card(page, "4242424242424242")

    expect(page.get_by_role("heading", name="Order", exact=True)).to_be_visible()
    expect(page.get_by_text("Processing").first).to_be_visible()
    txn = Transaction.objects.get(listing=listing)
    assert txn.status == Transaction.Status.PROCESSING
    assert txn.charge_id

    # 2. The receipt went to the buyer and the sale notice to the seller (locmem backend,
    # queued by the live server's request, sent by their jobs).
    run_jobs()
    receipts = [m for m in mailoutbox if m.to == [buyer.email]]
    assert [m.subject for m in receipts] == [f"Your receipt for {TITLE}"]
    assert f"Item: {TITLE}" in receipts[0].body
    assert "Price: $39.00" in receipts[0].body
    assert "Charged: $39.00" in receipts[0].body
    notices = [m for m in mailoutbox if m.to == [seller.email]]
    assert [m.subject for m in notices] == [f"You sold {TITLE}"]
    assert "Buyer paid: $39.00" in notices[0].body
    assert seller.email not in receipts[0].body and buyer.email not in notices[0].body
    mailoutbox.clear()

    # 3. The seller logs in, finds the sale and refunds $10.00 of it.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    log_in(page, seller.email)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", name="Seller dashboard")).to_be_visible()

    sales_panel = page.get_by_role("region", name="Sales", exact=True)
    expect(sales_panel.get_by_role("link", name=TITLE)).to_be_visible()
    expect(sales_panel.get_by_text("Processing")).to_be_visible()
    sales_panel.get_by_role("link", name="All sales").click()

    expect(page.get_by_role("heading", name="Your sales", exact=True)).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=TITLE, exact=True))
    expect(row).to_have_count(1)
    expect(row.get_by_text("Processing")).to_be_visible()
    expect(row.get_by_role("cell", name="$39.00")).to_be_visible()
    row.get_by_role("link", name=f"View order for “{TITLE}”").click()

    expect(page.get_by_role("heading", name="Order", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Refund the buyer")).to_be_visible()
    page.get_by_label("Amount (USD)").fill("10.00")
    page.get_by_role("button", name="Refund").click()

    expect(page.get_by_role("status")).to_contain_text("$10.00 was refunded to the buyer.")
    amounts = page.get_by_role("region", name="Amounts")
    expect(amounts.get_by_role("term").filter(has_text="Refunded")).to_be_visible()
    expect(amounts.locator("dd[data-refunded]")).to_have_text("$10.00")
    expect(page.get_by_text("Processing").first).to_be_visible()

    # 4. Booked in the ledger, still in escrow, refunded at Stripe.
    txn.refresh_from_db()
    refunds = LedgerEntry.objects.filter(transaction=txn, kind=LedgerKind.REFUND)
    assert list(refunds.values_list("amount_cents", flat=True)) == [1_000]
    assert txn.status == Transaction.Status.PROCESSING
    assert payment_gateway().retrieve_charge(txn.charge_id).amount_refunded_cents == 1_000

    # Both parties were told about the refund.
    run_jobs()
    assert sorted((m.to[0], m.subject) for m in mailoutbox) == sorted(
        [
            (buyer.email, f"You were refunded $10.00 for {TITLE}"),
            (seller.email, f"$10.00 was refunded to the buyer of {TITLE}"),
        ]
    )
