"""What the search does to stay fast at a million listings without changing its answers: the
number-attribute table kept by a trigger, and the category facet limited to the categories
that define the filtered attributes."""

import pytest
from django.db import connection
from django.http import QueryDict

from listings.categories import bump_category_tree_version
from listings.models import Listing
from listings.search import SearchForm, run_search
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db

WIDTH = [{"key": "width", "label": "Width", "type": "number"}]


def run(**params):
    query = QueryDict(mutable=True)
    query.update(params)
    form = SearchForm(query)
    assert form.is_valid(), form.errors
    return run_search(form)


def numbers(listing) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, value FROM listings_listing_number WHERE listing_id = %s", [listing.pk])
        return {key: float(value) for key, value in cursor.fetchall()}


def test_number_table_follows_every_write_of_the_attributes():
    desks = CategoryFactory(name="Desks", slug="desks", attribute_schema=WIDTH)
    bump_category_tree_version()
    listing = ListingFactory(category=desks, title="Desk", attributes={"width": 60})
    assert numbers(listing) == {"width": 60.0}
    assert [found.title for found in run(category="desks", attr_width_min="50").listings] == ["Desk"]

    Listing.objects.filter(pk=listing.pk).update(attributes={"width": 90})
    assert numbers(listing) == {"width": 90.0}
    assert run(category="desks", attr_width_max="70").listings == []
    assert [found.title for found in run(category="desks", attr_width_min="80").listings] == ["Desk"]

    # Text is not a number: it leaves the table (and every number filter).
    Listing.objects.filter(pk=listing.pk).update(attributes={"width": "90"})
    assert numbers(listing) == {}
    assert run(category="desks", attr_width_min="80").listings == []

    Listing.objects.filter(pk=listing.pk).update(attributes={"width": 75.5})
    pk = listing.pk
    listing.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM listings_listing_number WHERE listing_id = %s", [pk])
        assert cursor.fetchone()[0] == 0


def test_category_facet_of_an_attribute_search_counts_every_category_defining_it():
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=WIDTH)
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=[])
    tables = CategoryFactory(name="Tables", slug="tables", attribute_schema=WIDTH)
    lamps = CategoryFactory(name="Lamps", slug="lamps", attribute_schema=[])
    bump_category_tree_version()
    ListingFactory(category=desks, title="Wide desk", attributes={"width": 80})  # inherits width
    ListingFactory(category=tables, title="Wide table", attributes={"width": 90})
    ListingFactory(category=tables, title="Narrow table", attributes={"width": 30})
    ListingFactory(category=lamps, title="Lamp")

    result = run(category="desks", attr_width_min="50")
    assert [listing.title for listing in result.listings] == ["Wide desk"]
    counts = {facet.node.slug: facet.count for facet in result.category_facets}
    assert counts == {"furniture": 1, "tables": 1}
