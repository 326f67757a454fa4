"""Counts and facets of a search: the capped total, matches per category and per
attribute value, cached for a short while under a key of the filters."""

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from listings.categories import CategoryNode
from listings.search.filters import TABLE, WithoutCategory, matching_sql
from listings.search.form import SearchForm

# Counts stop at this many matching rows, so a broad search stays within its budget.
COUNT_CAP = settings.SEARCH_COUNT_CAP
ATTRIBUTES = f'{TABLE}."attributes"'


@dataclass
class FacetCount:
    label: str
    value: str
    count: int
    selected: bool = False


@dataclass
class AttributeFacet:
    key: str
    label: str
    counts: list[FacetCount]


@dataclass
class CategoryFacet:
    node: CategoryNode
    count: int
    children: list["CategoryFacet"] = field(default_factory=list)


def count_and_facets(data: dict, form: SearchForm) -> tuple[int, bool, dict, dict]:
    """Total (capped), matches per category (without the category filter) and per
    enum/boolean attribute value (without attribute filters), each over at most COUNT_CAP
    rows. One to three queries:

    - the category facet, always; without a category filter it also gives the total;
    - without attribute filters the facet's rows hold every match, so when it stopped short
      of its cap the total is the sum over the chosen category's subtree (exact, no query);
      and the attribute facet reads the same rows as the total, so a total still needed and
      the attribute facet are one query (a zero total needs no attribute facet at all);
    - otherwise the capped total, then the attribute facet.

    Popular searches repeat: the result is cached for SEARCH_FACETS_TTL seconds (counts that
    lag a minute behind are fine; the listings themselves are always read fresh). 0 turns the
    cache off: no Redis round trip at all (two of them cost more than the counts of a narrow
    search).
    """
    ttl = settings.SEARCH_FACETS_TTL
    cache_key = facets_cache_key(data, form.tree.version) if ttl else None
    cached = cache.get(cache_key) if cache_key else None
    if cached is not None:
        return cached
    keys = [a["key"] for a in form.attribute_schema if a["type"] in ("enum", "boolean")]
    # Without attribute filters, "without attribute filters" is the search itself.
    plain = not form.attribute_filters()
    total = None
    per_value: dict = {}
    with connection.cursor() as cursor:
        sql, params = matching_sql(f'{TABLE}."category_id"', data, WithoutCategory(form))
        cursor.execute(
            f"SELECT category_id, count(*) FROM ({sql} LIMIT %s) AS matches GROUP BY 1",  # noqa: S608
            [*params, COUNT_CAP + 1],
        )
        per_category = {str(category_id): count for category_id, count in cursor.fetchall()}
        if form.category_node is None:
            total = sum(per_category.values())
        elif plain and sum(per_category.values()) <= COUNT_CAP:
            chosen = {str(category_id) for category_id in form.category_node.descendant_ids()}
            total = sum(count for category_id, count in per_category.items() if category_id in chosen)

        if keys and plain and total is None:
            total, per_value = _total_and_values(cursor, matching_sql(ATTRIBUTES, data, form), keys)
        else:
            if total is None:
                sql, params = matching_sql(f'{TABLE}."id"', data, form)
                cursor.execute(
                    f"SELECT count(*) FROM ({sql} LIMIT %s) AS matches",  # noqa: S608
                    [*params, COUNT_CAP + 1],
                )
                total = cursor.fetchone()[0]
            if keys and not (plain and total == 0):
                unfiltered = matching_sql(ATTRIBUTES, data, form, with_attributes=False)
                per_value = _values(cursor, unfiltered, keys)
    result = (min(total, COUNT_CAP), total > COUNT_CAP, per_category, per_value)
    if cache_key:
        cache.set(cache_key, result, ttl)
    return result


_VALUES_SQL = (
    "SELECT entry.key, entry.value, count(*) FROM ({rows}) AS matches "
    "CROSS JOIN LATERAL jsonb_each(matches.attributes) AS entry "
    # An option is a string, a boolean a boolean: a value of another JSON type (stored by a
    # raw write, never by the services) counts for no option.
    "WHERE entry.key = ANY(%s) AND jsonb_typeof(entry.value) IN ('string', 'boolean') GROUP BY 1, 2"
)


def _per_value(rows) -> dict:
    # Django's psycopg setup hands jsonb back as text.
    return {
        (key, json.loads(value) if isinstance(value, str) else value): count for key, value, count in rows
    }


def _values(cursor, rows: tuple[str, list], keys: list[str]) -> dict:
    """Matches per (key, value) of the enum/boolean ``keys`` over at most COUNT_CAP of the
    ``rows`` (SQL and parameters selecting ``attributes``)."""
    sql, params = rows
    cursor.execute(_VALUES_SQL.format(rows=f"{sql} LIMIT %s"), [*params, COUNT_CAP, keys])
    return _per_value(cursor.fetchall())


def _total_and_values(cursor, rows: tuple[str, list], keys: list[str]) -> tuple[int, dict]:
    """The capped total of the ``rows`` (SQL and parameters selecting ``attributes``) and
    their attribute facet in one query: the rows are read once (at most COUNT_CAP + 1 of them,
    materialized), counted, and the first COUNT_CAP of them give the facet, as ``_values``
    would."""
    sql, params = rows
    rows = "SELECT attributes FROM capped LIMIT %s"
    cursor.execute(
        f"WITH capped AS MATERIALIZED ({sql} LIMIT %s) "  # noqa: S608 - SQL of search_where
        "SELECT NULL, NULL, count(*) FROM capped UNION ALL " + _VALUES_SQL.format(rows=rows),
        [*params, COUNT_CAP + 1, COUNT_CAP, keys],
    )
    found = cursor.fetchall()
    total = next(count for key, _, count in found if key is None)
    return total, _per_value(row for row in found if row[0] is not None)


def facets_cache_key(data: dict, tree_version) -> str:
    """The filters that decide the counts (not the page cursor), hashed, under the version of
    the category tree the search was read with (``CategoryTree.version``): a category change
    files new counts."""
    relevant = {key: value for key, value in data.items() if key not in ("cursor", "after")}
    digest = hashlib.sha256(repr(sorted((key, repr(value)) for key, value in relevant.items())).encode())
    return f"search-facets:{tree_version}:{digest.hexdigest()}"


def category_facets(nodes: list[CategoryNode], per_category: dict) -> list[CategoryFacet]:
    if not per_category:
        return []
    facets = []
    for node in nodes:
        children = category_facets(node.children, per_category)
        count = per_category.get(node.id, 0) + sum(child.count for child in children)
        if count:
            facets.append(CategoryFacet(node=node, count=count, children=children))
    return facets


def attribute_facets(form: SearchForm, per_value: dict) -> list[AttributeFacet]:
    facets = []
    for attribute in form.attribute_schema:
        key = attribute["key"]
        if attribute["type"] == "enum":
            chosen = set(form.cleaned_data.get(f"attr_{key}") or [])
            counts = [
                FacetCount(
                    label=option,
                    value=option,
                    count=per_value.get((key, option), 0),
                    selected=option in chosen,
                )
                for option in attribute["options"]
            ]
        elif attribute["type"] == "boolean":
            counts = [
                FacetCount(
                    label="Yes",
                    value="on",
                    count=per_value.get((key, True), 0),
                    selected=bool(form.cleaned_data.get(f"attr_{key}")),
                )
            ]
        else:
            continue
        facets.append(AttributeFacet(key=key, label=attribute["label"], counts=counts))
    return facets
