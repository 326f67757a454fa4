"""A visitor signs up, verifies their email from the outbox, searches with filters, opens a
listing and saves it to their favorites, clicking through Chromium."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import User
from listings.categories import bump_category_tree_version
from listings.models import Favorite
from tests.factories import CategoryFactory, ListingFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"]},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
]


@pytest.fixture
def catalogue():
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=[])
    ListingFactory(
        category=desks,
        title="Walnut writing desk",
        attributes={"material": "Walnut", "width": 48},
        price_cents=45_000,
    )
    ListingFactory(category=desks, title="Wide walnut desk", attributes={"material": "Walnut", "width": 100})
    ListingFactory(category=desks, title="Oak desk", attributes={"material": "Oak", "width": 50})
    bump_category_tree_version()


def test_visitor_signs_up_verifies_searches_and_favorites(page, live_server, catalogue):
    mail.outbox.clear()
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill("a-long enough passphrase 42")
    page.get_by_label("Confirm password").fill("a-long enough passphrase 42")
    page.get_by_role("button", name="Sign up").click()

    # Sign-up answers "check your email" (as it would for an address that has an account:
    # issue 11, item 8) and does not log in. The verification email holds the link on its
    # own line; the verified page offers to log in.
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    run_jobs()
    assert len(mail.outbox) == 1
    link = re.search(r"^(http\S+)$", mail.outbox[0].body, re.MULTILINE).group(1)
    page.goto(link)
    expect(page.get_by_role("heading", name="Your email address is verified")).to_be_visible()
    assert User.objects.get(email="ada@example.com").email_verified_at is not None
    page.locator("main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill("a-long enough passphrase 42")
    page.locator("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Account")).to_contain_text("Log out")

    # Search from the header, then narrow with the category's typed filters.
    page.get_by_label("Search listings").first.fill("walnut")
    page.get_by_label("Search listings").first.press("Enter")
    results = page.get_by_role("region", name="Results")
    expect(results).to_contain_text("Walnut writing desk")
    expect(results).to_contain_text("Wide walnut desk")
    expect(results).not_to_contain_text("Oak desk")

    page.get_by_label("Category", exact=True).select_option("furniture")
    page.locator("form.filters").get_by_role("button", name="Search").click()
    page.get_by_label("Walnut").check()
    page.get_by_label("Width max (in)").fill("72")
    page.locator("form.filters").get_by_role("button", name="Search").click()
    expect(results).to_contain_text("1 listing")
    expect(results).to_contain_text("Walnut writing desk")
    expect(results).not_to_contain_text("Wide walnut desk")

    results.get_by_role("link", name="Walnut writing desk").click()
    expect(page.get_by_role("heading", name="Walnut writing desk", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("$450.00")
    page.get_by_role("button", name="Save to favorites").click()
    expect(page.get_by_role("button", name=re.compile("remove from favorites"))).to_be_visible()

    page.get_by_role("link", name="Favorites").click()
    expect(page.locator("main")).to_contain_text("Walnut writing desk")
    assert (
        Favorite.objects.filter(user__email="ada@example.com", listing__title="Walnut writing desk").count()
        == 1
    )
