"""Which listings match a search: every filter of the cleaned form applied to the public
listings (the page, the counts and the facets all start here)."""

from decimal import Decimal

from django.db.models import BooleanField, FloatField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.lookups import LessThanOrEqual

from listings.models import Listing
from listings.search.expressions import (
    CubeContains,
    EarthBox,
    EarthDistance,
    earth_point,
    keyword_query,
    listing_earth,
)
from listings.search.form import SearchForm
from listings.selectors import public_listings

PRICE_SORTS = ("price_asc", "price_desc")


def filtered_listings(
    data: dict,
    form: SearchForm,
    *,
    with_attributes: bool = True,
    radius_box: bool = True,
    with_keywords: bool = True,
) -> QuerySet[Listing]:
    """Every filter of ``data`` (cleaned form data) applied to the public listings.

    ``with_keywords=False`` leaves out the keywords (best match's title candidates apply the
    title's own match instead). ``radius_box=False`` leaves out the earth_box condition (the
    distance filter alone still applies): then the planner walks the sort's own index
    instead of the location index.
    """
    # Collected, then applied in one filter(): each filter() call clones the query (50 µs).
    conditions: list = []
    if form.category_node is not None:
        conditions.append(Q(category_id__in=form.category_node.descendant_ids()))
    elif with_attributes and getattr(form, "attribute_category_ids", None):
        # The category facet: only the categories that define the filtered attributes can
        # hold a match, and this lets the category index find them.
        conditions.append(Q(category_id__in=form.attribute_category_ids))
    query = keyword_query(data.get("q") or "") if with_keywords else None
    if query is not None:
        conditions.append(Q(search_vector=query))
    if data.get("min_price_cents") is not None or data.get("max_price_cents") is not None:
        conditions.append(Q(currency=data["currency"], price_cents__isnull=False))
        if data.get("min_price_cents") is not None:
            conditions.append(Q(price_cents__gte=data["min_price_cents"]))
        if data.get("max_price_cents") is not None:
            conditions.append(Q(price_cents__lte=data["max_price_cents"]))
    if data.get("pricing_type"):
        conditions.append(Q(pricing_type=data["pricing_type"]))
    if data.get("sort") in PRICE_SORTS:
        # Prices compare within one currency; "contact for price" has no place in a price order.
        conditions.append(Q(currency=data["currency"], price_cents__isnull=False))
    if data.get("point"):
        meters = float(data["radius_km"] * 1000)
        # earth_box is a square that the GiST index answers; earth_distance trims its corners.
        conditions.append(LessThanOrEqual(EarthDistance(earth_point(data["point"]), listing_earth()), meters))
        conditions.append(Q(location_lat__isnull=False))
        if radius_box:
            conditions.append(
                CubeContains(
                    EarthBox(earth_point(data["point"]), Value(meters, FloatField())), listing_earth()
                )
            )
    if with_attributes:
        for attribute, value in form.attribute_filters():
            key = attribute["key"]
            if attribute["type"] == "number":
                conditions.append(number_in_range(key, *value))
            elif attribute["type"] == "boolean":
                conditions.append(Q(attributes__contains={key: True}))
            else:
                any_of = Q()
                for option in value:
                    any_of |= Q(attributes__contains={key: option})
                conditions.append(any_of)
    qs = public_listings()
    return qs.filter(*conditions) if conditions else qs


class WithoutCategory:
    """The form as the category facet sees it: every filter but the category.

    With attribute filters, ``attribute_category_ids`` names the categories whose schema
    (their own or inherited) defines every filtered attribute with the same type: a listing's
    attributes are checked against its category's schema on every write
    (``listings.services.attributes_normalise``), so no other category holds a match. Without
    it the facet scans every listing when nothing matches.
    """

    def __init__(self, form: SearchForm):
        self._form = form
        self.category_node = None
        self.attribute_category_ids = None
        wanted = {(attribute["key"], attribute["type"]) for attribute, _ in form.attribute_filters()}
        if wanted:
            self.attribute_category_ids = [
                node.id for node, defined in _schemas(form.tree.roots, frozenset()) if wanted <= defined
            ]

    def attribute_filters(self):
        return self._form.attribute_filters()


def _schemas(nodes, inherited: frozenset):
    """(node, its (key, type) pairs with its ancestors') for every node of the tree."""
    for node in nodes:
        defined = inherited | {
            (attribute.get("key"), attribute.get("type")) for attribute in node.attribute_schema
        }
        yield node, defined
        yield from _schemas(node.children, defined)


def number_in_range(key: str, low: Decimal | None, high: Decimal | None) -> RawSQL:
    """The listing has the number attribute ``key`` within [low, high] (either may be None).

    Read from ``listings_listing_number`` (listings migration 0012: one row per number
    attribute, kept by a trigger), whose (key, value) index answers a range and gives the
    planner real statistics; a text value never matches, as with the typed schema. Compared
    as numbers: ``"8" <= "16"`` is false in text, true here.
    """
    tests, params = ["number.key = %s"], [key]
    if low is not None:
        tests.append("number.value >= %s")
        params.append(low)
    if high is not None:
        tests.append("number.value <= %s")
        params.append(high)
    sql = (
        "EXISTS (SELECT 1 FROM listings_listing_number AS number "  # noqa: S608 - constant
        f'WHERE number.listing_id = "listings_listing"."id" AND {" AND ".join(tests)})'
    )
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611 - constant SQL, values as params
