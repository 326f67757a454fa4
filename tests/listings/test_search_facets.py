"""``count_and_facets`` takes shortcuts (a total read off the category facet, the total and the
attribute facet in one query, no attribute facet for an empty search): each must give what
the three plain queries give, below and past the count cap."""

from unittest.mock import patch

import pytest
from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse

from listings.categories import bump_category_tree_version
from listings.models import Listing
from listings.search import facets
from listings.search.facets import count_and_facets
from listings.selectors import public_listings
from tests.factories import CategoryFactory, ListingFactory
from tests.listings.test_search import FURNITURE_SCHEMA, make_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    root = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=root, attribute_schema=[])
    chairs = CategoryFactory(name="Chairs", slug="chairs", parent=root, attribute_schema=[])
    other = CategoryFactory(name="Phones", slug="phones", attribute_schema=[])
    bump_category_tree_version()
    rows = [
        (desks, "Walnut desk", {"material": "Walnut", "width": 40, "shipping_included": True}),
        (desks, "Oak desk", {"material": "Oak", "width": 60}),
        (desks, "Pine desk", {"material": "Pine", "width": 48}),
        (desks, "Walnut standing desk", {"material": "Walnut", "width": 55}),
        (chairs, "Walnut chair", {"material": "Walnut"}),
        (chairs, "Oak chair", {"material": "Oak", "shipping_included": True}),
        (other, "Walnut phone case", {}),
    ]
    for category, title, attributes in rows:
        ListingFactory(category=category, title=title, attributes=attributes)
    return root, desks, chairs


def expected(params: dict, form) -> tuple[int, dict, dict]:
    """The counts by brute force over every public listing (no cap)."""
    matching = {listing.pk for listing in _filtered(params, form)}
    rows = list(public_listings())
    total = len(matching)
    without_category = _filtered({k: v for k, v in params.items() if k != "category"}, form)
    per_category: dict = {}
    for listing in without_category:
        per_category[str(listing.category_id)] = per_category.get(str(listing.category_id), 0) + 1
    plain = {k: v for k, v in params.items() if not k.startswith("attr_")}
    per_value: dict = {}
    unfiltered = {listing.pk for listing in _filtered(plain, form)}
    for listing in rows:
        if listing.pk in unfiltered:
            for key in [a["key"] for a in form.attribute_schema if a["type"] in ("enum", "boolean")]:
                if key in listing.attributes:
                    per_value[(key, listing.attributes[key])] = (
                        per_value.get((key, listing.attributes[key]), 0) + 1
                    )
    return total, per_category, per_value


def _filtered(params: dict, form):
    """Every filter of ``params`` on the public listings (this module's few filters only)."""
    qs = public_listings()
    if params.get("category"):
        qs = qs.filter(category_id__in=form.category_node.descendant_ids())
    if params.get("q"):
        qs = qs.filter(title__icontains=params["q"])
    if params.get("attr_material"):
        qs = qs.filter(attributes__material=params["attr_material"])
    if params.get("attr_width_min"):
        qs = qs.filter(Q(attributes__width__gte=int(params["attr_width_min"])))
    # The category facet of an attribute search counts only categories that define it.
    if any(key.startswith("attr_") for key in params) and not params.get("category"):
        qs = qs.exclude(category__slug="phones")
    return list(qs)


SEARCHES = [
    {"category": "furniture"},
    {"category": "desks"},
    {"q": "walnut", "category": "desks"},
    {"q": "walnut", "category": "furniture"},
    {"q": "walnut"},
    {"q": "teak", "category": "desks"},  # nothing
    {"q": "phone", "category": "desks"},  # nothing here, one elsewhere
    {"category": "furniture", "attr_material": "Walnut"},
    {"category": "desks", "attr_width_min": "50"},
    {"category": "desks", "attr_width_min": "500"},  # nothing
]


@pytest.mark.parametrize("params", SEARCHES)
@pytest.mark.parametrize("cap", [1_000, 2])
def test_the_counts_are_those_of_the_plain_queries(catalogue, monkeypatch, params, cap):
    monkeypatch.setattr(facets, "COUNT_CAP", cap)
    cache.clear()
    form = make_form(**params)
    assert form.is_valid(), form.errors
    total, capped, per_category, per_value = count_and_facets(form.cleaned_data, form)
    want_total, want_categories, want_values = expected(params, form)

    assert (total, capped) == (min(want_total, cap), want_total > cap)
    if sum(want_categories.values()) <= cap:
        assert per_category == want_categories
    else:  # the facet read cap + 1 rows: each count is at most the true one
        assert sum(per_category.values()) == cap + 1
        assert all(per_category[key] <= want_categories[key] for key in per_category)
    unfiltered_total = sum(
        1 for _ in _filtered({k: v for k, v in params.items() if not k.startswith("attr_")}, form)
    )
    if unfiltered_total <= cap:
        assert per_value == want_values
    else:
        assert all(count <= want_values[key] for key, count in per_value.items())


def test_a_small_category_search_is_two_queries_and_an_empty_one_is_one(catalogue, django_assert_num_queries):
    form = make_form(q="walnut", category="desks")
    assert form.is_valid()
    count_and_facets(form.cleaned_data, form)  # the category tree, cached
    cache.delete(facets.facets_cache_key(form.cleaned_data, form.tree.version))
    # The category facet gives the total; then the attribute facet.
    with django_assert_num_queries(2):
        assert count_and_facets(form.cleaned_data, form)[0] == 2
    form = make_form(q="teak", category="desks")
    assert form.is_valid()
    with django_assert_num_queries(1):  # nothing matches: no attribute facet to read
        total, _, _, per_value = count_and_facets(form.cleaned_data, form)
    assert total == 0 and per_value == {}


def test_past_the_facets_cap_the_total_and_the_attribute_facet_are_one_query(
    catalogue, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(facets, "COUNT_CAP", 2)
    form = make_form(q="walnut", category="desks")
    assert form.is_valid()
    count_and_facets(form.cleaned_data, form)
    cache.delete(facets.facets_cache_key(form.cleaned_data, form.tree.version))
    with django_assert_num_queries(2):  # the category facet (capped), then total + values
        total, capped, _, per_value = count_and_facets(form.cleaned_data, form)
    assert (total, capped) == (2, False)
    assert per_value == {("material", "Walnut"): 2, ("shipping_included", True): 1}


def test_facets_are_cached_for_their_ttl_and_not_at_all_at_zero(
    catalogue, settings, django_assert_num_queries
):
    form = make_form(q="walnut", category="desks")
    assert form.is_valid()
    key = facets.facets_cache_key(form.cleaned_data, form.tree.version)
    cache.delete(key)
    first = count_and_facets(form.cleaned_data, form)
    assert cache.get(key) == first
    with django_assert_num_queries(0):  # the cached counts
        assert count_and_facets(form.cleaned_data, form) == first

    settings.SEARCH_FACETS_TTL = 0
    cache.delete(key)
    with (
        patch.object(facets.cache, "get") as get,
        patch.object(facets.cache, "set") as store,
        django_assert_num_queries(2),  # read every time, never filed
    ):
        assert count_and_facets(form.cleaned_data, form) == first
    get.assert_not_called()
    store.assert_not_called()
    assert cache.get(key) is None


@pytest.mark.parametrize(
    "odd", [{"material": ["Walnut"]}, {"material": {"a": 1}}, {"shipping_included": [True]}, {"material": 3}]
)
def test_a_value_of_another_json_type_counts_for_no_option(catalogue, client, odd):
    """The services refuse such values (``attributes_normalise``); a raw write can store them,
    and the counts then leave them out instead of failing every search of the category."""
    _, desks, _ = catalogue
    odd_one = ListingFactory(category=desks, title="Odd desk")
    Listing.objects.filter(pk=odd_one.pk).update(attributes=odd)
    form = make_form(category="furniture")
    assert form.is_valid()
    _, _, _, per_value = count_and_facets(form.cleaned_data, form)
    assert per_value == {
        ("material", "Walnut"): 3,
        ("material", "Oak"): 2,
        ("material", "Pine"): 1,
        ("shipping_included", True): 2,
    }
    response = client.get(reverse("listings:search"), {"category": "furniture"})
    assert response.status_code == 200 and "Odd desk" in response.content.decode()
