"""Search correctness: every filter alone and combined, against rows built to catch the
classic mistakes (text-versus-number comparisons, categories without descendants, square
radius boxes, invisible listings, pagination gaps)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from listings.categories import bump_category_tree_version
from listings.cities import CITIES_BY_SLUG
from listings.search import CURSOR_SALT, PAGE_SIZE, SearchForm, keyword_query, run_search
from tests.factories import CategoryFactory, ListingFactory, SellerFactory

pytestmark = pytest.mark.django_db

FURNITURE_SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak", "Pine"]},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    {"key": "shipping_included", "label": "Shipping included", "type": "boolean"},
    {"key": "brand", "label": "Brand", "type": "text"},
]


def search(**params) -> list[str]:
    return [listing.title for listing in run(**params).listings]


def run(**params):
    form = make_form(**params)
    assert form.is_valid(), form.errors
    return run_search(form)


def make_form(**params) -> SearchForm:
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, [str(item) for item in value] if isinstance(value, list) else [str(value)])
    return SearchForm(query)


@pytest.fixture
def furniture():
    root = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=root, attribute_schema=[])
    standing = CategoryFactory(
        name="Standing desks", slug="standing-desks", parent=desks, attribute_schema=[]
    )
    bump_category_tree_version()
    return root, desks, standing


@pytest.fixture
def electronics():
    category = CategoryFactory(name="Electronics", slug="electronics", attribute_schema=[])
    bump_category_tree_version()
    return category


def test_keywords_rank_title_above_description(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="Oak bookshelf", description="Pairs well with a walnut desk.")
    ListingFactory(category=root, title="Walnut desk", description="Mid-century, solid wood.")
    assert search(q="walnut") == ["Walnut desk", "Oak bookshelf"]


def test_keywords_follow_websearch_syntax(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="Mid century walnut desk")
    ListingFactory(category=root, title="Century old oak desk")
    ListingFactory(category=root, title="Walnut chair")
    assert set(search(q='"mid century"')) == {"Mid century walnut desk"}
    assert set(search(q="desk -oak")) == {"Mid century walnut desk"}
    assert set(search(q="chair OR oak")) == {"Walnut chair", "Century old oak desk"}


def test_last_word_matches_as_a_prefix(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="Walnut desk")
    ListingFactory(category=root, title="Oak tables")
    assert search(q="walnu") == ["Walnut desk"]
    assert search(q="desk walnu") == ["Walnut desk"]
    # The whole last word still matches through stemming ("tables" is stored as "tabl").
    assert search(q="tables") == ["Oak tables"]
    assert search(q="zzz") == []


def test_keyword_query_only_prefixes_a_plain_last_word():
    assert keyword_query("") is None
    assert "'des:*'" in str(keyword_query("walnut des"))
    assert ":*" not in str(keyword_query('"walnut desk"'))
    assert ":*" not in str(keyword_query("oak OR walnut"))
    assert ":*" not in str(keyword_query("desk -oak"))


def test_empty_query_lists_everything_matching_filters_newest_first(furniture, electronics):
    root, _, _ = furniture
    now = timezone.now()
    ListingFactory(category=root, title="Older", published_at=now - timedelta(days=2))
    ListingFactory(category=electronics, title="Newer", published_at=now - timedelta(days=1))
    assert search() == ["Newer", "Older"]
    assert search(category="furniture") == ["Older"]


def test_category_includes_all_descendants(furniture, electronics):
    root, desks, standing = furniture
    ListingFactory(category=root, title="Sofa")
    ListingFactory(category=desks, title="Desk")
    ListingFactory(category=standing, title="Standing desk")
    ListingFactory(category=electronics, title="Phone")
    assert set(search(category="furniture")) == {"Sofa", "Desk", "Standing desk"}
    assert set(search(category="desks")) == {"Desk", "Standing desk"}
    assert search(category="standing-desks") == ["Standing desk"]


def test_number_attributes_compare_as_numbers_not_text(furniture):
    root, desks, _ = furniture
    ListingFactory(category=desks, title="Narrow", attributes={"width": 60})
    ListingFactory(category=desks, title="Wide", attributes={"width": 100})
    ListingFactory(category=desks, title="Exactly 72", attributes={"width": 72})
    # A malformed row with the number stored as text must neither match nor break the query.
    ListingFactory(category=desks, title="Text width", attributes={"width": "100"})
    assert set(search(category="desks", attr_width_max="72")) == {"Narrow", "Exactly 72"}
    assert set(search(category="desks", attr_width_min="72")) == {"Wide", "Exactly 72"}
    assert set(search(category="desks", attr_width_min="61", attr_width_max="99.5")) == {"Exactly 72"}


def test_enum_and_boolean_attribute_filters(furniture):
    root, _, _ = furniture
    ListingFactory(
        category=root, title="Walnut, shipped", attributes={"material": "Walnut", "shipping_included": True}
    )
    ListingFactory(
        category=root, title="Oak, pickup", attributes={"material": "Oak", "shipping_included": False}
    )
    ListingFactory(category=root, title="Pine", attributes={"material": "Pine"})
    assert search(category="furniture", attr_material="Oak") == ["Oak, pickup"]
    assert set(search(category="furniture", attr_material=["Oak", "Walnut"])) == {
        "Walnut, shipped",
        "Oak, pickup",
    }
    assert search(category="furniture", attr_shipping_included="on") == ["Walnut, shipped"]


def test_price_range_compares_cents_within_one_currency(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="$72.00", price_cents=7200)
    ListingFactory(category=root, title="$100.00", price_cents=10000)
    ListingFactory(category=root, title="$1,000.00", price_cents=100000)
    ListingFactory(category=root, title="€80", price_cents=8000, currency="EUR")
    ListingFactory(category=root, title="Contact", price_cents=None)
    assert set(search(min_price="72", max_price="100")) == {"$72.00", "$100.00"}
    assert set(search(max_price="99.99")) == {"$72.00"}
    assert set(search(min_price="100.00")) == {"$100.00", "$1,000.00"}
    assert search(min_price="50", currency="EUR") == ["€80"]


def test_pricing_type_filter(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="Fixed", pricing_type="fixed")
    ListingFactory(category=root, title="Hourly", pricing_type="hourly")
    assert search(pricing_type="hourly") == ["Hourly"]


def offset(lat: float, lng: float, km_north: float):
    """A point km_north kilometres north of (lat, lng) (one degree of latitude ~ 111.2 km)."""
    return Decimal(str(round(lat + km_north / 111.195, 6))), Decimal(str(lng))


def test_radius_search_uses_true_distance_not_the_box(furniture):
    root, _, _ = furniture
    ny = CITIES_BY_SLUG["new-york"]
    for name, km in [("At center", 0), ("9 km", 9), ("11 km", 11)]:
        lat, lng = offset(ny.lat, ny.lng, km)
        ListingFactory(category=root, title=name, location_lat=lat, location_lng=lng)
    # A corner of the 10 km box but ~14 km away: inside earth_box, outside the circle.
    corner_lat, _ = offset(ny.lat, ny.lng, 10 * 0.99)
    ListingFactory(
        category=root,
        title="Box corner",
        location_lat=corner_lat,
        location_lng=Decimal(str(round(ny.lng + 9.9 / (111.195 * 0.7580), 6))),
    )
    ListingFactory(category=root, title="Nowhere", location_lat=None, location_lng=None)
    assert set(search(near="new-york", radius_km=10)) == {"At center", "9 km"}
    assert search(lat=ny.lat, lng=ny.lng, radius_km=10, sort="distance") == ["At center", "9 km"]
    assert search(near="new-york", radius_km=20, sort="distance") == [
        "At center",
        "9 km",
        "11 km",
        "Box corner",
    ]


def test_only_active_public_listings_of_non_banned_sellers_are_found(furniture):
    root, _, _ = furniture
    banned = SellerFactory(account_status=AccountStatus.BANNED)
    suspended = SellerFactory(account_status=AccountStatus.SUSPENDED)
    ListingFactory(category=root, title="Visible")
    ListingFactory(category=root, title="Suspended seller's", seller=suspended)
    ListingFactory(category=root, title="Draft", status="draft", published_at=None)
    ListingFactory(category=root, title="Sold", status="sold", sold_at=timezone.now())
    ListingFactory(category=root, title="Reserved", status="reserved")
    ListingFactory(category=root, title="Archived", status="archived")
    ListingFactory(category=root, title="Unlisted", visibility="unlisted")
    ListingFactory(category=root, title="Private", visibility="private")
    ListingFactory(category=root, title="Banned seller's", seller=banned)
    # Suspension stops new sales and messages; the listings already live stay findable.
    assert set(search()) == {"Visible", "Suspended seller's"}


@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc", "relevance", "distance"])
def test_keyset_pagination_has_no_duplicates_or_gaps(furniture, sort):
    root, _, _ = furniture
    ny = CITIES_BY_SLUG["new-york"]
    same_time = timezone.now()
    total = PAGE_SIZE * 2 + 5
    for index in range(total):
        lat, lng = offset(ny.lat, ny.lng, index % 7)  # many equal distances
        ListingFactory(
            category=root,
            title=f"Walnut item {index}",
            description="walnut " * (index % 3 + 1),
            price_cents=None if index % 11 == 0 else (index % 5) * 1000,  # ties and no-price rows
            published_at=same_time - timedelta(minutes=index % 4),  # ties in time
            location_lat=lat,
            location_lng=lng,
        )
    params = {"sort": sort, "q": "walnut"}
    if sort == "distance":
        params["near"] = "new-york"
    seen, cursor, pages = [], None, 0
    while True:
        result = run(**params, **({"cursor": cursor} if cursor else {}))
        seen.extend(listing.id for listing in result.listings)
        pages += 1
        cursor = result.next_cursor
        if not cursor:
            break
    expected = total - len(range(0, total, 11)) if sort.startswith("price") else total
    assert pages == (expected + PAGE_SIZE - 1) // PAGE_SIZE
    assert len(seen) == len(set(seen)) == expected


def test_price_sorts_order_priced_listings_of_one_currency(furniture):
    root, _, _ = furniture
    ListingFactory(category=root, title="Cheap", price_cents=100)
    ListingFactory(category=root, title="Contact", price_cents=None)
    ListingFactory(category=root, title="Dear", price_cents=900)
    ListingFactory(category=root, title="Euros", price_cents=500, currency="EUR")
    assert search(sort="price_asc") == ["Cheap", "Dear"]
    assert search(sort="price_desc") == ["Dear", "Cheap"]
    assert search(sort="price_asc", currency="EUR") == ["Euros"]


def test_facets_count_categories_and_attribute_values_for_the_current_query(furniture, electronics):
    root, desks, standing = furniture
    ListingFactory(
        category=desks, title="Walnut desk", attributes={"material": "Walnut", "shipping_included": True}
    )
    ListingFactory(category=standing, title="Walnut standing desk", attributes={"material": "Walnut"})
    ListingFactory(category=root, title="Oak desk", attributes={"material": "Oak"})
    ListingFactory(category=electronics, title="Desk lamp")
    ListingFactory(category=root, title="Walnut sofa", attributes={"material": "Walnut"})

    result = run(q="desk")
    top = {facet.node.slug: facet for facet in result.category_facets}
    assert top["furniture"].count == 3 and top["electronics"].count == 1
    assert {child.node.slug: child.count for child in top["furniture"].children} == {"desks": 2}

    result = run(q="desk", category="furniture", attr_material="Oak")
    assert [listing.title for listing in result.listings] == ["Oak desk"]
    material = next(facet for facet in result.attribute_facets if facet.key == "material")
    # Attribute counts ignore the attribute filters, so the other options stay visible.
    assert {value.label: value.count for value in material.counts} == {"Walnut": 2, "Oak": 1, "Pine": 0}
    assert next(value for value in material.counts if value.label == "Oak").selected
    shipping = next(facet for facet in result.attribute_facets if facet.key == "shipping_included")
    assert shipping.counts[0].count == 1
    # The category facet ignores the category filter but keeps the others.
    assert {facet.node.slug: facet.count for facet in result.category_facets} == {"furniture": 1}


def test_counts_are_capped(furniture, monkeypatch):
    root, _, _ = furniture
    monkeypatch.setattr("listings.search.facets.COUNT_CAP", 3)
    for _ in range(PAGE_SIZE + 1):
        ListingFactory(category=root)
    result = run()
    assert result.total_capped and result.total_display == "3+"
    # When everything fits on the page, its length is the exact count.
    assert run(pricing_type="hourly").total_display == "0"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"min_price": "-5"}, "min_price"),
        ({"min_price": "1.234"}, "min_price"),
        ({"min_price": "1e400"}, "min_price"),
        ({"min_price": "NaN"}, "min_price"),
        ({"min_price": "20", "max_price": "10"}, "max_price"),
        ({"currency": "ZZZ"}, "currency"),
        ({"category": "no-such-category"}, "category"),
        ({"category": "furniture", "attr_width_min": "wide"}, "attr_width_min"),
        ({"category": "furniture", "attr_width_min": "10", "attr_width_max": "5"}, "attr_width_max"),
        ({"category": "furniture", "attr_material": "Plastic"}, "attr_material"),
        ({"lat": "91", "lng": "0"}, "lat"),
        ({"lat": "40"}, "lng"),
        ({"near": "atlantis"}, "near"),
        ({"near": "new-york", "radius_km": "0"}, "radius_km"),
        ({"near": "new-york", "radius_km": "999999"}, "radius_km"),
        ({"sort": "cheapest"}, "sort"),
        ({"sort": "distance"}, "sort"),
        ({"cursor": "forged"}, "__all__"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_bad_input_is_a_form_error(furniture, params, field):
    form = make_form(**params)
    assert not form.is_valid()
    assert field in form.errors


def test_cursor_of_another_sort_is_refused(furniture):
    root, _, _ = furniture
    for _ in range(PAGE_SIZE + 1):
        ListingFactory(category=root)
    cursor = run(sort="newest").next_cursor
    form = make_form(sort="price_asc", cursor=cursor)
    assert not form.is_valid()
    assert "another sort order" in str(form.errors)


_ID = "3f2b8a9e-6c1d-4e5f-9a7b-1c2d3e4f5a6b"
_WHEN = "2026-11-30T12:00:00+00:00"


@pytest.mark.parametrize(
    ("params", "payload"),
    [
        ({"sort": "newest"}, {"sort": "newest", "value": None, "id": _ID}),
        ({"sort": "newest"}, {"sort": "newest", "value": "not a date", "id": _ID}),
        ({"sort": "newest"}, {"sort": "newest", "value": _WHEN}),
        ({"sort": "newest"}, {"sort": "newest", "value": _WHEN, "id": "not-a-uuid"}),
        ({"sort": "newest"}, {"sort": "newest", "value": _WHEN, "id": 7}),
        ({"sort": "price_asc"}, {"sort": "price_asc", "value": "abc", "id": _ID}),
        ({"sort": "price_desc"}, {"sort": "price_desc", "value": 12.5, "id": _ID}),
        ({"sort": "price_asc"}, {"sort": "price_asc", "value": True, "id": _ID}),
        ({"sort": "distance", "near": "new-york"}, {"sort": "distance", "value": "x", "id": _ID}),
        ({"q": "walnut"}, {"sort": "relevance", "zone": 0, "value": [1, "x", _WHEN], "id": _ID}),
        ({"q": "walnut"}, {"sort": "relevance", "zone": 0, "value": [1, 0.5, "yesterday"], "id": _ID}),
        ({"q": "walnut"}, {"sort": "relevance", "zone": 1, "value": 3, "id": _ID}),
        ({"sort": "newest"}, ["newest", _WHEN, _ID]),
        ({"sort": "newest"}, "newest"),
    ],
)
def test_a_signed_cursor_holding_something_else_is_a_form_error(client, furniture, params, payload):
    """A link signed with our key but not holding what this release's cursors hold (another
    release's format) is refused like a tampered one, never a server error."""
    cursor = signing.dumps(payload, salt=CURSOR_SALT)
    form = make_form(**params, cursor=cursor)
    assert not form.is_valid()
    assert "no longer valid" in str(form.errors)
    response = client.get(reverse("listings:search"), {**params, "cursor": cursor})
    assert response.status_code == 200
    assert "no longer valid" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "payload"),
    [
        ({"sort": "newest"}, {"sort": "newest", "value": _WHEN, "id": _ID}),
        ({"sort": "price_asc"}, {"sort": "price_asc", "value": 1250, "id": _ID}),
        ({"sort": "distance", "near": "new-york"}, {"sort": "distance", "value": 1234.5, "id": _ID}),
        ({"q": "walnut"}, {"sort": "relevance", "zone": 0, "value": [1, 0.5, _WHEN], "id": _ID}),
        ({"q": "walnut"}, {"sort": "relevance", "zone": 1, "value": _WHEN, "id": _ID}),
    ],
)
def test_a_cursor_of_each_sort_is_taken(furniture, params, payload):
    form = make_form(**params, cursor=signing.dumps(payload, salt=CURSOR_SALT))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["after"] == payload
    run_search(form)  # continues from it


def test_counts_and_facets_are_cached_briefly_but_a_complete_page_counts_exactly(
    furniture, django_assert_num_queries
):
    root, _, _ = furniture
    ListingFactory(category=root, title="First")
    run()  # tree, counts and facets cached
    with django_assert_num_queries(1):  # the page itself is always read fresh
        result = run()
    assert result.total == 1
    ListingFactory(category=root, title="Second")
    result = run()
    assert {listing.title for listing in result.listings} == {"First", "Second"}
    assert result.total == 2 and result.total_display == "2"
