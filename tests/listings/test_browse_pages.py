"""Home, category and search pages: rendering, bad input, and fixed query counts."""

import pytest
from django.urls import reverse
from django.utils import timezone

from listings.categories import bump_category_tree_version
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"]},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    {"key": "shipping_included", "label": "Shipping included", "type": "boolean"},
]


@pytest.fixture
def tree():
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=[])
    bump_category_tree_version()
    return furniture, desks


def fill(category, count, **fields):
    return [ListingFactory(category=category, **fields) for _ in range(count)]


def test_home_shows_categories_featured_and_newest(client, tree):
    furniture, desks = tree
    ListingFactory(
        category=desks,
        title="Featured desk",
        featured=True,
        featured_until=timezone.now() + timezone.timedelta(days=3),
    )
    ListingFactory(
        category=desks,
        title="Expired feature",
        featured=True,
        featured_until=timezone.now() - timezone.timedelta(days=1),
    )
    ListingFactory(category=furniture, title="Plain sofa")
    response = client.get("/")
    assert response.status_code == 200
    featured = response.context["featured"]
    assert [listing.title for listing in featured] == ["Featured desk"]
    assert {listing.title for listing in response.context["newest"]} >= {"Plain sofa", "Featured desk"}
    html = response.content.decode()
    assert reverse("listings:category", args=["desks"]) in html
    assert 'rel="canonical"' in html


@pytest.mark.parametrize("count", [2, 15])
def test_home_query_count_is_fixed(client, tree, django_assert_max_num_queries, count):
    furniture, desks = tree
    fill(desks, count, featured=True, featured_until=timezone.now() + timezone.timedelta(days=1))
    client.get("/")  # warms the category tree cache
    with django_assert_max_num_queries(2):  # featured, newest
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_search_page_query_count_is_fixed(client, tree, django_assert_max_num_queries, count):
    furniture, desks = tree
    fill(desks, count, attributes={"material": "Walnut", "width": 30})
    client.get(reverse("listings:search"))  # warms the category tree cache
    url = reverse("listings:search") + "?q=listing&category=furniture&attr_material=Walnut&attr_width_max=40"
    # page, total, category facet, attribute facet; and the spelling lexicon when the results
    # fit on one page (issue 11, item 11)
    with django_assert_max_num_queries(5 if count <= 24 else 4):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["result"].listings) == min(count, 24)


def test_search_page_renders_filters_facets_and_next_page(client, tree):
    furniture, desks = tree
    fill(desks, 30, attributes={"material": "Oak"})
    response = client.get(reverse("listings:search"), {"category": "furniture"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "30 listings" in html
    # Schema-driven filters: enum checkboxes, number range with its unit, boolean checkbox.
    assert 'name="attr_material"' in html and 'value="Oak"' in html
    assert "Width min (in)" in html and 'name="attr_width_max"' in html
    assert 'name="attr_shipping_included"' in html
    assert 'rel="next"' in html
    next_url = response.context["result"].next_cursor
    second = client.get(reverse("listings:search"), {"category": "furniture", "cursor": next_url})
    assert len(second.context["result"].listings) == 6


@pytest.mark.parametrize(
    "query",
    [
        {"min_price": "abc"},
        {"category": "nope"},
        {"category": "furniture", "attr_width_min": "wide"},
        {"cursor": "tampered"},
        {"sort": "distance"},
        {"lat": "1000", "lng": "1"},
        {"radius_km": "-4", "near": "paris"},
        {"q": "\x00"},
    ],
)
def test_bad_search_input_gets_a_form_error_not_a_500(client, tree, query):
    response = client.get(reverse("listings:search"), query)
    assert response.status_code == 200
    assert response.context["result"] is None
    assert response.context["form"].errors
    assert b'class="error"' in response.content or b"form-errors" in response.content


def test_category_page_lists_descendants_with_breadcrumbs(client, tree, django_assert_max_num_queries):
    furniture, desks = tree
    ListingFactory(category=desks, title="A desk")
    ListingFactory(category=furniture, title="A sofa")
    client.get(reverse("listings:category", args=["desks"]))
    with django_assert_max_num_queries(4):
        response = client.get(reverse("listings:category", args=["furniture"]))
    assert {listing.title for listing in response.context["result"].listings} == {"A desk", "A sofa"}
    desk_page = client.get(reverse("listings:category", args=["desks"]))
    assert b'href="/c/furniture/"' in desk_page.content  # breadcrumb to the parent


def test_category_page_filters_redirect_to_the_shareable_search_url(client, tree):
    response = client.get(reverse("listings:category", args=["desks"]), {"q": "walnut"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("listings:search"))
    assert "category=desks" in response["Location"] and "q=walnut" in response["Location"]


def test_unknown_category_is_404(client, tree):
    assert client.get(reverse("listings:category", args=["nope"])).status_code == 404


@pytest.mark.parametrize("params", [{"q": "desk"}, {"q": "desk", "near": "new-york", "radius_km": "100"}])
def test_a_results_page_resolves_every_variable(client, tree, settings, caplog, params):
    # A variable the template engine cannot resolve costs it an exception and a dir() of the
    # object (30 us for a listing): every card of every results page would pay it.
    settings.SEARCH_PAGE_CACHE_TTL = 0
    _, desks = tree
    fill(desks, 3, title="Oak desk", location_lat=40.7, location_lng=-74.0, location_city="New York")
    with caplog.at_level("DEBUG", logger="django.template"):
        response = client.get(reverse("listings:search"), params)
    assert response.content.count(b'class="card"') == 3
    assert [record.getMessage() for record in caplog.records] == []


def test_a_category_slug_with_spaces_filters_every_page_by_that_category(client, tree, settings):
    settings.SEARCH_PAGE_CACHE_TTL = 0
    furniture, desks = tree
    fill(desks, 30, title="Oak desk")
    fill(furniture, 5, title="Oak shelf")
    first = client.get(reverse("listings:search"), {"category": " desks ", "sort": "newest"})
    html = first.content.decode()
    assert "Oak shelf" not in html and html.count('class="card"') == 24
    assert "category=desks" in html  # the next page keeps the filter the first one applied
    assert "30 listings" in html
