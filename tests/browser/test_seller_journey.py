"""A member becomes a seller, creates a listing in a category with typed details, uploads
photos, publishes it and finds it in search, clicking through Chromium."""

import pytest
from PIL import Image
from playwright.sync_api import expect

from listings.categories import bump_category_tree_version
from listings.models import Listing
from tests.factories import CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"], "required": True},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    {"key": "shipping_included", "label": "Shipping included", "type": "boolean"},
]


@pytest.fixture
def photos(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    paths = []
    for index, colour in enumerate([(160, 110, 60), (90, 60, 30)]):
        path = tmp_path / f"desk-{index}.jpg"
        Image.new("RGB", (1200, 900), colour).save(path, "JPEG")
        paths.append(str(path))
    return paths


def test_member_becomes_seller_lists_with_photos_publishes_and_finds_it(page, live_server, photos):
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=[])
    CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=SCHEMA)
    bump_category_tree_version()
    UserFactory(email="maker@example.com", first_name="Grace")

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("maker@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Start selling").click()
    page.get_by_label("Seller name").fill("Grace's Workshop")
    page.get_by_role("button", name="Start selling").click()
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("link", name="New listing").click()
    page.get_by_label("Title", exact=True).fill("Hand-made walnut desk")
    page.get_by_label("Category", exact=True).select_option(label="Desks")
    page.get_by_role("button", name="Update fields").click()
    # The category's schema now drives the form: an enum, a number with its unit, a checkbox.
    page.get_by_label("Material").select_option("Walnut")
    page.get_by_label("Width (in)").fill("48")
    page.get_by_label("Shipping included").check()
    page.get_by_label("Description", exact=True).fill("Solid walnut, dovetailed drawers, oiled finish.")
    page.get_by_label("Price", exact=True).fill("1250.50")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_role("heading", name="Photos of “Hand-made walnut desk”")).to_be_visible()
    page.get_by_label("Photos", exact=True).set_input_files(photos)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Main photo")).to_be_visible()
    expect(page.locator(".photo-item")).to_have_count(2)

    page.get_by_role("link", name="Hand-made walnut desk").first.click()
    page.get_by_role("button", name="Publish").click()
    listing = Listing.objects.get(title="Hand-made walnut desk")
    assert listing.status == "active" and listing.published_at is not None
    assert listing.attributes == {"material": "Walnut", "width": 48, "shipping_included": True}
    assert listing.price_cents == 125050
    assert len(listing.images) == 2 and listing.primary_image_url == listing.images[0]["url"]

    page.goto("/")
    page.get_by_label("Search listings").first.fill("walnut desk")
    page.get_by_label("Search listings").first.press("Enter")
    results = page.get_by_role("region", name="Results")
    expect(results).to_contain_text("Hand-made walnut desk")
    expect(results).to_contain_text("$1,250.50")
    results.get_by_role("link", name="Hand-made walnut desk").click()
    expect(page.get_by_role("heading", name="Hand-made walnut desk", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("48 in")
    expect(page.locator("main")).to_contain_text("Grace's Workshop")
