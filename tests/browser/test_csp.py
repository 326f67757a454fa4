"""The Content-Security-Policy in Chromium: what it refuses is reported to the test (every
journey fails on a violation, see ``conftest.py``), and the Django admin's scripts (actions,
autocomplete, prepopulated slugs, collapsible fieldsets) work under it."""

import pytest
from playwright.sync_api import expect

from listings.models import Category
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def test_an_inline_script_or_style_is_refused_and_reported(page, live_server, csp_violations):
    page.goto("/")
    expect(page.get_by_role("link", name="Marketplace", exact=True)).to_be_visible()
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.appendChild(script);
            document.body.setAttribute("style", "background: red");
        }"""
    )
    page.wait_for_function("() => true")  # let the browser deliver the events
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.injected") is None  # the script never ran
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    directives = {v.get("directive") for v in csp_violations if "directive" in v}
    assert {"script-src-elem", "style-src-attr"} <= directives, list(csp_violations)
    assert any("Content Security Policy" in v.get("text", "") for v in csp_violations)
    csp_violations.clear()  # seen: this test is about them


def test_staff_work_in_the_admin_under_the_policy(page, live_server):
    UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    seller = SellerFactory(email="walnut.maker@example.com")
    listing = ListingFactory(title="Walnut desk")

    page.goto("/admin/login/")
    page.locator("#id_username").fill("staff@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # Changelist: ticking a row counts the selection (actions.js).
    page.goto("/admin/listings/listing/")
    page.locator("input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")

    # Change form: the seller's autocomplete (select2 over the admin's autocomplete view).
    page.goto(f"/admin/listings/listing/{listing.pk}/change/")
    page.locator(".field-seller .select2-selection").click()
    page.locator(".select2-search__field").fill("walnut.maker")
    page.get_by_role("option", name=seller.email).click()
    expect(page.locator(".field-seller .select2-selection__rendered")).to_contain_text(seller.email)
    # A collapsed fieldset opens.
    page.get_by_text("Search engines").click()
    expect(page.locator("#id_meta_title")).to_be_visible()

    # Add form: the slug follows the name (prepopulate.js); saving works.
    CategoryFactory(name="Furniture")
    page.goto("/admin/listings/category/add/")
    page.locator("#id_name").press_sequentially("Writing desks")  # prepopulate.js listens to keyup
    expect(page.locator("#id_slug")).to_have_value("writing-desks")
    page.locator("#id_attribute_schema").fill("[]")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Category.objects.filter(slug="writing-desks").exists()
