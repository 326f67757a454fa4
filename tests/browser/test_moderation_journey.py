"""A member reports a listing; a moderator finds it in the moderation queue and takes it down
with a reason; the seller sees the reason on their dashboard (all in Chromium, CSP enforced)."""

import pytest
from playwright.sync_api import expect

from listings.models import Listing
from moderation.models import Report
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.moderation.helpers import staff_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
REASON = "Counterfeit designer goods are not allowed."


def log_in(page, email, *, admin=False):
    page.context.clear_cookies()
    page.goto("/admin/login/" if admin else "/accounts/login/")
    if admin:
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("link", name="Moderation queue")).to_be_visible()
        return
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_report_take_down_and_the_seller_sees_why(page, live_server):
    seller = SellerFactory(email="seller@example.com", seller_display_name="Bag Shop")
    listing = ListingFactory(seller=seller, title="Designer handbag")
    member = UserFactory(email="member@example.com")
    moderator = staff_in("Moderator", email="mod@example.com")

    # 1. A member reports the listing from its page.
    log_in(page, member.email)
    page.goto(listing.get_absolute_url())
    page.get_by_role("link", name="Report this listing").click()
    page.get_by_label("Prohibited item").check()
    page.get_by_label("Details").fill("Looks like a fake.")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Thank you: your report was sent to our team.")).to_be_visible()
    assert Report.objects.get().reason == "prohibited"

    # 2. A moderator finds it in the queue and takes it down with a reason.
    log_in(page, moderator.email, admin=True)
    page.get_by_role("link", name="Moderation queue").click()
    row = page.locator("#moderation-queue tbody tr", has_text="Designer handbag")
    expect(row).to_contain_text("Prohibited item")
    expect(row).to_contain_text("seller@example.com")
    row.get_by_role("link", name="Take down…").click()
    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Take down").click()
    expect(page.get_by_text("Take down: done for Designer handbag.")).to_be_visible()
    expect(page.locator("#moderation-queue-empty")).to_be_visible()
    listing.refresh_from_db()
    assert listing.status == Listing.Status.ARCHIVED
    assert Report.objects.get().status == "action_taken"

    # 3. The seller sees the reason on their dashboard.
    log_in(page, seller.email)
    page.goto("/sell/?status=archived")
    note = page.locator(".moderation-reason")
    expect(note).to_contain_text("Taken down by our team")
    expect(note).to_contain_text(REASON)
