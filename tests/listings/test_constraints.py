"""The database itself refuses bad categories, listings and favorites.

Rows are written with ``.objects.create``, ``QuerySet.update`` or raw SQL so that no
Python validation runs: only the constraints stand between the row and the table.
"""

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from listings.models import Category, Favorite, Listing
from tests.factories import CategoryFactory, FavoriteFactory, ListingFactory, SellerFactory

pytestmark = pytest.mark.django_db


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


LOOP_ID = "00000000-0000-4000-8000-000000000001"


def update_listing(listing: Listing, **values) -> None:
    Listing.objects.filter(pk=listing.pk).update(**values)


# Category


def test_category_slug_is_unique():
    CategoryFactory(slug="furniture")
    with rejected("listings_category_slug_unique"):
        CategoryFactory(slug="furniture")
    CategoryFactory(slug="furniture-2")


def test_category_cannot_be_its_own_parent():
    category = CategoryFactory()
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Category.objects.filter(pk=category.pk).update(parent=category)
    # check_violation: the cycle trigger (BEFORE, so it speaks first) or the CHECK behind it.
    assert excinfo.value.__cause__.sqlstate == "23514"


def test_own_parent_check_stands_even_without_the_cycle_trigger():
    """The CHECK is the backstop: with every user trigger off, it alone refuses the row."""
    with connection.cursor() as cursor:
        # Transactional DDL: the test's rollback turns the triggers back on. (Before any write:
        # ALTER TABLE is refused while the table has pending deferred FK checks.)
        cursor.execute("ALTER TABLE listings_category DISABLE TRIGGER USER")
    category = CategoryFactory()
    with rejected("listings_category_not_own_parent"):
        Category.objects.filter(pk=category.pk).update(parent=category)
    with rejected("listings_category_not_own_parent"), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO listings_category (id, name, slug, icon, sort_order, attribute_schema, parent_id)"
            " VALUES (%s, 'Loop', 'loop', '', 0, '[]', %s)",
            [LOOP_ID, LOOP_ID],
        )


def test_category_may_have_another_category_as_parent():
    parent = CategoryFactory()
    child = CategoryFactory(parent=parent)
    assert child.parent_id == parent.pk


@pytest.mark.parametrize("schema", [{}, {"key": "width"}, "width", 3])
def test_category_attribute_schema_must_be_a_json_array(schema):
    category = CategoryFactory()
    with rejected("listings_category_attribute_schema_is_array"):
        Category.objects.filter(pk=category.pk).update(attribute_schema=schema)


def test_category_attribute_schema_json_null_is_refused_in_raw_sql():
    category = CategoryFactory()
    with rejected("listings_category_attribute_schema_is_array"), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE listings_category SET attribute_schema = 'null'::jsonb WHERE id = %s", [category.pk]
        )


def test_category_attribute_schema_array_is_accepted():
    category = CategoryFactory(attribute_schema=[])
    Category.objects.filter(pk=category.pk).update(
        attribute_schema=[{"key": "width", "label": "Width", "type": "number"}]
    )


# Listing: money and currency


@pytest.mark.parametrize("price", [-1, -10_000])
def test_listing_price_cannot_be_negative(price):
    with rejected("listings_listing_price_non_negative"):
        ListingFactory(price_cents=price)


def test_listing_price_cannot_be_made_negative_by_update():
    listing = ListingFactory()
    with rejected("listings_listing_price_non_negative"):
        update_listing(listing, price_cents=-1)


@pytest.mark.parametrize("price", [None, 0, 1, 9_000_000_000_000])
def test_listing_price_zero_empty_or_beyond_32_bits_is_accepted(price):
    listing = ListingFactory(price_cents=price)
    listing.refresh_from_db()
    assert listing.price_cents == price


@pytest.mark.parametrize("currency", ["usd", "US", "Usd", "U1D", "   ", ""])
def test_listing_currency_must_be_three_capital_letters(currency):
    with rejected("listings_listing_currency_iso4217"):
        ListingFactory(currency=currency)


def test_listing_currency_cannot_be_lowercased_by_update():
    listing = ListingFactory()
    with rejected("listings_listing_currency_iso4217"):
        update_listing(listing, currency="eur")


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_listing_iso_currency_is_accepted(currency):
    ListingFactory(currency=currency)


# Listing: choices


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("status", "listings_listing_status_valid"),
        ("visibility", "listings_listing_visibility_valid"),
        ("pricing_type", "listings_listing_pricing_type_valid"),
    ],
)
def test_listing_choice_fields_refuse_unknown_values_on_insert(field, constraint):
    with rejected(constraint):
        ListingFactory(**{field: "bogus"})


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("status", "listings_listing_status_valid"),
        ("visibility", "listings_listing_visibility_valid"),
        ("pricing_type", "listings_listing_pricing_type_valid"),
    ],
)
@pytest.mark.parametrize("value", ["bogus", "", "Active"])
def test_listing_choice_fields_refuse_unknown_values_on_update(field, constraint, value):
    listing = ListingFactory()
    with rejected(constraint):
        update_listing(listing, **{field: value})


@pytest.mark.parametrize("status", Listing.Status.values)
def test_every_listing_status_is_accepted_with_its_dates(status):
    now = timezone.now()
    listing = ListingFactory(status=status, published_at=now, sold_at=now if status == "sold" else None)
    assert listing.status == status


@pytest.mark.parametrize("visibility", Listing.Visibility.values)
def test_every_listing_visibility_is_accepted(visibility):
    ListingFactory(visibility=visibility)


@pytest.mark.parametrize("pricing_type", Listing.PricingType.values)
def test_every_listing_pricing_type_is_accepted(pricing_type):
    ListingFactory(pricing_type=pricing_type)


# Listing: lifecycle dates


@pytest.mark.parametrize("status", ["active", "reserved", "sold"])
def test_published_listing_needs_published_at(status):
    with rejected("listings_listing_published_has_published_at"):
        ListingFactory(status=status, published_at=None, sold_at=timezone.now())


def test_published_at_cannot_be_cleared_on_an_active_listing():
    listing = ListingFactory(status="active")
    with rejected("listings_listing_published_has_published_at"):
        update_listing(listing, published_at=None)


@pytest.mark.parametrize("status", ["draft", "archived"])
def test_draft_and_archived_listings_need_no_published_at(status):
    ListingFactory(status=status, published_at=None)


def test_sold_listing_needs_sold_at():
    with rejected("listings_listing_sold_has_sold_at"):
        ListingFactory(status="sold", sold_at=None)


def test_listing_cannot_be_marked_sold_by_update_without_sold_at():
    listing = ListingFactory(status="active")
    with rejected("listings_listing_sold_has_sold_at"):
        update_listing(listing, status="sold")


def test_sold_listing_with_sold_at_is_accepted():
    listing = ListingFactory(status="active")
    update_listing(listing, status="sold", sold_at=timezone.now())


# Listing: location


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (Decimal("90.00000001"), Decimal("0")),
        (Decimal("-91"), Decimal("0")),
        (Decimal("0"), Decimal("180.00000001")),
        (Decimal("0"), Decimal("-181")),
        (Decimal("99"), Decimal("999")),
    ],
)
def test_listing_location_must_be_on_earth(lat, lng):
    with rejected("listings_listing_location_valid"):
        ListingFactory(location_lat=lat, location_lng=lng)


@pytest.mark.parametrize(
    ("lat", "lng"),
    [
        (None, None),
        (Decimal("90"), Decimal("180")),
        (Decimal("-90"), Decimal("-180")),
        (Decimal("40.71277600"), Decimal("-74.00597400")),
    ],
)
def test_listing_location_on_earth_or_empty_is_accepted(lat, lng):
    ListingFactory(location_lat=lat, location_lng=lng)


@pytest.mark.parametrize(("lat", "lng"), [(Decimal("10"), None), (None, Decimal("10"))])
def test_listing_location_needs_both_coordinates_or_neither(lat, lng):
    with rejected("listings_listing_location_valid"):
        ListingFactory(location_lat=lat, location_lng=lng)


# Listing: JSON shapes


@pytest.mark.parametrize("attributes", [[], ["material"], "Walnut", 3, True])
def test_listing_attributes_must_be_a_json_object(attributes):
    listing = ListingFactory()
    with rejected("listings_listing_attributes_is_object"):
        update_listing(listing, attributes=attributes)


def test_listing_attributes_json_null_is_refused_in_raw_sql():
    listing = ListingFactory()
    with rejected("listings_listing_attributes_is_object"), connection.cursor() as cursor:
        cursor.execute("UPDATE listings_listing SET attributes = 'null'::jsonb WHERE id = %s", [listing.pk])


def test_listing_attributes_object_is_accepted():
    ListingFactory(attributes={"material": "Walnut", "width": 72})


@pytest.mark.parametrize("field", ["images", "videos"])
@pytest.mark.parametrize("value", [{}, {"url": "a.jpg"}, "a.jpg", 1])
def test_listing_media_must_be_json_arrays(field, value):
    listing = ListingFactory()
    with rejected("listings_listing_media_are_arrays"):
        update_listing(listing, **{field: value})


def test_listing_media_arrays_are_accepted():
    ListingFactory(images=[{"url": "a.jpg"}], videos=[])


# Listing: counters and uniqueness


@pytest.mark.parametrize("field", ["view_count", "favorite_count", "inquiry_count"])
def test_listing_counters_cannot_go_negative(field):
    listing = ListingFactory()
    with rejected("listings_listing_counters_non_negative"):
        update_listing(listing, **{field: -1})


def test_listing_slug_is_unique():
    ListingFactory(slug="walnut-table")
    with rejected("listings_listing_slug_unique"):
        ListingFactory(slug="walnut-table")
    ListingFactory(slug="walnut-table-2")


def test_listing_share_token_is_unique():
    listing = ListingFactory()
    with rejected("listings_listing_share_token_unique"):
        ListingFactory(share_token=listing.share_token)


def test_listing_insert_in_raw_sql_gets_checked_too():
    seller = SellerFactory()
    category = CategoryFactory()
    with rejected("listings_listing_price_non_negative"), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO listings_listing (
                id, seller_id, category_id, title, slug, description, price_cents, currency,
                pricing_type, attributes, images, videos, primary_image_url, location_country,
                location_city, status, visibility, share_token, featured, meta_title,
                meta_description, view_count, favorite_count, inquiry_count)
            VALUES (gen_random_uuid(), %s, %s, 'T', 'raw-sql', 'D', -5, 'USD', 'fixed', '{}', '[]',
                    '[]', '', '', '', 'draft', 'public', 'tok-raw', false, '', '', 0, 0, 0)
            """,
            [seller.pk, category.pk],
        )


# Favorite


def test_favorite_is_unique_per_user_and_listing():
    favorite = FavoriteFactory()
    with rejected("listings_favorite_unique"):
        Favorite.objects.create(user=favorite.user, listing=favorite.listing)


def test_same_user_may_favorite_other_listings_and_others_the_same_listing():
    favorite = FavoriteFactory()
    Favorite.objects.create(user=favorite.user, listing=ListingFactory())
    FavoriteFactory(listing=favorite.listing)
    assert Favorite.objects.count() == 3
