"""Which listings match a search: every filter of the cleaned form applied to the public
listings (the page, the counts and the facets all start here).

The filters are written once, as SQL conditions on ``listings_listing`` (``search_where``):
the ORM's querysets take them as one condition (``filtered_listings``, for best match and
the tests), and the counts and the page of the other orders are plain SELECTs around them
(``matching_sql``), with no queryset to build and compile (that cost more than the queries
of a price or radius search at a million listings, ``bench/README.md``).
"""

import functools
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql import Query

from listings.models import Listing
from listings.search.expressions import keyword_query
from listings.search.form import SearchForm
from listings.selectors import public_listings

PRICE_SORTS = ("price_asc", "price_desc")
TABLE = '"listings_listing"'
# The listing's position, exactly as the listings_listing_location index computes it
# (``expressions.listing_earth``).
LISTING_EARTH = (
    f'll_to_earth(({TABLE}."location_lat")::double precision, ({TABLE}."location_lng")::double precision)'
)
POINT_EARTH = "ll_to_earth(%s, %s)"


def search_where(
    data: dict,
    form: SearchForm,
    *,
    with_attributes: bool = True,
    radius_box: bool = True,
    with_keywords: bool = True,
) -> tuple[str, list]:
    """Every filter of ``data`` (cleaned form data) as one SQL condition on
    ``"listings_listing"`` and its parameters; ``("", [])`` when there is none. The public
    rule (``public_listings``) is not in it.

    ``with_keywords=False`` leaves out the keywords (best match's title candidates apply the
    title's own match instead). ``radius_box=False`` leaves out the earth_box condition (the
    distance filter alone still applies): then the planner walks the sort's own index
    instead of the location index.
    """
    conditions: list[str] = []
    params: list = []
    category_ids = None
    if form.category_node is not None:
        category_ids = form.category_node.descendant_ids()
    elif with_attributes and getattr(form, "attribute_category_ids", None):
        # The category facet: only the categories that define the filtered attributes can
        # hold a match, and this lets the category index find them.
        category_ids = form.attribute_category_ids
    if category_ids:
        conditions.append(f'{TABLE}."category_id" IN ({", ".join(["%s"] * len(category_ids))})')
        params.extend(category_ids)
    query = keyword_query(data.get("q") or "") if with_keywords else None
    if query is not None:
        sql, query_params = _expression_sql(query)
        conditions.append(f'{TABLE}."search_vector" @@ {sql}')
        params.extend(query_params)
    low, high = data.get("min_price_cents"), data.get("max_price_cents")
    if low is not None or high is not None or data.get("sort") in PRICE_SORTS:
        # Prices compare within one currency; "contact for price" has no place in a price
        # range or a price order.
        conditions.append(f'{TABLE}."currency" = %s AND {TABLE}."price_cents" IS NOT NULL')
        params.append(data["currency"])
        if low is not None:
            conditions.append(f'{TABLE}."price_cents" >= %s')
            params.append(low)
        if high is not None:
            conditions.append(f'{TABLE}."price_cents" <= %s')
            params.append(high)
    if data.get("pricing_type"):
        conditions.append(f'{TABLE}."pricing_type" = %s')
        params.append(data["pricing_type"])
    if data.get("point"):
        lat, lng = data["point"]
        meters = float(data["radius_km"] * 1000)
        # earth_box is a square that the GiST index answers; earth_distance trims its corners.
        conditions.append(f"earth_distance({POINT_EARTH}, {LISTING_EARTH}) <= %s")
        conditions.append(f'{TABLE}."location_lat" IS NOT NULL')
        params.extend([float(lat), float(lng), meters])
        if radius_box:
            conditions.append(f"(earth_box({POINT_EARTH}, %s) @> {LISTING_EARTH})")
            params.extend([float(lat), float(lng), meters])
    if with_attributes:
        adapt = connections[DEFAULT_DB_ALIAS].ops.adapt_json_value
        for attribute, value in form.attribute_filters():
            key = attribute["key"]
            if attribute["type"] == "number":
                sql, number_params = number_in_range(key, *value)
                conditions.append(sql)
                params.extend(number_params)
            elif attribute["type"] == "boolean":
                conditions.append(f'{TABLE}."attributes" @> %s')
                params.append(adapt({key: True}, None))
            else:
                options = [f'{TABLE}."attributes" @> %s'] * len(value)
                conditions.append(f"({' OR '.join(options)})")
                params.extend(adapt({key: option}, None) for option in value)
    return " AND ".join(conditions), params


def filtered_listings(data: dict, form: SearchForm, **options) -> QuerySet[Listing]:
    """The public listings that match every filter of ``data`` (``options`` as
    ``search_where`` takes them), as a queryset."""
    sql, params = search_where(data, form, **options)
    qs = public_listings()
    # Constant SQL (search_where), the values as parameters.
    return qs.filter(RawSQL(sql, params, output_field=BooleanField())) if sql else qs  # noqa: S611


def matching_sql(columns: str, data: dict, form: SearchForm, **options) -> tuple[str, list]:
    """``SELECT columns FROM "listings_listing" WHERE`` the public listings that match every
    filter of ``data`` (``options`` as ``search_where`` takes them), and its parameters:
    the rows of ``filtered_listings`` without a queryset."""
    public, public_params = public_where()
    sql, params = search_where(data, form, **options)
    where = f"{public} AND {sql}" if sql else public
    return f"SELECT {columns} FROM {TABLE} WHERE {where}", [*public_params, *params]  # noqa: S608


@functools.cache
def public_where() -> tuple[str, tuple]:
    """``public_listings()``'s condition as SQL and parameters, compiled once: the rule
    stays in ``listings.selectors``."""
    query = public_listings().query
    compiler = query.get_compiler(DEFAULT_DB_ALIAS)
    sql, params = compiler.compile(query.where)
    return sql, tuple(params)


def _expression_sql(expression) -> tuple[str, list]:
    """An ORM expression on Listing (the keyword tsquery) compiled to SQL and parameters."""
    query = Query(Listing)
    compiler = query.get_compiler(DEFAULT_DB_ALIAS)
    sql, params = compiler.compile(expression.resolve_expression(query))
    return sql, list(params)


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


def number_in_range(key: str, low: Decimal | None, high: Decimal | None) -> tuple[str, list]:
    """The listing has the number attribute ``key`` within [low, high] (either may be None):
    SQL and parameters.

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
        f'WHERE number.listing_id = {TABLE}."id" AND {" AND ".join(tests)})'
    )
    return sql, params
