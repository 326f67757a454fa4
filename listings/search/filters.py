"""Which listings match a search: every filter of the cleaned form applied to the public
listings (the page, the counts and the facets all start here)."""

from django.db.models import F, FloatField, Q, QuerySet, Value
from django.db.models.lookups import LessThanOrEqual

from listings.models import Listing
from listings.search.expressions import (
    AsJsonPath,
    CubeContains,
    EarthBox,
    EarthDistance,
    JsonPathExists,
    earth_point,
    keyword_query,
    listing_earth,
    number_path,
)
from listings.search.form import SearchForm
from listings.selectors import public_listings

PRICE_SORTS = ("price_asc", "price_desc")


def filtered_listings(
    data: dict, form: SearchForm, *, with_attributes: bool = True, radius_box: bool = True
) -> QuerySet[Listing]:
    """Every filter of ``data`` (cleaned form data) applied to the public listings.

    ``radius_box=False`` leaves out the earth_box condition (the distance filter alone still
    applies): then the planner walks the sort's own index instead of the location index.
    """
    qs = public_listings()
    if form.category_node is not None:
        qs = qs.filter(category_id__in=form.category_node.descendant_ids())
    query = keyword_query(data.get("q") or "")
    if query is not None:
        qs = qs.filter(search_vector=query)
    if data.get("min_price_cents") is not None or data.get("max_price_cents") is not None:
        qs = qs.filter(currency=data["currency"], price_cents__isnull=False)
        if data.get("min_price_cents") is not None:
            qs = qs.filter(price_cents__gte=data["min_price_cents"])
        if data.get("max_price_cents") is not None:
            qs = qs.filter(price_cents__lte=data["max_price_cents"])
    if data.get("pricing_type"):
        qs = qs.filter(pricing_type=data["pricing_type"])
    if data.get("sort") in PRICE_SORTS:
        # Prices compare within one currency; "contact for price" has no place in a price order.
        qs = qs.filter(currency=data["currency"], price_cents__isnull=False)
    if data.get("point"):
        meters = float(data["radius_km"] * 1000)
        # earth_box is a square that the GiST index answers; earth_distance trims its corners.
        qs = qs.filter(
            LessThanOrEqual(EarthDistance(earth_point(data["point"]), listing_earth()), meters),
            location_lat__isnull=False,
        )
        if radius_box:
            qs = qs.filter(
                CubeContains(
                    EarthBox(earth_point(data["point"]), Value(meters, FloatField())), listing_earth()
                )
            )
    if with_attributes:
        for attribute, value in form.attribute_filters():
            key = attribute["key"]
            if attribute["type"] == "number":
                qs = qs.filter(JsonPathExists(F("attributes"), AsJsonPath(Value(number_path(key, *value)))))
            elif attribute["type"] == "boolean":
                qs = qs.filter(attributes__contains={key: True})
            else:
                any_of = Q()
                for option in value:
                    any_of |= Q(attributes__contains={key: option})
                qs = qs.filter(any_of)
    return qs


class WithoutCategory:
    """The form as the category facet sees it: every filter but the category."""

    def __init__(self, form: SearchForm):
        self._form = form
        self.category_node = None

    def attribute_filters(self):
        return self._form.attribute_filters()
