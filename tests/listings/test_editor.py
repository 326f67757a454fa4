"""The listing editor: the form (details typed by the category's schema, price, location,
SEO), slugs, who may open it, the creation rate limit, query counts and the page cache."""

from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AccountStatus
from listings.categories import bump_category_tree_version
from listings.models import Listing
from listings.services import listing_create, listing_publish, listing_unpublish, listing_update
from marketplace.errors import ServiceError
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

FURNITURE_SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"], "required": True},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
]
DESK_SCHEMA = [
    {"key": "height", "label": "Height", "type": "number", "unit": "cm"},
    {"key": "adjustable", "label": "Height adjustable", "type": "boolean"},
    {"key": "brand", "label": "Brand", "type": "text"},
]
BOOK_SCHEMA = [
    {"key": "author", "label": "Author", "type": "text", "required": True},
    {"key": "width", "label": "Width", "type": "number", "unit": "cm"},
]
DESK_ATTRIBUTES = {"material": "Oak", "width": 30, "height": 72.5, "adjustable": True, "brand": "Acme"}


@pytest.fixture
def furniture():
    return CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)


@pytest.fixture
def desks(furniture):
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=DESK_SCHEMA)
    bump_category_tree_version()
    return desks


@pytest.fixture
def books():
    books = CategoryFactory(name="Books", slug="books", attribute_schema=BOOK_SCHEMA)
    bump_category_tree_version()
    return books


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def form_data(for_category, **overrides) -> dict:
    """A valid editor submission for a desk; ``None`` values are left out (an unchecked box)."""
    data = {
        "title": "Walnut standing desk",
        "category": str(for_category.pk),
        "rendered_for": str(for_category.pk),
        "description": "Solid walnut top, electric legs.",
        "price": "45.99",
        "currency": "USD",
        "pricing_type": "fixed",
        "location_country": "US",
        "location_city": "Austin",
        "location_lat": "30.2672",
        "location_lng": "-97.7431",
        "visibility": "public",
        "meta_title": "",
        "meta_description": "",
        "attr_material": "Oak",
        "attr_width": "30",
        "attr_height": "72.5",
        "attr_adjustable": "on",
        "attr_brand": "Acme",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def create_url():
    return reverse("sell:listing_create")


def edit_url(listing):
    return reverse("sell:listing_edit", args=[listing.pk])


def draft(seller, category, **fields):
    fields.setdefault("attributes", dict(DESK_ATTRIBUTES))
    return ListingFactory(seller=seller, category=category, status="draft", published_at=None, **fields)


def errors_of(response) -> dict:
    form = response.context["form"]
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def json_types(listing) -> dict:
    """The JSON type PostgreSQL holds for each attribute (numbers must not be strings)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, jsonb_typeof(value) FROM listings_listing, jsonb_each(attributes) WHERE id = %s",
            [listing.pk],
        )
        return dict(cursor.fetchall())


# --- Creating -------------------------------------------------------------------------
def test_create_saves_a_typed_draft_and_sends_the_seller_to_its_photos(seller_client, seller, desks):
    response = seller_client.post(create_url(), form_data(desks))
    listing = Listing.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sell:listing_photos", args=[listing.pk])
    assert listing.seller == seller
    assert listing.status == Listing.Status.DRAFT
    assert listing.published_at is None
    assert listing.price_cents == 4599
    assert listing.attributes == DESK_ATTRIBUTES
    assert isinstance(listing.attributes["width"], int)
    assert isinstance(listing.attributes["height"], float)
    assert json_types(listing) == {
        "material": "string",
        "width": "number",
        "height": "number",
        "adjustable": "boolean",
        "brand": "string",
    }
    assert listing.location_lat == Decimal("30.2672") and listing.location_lng == Decimal("-97.7431")
    assert listing.slug == "walnut-standing-desk"


def test_numbers_are_stored_as_numbers(seller_client, desks):
    seller_client.post(create_url(), form_data(desks, attr_width="30.0", attr_height="0.1"))
    listing = Listing.objects.get()
    assert listing.attributes["width"] == 30 and isinstance(listing.attributes["width"], int)
    assert listing.attributes["height"] == 0.1 and isinstance(listing.attributes["height"], float)


def test_unchecked_box_is_no_and_empty_optional_details_are_left_out(seller_client, desks):
    seller_client.post(create_url(), form_data(desks, attr_adjustable=None, attr_width="", attr_brand="  "))
    assert Listing.objects.get().attributes == {"material": "Oak", "height": 72.5, "adjustable": False}


def test_the_editor_shows_fields_from_the_merged_schema_with_units(seller_client, desks):
    listing = draft(listing_owner := SellerFactory(), desks)
    seller_client.force_login(listing_owner)
    response = seller_client.get(edit_url(listing))
    html = response.content.decode()
    form = response.context["form"]
    assert [field.name for field in form.attribute_fields] == [
        "attr_material",
        "attr_width",
        "attr_height",
        "attr_adjustable",
        "attr_brand",
    ]
    assert "Width (in)" in html and "Height (cm)" in html
    assert 'type="checkbox" name="attr_adjustable"' in html
    assert '<option value="Walnut">Walnut</option>' in html
    assert 'value="45.99"' not in html and 'value="100.00"' in html  # the factory's 10,000 cents


# --- Bad details: a clear error, and nothing saved --------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"attr_width": "wide"}, "attr_width", "Enter a number for Width, such as 12 or 12.5."),
        ({"attr_width": "NaN"}, "attr_width", "Enter a number for Width, such as 12 or 12.5."),
        ({"attr_width": "1e400"}, "attr_width", "Width must be at most 1,000,000,000,000."),
        ({"attr_width": "-2e12"}, "attr_width", "Width must be at least -1,000,000,000,000."),
        ({"attr_width": "1.1234567"}, "attr_width", "Width has at most 6 decimals."),
        ({"attr_width": "1234567890.123456"}, "attr_width", "Width has at most 15 digits."),
        ({"attr_material": "Pine"}, "attr_material", "Choose Material from the list: Walnut, Oak."),
        ({"attr_material": ""}, "attr_material", "Choose Material: this category needs it."),
        ({"attr_material": None}, "attr_material", "Choose Material: this category needs it."),
        (
            {"attr_brand": "x" * 201},
            "attr_brand",
            "Ensure this value has at most 200 characters (it has 201).",
        ),
    ],
)
def test_bad_details_are_refused_with_a_clear_message(seller_client, desks, overrides, field, message):
    response = seller_client.post(create_url(), form_data(desks, **overrides))
    assert response.status_code == 200
    assert message in errors_of(response)[field]
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Listing.objects.exists()


def test_details_the_category_does_not_have_are_refused(seller_client, desks):
    response = seller_client.post(create_url(), form_data(desks, attr_colour="red", attr_drawers="3"))
    assert errors_of(response)["__all__"] == [
        "Desks listings have no detail named colour, drawers. Check the details below and save again."
    ]
    assert not Listing.objects.exists()


def test_bad_details_on_edit_change_nothing(seller_client, seller, desks):
    listing = draft(seller, desks, title="Old title")
    response = seller_client.post(edit_url(listing), form_data(desks, title="New title", attr_height="tall"))
    assert errors_of(response) == {"attr_height": ["Enter a number for Height, such as 12 or 12.5."]}
    listing.refresh_from_db()
    assert listing.title == "Old title"
    assert listing.attributes == DESK_ATTRIBUTES


# --- Changing the category ----------------------------------------------------------------
def test_changing_the_category_shows_the_new_details_before_saving_anything(
    seller_client, seller, desks, books
):
    listing = draft(seller, desks)
    response = seller_client.post(
        edit_url(listing), form_data(desks, category=str(books.pk), attr_width="31", title="A book now")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound and response.context["refreshed"]
    assert [field.name for field in form.attribute_fields] == ["attr_author", "attr_width"]
    assert form["attr_width"].value() == "31"  # same key in both: carried over
    assert form["title"].value() == "A book now"
    assert form["rendered_for"].value() == str(books.pk)
    assert form.dropped_details == ["Material", "Height", "Height adjustable", "Brand"]
    html = response.content.decode()
    assert "Nothing is saved yet" in html
    assert (
        "Books listings do not have Material, Height, Height adjustable, Brand: they will be removed" in html
    )
    listing.refresh_from_db()
    assert listing.category == desks and listing.title != "A book now"
    assert listing.attributes == DESK_ATTRIBUTES

    # Saved from the refreshed form: the new schema's details only.
    data = {"attr_author": "Ursula K. Le Guin", "attr_width": "31"}
    for name in ("title", "description", "price", "currency", "pricing_type", "visibility"):
        data[name] = form[name].value()
    data.update(category=str(books.pk), rendered_for=str(books.pk))
    response = seller_client.post(edit_url(listing), data)
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.category == books
    assert listing.attributes == {"author": "Ursula K. Le Guin", "width": 31}


def test_update_fields_button_re_renders_a_new_listing_with_the_categorys_details(seller_client, desks):
    data = form_data(desks, rendered_for="", refresh="1")
    for name in list(data):
        if name.startswith("attr_"):
            del data[name]
    response = seller_client.post(create_url(), data)
    assert response.status_code == 200
    assert not Listing.objects.exists()
    assert "attr_material" in response.context["form"].fields
    assert response.context["form"]["title"].value() == "Walnut standing desk"


def test_choosing_a_category_without_details_saves_at_once(seller_client, seller):
    plain = CategoryFactory(name="Misc", slug="misc", attribute_schema=[])
    bump_category_tree_version()
    data = {k: v for k, v in form_data(plain).items() if not k.startswith("attr_")}
    response = seller_client.post(create_url(), {**data, "rendered_for": ""})
    assert response.status_code == 302
    assert Listing.objects.get().attributes == {}


def test_the_service_refuses_details_that_do_not_fit_a_new_category(seller, desks, books):
    listing = draft(seller, desks)
    with pytest.raises(ServiceError) as refused:
        listing_update(listing=listing, actor=seller, data={"category_id": books.pk})
    assert refused.value.message == (
        "Books listings have no detail named adjustable, brand, height, material. Author is required."
    )
    listing.refresh_from_db()
    assert listing.category == desks


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"material": "Oak", "width": "30"}, "Width must be a number."),
        ({"material": "Oak", "width": True}, "Width must be a number."),
        ({"material": "Oak", "adjustable": "yes"}, "Height adjustable must be yes or no."),
        ({"material": "Teak"}, "Material must be one of Walnut, Oak."),
        ({"width": 3}, "Material is required."),
        ({"material": "Oak", "colour": "red"}, "Desks listings have no detail named colour."),
    ],
)
def test_the_service_types_details_itself(seller, desks, attributes, message):
    with pytest.raises(ServiceError) as refused:
        listing_create(
            seller=seller,
            data={
                "title": "Desk",
                "description": "A desk.",
                "category_id": desks.pk,
                "price_cents": 100,
                "attributes": attributes,
            },
        )
    assert refused.value.message == message
    assert not Listing.objects.exists()


# --- Price ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("price", "currency", "cents"),
    [("45.99", "USD", 4599), ("1,250.5", "EUR", 125050), ("1500", "JPY", 1500), (" 7 ", "GBP", 700)],
)
def test_price_is_parsed_exactly_in_its_currency(seller_client, desks, price, currency, cents):
    seller_client.post(create_url(), form_data(desks, price=price, currency=currency))
    listing = Listing.objects.get()
    assert (listing.price_cents, listing.currency) == (cents, currency)


@pytest.mark.parametrize(
    ("price", "currency", "message"),
    [
        ("45.999", "USD", "USD amounts have 2 decimal places."),
        ("12.5", "JPY", "JPY amounts have no decimals."),
        ("forty", "USD", "Enter an amount such as 45.99."),
        ("Infinity", "USD", "Enter an amount such as 45.99."),
        ("-5", "USD", "The amount cannot be negative."),
        ("0", "USD", "Enter a price above zero, or leave it empty for “Contact for price”."),
        ("99999999999", "USD", "The amount is too large."),
    ],
)
def test_bad_prices_are_refused(seller_client, desks, price, currency, message):
    response = seller_client.post(create_url(), form_data(desks, price=price, currency=currency))
    assert errors_of(response) == {"price": [message]}
    assert not Listing.objects.exists()


def test_a_fixed_price_listing_needs_a_price(seller_client, desks):
    response = seller_client.post(create_url(), form_data(desks, price=""))
    assert errors_of(response)["price"][0].startswith("A fixed-price listing needs a price")
    assert not Listing.objects.exists()


@pytest.mark.parametrize("pricing_type", ["negotiable", "hourly", "project"])
def test_other_pricing_may_leave_the_price_empty(seller_client, desks, pricing_type):
    seller_client.post(create_url(), form_data(desks, price="", pricing_type=pricing_type))
    assert Listing.objects.get().price_cents is None


def test_an_unknown_currency_is_refused(seller_client, desks):
    response = seller_client.post(create_url(), form_data(desks, currency="XYZ"))
    assert "currency" in errors_of(response)
    assert not Listing.objects.exists()


def test_the_editor_shows_the_stored_price_in_its_currency(seller_client, seller, desks):
    listing = draft(seller, desks, price_cents=1500, currency="JPY")
    assert seller_client.get(edit_url(listing)).context["form"]["price"].value() == "1500"


# --- Location -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"location_lat": "90.5"}, {"location_lat": ["Latitude must be between -90 and 90."]}),
        ({"location_lat": "-91"}, {"location_lat": ["Latitude must be between -90 and 90."]}),
        ({"location_lat": "1000"}, {"location_lat": ["Latitude must be between -90 and 90."]}),
        ({"location_lng": "180.01"}, {"location_lng": ["Longitude must be between -180 and 180."]}),
        ({"location_lng": "-181"}, {"location_lng": ["Longitude must be between -180 and 180."]}),
        ({"location_lat": "north"}, {"location_lat": ["Enter the latitude as a number, such as 30.2672."]}),
        (
            {"location_lat": "30.123456789"},
            {"location_lat": ["Latitude has at most 8 decimal places."]},
        ),
        ({"location_lng": ""}, {"location_lng": ["Give both latitude and longitude, or neither."]}),
        ({"location_lat": ""}, {"location_lat": ["Give both latitude and longitude, or neither."]}),
        (
            {"location_country": "XX"},
            {
                "location_country": [
                    "Enter the country as its two-letter ISO 3166 code, such as US, DE or JP."
                ]
            },
        ),
        (
            {"location_city": "x" * 101},
            {"location_city": ["Ensure this value has at most 100 characters (it has 101)."]},
        ),
    ],
)
def test_bad_locations_are_refused(seller_client, desks, overrides, errors):
    response = seller_client.post(create_url(), form_data(desks, **overrides))
    assert errors_of(response) == errors
    assert not Listing.objects.exists()


@pytest.mark.parametrize(("lat", "lng"), [("90", "180"), ("-90", "-180"), ("0", "0"), ("", "")])
def test_coordinates_at_their_limits_or_none_are_accepted(seller_client, desks, lat, lng):
    assert (
        seller_client.post(create_url(), form_data(desks, location_lat=lat, location_lng=lng)).status_code
        == 302
    )


def test_country_codes_are_stored_in_capitals(seller_client, desks):
    seller_client.post(create_url(), form_data(desks, location_country="de"))
    assert Listing.objects.get().location_country == "DE"


# --- SEO -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "length", "ok"),
    [
        ("meta_title", 60, True),
        ("meta_title", 61, False),
        ("meta_description", 160, True),
        ("meta_description", 161, False),
    ],
)
def test_seo_fields_keep_to_their_limits(seller_client, desks, field, length, ok):
    response = seller_client.post(create_url(), form_data(desks, **{field: "x" * length}))
    if ok:
        assert getattr(Listing.objects.get(), field) == "x" * length
    else:
        assert errors_of(response) == {
            field: [f"Ensure this value has at most {length - 1} characters (it has {length})."]
        }
        assert not Listing.objects.exists()


def test_the_service_enforces_lengths_too(seller, desks):
    listing = draft(seller, desks)
    with pytest.raises(ServiceError) as refused:
        listing_update(listing=listing, actor=seller, data={"meta_title": "x" * 61})
    assert refused.value.message == "The search-engine title must be at most 60 characters."


# --- Slugs ------------------------------------------------------------------------------------
def test_slugs_are_unique_with_a_short_random_suffix(seller_client, desks):
    for _ in range(3):
        seller_client.post(create_url(), form_data(desks, title="Oak desk!"))
    slugs = sorted(Listing.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == 3
    assert "oak-desk" in slugs
    for slug in slugs:
        assert slug == "oak-desk" or (slug.startswith("oak-desk-") and len(slug) == len("oak-desk-") + 6)


def test_a_title_without_latin_letters_still_gets_a_slug(seller_client, desks):
    seller_client.post(create_url(), form_data(desks, title="木製の机"))
    assert Listing.objects.get().slug == "listing"


def test_the_slug_is_not_editable_in_the_form(seller_client, desks):
    seller_client.post(create_url(), form_data(desks, slug="my-own-slug"))
    assert Listing.objects.get().slug == "walnut-standing-desk"


def test_the_slug_follows_the_title_until_published_then_never_changes(seller, desks):
    listing = listing_create(
        seller=seller,
        data={
            "title": "Oak desk",
            "description": "A desk.",
            "category_id": desks.pk,
            "price_cents": 100,
            "attributes": {"material": "Oak"},
        },
    )
    assert listing.slug == "oak-desk"
    listing = listing_update(listing=listing, actor=seller, data={"title": "Walnut desk"})
    assert listing.slug == "walnut-desk"
    listing = listing_update(listing=listing, actor=seller, data={"description": "Still a desk."})
    assert listing.slug == "walnut-desk"

    listing = listing_publish(listing=listing, actor=seller)
    listing = listing_update(listing=listing, actor=seller, data={"title": "Teak desk"})
    assert listing.slug == "walnut-desk"
    listing = listing_unpublish(listing=listing, actor=seller)
    listing = listing_update(listing=listing, actor=seller, data={"title": "Pine desk"})
    listing.refresh_from_db()
    assert (listing.title, listing.slug) == ("Pine desk", "walnut-desk")


def test_a_suffixed_slug_is_kept_while_the_title_stays(seller, desks):
    ListingFactory(slug="oak-desk")
    listing = listing_create(
        seller=seller,
        data={
            "title": "Oak desk",
            "description": "A desk.",
            "category_id": desks.pk,
            "price_cents": 100,
            "attributes": {"material": "Oak"},
        },
    )
    suffixed = listing.slug
    assert suffixed.startswith("oak-desk-")
    listing = listing_update(listing=listing, actor=seller, data={"description": "Changed."})
    assert listing.slug == suffixed


# --- Who may open the editor -------------------------------------------------------------------
def test_another_user_gets_404_for_the_editor_and_the_preview(client, seller, desks):
    listing = draft(seller, desks, title="Mine")
    client.force_login(SellerFactory())
    assert client.get(edit_url(listing)).status_code == 404
    assert client.get(reverse("sell:listing_preview", args=[listing.pk])).status_code == 404
    response = client.post(edit_url(listing), form_data(desks, title="Theirs"))
    assert response.status_code == 404
    listing.refresh_from_db()
    assert listing.title == "Mine"


def test_staff_are_not_owners_either(client, seller, desks):
    listing = draft(seller, desks)
    client.force_login(UserFactory(is_staff=True))
    assert client.get(edit_url(listing)).status_code == 404


def test_an_unknown_listing_is_404(seller_client):
    assert (
        seller_client.get(
            reverse("sell:listing_edit", args=["6f1c1d0e-1111-4222-8333-444455556666"])
        ).status_code
        == 404
    )


def test_anonymous_visitors_are_sent_to_log_in(client, seller, desks):
    listing = draft(seller, desks)
    for url in (create_url(), edit_url(listing), reverse("sell:listing_preview", args=[listing.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login") + "?next=")
    response = client.post(create_url(), form_data(desks))
    assert response.status_code == 302
    assert Listing.objects.count() == 1


def test_a_suspended_seller_cannot_edit_or_create(seller_client, seller, desks):
    listing = draft(seller, desks, title="Before")
    seller.account_status = AccountStatus.SUSPENDED
    seller.save(update_fields=["account_status"])
    response = seller_client.post(edit_url(listing), form_data(desks, title="After"))
    assert response.status_code == 200
    assert "Your account is suspended" in errors_of(response)["__all__"][0]
    listing.refresh_from_db()
    assert listing.title == "Before"
    response = seller_client.post(create_url(), form_data(desks))
    assert "Your account is suspended" in errors_of(response)["__all__"][0]
    assert Listing.objects.count() == 1


def test_sold_listings_are_shown_but_not_editable(seller_client, seller, desks):
    listing = ListingFactory(
        seller=seller,
        category=desks,
        status="sold",
        sold_at="2025-01-01T00:00Z",
        attributes=DESK_ATTRIBUTES,
        title="Sold desk",
    )
    response = seller_client.get(edit_url(listing))
    assert "This listing is sold, so it can no longer be edited." in response.content.decode()
    response = seller_client.post(edit_url(listing), form_data(desks, title="Changed"))
    assert errors_of(response)["__all__"] == ["This listing is sold, so it can no longer be edited."]
    listing.refresh_from_db()
    assert listing.title == "Sold desk"


# --- Rate limit -----------------------------------------------------------------------------------
def test_creating_listings_is_rate_limited_per_seller(seller_client, desks, settings, client):
    settings.LISTINGS_CREATED_PER_HOUR = 2
    for _ in range(2):
        assert seller_client.post(create_url(), form_data(desks)).status_code == 302
    response = seller_client.post(create_url(), form_data(desks))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    html = response.content.decode()
    assert "You can create up to 2 listings an hour" in html
    assert Listing.objects.count() == 2
    assert seller_client.get(create_url()).status_code == 429
    # Another seller has their own allowance.
    client.force_login(SellerFactory())
    assert client.post(create_url(), form_data(desks)).status_code == 302


def test_invalid_submissions_do_not_count_against_the_limit(seller_client, desks, settings):
    settings.LISTINGS_CREATED_PER_HOUR = 1
    for _ in range(3):
        assert seller_client.post(create_url(), form_data(desks, price="bad")).status_code == 200
    assert seller_client.post(create_url(), form_data(desks)).status_code == 302


# --- Preview --------------------------------------------------------------------------------------
def test_preview_shows_the_listing_page_as_buyers_see_it(seller_client, seller, desks):
    listing = draft(seller, desks, title="Preview desk", price_cents=4599, description="Very nice.")
    response = seller_client.get(reverse("sell:listing_preview", args=[listing.pk]))
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex"
    html = response.content.decode()
    assert "<strong>Preview.</strong>" in html
    assert "Preview desk" in html and "$45.99" in html and "Very nice." in html
    assert "Height adjustable" in html and "72.5 cm" in html
    assert "Buy now" in html and 'href="#preview-banner"' in html
    assert "Edit listing" not in html  # the owner's tools are not part of the buyers' view
    assert '<meta name="robots" content="noindex, nofollow">' in html


# --- Query counts ------------------------------------------------------------------------------
@pytest.mark.parametrize("details", [0, 12])
def test_editor_query_counts(seller_client, seller, desks, django_assert_max_num_queries, details):
    schema = [{"key": f"extra_{i}", "label": f"Extra {i}", "type": "text"} for i in range(details)]
    many = CategoryFactory(name="Many", slug="many", parent=desks, attribute_schema=schema)
    bump_category_tree_version()
    listing = draft(seller, many, attributes={"material": "Oak"})
    seller_client.get(create_url())  # warms the category tree
    # User.
    with django_assert_max_num_queries(1):
        assert seller_client.get(create_url()).status_code == 200
    # User, listing (category joined).
    with django_assert_max_num_queries(2):
        assert seller_client.get(edit_url(listing)).status_code == 200
    # User, listing, the seller's reviews.
    with django_assert_max_num_queries(3):
        assert seller_client.get(reverse("sell:listing_preview", args=[listing.pk])).status_code == 200


def test_saving_an_edit_has_a_fixed_query_count(seller_client, seller, desks, django_assert_max_num_queries):
    listing = draft(seller, desks)
    seller_client.get(edit_url(listing))
    # User, listing; in the service's transaction: lock, is the new slug free, and the UPDATE
    # in its savepoint (SAVEPOINT, UPDATE, RELEASE); the test's own transaction turns the
    # service's BEGIN/COMMIT into SAVEPOINT/RELEASE, counted here too.
    with django_assert_max_num_queries(9):
        assert seller_client.post(edit_url(listing), form_data(desks, title="Changed")).status_code == 302


# --- Page cache --------------------------------------------------------------------------------
def test_after_an_edit_the_public_page_shows_the_new_price(
    client, seller, desks, django_capture_on_commit_callbacks
):
    listing = ListingFactory(seller=seller, category=desks, attributes=DESK_ATTRIBUTES, price_cents=10_000)
    public_url = reverse("listings:detail", args=[listing.slug])
    assert "$100.00" in client.get(public_url).content.decode()  # now cached
    assert "$100.00" in client.get(public_url).content.decode()

    client.force_login(seller)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(edit_url(listing), form_data(desks, price="79.50"))
    assert response.status_code == 302
    assert callbacks  # the version bump ran on commit
    client.logout()
    html = client.get(public_url).content.decode()
    assert "$79.50" in html and "$100.00" not in html


def test_saving_without_changes_writes_nothing(seller, desks, django_capture_on_commit_callbacks):
    listing = draft(seller, desks)
    before = Listing.objects.get(pk=listing.pk).updated_at
    with django_capture_on_commit_callbacks() as callbacks:
        listing_update(
            listing=listing,
            actor=seller,
            data={"title": listing.title, "category_id": str(desks.pk), "attributes": dict(DESK_ATTRIBUTES)},
        )
    assert callbacks == []
    assert Listing.objects.get(pk=listing.pk).updated_at == before
