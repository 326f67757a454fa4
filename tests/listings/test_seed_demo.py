"""seed_demo: a small load is complete, typed by its schemas, consistent with its counters,
reproducible from its seed, and safe to run against a database that already has data."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from PIL import Image

from accounts.models import User
from listings.attributes import validate_attribute_schema
from listings.categories import category_tree
from listings.cities import CITIES
from listings.demo import DEMO_BUYER_EMAIL, DEMO_PASSWORD, DEMO_SELLER_EMAIL
from listings.models import Category, Favorite, Listing
from marketplace.counters import repair_listing_favorite_count
from tests.factories import CategoryFactory, ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

LISTINGS = 60


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--listings", str(LISTINGS), *args, verbosity=0, stdout=out)
    return out.getvalue()


def wipe() -> None:
    """Empty every table the load writes, as a fresh database would be."""
    with connection.cursor() as cursor:
        for table in ("listings_favorite", "listings_listing", "accounts_user", "listings_category"):
            cursor.execute(f"DELETE FROM {table}")


def merged_schema(category: Category) -> list[dict]:
    """The category's attributes after its ancestors' (a key defined once), as search sees them."""
    chain = []
    while category is not None:
        chain.append(category.attribute_schema)
        category = category.parent
    merged, seen = [], set()
    for schema in reversed(chain):
        for entry in schema:
            if entry["key"] not in seen:
                seen.add(entry["key"])
                merged.append(entry)
    return merged


def attribute_errors(schema: list[dict], attributes: dict) -> list[str]:
    by_key = {entry["key"]: entry for entry in schema}
    errors = [f"unknown attribute {key}" for key in attributes if key not in by_key]
    for key, entry in by_key.items():
        if key not in attributes:
            if entry.get("required"):
                errors.append(f"{key} is required")
            continue
        value, kind = attributes[key], entry["type"]
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.append(f"{key}={value!r} is not a JSON number")
        elif kind == "enum" and value not in entry["options"]:
            errors.append(f"{key}={value!r} is not one of its options")
        elif kind == "boolean" and not isinstance(value, bool):
            errors.append(f"{key}={value!r} is not a boolean")
        elif kind == "text" and not (isinstance(value, str) and value):
            errors.append(f"{key}={value!r} is not text")
    return errors


def snapshot() -> list[tuple]:
    return list(Listing.objects.order_by("slug").values_list("slug", "title", "price_cents", "currency"))


def test_a_small_load_builds_a_whole_marketplace(django_capture_on_commit_callbacks):
    assert category_tree().by_slug == {}  # cached before the load: the load must invalidate it
    with django_capture_on_commit_callbacks(execute=True):
        output = seed("--no-images")

    assert DEMO_PASSWORD in output
    tree = {c.slug: c for c in Category.objects.select_related("parent")}
    expected = {
        "furniture": ["desks", "chairs", "tables", "sofas"],
        "electronics": ["phones", "laptops", "cameras"],
        "vehicles": ["cars", "bikes"],
        "services": ["design", "tutoring", "repairs"],
        "home-garden": ["garden", "lighting", "kitchen"],
    }
    for root, children in expected.items():
        assert tree[root].parent is None
        for child in children:
            assert tree[child].parent == tree[root]
    for category in tree.values():
        validate_attribute_schema(category.attribute_schema)
    assert {"condition", "material", "width", "brand", "shipping_included"} <= {
        entry["key"] for entry in tree["furniture"].attribute_schema
    }
    assert {"year", "mileage", "fuel"} <= {entry["key"] for entry in tree["vehicles"].attribute_schema}
    assert "desks" in category_tree().by_slug

    assert User.objects.count() == LISTINGS
    for email in (DEMO_SELLER_EMAIL, DEMO_BUYER_EMAIL):
        user = User.objects.get(email=email)
        assert user.check_password(DEMO_PASSWORD)
        assert user.email_verified_at is not None
    assert User.objects.get(email=DEMO_SELLER_EMAIL).is_seller
    assert User.objects.filter(is_seller=True, kyc_verified_at__isnull=False).exists()
    for name in User.objects.filter(is_seller=True).values_list("seller_display_name", flat=True):
        assert 2 <= len(name) <= 80 and name == " ".join(name.split())
    # One hash for everyone: hashing is the slow part of creating users.
    assert User.objects.values("password").distinct().count() == 1

    listings = list(Listing.objects.select_related("category__parent__parent", "seller"))
    assert len(listings) == LISTINGS
    cities = {city.name: city for city in CITIES}
    for listing in listings:
        assert not listing.category.children.exists(), "listings belong to leaf categories"
        assert attribute_errors(merged_schema(listing.category), listing.attributes) == [], listing.title
        assert listing.seller.is_seller
        assert listing.currency in settings.CURRENCIES
        assert listing.price_cents is None or (
            isinstance(listing.price_cents, int) and listing.price_cents > 0
        )
        assert listing.search_vector is not None
        if listing.location_city:
            city = cities[listing.location_city]
            assert abs(float(listing.location_lat) - city.lat) < 0.1
            assert listing.location_country == city.country
    statuses = [listing.status for listing in listings]
    assert statuses.count("active") > LISTINGS / 2
    assert any(listing.status == "active" and listing.visibility == "public" for listing in listings)
    assert len({listing.category_id for listing in listings}) >= 10
    assert Listing.objects.filter(seller__email=DEMO_SELLER_EMAIL).exists()


def test_photos_are_drawn_once_and_shared_by_url():
    seed()
    listings = list(Listing.objects.all())
    urls = set()
    for listing in listings:
        assert listing.images, listing.title
        assert listing.primary_image_url == listing.images[0]
        urls.update(listing.images)
    assert len(urls) >= 12
    for url in urls:
        name = url.removeprefix(default_storage.base_url)
        assert name.startswith("demo/")
        assert default_storage.exists(name)
        with default_storage.open(name) as file, Image.open(file) as image:
            assert image.format == "JPEG"
    _, files = default_storage.listdir("demo")
    assert len(files) >= 24  # a few dozen distinct photos, whether or not every one was used


def test_favorites_match_every_listings_count_and_the_trigger_is_back_on():
    seed("--no-images")
    favorites = Favorite.objects.count()
    assert favorites > 0
    counted = Listing.objects.annotate(rows=Count("favorites")).values_list("favorite_count", "rows")
    assert all(stored == rows for stored, rows in counted)
    assert repair_listing_favorite_count(dry_run=True) == 0
    assert Favorite.objects.filter(user__email=DEMO_BUYER_EMAIL).exists()
    assert not Favorite.objects.filter(listing__status="draft").exists()

    listing = Listing.objects.filter(status="active").exclude(favorites__user__email=DEMO_BUYER_EMAIL).first()
    before = listing.favorite_count
    Favorite.objects.create(user=User.objects.get(email=DEMO_BUYER_EMAIL), listing=listing)
    listing.refresh_from_db()
    assert listing.favorite_count == before + 1


def test_the_same_seed_gives_the_same_listings():
    seed("--no-images")
    first = snapshot()
    wipe()
    seed("--no-images")
    assert snapshot() == first
    wipe()
    seed("--no-images", "--seed", "7")
    assert snapshot() != first


def test_if_empty_loads_once_and_then_does_nothing():
    seed("--if-empty", "--no-images")
    counts = (User.objects.count(), Listing.objects.count(), Favorite.objects.count())
    assert counts[1] == LISTINGS

    output = seed("--if-empty", "--no-images")
    assert "no demo data loaded" in output
    assert (User.objects.count(), Listing.objects.count(), Favorite.objects.count()) == counts


def test_refuses_a_database_that_has_listings():
    ListingFactory()
    with pytest.raises(CommandError, match="already has 1 listings"):
        seed("--no-images")
    assert Listing.objects.count() == 1


def test_reuses_existing_demo_accounts_and_categories():
    """A database with people and categories but no listings: nothing existing is changed."""
    seller = UserFactory(email="Seller@Example.com", is_seller=False)
    password = seller.password
    desks_schema = [{"key": "legs", "label": "Legs", "type": "number", "required": True}]
    desks = CategoryFactory(name="Desks", slug="desks", attribute_schema=desks_schema)

    output = seed("--no-images")

    assert "already existed" in output
    seller.refresh_from_db()
    assert seller.password == password
    assert seller.is_seller
    assert User.objects.filter(email__iexact=DEMO_SELLER_EMAIL).count() == 1
    desks.refresh_from_db()
    assert desks.attribute_schema == desks_schema
    for listing in Listing.objects.filter(category=desks):
        assert isinstance(listing.attributes["legs"], int)
        assert attribute_errors(desks_schema, listing.attributes) == []


def test_indexes_dropped_for_the_load_come_back_the_same():
    def indexes():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename IN ('listings_listing', 'listings_favorite') ORDER BY indexname"
            )
            return cursor.fetchall()

    before = indexes()
    assert any("gin" in definition for _, definition in before)
    seed("--no-images")
    assert indexes() == before


def test_a_load_that_meets_an_earlier_ones_users_fails_cleanly():
    """Users of an earlier load (whose listings are gone) stay; the same seed would make the
    same ids again: a clear error, nothing written. Another seed loads beside them."""
    call_command(
        "seed_demo", "--listings", "0", "--users", "40", "--no-images", verbosity=0, stdout=StringIO()
    )
    assert User.objects.count() == 40

    with pytest.raises(CommandError, match="another --seed"):
        call_command(
            "seed_demo", "--listings", "5", "--users", "40", "--no-images", verbosity=0, stdout=StringIO()
        )
    assert (User.objects.count(), Listing.objects.count()) == (40, 0)

    call_command(
        "seed_demo",
        "--listings",
        "5",
        "--users",
        "40",
        "--seed",
        "7",
        "--no-images",
        verbosity=0,
        stdout=StringIO(),
    )
    assert (User.objects.count(), Listing.objects.count()) == (78, 5)  # the two demo accounts are reused
