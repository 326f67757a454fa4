"""Saved-search matching: a listing matches a saved search exactly when the search itself
finds it (a table of listings and filters: typed attributes, price in a currency, radius,
keywords with accents and prefixes, categories with descendants), once per listing and saved
search, and the alerts go out as their frequency says."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AccountStatus
from alerts.models import SavedSearch, SavedSearchMatch, Watermark
from alerts.services import (
    MATCH_WATERMARK,
    match_new_listings,
    saved_search_create,
    send_daily_digests,
    tell_matches,
)
from listings.categories import bump_category_tree_version
from listings.cities import CITIES_BY_SLUG
from listings.search import run_search
from marketplace.errors import ErrorCode, ServiceError
from notifications.models import Notification
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory
from tests.jobs import queued_jobs, run_jobs
from tests.listings.test_search import FURNITURE_SCHEMA, make_form, offset

pytestmark = pytest.mark.django_db

NYC = CITIES_BY_SLUG["new-york"]


@pytest.fixture
def world():
    root = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=root, attribute_schema=[])
    lamps = CategoryFactory(name="Lamps", slug="lamps", attribute_schema=[])
    bump_category_tree_version()
    seller = SellerFactory()
    banned = SellerFactory(account_status=AccountStatus.BANNED)
    near = offset(NYC.lat, NYC.lng, 20)
    far = offset(NYC.lat, NYC.lng, 140)
    rows = {
        "walnut desk": dict(
            category=desks, title="Walnut desk", attributes={"material": "Walnut", "width": 48}
        ),
        "oak desk eur": dict(
            category=desks,
            title="Oak writing desk",
            currency="EUR",
            price_cents=20_000,
            attributes={"material": "Oak", "width": 8},
        ),
        "cafe table": dict(
            category=root,
            title="Café table",
            description="Small bistro table",
            attributes={"width": 16, "shipping_included": True},
        ),
        "lamp near": dict(category=lamps, title="Brass lamp", location_lat=near[0], location_lng=near[1]),
        "lamp far": dict(category=lamps, title="Brass lamp far", location_lat=far[0], location_lng=far[1]),
        "negotiable lamp": dict(
            category=lamps, title="Desk lamp", pricing_type="negotiable", price_cents=None
        ),
        "draft desk": dict(category=desks, title="Draft desk", status="draft", published_at=None),
        "banned desk": dict(category=desks, title="Banned desk", seller=banned),
    }
    listings = {}
    for name, fields in rows.items():
        fields = {"seller": seller, "published_at": timezone.now(), **fields}
        for key in ("location_lat", "location_lng"):
            if key in fields:
                fields[key] = Decimal(str(round(fields[key], 6)))
        listings[name] = ListingFactory(**fields)
    return listings


SEARCHES = [
    {"q": "desk"},
    {"q": "desk", "category": "furniture"},
    {"q": "cafe"},  # accents folded
    {"q": "caf"},  # prefix
    {"q": "walnut OR oak"},
    {"q": "desk -lamp"},
    {"category": "desks"},
    {"category": "furniture", "attr_width_min": "10"},  # 8 < 10 < 16 < 48: numbers, not text
    {"category": "furniture", "attr_material": ["Oak", "Walnut"]},
    {"category": "furniture", "attr_shipping_included": "on"},
    {"min_price": "150", "currency": "EUR"},
    {"max_price": "150", "currency": "USD"},
    {"pricing_type": "negotiable"},
    {"near": "new-york", "radius_km": "50"},
    {"q": "brass", "near": "new-york", "radius_km": "200"},
    {"q": "nothing-matches-this"},
]


def _found_by_search(params) -> set:
    form = make_form(**params, sort="newest")
    assert form.is_valid(), form.errors
    return {listing.pk for listing in run_search(form).listings}


def test_a_match_is_exactly_what_the_search_finds(world):
    buyer = UserFactory()
    searches = [saved_search_create(user=buyer, params=_params(p)) for p in SEARCHES]
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    run = match_new_listings()
    assert run.listings == 6  # the draft and the banned seller's listing are not new public listings
    for params, saved in zip(SEARCHES, searches, strict=True):
        matched = set(
            SavedSearchMatch.objects.filter(saved_search=saved).values_list("listing_id", flat=True)
        )
        assert matched == _found_by_search(params), params
    # The table is not vacuous: most searches find something, one finds nothing.
    assert sum(1 for s in searches if s.matches.exists()) >= len(SEARCHES) - 2


def _params(params: dict) -> dict:
    return {key: value for key, value in params.items()}


def test_each_listing_alerts_once_per_saved_search(world, django_capture_on_commit_callbacks):
    buyer = UserFactory()
    saved_search_create(user=buyer, params={"category": "desks"})
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    first = match_new_listings()
    again = match_new_listings()  # the overlap re-reads the same listings
    assert first.matches == 2 and again.matches == 0
    assert len(queued_jobs("alerts.tell_matches")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        tell_matches(saved_search_ids=[str(s.pk) for s in SavedSearch.objects.all()])  # a replay: nothing new
    [note] = Notification.objects.filter(user=buyer, type="saved_search_match")
    assert note.title.startswith("2 new listings")


def test_own_listings_and_off_alerts_do_not_match(world):
    seller = world["walnut desk"].seller
    saved_search_create(user=seller, params={"category": "desks"})
    off = saved_search_create(user=UserFactory(), params={"category": "desks"}, alert="off")
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    assert match_new_listings().matches == 0
    assert not off.matches.exists()


def test_daily_alerts_wait_for_the_digest_then_go_once(world, django_capture_on_commit_callbacks):
    buyer = UserFactory()
    saved_search_create(user=buyer, params={"category": "desks"}, alert="daily")
    saved_search_create(user=buyer, params={"q": "lamp"}, alert="daily")
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    match_new_listings()
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    assert not Notification.objects.filter(user=buyer).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_daily_digests() == 1
        assert send_daily_digests() == 0
    [note] = Notification.objects.filter(user=buyer)
    assert note.title == "Your daily alerts: 5 new listings"


def test_a_listing_published_later_is_matched_by_the_next_run(world):
    buyer = UserFactory()
    saved = saved_search_create(user=buyer, params={"q": "sofa"})
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    match_new_listings()
    assert not saved.matches.exists()
    sofa = ListingFactory(title="Green sofa", published_at=timezone.now())
    match_new_listings(now=timezone.now() + timedelta(minutes=2))
    assert list(saved.matches.values_list("listing_id", flat=True)) == [sofa.pk]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Add a keyword or a filter"),
        ({"sort": "newest"}, "Add a keyword or a filter"),
        ({"category": "no-such-category"}, "Choose a category"),
        ({"min_price": "abc"}, "Enter an amount"),
        ({"min_price": "20", "max_price": "10"}, "maximum price is below"),
    ],
)
def test_bad_searches_are_not_saved(world, params, message):
    with pytest.raises(ServiceError) as excinfo:
        saved_search_create(user=UserFactory(), params=params)
    assert message in excinfo.value.message
    assert not SavedSearch.objects.exists()


def test_saving_twice_keeps_one_and_the_cap_holds(world, settings):
    buyer = UserFactory()
    first = saved_search_create(user=buyer, params={"q": "desk", "sort": "newest", "cursor": ""})
    again = saved_search_create(user=buyer, params={"sort": "price_asc", "q": " desk "})
    assert first.pk == again.pk and first.query == {"q": "desk"}
    settings.SAVED_SEARCHES_MAX = 1
    with pytest.raises(ServiceError) as excinfo:
        saved_search_create(user=buyer, params={"q": "lamp"})
    assert excinfo.value.code == ErrorCode.LIMIT_REACHED
    assert SavedSearch.objects.count() == 1


def test_one_run_records_at_most_the_cap_per_saved_search(world, settings):
    settings.ALERTS_MAX_LISTINGS_PER_RUN = 2
    saved = saved_search_create(user=UserFactory(), params={"category": "furniture"})
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(hours=1))
    assert match_new_listings().matches == 2  # three furniture listings are new
    assert saved.matches.count() == 2
