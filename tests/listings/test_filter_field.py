"""The search filters' field (``{% filter_field %}``) gives the markup of the include it
replaced (``listings/_filter_field.html``), for every field of valid and invalid forms."""

import pytest
from django.template import engines

from listings.categories import bump_category_tree_version
from tests.factories import CategoryFactory
from tests.listings.test_search import make_form

pytestmark = pytest.mark.django_db

INCLUDE = engines["django"].from_string('{% include "listings/_filter_field.html" %}')
TAG = engines["django"].from_string("{% load search_filters %}{% filter_field field %}")
SCHEMA = [
    {"key": "material", "label": "Material & <finish>", "type": "enum", "options": ["Oak", "Pine & co"]},
    {"key": "width", "label": 'Width "W"', "type": "number", "unit": "in"},
    {"key": "shipping_included", "label": "Shipping <included>", "type": "boolean"},
]

CASES = [
    {},
    {"q": 'oak "desk" <b>&', "sort": "price_asc", "min_price": "10", "max_price": "20", "currency": "EUR"},
    {"near": "new-york", "radius_km": "25", "pricing_type": "hourly"},
    {"lat": "40.7", "lng": "-74", "radius_km": "5", "sort": "distance"},
    # Invalid: every kind of field error.
    {"min_price": "abc", "max_price": "1.234", "lat": "91", "radius_km": "0", "sort": "nope"},
    {"lat": "40.7", "category": "<nowhere>", "currency": "XYZ", "near": "atlantis"},
    {"q": "x" * 201, "sort": "distance"},
    # The category's details: checkboxes (through the template), numbers, a range error.
    {"category": "furniture", "attr_material": ["Oak", "Pine & co"], "attr_shipping_included": "on"},
    {"category": "furniture", "attr_width_min": "40", "attr_width_max": "20", "attr_material": "Teak"},
]


@pytest.mark.parametrize("params", CASES)
def test_every_field_renders_as_the_include_did(params):
    CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    bump_category_tree_version()
    form = make_form(**params)
    form.is_valid()
    fields = list(form)
    assert len(fields) >= 12
    for field in fields:
        assert TAG.render({"field": field}) == INCLUDE.render({"field": field}), field.name
    if params.get("min_price") == "abc":
        assert 'class="field field-invalid"' in TAG.render({"field": form["min_price"]})
        assert "min_price_error" in TAG.render({"field": form["min_price"]})
    if params.get("q", "").startswith("oak"):
        assert "&lt;b&gt;&amp;" in TAG.render({"field": form["q"]})
